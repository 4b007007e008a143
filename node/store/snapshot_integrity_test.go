package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamha/streamha/internal/pgtest"
	"github.com/streamha/streamha/node/store"
	"github.com/streamha/streamha/schema"
)

// exec runs a statement written with $n placeholders on either dialect.
func exec(t *testing.T, db *store.DB, q string, args ...any) {
	t.Helper()
	if db.Dialect() == schema.SQLite {
		for i := len(args); i >= 1; i-- {
			q = strings.ReplaceAll(q, fmt.Sprintf("$%d", i), fmt.Sprintf("?%d", i))
		}
	}
	if _, err := db.SQL().ExecContext(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// TestSnapshotChecksumDetectsAFlippedByte: a payload changed after it was written (one byte
// flipped in the stored row) no longer verifies; untouched revisions do, and a row written
// without a checksum (an older node) reads as unverified.
func TestSnapshotChecksumDetectsAFlippedByte(t *testing.T) {
	drivers(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for seq := uint64(10); seq <= 30; seq += 10 {
			if _, err := db.SaveSnapshot(ctx, store.Snapshot{Group: "g", App: "app", Term: 1, LastSeq: seq, Payload: []byte(fmt.Sprintf("state@%d", seq))}, 5); err != nil {
				t.Fatal(err)
			}
		}
		s, ok, err := db.ReadSnapshot(ctx, "g", "app", 3)
		if err != nil || !ok || s.Verify() != store.CheckOK || s.Checksum != store.Checksum([]byte("state@30")) {
			t.Fatalf("fresh revision 3: %+v %v %v, check %s", s, ok, err, s.Verify())
		}
		p := append([]byte(nil), s.Payload...)
		p[3] ^= 0x01
		exec(t, db, `UPDATE ha_snapshot SET payload = $1 WHERE group_id = 'g' AND app = 'app' AND revision = 3`, p)
		s, _, _ = db.ReadSnapshot(ctx, "g", "app", 3)
		if s.Verify() != store.CheckBad || !errors.Is(s.VerifyErr(), store.ErrChecksum) {
			t.Fatalf("flipped byte not detected: check %s, err %v", s.Verify(), s.VerifyErr())
		}
		if l, _, _ := db.LatestSnapshot(ctx, "g", "app"); l.Verify() != store.CheckBad {
			t.Fatalf("LatestSnapshot of the flipped revision verifies %s", l.Verify())
		}
		if s, _, _ := db.ReadSnapshot(ctx, "g", "app", 2); s.Verify() != store.CheckOK {
			t.Fatalf("revision 2: %s", s.Verify())
		}
		exec(t, db, `UPDATE ha_snapshot SET checksum = NULL WHERE group_id = 'g' AND app = 'app' AND revision = 1`)
		if s, _, _ := db.ReadSnapshot(ctx, "g", "app", 1); s.Verify() != store.CheckUnverified || s.VerifyErr() != nil {
			t.Fatalf("revision without checksum: %s %v", s.Verify(), s.VerifyErr())
		}
	})
}

// TestQuarantineSetsARevisionAsideRecoverably: a quarantined revision is skipped by
// LatestSnapshot, listed with its reason, never trimmed, never reused as a number, and usable
// again once unquarantined.
func TestQuarantineSetsARevisionAsideRecoverably(t *testing.T) {
	drivers(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		save := func(seq uint64, keep int) int64 {
			rev, err := db.SaveSnapshot(ctx, store.Snapshot{Group: "g", App: "app", Term: 1, LastSeq: seq, Payload: []byte(fmt.Sprintf("state@%d", seq))}, keep)
			if err != nil {
				t.Fatal(err)
			}
			return rev
		}
		save(10, 3)
		save(20, 3)
		if err := db.Quarantine(ctx, "g", "app", 2, "torn write"); err != nil {
			t.Fatal(err)
		}
		if err := db.Quarantine(ctx, "g", "app", 9, "x"); !errors.Is(err, store.ErrNoSnapshot) {
			t.Fatalf("quarantine of a missing revision: %v", err)
		}
		if l, ok, _ := db.LatestSnapshot(ctx, "g", "app"); !ok || l.Revision != 1 {
			t.Fatalf("latest with revision 2 quarantined = %d", l.Revision)
		}
		list, err := db.ListSnapshots(ctx, "g", "app")
		if err != nil || len(list) != 2 || !list[0].Quarantined() || list[0].QuarantineReason != "torn write" || list[1].Quarantined() || list[0].Checksum == "" {
			t.Fatalf("list = %+v, %v", list, err)
		}
		// keep=1 trims every other revision, but not the quarantined one; its number is not reused.
		if rev := save(30, 1); rev != 3 {
			t.Fatalf("revision after a quarantined one = %d, want 3", rev)
		}
		list, _ = db.ListSnapshots(ctx, "g", "app")
		if len(list) != 2 || list[0].Revision != 3 || list[1].Revision != 2 || !list[1].Quarantined() {
			t.Fatalf("after trim: %+v", list)
		}
		if err := db.Unquarantine(ctx, "g", "app", 2); err != nil {
			t.Fatal(err)
		}
		if s, ok, _ := db.ReadSnapshot(ctx, "g", "app", 2); !ok || s.Quarantined() || s.Verify() != store.CheckOK {
			t.Fatalf("unquarantined: %+v", s)
		}
		if apps, err := db.SnapshotApps(ctx, "g"); err != nil || len(apps) != 1 || apps[0] != "app" {
			t.Fatalf("apps = %v, %v", apps, err)
		}
	})
}

func TestAcceptLossMarker(t *testing.T) {
	drivers(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if _, ok, err := db.AcceptLossRequested(ctx, "g", "app"); ok || err != nil {
			t.Fatalf("marker before any request: %v %v", ok, err)
		}
		if err := db.RequestAcceptLoss(ctx, "g", "app", "ticket 42"); err != nil {
			t.Fatal(err)
		}
		if err := db.RequestAcceptLoss(ctx, "g", "app", "ticket 43"); err != nil {
			t.Fatal(err)
		}
		a, ok, err := db.AcceptLossRequested(ctx, "g", "app")
		if !ok || err != nil || a.Reason != "ticket 43" || a.RequestedAt.IsZero() {
			t.Fatalf("marker = %+v %v %v", a, ok, err)
		}
		if _, ok, _ := db.AcceptLossRequested(ctx, "g", "other"); ok {
			t.Fatal("marker of another app")
		}
		if err := db.ClearAcceptLoss(ctx, "g", "app"); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := db.AcceptLossRequested(ctx, "g", "app"); ok {
			t.Fatal("marker still there after clearing")
		}
	})
}

// TestSchemaV2KeepsVersion1Rows: a database written by the previous version (schema 1, no
// checksum column) migrates in place, and its rows read back as unverified.
func TestSchemaV2KeepsVersion1Rows(t *testing.T) {
	for _, tc := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "ha.db") }},
		{"postgres", func(t *testing.T) string { return pgtest.Shared(t).NewDatabase(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := store.Open(tc.url(t))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			ms, err := schema.Migrations(db.Dialect())
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			exec(t, db, ms[0].SQL)
			exec(t, db, `CREATE TABLE ha_schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`)
			exec(t, db, `INSERT INTO ha_schema_version VALUES (1, '0001_init.sql', 'then')`)
			exec(t, db, `INSERT INTO ha_snapshot (group_id, app, revision, term, last_seq, created_at, size_bytes, payload) VALUES ('g', 'app', 1, 1, 5, `+
				map[schema.Dialect]string{schema.SQLite: "0", schema.Postgres: "now()"}[db.Dialect()]+`, 3, $1)`, []byte("old"))
			applied, err := db.Migrate(ctx)
			if err != nil || len(applied) == 0 || applied[0] != 2 {
				t.Fatalf("migrate = %v, %v", applied, err)
			}
			s, ok, err := db.ReadSnapshot(ctx, "g", "app", 1)
			if err != nil || !ok || s.Verify() != store.CheckUnverified || string(s.Payload) != "old" || s.Quarantined() {
				t.Fatalf("old row = %+v %v %v", s, ok, err)
			}
		})
	}
}
