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
	// The longest stretch without an acknowledgement is from the last one (500) to the
	// recovery (1000), longer than any between two acknowledgements (400).
	if len(fr) != 1 || fr[0].NoActive != 300*time.Millisecond || fr[0].AckGap != 500*time.Millisecond {
		t.Fatalf("got %+v", fr)
	}
	// No acknowledgement at all until the recovery: the whole stretch, not zero.
	if fr := measureFaults(ev, obs, nil); fr[0].AckGap != time.Second {
		t.Fatalf("without acknowledgements: got %+v, want a 1 s gap", fr)
	}
}

// TestVerdictFailsOnLongAckGap: a run where nothing is lost and every fault recovers within
// Recover, but one fault left clients without an acknowledgement past its bound, fails the
// verdict (a database stall once hid that way in a green run). The same history with the gap
// inside the bound passes, and restart-db's bound includes the hold.
func TestVerdictFailsOnLongAckGap(t *testing.T) {
	cfg := Config{Hold: 3 * time.Second, Lease: 1500 * time.Millisecond}
	cfg.defaults()
	if cfg.MaxAckGap != 4*time.Second {
		t.Fatalf("default bound %s, want lease 1.5 s + promotion 2.5 s", cfg.MaxAckGap)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	// gap is the stretch without an acknowledgement inside each fault, from 100 ms after it.
	run := func(fault string, gap time.Duration) *Result {
		end := 100*time.Millisecond + gap + 100*time.Millisecond
		ev := []Event{
			{At: at(0), Kind: "fault", Fault: fault, Node: "node-a"},
			{At: at(0).Add(end), Kind: "recovered", Fault: fault},
		}
		var acks []hatest.AckRecord
		for ms := -500; ms <= 100; ms += 50 {
			acks = append(acks, hatest.AckRecord{Node: "node-a", Sent: at(ms - 5), At: at(ms)})
		}
		for d := 100*time.Millisecond + gap; d <= end; d += 50 * time.Millisecond {
			acks = append(acks, hatest.AckRecord{Node: "node-b", Sent: at(0).Add(d - 5*time.Millisecond), At: at(0).Add(d)})
		}
		grants := []Grant{{Term: 1, Holder: "node-a", AcquiredAt: at(-1000)}, {Term: 2, Holder: "node-b", AcquiredAt: at(0).Add(gap)}}
		r := &Result{Acked: int64(len(acks))}
		r.judge(&cfg, history{grants: grants, acks: acks, events: ev})
		return r
	}
	for _, tc := range []struct {
		fault string
		gap   time.Duration
		ok    bool
	}{
		{"pause-active", 3 * time.Second, true},
		{"pause-active", 9 * time.Second, false}, // recovered within Recover (30 s), but a 9 s stall
		{"restart-db", 6 * time.Second, true},    // bound 4 s + the 3 s hold
		{"restart-db", 8 * time.Second, false},
	} {
		r := run(tc.fault, tc.gap)
		if r.OK() != tc.ok || len(r.SlowFaults) != map[bool]int{true: 0, false: 1}[tc.ok] {
			t.Errorf("%s with a %s gap: OK()=%v, slow faults %v; want OK()=%v\n%s", tc.fault, tc.gap, r.OK(), r.SlowFaults, tc.ok, r)
		}
		if f := r.Faults[0]; f.AckGap != tc.gap {
			t.Errorf("%s: measured gap %s, want %s", tc.fault, f.AckGap, tc.gap)
		}
	}
}

// The default bound follows the lease the nodes actually run with.
func TestAckGapBoundFollowsLease(t *testing.T) {
	for _, tc := range []struct {
		extra []string
		want  time.Duration
	}{
		{nil, 4 * time.Second}, // the node's default lease, 1.5 s
		{[]string{"--persist_interval", "1s", "--lease", "3s", "--renew_deadline", "2s"}, 5500 * time.Millisecond},
		{[]string{"--lease=2s"}, 4500 * time.Millisecond},
	} {
		cfg := Config{Extra: tc.extra}
		cfg.defaults()
		if cfg.MaxAckGap != tc.want {
			t.Errorf("extra %v: bound %s, want %s", tc.extra, cfg.MaxAckGap, tc.want)
		}
	}
	cfg := Config{Extra: []string{"--lease", "3s"}, MaxAckGap: 10 * time.Second, Hold: 2 * time.Second}
	cfg.defaults()
	if cfg.ackGapBound("pause-active") != 10*time.Second || cfg.ackGapBound("restart-db") != 12*time.Second {
		t.Errorf("configured bound not kept: %s, %s", cfg.ackGapBound("pause-active"), cfg.ackGapBound("restart-db"))
	}
}
