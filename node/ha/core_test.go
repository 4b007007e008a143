package ha

import (
	"context"
	"errors"
	"math/rand"
	"testing"
	"time"

	"github.com/streamha/streamha/node/cluster"
	"github.com/streamha/streamha/node/config"
	"github.com/streamha/streamha/node/eventsync"
)

var t0 = time.Unix(1_700_000_000, 0)

func TestNextHot(t *testing.T) {
	later := t0.Add(time.Second)
	cases := []struct {
		name string
		h    hotView
		q    queueView
		now  time.Time
		want hotAction
	}{
		{"no session, cold", hotView{}, queueView{}, t0, hotIdle},
		{"no session, hot: queue gone", hotView{Has: true, Gen: 1, Seq: 5}, queueView{Gen: 2}, t0, hotDrop},
		{"new queue drops the runtime", hotView{Has: true, Gen: 1, Seq: 5}, queueView{Term: 3, Gen: 2, First: 6, Last: 6}, t0, hotDrop},
		{"joined, snapshot point not committed", hotView{}, queueView{Term: 3, Gen: 2, First: 11, Last: 12}, t0, hotIdle},
		{"joined, snapshot point committed", hotView{}, queueView{Term: 3, Gen: 2, Last: 12, Persisted: 10, Revision: 4}, t0, hotWarm},
		{"warm failed, retry not due", hotView{FailedRev: 4, RetryAt: later}, queueView{Term: 3, Gen: 2, Persisted: 10, Revision: 4}, t0, hotStall},
		{"warm failed, retry due", hotView{FailedRev: 4, RetryAt: later}, queueView{Term: 3, Gen: 2, Persisted: 10, Revision: 4}, later, hotWarm},
		{"warm failed, newer snapshot", hotView{FailedRev: 4, RetryAt: later}, queueView{Term: 3, Gen: 2, Persisted: 20, Revision: 5}, t0, hotWarm},
		{"next input held", hotView{Has: true, Gen: 2, Seq: 10}, queueView{Term: 3, Gen: 2, First: 11, Last: 15}, t0, hotApply},
		{"caught up", hotView{Has: true, Gen: 2, Seq: 15}, queueView{Term: 3, Gen: 2, Last: 15, Persisted: 10, Revision: 4}, t0, hotIdle},
		{"gap not covered", hotView{Has: true, Gen: 2, Seq: 10}, queueView{Term: 3, Gen: 2, First: 21, Last: 25, Persisted: 10, Revision: 4}, t0, hotStall},
		{"gap covered by a snapshot", hotView{Has: true, Gen: 2, Seq: 10}, queueView{Term: 3, Gen: 2, First: 21, Last: 25, Persisted: 20, Revision: 5}, t0, hotWarm},
		{"trimmed past the runtime", hotView{Has: true, Gen: 2, Seq: 10}, queueView{Term: 3, Gen: 2, Last: 30, Persisted: 30, Revision: 6}, t0, hotWarm},
		{"behind, nothing held, no snapshot", hotView{Has: true, Gen: 2, Seq: 10}, queueView{Term: 3, Gen: 2, Last: 30, Persisted: 5, Revision: 3}, t0, hotStall},
	}
	for _, c := range cases {
		if got := nextHot(c.h, c.q, c.now); got != c.want {
			t.Errorf("%s: nextHot = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestNextHotNeverApplyOutOfOrder is a property: whatever the views, apply is chosen only when
// the next held input is exactly the one after the runtime, on the queue it follows; a runtime
// is never kept across queues.
func TestNextHotNeverApplyOutOfOrder(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	for i := 0; i < 100000; i++ {
		h := hotView{Has: r.Intn(2) == 0, Gen: uint64(r.Intn(3)), Seq: uint64(r.Intn(20)), FailedRev: int64(r.Intn(3)), RetryAt: t0.Add(time.Duration(r.Intn(3)-1) * time.Second)}
		q := queueView{Term: int64(r.Intn(3)), Gen: uint64(r.Intn(3)), First: uint64(r.Intn(25)), Last: uint64(r.Intn(25)), Persisted: uint64(r.Intn(25)), Revision: int64(r.Intn(3))}
		got := nextHot(h, q, t0)
		if got == hotApply && (!h.Has || h.Gen != q.Gen || q.First != h.Seq+1 || q.Term == 0) {
			t.Fatalf("apply out of order: %+v %+v", h, q)
		}
		if h.Has && (h.Gen != q.Gen || q.Term == 0) && got != hotDrop {
			t.Fatalf("runtime kept across queues: %+v %+v -> %v", h, q, got)
		}
		if got == hotWarm && q.Revision == 0 {
			t.Fatalf("warm without a reported snapshot: %+v %+v", h, q)
		}
	}
}

func TestKeepOutput(t *testing.T) {
	for _, c := range []struct {
		seq, delivered uint64
		want           bool
	}{{5, 4, true}, {5, 5, false}, {5, 9, false}, {1, 0, true}} {
		if got := keepOutput(c.seq, c.delivered); got != c.want {
			t.Errorf("keepOutput(%d, %d) = %v", c.seq, c.delivered, got)
		}
	}
}

func TestChoosePath(t *testing.T) {
	cases := []struct {
		name string
		c    promoteCandidate
		want promotionPath
	}{
		{"nothing kept: cold", promoteCandidate{QueueGen: 3, Term: 5}, pathCold},
		{"hot on the taken queue", promoteCandidate{Hot: true, Gen: 3, QueueGen: 3, Term: 5}, pathHot},
		{"hot on another queue", promoteCandidate{Hot: true, Gen: 2, QueueGen: 3, Term: 5}, pathCold},
		{"hot but a newer snapshot exists", promoteCandidate{Hot: true, Gen: 3, QueueGen: 3, Term: 5, Missing: 7}, pathCold},
		{"kept, next term", promoteCandidate{Kept: true, KeptTerm: 4, Term: 5, Missing: 9}, pathResumed},
		{"kept after losing the lease, later term", promoteCandidate{Kept: true, KeptTerm: 4, Term: 6}, pathCold},
		{"handed over, new active wrote nothing", promoteCandidate{Kept: true, HandedOver: true, KeptTerm: 4, Term: 6, StoredTerm: 4}, pathResumed},
		{"handed over, new active's snapshot is newer", promoteCandidate{Kept: true, HandedOver: true, KeptTerm: 4, Term: 6, StoredTerm: 5, Missing: 3}, pathCold},
		{"handed over, a later term stored", promoteCandidate{Kept: true, HandedOver: true, KeptTerm: 4, Term: 7, StoredTerm: 6}, pathCold},
	}
	for _, c := range cases {
		if got := choosePath(c.c); got != c.want {
			t.Errorf("%s: choosePath = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestRetainOnStop(t *testing.T) {
	cases := []struct {
		from, to             cluster.Role
		draining, handedOver bool
		want                 bool
	}{
		{cluster.Active, cluster.Demoted, false, false, true},  // lost the lease
		{cluster.Active, cluster.Demoted, true, true, true},    // handed over
		{cluster.Active, cluster.Demoted, true, false, false},  // a switchover that failed
		{cluster.Active, cluster.Stopped, false, false, false}, // shutting down
		{cluster.Promoting, cluster.Demoted, false, false, false},
	}
	for _, c := range cases {
		if got := retainOnStop(c.from, c.to, c.draining, c.handedOver); got != c.want {
			t.Errorf("retainOnStop(%v→%v, draining %v, handed over %v) = %v", c.from, c.to, c.draining, c.handedOver, got)
		}
	}
}

func TestSwitchoverNeedsPersist(t *testing.T) {
	last := map[string]uint64{"A": 10, "B": 0}
	if switchoverNeedsPersist(map[string]uint64{"A": 10, "B": 0}, last) {
		t.Error("a hot passive in step must not get a persist")
	}
	if !switchoverNeedsPersist(map[string]uint64{"A": 9, "B": 0}, last) {
		t.Error("a passive behind on A must get a persist")
	}
	if !switchoverNeedsPersist(map[string]uint64{"A": 10}, last) {
		t.Error("a passive cold on B must get a persist")
	}
}

func TestBatchSafe(t *testing.T) {
	cases := []struct {
		streamed                    bool
		acked, start, committed, at uint64
		safe, alone                 bool
	}{
		{true, 10, 5, 5, 10, true, false},  // held by the passive, snapshot point committed
		{true, 10, 5, 4, 10, false, false}, // snapshot point not committed yet
		{true, 9, 5, 5, 10, false, true},   // not acknowledged: alone until persisted
		{true, 9, 5, 10, 10, true, true},   // the session ended but a snapshot covers it
		{false, 0, 0, 10, 10, true, true},
		{false, 0, 0, 9, 10, false, true},
	}
	for _, c := range cases {
		safe, alone := batchSafe(c.streamed, c.acked, c.start, c.committed, c.at)
		if safe != c.safe || alone != c.alone {
			t.Errorf("batchSafe%+v = %v %v", c, safe, alone)
		}
	}
}

// TestTimingDefaults: the derived timing with the default configuration is what the constants
// were, and keeps its rules for short and long leases.
func TestTimingDefaults(t *testing.T) {
	d := TimingOf(config.Default())
	want := map[string][2]time.Duration{
		"SyncLiveness": {d.SyncLiveness, time.Second}, "SyncPing": {d.SyncPing, 200 * time.Millisecond},
		"IdleReport": {d.IdleReport, 50 * time.Millisecond}, "DispatchIdle": {d.DispatchIdle, 200 * time.Millisecond},
		"DialTimeout": {d.DialTimeout, 2 * time.Second}, "DialRetry": {d.DialRetry, 500 * time.Millisecond},
		"HandoverWindow": {d.HandoverWindow, 1500 * time.Millisecond}, "LeaveTimeout": {d.LeaveTimeout, 30 * time.Second},
		"Tick": {d.Tick, 250 * time.Millisecond}, "AckTimeout": {d.AckTimeout, 10 * time.Second},
	}
	for k, v := range want {
		if v[0] != v[1] {
			t.Errorf("%s = %v, want %v", k, v[0], v[1])
		}
	}
	for _, c := range []config.Config{config.Default(), {HeartbeatInterval: 50 * time.Millisecond, Lease: 600 * time.Millisecond, RenewDeadline: 400 * time.Millisecond},
		{HeartbeatInterval: time.Second, Lease: 10 * time.Second, RenewDeadline: 6 * time.Second}} {
		if bad := TimingOf(c).Check(); len(bad) > 0 {
			t.Errorf("timing of %v/%v/%v breaks its rules: %v", c.HeartbeatInterval, c.Lease, c.RenewDeadline, bad)
		}
	}
}

// memPeer is the in-memory twin of the sync session: the test decides what the passive holds
// and has applied.
type memPeer struct {
	started  map[string]uint64
	sent     map[string][]eventsync.Entry
	acked    map[string]uint64
	applied  map[string]uint64
	frames   []string // "delivered A 5", "handover 3", "control A 5"
	closed   bool
	done     chan struct{}
	progress chan struct{}
}

func newMemPeer() *memPeer {
	return &memPeer{started: map[string]uint64{}, sent: map[string][]eventsync.Entry{}, acked: map[string]uint64{},
		applied: map[string]uint64{}, done: make(chan struct{}), progress: make(chan struct{})}
}

func (p *memPeer) Send(app string, es []eventsync.Entry) (bool, error) {
	if p.closed {
		return false, eventsync.ErrSessionClosed
	}
	if _, ok := p.started[app]; !ok {
		return false, nil
	}
	p.sent[app] = append(p.sent[app], es...)
	return true, nil
}

func (p *memPeer) wait(ctx context.Context, ok func() bool) error {
	for !ok() {
		if p.closed {
			return eventsync.ErrSessionClosed
		}
		select {
		case <-p.progress:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (p *memPeer) Wait(ctx context.Context, app string, seq uint64) error {
	return p.wait(ctx, func() bool { return p.acked[app] >= seq })
}
func (p *memPeer) Acked(app string, seq uint64) bool { return p.acked[app] >= seq }
func (p *memPeer) Applied(app string) (uint64, bool) { s, ok := p.applied[app]; return s, ok }
func (p *memPeer) WaitApplied(ctx context.Context, app string, seq uint64, _ time.Duration) error {
	return p.wait(ctx, func() bool { s, ok := p.applied[app]; return ok && s >= seq })
}
func (p *memPeer) Start(app string, seq uint64)              { p.started[app] = seq }
func (p *memPeer) StartSeq(app string) (uint64, bool)        { s, ok := p.started[app]; return s, ok }
func (p *memPeer) Started(app string) bool                   { _, ok := p.started[app]; return ok }
func (p *memPeer) Control(app string, seq uint64, rev int64) { p.frames = append(p.frames, "control") }
func (p *memPeer) Delivered(app string, seq uint64)          { p.frames = append(p.frames, "delivered") }
func (p *memPeer) Handover(term int64)                       { p.frames = append(p.frames, "handover") }
func (p *memPeer) Close(error)                               { p.closed = true }
func (p *memPeer) Closed() bool                              { return p.closed }
func (p *memPeer) Done() <-chan struct{}                     { return p.done }
func (p *memPeer) Err() error                                { return nil }
func (p *memPeer) Lag() int64                                { return 0 }
func (p *memPeer) LagBytes() int64                           { return 0 }
func (p *memPeer) QueueBytes() (int64, int64)                { return 0, 0 }
func (p *memPeer) PeerID() string                            { return "b" }
func (p *memPeer) MaxQueue() int64                           { return 1 << 20 }

var _ Peer = (*memPeer)(nil)

// TestDurableWithTwin: the acknowledgement path against the in-memory peer: a batch the passive
// holds is safe once the session's snapshot point is committed; one sent on a closed session
// falls back to a persist.
func TestDurableWithTwin(t *testing.T) {
	n := &Node{}
	a := &appState{name: "A", persisted: make(chan struct{}), wantPersist: make(chan struct{}, 1)}
	p := newMemPeer()
	p.Start("A", 3)
	a.persistedSeq = 3
	a.committed.Store(3)
	p.acked["A"] = 8
	alone, err := n.durable(context.Background(), a, p, true, 8)
	if err != nil || alone {
		t.Fatalf("held by the passive: alone %v err %v", alone, err)
	}
	p.closed = true
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	alone, err = n.durable(ctx, a, p, true, 9)
	if !alone || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("closed session, nothing persisted: alone %v err %v, want alone and a wait for a persist", alone, err)
	}
}
