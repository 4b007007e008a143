package ha_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamha/streamha/node/config"
	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/ha"
	"github.com/streamha/streamha/node/store"
)

// keyedApp keeps one group per key (id % 1000): each output counts and sums the inputs of its
// key so far, so a key whose state was lost or doubled in a restore shows in its next output.
const keyedApp = `@app:name('T')
define stream S (id long, v double);
@sink(type='file', path='out.jsonl')
define stream O (k long, n long, total double);
from S select id % 1000 as k, v insert into K;
from K select k, count() as n, sum(v) as total group by k insert into O;`

// slowLease gives the chain test a lease that a loaded machine renews in time (the scenario
// needs the active to stay active between its steps).
func slowLease(c *config.Config) {
	c.Lease, c.RenewDeadline = 2400*time.Millisecond, 1600*time.Millisecond
}

// TestPersistWritesDeltasAndPromotionRestoresTheChain: after a base, persists write deltas that
// hold only the changed keys (far smaller than the base); a compaction folds the chain into a
// new base in the background and deltas continue on it; after the active crashes, the other
// node restores base + deltas (+ the input log) and every key's state is exact.
func TestPersistWritesDeltasAndPromotionRestoresTheChain(t *testing.T) {
	defer ha.SetChainLimits(3, 64)()
	url := "sqlite://" + filepath.Join(t.TempDir(), "ha.db")
	a := startAppNode(t, url, "a", keyedApp, slowLease)
	ctx := context.Background()
	waitFor(t, "a active", a.serving)
	counts := map[int64]int64{}
	id := int64(0)
	// feed ingests k events in batches of up to 100 (few acknowledgements: each is a write of the
	// input log, and the lease must be renewable on a busy machine)
	feed := func(k int) {
		t.Helper()
		for k > 0 {
			batch := make([]ha.Event, 0, min(k, 100))
			for range cap(batch) {
				id++
				counts[id%1000]++
				batch = append(batch, ha.Event{Data: []engine.Value{engine.LongValue(id), engine.DoubleValue(1)}})
			}
			k -= len(batch)
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, err := a.node.Ingest(cctx, "T", "S", batch, "")
			cancel()
			if err != nil {
				t.Fatalf("ingest up to %d: %v", id, err)
			}
		}
	}
	// keyed ingests one batch of per events with a long idempotency key and returns the key and
	// the batch, so that a retry after the restore can be checked to apply nothing.
	type sent struct {
		key   string
		batch []ha.Event
	}
	var keyedSent []sent
	keyed := func(per int) {
		t.Helper()
		batch := make([]ha.Event, 0, per)
		for range per {
			id++
			counts[id%1000]++
			batch = append(batch, ha.Event{Data: []engine.Value{engine.LongValue(id), engine.DoubleValue(1)}})
		}
		key := fmt.Sprintf("%s-%06d", strings.Repeat("k", 240), len(keyedSent))
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if _, err := a.node.Ingest(cctx, "T", "S", batch, key); err != nil {
			t.Fatalf("keyed ingest up to %d: %v", id, err)
		}
		keyedSent = append(keyedSent, sent{key, batch})
	}
	// sizes compare engine state: the outbox (outputs not yet written) goes into every revision
	drained := func() {
		t.Helper()
		waitFor(t, "outputs written", func() bool { return a.node.Status().Apps["T"].Outbox == 0 })
	}
	persist := func() store.Snapshot {
		t.Helper()
		drained()
		if err := a.node.Persist(ctx); err != nil {
			t.Fatal(err)
		}
		list, err := a.db.ListSnapshots(ctx, "default", "T")
		if err != nil || len(list) == 0 {
			t.Fatalf("list: %v %v", list, err)
		}
		return list[0]
	}
	feed(1000) // every key (acknowledgements may persist on their own meanwhile)
	// an idempotency window of about 60 KB (200 keys of 250 bytes): every revision must not
	// carry it whole, only the keys answered since its parent
	for range 200 {
		keyed(5)
	}
	drained()
	if err := a.node.PersistBase(ctx); err != nil {
		t.Fatal(err)
	}
	full, _, _ := a.db.LatestSnapshot(ctx, "default", "T")
	if full.Delta() {
		t.Fatalf("PersistBase wrote %+v", full)
	}
	feed(5)
	keyed(1)
	d := persist()
	if !d.Delta() || d.Base != full.Revision || d.Size*4 > full.Size {
		t.Fatalf("persist after 5 changed keys and one idempotency key: %+v, want a delta far smaller than the %d bytes of all keys and the window", d, full.Size)
	}
	if st := a.node.Status().Apps["T"]; st.ChainBase != full.Revision || st.ChainDeltas < 1 {
		t.Fatalf("status: chain base %d, %d deltas; want base %d", st.ChainBase, st.ChainDeltas, full.Revision)
	}
	// more deltas make the chain long: a compaction writes a new base in the background
	for range 3 {
		feed(5)
		persist()
	}
	var compacted store.Snapshot
	waitFor(t, "a compacted base", func() bool {
		list, _ := a.db.ListSnapshots(ctx, "default", "T")
		for _, s := range list {
			if !s.Delta() && s.Revision > d.Revision {
				compacted = s
				return true
			}
		}
		return false
	})
	feed(5)
	keyed(1)
	if s := persist(); !s.Delta() || s.Base < compacted.Revision {
		t.Fatalf("persist after compaction: %+v, want a delta on the compacted base %d (or a later one)", s, compacted.Revision)
	}
	// a delta whose write fails is never the parent of the next revision: a base follows
	feed(5)
	before := persist()
	feed(5)
	drained()
	a.db.noSave.Store(true)
	if err := a.node.Persist(ctx); err == nil {
		t.Fatal("persist with snapshot writes failing succeeded")
	}
	a.db.noSave.Store(false)
	feed(5)
	persist()
	feed(5)
	keyed(1) // its key only in this delta (and the live window)
	if s := persist(); !s.Delta() {
		t.Fatalf("persist after the new base: %+v, want a delta", s)
	}
	list, _ := a.db.ListSnapshots(ctx, "default", "T")
	for i := len(list) - 1; i >= 0; i-- { // oldest first
		if s := list[i]; s.Revision > before.Revision {
			if s.Delta() {
				t.Fatalf("first revision after a failed delta write: %+v, want a base", s)
			}
			break
		}
	}
	feed(3) // in the input log only
	keyed(1)
	a.db.cut.Store(true)
	a.stop()

	b := startAppNode(t, url, "b", keyedApp, slowLease)
	waitFor(t, "b active", b.serving)
	for _, k := range []int64{id % 1000, (id - 7) % 1000, 999} {
		id++
		next := id - id%1000 + 1000 + k // an id of key k
		id = next
		ingest(t, b.node, next, 1)
		counts[k]++
		waitFor(t, "b's output of key", func() bool { n, _, ok := b.lastOutput(t); return ok && n == counts[k] })
		if n, total, _ := b.lastOutput(t); n != counts[k] || total != float64(counts[k]) {
			t.Fatalf("key %d after the restore: count %d sum %v, want %d", k, n, total, counts[k])
		}
	}
	if st := b.node.Status(); st.Gaps != 0 {
		t.Fatalf("b: %d gaps", st.Gaps)
	}
	// every idempotency key, from the base, a delta before and after the compaction, or the
	// input log, survived the restore: a retry applies nothing
	for _, k := range keyedSent {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ans, err := b.node.Ingest(cctx, "T", "S", k.batch, k.key)
		cancel()
		if err != nil || !ans.Duplicate {
			t.Fatalf("retry of key ...%s after the restore: %+v, %v; want a duplicate", k.key[len(k.key)-6:], ans, err)
		}
	}
	// b continues the chain it restored
	if err := b.node.Persist(ctx); err != nil {
		t.Fatal(err)
	}
	list, _ = b.db.ListSnapshots(ctx, "default", "T")
	if !list[0].Delta() || list[0].Base < compacted.Revision {
		t.Fatalf("b's persist: %+v, want a delta on base %d (or a later one)", list[0], compacted.Revision)
	}
}
