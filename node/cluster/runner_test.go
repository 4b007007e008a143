package cluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/streamha/streamha/internal/pgtest"
	"github.com/streamha/streamha/node/cluster"
)

func TestExactlyOneActiveAndTakeovers(t *testing.T) {
	drivers(t, func(t *testing.T, url string) {
		c := newCluster(t, url, 3, nil)
		prev := c.waitActive(5*time.Second, nil)
		for round := 0; round < 3; round++ {
			// Cut the active off: it must demote by itself, and another must take over once the
			// lease has expired by the database's clock.
			cut := time.Now()
			prev.store.cut.Store(true)
			next := c.waitActive(5*time.Second, prev)
			if took := time.Since(cut); took < fastTiming.RenewDeadline {
				t.Errorf("round %d: takeover after %s, before the old lease could expire", round, took)
			}
			if r := prev.runner.Role(); r == cluster.Active || r == cluster.Promoting {
				t.Errorf("round %d: cut-off node still %s", round, r)
			}
			prev.store.cut.Store(false)
			prev = next
		}
		if err := checkLeaderships(c.leaderships()); err != nil {
			t.Fatal(err)
		}
		if terms := c.termsLed(); len(terms) < 4 {
			t.Fatalf("terms %v: want 4 leaderships", terms)
		}
	})
}

func TestCleanReleaseHandsOverAtOnce(t *testing.T) {
	drivers(t, func(t *testing.T, url string) {
		c := newCluster(t, url, 2, nil)
		a := c.waitActive(5*time.Second, nil)
		term := a.runner.Term()
		start := time.Now()
		a.stop()
		b := c.waitActive(5*time.Second, a)
		if took := time.Since(start); took >= fastTiming.Lease {
			t.Errorf("handover took %s, not faster than the lease %s", took, fastTiming.Lease)
		}
		if b.runner.Term() != term+1 {
			t.Errorf("new term %d, want %d", b.runner.Term(), term+1)
		}
	})
}

func TestDeposedNodeWritesAreRejected(t *testing.T) {
	drivers(t, func(t *testing.T, url string) {
		c := newCluster(t, url, 2, nil)
		a := c.waitActive(5*time.Second, nil)
		oldTerm := a.runner.Term()
		a.store.cut.Store(true)
		b := c.waitActive(5*time.Second, a)
		newTerm := b.runner.Term()
		db := a.store.Store.(interface {
			Renew(context.Context, string, string, int64, time.Duration) (cluster.Lease, error)
		})
		if _, err := db.Renew(context.Background(), "g", a.id, oldTerm, time.Second); err == nil {
			t.Fatal("renewal under the deposed term was accepted")
		}
		if a.runner.Leading(oldTerm) {
			t.Fatal("deposed node still believes it leads")
		}
		if newTerm <= oldTerm {
			t.Fatalf("new term %d not above old %d", newTerm, oldTerm)
		}
	})
}

func TestSkewedClocksStillElectOne(t *testing.T) {
	// Lease expiry is judged by the database's clock and leaders count their own time only in
	// differences, so wall clocks minutes apart change nothing.
	url := pgtest.Shared(t).NewDatabase(t)
	c := newCluster(t, url, 2, []time.Duration{7 * time.Minute, -9 * time.Minute})
	a := c.waitActive(5*time.Second, nil)
	a.store.cut.Store(true)
	start := time.Now()
	c.waitActive(5*time.Second, a)
	if took := time.Since(start); took > fastTiming.Lease+time.Second {
		t.Fatalf("takeover with skewed clocks took %s", took)
	}
}

func TestDatabaseOutageDemotesThenReelects(t *testing.T) {
	srv := pgtest.Start(t)
	url := srv.NewDatabase(t)
	c := newCluster(t, url, 2, nil)
	a := c.waitActive(10*time.Second, nil)
	stopAt := time.Now()
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	// The active must stop serving within renew_deadline of its last successful renewal; we
	// allow one heartbeat interval of scheduling slack on a loaded machine.
	limit := fastTiming.RenewDeadline + fastTiming.HeartbeatInterval + 200*time.Millisecond
	for {
		if _, serving := a.runner.Serving(); !serving {
			break
		}
		if time.Since(stopAt) > limit {
			t.Fatalf("active still serving %s after the database stopped", time.Since(stopAt))
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(fastTiming.Lease)
	if n := len(c.actives()); n != 0 {
		t.Fatalf("%d actives while the database is down", n)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	c.waitActive(20*time.Second, nil)
}
