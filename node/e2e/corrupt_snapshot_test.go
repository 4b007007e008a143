package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamha/streamha/internal/hatest"
	"github.com/streamha/streamha/node/store"
)

// TestCorruptSnapshotDoesNotChurnTheLease is the hand-found defect as processes on SQLite: the
// only node, alone, acknowledges inputs (each followed by a persist) and is killed; the newest
// snapshot row is corrupted and the input log deleted with SQL; both nodes start. Neither can restore without loss: both report
// restore_failed and the lease term stays put (the old code went through about 4 terms a
// second). `node snapshot verify` names the bad revision; `node snapshot accept-loss` lets one
// node serve and is consumed.
func TestCorruptSnapshotDoesNotChurnTheLease(t *testing.T) {
	dir := t.TempDir()
	url := "sqlite://" + filepath.Join(dir, "ha.db")
	apps, _ := filepath.Abs("../demo/apps")
	c, err := hatest.NewCluster(hatest.Options{Bin: nodeBin, Dir: dir, N: 2, AppsDir: apps, ClusterDB: url})
	if err != nil {
		t.Fatal(err)
	}
	hatest.Cleanup(t, c)
	a, b := c.Nodes[0], c.Nodes[1]
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
		if err := a.Admin().Persist(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Kill(); err != nil {
		t.Fatal(err)
	}

	db, err := store.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	names, err := db.SnapshotApps(ctx, "default")
	if err != nil || len(names) == 0 {
		t.Fatalf("apps with snapshots: %v %v", names, err)
	}
	app := names[0]
	list, err := db.ListSnapshots(ctx, "default", app)
	if err != nil || len(list) < 2 || list[0].LastSeq == list[1].LastSeq {
		t.Fatalf("want two revisions covering different inputs: %+v %v", list, err)
	}
	newest := list[0].Revision
	if _, err := db.SQL().ExecContext(ctx, `UPDATE ha_snapshot SET payload = CAST(zeroblob(size_bytes) AS BLOB)
		WHERE group_id = 'default' AND app = ?1 AND revision = ?2`, app, newest); err != nil {
		t.Fatal(err)
	}
	// Nobody holds the inputs after the older revisions: the input log (which would make an
	// older revision restorable without loss) is gone too.
	if _, err := db.SQL().ExecContext(ctx, `DELETE FROM ha_input_log`); err != nil {
		t.Fatal(err)
	}

	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	failed := func(p *hatest.Proc) bool {
		st, err := p.Status()
		return err == nil && st["restore_failed"] != nil
	}
	deadline := time.Now().Add(30 * time.Second)
	for !(failed(a) && failed(b)) {
		if time.Now().After(deadline) {
			t.Fatal("the nodes do not both report restore_failed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	term := func() int64 {
		l, err := db.Leader(ctx, "default")
		if err != nil {
			t.Fatal(err)
		}
		return l.Term
	}
	settled := term()
	time.Sleep(5 * time.Second) // observation window: the old code made ~20 terms in it
	if got := term(); got != settled {
		t.Fatalf("term went from %d to %d in 5 s while no node could restore", settled, got)
	}
	if c.Active() != nil {
		t.Fatal("a node serves with inputs missing")
	}
	st, _ := a.Status()
	if f, _ := st["restore_failed"].(map[string]any); f["app"] != app || f["revision"] != float64(newest) || !strings.Contains(f["error"].(string), "checksum") {
		t.Fatalf("restore_failed = %v", st["restore_failed"])
	}

	out, err := exec.Command(nodeBin, "snapshot", "verify", "--cluster_db", url, "--apps_dir", apps).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "bad") {
		t.Fatalf("snapshot verify: %v\n%s", err, out)
	}
	if out, err := exec.Command(nodeBin, "snapshot", "accept-loss", "--cluster_db", url, "--app", app, "--reason", "e2e").CombinedOutput(); err != nil {
		t.Fatalf("snapshot accept-loss: %v\n%s", err, out)
	}
	// A backing-off node checks again within its backoff (1 s doubling to 1 min).
	if _, err := c.WaitActive(ctx, 90*time.Second, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := db.AcceptLossRequested(ctx, "default", app); ok || err != nil {
		t.Fatalf("accept-loss marker not consumed: %v %v", ok, err)
	}
}
