package ha_test

import (
	"context"
	"maps"
	"path/filepath"
	"testing"
	"time"

	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/ha"
)

func ingestAt(t *testing.T, n *ha.Node, id int64, source string, offset int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ev := []ha.Event{{Data: []engine.Value{engine.LongValue(id), engine.DoubleValue(1)}}}
	if _, err := n.Ingest(ctx, "T", "S", ev, ha.PositionKey(source, offset)); err != nil {
		t.Fatalf("ingest %d at %s@%d: %v", id, source, offset, err)
	}
}

// TestPositionsSurviveACrash: batches applied with source positions, some covered by a snapshot
// and one only in the passive's queue; the active crashes. The promoted passive reports, per
// source, the offset of the last batch its state holds (snapshot + replay), where a Kafka source
// resumes, also for a source whose last key the bounded idempotency window has evicted, and for
// a passive that joined after those batches (it starts from the join's snapshot). Shown to fail
// by not loading the envelope's positions where a hot passive loads the join's snapshot (late
// join: t/1 missing; it failed so after main's hot passive landed), and by dropping the
// notePosition call from idemWindow.put (a's positions empty).
func TestPositionsSurviveACrash(t *testing.T) {
	t.Run("passive joined first", func(t *testing.T) { positionsSurviveACrash(t, false) })
	// The passive then starts from the snapshot taken at its join (a hot passive loads it).
	t.Run("passive joined late", func(t *testing.T) { positionsSurviveACrash(t, true) })
}

func positionsSurviveACrash(t *testing.T, lateJoin bool) {
	// A window of 2 keys: the snapshot's keys no longer name t/1, only its positions do. Put
	// back after the nodes stop (cleanups run last registered first).
	t.Cleanup(ha.SetIdemWindowSize(2))
	url := "sqlite://" + filepath.Join(t.TempDir(), "ha.db")
	a := startRestoreNode(t, url, "a")
	waitFor(t, "a active", a.serving)
	var b *rnode
	if !lateJoin {
		b = startRestoreNode(t, url, "b")
		waitFor(t, "b synced", func() bool { return a.node.Status().Peer.Synced })
	}
	ingestAt(t, a.node, 1, "kafka:t/0", 4)
	ingestAt(t, a.node, 2, "kafka:t/1", 7)
	ingestAt(t, a.node, 3, "kafka:t/0", 9)
	// Another app-level key does not count as a position.
	if _, err := a.node.Ingest(context.Background(), "T", "S", []ha.Event{{Data: []engine.Value{engine.LongValue(4), engine.DoubleValue(1)}}}, "plain-key"); err != nil {
		t.Fatal(err)
	}
	if err := a.node.Persist(context.Background()); err != nil {
		t.Fatal(err)
	}
	if lateJoin {
		b = startRestoreNode(t, url, "b")
		waitFor(t, "b synced", func() bool { return a.node.Status().Peer.Synced })
	}
	ingestAt(t, a.node, 5, "kafka:t/0", 15) // only in b's queue
	term, _ := a.node.Runner().Serving()
	got, err := a.node.Positions("T", term, "kafka:")
	want := map[string]int64{"kafka:t/0": 15, "kafka:t/1": 7}
	if err != nil || !maps.Equal(got, want) {
		t.Fatalf("a's positions = %v, %v; want %v", got, err, want)
	}
	a.db.cut.Store(true)
	waitFor(t, "b active after a crashed", b.serving)
	bterm, _ := b.node.Runner().Serving()
	got, err = b.node.Positions("T", bterm, "kafka:")
	if err != nil || !maps.Equal(got, want) {
		t.Fatalf("b's positions after failover = %v, %v; want %v", got, err, want)
	}
	if _, err := b.node.Positions("T", term, "kafka:"); err == nil {
		t.Fatal("positions read for a term b does not serve")
	}
}
