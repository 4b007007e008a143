package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamha/streamha/internal/pgtest"
	"github.com/streamha/streamha/node/cluster"
	"github.com/streamha/streamha/node/store"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var fastTiming = cluster.Timing{HeartbeatInterval: 50 * time.Millisecond, Lease: 600 * time.Millisecond, RenewDeadline: 400 * time.Millisecond}

// errPartitioned is what a cut-off node's store calls return.
var errPartitioned = errors.New("partitioned")

// faultStore wraps a real store and can cut the node off from it, like a network partition or
// a crashed process whose lease is left to expire.
type faultStore struct {
	cluster.Store
	cut  atomic.Bool
	lock *testLock // set when the runner asked for its liveness lock (crash detection on)
}

func (f *faultStore) check() error {
	if f.cut.Load() {
		return errPartitioned
	}
	return nil
}

func (f *faultStore) Register(ctx context.Context, n cluster.NodeInfo) error {
	if err := f.check(); err != nil {
		return err
	}
	return f.Store.Register(ctx, n)
}

func (f *faultStore) Heartbeat(ctx context.Context, g, id string, st json.RawMessage) error {
	if err := f.check(); err != nil {
		return err
	}
	return f.Store.Heartbeat(ctx, g, id, st)
}

func (f *faultStore) Acquire(ctx context.Context, g, id string, d time.Duration) (cluster.Lease, bool, error) {
	if err := f.check(); err != nil {
		return cluster.Lease{}, false, err
	}
	return f.Store.Acquire(ctx, g, id, d)
}

func (f *faultStore) Renew(ctx context.Context, g, id string, term int64, d time.Duration) (cluster.Lease, error) {
	if err := f.check(); err != nil {
		return cluster.Lease{}, err
	}
	return f.Store.Renew(ctx, g, id, term, d)
}

func (f *faultStore) Release(ctx context.Context, g, id string, term int64, reason string) error {
	if err := f.check(); err != nil {
		return err
	}
	return f.Store.Release(ctx, g, id, term, reason)
}

// The CrashDetector methods pass the cut on, like the lease calls; the liveness lock's session is
// separate (its own connection), so a cut leaves it as it is: see testLock.
func (f *faultStore) detector() cluster.CrashDetector { return f.Store.(cluster.CrashDetector) }

func (f *faultStore) LivenessLock(group string) (cluster.LivenessLock, error) {
	l, err := f.detector().LivenessLock(group)
	if err != nil {
		return nil, err
	}
	f.lock = &testLock{LivenessLock: l}
	return f.lock, nil
}

func (f *faultStore) AcquireAfterCrash(ctx context.Context, g, id string, seen int64, d time.Duration, session int64) (cluster.Lease, bool, error) {
	if err := f.check(); err != nil {
		return cluster.Lease{}, false, err
	}
	return f.detector().AcquireAfterCrash(ctx, g, id, seen, d, session)
}

func (f *faultStore) RecordLock(ctx context.Context, g, id string, term, session int64) error {
	if err := f.check(); err != nil {
		return err
	}
	return f.detector().RecordLock(ctx, g, id, term, session)
}

func (f *faultStore) BreakLock(ctx context.Context, g, id string, term int64) (bool, error) {
	if err := f.check(); err != nil {
		return false, err
	}
	return f.detector().BreakLock(ctx, g, id, term)
}

// testLock is a member's liveness lock. With linger set, giving it up does not reach the
// database: the session stays on the server holding the lock, as when the node was cut off
// without a FIN reaching the server (or froze) and the server never learnt it let go.
type testLock struct {
	cluster.LivenessLock
	linger atomic.Bool
}

func (l *testLock) Unlock() {
	if !l.linger.Load() {
		l.LivenessLock.Unlock()
	}
}

func (l *testLock) Close() error {
	if !l.linger.Load() {
		return l.LivenessLock.Close()
	}
	return nil
}

// member is one node of a test cluster.
type member struct {
	id     string
	skew   time.Duration // the member's clock runs this far ahead of the test's
	runner *cluster.Runner
	store  *faultStore
	db     *store.DB
	cancel context.CancelFunc
	done   chan struct{}
	// holds is what the member's data path would report as Config.Holds (inputs in its queue).
	holds atomic.Bool

	mu    sync.Mutex
	trans []cluster.Transition
}

func (m *member) transitions() []cluster.Transition {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]cluster.Transition(nil), m.trans...)
}

// stop shuts the member down cleanly (releasing its lease) and waits.
func (m *member) stop() {
	m.cancel()
	<-m.done
}

// testCluster is N runners of one group against one database.
type testCluster struct {
	t       *testing.T
	group   string
	members []*member
	// splitBrainExpected turns off the history check at the end (a test injects the overlap).
	splitBrainExpected bool
	// detect turns crash detection on for members added from then on; timing, when set,
	// replaces fastTiming for them.
	detect bool
	timing cluster.Timing
}

// newCluster starts n members; member i's clock is skew[i] off. When the test ends and every
// member has stopped, the recorded leaderships must not overlap and their terms must increase.
func newCluster(t *testing.T, url string, n int, skew []time.Duration) *testCluster {
	t.Helper()
	c := &testCluster{t: t, group: "g"}
	t.Cleanup(func() { // registered first, so it runs after the members' stops
		if c.splitBrainExpected {
			return
		}
		if err := checkLeaderships(c.leaderships()); err != nil {
			t.Error(err)
		}
	})
	for i := 0; i < n; i++ {
		c.add(url, fmt.Sprintf("n%d", i), skewAt(skew, i))
	}
	return c
}

func skewAt(s []time.Duration, i int) time.Duration {
	if i < len(s) {
		return s[i]
	}
	return 0
}

func (c *testCluster) add(url, id string, skew time.Duration) *member {
	return c.addWith(url, id, skew, func(s cluster.Store) cluster.Store { return s }, nil)
}

// addWith adds a member whose store is wrap(its faultStore) and whose promotion is promote.
func (c *testCluster) addWith(url, id string, skew time.Duration, wrap func(cluster.Store) cluster.Store, promote func(context.Context, int64) error) *member {
	t := c.t
	db, err := store.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	m := &member{id: id, skew: skew, store: &faultStore{Store: db}, done: make(chan struct{}), db: db}
	timing := fastTiming
	if c.timing != (cluster.Timing{}) {
		timing = c.timing
	}
	var detector cluster.CrashDetector
	if c.detect {
		detector = m.store
	}
	r, err := cluster.NewRunner(cluster.Config{
		Node:                  cluster.NodeInfo{Group: c.group, NodeID: id, Properties: map[string]string{}},
		Timing:                timing,
		Detector:              detector,
		DisableCrashDetection: !c.detect,
		Store:                 wrap(m.store),
		Logger:                slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Now:                   skewedClock(skew),
		Promote:               promote,
		Holds:                 m.holds.Load,
	})
	if err != nil {
		t.Fatal(err)
	}
	r.OnTransition(func(tr cluster.Transition) {
		m.mu.Lock()
		m.trans = append(m.trans, tr)
		m.mu.Unlock()
	})
	m.runner = r
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go func() { defer close(m.done); _ = r.Run(ctx) }()
	t.Cleanup(m.stop)
	c.members = append(c.members, m)
	return m
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Logf("%s", p); return len(p), nil }

// actives lists the members that currently serve.
func (c *testCluster) actives() []*member {
	var out []*member
	for _, m := range c.members {
		if _, ok := m.runner.Serving(); ok {
			out = append(out, m)
		}
	}
	return out
}

// waitActive waits until exactly one member serves, other than except, and returns it.
func (c *testCluster) waitActive(timeout time.Duration, except *member) *member {
	c.t.Helper()
	m, err := c.findActive(timeout, except)
	if err != nil {
		c.t.Fatal(err)
	}
	return m
}

// findActive is waitActive reporting a timeout as an error.
func (c *testCluster) findActive(timeout time.Duration, except *member) (*member, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if a := c.actives(); len(a) == 1 && a[0] != except {
			return a[0], nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil, fmt.Errorf("no single active within %s (actives: %d)", timeout, len(c.actives()))
}

// skewedClock is a wall clock skew off the real one, with no monotonic reading: everything the
// runner computes from it is wall-clock arithmetic, minutes away from the database's now().
func skewedClock(skew time.Duration) func() time.Time {
	if skew == 0 {
		return time.Now
	}
	return func() time.Time { return time.Now().Round(0).Add(skew) }
}

// leadership is one interval during which a member could act as leader (Leading was true):
// from its Promoting transition to the Demoted or Stopped one, on the test's clock.
type leadership struct {
	node     string
	term     int64
	from, to time.Time // to is zero while the member still leads
}

// leaderships reconstructs every member's leadership intervals from its recorded transitions,
// each stamped with when it took effect on the member's clock, minus the member's skew.
func (c *testCluster) leaderships() []leadership {
	var out []leadership
	for _, m := range c.members {
		out = append(out, leadershipsOf(m.id, m.skew, m.transitions())...)
	}
	return out
}

func leadershipsOf(node string, skew time.Duration, trs []cluster.Transition) []leadership {
	var out []leadership
	var cur *leadership
	for _, tr := range trs {
		leading := tr.To == cluster.Promoting || tr.To == cluster.Active
		switch {
		case leading && cur == nil:
			cur = &leadership{node: node, term: tr.Term, from: tr.At.Add(-skew)}
		case !leading && cur != nil:
			cur.to = tr.At.Add(-skew)
			out = append(out, *cur)
			cur = nil
		}
	}
	if cur != nil {
		out = append(out, *cur)
	}
	return out
}

// checkLeaderships reports any two leaderships of different members that overlap in time, and
// terms that do not strictly increase in the order leaderships began.
func checkLeaderships(ls []leadership) error {
	ls = append([]leadership(nil), ls...)
	sort.SliceStable(ls, func(i, j int) bool { return ls[i].from.Before(ls[j].from) })
	var errs []error
	for i, a := range ls {
		if i > 0 && a.term <= ls[i-1].term {
			errs = append(errs, fmt.Errorf("terms out of order: %s led term %d from %s, after %s led term %d from %s",
				a.node, a.term, a.from.Format(stampFormat), ls[i-1].node, ls[i-1].term, ls[i-1].from.Format(stampFormat)))
		}
		for _, b := range ls[i+1:] {
			if a.node != b.node && (a.to.IsZero() || b.from.Before(a.to)) {
				errs = append(errs, fmt.Errorf("split brain: %s led term %d from %s to %s, and %s led term %d from %s (overlap %s)",
					a.node, a.term, a.from.Format(stampFormat), endOf(a), b.node, b.term, b.from.Format(stampFormat), overlap(a, b)))
			}
		}
	}
	return errors.Join(errs...)
}

const stampFormat = "15:04:05.000000"

func endOf(l leadership) string {
	if l.to.IsZero() {
		return "the end"
	}
	return l.to.Format(stampFormat)
}

func overlap(a, b leadership) string {
	end := a.to
	if end.IsZero() || (!b.to.IsZero() && b.to.Before(end)) {
		end = b.to
	}
	if end.IsZero() {
		return "unbounded"
	}
	return end.Sub(b.from).String()
}

// terms lists the terms led, in the order their leaderships began.
func (c *testCluster) termsLed() []int64 {
	ls := c.leaderships()
	sort.SliceStable(ls, func(i, j int) bool { return ls[i].from.Before(ls[j].from) })
	var out []int64
	for _, l := range ls {
		out = append(out, l.term)
	}
	return out
}

// drivers runs fn against SQLite and a throwaway PostgreSQL database.
func drivers(t *testing.T, fn func(t *testing.T, url string)) {
	t.Run("sqlite", func(t *testing.T) {
		fn(t, "sqlite://"+filepath.Join(t.TempDir(), "ha.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		fn(t, pgtest.Shared(t).NewDatabase(t))
	})
}
