package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamha/streamha/node/cluster"
)

// slowAcquire makes a member lose every race for the lease while blocked is set (its
// acquisitions fail at once), heartbeating normally meanwhile.
type slowAcquire struct {
	cluster.Store
	blocked *atomic.Bool
}

func (s slowAcquire) Acquire(ctx context.Context, g, id string, d time.Duration) (cluster.Lease, bool, error) {
	if s.blocked.Load() {
		return cluster.Lease{}, false, errors.New("test: this member is slow to acquire")
	}
	return s.Store.Acquire(ctx, g, id, d)
}

// statusOf reads member id's heartbeat status from the database.
func statusOf(t *testing.T, m *member, id string) cluster.Status {
	t.Helper()
	nodes, err := m.db.Nodes(context.Background(), "g")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.NodeID == id {
			var st cluster.Status
			_ = json.Unmarshal(n.Status, &st)
			return st
		}
	}
	return cluster.Status{}
}

// TestEmptyRestartDefersToHolder: a crashed active that restarts with nothing held leaves the
// lease to the surviving passive that holds acknowledged inputs, even when it could take the
// lease first (here the survivor's acquisitions fail until the test lets them through), and
// takes it itself only after the bounded deferral when the survivor never does. Before, the
// restarted node took the lease the moment it expired and the survivor's inputs were lost.
func TestEmptyRestartDefersToHolder(t *testing.T) {
	drivers(t, func(t *testing.T, url string) {
		c := newCluster(t, url, 0, nil)
		a := c.add(url, "n0", 0)
		c.waitActive(5*time.Second, nil)
		var blocked atomic.Bool
		b := c.addWith(url, "n1", 0, func(s cluster.Store) cluster.Store { return slowAcquire{Store: s, blocked: &blocked} }, nil)
		b.holds.Store(true) // the passive's queue holds inputs the store has not
		blocked.Store(true)
		waitFor(t, 10*time.Second, "the passive to report holds_inputs", func() bool { return statusOf(t, a, "n1").HoldsInputs })

		// n0 crashes: its release never reaches the database, the lease stays until it expires.
		a.store.cut.Store(true)
		a.stop()
		restarted := c.add(url, "n0", 0) // holds nothing: it restores from the store
		waitFor(t, 10*time.Second, "the restarted node to defer (or take the lease)", func() bool {
			_, serving := restarted.runner.Serving()
			return serving || statusOf(t, b, "n0").DeferringTo == "n1"
		})
		if _, serving := restarted.runner.Serving(); serving {
			t.Fatal("the restarted node, holding nothing, took the lease before the survivor holding inputs")
		}
		lease, err := b.db.Leader(context.Background(), "g")
		if err != nil {
			t.Fatal(err)
		}
		if lease.Remaining > 0 && lease.Holder == "n0" {
			// Deferral is asked only when an acquisition is due; make the test's point explicit.
			waitFor(t, 10*time.Second, "the old lease to expire", func() bool {
				l, err := b.db.Leader(context.Background(), "g")
				return err == nil && l.Remaining <= 0
			})
		}
		blocked.Store(false)
		if got := c.waitActive(5*time.Second, restarted); got != b {
			t.Fatalf("%s took the lease, want the survivor n1", got.id)
		}
		for _, tr := range restarted.transitions() {
			if tr.To == cluster.Active || tr.To == cluster.Promoting {
				t.Fatalf("the restarted node led meanwhile: %+v", tr)
			}
		}
	})
}

// TestDeferralIsBounded: when the node holding inputs never takes the lease (it cannot), a node
// holding nothing contends after Config.DeferFor, so the group is not left without an active.
func TestDeferralIsBounded(t *testing.T) {
	drivers(t, func(t *testing.T, url string) {
		c := newCluster(t, url, 0, nil)
		var blocked atomic.Bool
		blocked.Store(true)
		b := c.addWith(url, "n1", 0, func(s cluster.Store) cluster.Store { return slowAcquire{Store: s, blocked: &blocked} }, nil)
		b.holds.Store(true)
		waitFor(t, 10*time.Second, "n1 to report holds_inputs", func() bool { return statusOf(t, b, "n1").HoldsInputs })
		start := time.Now()
		a := c.add(url, "n0", 0)
		if got := c.waitActive(10*time.Second, nil); got != a {
			t.Fatalf("%s took the lease, want n0", got.id)
		}
		// Default DeferFor is 3 leases, by the node's clock (the test's, no skew here).
		if took := time.Since(start); took < 3*fastTiming.Lease {
			t.Fatalf("n0 took the lease after %s, before the bounded deferral (%s) ran out", took, 3*fastTiming.Lease)
		}
	})
}
