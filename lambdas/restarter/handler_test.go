package restarter_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/streamha/streamha/lambdas/clusterdb"
	"github.com/streamha/streamha/lambdas/ecsapi/ecstest"
	"github.com/streamha/streamha/lambdas/emf"
	"github.com/streamha/streamha/lambdas/ledger"
	"github.com/streamha/streamha/lambdas/restarter"
	"github.com/streamha/streamha/node/cluster"
)

// memLedger is an in-memory Ledger with the same conditional semantics as the DynamoDB one.
type memLedger struct {
	mu      sync.Mutex
	stops   map[string]ledger.Stop
	restart map[string]ledger.RestartState
	actions []ledger.Action
}

func (m *memLedger) PutAction(_ context.Context, a ledger.Action) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.actions = append(m.actions, a)
	return nil
}

func (m *memLedger) Actions() []ledger.Action {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]ledger.Action(nil), m.actions...)
}

func newMemLedger() *memLedger {
	return &memLedger{stops: map[string]ledger.Stop{}, restart: map[string]ledger.RestartState{}}
}

func (m *memLedger) PutStop(_ context.Context, s ledger.Stop) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stops[s.Group+ledger.StopSK(s.StoppedAt, s.TaskARN)] = s
	return nil
}

func (m *memLedger) Stops(_ context.Context, group string, since time.Time) ([]ledger.Stop, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []ledger.Stop
	for _, s := range m.stops {
		if s.Group == group && !s.StoppedAt.Before(since) {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].StoppedAt.Before(out[j].StoppedAt) })
	return out, nil
}

func (m *memLedger) GetRestart(_ context.Context, group string) (ledger.RestartState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.restart[group]
	if !ok {
		st.Group = group
	}
	return st, nil
}

func (m *memLedger) PutRestart(_ context.Context, st *ledger.RestartState) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.restart[st.Group].Version != st.Version {
		return ledger.ErrConflict
	}
	st.Version++
	m.restart[st.Group] = *st
	return nil
}

type fakeFinder map[string]clusterdb.Node

func (f fakeFinder) NodeByTask(_ context.Context, arn string) (clusterdb.Node, cluster.Lease, bool, error) {
	n, ok := f[arn]
	return n, cluster.Lease{Holder: "n1", Term: 5, Remaining: time.Second}, ok, nil
}

const crashTask = "arn:aws:ecs:us-east-1:123456789012:task/si/g1-n1"

type rig struct {
	h   *restarter.Handler
	ecs *ecstest.Server
	l   *memLedger
	out *bytes.Buffer
}

func newRig(t *testing.T, svc ecstest.Service) *rig {
	t.Helper()
	srv := ecstest.Start(t)
	srv.PutService(svc)
	l := newMemLedger()
	out := &bytes.Buffer{}
	now := time.Date(2026, 11, 25, 14, 5, 2, 0, time.UTC) // just after the samples' stoppedAt
	h := &restarter.Handler{
		Config: restarter.Config{Namespace: "StreamHA", Cluster: "si", CrashLoopStops: 3, CrashLoopWindow: 10 * time.Minute,
			Grace: 30 * time.Second, Poll: 5 * time.Second, BackoffBase: time.Minute, BackoffMax: 30 * time.Minute, DefaultGroup: "default"},
		Finder:  fakeFinder{crashTask: {Group: "g1", NodeID: "n1", Status: cluster.Status{Role: "active", Term: 5}}},
		ECS:     srv.Client(),
		Ledger:  l,
		Metrics: emf.NewWriter("StreamHA", out),
		Log:     slog.New(slog.NewJSONHandler(io.Discard, nil)),
	}
	h.Now = func() time.Time { return now }
	h.Sleep = func(_ context.Context, d time.Duration) error { now = now.Add(d); return nil }
	return &rig{h: h, ecs: srv, l: l, out: out}
}

func TestHandleSampleEvents(t *testing.T) {
	whole := ecstest.Service{Name: "streamha-g1", Desired: 2, Running: 1, Pending: 1, RolloutState: "COMPLETED"}
	short := ecstest.Service{Name: "streamha-g1", Desired: 2, Running: 1, RolloutState: "COMPLETED"}
	rolledBack := ecstest.Service{Name: "streamha-g1", Desired: 2, Running: 2, RolloutState: "FAILED",
		RolloutReason: "ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/1"}
	cases := []struct {
		event, group, node, source string
		svc                        ecstest.Service
		ignored, expected, active  bool
		forced                     int
	}{
		{"task-stopped-crash.json", "g1", "n1", "cluster_db", whole, false, false, true, 0},
		{"task-stopped-crash.json", "g1", "n1", "cluster_db", short, false, false, true, 1},
		{"task-stopped-crash.json", "g1", "n1", "cluster_db", rolledBack, false, false, true, 1},
		{"task-stopped-fenced.json", "g1", "n1", "cluster_db", whole, false, true, true, 0},
		{"task-stopped-deployment.json", "g1", "n1", "cluster_db", whole, false, true, true, 0},
		{"task-stopped-env-override.json", "g9", "n9", "task_env", whole, false, false, false, 0},
		{"task-running.json", "", "", "", whole, true, false, false, 0},
		{"task-stopped-other-cluster.json", "", "", "", whole, true, false, false, 0},
	}
	for _, c := range cases {
		t.Run(c.event, func(t *testing.T) {
			r := newRig(t, c.svc)
			res, err := r.h.Handle(context.Background(), loadEvent(t, c.event))
			if err != nil {
				t.Fatal(err)
			}
			if (res.Ignored != "") != c.ignored || res.Group != c.group || res.NodeID != c.node || res.NodeSource != c.source ||
				res.Expected != c.expected || res.WasActive != c.active {
				t.Fatalf("result %+v", res)
			}
			if got := len(r.ecs.Calls("UpdateService")); got != c.forced {
				t.Fatalf("%d forced deployments, want %d (%s)", got, c.forced, res.Restart)
			}
			if c.ignored {
				return
			}
			stops, _ := r.l.Stops(context.Background(), c.group, time.Time{})
			if len(stops) != 1 || stops[0].NodeID != c.node || stops[0].Cause != res.Cause || stops[0].WasActive != c.active {
				t.Fatalf("stops %+v", stops)
			}
			p, err := emf.Validate(bytes.TrimSpace(r.out.Bytes()))
			if err != nil || p.Values["CrashLoop"] != 0 || p.Values["ForcedDeployments"] != float64(c.forced) {
				t.Fatalf("emf %s: %v", r.out.String(), err)
			}
		})
	}
}

func TestBackoffAndCrashLoop(t *testing.T) {
	r := newRig(t, ecstest.Service{Name: "streamha-g1", Desired: 2, Running: 1, RolloutState: "COMPLETED"})
	ctx := context.Background()
	base := loadEvent(t, "task-stopped-crash.json")
	stopAt := time.Date(2026, 11, 25, 14, 5, 0, 0, time.UTC)
	var results []restarter.Result
	for i := 0; i < 5; i++ { // five crashes, 10 s apart
		ev := base
		ev.ID = base.ID + string(rune('a'+i))
		at := stopAt.Add(time.Duration(i) * 10 * time.Second)
		ev.Detail = bytes.Replace(base.Detail, []byte("2026-11-25T14:05:00.123Z"), []byte(at.Format(time.RFC3339Nano)), 1)
		res, err := r.h.Handle(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, res)
	}
	// 1st: forced; 2nd and 3rd: within backoff; 4th and 5th: crash loop (more than 3 in the window).
	if got := len(r.ecs.Calls("UpdateService")); got != 1 {
		t.Fatalf("%d forced deployments; results %+v", got, results)
	}
	for i, want := range []bool{false, false, false, true, true} {
		if results[i].CrashLoop != want {
			t.Fatalf("result %d crash loop %v: %+v", i, results[i].CrashLoop, results[i])
		}
	}
	st, _ := r.l.GetRestart(ctx, "g1")
	if !st.Halted || st.Attempts != 1 {
		t.Fatalf("restart state %+v", st)
	}
	var last *emf.Parsed
	sc := bufio.NewScanner(r.out)
	for sc.Scan() {
		p, err := emf.Validate(sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		last = p
	}
	if last == nil || last.Values["CrashLoop"] != 1 {
		t.Fatalf("last EMF record %+v", last)
	}
}
