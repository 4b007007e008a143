package health_test

import (
	"testing"
	"time"

	"github.com/streamha/streamha/lambdas/clusterdb"
	"github.com/streamha/streamha/lambdas/health"
	"github.com/streamha/streamha/node/cluster"
)

func node(id, role string, term int64, age time.Duration) clusterdb.Node {
	return clusterdb.Node{NodeID: id, HeartbeatAge: age, Properties: map[string]string{cluster.PropTaskARN: "arn:task/" + id},
		Status: cluster.Status{Role: role, Term: term}}
}

func lease(holder string, term int64, remaining time.Duration) cluster.Lease {
	return cluster.Lease{Holder: holder, Term: term, Remaining: remaining}
}

func TestAssess(t *testing.T) {
	s := time.Second
	cases := []struct {
		name               string
		g                  clusterdb.Group
		live, active       int
		split, leaseHeld   bool
		holderAge          time.Duration
		hasHolderHeartbeat bool
	}{
		{"healthy pair", clusterdb.Group{Nodes: []clusterdb.Node{node("a", "active", 4, s), node("b", "passive", 4, 2*s)}, Lease: lease("a", 4, 10*s)},
			2, 1, false, true, s, true},
		{"two actives", clusterdb.Group{Nodes: []clusterdb.Node{node("a", "active", 4, s), node("b", "active", 5, s)}, Lease: lease("b", 5, 10*s)},
			2, 2, true, true, s, true},
		{"deposed active, new holder not yet active", clusterdb.Group{Nodes: []clusterdb.Node{node("a", "active", 4, s), node("b", "promoting", 4, s)}, Lease: lease("b", 5, 10*s)},
			2, 1, true, true, s, true},
		{"holder reports old term", clusterdb.Group{Nodes: []clusterdb.Node{node("a", "active", 3, s)}, Lease: lease("a", 4, 10*s)},
			1, 1, true, true, s, true},
		{"stale active is not live", clusterdb.Group{Nodes: []clusterdb.Node{node("a", "active", 4, 60*s), node("b", "passive", 4, s)}, Lease: lease("a", 4, -s)},
			1, 0, false, false, 60 * s, true},
		{"expired lease, single active keeps term: not split", clusterdb.Group{Nodes: []clusterdb.Node{node("a", "active", 4, s)}, Lease: lease("a", 4, -s)},
			1, 1, false, false, s, true},
		{"no lease ever", clusterdb.Group{Nodes: []clusterdb.Node{node("a", "passive", 0, s)}},
			1, 0, false, false, 0, false},
		{"active without lease row", clusterdb.Group{Nodes: []clusterdb.Node{node("a", "active", 1, 3*s)}},
			1, 1, true, false, 3 * s, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := health.Assess(c.g, health.DefaultConfig())
			if h.Live != c.live || h.Active != c.active || h.SplitBrain != c.split || h.LeaseHeld != c.leaseHeld ||
				h.HolderHeartbeatAge != c.holderAge || h.HasHolderHeartbeat != c.hasHolderHeartbeat {
				t.Fatalf("got live=%d active=%d split=%v (%s) held=%v holderAge=%v/%v", h.Live, h.Active, h.SplitBrain,
					h.SplitReason, h.LeaseHeld, h.HolderHeartbeatAge, h.HasHolderHeartbeat)
			}
		})
	}
}

func TestSnapshotAges(t *testing.T) {
	n := node("a", "active", 1, 2*time.Second)
	n.Status.ReportedAtMS = 1_000_000 // node clock; the Lambda's clock is never involved
	n.Status.Apps = map[string]cluster.AppStatus{"App": {LastPersistAtMS: 1_000_000 - 30_000}}
	g := clusterdb.Group{Nodes: []clusterdb.Node{n}}
	h := health.Assess(g, health.DefaultConfig())
	if h.SnapshotSource != "status" || h.SnapshotAge["App"] != 32*time.Second {
		t.Fatalf("from status: %v %v", h.SnapshotSource, h.SnapshotAge)
	}
	g.Snapshots = []clusterdb.Snapshot{{App: "App", Age: 5 * time.Second}}
	h = health.Assess(g, health.DefaultConfig())
	if h.SnapshotSource != "ha_snapshot" || h.SnapshotAge["App"] != 5*time.Second || h.Apps()[0] != "App" {
		t.Fatalf("from table: %v %v", h.SnapshotSource, h.SnapshotAge)
	}
}
