package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamha/streamha/node/cluster"
	"github.com/streamha/streamha/node/store"
)

// TestRunnerWritesTermHistory drives real runners through every way a term begins and ends and
// reads the term history back: the first election, a failed promotion that gives the lease up
// (demotion), a holder cut off until its lease expires (as a crash), a planned hand-over
// (switchover) and a clean shutdown, each with the right holders, terms and reasons.
func TestRunnerWritesTermHistory(t *testing.T) {
	drivers(t, func(t *testing.T, url string) {
		db, err := store.Open(url)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		c := newCluster(t, url, 0, nil)
		var promotions atomic.Int32
		n0 := c.addWith(url, "n0", 0, func(s cluster.Store) cluster.Store { return s }, func(context.Context, int64) error {
			if promotions.Add(1) == 1 {
				return errors.New("injected: first promotion fails")
			}
			return nil
		})
		waitHistory(t, db, 3)
		c.waitActive(5*time.Second, nil)
		n1 := c.add(url, "n1", 0)
		waitRegistered(t, n1)
		n0.store.cut.Store(true) // n0 can neither renew nor release: n1 takes over at expiry
		c.waitActive(5*time.Second, n0)
		n0.store.cut.Store(false)
		waitRole(t, n0, cluster.Passive)
		if err := n1.runner.Handover(context.Background(), "test switchover"); err != nil {
			t.Fatal(err)
		}
		c.waitActive(5*time.Second, n1)
		n0.stop() // releases its lease on shutdown; n1 takes it
		c.waitActive(5*time.Second, n0)
		got := waitHistory(t, db, 8)
		want := `1 acquire n0 prev= first_election
1 release n0 prev= demotion
2 acquire n0 prev=n0 demotion
3 acquire n1 prev=n0 expiry_takeover
3 release n1 prev= switchover
4 acquire n0 prev=n1 switchover
4 release n0 prev= shutdown
5 acquire n1 prev=n0 shutdown
`
		if got != want {
			t.Fatalf("term history:\n%s\nwant:\n%s", got, want)
		}
	})
}

// waitHistory waits until group g's history has at least n rows and returns it, one line each.
func waitHistory(t *testing.T, db *store.DB, n int) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		es, err := db.History(context.Background(), "g", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) >= n || time.Now().After(deadline) {
			var b strings.Builder
			for _, e := range es {
				fmt.Fprintf(&b, "%d %s %s prev=%s %s\n", e.Term, e.Event, e.Holder, e.Previous, e.Reason)
			}
			if len(es) < n {
				t.Fatalf("history has %d rows, want %d:\n%s", len(es), n, b.String())
			}
			return b.String()
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitRole(t *testing.T, m *member, r cluster.Role) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for m.runner.Role() != r {
		if time.Now().After(deadline) {
			t.Fatalf("%s is %s, want %s", m.id, m.runner.Role(), r)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitRegistered(t *testing.T, m *member) { waitRole(t, m, cluster.Passive) }
