package chaos

import (
	"testing"
	"time"

	"github.com/streamha/streamha/internal/hatest"
)

// The checker must catch what it claims to catch: fed a history with a stale acknowledgement, a
// stale serving report and a term going back, it reports each.
func TestCheckerFindsViolations(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	grants := []Grant{{Term: 1, Holder: "a", AcquiredAt: at(0)}, {Term: 2, Holder: "b", AcquiredAt: at(1000)}}
	gi := newGrantIndex(grants)
	acks := []hatest.AckRecord{
		{Node: "a", Sent: at(100), At: at(200)},   // fine: a holds term 1
		{Node: "b", Sent: at(900), At: at(1100)},  // fine: b granted during the request
		{Node: "a", Sent: at(950), At: at(1050)},  // fine: a held the lease when it was sent
		{Node: "a", Sent: at(1200), At: at(1300)}, // stale: term 2 went to b before it was sent
	}
	if v := checkStaleAcks(gi, acks); len(v) != 1 {
		t.Fatalf("stale acks: got %d %v, want 1", len(v), v)
	}
	obs := []ActiveObs{
		{Sent: at(500), Serving: map[string]int64{"a": 1}},
		{Sent: at(1500), Serving: map[string]int64{"a": 1, "b": 2}},
	}
	if v := checkStaleServing(gi, obs); len(v) != 1 {
		t.Fatalf("stale serving: got %d %v, want 1", len(v), v)
	}
	bad := append(grants, Grant{Term: 2, Holder: "a", AcquiredAt: at(2000)})
	lease := []LeaseObs{{Term: 2}, {Term: 1}}
	if v := checkTerms(lease, bad); len(v) != 2 {
		t.Fatalf("term violations: got %d %v, want 2", len(v), v)
	}
}

func TestMeasureFaults(t *testing.T) {
	t0 := time.Now()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	ev := []Event{{At: at(0), Kind: "fault", Fault: "kill-active"}, {At: at(1000), Kind: "recovered", Fault: "kill-active"}}
	obs := []ActiveObs{
		{Sent: at(10), Serving: map[string]int64{"a": 1}},
		{Sent: at(100), Serving: map[string]int64{}},
		{Sent: at(400), Serving: map[string]int64{"b": 2}},
	}
	acks := []hatest.AckRecord{{At: at(50)}, {At: at(450)}, {At: at(500)}}
	fr := measureFaults(ev, obs, acks)
	if len(fr) != 1 || fr[0].NoActive != 300*time.Millisecond || fr[0].AckGap != 400*time.Millisecond {
		t.Fatalf("got %+v", fr)
	}
}
