package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/streamha/streamha/node/cluster"
	"github.com/streamha/streamha/node/store"
)

// TestSnapshotChains: deltas continue the newest chain only; restoring a delta reads its base
// and every delta up to it; trimming keeps what kept revisions need and deletes an old chain
// only once a newer base is committed; a quarantined or corrupt member breaks the chain (the
// revisions before it still read); term fencing refuses a delta of an older term.
func TestSnapshotChains(t *testing.T) {
	drivers(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		save := func(seq uint64, base int64, term int64) (int64, error) {
			return db.SaveSnapshot(ctx, store.Snapshot{Group: "g", App: "app", Term: term, LastSeq: seq, Base: base,
				Payload: []byte(fmt.Sprintf("state@%d/base%d", seq, base))}, 2)
		}
		must := func(rev int64, err error) int64 {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			return rev
		}
		if _, err := save(5, 1, 1); !errors.Is(err, store.ErrChainMoved) {
			t.Fatalf("delta with no base stored: %v, want ErrChainMoved", err)
		}
		b1 := must(save(10, 0, 1))
		for seq := uint64(11); seq <= 14; seq++ {
			must(save(seq, b1, 1))
		}
		// keep is 2, but the chain of revision 5 needs 1..4: nothing is trimmed
		list, err := db.ListSnapshots(ctx, "g", "app")
		if err != nil || len(list) != 5 || list[0].Base != b1 || list[4].Delta() {
			t.Fatalf("list %+v, %v: want base 1 and deltas 2..5", list, err)
		}
		chain, err := store.ReadChain(ctx, db, "g", "app", 4)
		if err != nil || len(chain) != 4 || chain[0].Revision != b1 || chain[3].LastSeq != 13 || string(chain[2].Payload) != "state@12/base1" {
			t.Fatalf("chain of 4: %+v, %v", chain, err)
		}
		// a new base; the old chain stays while a kept revision (5) still needs it
		b2 := must(save(20, 0, 1))
		if _, err := save(21, b1, 1); !errors.Is(err, store.ErrChainMoved) {
			t.Fatalf("delta on the old base: %v, want ErrChainMoved", err)
		}
		if _, ok, _ := db.ReadSnapshot(ctx, "g", "app", b1); !ok {
			t.Fatal("old base trimmed while its delta 5 is kept")
		}
		must(save(21, b2, 1))
		list, _ = db.ListSnapshots(ctx, "g", "app")
		if len(list) != 2 || list[1].Revision != b2 {
			t.Fatalf("after the new base has a delta: %+v, want only revisions 6 and 7", list)
		}
		// fencing applies to deltas
		if err := db.Fence(ctx, "g", 2); err != nil {
			t.Fatal(err)
		}
		if _, err := save(22, b2, 1); !errors.Is(err, cluster.ErrFenced) {
			t.Fatalf("delta of term 1 after fence 2: %v, want ErrFenced", err)
		}
		r8 := must(save(22, b2, 2))
		r9 := must(save(23, b2, 2))
		// a quarantined delta breaks the revisions after it, not those before; no delta may
		// follow it
		if err := db.Quarantine(ctx, "g", "app", r8, "test"); err != nil {
			t.Fatal(err)
		}
		if _, err := store.ReadChain(ctx, db, "g", "app", r9); !errors.Is(err, store.ErrChainBroken) {
			t.Fatalf("chain through a quarantined delta: %v, want ErrChainBroken", err)
		}
		if c, err := store.ReadChain(ctx, db, "g", "app", r8-1); err != nil || len(c) != 2 {
			t.Fatalf("chain before the quarantined delta: %d, %v", len(c), err)
		}
		if err := db.Unquarantine(ctx, "g", "app", r8); err != nil {
			t.Fatal(err)
		}
		if err := db.Quarantine(ctx, "g", "app", r9, "test"); err != nil {
			t.Fatal(err)
		}
		if _, err := save(24, b2, 2); !errors.Is(err, store.ErrChainMoved) {
			t.Fatalf("delta after a quarantined newest revision: %v, want ErrChainMoved", err)
		}
		if err := db.Unquarantine(ctx, "g", "app", r9); err != nil {
			t.Fatal(err)
		}
		// a corrupt base breaks every delta of its chain
		exec(t, db, `UPDATE ha_snapshot SET payload = $1 WHERE group_id = 'g' AND app = 'app' AND revision = $2`, []byte("torn"), b2)
		if _, err := store.ReadChain(ctx, db, "g", "app", r9); !errors.Is(err, store.ErrChecksum) {
			t.Fatalf("chain on a corrupt base: %v, want ErrChecksum", err)
		}
		if _, err := store.ReadChain(ctx, db, "g", "app", 99); !errors.Is(err, store.ErrNoSnapshot) {
			t.Fatalf("missing revision: %v", err)
		}
	})
}

// TestChunkedDeltaChain: a base larger than a chunk and its deltas (inline) read back whole.
func TestChunkedDeltaChain(t *testing.T) {
	drivers(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		db.SetChunkSize(64)
		big := make([]byte, 1000)
		for i := range big {
			big[i] = byte(i)
		}
		b, err := db.SaveSnapshot(ctx, store.Snapshot{Group: "g", App: "app", Term: 1, LastSeq: 1, Payload: big}, 3)
		if err != nil {
			t.Fatal(err)
		}
		d, err := db.SaveSnapshot(ctx, store.Snapshot{Group: "g", App: "app", Term: 1, LastSeq: 2, Base: b, Payload: big[:100]}, 3)
		if err != nil {
			t.Fatal(err)
		}
		chain, err := store.ReadChain(ctx, db, "g", "app", d)
		if err != nil || len(chain) != 2 || len(chain[0].Payload) != 1000 || len(chain[1].Payload) != 100 || chain[1].Base != b {
			t.Fatalf("chain %d, %v", len(chain), err)
		}
	})
}
