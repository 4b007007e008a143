package chaos_test

import (
	"context"
	"testing"
	"time"

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
// The store's PostgreSQL sessions carry idle_in_transaction_session_timeout, so the server ends
// the frozen session and the fence goes through within about a second.
func TestPromotionNotBlockedByFrozenSnapshotWriter(t *testing.T) {
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
	// The old active at term 1, inside SaveSnapshot: BEGIN, fence check … then frozen. It is a
	// node, so its session comes from the store with the store's settings.
	oldDB, err := store.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer oldDB.Close()
	tx, err := oldDB.SQL().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var got int64
	if err := tx.QueryRowContext(ctx, `INSERT INTO ha_fence AS f (group_id, term, updated_at) VALUES ($1, $2, now())
		ON CONFLICT (group_id) DO UPDATE SET term = EXCLUDED.term, updated_at = now()
		WHERE f.term <= EXCLUDED.term RETURNING term`, "default", 1).Scan(&got); err != nil {
		t.Fatal(err)
	}
	// The new active promotes at term 2.
	fctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	start := time.Now()
	err = db.Fence(fctx, "default", 2)
	// Allowed: the server's idle-in-transaction timeout (1 s) plus slack.
	if took := time.Since(start); err != nil || took > 1500*time.Millisecond {
		t.Fatalf("promotion's Fence at term 2 took %s (err %v) behind a frozen term-1 snapshot transaction; "+
			"want it bounded (e.g. lock_timeout / idle_in_transaction_session_timeout on the store's sessions, "+
			"or the fence check moved after the payload insert, just before commit)", took.Round(time.Millisecond), err)
	}
}
