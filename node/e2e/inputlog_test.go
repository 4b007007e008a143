package e2e

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/streamha/streamha/internal/hatest"
	"github.com/streamha/streamha/node/store"
)

// TestLoneActiveKilledRestoresFromSnapshotAndLog: one node, ack mode, no passive, as processes
// on SQLite. Its acknowledgements cost an input log append each: after one explicit persist, 30
// more acknowledged batches add no snapshot revision. It is killed with SIGKILL (nothing written
// on the way out) and started again: it restores the snapshot plus the log after it, and every
// acknowledged event is in the outputs, none applied twice. Before the input log each of these
// acknowledgements waited for a whole snapshot (30 revisions).
func TestLoneActiveKilledRestoresFromSnapshotAndLog(t *testing.T) {
	dir := t.TempDir()
	url := "sqlite://" + filepath.Join(dir, "ha.db")
	apps, _ := filepath.Abs("../demo/apps")
	c, err := hatest.NewCluster(hatest.Options{Bin: nodeBin, Dir: dir, N: 1, AppsDir: apps, ClusterDB: url,
		Extra: []string{"--persist_interval", "1h"}})
	if err != nil {
		t.Fatal(err)
	}
	hatest.Cleanup(t, c)
	a := c.Nodes[0]
	ctx := context.Background()
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitActive(ctx, 30*time.Second, nil); err != nil {
		t.Fatal(err)
	}
	cl := hatest.NewClient(c)
	for i := 0; i < 5; i++ {
		if err := cl.SendBatch(ctx, 10); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Admin().Persist(ctx); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// newest sums each app's newest revision number.
	newest := func() int64 {
		names, err := db.SnapshotApps(ctx, "default")
		if err != nil || len(names) == 0 {
			t.Fatalf("apps with snapshots: %v %v", names, err)
		}
		var rev int64
		for _, app := range names {
			list, err := db.ListSnapshots(ctx, "default", app)
			if err != nil {
				t.Fatal(err)
			}
			if len(list) > 0 {
				rev += list[0].Revision // newest first
			}
		}
		return rev
	}
	before := newest()
	for i := 0; i < 30; i++ {
		if err := cl.SendBatch(ctx, 10); err != nil {
			t.Fatal(err)
		}
	}
	// A persist already under way when the admin call returned (the promotion's first one) may
	// still commit meanwhile: allow one revision per app, never one per acknowledgement.
	snapApps, _ := db.SnapshotApps(ctx, "default")
	if after := newest(); after-before > int64(len(snapApps)) {
		t.Fatalf("30 alone acknowledgements took snapshots (newest revisions sum %d -> %d, %d apps); want at most one in flight per app", before, after, len(snapApps))
	}
	_, acked, _, alone, _ := cl.Snapshot()
	if acked != 350 || alone == 0 {
		t.Fatalf("acked %d (alone %d), want 350", acked, alone)
	}
	if err := a.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitActive(ctx, 30*time.Second, nil); err != nil {
		t.Fatal(err)
	}
	if err := cl.SendBatch(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if err := a.Stop(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	_, _, _, _, ids := cl.Snapshot()
	rep, err := hatest.Check(c, "accepted.jsonl", ids)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", rep)
	if !rep.OK() || rep.DupEvents != 0 || rep.Acked != 360 {
		t.Fatalf("after SIGKILL and restart: %s; first lost %v", rep, rep.Lost[:min(10, len(rep.Lost))])
	}
}
