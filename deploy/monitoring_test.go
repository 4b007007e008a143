package deploy_test

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/streamha/streamha/node/cluster"
	"github.com/streamha/streamha/node/config"
	"github.com/streamha/streamha/node/daemon"
	"github.com/streamha/streamha/node/ha"
	"github.com/streamha/streamha/node/store"
)

// recordingRegisterer forwards to a registry and keeps every collector, so metric families
// that have no series yet (a counter vector before its first error) are known by name too.
type recordingRegisterer struct {
	*prometheus.Registry
	collectors []prometheus.Collector
}

func (r *recordingRegisterer) Register(c prometheus.Collector) error {
	r.collectors = append(r.collectors, c)
	return r.Registry.Register(c)
}

func (r *recordingRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

var reFQName = regexp.MustCompile(`fqName: "([^"]+)"`)

// exportedMetrics builds a node (the daemon's registry, the demo app, an embedded database)
// and returns every series name it can export: families gathered now, with the _bucket, _sum
// and _count series of histograms and summaries, and every name its collectors describe.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open("sqlite://" + filepath.Join(dir, "ha.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	apps, err := daemon.LoadApps("../node/demo/apps")
	if err != nil {
		t.Fatal(err)
	}
	syncLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := config.Default()
	c.NodeID, c.AuthToken = "metrics", "monitoring-test-secret"
	reg := &recordingRegisterer{Registry: daemon.NewRegistry()}
	if _, err := ha.New(ha.Options{Config: c, Apps: apps, Cluster: db, Snapshots: db, Registry: reg, SyncListener: syncLn,
		Node: cluster.NodeInfo{Group: c.Group, NodeID: c.NodeID, Properties: map[string]string{}}}); err != nil {
		t.Fatal(err)
	}
	syncLn.Close()
	names := map[string]bool{}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		n := f.GetName()
		names[n] = true
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM:
			names[n+"_bucket"], names[n+"_sum"], names[n+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			names[n+"_sum"], names[n+"_count"] = true, true
		}
	}
	for _, col := range reg.collectors {
		ch := make(chan *prometheus.Desc, 64)
		go func() { col.Describe(ch); close(ch) }()
		for d := range ch {
			if m := reFQName.FindStringSubmatch(d.String()); m != nil {
				names[m[1]] = true
			}
		}
	}
	for _, want := range []string{"streamha_role", "streamha_sink_errors_total", "streamha_promotion_seconds_bucket", "process_start_time_seconds"} {
		if !names[want] {
			t.Fatalf("the node's registry lacks %s: the collection is broken", want)
		}
	}
	return names
}

// metricNames parses a PromQL expression and returns the metric names it selects.
func metricNames(expr string) ([]string, error) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var out []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			name := vs.Name
			for _, m := range vs.LabelMatchers {
				if m.Name == "__name__" {
					name = m.Value
				}
			}
			out = append(out, name)
		}
		return nil
	})
	return out, nil
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// TestAlertRulesUseExportedMetrics parses deploy/prometheus/streamha-rules.yml: every expression
// must be valid PromQL naming only metrics a node exports, every rule needs a severity and a
// summary, and the alerts operators rely on must be there. promtool checks the file too when it
// is installed.
func TestAlertRulesUseExportedMetrics(t *testing.T) {
	names := exportedMetrics(t)
	b, err := os.ReadFile("prometheus/streamha-rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.Unmarshal(b, &rf); err != nil {
		t.Fatalf("rules YAML: %v", err)
	}
	seen := map[string]bool{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			seen[r.Alert] = true
			used, err := metricNames(r.Expr)
			if err != nil {
				t.Errorf("alert %s: %v", r.Alert, err)
				continue
			}
			for _, n := range used {
				if !names[n] {
					t.Errorf("alert %s uses %s, which no node exports", r.Alert, n)
				}
			}
			if r.For != "" {
				if _, err := time.ParseDuration(r.For); err != nil {
					t.Errorf("alert %s: for %q: %v", r.Alert, r.For, err)
				}
			}
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("alert %s needs a severity label and a summary", r.Alert)
			}
		}
	}
	for _, want := range []string{"StreamhaNoActive", "StreamhaTwoActives", "StreamhaPassiveNotInSync", "StreamhaSnapshotStale", "StreamhaSinkErrors", "StreamhaCrashLoop"} {
		if !seen[want] {
			t.Errorf("alert %s is missing", want)
		}
	}
	if promtool, err := exec.LookPath("promtool"); err == nil {
		if out, err := exec.Command(promtool, "check", "rules", "prometheus/streamha-rules.yml").CombinedOutput(); err != nil {
			t.Errorf("promtool check rules: %v\n%s", err, out)
		}
	} else {
		t.Log("promtool not installed: rules checked with the PromQL parser only")
	}
}

type dashPanel struct {
	Title   string `json:"title"`
	Type    string `json:"type"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []dashPanel `json:"panels"`
}

// TestDashboardUsesExportedMetrics parses deploy/grafana/streamha-dashboard.json: every panel
// query must be valid PromQL (Grafana's interval variables replaced) naming only metrics a node
// exports, and the dashboard must cover what an operator looks at in an incident.
func TestDashboardUsesExportedMetrics(t *testing.T) {
	names := exportedMetrics(t)
	b, err := os.ReadFile("grafana/streamha-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title  string      `json:"title"`
		UID    string      `json:"uid"`
		Panels []dashPanel `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	vars := strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")
	used := map[string]bool{}
	var walk func([]dashPanel)
	walk = func(ps []dashPanel) {
		for _, p := range ps {
			walk(p.Panels)
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				ns, err := metricNames(vars.Replace(tg.Expr))
				if err != nil {
					t.Errorf("panel %q: %q: %v", p.Title, tg.Expr, err)
					continue
				}
				for _, n := range ns {
					used[n] = true
					if !names[n] {
						t.Errorf("panel %q uses %s, which no node exports", p.Title, n)
					}
				}
			}
		}
	}
	walk(d.Panels)
	for _, want := range []string{"streamha_role", "streamha_term", "streamha_ingested_events_total", "streamha_outputs_written_total",
		"streamha_sync_lag_events", "streamha_sync_lag_bytes", "streamha_last_persist_timestamp_seconds", "streamha_persist_bytes",
		"streamha_sink_lag_inputs", "streamha_sink_errors_total", "streamha_promotion_seconds_bucket"} {
		if !used[want] {
			t.Errorf("the dashboard shows nothing of %s", want)
		}
	}
	if d.UID == "" || d.Title == "" {
		t.Error("the dashboard needs a title and a uid")
	}
	var all []string
	for n := range used {
		all = append(all, n)
	}
	sort.Strings(all)
	t.Logf("metrics on the dashboard: %s", strings.Join(all, " "))
}
