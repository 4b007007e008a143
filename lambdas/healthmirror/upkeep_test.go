package healthmirror_test

import (
	"context"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/streamha/streamha/lambdas/clusterdb"
	"github.com/streamha/streamha/lambdas/ecsapi/ecstest"
	"github.com/streamha/streamha/lambdas/elbapi"
	"github.com/streamha/streamha/lambdas/elbapi/elbtest"
	"github.com/streamha/streamha/lambdas/healthmirror"
	"github.com/streamha/streamha/node/cluster"
)

const (
	httpTG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/http/0123456789abcdef"
	tcpTG  = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tcp/0123456789abcdef"
)

func node(id, role string, term int64, age time.Duration, ip string) clusterdb.Node {
	return clusterdb.Node{NodeID: id, HeartbeatAge: age, Status: cluster.Status{Role: role, Term: term},
		Properties: map[string]string{cluster.PropSyncAddr: ip + ":9893", cluster.PropTaskARN: "arn:aws:ecs:us-east-1:123456789012:task/c/" + id}}
}

// A lost RUNNING event left the active unregistered and a stopped task's IP registered: the
// mirror's next sample puts exactly the live nodes into both target groups, over the ELBv2 Query
// protocol, and a second sample changes nothing. It tags each live task with its role and term
// once per change.
func TestUpkeepReconcilesTargetsAndTagsTasks(t *testing.T) {
	elb := elbtest.Start(t, httpTG, tcpTG)
	ecs := ecstest.Start(t)
	ctx := context.Background()
	// The stale IP of a stopped task, and the passive registered on a wrong port.
	if err := elbapi.Register(ctx, elb.Client(), []elbapi.TargetGroup{{ARN: httpTG, Port: 9090}, {ARN: tcpTG, Port: 9894}}, "10.0.3.9"); err != nil {
		t.Fatal(err)
	}
	if err := elbapi.Register(ctx, elb.Client(), []elbapi.TargetGroup{{ARN: httpTG, Port: 9999}}, "10.0.2.7"); err != nil {
		t.Fatal(err)
	}
	g := clusterdb.Group{Name: "g", Lease: cluster.Lease{Holder: "a", Term: 4, Remaining: 5 * time.Second}, Nodes: []clusterdb.Node{
		node("a", "active", 4, time.Second, "10.0.1.5"),
		node("b", "passive", 4, time.Second, "10.0.2.7"),
		node("c", "passive", 3, 10*time.Minute, "10.0.3.9"), // long dead
	}}
	r := &fakeReader{groups: []clusterdb.Group{g}}
	h := newHandler(r, io.Discard)
	h.Upkeep = &healthmirror.Upkeep{Group: "g", ELB: elb.Client(), ECS: ecs.Client(),
		TargetGroups: []elbapi.TargetGroup{{ARN: httpTG, Port: 9090}, {ARN: tcpTG, Port: 9894}}}
	if _, err := h.Handle(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := elb.Targets(httpTG), []string{"10.0.1.5:9090", "10.0.2.7:9090"}; !slices.Equal(got, want) {
		t.Errorf("http targets %v, want %v", got, want)
	}
	if got, want := elb.Targets(tcpTG), []string{"10.0.1.5:9894", "10.0.2.7:9894"}; !slices.Equal(got, want) {
		t.Errorf("tcp targets %v, want %v", got, want)
	}
	tags := func() map[string]string {
		out := map[string]string{}
		for _, c := range ecs.Calls("TagResource") {
			arn := c.Body["resourceArn"].(string)
			for _, tg := range c.Body["tags"].([]any) {
				m := tg.(map[string]any)
				out[arn+" "+m["key"].(string)] = m["value"].(string)
			}
		}
		return out
	}
	tg := tags()
	if tg["arn:aws:ecs:us-east-1:123456789012:task/c/a streamha:role"] != "active" || tg["arn:aws:ecs:us-east-1:123456789012:task/c/a streamha:term"] != "4" ||
		tg["arn:aws:ecs:us-east-1:123456789012:task/c/b streamha:role"] != "passive" || len(tg) != 4 {
		t.Errorf("tags %v: want role and term on the two live tasks only", tg)
	}
	// Idempotent: nothing changes the second time.
	before := len(elb.Calls("RegisterTargets", "DeregisterTargets"))
	tagCalls := len(ecs.Calls("TagResource"))
	if _, err := h.Handle(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if after := len(elb.Calls("RegisterTargets", "DeregisterTargets")); after != before {
		t.Errorf("second sample made %d ELB changes", after-before)
	}
	if n := len(ecs.Calls("TagResource")); n != tagCalls {
		t.Errorf("second sample re-tagged %d tasks", n-tagCalls)
	}
	// A switchover: the tags follow.
	g.Nodes[0] = node("a", "passive", 5, time.Second, "10.0.1.5")
	g.Nodes[1] = node("b", "active", 5, time.Second, "10.0.2.7")
	g.Lease = cluster.Lease{Holder: "b", Term: 5, Remaining: 5 * time.Second}
	r.groups = []clusterdb.Group{g}
	if _, err := h.Handle(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if tg := tags(); tg["arn:aws:ecs:us-east-1:123456789012:task/c/b streamha:role"] != "active" || tg["arn:aws:ecs:us-east-1:123456789012:task/c/a streamha:term"] != "5" {
		t.Errorf("after the switchover: %v", tg)
	}
	// A blind view (no live node) never empties the target groups.
	r.groups = []clusterdb.Group{{Name: "g"}}
	if _, err := h.Handle(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if len(elb.Targets(httpTG)) != 2 {
		t.Errorf("an empty view emptied the target group: %v", elb.Targets(httpTG))
	}
}
