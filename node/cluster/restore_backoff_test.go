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
