package cluster_test

import (
	"testing"
	"time"

	"github.com/streamha/streamha/node/cluster"
)

var timing = cluster.Timing{HeartbeatInterval: 250 * time.Millisecond, Lease: 1500 * time.Millisecond, RenewDeadline: time.Second}

// at is a point on a test's local monotonic time line.
func at(ms int) time.Time { return time.Unix(1000, 0).Add(time.Duration(ms) * time.Millisecond) }

func TestElectorScenarios(t *testing.T) {
	type step struct {
		name string
		do   func(e *cluster.Elector) []cluster.Transition
		want cluster.Role
	}
	acquire := func(ms int, ok bool, term int64) func(*cluster.Elector) []cluster.Transition {
		return func(e *cluster.Elector) []cluster.Transition { return e.AcquireResult(at(ms), ok, term) }
	}
	renew := func(ms int, ok, lost bool) func(*cluster.Elector) []cluster.Transition {
		return func(e *cluster.Elector) []cluster.Transition { return e.RenewResult(at(ms), ok, lost) }
	}
	tick := func(ms int) func(*cluster.Elector) []cluster.Transition {
		return func(e *cluster.Elector) []cluster.Transition { return e.Tick(at(ms)) }
	}
	promoted := func(ms int, term int64) func(*cluster.Elector) []cluster.Transition {
		return func(e *cluster.Elector) []cluster.Transition { return e.Promoted(at(ms), term) }
	}
	registered := func(e *cluster.Elector) []cluster.Transition { return e.Registered() }
	rejoined := func(e *cluster.Elector) []cluster.Transition { return e.Rejoined() }

	cases := []struct {
		name  string
		steps []step
	}{
		{"refused acquisition stays passive", []step{
			{"register", registered, cluster.Passive},
			{"refused", acquire(0, false, 3), cluster.Passive},
		}},
		{"acquire, promote, renew keeps active", []step{
			{"register", registered, cluster.Passive},
			{"acquire", acquire(0, true, 1), cluster.Promoting},
			{"promoted", promoted(100, 1), cluster.Active},
			{"renew", renew(250, true, false), cluster.Active},
			{"tick before deadline", tick(1249), cluster.Active},
		}},
		{"no renewal within deadline demotes", []step{
			{"register", registered, cluster.Passive},
			{"acquire", acquire(0, true, 1), cluster.Promoting},
			{"promoted", promoted(10, 1), cluster.Active},
			{"renew fails (unreachable)", renew(250, false, false), cluster.Active},
			{"tick at deadline", tick(1000), cluster.Demoted},
			{"rejoin", rejoined, cluster.Passive},
		}},
		{"deadline counts from send time, not reply time", []step{
			{"register", registered, cluster.Passive},
			{"acquire sent at 0", acquire(0, true, 1), cluster.Promoting},
			{"promoted", promoted(10, 1), cluster.Active},
			{"renew sent at 500 ok", renew(500, true, false), cluster.Active},
			{"tick 1499", tick(1499), cluster.Active},
			{"tick 1500", tick(1500), cluster.Demoted},
		}},
		{"lost lease demotes at once", []step{
			{"register", registered, cluster.Passive},
			{"acquire", acquire(0, true, 4), cluster.Promoting},
			{"promoted", promoted(10, 4), cluster.Active},
			{"store says lost", renew(250, false, true), cluster.Demoted},
		}},
		{"a late promotion past the deadline does not activate", []step{
			{"register", registered, cluster.Passive},
			{"acquire", acquire(0, true, 2), cluster.Promoting},
			{"promotion ends after deadline", promoted(1200, 2), cluster.Promoting},
			{"tick", tick(1200), cluster.Demoted},
		}},
		{"promotion of a stale term is ignored", []step{
			{"register", registered, cluster.Passive},
			{"acquire", acquire(0, true, 2), cluster.Promoting},
			{"promoted for term 1", promoted(10, 1), cluster.Promoting},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := cluster.NewElector(timing)
			for _, s := range tc.steps {
				s.do(e)
				if e.Role() != s.want {
					t.Fatalf("after %q: role %s, want %s", s.name, e.Role(), s.want)
				}
			}
		})
	}
}

func TestElectorHoldsOffAfterDemotion(t *testing.T) {
	e := cluster.NewElector(timing)
	e.Registered()
	e.AcquireResult(at(0), true, 1)
	e.RenewResult(at(100), false, true)
	e.Rejoined()
	if op := e.Next(at(200)); op != cluster.OpNone {
		t.Fatalf("right after demotion Next = %v, want OpNone (hold-off)", op)
	}
	if op := e.Next(at(700)); op != cluster.OpAcquire {
		t.Fatalf("after hold-off Next = %v, want OpAcquire", op)
	}
}

func TestPassiveWakesWhenTheLeaseExpires(t *testing.T) {
	e := cluster.NewElector(timing)
	e.Registered()
	e.AcquireResult(at(0), false, 3)
	e.LeaseSeen(at(0), 120*time.Millisecond)
	if d := e.Wake(at(10)); d != 115*time.Millisecond {
		t.Fatalf("wake = %s, want 115ms (expiry + 5ms)", d)
	}
	if d := e.Wake(at(500)); d != timing.HeartbeatInterval {
		t.Fatalf("after expiry wake = %s, want the heartbeat interval", d)
	}
}

func TestHandedOverNodeCanTakeTheLeaseBackWhenAsked(t *testing.T) {
	e := cluster.NewElector(timing)
	e.Registered()
	e.AcquireResult(at(0), true, 1)
	e.Promoted(at(1), 1)
	e.Abdicate(at(10), "switchover")
	e.HoldOff(at(10).Add(timing.Lease))
	e.Rejoined()
	if op := e.Next(at(100)); op != cluster.OpNone {
		t.Fatalf("after handing over Next = %v, want a hold-off", op)
	}
	e.ClearHoldOff()
	if op := e.Next(at(100)); op != cluster.OpAcquire {
		t.Fatalf("after the peer hands back Next = %v, want OpAcquire", op)
	}
}

func TestLeavingNodeNeverAcquires(t *testing.T) {
	e := cluster.NewElector(timing)
	e.Registered()
	e.Leave()
	if op := e.Next(at(10_000)); op != cluster.OpNone {
		t.Fatalf("a leaving passive's Next = %v, want OpNone", op)
	}
}

// A passive expects a takeover once the lease it saw has less than half a lease left; a lease seen
// in an earlier passive spell does not count after the node led in between.
func TestLeaseEndsWithin(t *testing.T) {
	e := cluster.NewElector(timing)
	e.Registered()
	if e.LeaseEndsWithin(at(0), timing.Lease/2) {
		t.Fatal("no lease seen yet, but a takeover is expected")
	}
	e.LeaseSeen(at(0), timing.Lease) // renewed just now: ends at 1500
	for _, c := range []struct {
		now  int
		want bool
	}{{0, false}, {500, false}, {750, false}, {751, true}, {1499, true}, {3000, true}} {
		if got := e.LeaseEndsWithin(at(c.now), timing.Lease/2); got != c.want {
			t.Errorf("at %d ms: LeaseEndsWithin = %v, want %v", c.now, got, c.want)
		}
	}
	e.AcquireResult(at(1600), true, 2)
	e.Promoted(at(1610), 2)
	if e.LeaseEndsWithin(at(1700), timing.Lease/2) {
		t.Fatal("an active expects a takeover")
	}
	e.RenewResult(at(1800), false, true) // lost
	e.Rejoined()
	if e.LeaseEndsWithin(at(5000), timing.Lease/2) {
		t.Fatal("a lease seen before this node led still counts in its next passive spell")
	}
}
