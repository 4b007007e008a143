package chaos_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/streamha/streamha/internal/pgtest"
	"github.com/streamha/streamha/node/store"
)

// TestPromotionNotBlockedByFrozenSnapshotWriter reproduces what the pause-active and
// cut-db-active faults show: an active frozen (SIGSTOP, GC or VM stall, or cut from the database
// by a silent partition) inside store.SaveSnapshot holds the row lock on ha_fence taken by the
// transaction's first statement, and the new active's promotion (store.Fence, the same upsert)
// waits for that lock: promotion is delayed by as long as the old node stays frozen, and
// indefinitely behind a blackholed link (until the server's TCP keepalive drops the session).
//
// It fails today, so it only runs with STREAMHA_KNOWN_BUGS=1; the chaos suite keeps those faults
// because safety holds (the checker passes), only availability suffers.
func TestPromotionNotBlockedByFrozenSnapshotWriter(t *testing.T) {
	if os.Getenv("STREAMHA_KNOWN_BUGS") != "1" {
		t.Skip("known bug in node/store (Fence blocks behind a frozen SaveSnapshot); run with STREAMHA_KNOWN_BUGS=1")
	}
	srv := pgtest.Start(t)
	url := srv.NewDatabase(t)
	ctx := context.Background()
	db, err := store.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Fence(ctx, "default", 1); err != nil {
		t.Fatal(err)
	}
	// The old active at term 1, inside SaveSnapshot: BEGIN, fence check … then frozen.
	old, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close(ctx)
	tx, err := old.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	var got int64
	if err := tx.QueryRow(ctx, `INSERT INTO ha_fence AS f (group_id, term, updated_at) VALUES ($1, $2, now())
		ON CONFLICT (group_id) DO UPDATE SET term = EXCLUDED.term, updated_at = now()
		WHERE f.term <= EXCLUDED.term RETURNING term`, "default", 1).Scan(&got); err != nil {
		t.Fatal(err)
	}
	// The new active promotes at term 2.
	fctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	start := time.Now()
	err = db.Fence(fctx, "default", 2)
	if took := time.Since(start); err != nil || took > time.Second {
		t.Fatalf("promotion's Fence at term 2 took %s (err %v) behind a frozen term-1 snapshot transaction; "+
			"want it bounded (e.g. lock_timeout / idle_in_transaction_session_timeout on the store's sessions, "+
			"or the fence check moved after the payload insert, just before commit)", took.Round(time.Millisecond), err)
	}
}
