package ha_test

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/ha"
)

func (p *rnode) hot() bool {
	st := p.node.Status()
	return st.Hot != nil && *st.Hot
}

// applied is how far the passive's runtime applied app T.
func (p *rnode) applied() uint64 { return p.node.Status().Apps["T"].AppliedSeq }

// coldReference runs countApp offline over inputs 1..n (id i, value i): the output a restore
// from nothing plus a replay of every input gives for the last one.
func coldReference(t *testing.T, n int64) (int64, float64) {
	t.Helper()
	app, err := engine.Compile("t.siddhi", countApp)
	if err != nil {
		t.Fatal(err)
	}
	rt := engine.NewRuntime(app)
	var cnt int64
	var total float64
	for i := int64(1); i <= n; i++ {
		err := rt.Apply(engine.Input{Seq: uint64(i), TS: 1000 + i, Stream: "S", Data: []engine.Value{engine.LongValue(i), engine.DoubleValue(float64(i))}}, func(o *engine.Output) {
			cnt, total = o.Data[0].Long(), o.Data[1].Double()
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return cnt, total
}

func ingestKey(t *testing.T, n *ha.Node, id int64, key string) ha.Answer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ans, err := n.Ingest(ctx, "T", "S", []ha.Event{{TS: 1000 + id, HasTS: true, Data: []engine.Value{engine.LongValue(id), engine.DoubleValue(float64(id))}}}, key)
	if err != nil {
		t.Fatalf("ingest %d: %v", id, err)
	}
	return ans
}

// TestHotPassivePromotesWithoutReplay: a passive that joins mid-stream warms from the snapshot
// point the active sends and then applies every input as it arrives. When the active crashes,
// it promotes with nothing restored and nothing replayed, and its state is the one a cold
// restore and replay of every input gives (same count and sum), idempotency keys included.
// Shown to fail: with nextHot always answering hotIdle (the passive never warms) the test
// stops at "b hot"; with promote ignoring the runtime (choosePath always cold) Replayed is 30.
func TestHotPassivePromotesWithoutReplay(t *testing.T) {
	url := "sqlite://" + filepath.Join(t.TempDir(), "ha.db")
	a := startRestoreNode(t, url, "a")
	waitFor(t, "a active", a.serving)
	for i := int64(1); i <= 10; i++ {
		ingestKey(t, a.node, i, "") // alone, before the passive joins
	}
	b := startRestoreNode(t, url, "b")
	waitFor(t, "b synced", func() bool { return a.node.Status().Peer.Synced })
	waitFor(t, "b hot", b.hot)
	for i := int64(11); i <= 40; i++ {
		ingestKey(t, a.node, i, "k"+string(rune('a'+i%26))+string(rune('a'+i/26)))
	}
	waitFor(t, "b applied every input", func() bool { return b.applied() == 40 })
	if st := b.node.Status(); st.Apps["T"].LastSeq != 40 || !st.Apps["T"].Hot {
		t.Fatalf("b before the crash: %+v", st.Apps["T"])
	}
	a.db.cut.Store(true) // a crash: no snapshot, no hand-over
	waitFor(t, "b active after a crashed", b.serving)
	rep := b.node.LastPromotion()
	if rep == nil || rep.Paths["T"] != "hot" || rep.Replayed != 0 {
		t.Fatalf("promotion of b: %+v, want the hot path with nothing replayed", rep)
	}
	if b.metric(t, "streamha_promotion_replayed_inputs") != 0 {
		t.Fatal("streamha_promotion_replayed_inputs is not 0")
	}
	// A retried batch is answered from the keys the hot state holds.
	if ans := ingestKey(t, b.node, 40, "k"+string(rune('a'+40%26))+string(rune('a'+40/26))); !ans.Duplicate || ans.LastSeq != 40 {
		t.Fatalf("retry after failover: %+v, want the first answer (duplicate, last seq 40)", ans)
	}
	ingestKey(t, b.node, 41, "")
	waitFor(t, "b's output of input 41", func() bool { n, _, ok := b.lastOutput(t); return ok && n >= 41 })
	wantN, wantTotal := coldReference(t, 41)
	if n, total, _ := b.lastOutput(t); n != wantN || total != wantTotal {
		t.Fatalf("after a hot promotion: count %d sum %v, a cold run gives %d and %v", n, total, wantN, wantTotal)
	}
}

// startHotPair starts node a active and node b its hot passive, in sync, on one SQLite database
// (url, for a third node): the prologue of the tests of the hot path.
func startHotPair(t *testing.T) (url string, a, b *rnode) {
	url = "sqlite://" + filepath.Join(t.TempDir(), "ha.db")
	a = startRestoreNode(t, url, "a")
	waitFor(t, "a active", a.serving)
	b = startRestoreNode(t, url, "b")
	waitFor(t, "b synced", func() bool { return a.node.Status().Peer.Synced })
	waitFor(t, "b hot", b.hot)
	return url, a, b
}

// TestSwitchoverToHotPassivePersistsNothing: with a hot passive in sync a planned switchover
// writes no snapshot on the way (its time does not grow with the state); the new active promotes
// on the hot path. The old active keeps its state: when the new active crashes before its first
// snapshot commits, the old one promotes from that state and nothing acknowledged is lost.
// Shown to fail: with retainOnStop ignoring handedOver, a promotes cold, from the join snapshot
// (seq 0) with an empty queue, losing inputs 1..20.
func TestSwitchoverToHotPassivePersistsNothing(t *testing.T) {
	_, a, b := startHotPair(t)
	for i := int64(1); i <= 20; i++ {
		ingestKey(t, a.node, i, "")
	}
	before, _ := a.db.ListSnapshots(context.Background(), "default", "T")
	b.db.noSave.Store(true) // the new active will not get its first snapshot in
	if err := a.node.Switchover(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b active", b.serving)
	after, _ := a.db.ListSnapshots(context.Background(), "default", "T")
	if len(after) != len(before) {
		t.Fatalf("the switchover persisted: %d revisions before, %d after", len(before), len(after))
	}
	if rep := b.node.LastPromotion(); rep == nil || rep.Paths["T"] != "hot" || rep.Replayed != 0 {
		t.Fatalf("promotion of b: %+v", rep)
	}
	b.db.cut.Store(true) // b crashes before any snapshot of its own
	waitFor(t, "a active again", a.serving)
	if rep := a.node.LastPromotion(); rep == nil || rep.Paths["T"] != "resumed" {
		t.Fatalf("promotion of a: %+v, want the state it kept", rep)
	}
	ingestKey(t, a.node, 21, "")
	waitFor(t, "a's output of input 21", func() bool { n, _, ok := a.lastOutput(t); return ok && n >= 21 })
	wantN, wantTotal := coldReference(t, 21)
	if n, total, _ := a.lastOutput(t); n != wantN || total != wantTotal {
		t.Fatalf("after the new active crashed: count %d sum %v, want %d and %v (acknowledged inputs lost)", n, total, wantN, wantTotal)
	}
}

// TestHotPromotionContinuesTheChain: a hot passive's runtime was warmed from the active's
// revision and applied every input since, so after a failover its first persist is a delta on
// the old term's chain, not a base with the whole state and idempotency window (which the new
// term's first acknowledgements waited for). A third node restoring that chain after the new
// active crashes gets the exact state and every idempotency key.
// Shown to fail: with continueChain disabled the new active's first revision is a base.
func TestHotPromotionContinuesTheChain(t *testing.T) {
	ctx := context.Background()
	url, a, b := startHotPair(t)
	key := func(i int64) string { return "key-" + strconv.FormatInt(i, 10) }
	for i := int64(1); i <= 20; i++ {
		ingestKey(t, a.node, i, key(i))
	}
	if err := a.node.Persist(ctx); err != nil {
		t.Fatal(err)
	}
	for i := int64(21); i <= 30; i++ {
		ingestKey(t, a.node, i, key(i))
	}
	if err := a.node.Persist(ctx); err != nil {
		t.Fatal(err)
	}
	old, _ := a.db.ListSnapshots(ctx, "default", "T")
	if len(old) == 0 {
		t.Fatal("a stored no revision")
	}
	oldBase := old[0].Revision
	if old[0].Delta() {
		oldBase = old[0].Base
	}
	for i := int64(31); i <= 35; i++ { // held by b only
		ingestKey(t, a.node, i, key(i))
	}
	waitFor(t, "b applied every input", func() bool { return b.applied() == 35 })
	a.db.cut.Store(true) // a crashes: nothing written on the way out
	a.stop()
	waitFor(t, "b active", b.serving)
	if rep := b.node.LastPromotion(); rep == nil || rep.Paths["T"] != "hot" {
		t.Fatalf("promotion of b: %+v, want the hot path", rep)
	}
	if ans := ingestKey(t, b.node, 36, key(36)); !ans.Alone { // needs b's first revision
		t.Fatalf("b's answer %+v: want alone (a is gone)", ans)
	}
	list, _ := b.db.ListSnapshots(ctx, "default", "T")
	if len(list) == 0 || list[0].Term <= old[0].Term {
		t.Fatalf("b stored no revision of its own: %+v", list)
	}
	if first := list[0]; !first.Delta() || first.Base != oldBase {
		t.Fatalf("b's first revision %+v: want a delta on the old term's base %d", first, oldBase)
	}
	b.db.cut.Store(true) // b crashes too
	b.stop()
	c := startRestoreNode(t, url, "c")
	waitFor(t, "c active", c.serving)
	for i := int64(1); i <= 36; i++ {
		if ans := ingestKey(t, c.node, i, key(i)); !ans.Duplicate {
			t.Fatalf("retry of %s on c: %+v, want a duplicate (the key was lost)", key(i), ans)
		}
	}
	ingestKey(t, c.node, 37, "")
	waitFor(t, "c's output of input 37", func() bool { n, _, ok := c.lastOutput(t); return ok && n >= 37 })
	wantN, wantTotal := coldReference(t, 37)
	if n, total, _ := c.lastOutput(t); n != wantN || total != wantTotal {
		t.Fatalf("after restoring the continued chain: count %d sum %v, want %d and %v", n, total, wantN, wantTotal)
	}
}
