package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/streamha/streamha/internal/pgtest"
	"github.com/streamha/streamha/node/store"
)

// TestIdleInTransactionTimeoutFreesTheFence: an active frozen (SIGSTOP, a GC or VM stall, or cut
// from PostgreSQL by a silent partition) inside SaveSnapshot, after its fence statement, holds the
// ha_fence row's lock, and the new active's promotion (Fence, the same upsert) waits for it. The
// store's PostgreSQL sessions carry idle_in_transaction_session_timeout (1 s), so the server ends
// the frozen session: the fence goes through within about a second instead of for as long as the
// old node stays frozen (indefinitely behind a blackholed link), and the frozen snapshot is not
// committed. The pause-active and cut-db-active chaos faults once showed this as a stall.
func TestIdleInTransactionTimeoutFreesTheFence(t *testing.T) {
	url := pgtest.Shared(t).NewDatabase(t)
	ctx := context.Background()
	promoting := openDB(t, url)
	if err := promoting.Fence(ctx, "g", 1); err != nil {
		t.Fatal(err)
	}
	// The old active at term 1, a node with the store's own session settings, freezes inside
	// SaveSnapshot right after the fence statement.
	old := openDB(t, url)
	frozen, thaw := make(chan struct{}), make(chan struct{})
	store.SetAfterFenceHook(old, func() { close(frozen); <-thaw })
	saved := make(chan error, 1)
	go func() {
		_, err := old.SaveSnapshot(ctx, store.Snapshot{Group: "g", App: "app", Term: 1, LastSeq: 5, Payload: []byte("state")}, 3)
		saved <- err
	}()
	<-frozen

	// The new active promotes at term 2. Without the timeout this waits until fctx ends.
	fctx, cancel := context.WithTimeout(ctx, 6*time.Second)
	defer cancel()
	start := time.Now()
	err := promoting.Fence(fctx, "g", 2)
	took := time.Since(start)
	close(thaw)
	t.Logf("Fence returned after %s", took.Round(time.Millisecond))
	// The server's timeout is 1 s; the rest is slack for a loaded machine.
	if err != nil || took > 3*time.Second {
		t.Fatalf("Fence at term 2 took %s (err %v) behind a snapshot transaction frozen after its fence; "+
			"want about 1 s (idle_in_transaction_session_timeout on the store's sessions)", took.Round(time.Millisecond), err)
	}
	if err := <-saved; err == nil {
		t.Fatal("the frozen writer's snapshot committed after its session should have been ended")
	}
	if s, ok, err := promoting.LatestSnapshot(ctx, "g", "app"); err != nil || ok {
		t.Fatalf("latest snapshot %+v ok=%v err=%v: want none from the frozen term-1 writer", s, ok, err)
	}
}
