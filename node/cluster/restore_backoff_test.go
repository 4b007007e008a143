package cluster_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamha/streamha/node/cluster"
	"github.com/streamha/streamha/node/store"
)

// restoreProbe plays a node whose state cannot be restored until fixed is set.
type restoreProbe struct {
	fixed    atomic.Bool
	mu       sync.Mutex
	promotes int
	readies  []time.Time
}

func (p *restoreProbe) promote(ctx context.Context, term int64) error {
	p.mu.Lock()
	p.promotes++
	p.mu.Unlock()
	if p.fixed.Load() {
		return nil
	}
	return fmt.Errorf("app A: revision 3: %w", cluster.ErrNotRestorable)
}

func (p *restoreProbe) ready(ctx context.Context) error {
	p.mu.Lock()
	p.readies = append(p.readies, time.Now())
	p.mu.Unlock()
	if p.fixed.Load() {
		return nil
	}
	return fmt.Errorf("app A: %w", cluster.ErrNotRestorable)
}

// TestUnrestorableStateDoesNotChurnTheLease: when promotion fails because no state can be
// restored without loss, the nodes stop contending: each takes at most one term, then only asks
// Ready once per backoff period (which doubles); once Ready and promotion succeed, one serves.
// Before, both nodes took the lease, failed and released it every couple of heartbeats.
func TestUnrestorableStateDoesNotChurnTheLease(t *testing.T) {
	url := "sqlite://" + filepath.Join(t.TempDir(), "ha.db")
	const backoff = 100 * time.Millisecond
	var probes []*restoreProbe
	var runners []*cluster.Runner
	for i := 0; i < 2; i++ {
		db, err := store.Open(url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if _, err := db.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		p := &restoreProbe{}
		r, err := cluster.NewRunner(cluster.Config{
			Node:   cluster.NodeInfo{Group: "g", NodeID: fmt.Sprintf("n%d", i), Properties: map[string]string{}},
			Timing: fastTiming, Store: db,
			Logger:         slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
			Promote:        p.promote,
			Ready:          p.ready,
			RestoreBackoff: backoff, RestoreBackoffMax: 4 * backoff,
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = r.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		probes, runners = append(probes, p), append(runners, r)
	}
	obs, err := store.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer obs.Close()
	term := func() int64 {
		l, err := obs.Leader(context.Background(), "g")
		if err != nil {
			return 0
		}
		return l.Term
	}
	// Both nodes fail once; then they stay out. Watch for 30 heartbeats.
	promoted := func(p *restoreProbe) bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.promotes > 0
	}
	waitUntil(t, "both nodes tried to promote", func() bool { return promoted(probes[0]) && promoted(probes[1]) })
	settled := term()
	time.Sleep(30 * fastTiming.HeartbeatInterval)
	if got := term(); got > 2 || got != settled {
		t.Fatalf("lease terms went to %d (settled at %d) while no node could restore: churn", got, settled)
	}
	for i, r := range runners {
		if failed, _ := r.RestoreBackoff(); !failed {
			t.Errorf("node %d does not report its restore failure", i)
		}
	}
	for i, p := range probes {
		p.mu.Lock()
		promotes, readies := p.promotes, append([]time.Time(nil), p.readies...)
		p.mu.Unlock()
		if promotes != 1 {
			t.Errorf("node %d promoted %d times, want 1", i, promotes)
		}
		if len(readies) == 0 || len(readies) > 8 {
			t.Errorf("node %d checked readiness %d times in 30 heartbeats, want a few (backoff %s doubling)", i, len(readies), backoff)
		}
		for j := 1; j < len(readies); j++ {
			if d := readies[j].Sub(readies[j-1]); d < backoff {
				t.Errorf("node %d: readiness checks %s apart, under the backoff %s", i, d, backoff)
			}
		}
	}
	for _, p := range probes {
		p.fixed.Store(true)
	}
	waitUntil(t, "one node serving once restorable", func() bool {
		_, a := runners[0].Serving()
		_, b := runners[1].Serving()
		return a != b
	})
	for i, r := range runners {
		if failed, _ := r.RestoreBackoff(); failed {
			if _, serving := r.Serving(); serving {
				t.Errorf("node %d serves but still reports a restore failure", i)
			}
		}
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRestoreBackoffDoublesOnTheInjectedClock: after a promotion fails with ErrNotRestorable the
// runner makes no acquisition and asks Ready only when the backoff has passed, the backoff
// doubling on each failed check up to its maximum; once Ready passes it acquires and serves.
// Steps happen every heartbeat (5 s here), so with a 10 s backoff doubling to 40 s each check
// falls at a step at least 10, 20, 40 and 40 s after the failure or the previous check.
func TestRestoreBackoffDoublesOnTheInjectedClock(t *testing.T) {
	db, err := store.Open("sqlite://" + filepath.Join(t.TempDir(), "ha.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	clk := newFakeClock()
	gate := &gateStore{Store: db, clock: clk, calls: make(chan *gatedCall, 1)}
	var fixed atomic.Bool
	readies := make(chan time.Time, 16)
	trs := make(chan cluster.Transition, 64)
	r, err := cluster.NewRunner(cluster.Config{
		Node:   cluster.NodeInfo{Group: "g", NodeID: "n0", Properties: map[string]string{}},
		Timing: slowTiming, Store: gate, Clock: clk,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Promote: func(ctx context.Context, term int64) error {
			if fixed.Load() {
				return nil
			}
			return fmt.Errorf("app A: %w", cluster.ErrNotRestorable)
		},
		Ready: func(ctx context.Context) error {
			readies <- clk.Now()
			if fixed.Load() {
				return nil
			}
			return fmt.Errorf("app A: %w", cluster.ErrNotRestorable)
		},
		RestoreBackoff: 10 * time.Second, RestoreBackoffMax: 40 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	r.OnTransition(func(tr cluster.Transition) { trs <- tr })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	waitRole := func(role cluster.Role) {
		t.Helper()
		for {
			select {
			case tr := <-trs:
				if tr.To == role {
					return
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("runner never became %s (role %s)", role, r.Role())
			}
		}
	}
	first := func() *gatedCall {
		for {
			select {
			case c := <-gate.calls:
				return c
			case d := <-clk.armed:
				clk.AdvanceTo(clk.Now().Add(d))
			case <-time.After(10 * time.Second):
				t.Fatal("runner made no call")
			}
		}
	}
	first().pass()
	waitRole(cluster.Promoting)
	waitRole(cluster.Passive) // failed, gave the lease up, rejoined
	failedAt := clk.Now()
	var got []time.Time
	for len(got) < 4 {
		select {
		case c := <-gate.calls:
			t.Fatalf("%s call at +%s during the restore backoff (checks so far at %v)", c.op, clk.Now().Sub(failedAt), got)
		case at := <-readies:
			got = append(got, at)
		case d := <-clk.armed:
			clk.AdvanceTo(clk.Now().Add(d))
		case <-time.After(10 * time.Second):
			t.Fatalf("no readiness check; checks so far at %v", got)
		}
	}
	prev := failedAt
	for i, wait := range []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 40 * time.Second} {
		// Steps come every heartbeat; the test's clock may run one heartbeat ahead of the
		// runner's timers around the failure (a wake-up by the release's poke).
		if gap := got[i].Sub(prev); gap < wait || gap > wait+2*slowTiming.HeartbeatInterval {
			t.Fatalf("readiness check %d came %s after the previous event, want %s plus at most two heartbeats", i+1, gap, wait)
		}
		prev = got[i]
	}
	// Ready has returned once the runner records the next check (after the last one).
	waitUntil(t, "the next check scheduled", func() bool { _, next := r.RestoreBackoff(); return next.After(prev) })
	if failed, next := r.RestoreBackoff(); !failed || next.Sub(prev) != 40*time.Second {
		t.Fatalf("RestoreBackoff = %v, next check %s after the last, want 40s", failed, next.Sub(prev))
	}
	fixed.Store(true)
	first().pass()
	waitRole(cluster.Active)
	if failed, _ := r.RestoreBackoff(); failed {
		t.Fatal("restore failure still reported after a successful promotion")
	}
}
