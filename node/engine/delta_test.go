package engine_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/streamha/streamha/node/engine"
	"pgregory.net/rapid"
)

// genChurnInputs is genInputs over more symbols, so groups come and go (window expiries drop
// groups whose count reaches zero, batch flushes reset them).
func genChurnInputs(t *rapid.T) []string {
	return genInputsOver(t, 60, []string{"a", "b", "c", "d", "e", "f", "g"})
}

// TestDeltaChainProperty: a runtime takes a base and then deltas at random cuts (sometimes a new
// base, sometimes a compaction of the chain so far); at every cut, restoring the base plus the
// deltas gives a full snapshot byte-identical to that of a runtime that took no revisions, and
// replaying the rest gives the outputs of an uninterrupted run.
func TestDeltaChainProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, src := compileMenuApp(t, "Delta")
		lines := genChurnInputs(t)
		var full bytes.Buffer
		applyAll(t, a, engine.NewRuntime(a), lines, 0, &full)

		live, ref := engine.NewRuntime(a), engine.NewRuntime(a)
		var liveOut, refOut bytes.Buffer
		base, err := live.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		var deltas [][]byte
		for cut := 0; cut <= len(lines); {
			step := rapid.IntRange(1, 4).Draw(t, "step")
			next := min(cut+step, len(lines))
			applyAll(t, a, live, lines[:next], cut, &liveOut)
			applyAll(t, a, ref, lines[:next], cut, &refOut)
			cut = next
			switch rapid.IntRange(0, 9).Draw(t, "revision") {
			case 0: // a new base
				if base, err = live.Snapshot(); err != nil {
					t.Fatal(err)
				}
				deltas = nil
			case 1: // compaction: the chain so far folded into one base, offline
				c, err := engine.Restore(a, base, deltas...)
				if err != nil {
					t.Fatalf("cut %d: restore for compaction: %v", cut, err)
				}
				if base, err = c.BaseSnapshot(); err != nil {
					t.Fatal(err)
				}
				deltas = nil
				fallthrough
			default:
				d, err := live.SnapshotDelta()
				if !live.DeltaSupported() { // partitions: full snapshots only
					if !errors.Is(err, engine.ErrNoDelta) {
						t.Fatalf("delta of an app with partitions: %v, want ErrNoDelta", err)
					}
					if base, err = live.Snapshot(); err != nil {
						t.Fatal(err)
					}
					deltas = nil
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				deltas = append(deltas, d)
			}
			want, err := ref.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			chain, err := engine.Restore(a, base, deltas...)
			if err != nil {
				t.Fatalf("cut %d: restore base + %d deltas: %v\napp:\n%s", cut, len(deltas), err, src)
			}
			got, err := chain.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("cut %d: base + %d deltas restores a different state than a full snapshot\napp:\n%s", cut, len(deltas), src)
			}
			out := bytes.NewBuffer(append([]byte(nil), refOut.Bytes()...))
			applyAll(t, a, chain, lines, cut, out)
			if out.String() != full.String() {
				t.Fatalf("cut %d: outputs after restoring base + %d deltas differ\napp:\n%s\nfull:\n%s\nrestored:\n%s", cut, len(deltas), src, full.String(), out.String())
			}
			if cut == len(lines) {
				break
			}
		}
		if liveOut.String() != full.String() {
			t.Fatalf("taking revisions changed the outputs\napp:\n%s", src)
		}
	})
}

// TestDeltaFollowsChange: with 20 000 groups and 20 changed (10 new), a delta is a few hundred
// bytes while the full snapshot is hundreds of kilobytes.
func TestDeltaFollowsChange(t *testing.T) {
	a := mustCompile(t, `define stream In (k string, v long);
from In select k, sum(v) as s, count() as c group by k insert into Out;`)
	rt := engine.NewRuntime(a)
	seq := uint64(0)
	apply := func(k string, v int64) {
		seq++
		if err := rt.Apply(engine.Input{Seq: seq, TS: int64(seq), Stream: "In", Data: []engine.Value{engine.StringValue(k), engine.LongValue(v)}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20000 {
		apply(fmt.Sprintf("key-%05d", i), int64(i))
	}
	base, err := rt.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		apply(fmt.Sprintf("new-%d", i), 1)
		apply(fmt.Sprintf("key-%05d", i*1999), 1)
	}
	delta, err := rt.SnapshotDelta()
	if err != nil {
		t.Fatal(err)
	}
	if len(delta) > 2000 || len(base) < 300_000 {
		t.Fatalf("delta %d bytes, base %d bytes: want a delta that follows the 10 changes", len(delta), len(base))
	}
	want, _ := rt.Snapshot()
	got, err := engine.Restore(a, base, delta)
	if err != nil {
		t.Fatal(err)
	}
	if g, _ := got.Snapshot(); !bytes.Equal(g, want) {
		t.Fatal("base + delta restores a different state")
	}
	// the delta after the full snapshot above is empty of groups
	if d, _ := rt.SnapshotDelta(); len(d) > 200 {
		t.Fatalf("delta with no change is %d bytes", len(d))
	}
	// a quarter of the keys changed: tracking gives up and the delta holds every group, still exact
	full, _ := rt.Snapshot()
	for i := range 5000 {
		apply(fmt.Sprintf("key-%05d", i*4), 2)
	}
	big, err := rt.SnapshotDelta()
	if err != nil {
		t.Fatal(err)
	}
	want, _ = rt.Snapshot()
	got, err = engine.Restore(a, full, big)
	if err != nil {
		t.Fatal(err)
	}
	if g, _ := got.Snapshot(); !bytes.Equal(g, want) || len(big) < len(full)/2 {
		t.Fatalf("delta of a quarter of the keys (%d bytes, full %d) restores a different state or is not the full section", len(big), len(full))
	}
}

// TestDeltaWrongBase: a delta applies only on its parent revision, with a clear error.
func TestDeltaWrongBase(t *testing.T) {
	a := mustCompile(t, schema+menuQuery(7, 0))
	rt := engine.NewRuntime(a)
	in := func(seq uint64, sym string) engine.Input {
		return engine.Input{Seq: seq, TS: int64(seq), Stream: "S", Data: []engine.Value{engine.StringValue(sym), engine.DoubleValue(1), engine.IntValue(1), engine.LongValue(1)}}
	}
	base, _ := rt.Snapshot()
	_ = rt.Apply(in(1, "a"), nil)
	d1, _ := rt.SnapshotDelta()
	_ = rt.Apply(in(2, "b"), nil)
	d2, _ := rt.SnapshotDelta()
	if _, err := engine.Restore(a, base, d1, d2); err != nil {
		t.Fatal(err)
	}
	_, err := engine.Restore(a, base, d2)
	if !errors.Is(err, engine.ErrWrongBase) || !strings.Contains(err.Error(), "applies on revision") {
		t.Fatalf("delta 2 on the base: %v, want ErrWrongBase", err)
	}
	if _, err := engine.Restore(a, d1); !errors.Is(err, engine.ErrWrongBase) {
		t.Fatalf("a delta as base: %v, want ErrWrongBase", err)
	}
	bad := append([]byte(nil), d1...)
	bad[len(bad)/2] ^= 0xff
	if _, err := engine.Restore(a, base, bad); !errors.Is(err, engine.ErrCorrupt) {
		t.Fatalf("corrupt delta: %v, want ErrCorrupt", err)
	}
	h, err := engine.ReadSnapshotHeader(d2)
	if err != nil || !h.Delta || h.LastSeq != 2 {
		t.Fatalf("delta header %+v, %v", h, err)
	}
	if h1, _ := engine.ReadSnapshotHeader(d1); h.Parent != h1.ID {
		t.Fatalf("delta 2's parent %x, delta 1's id %x", h.Parent, h1.ID)
	}
	if _, err := engine.NewRuntime(a).SnapshotDelta(); !errors.Is(err, engine.ErrNoBase) {
		t.Fatalf("delta without a base: %v, want ErrNoBase", err)
	}
}

// BenchmarkSnapshotDelta: with 100K / 1M / 3M group keys and 10K of them changed since the
// previous revision, a delta (timed) against a full snapshot of the same state (full-ms): the
// delta's time and size stay flat in the number of keys.
func BenchmarkSnapshotDelta(b *testing.B) {
	for _, keys := range []int{100_000, 1_000_000, 3_000_000} {
		b.Run(fmt.Sprintf("keys=%d", keys), func(b *testing.B) { benchDelta(b, keys, 10_000) })
	}
}

func benchDelta(b *testing.B, keys, changed int) {
	a := mustCompile(b, `define stream In (k string, v long);
from In select k, count() as n, sum(v) as s group by k insert into Out;`)
	rt := engine.NewRuntime(a)
	seq := uint64(0)
	apply := func(i int) {
		seq++
		in := engine.Input{Seq: seq, TS: int64(seq), Stream: "In", Data: []engine.Value{engine.StringValue(fmt.Sprintf("key-%08d", i%keys)), engine.LongValue(1)}}
		if err := rt.Apply(in, nil); err != nil {
			b.Fatal(err)
		}
	}
	for i := range keys {
		apply(i)
	}
	start := time.Now()
	full, err := rt.Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	fullTook := time.Since(start)
	b.ResetTimer()
	var size int
	for n := 0; n < b.N; n++ {
		b.StopTimer()
		for j := range changed {
			apply((n*changed + j) * 7919)
		}
		b.StartTimer()
		d, err := rt.SnapshotDelta()
		if err != nil {
			b.Fatal(err)
		}
		size = len(d)
	}
	b.ReportMetric(float64(size)/1e3, "delta-KB")
	b.ReportMetric(float64(len(full))/1e6, "full-MB")
	b.ReportMetric(float64(fullTook.Microseconds())/1e3, "full-ms")
}

// TestRebasedDeltaProperty: a hot passive restored to one revision of the active and then fed
// the same inputs can, after the active is gone, Rebase onto the active's newest revision (a
// delta, a new base or a compacted one) and take a delta that applies on it: restoring the
// active's chain plus that delta gives exactly the state of a runtime that took no revisions,
// and the same outputs afterwards.
func TestRebasedDeltaProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, src := compileMenuApp(t, "Rebase")
		if !engine.NewRuntime(a).DeltaSupported() {
			t.Skip("partitions: full snapshots only")
		}
		lines := genChurnInputs(t)
		var sink bytes.Buffer
		active, ref := engine.NewRuntime(a), engine.NewRuntime(a)
		warm := rapid.IntRange(0, len(lines)).Draw(t, "warm")
		applyAll(t, a, active, lines[:warm], 0, &sink)
		applyAll(t, a, ref, lines[:warm], 0, &sink)
		base, err := active.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		hot, err := engine.Restore(a, base) // the passive warms at the active's revision
		if err != nil {
			t.Fatal(err)
		}
		tip := base
		var deltas [][]byte
		cut := warm
		for cut < len(lines) && rapid.IntRange(0, 4).Draw(t, "more") > 0 {
			next := min(cut+rapid.IntRange(1, 4).Draw(t, "step"), len(lines))
			for _, rt := range []*engine.Runtime{active, ref, hot} {
				applyAll(t, a, rt, lines[:next], cut, &sink)
			}
			cut = next
			switch rapid.IntRange(0, 7).Draw(t, "revision") {
			case 0: // a new base
				if base, err = active.Snapshot(); err != nil {
					t.Fatal(err)
				}
				tip, deltas = base, nil
			case 1: // a compaction of the chain so far, then a delta on it
				c, err := engine.Restore(a, base, deltas...)
				if err != nil {
					t.Fatal(err)
				}
				if base, err = c.BaseSnapshot(); err != nil {
					t.Fatal(err)
				}
				deltas = nil
				fallthrough
			default:
				d, err := active.SnapshotDelta()
				if err != nil {
					t.Fatal(err)
				}
				tip, deltas = d, append(deltas, d)
			}
		}
		// The active is gone; the hot passive applied a few more inputs it held.
		end := min(cut+rapid.IntRange(0, 4).Draw(t, "held"), len(lines))
		applyAll(t, a, hot, lines[:end], cut, &sink)
		applyAll(t, a, ref, lines[:end], cut, &sink)
		h, err := engine.ReadSnapshotHeader(tip)
		if err != nil {
			t.Fatal(err)
		}
		if err := hot.Rebase(h.ID, h.LastSeq); err != nil {
			t.Fatal(err)
		}
		d, err := hot.SnapshotDelta()
		if err != nil {
			t.Fatal(err)
		}
		chain, err := engine.Restore(a, base, append(deltas, d)...)
		if err != nil {
			t.Fatalf("restore the active's chain + the rebased delta: %v\napp:\n%s", err, src)
		}
		got, err := chain.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		want, err := ref.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("warm at %d, tip at %d, end %d: the chain + rebased delta restores a different state\napp:\n%s", warm, h.LastSeq, end, src)
		}
		var out, refOut bytes.Buffer
		applyAll(t, a, chain, lines, end, &out)
		applyAll(t, a, ref, lines, end, &refOut)
		if out.String() != refOut.String() {
			t.Fatalf("outputs after the rebased restore differ from the uninterrupted run's\napp:\n%s", src)
		}
	})
}

// Rebase refuses what it can check: no revision, or a revision outside what the runtime tracked.
func TestRebaseChecks(t *testing.T) {
	a, err := engine.Compile("r.siddhi", "@app:name('R')\ndefine stream S (k string, v long);\nfrom S select k, sum(v) as s group by k insert into O;")
	if err != nil {
		t.Fatal(err)
	}
	rt := engine.NewRuntime(a)
	if err := rt.Rebase(7, 0); !errors.Is(err, engine.ErrNoBase) {
		t.Fatalf("rebase before any revision: %v, want ErrNoBase", err)
	}
	apply := func(seq uint64) {
		in, err := a.DecodeInput([]byte(fmt.Sprintf(`{"stream":"S","ts":%d,"data":{"k":"a","v":1}}`, seq)))
		if err != nil {
			t.Fatal(err)
		}
		in.Seq = seq
		if err := rt.Apply(in, func(*engine.Output) {}); err != nil {
			t.Fatal(err)
		}
	}
	apply(1)
	if _, err := rt.Snapshot(); err != nil {
		t.Fatal(err)
	}
	apply(2)
	apply(3)
	for _, seq := range []uint64{0, 4} {
		if err := rt.Rebase(9, seq); err == nil {
			t.Errorf("rebase onto input %d accepted (tracking since 1, applied up to 3)", seq)
		}
	}
	if err := rt.Rebase(9, 2); err != nil {
		t.Fatal(err)
	}
	if rt.Revision() != 9 {
		t.Fatalf("revision %d after rebase, want 9", rt.Revision())
	}
}
