package store_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamha/streamha/internal/pgtest"
	"github.com/streamha/streamha/node/cluster"
	"github.com/streamha/streamha/node/store"
)

// payload returns n pseudo-random (incompressible) bytes.
func payload(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for k := 0; k < 8; k++ {
			b[i+k] = byte(v >> (8 * k))
		}
	}
	return b
}

func countRows(t *testing.T, db *store.DB, table string) int {
	t.Helper()
	var n int
	if err := db.SQL().QueryRowContext(context.Background(), `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestChunkedSnapshotReadsBackEqual: a payload larger than the chunk size is stored as chunks
// (its ha_snapshot row holds none of it) and reads back byte for byte, with its checksum over the
// whole payload verified; trimmed revisions take their chunks with them; a small payload is
// still stored inline as older nodes wrote it.
func TestChunkedSnapshotReadsBackEqual(t *testing.T) {
	drivers(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		db.SetChunkSize(1000)
		var want [][]byte
		for i := 0; i < 4; i++ {
			p := payload(10_500+i, uint64(i))
			want = append(want, p)
			rev, err := db.SaveSnapshot(ctx, store.Snapshot{Group: "g", App: "app", Term: 1, LastSeq: uint64(10 * (i + 1)), Payload: p}, 2)
			if err != nil || rev != int64(i+1) {
				t.Fatalf("save %d: rev %d err %v", i, rev, err)
			}
		}
		s, ok, err := db.LatestSnapshot(ctx, "g", "app")
		if err != nil || !ok || s.Revision != 4 || !bytes.Equal(s.Payload, want[3]) || s.Size != int64(len(want[3])) || s.Verify() != store.CheckOK {
			t.Fatalf("latest: rev %d ok %v err %v equal %v size %d check %s", s.Revision, ok, err, bytes.Equal(s.Payload, want[3]), s.Size, s.Verify())
		}
		s, ok, err = db.ReadSnapshot(ctx, "g", "app", 3)
		if err != nil || !ok || !bytes.Equal(s.Payload, want[2]) || s.Verify() != store.CheckOK {
			t.Fatalf("revision 3: ok %v err %v equal %v check %s", ok, err, bytes.Equal(s.Payload, want[2]), s.Verify())
		}
		if _, ok, _ := db.ReadSnapshot(ctx, "g", "app", 2); ok {
			t.Fatal("revision 2 should be trimmed (keep 2)")
		}
		// Revisions 3 and 4 remain: 11 chunks each, nothing of the trimmed ones.
		if n := countRows(t, db, "ha_snapshot_chunk"); n != 22 {
			t.Fatalf("%d chunk rows after trimming, want 22 (two revisions of 11)", n)
		}
		var inline int
		if err := db.SQL().QueryRowContext(ctx, `SELECT COALESCE(SUM(length(payload)), 0) FROM ha_snapshot`).Scan(&inline); err != nil || inline != 0 {
			t.Fatalf("chunked revisions hold %d payload bytes inline (err %v), want 0", inline, err)
		}
		list, err := db.ListSnapshots(ctx, "g", "app")
		if err != nil || len(list) != 2 || list[0].Size != int64(len(want[3])) {
			t.Fatalf("list %+v err %v", list, err)
		}
		// A small payload is written inline, readable by older nodes.
		if _, err := db.SaveSnapshot(ctx, store.Snapshot{Group: "g", App: "app", Term: 1, LastSeq: 50, Payload: []byte("small")}, 2); err != nil {
			t.Fatal(err)
		}
		if s, _, _ := db.LatestSnapshot(ctx, "g", "app"); string(s.Payload) != "small" || s.Verify() != store.CheckOK {
			t.Fatalf("inline revision reads %q check %s", s.Payload, s.Verify())
		}
		if n := countRows(t, db, "ha_snapshot_chunk"); n != 11 {
			t.Fatalf("%d chunk rows, want 11 (revision 4 only)", n)
		}
	})
}

// TestCrashMidChunkedWriteKeepsPreviousRevision: a writer stopped in the middle of a chunked
// write (frozen for good, as a killed process) leaves the previous revision in force for every
// reader; the next writer's successful save deletes the orphan chunks, and the frozen writer, if
// it ever resumes, cannot commit a revision with chunks missing.
func TestCrashMidChunkedWriteKeepsPreviousRevision(t *testing.T) {
	drivers(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		db.SetChunkSize(1000)
		first := payload(5000, 1)
		if _, err := db.SaveSnapshot(ctx, store.Snapshot{Group: "g", App: "app", Term: 1, LastSeq: 10, Payload: first}, 3); err != nil {
			t.Fatal(err)
		}
		frozen, thaw := make(chan struct{}), make(chan struct{})
		var froze atomic.Bool
		store.SetAfterChunkHook(db, func(n int) {
			if n == 3 && froze.CompareAndSwap(false, true) {
				close(frozen)
				<-thaw
			}
		})
		saved := make(chan error, 1)
		go func() {
			_, err := db.SaveSnapshot(ctx, store.Snapshot{Group: "g", App: "app", Term: 1, LastSeq: 20, Payload: payload(9000, 2)}, 3)
			saved <- err
		}()
		<-frozen
		s, ok, err := db.LatestSnapshot(ctx, "g", "app")
		if err != nil || !ok || s.Revision != 1 || !bytes.Equal(s.Payload, first) {
			t.Fatalf("mid-write: latest rev %d ok %v err %v equal %v; want revision 1 intact", s.Revision, ok, err, bytes.Equal(s.Payload, first))
		}
		if n := countRows(t, db, "ha_snapshot_chunk"); n != 5+3 {
			t.Fatalf("%d chunk rows mid-write, want 8", n)
		}
		// Another writer (the next active) saves: the orphans go.
		second := payload(2500, 3)
		if _, err := db.SaveSnapshot(ctx, store.Snapshot{Group: "g", App: "app", Term: 1, LastSeq: 30, Payload: second}, 3); err != nil {
			t.Fatal(err)
		}
		if n := countRows(t, db, "ha_snapshot_chunk"); n != 5+3 {
			t.Fatalf("%d chunk rows, want 8 (revisions 1 and 2, orphans deleted)", n)
		}
		close(thaw)
		if err := <-saved; err == nil {
			t.Fatal("the resumed writer committed a revision whose chunks were deleted")
		}
		if s, _, _ := db.LatestSnapshot(ctx, "g", "app"); s.Revision != 2 || !bytes.Equal(s.Payload, second) {
			t.Fatalf("latest rev %d, want 2 with the second writer's payload", s.Revision)
		}
	})
}

// TestChunkedSnapshotCommitsUnderLowServerTimeouts: with idle_in_transaction_session_timeout at
// 200 ms and statement_timeout at 500 ms, a 40 MB snapshot still commits and reads back. Before
// chunking, its one INSERT (one 40 MB bind message) was killed by these timeouts (SQLSTATE 25P03
// or 57014), and a new active retried "persist failed" without end.
func TestChunkedSnapshotCommitsUnderLowServerTimeouts(t *testing.T) {
	url := pgtest.Shared(t).NewDatabase(t) + "&idle_in_transaction_session_timeout=200&statement_timeout=500"
	db := openDB(t, url)
	ctx := context.Background()
	if err := db.Fence(ctx, "g", 1); err != nil {
		t.Fatal(err)
	}
	p := payload(40<<20, 7)
	start := time.Now()
	rev, err := db.SaveSnapshot(ctx, store.Snapshot{Group: "g", App: "app", Term: 1, LastSeq: 99, Payload: p}, 3)
	if err != nil {
		t.Fatalf("40 MB snapshot under low server timeouts: %v", err)
	}
	t.Logf("saved 40 MB in %s", time.Since(start).Round(time.Millisecond))
	s, ok, err := db.ReadSnapshot(ctx, "g", "app", rev)
	if err != nil || !ok || !bytes.Equal(s.Payload, p) || s.Verify() != store.CheckOK {
		t.Fatalf("read back: ok %v err %v equal %v check %s", ok, err, bytes.Equal(s.Payload, p), s.Verify())
	}
}

// TestSnapshotWriteDoesNotBlockLeaseRenewal: on one SQLite file, a 96 MB snapshot written through
// the persistence handle while the active renews its lease every 100 ms through the cluster
// handle (two pools, as the daemon opens them): no renewal waits as long as renew_deadline
// (1 s). Before chunking, the snapshot's one INSERT held SQLite's write lock for its whole
// duration (3.1 s for 145 MB on the 2-core machine) and the active demoted itself.
func TestSnapshotWriteDoesNotBlockLeaseRenewal(t *testing.T) {
	url := "sqlite://" + filepath.Join(t.TempDir(), "ha.db")
	coord, persist := openDB(t, url), openDB(t, url)
	ctx := context.Background()
	p := payload(96<<20, 9)
	l, ok, err := coord.Acquire(ctx, "g", "a", 1500*time.Millisecond)
	if err != nil || !ok {
		t.Fatalf("acquire: %v %v", ok, err)
	}
	if err := persist.Fence(ctx, "g", l.Term); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := persist.SaveSnapshot(ctx, store.Snapshot{Group: "g", App: "app", Term: l.Term, LastSeq: 1, Payload: p}, 3)
		done <- err
	}()
	var worst time.Duration
	renewals := 0
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d renewals during the write, slowest %s", renewals, worst.Round(time.Millisecond))
			if renewals < 3 {
				t.Fatalf("only %d renewals during the write: the test did not overlap them", renewals)
			}
			return
		case <-tick.C:
		}
		start := time.Now()
		rl, err := coord.Renew(ctx, "g", "a", l.Term, 1500*time.Millisecond)
		took := time.Since(start)
		worst = max(worst, took)
		renewals++
		if err != nil || took >= time.Second {
			t.Fatalf("renewal %d during the snapshot write took %s (err %v, lease %+v): the active would demote itself", renewals, took.Round(time.Millisecond), err, rl)
		}
	}
}

// TestInputLogAppendReadFenceTrim: appends read back in order from a seq; a deposed term's
// append is refused; an append retried from the same first seq replaces the row; rows of an
// older term that a newer term's append overlaps stay (readers resolve them); a committed
// snapshot trims the rows every kept revision covers.
func TestInputLogAppendReadFenceTrim(t *testing.T) {
	drivers(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := db.Fence(ctx, "g", 2); err != nil {
			t.Fatal(err)
		}
		app := func(first, last uint64, term int64, p string) error {
			return db.AppendInputs(ctx, store.LogRecord{Group: "g", App: "app", FirstSeq: first, LastSeq: last, Term: term, Payload: []byte(p)})
		}
		for _, r := range []struct {
			first, last uint64
			p           string
		}{{1, 3, "a"}, {4, 4, "b"}, {5, 9, "c"}} {
			if err := app(r.first, r.last, 2, r.p); err != nil {
				t.Fatal(err)
			}
		}
		if err := app(10, 12, 1, "deposed"); !errors.Is(err, cluster.ErrFenced) {
			t.Fatalf("append at term 1 after fence 2: %v, want ErrFenced", err)
		}
		if err := app(5, 11, 2, "c+"); err != nil { // a retry that grew
			t.Fatal(err)
		}
		rows, err := db.InputLog(ctx, "g", "app", 3)
		if err != nil || len(rows) != 2 || rows[0].FirstSeq != 4 || rows[1].LastSeq != 11 || string(rows[1].Payload) != "c+" {
			t.Fatalf("log after 3: %+v err %v", rows, err)
		}
		for _, r := range rows {
			if err := r.VerifyErr(); err != nil {
				t.Fatal(err)
			}
		}
		// Term 3 restored only up to 6 (an accepted loss) and appends 7..8.
		if err := db.Fence(ctx, "g", 3); err != nil {
			t.Fatal(err)
		}
		if err := app(7, 8, 3, "d"); err != nil {
			t.Fatal(err)
		}
		rows, _ = db.InputLog(ctx, "g", "app", 0)
		if len(rows) != 4 || rows[3].FirstSeq != 7 || rows[3].Term != 3 {
			t.Fatalf("log after term 3's append: %+v", rows)
		}
		// Snapshots at 4 then 8 with keep 1: rows up to 8 are covered by every kept revision.
		if _, err := db.SaveSnapshot(ctx, store.Snapshot{Group: "g", App: "app", Term: 3, LastSeq: 4, Payload: []byte("s4")}, 2); err != nil {
			t.Fatal(err)
		}
		if rows, _ = db.InputLog(ctx, "g", "app", 0); len(rows) != 2 || rows[0].FirstSeq != 5 {
			t.Fatalf("after snapshot at 4: %+v, want 1..3 and 4..4 trimmed", rows)
		}
		if _, err := db.SaveSnapshot(ctx, store.Snapshot{Group: "g", App: "app", Term: 3, LastSeq: 8, Payload: []byte("s8")}, 1); err != nil {
			t.Fatal(err)
		}
		if rows, _ = db.InputLog(ctx, "g", "app", 0); len(rows) != 1 || rows[0].LastSeq != 11 {
			t.Fatalf("after snapshot at 8 (keep 1): %+v, want only 5..11 (it reaches past 8)", rows)
		}
	})
}
