package restarter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/config"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/streamha/streamha/lambdas/ecsapi/ecstest"
	"github.com/streamha/streamha/lambdas/elbapi"
	"github.com/streamha/streamha/lambdas/elbapi/elbtest"
	"github.com/streamha/streamha/lambdas/lambdaenv"
	"github.com/streamha/streamha/lambdas/restarter"
)

const (
	httpTG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/streamha-http/0123456789abcdef"
	tcpTG  = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/streamha-tcp/fedcba9876543210"
)

var targetGroups = []elbapi.TargetGroup{{ARN: httpTG, Port: 9090}, {ARN: tcpTG, Port: 9894}}

// memOnce is an in-memory Once: a payload's first successful run is stored and replayed.
type memOnce struct {
	mu   sync.Mutex
	done map[string]json.RawMessage
}

func (m *memOnce) Do(ctx context.Context, payload []byte, fn func(ctx context.Context) (json.RawMessage, error)) (json.RawMessage, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.done[string(payload)]; ok {
		return r, true, nil
	}
	r, err := fn(ctx)
	if err != nil {
		return nil, false, err
	}
	if m.done == nil {
		m.done = map[string]json.RawMessage{}
	}
	m.done[string(payload)] = r
	return r, false, nil
}

// newTargetRig is the restarter rig with target upkeep against a fake ELBv2 holding both groups.
func newTargetRig(t *testing.T, elb elbapi.API) *rig {
	t.Helper()
	r := newRig(t, ecstest.Service{Name: "streamha-g1", Desired: 2, Running: 1, Pending: 1, RolloutState: "COMPLETED"})
	r.h.Config.TargetGroups = targetGroups
	r.h.Config.Service = "streamha-g1"
	r.h.ELB = elb
	return r
}

func TestTargetSampleEvents(t *testing.T) {
	type call struct{ action, tg, target string }
	reg := func(ip string) []call {
		return []call{{"RegisterTargets", httpTG, ip + ":9090"}, {"RegisterTargets", tcpTG, ip + ":9894"}}
	}
	dereg := func(ip string) []call {
		return []call{{"DeregisterTargets", httpTG, ip + ":9090"}, {"DeregisterTargets", tcpTG, ip + ":9894"}}
	}
	cases := []struct {
		name, event string
		configure   func(*restarter.Handler)
		calls       []call
		ignored     bool
		stops       int    // stop records written
		ledger      string // result of the target action record, "" none
		left        []string
	}{
		{"running", "task-running.json", nil, reg("10.0.1.23"), false, 0, "registered",
			[]string{"10.0.1.23", "10.0.2.45"}},
		{"second running", "task-running-second.json", nil, reg("10.0.2.45"), false, 0, "registered",
			[]string{"10.0.1.23", "10.0.2.45"}},
		{"stopping", "task-stopping.json", nil, dereg("10.0.1.23"), false, 0, "deregistered",
			[]string{"10.0.2.45"}},
		{"stopped", "task-stopped-crash.json", nil, dereg("10.0.1.23"), false, 1, "deregistered",
			[]string{"10.0.2.45"}},
		{"other cluster", "task-stopped-other-cluster.json", nil, nil, true, 0, "",
			[]string{"10.0.1.23", "10.0.2.45"}},
		{"other service", "task-running.json", func(h *restarter.Handler) { h.Config.Service = "someone-else" }, nil, true, 0, "",
			[]string{"10.0.1.23", "10.0.2.45"}},
		{"other service stopped", "task-stopped-crash.json", func(h *restarter.Handler) { h.Config.Service = "someone-else" }, nil, false, 1, "",
			[]string{"10.0.1.23", "10.0.2.45"}},
		{"dry run", "task-running.json", func(h *restarter.Handler) { h.Config.DryRun = true }, nil, false, 0, "dry_run",
			[]string{"10.0.1.23", "10.0.2.45"}},
		{"no target groups", "task-running.json", func(h *restarter.Handler) { h.Config.TargetGroups = nil }, nil, true, 0, "",
			[]string{"10.0.1.23", "10.0.2.45"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := elbtest.Start(t, httpTG, tcpTG)
			r := newTargetRig(t, srv.Client())
			ctx := context.Background()
			for _, ip := range []string{"10.0.1.23", "10.0.2.45"} { // the pair as registered before the event
				if err := elbapi.Register(ctx, srv.Client(), targetGroups, ip); err != nil {
					t.Fatal(err)
				}
			}
			before := len(srv.Calls())
			if c.configure != nil {
				c.configure(r.h)
			}
			res, err := r.h.Handle(ctx, loadEvent(t, c.event))
			if err != nil {
				t.Fatal(err)
			}
			if (res.Ignored != "") != c.ignored {
				t.Fatalf("ignored %q, want %v: %+v", res.Ignored, c.ignored, res)
			}
			var got []call
			for _, k := range srv.Calls()[before:] {
				for _, tg := range k.Targets {
					got = append(got, call{k.Action, k.TargetGroupARN, tg.String()})
				}
			}
			if !slices.Equal(got, c.calls) {
				t.Fatalf("ELB calls %v, want %v (%s)", got, c.calls, res.Targets)
			}
			for _, tg := range targetGroups {
				var want []string
				for _, ip := range c.left {
					want = append(want, elbtest.Target{ID: ip, Port: tg.Port}.String())
				}
				if left := srv.Targets(tg.ARN); !slices.Equal(left, want) {
					t.Fatalf("%s holds %v, want %v", tg.ARN, left, want)
				}
			}
			stops, _ := r.l.Stops(ctx, "g1", time.Time{})
			if len(stops) != c.stops {
				t.Fatalf("%d stop records, want %d", len(stops), c.stops)
			}
			if c.stops == 0 && r.out.Len() != 0 {
				t.Fatalf("metrics written for a non-stop event: %s", r.out.String())
			}
			acts := r.l.Actions()
			if c.ledger == "" {
				if len(acts) != 0 {
					t.Fatalf("target actions recorded: %+v", acts)
				}
				return
			}
			if len(acts) != 1 || acts[0].Result != c.ledger || acts[0].EventID != res.EventID || acts[0].TaskARN != res.TaskARN ||
				acts[0].DryRun != r.h.Config.DryRun || !strings.Contains(acts[0].Reason, res.TargetIP) {
				t.Fatalf("target actions %+v (result %+v)", acts, res)
			}
		})
	}
}

// TestTargetsThroughTheSDKsEndpointVariable builds the ELBv2 client as main does, from the
// SDK's standard configuration with the service-specific endpoint variable pointing at the
// Query-protocol fake, and plays a task's life (with duplicate deliveries) through Handle.
func TestTargetsThroughTheSDKsEndpointVariable(t *testing.T) {
	srv := elbtest.Start(t, httpTG, tcpTG)
	t.Setenv(elbtest.EndpointEnv, srv.URL)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDRESTARTER")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "restarter-secret")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	t.Setenv(restarter.EnvTargetGroups, httpTG+"=9090,"+tcpTG+"=9894")
	env := &lambdaenv.Env{}
	cfg := restarter.ConfigFromEnv(env)
	if env.Err != nil || !slices.Equal(cfg.TargetGroups, targetGroups) {
		t.Fatalf("config %+v: %v", cfg.TargetGroups, env.Err)
	}
	ctx := context.Background()
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := newTargetRig(t, elbv2.NewFromConfig(awsCfg))
	r.h.Once = &memOnce{}
	calls := func() int { return len(srv.Calls()) }
	for _, step := range []struct {
		event     string
		calls     int // total calls to the fake after the step
		duplicate bool
	}{
		{"task-running.json", 2, false},
		{"task-running.json", 2, true}, // EventBridge delivered it twice: acts once
		{"task-running-second.json", 4, false},
		{"task-stopping.json", 6, false},
		{"task-stopping.json", 6, true},
		{"task-stopped-crash.json", 8, false}, // deregistering again is harmless
		{"task-stopped-crash.json", 8, true},
	} {
		res, err := r.h.Handle(ctx, loadEvent(t, step.event))
		if err != nil {
			t.Fatalf("%s: %v", step.event, err)
		}
		if res.Duplicate != step.duplicate || calls() != step.calls {
			t.Fatalf("%s: duplicate %v, %d calls, want %v, %d (%+v)", step.event, res.Duplicate, calls(), step.duplicate, step.calls, res)
		}
	}
	for _, tg := range targetGroups {
		want := []string{elbtest.Target{ID: "10.0.2.45", Port: tg.Port}.String()}
		if got := srv.Targets(tg.ARN); !slices.Equal(got, want) {
			t.Fatalf("%s holds %v, want %v", tg.ARN, got, want)
		}
	}
	for _, c := range srv.Calls() {
		if len(c.Targets) != 1 || (c.TargetGroupARN == httpTG) != (c.Targets[0].Port == 9090) {
			t.Fatalf("call %+v: wrong port for the group", c)
		}
	}
	if n := len(r.l.Actions()); n != 4 {
		t.Fatalf("%d target action records, want 4 (one per distinct event)", n)
	}
}

func TestTargetErrorsAreRetried(t *testing.T) {
	srv := elbtest.Start(t, httpTG) // the TCP group is missing: TargetGroupNotFound
	r := newTargetRig(t, srv.Client())
	r.h.Once = &memOnce{}
	ctx := context.Background()
	ev := loadEvent(t, "task-running.json")
	if _, err := r.h.Handle(ctx, ev); err == nil || !strings.Contains(err.Error(), "TargetGroupNotFound") {
		t.Fatalf("error %v", err)
	}
	if got := srv.Targets(httpTG); !slices.Equal(got, []string{"10.0.1.23:9090"}) {
		t.Fatalf("http group holds %v: one failing group must not stop the other", got)
	}
	if acts := r.l.Actions(); len(acts) != 1 || acts[0].Result != "error" {
		t.Fatalf("actions %+v", acts)
	}
	// The failed run is not remembered: EventBridge's retry acts again.
	before := len(srv.Calls())
	if res, _ := r.h.Handle(ctx, ev); res.Duplicate || len(srv.Calls()) != before+2 {
		t.Fatalf("retry: %+v, %d new calls", res, len(srv.Calls())-before)
	}
	// A stopped task whose deregistration fails is still recorded, and the error surfaces.
	stopped := loadEvent(t, "task-stopped-crash.json")
	if _, err := r.h.Handle(ctx, stopped); err == nil {
		t.Fatal("deregistration error swallowed")
	}
	if stops, _ := r.l.Stops(ctx, "g1", time.Time{}); len(stops) != 1 {
		t.Fatalf("stop records %+v", stops)
	}
}

func TestTaskPrivateIPv4(t *testing.T) {
	for _, tc := range []struct{ name, detail, want string }{
		{"eni details", `{"attachments":[{"type":"eni","details":[{"name":"subnetId","value":"subnet-1"},{"name":"privateIPv4Address","value":"10.0.3.7"}]}]}`, "10.0.3.7"},
		{"container interface", `{"attachments":[],"containers":[{"networkInterfaces":[{"privateIpv4Address":"10.0.3.8"}]}]}`, "10.0.3.8"},
		{"none", `{"lastStatus":"STOPPED"}`, ""},
	} {
		d, err := restarter.ParseDetail(json.RawMessage(tc.detail))
		if err != nil || d.PrivateIPv4() != tc.want {
			t.Errorf("%s: %q, %v", tc.name, d.PrivateIPv4(), err)
		}
	}
}

func TestNodeNamedByTheNodesOwnVariables(t *testing.T) {
	if restarter.EnvNodeID != "NODE_NODE_ID" || restarter.EnvNodeGroup != "NODE_GROUP" {
		t.Fatalf("names %s %s", restarter.EnvNodeID, restarter.EnvNodeGroup)
	}
	ev := loadEvent(t, "task-stopped-env-override.json")
	legacy := ev
	legacy.Detail = bytes.ReplaceAll(bytes.ReplaceAll(ev.Detail, []byte(`"NODE_NODE_ID"`), []byte(`"STREAMHA_NODE_ID"`)),
		[]byte(`"NODE_GROUP"`), []byte(`"STREAMHA_GROUP"`))
	for name, e := range map[string]events.CloudWatchEvent{"node names": ev, "legacy names": legacy} {
		r := newRig(t, ecstest.Service{Name: "streamha-g1", Desired: 2, Running: 1, Pending: 1, RolloutState: "COMPLETED"})
		res, err := r.h.Handle(context.Background(), e)
		if err != nil || res.Group != "g9" || res.NodeID != "n9" || res.NodeSource != "task_env" {
			t.Errorf("%s: %+v, %v", name, res, err)
		}
	}
}
