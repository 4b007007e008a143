package deploy_test

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/streamha/streamha/deploy"
	"github.com/streamha/streamha/lambdas/emf"
	"github.com/streamha/streamha/lambdas/healthmirror"
	"github.com/streamha/streamha/lambdas/lambdaenv"
	"github.com/streamha/streamha/lambdas/restarter"
)

// emitted maps each metric the functions publish to its spec.
func emitted() map[string]emf.MetricSpec {
	out := map[string]emf.MetricSpec{}
	for _, m := range append(healthmirror.Metrics(), restarter.Metrics()...) {
		out[m.Name] = m
	}
	return out
}

func hasDimSet(spec emf.MetricSpec, dims []string) bool {
	slices.Sort(dims)
	for _, set := range spec.Dimensions {
		s := slices.Clone(set)
		slices.Sort(s)
		if slices.Equal(s, dims) {
			return true
		}
	}
	return false
}

func TestAlarmsWatchMetricsTheFunctionsEmit(t *testing.T) {
	rs, env := MustResources(t, nil)
	specs := emitted()
	ns := env.Params["MetricsNamespace"]
	if ns != lambdaenv.DefaultNamespace {
		t.Errorf("MetricsNamespace default %q, the functions default to %q", ns, lambdaenv.DefaultNamespace)
	}
	for _, id := range functionIDs {
		if got := str(rs[id].Properties, "Environment", "Variables", lambdaenv.MetricsNamespace); got != ns {
			t.Errorf("%s publishes to %q, alarms watch %q", id, got, ns)
		}
	}
	// The alarm handler's rule names each alarm exactly (a prefix would match <stack>-2's too).
	var handled []string
	for _, n := range list(rs["AlarmHandlerFunction"].Properties, "Events", "StackAlarms", "Properties", "Pattern", "detail", "alarmName") {
		s, ok := n.(string)
		if !ok {
			t.Fatalf("alarm handler rule: alarmName %v is not an exact name", n)
		}
		handled = append(handled, s)
	}
	watched := map[string]bool{}
	for _, id := range ofType(rs, "AWS::CloudWatch::Alarm") {
		p := rs[id].Properties
		if strings.HasPrefix(str(p, "Namespace"), "AWS/") {
			continue // AWS's own metrics (function errors, the dead-letter queue): TestPlatformAlarms
		}
		name := str(p, "MetricName")
		watched[name] = true
		if got := str(p, "Namespace"); got != ns {
			t.Errorf("%s: namespace %q, want %q", id, got, ns)
		}
		spec, ok := specs[name]
		if !ok {
			t.Errorf("%s: metric %q is emitted by no function", id, name)
			continue
		}
		var dims []string
		for _, d := range list(p, "Dimensions") {
			dims = append(dims, str(d, "Name"))
			if str(d, "Name") == healthmirror.DimClusterGroup && str(d, "Value") != env.Params["ClusterGroup"] {
				t.Errorf("%s: ClusterGroup %q, the nodes use %q", id, str(d, "Value"), env.Params["ClusterGroup"])
			}
		}
		if !hasDimSet(spec, dims) {
			t.Errorf("%s: dimensions %v are not a set %s is published under (%v)", id, dims, name, spec.Dimensions)
		}
		if !strings.HasPrefix(str(p, "AlarmName"), env.Stack+"-") {
			t.Errorf("%s: AlarmName %q must start with the stack name", id, str(p, "AlarmName"))
		}
		if !contains(handled, str(p, "AlarmName")) {
			t.Errorf("%s: the alarm handler's rule does not list %q", id, str(p, "AlarmName"))
		}
	}
	// The conditions the operator's guide promises an alarm for.
	for cond, metric := range map[string]string{
		"no active":       healthmirror.MetricActiveNodes,
		"split brain":     healthmirror.MetricSplitBrain,
		"passive missing": healthmirror.MetricLiveNodes,
		"stale snapshot":  healthmirror.MetricSnapshotAgeSeconds,
		"DB unreachable":  healthmirror.MetricClusterDBReachable,
		"crash loop":      restarter.MetricCrashLoop,
		"hung active":     healthmirror.MetricActiveHeartbeatAge,
	} {
		if !watched[metric] {
			t.Errorf("no alarm for %s (metric %s)", cond, metric)
		}
	}
}

var searchMetric = regexp.MustCompile(`MetricName="([A-Za-z]+)"`)

func TestDashboardShowsEmittedMetrics(t *testing.T) {
	rs, env := MustResources(t, nil)
	body := str(MustResource(t, rs, "Dashboard", "AWS::CloudWatch::Dashboard").Properties, "DashboardBody")
	var dash struct {
		Widgets []struct {
			Type       string `json:"type"`
			Properties struct {
				Metrics [][]any `json:"metrics"`
			} `json:"properties"`
		} `json:"widgets"`
	}
	if err := json.Unmarshal([]byte(body), &dash); err != nil {
		t.Fatalf("DashboardBody is not JSON after substitution: %v", err)
	}
	specs := emitted()
	shown := map[string]bool{}
	for _, w := range dash.Widgets {
		for _, m := range w.Properties.Metrics {
			if len(m) >= 2 {
				if s, ok := m[0].(string); ok {
					if s != env.Params["MetricsNamespace"] {
						t.Errorf("dashboard namespace %q", s)
					}
					shown[m[1].(string)] = true
					continue
				}
			}
			for _, x := range m {
				if e, ok := x.(map[string]any); ok {
					for _, sm := range searchMetric.FindAllStringSubmatch(deploy.Strings(e["expression"])[0], -1) {
						shown[sm[1]] = true
					}
				}
			}
		}
	}
	for name := range shown {
		if _, ok := specs[name]; !ok {
			t.Errorf("dashboard shows %q, which no function emits", name)
		}
	}
	for _, want := range []string{healthmirror.MetricActiveNodes, healthmirror.MetricLiveNodes, healthmirror.MetricTerm,
		healthmirror.MetricFailovers, healthmirror.MetricSyncLagEvents, healthmirror.MetricPassiveQueueBytes,
		healthmirror.MetricSnapshotAgeSeconds} {
		if !shown[want] {
			t.Errorf("dashboard does not show %s", want)
		}
	}
}

// Every function has an error alarm, the dead-letter queue has one, and CrashLoop (published
// only with stop events) ignores missing data instead of flapping to OK.
func TestPlatformAlarms(t *testing.T) {
	rs, _ := MustResources(t, nil)
	errs := map[string]bool{}
	dlq := false
	for _, id := range ofType(rs, "AWS::CloudWatch::Alarm") {
		p := rs[id].Properties
		switch {
		case str(p, "Namespace") == "AWS/Lambda" && str(p, "MetricName") == "Errors":
			errs[str(p, "Dimensions", "0", "Value")] = true
		case str(p, "Namespace") == "AWS/SQS" && str(p, "MetricName") == "ApproximateNumberOfMessagesVisible":
			dlq = str(p, "Dimensions", "0", "Value") == "streamha-test-EventDeadLetterQueue-ABC123"
		case str(p, "MetricName") == restarter.MetricCrashLoop && str(p, "TreatMissingData") != "ignore":
			t.Errorf("%s: TreatMissingData %q, want ignore (CrashLoop is published only with stop events)", id, str(p, "TreatMissingData"))
		}
	}
	for _, fn := range functionIDs {
		name := str(rs[fn].Properties, "FunctionName")
		if !errs[name] {
			t.Errorf("no Errors alarm for %s (%s)", fn, name)
		}
	}
	if !dlq {
		t.Error("no alarm on the dead-letter queue")
	}
}
