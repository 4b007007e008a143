package cluster_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/streamha/streamha/node/cluster"
	"github.com/streamha/streamha/node/store"
)

// fakeClock is a cluster.Clock that moves only when the test says so. Timers fire synchronously
// inside Advance/AfterFunc (the Runner's callbacks never block), so once Advance returns every
// effect of the timers it fired (a context cancelled, a wake-up queued) has happened.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
	// armed receives the duration of every AfterFunc timer set in the future: the Runner's loop
	// waiting for its next step, or a registration backoff.
	armed chan time.Duration
}

type fakeTimer struct {
	due time.Time
	f   func()
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: at(0), armed: make(chan time.Duration, 64)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) schedule(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	if d <= 0 {
		c.mu.Unlock()
		f()
		return func() bool { return false }
	}
	tm := &fakeTimer{due: c.now.Add(d), f: f}
	c.timers = append(c.timers, tm)
	c.mu.Unlock()
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, x := range c.timers {
			if x == tm {
				c.timers = append(c.timers[:i], c.timers[i+1:]...)
				return true
			}
		}
		return false
	}
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	stop := c.schedule(d, f)
	if d > 0 {
		c.armed <- d
	}
	return stop
}

func (c *fakeClock) WithTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	cctx, cancel := context.WithCancelCause(ctx)
	stop := c.schedule(d, func() { cancel(context.DeadlineExceeded) })
	return cctx, func() { stop(); cancel(context.Canceled) }
}

// AdvanceTo moves the clock to t and fires, in due order, every timer due by then.
func (c *fakeClock) AdvanceTo(t time.Time) {
	c.mu.Lock()
	if t.Before(c.now) {
		c.mu.Unlock()
		panic("fakeClock: time moves forward only")
	}
	c.now = t
	var due, rest []*fakeTimer
	for _, tm := range c.timers {
		if tm.due.After(t) {
			rest = append(rest, tm)
		} else {
			due = append(due, tm)
		}
	}
	c.timers = rest
	c.mu.Unlock()
	sort.SliceStable(due, func(i, j int) bool { return due[i].due.Before(due[j].due) })
	for _, tm := range due {
		tm.f()
	}
}

// gatedCall is one Acquire or Renew held by gateStore until the test lets it through.
type gatedCall struct {
	op      string
	sent    time.Time // on the fake clock
	ctx     context.Context
	release chan struct{}
}

// pass lets the call reach the database and its answer the runner.
func (c *gatedCall) pass() { close(c.release) }

// gateStore is a real store whose Acquire and Renew answers arrive only when the test says so,
// or never: then the call ends with its context.
type gateStore struct {
	cluster.Store
	clock *fakeClock
	calls chan *gatedCall
}

func (g *gateStore) hold(ctx context.Context, op string) error {
	c := &gatedCall{op: op, sent: g.clock.Now(), ctx: ctx, release: make(chan struct{})}
	g.calls <- c
	select {
	case <-c.release:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (g *gateStore) Acquire(ctx context.Context, grp, id string, d time.Duration) (cluster.Lease, bool, error) {
	if err := g.hold(ctx, "acquire"); err != nil {
		return cluster.Lease{}, false, err
	}
	return g.Store.Acquire(ctx, grp, id, d)
}

func (g *gateStore) Renew(ctx context.Context, grp, id string, term int64, d time.Duration) (cluster.Lease, error) {
	if err := g.hold(ctx, "renew"); err != nil {
		return cluster.Lease{}, err
	}
	return g.Store.Renew(ctx, grp, id, term, d)
}

// slowTiming is long enough that the real database's lease, judged by the real clock, cannot
// expire while the test runs; the runner itself lives on the fake clock.
var slowTiming = cluster.Timing{HeartbeatInterval: 5 * time.Second, Lease: time.Minute, RenewDeadline: 40 * time.Second}

// gatedRunner is one runner on a fake clock against a real SQLite store behind a gate.
type gatedRunner struct {
	r     *cluster.Runner
	clock *fakeClock
	gate  *gateStore
	trs   chan cluster.Transition
}

func newGatedRunner(t *testing.T) *gatedRunner {
	t.Helper()
	db, err := store.Open("sqlite://" + filepath.Join(t.TempDir(), "ha.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	clk := newFakeClock()
	h := &gatedRunner{clock: clk, gate: &gateStore{Store: db, clock: clk, calls: make(chan *gatedCall, 1)}, trs: make(chan cluster.Transition, 64)}
	h.r, err = cluster.NewRunner(cluster.Config{
		Node:   cluster.NodeInfo{Group: "g", NodeID: "n0", Properties: map[string]string{}},
		Timing: slowTiming,
		Store:  h.gate,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Clock:  clk,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.r.OnTransition(func(tr cluster.Transition) { h.trs <- tr })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = h.r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return h
}

// next drives the runner to its next gated call: whenever it waits for its next step, the clock
// jumps to the end of that wait.
func (h *gatedRunner) next(t *testing.T, op string) *gatedCall {
	t.Helper()
	for {
		select {
		case c := <-h.gate.calls:
			if c.op != op {
				t.Fatalf("runner called %s, want %s", c.op, op)
			}
			return c
		case d := <-h.clock.armed:
			h.clock.AdvanceTo(h.clock.Now().Add(d))
		case <-time.After(10 * time.Second):
			t.Fatalf("runner made no %s call", op)
		}
	}
}

// waitFor waits for the runner's transition to role.
func (h *gatedRunner) waitFor(t *testing.T, role cluster.Role) cluster.Transition {
	t.Helper()
	for {
		select {
		case tr := <-h.trs:
			if tr.To == role {
				return tr
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("runner never became %s (role %s)", role, h.r.Role())
		}
	}
}

// mustLead and mustNotLead check the data path's view (Leading and Serving) at the clock's now.
func (h *gatedRunner) mustLead(t *testing.T, term int64, when string) {
	t.Helper()
	if _, serving := h.r.Serving(); !h.r.Leading(term) || !serving {
		t.Fatalf("%s: not leading term %d (role %s)", when, term, h.r.Role())
	}
}

func (h *gatedRunner) mustNotLead(t *testing.T, term int64, when string) {
	t.Helper()
	if _, serving := h.r.Serving(); h.r.Leading(term) || serving {
		t.Fatalf("%s: still leading term %d (role %s), though the database may let the lease expire "+
			"lease %s after the last successful call was sent", when, term, h.r.Role(), slowTiming.Lease)
	}
}

// TestRunnerCountsALateRenewalFromItsSend: a renewal answered later than lease − renew_deadline
// renews the lease from its send time only (the database may have granted it right then), and
// when the next renewal is never answered, the runner stops leading at send + renew_deadline,
// while that call is still outstanding, before the database lease can expire.
func TestRunnerCountsALateRenewalFromItsSend(t *testing.T) {
	h := newGatedRunner(t)
	h.next(t, "acquire").pass()
	term := h.waitFor(t, cluster.Active).Term

	r1 := h.next(t, "renew")
	s1 := r1.sent
	h.clock.AdvanceTo(s1.Add(slowTiming.Lease - slowTiming.RenewDeadline + slowTiming.HeartbeatInterval))
	h.mustLead(t, term, "before the late answer (the acquisition still covers)")
	r1.pass()

	// The step took longer than a heartbeat, so the runner renews again at once; by then the
	// late answer has been applied.
	r2 := h.next(t, "renew")
	deadline := s1.Add(slowTiming.RenewDeadline)
	h.clock.AdvanceTo(deadline.Add(-time.Nanosecond))
	h.mustLead(t, term, "just before send + renew_deadline of the late renewal")
	h.clock.AdvanceTo(deadline)
	h.mustNotLead(t, term, "at send + renew_deadline of the late renewal, its answer notwithstanding")

	// The second renewal's answer never comes: its context ends with the deadline, and the
	// runner demotes itself.
	h.clock.AdvanceTo(deadline.Add(time.Millisecond))
	if r2.ctx.Err() == nil {
		t.Fatal("the unanswered renewal is still outstanding past the renew deadline")
	}
	h.waitFor(t, cluster.Demoted)
	h.mustNotLead(t, term, "after demotion")
}

// TestRunnerDemotesWhenARenewalIsNeverAnswered: the acquisition's answer arrives later than
// lease − renew_deadline and the first renewal is never answered. The runner leads until
// renew_deadline after the acquisition was sent, not after its answer, and stops while the
// renewal is still outstanding; the renewal's context ends at the deadline and it demotes.
func TestRunnerDemotesWhenARenewalIsNeverAnswered(t *testing.T) {
	h := newGatedRunner(t)
	acq := h.next(t, "acquire")
	t0 := acq.sent
	h.clock.AdvanceTo(t0.Add(slowTiming.Lease - slowTiming.RenewDeadline + slowTiming.HeartbeatInterval))
	acq.pass()
	term := h.waitFor(t, cluster.Active).Term

	r1 := h.next(t, "renew")
	deadline := t0.Add(slowTiming.RenewDeadline)
	h.clock.AdvanceTo(deadline.Add(-time.Nanosecond))
	h.mustLead(t, term, "just before acquisition send + renew_deadline")
	h.clock.AdvanceTo(deadline)
	h.mustNotLead(t, term, "at acquisition send + renew_deadline, the renewal unanswered")
	if r1.ctx.Err() != nil {
		t.Fatal("the renewal's context ended before the renew deadline")
	}
	h.clock.AdvanceTo(deadline.Add(time.Millisecond))
	if r1.ctx.Err() == nil {
		t.Fatal("the unanswered renewal is still outstanding past the renew deadline")
	}
	tr := h.waitFor(t, cluster.Demoted)
	if tr.Term != term {
		t.Fatalf("demoted from term %d, want %d", tr.Term, term)
	}
	// The demotion was noticed after the deadline, but leadership ended at it: the harness's
	// split-brain check relies on At.
	if !tr.At.Equal(deadline) {
		t.Fatalf("demotion stamped at %s, want the deadline %s", rel(tr.At), rel(deadline))
	}
}
