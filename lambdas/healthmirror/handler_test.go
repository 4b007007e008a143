package healthmirror_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/streamha/streamha/lambdas/clusterdb"
	"github.com/streamha/streamha/lambdas/emf"
	"github.com/streamha/streamha/lambdas/health"
	"github.com/streamha/streamha/lambdas/healthmirror"
	"github.com/streamha/streamha/node/cluster"
)

type fakeReader struct {
	groups []clusterdb.Group
	err    error
}

func (f *fakeReader) Read(context.Context, ...string) ([]clusterdb.Group, error) {
	return f.groups, f.err
}

// metricsOf validates every EMF line of out and indexes values by metric name and dimension values.
func metricsOf(t *testing.T, out []byte) map[string]float64 {
	t.Helper()
	vals := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		p, err := emf.Validate(sc.Bytes())
		if err != nil {
			t.Fatalf("invalid EMF line %s: %v", sc.Text(), err)
		}
		if p.Namespace != "StreamHA" {
			t.Fatalf("namespace %q", p.Namespace)
		}
		for name, v := range p.Values {
			checkDeclared(t, name, p.Units[name], p.Dimensions)
			key := name + "|" + p.Root["ClusterGroup"].(string)
			if n, ok := p.Root["NodeId"].(string); ok {
				key += "|" + n
			}
			if a, ok := p.Root["App"].(string); ok {
				key += "|" + a
			}
			vals[key] = v
		}
	}
	return vals
}

func newHandler(r healthmirror.ClusterReader, out io.Writer) *healthmirror.Handler {
	return &healthmirror.Handler{
		Config:  healthmirror.Config{Namespace: "StreamHA", Health: health.DefaultConfig()},
		Reader:  r,
		Metrics: emf.NewWriter("StreamHA", out),
		Log:     slog.New(slog.NewJSONHandler(io.Discard, nil)),
	}
}

func TestSampleTable(t *testing.T) {
	s := time.Second
	nd := func(id, role string, term int64, age time.Duration, lag, q int64) clusterdb.Node {
		return clusterdb.Node{NodeID: id, HeartbeatAge: age, Status: cluster.Status{Role: role, Term: term, SyncLagEvents: lag, QueueBytes: q}}
	}
	cases := []struct {
		name  string
		group clusterdb.Group
		want  map[string]float64
	}{
		{"healthy", clusterdb.Group{Name: "g", Lease: cluster.Lease{Holder: "a", Term: 7, Remaining: 10 * s},
			Nodes:     []clusterdb.Node{nd("a", "active", 7, s, 5, 0), nd("b", "passive", 7, 2*s, 0, 2048)},
			Snapshots: []clusterdb.Snapshot{{App: "App", Age: 42 * s}}},
			map[string]float64{"ActiveNodes|g": 1, "LiveNodes|g": 2, "SplitBrain|g": 0, "Term|g": 7, "LeaseHeld|g": 1,
				"ClusterDbReachable|g": 1, "Failovers|g": 0, "ActiveHeartbeatAgeSeconds|g": 1, "HeartbeatAgeSeconds|g|b": 2,
				"SyncLagEvents|g|a": 5, "PassiveQueueBytes|g|b": 2048, "SnapshotAgeSeconds|g|App": 42}},
		{"split brain", clusterdb.Group{Name: "g", Lease: cluster.Lease{Holder: "b", Term: 8, Remaining: 10 * s},
			Nodes: []clusterdb.Node{nd("a", "active", 7, s, 0, 0), nd("b", "active", 8, s, 0, 0)}},
			map[string]float64{"ActiveNodes|g": 2, "SplitBrain|g": 1, "Term|g": 8}},
		{"stale active", clusterdb.Group{Name: "g", Lease: cluster.Lease{Holder: "a", Term: 7, Remaining: -s},
			Nodes: []clusterdb.Node{nd("a", "active", 7, 40*s, 0, 0), nd("b", "passive", 7, s, 0, 0)}},
			map[string]float64{"ActiveNodes|g": 0, "LiveNodes|g": 1, "LeaseHeld|g": 0, "ActiveHeartbeatAgeSeconds|g": 40, "SplitBrain|g": 0}},
		{"restore failed", clusterdb.Group{Name: "g", Lease: cluster.Lease{Term: 9},
			Nodes: []clusterdb.Node{
				{NodeID: "a", HeartbeatAge: s, Status: cluster.Status{Role: "passive", Term: 9,
					RestoreFailed: &cluster.RestoreFailure{App: "App", Revision: 4, Error: "snapshot checksum mismatch"}}},
				nd("b", "passive", 8, s, 0, 0)}},
			map[string]float64{"RestoreFailed|g|a": 1, "RestoreFailed|g|b": 0, "ActiveNodes|g": 0, "LiveNodes|g": 2}},
		{"empty configured group", clusterdb.Group{Name: "g"},
			map[string]float64{"ActiveNodes|g": 0, "LiveNodes|g": 0, "RegisteredNodes|g": 0, "Term|g": 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			res, err := newHandler(&fakeReader{groups: []clusterdb.Group{c.group}}, &out).Handle(context.Background(), nil)
			if err != nil || !res.Reachable || len(res.Groups) != 1 {
				t.Fatalf("res %+v err %v", res, err)
			}
			got := metricsOf(t, out.Bytes())
			for k, want := range c.want {
				if v, ok := got[k]; !ok || v != want {
					t.Errorf("%s = %v (present %v), want %v", k, v, ok, want)
				}
			}
		})
	}
}

func TestUnreachableIsAMetricNotACrash(t *testing.T) {
	var out bytes.Buffer
	h := newHandler(&fakeReader{err: errors.New("dial tcp: connection refused")}, &out)
	h.Config.Groups = []string{"g1", "g2"}
	res, err := h.Handle(context.Background(), nil)
	if err != nil || res.Reachable {
		t.Fatalf("res %+v err %v", res, err)
	}
	got := metricsOf(t, out.Bytes())
	if v, ok := got["ClusterDbReachable|g1"]; !ok || v != 0 || len(got) != 2 {
		t.Fatalf("metrics %v", got)
	}
	out.Reset()
	h = newHandler(nil, &out) // no URL configured, no group known: still published, under "*"
	if _, err := h.Handle(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if got := metricsOf(t, out.Bytes()); got["ClusterDbReachable|*"] != 0 || len(got) != 1 {
		t.Fatalf("metrics %v", got)
	}
}

func TestSamplingUsesHighResolution(t *testing.T) {
	var out bytes.Buffer
	h := newHandler(&fakeReader{groups: []clusterdb.Group{{Name: "g"}}}, &out)
	h.Config.SampleEvery, h.Config.SampleWindow = 10*time.Second, 30*time.Second
	now := time.Unix(1_800_000_000, 0)
	h.Now = func() time.Time { return now }
	h.Sleep = func(_ context.Context, d time.Duration) error { now = now.Add(d); return nil }
	res, err := h.Handle(context.Background(), nil)
	if err != nil || res.Samples != 3 {
		t.Fatalf("samples %d err %v", res.Samples, err)
	}
	sc := bufio.NewScanner(&out)
	lines := 0
	for sc.Scan() {
		p, err := emf.Validate(sc.Bytes())
		if err != nil || p.Resolution["LiveNodes"] != 1 {
			t.Fatalf("line %s: %v", sc.Text(), err)
		}
		lines++
	}
	if lines != 3 {
		t.Fatalf("%d lines", lines)
	}
}

func TestMetricsCoverContract(t *testing.T) {
	names := map[string]bool{}
	for _, m := range healthmirror.Metrics() {
		names[m.Name] = true
		if len(m.Dimensions) == 0 || m.Dimensions[0][0] != "ClusterGroup" {
			t.Errorf("%s: dimensions %v", m.Name, m.Dimensions)
		}
	}
	for _, n := range []string{"ActiveNodes", "LiveNodes", "SplitBrain", "Term", "HeartbeatAgeSeconds", "SnapshotAgeSeconds",
		"SyncLagEvents", "PassiveQueueBytes", "ClusterDbReachable", "Failovers", "RestoreFailed"} {
		if !names[n] {
			t.Errorf("metric %s missing", n)
		}
	}
}

// checkDeclared fails unless name is published with a unit and dimension sets Metrics() declares.
func checkDeclared(t *testing.T, name, unit string, dims [][]string) {
	t.Helper()
	for _, spec := range healthmirror.Metrics() {
		if spec.Name != name {
			continue
		}
		if spec.Unit != unit || fmt.Sprint(spec.Dimensions) != fmt.Sprint(dims) {
			t.Fatalf("%s published as %s %v, declared %s %v", name, unit, dims, spec.Unit, spec.Dimensions)
		}
		return
	}
	t.Fatalf("%s published but not declared in Metrics()", name)
}

// TestNodeErrorsReported: a node's coordination error and its data path's error (failing sink,
// failing persist) both reach its record, side by side, from the heartbeat status in the
// cluster database. Before, the mirror published neither, and the node's runner overwrote the
// data path's error with its own in the one last_error field.
func TestNodeErrorsReported(t *testing.T) {
	const coord, data = "lease renewal failed: timeout", "app App: persist failing since 2026-01-01T00:00:00Z: disk full"
	g := clusterdb.Group{Name: "g", Lease: cluster.Lease{Holder: "a", Term: 3, Remaining: time.Second},
		Nodes: []clusterdb.Node{
			{NodeID: "a", HeartbeatAge: time.Second, Status: cluster.Status{Role: "active", Term: 3, LastError: coord, DataError: data}},
			{NodeID: "b", HeartbeatAge: time.Second, Status: cluster.Status{Role: "passive", Term: 3}},
		}}
	var out bytes.Buffer
	if _, err := newHandler(&fakeReader{groups: []clusterdb.Group{g}}, &out).Handle(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	props := map[string]map[string]any{}
	sc := bufio.NewScanner(bytes.NewReader(out.Bytes()))
	for sc.Scan() {
		p, err := emf.Validate(sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if n, ok := p.Root["NodeId"].(string); ok {
			props[n] = p.Root
		}
	}
	if a := props["a"]; a["last_error"] != coord || a["data_error"] != data {
		t.Fatalf("node a: last_error %v, data_error %v; want %q and %q", a["last_error"], a["data_error"], coord, data)
	}
	if b := props["b"]; b == nil || b["last_error"] != nil || b["data_error"] != nil {
		t.Fatalf("node b without errors: record %v", b)
	}
}
