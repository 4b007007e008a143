package alarmhandler_test

import (
	"testing"
	"time"

	"github.com/streamha/streamha/lambdas/alarmhandler"
	"github.com/streamha/streamha/lambdas/clusterdb"
	"github.com/streamha/streamha/lambdas/health"
	"github.com/streamha/streamha/node/cluster"
)

func nd(id, role string, term int64, age time.Duration) clusterdb.Node {
	return clusterdb.Node{NodeID: id, HeartbeatAge: age, Properties: map[string]string{cluster.PropTaskARN: "arn:aws:ecs:us-east-1:1:task/si/" + id},
		Status: cluster.Status{Role: role, Term: term}}
}

func TestPlan(t *testing.T) {
	s := time.Second
	held := func(holder string, term int64) cluster.Lease {
		return cluster.Lease{Holder: holder, Term: term, Remaining: 10 * s}
	}
	cases := []struct {
		name   string
		metric string
		g      clusterdb.Group
		want   map[string]string // node -> kind
	}{
		{"split brain: stop the deposed active", "SplitBrain",
			clusterdb.Group{Lease: held("b", 5), Nodes: []clusterdb.Node{nd("a", "active", 4, s), nd("b", "active", 5, s)}},
			map[string]string{"a": alarmhandler.KindFence}},
		{"split brain healed before the handler ran", "SplitBrain",
			clusterdb.Group{Lease: held("b", 5), Nodes: []clusterdb.Node{nd("a", "passive", 5, s), nd("b", "active", 5, s)}},
			nil},
		{"healthy holder is never stopped even on heartbeat alarms", "HeartbeatAgeSeconds",
			clusterdb.Group{Lease: held("a", 5), Nodes: []clusterdb.Node{nd("a", "active", 5, s), nd("b", "passive", 5, 2*s)}},
			nil},
		{"hung passive", "HeartbeatAgeSeconds",
			clusterdb.Group{Lease: held("a", 5), Nodes: []clusterdb.Node{nd("a", "active", 5, s), nd("b", "passive", 5, 90*s)}},
			map[string]string{"b": alarmhandler.KindHung}},
		{"stale holder: hung, and the passive has taken over", "ActiveHeartbeatAgeSeconds",
			clusterdb.Group{Lease: held("b", 6), Nodes: []clusterdb.Node{nd("a", "active", 5, 60*s), nd("b", "active", 6, s)}},
			map[string]string{"a": alarmhandler.KindFence}},
		{"stale holder still holding the term", "ActiveHeartbeatAgeSeconds",
			clusterdb.Group{Lease: cluster.Lease{Holder: "a", Term: 5, Remaining: -s}, Nodes: []clusterdb.Node{nd("a", "active", 5, 60*s), nd("b", "passive", 5, s)}},
			map[string]string{"a": alarmhandler.KindHung}},
		{"no term yet: no fencing", "SplitBrain",
			clusterdb.Group{Nodes: []clusterdb.Node{nd("a", "active", 0, s), nd("b", "active", 0, s)}},
			nil},
		{"metric without action", "SnapshotAgeSeconds",
			clusterdb.Group{Lease: held("b", 5), Nodes: []clusterdb.Node{nd("a", "active", 4, 90*s), nd("b", "active", 5, s)}},
			nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := alarmhandler.Plan(c.metric, health.Assess(c.g, health.DefaultConfig()))
			if len(got) != len(c.want) {
				t.Fatalf("targets %+v, want %v", got, c.want)
			}
			for _, tg := range got {
				if c.want[tg.NodeID] != tg.Kind || tg.TaskARN == "" {
					t.Fatalf("target %+v, want %v", tg, c.want)
				}
			}
		})
	}
}
