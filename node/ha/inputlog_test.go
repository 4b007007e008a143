package ha_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/ha"
)

// TestAloneAckIsOneAppendAndSurvivesACrash: an active with no passive, in ack mode, answers each
// batch once it is in the input log: no snapshot is taken per acknowledgement (the revisions
// stay those taken explicitly), one append per batch. After the node crashes (cut off, no
// snapshot on the way out), the next active restores the snapshot plus the log after it: every
// acknowledged input is there, none twice. Before the input log, every alone acknowledgement
// waited for a snapshot of the whole state (0.9–1.3 s per event at 3M keys).
func TestAloneAckIsOneAppendAndSurvivesACrash(t *testing.T) {
	url := "sqlite://" + filepath.Join(t.TempDir(), "ha.db")
	a := startRestoreNode(t, url, "a")
	waitFor(t, "a active", a.serving)
	ctx := context.Background()
	total := 0.0
	send := func(id int64) {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		ans, err := a.node.Ingest(cctx, "T", "S", []ha.Event{{Data: []engine.Value{engine.LongValue(id), engine.DoubleValue(float64(id))}}}, "")
		if err != nil || !ans.Alone {
			t.Fatalf("ingest %d: %+v %v; want acknowledged alone", id, ans, err)
		}
		total += float64(id)
	}
	for i := int64(1); i <= 10; i++ {
		send(i)
	}
	if err := a.node.Persist(ctx); err != nil {
		t.Fatal(err)
	}
	revs := func() int64 {
		list, err := a.db.ListSnapshots(ctx, "default", "T")
		if err != nil || len(list) == 0 {
			t.Fatalf("snapshots: %v %v", list, err)
		}
		return list[0].Revision
	}
	rev := revs()
	appends := a.metric(t, "streamha_input_log_appends_total")
	const more = 30
	for i := int64(11); i <= 10+more; i++ {
		send(i)
	}
	// At most the one persist the active makes 100 ms after its promotion, when it falls in
	// the loop; before the input log there was one per acknowledgement.
	persisted := revs() - rev
	if persisted > 1 {
		t.Fatalf("%d snapshot revisions taken by %d alone acknowledgements; want none (the input log holds them)", persisted, more)
	}
	// A batch that a snapshot commit covered before its append (the settle persist, or a commit
	// racing the appender's group commit) needs none, so a few may be missing; before the input
	// log there was a snapshot per acknowledgement instead (the revision check above).
	if got := a.metric(t, "streamha_input_log_appends_total") - appends; got < float64(more-2-persisted) || got > 2*more {
		t.Fatalf("%v input log appends for %d sequential acknowledgements; want one each", got, more)
	}
	if st := a.node.Status().Apps["T"]; st.LoggedSeq != 10+more || st.PersistSeq > 10+more {
		t.Fatalf("status: logged %d persisted %d; want 40 logged", st.LoggedSeq, st.PersistSeq)
	}

	a.db.cut.Store(true) // a crash: nothing written on the way out
	a.stop()
	b := startRestoreNode(t, url, "b")
	waitFor(t, "b active", b.serving)
	if st := b.node.Status(); st.Gaps != 0 || st.Apps["T"].LastSeq != 10+more {
		t.Fatalf("b restored to seq %d with %d gaps; want 40 and none", st.Apps["T"].LastSeq, st.Gaps)
	}
	ingest(t, b.node, 41, 41)
	total += 41
	waitFor(t, "b's output of input 41", func() bool { n, _, ok := b.lastOutput(t); return ok && n >= 11+more })
	if n, got, _ := b.lastOutput(t); n != 11+more || got != total {
		t.Fatalf("after the crash: count %d sum %v, want %d and %v (an acknowledged input lost or doubled)", n, got, 11+more, total)
	}
}

// TestDeposedActiveCannotAppend: once a newer term has fenced the persistence store, the old
// active's input log append is refused, so it cannot acknowledge anything more; its batch is
// answered "not acknowledged".
func TestDeposedActiveCannotAppend(t *testing.T) {
	url := "sqlite://" + filepath.Join(t.TempDir(), "ha.db")
	a := startRestoreNode(t, url, "a")
	waitFor(t, "a active", a.serving)
	ingest(t, a.node, 1, 1)
	term, _ := a.node.Runner().Serving()
	if err := a.db.Fence(context.Background(), "default", term+1); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := a.node.Ingest(cctx, "T", "S", []ha.Event{{Data: []engine.Value{engine.LongValue(2), engine.DoubleValue(2)}}}, "")
	if err == nil || !strings.Contains(err.Error(), "fenced") {
		t.Fatalf("a batch after a newer term fenced the store: %v; want not acknowledged, fenced", err)
	}
	if st := a.node.Status().Apps["T"]; st.InputLogError == "" || st.LoggedSeq >= 2 {
		t.Fatalf("status after a refused append: %+v", st)
	}
}

// TestPersistFailingKeepsLeaseAndSaysSo: an active whose snapshot writes all fail keeps its lease
// and term for many renew deadlines, keeps acknowledging alone through the input log, and says
// so: status persist_failing with the app's error and since when, and the
// streamha_persist_failing metric. Once the writes work again the signal clears.
func TestPersistFailingKeepsLeaseAndSaysSo(t *testing.T) {
	url := "sqlite://" + filepath.Join(t.TempDir(), "ha.db")
	a := startRestoreNode(t, url, "a")
	waitFor(t, "a active", a.serving)
	term, _ := a.node.Runner().Serving()
	a.db.noSave.Store(true)
	ctx := context.Background()
	if err := a.node.Persist(ctx); err == nil {
		t.Fatal("persist succeeded with snapshot writes failing")
	}
	// Acknowledgements go on while persists fail, for many renew deadlines (400 ms), one every
	// 20 ms.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(2 * time.Second)
	for i := int64(1); time.Now().Before(deadline); i++ {
		ingest(t, a.node, i, 1)
		<-tick.C
	}
	st := a.node.Status()
	if now, ok := a.node.Runner().Serving(); !ok || now != term {
		t.Fatalf("serving %v at term %d, want still serving at term %d", ok, now, term)
	}
	if !st.PersistFailing || st.Apps["T"].PersistError == "" || st.Apps["T"].PersistFailingSince.IsZero() {
		t.Fatalf("status does not say persists fail: %+v", st)
	}
	if a.metric(t, "streamha_persist_failing") != 1 {
		t.Fatal("streamha_persist_failing is not 1")
	}
	if hb := a.node.Runner().View(); hb.Lease.Term != term {
		t.Fatalf("lease at term %d, want %d", hb.Lease.Term, term)
	}
	a.db.noSave.Store(false)
	if err := a.node.Persist(ctx); err != nil {
		t.Fatal(err)
	}
	if st := a.node.Status(); st.PersistFailing || a.metric(t, "streamha_persist_failing") != 0 {
		t.Fatalf("after a successful persist: failing %v", st.PersistFailing)
	}
}
