package engine_test

import (
	"fmt"
	"strings"
	"testing"
)

// TestSnapshotIdlePeriods checks that output snapshot emits once per period while the snapshot
// is not empty, also in periods without events, and stops when the window empties.
func TestSnapshotIdlePeriods(t *testing.T) {
	a := mustCompile(t, "@app:name('A')\n"+schema+`from S#window.time(2500 ms) select sym output snapshot every 1 sec insert into O;`)
	outs := runLines(t, a, []string{ev(0, "a", 0, 1), ev(100, "b", 0, 1), tick(10000)})
	want := []string{"O@1000 a", "O@1000 b", "O@2000 a", "O@2000 b"} // a expires at 2500, b at 2600
	if got := fmtAll(outs); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// TestSnapshotClockJump checks that a clock jump over many periods emits a bounded number of
// snapshots (maxPeriods), then the periods go on from the new clock.
func TestSnapshotClockJump(t *testing.T) {
	a := mustCompile(t, "@app:name('A')\n"+schema+`from S select sym output snapshot every 1 ms insert into O;`)
	outs := runLines(t, a, []string{ev(0, "a", 0, 1), tick(1 << 50), tick(1<<50 + 2)})
	if len(outs) != 10000+2 {
		t.Fatalf("got %d snapshots, want 10000 for the jump and 2 after it", len(outs))
	}
	if got, want := fmtOut(outs[len(outs)-1]), fmt.Sprintf("O@%d a", int64(1<<50+2)); got != want {
		t.Fatalf("last snapshot %q, want %q", got, want)
	}
}

// TestAggregateRemovals checks stdDev, and, or and maxForever over a sliding window, where
// values leave the aggregates again (maxForever keeps its extreme).
func TestAggregateRemovals(t *testing.T) {
	a := mustCompile(t, "@app:name('A')\n"+schema+`from S#window.length(2) select stdDev(price) as sd, and(vol == 1) as a, or(vol == 1) as o, maxForever(price) as mf insert into O;`)
	outs := runLines(t, a, []string{ev(0, "a", 9, 1), ev(1, "a", 1, 0), ev(2, "a", 3, 0), ev(3, "a", 3, 0)})
	want := []string{"O@0 0,true,true,9", "O@1 4,false,true,9", "O@2 1,false,false,9", "O@3 0,false,false,9"}
	if got := fmtAll(outs); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// TestUUIDDeterministic checks that UUID() gives distinct RFC 4122 strings, the same ones
// again when the inputs are applied again (restore + replay relies on it).
func TestUUIDDeterministic(t *testing.T) {
	a := mustCompile(t, "@app:name('A')\n"+schema+`from S select UUID() as u insert into O; from S select UUID() as u insert into P;`)
	lines := []string{ev(0, "a", 0, 1), ev(1, "b", 0, 1)}
	first, again := fmtAll(runLines(t, a, lines)), fmtAll(runLines(t, a, lines))
	if strings.Join(first, "|") != strings.Join(again, "|") {
		t.Fatalf("UUIDs differ between runs: %v and %v", first, again)
	}
	seen := map[string]bool{}
	for _, o := range first {
		u := o[strings.IndexByte(o, ' ')+1:]
		if len(u) != 36 || u[14] != '5' || seen[u] {
			t.Fatalf("bad or repeated UUID %q in %v", u, first)
		}
		seen[u] = true
	}
}

// TestSnapshotBatchCurrentOnly checks output snapshot over a batch window of a query that
// outputs current events only (the window keeps no expired batch): the last batch is emitted.
func TestSnapshotBatchCurrentOnly(t *testing.T) {
	a := mustCompile(t, "@app:name('A')\n"+schema+`from S#window.lengthBatch(2) select sym, sum(vol) as v output snapshot every 1 sec insert into O;`)
	outs := runLines(t, a, []string{ev(0, "a", 0, 1), ev(1, "b", 0, 2), ev(2, "c", 0, 3), ev(3, "d", 0, 4), ev(4, "e", 0, 5), tick(1000)})
	want := []string{"O@1000 c,7", "O@1000 d,7"}
	if got := fmtAll(outs); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %v, want %v", got, want)
	}
}
