package ha

import (
	"reflect"
	"strconv"
	"testing"

	"github.com/streamha/streamha/node/engine"
)

// TestOutSlabCloneIsACopy: across chunk boundaries, a slab copy equals Clone's and shares no
// values with the engine's output, whose Data the engine reuses after the emit call.
func TestOutSlabCloneIsACopy(t *testing.T) {
	var b outSlab
	vals := make([]engine.Value, 3)
	var got, want []*engine.Output
	for i := 0; i < 3*slabOutputs; i++ {
		n := i % 4 // 0 to 3 values, so the value chunks also run out mid-way
		for k := 0; k < n; k++ {
			vals[k] = engine.LongValue(int64(i*10 + k))
		}
		o := &engine.Output{ID: "A/q/" + strconv.Itoa(i) + "/0", Stream: "Out", Seq: uint64(i), Data: vals[:n]}
		got = append(got, b.clone(o))
		want = append(want, o.Clone())
		for k := range vals {
			vals[k] = engine.StringValue("overwritten")
		}
	}
	for i := range got {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("output %d: slab copy %+v, Clone %+v", i, got[i], want[i])
		}
	}
}

// BenchmarkOutputCopy compares the outbox's copies: Clone (two allocations per output) and the
// slab; the copies are dropped in order, as the dispatcher trims them.
func BenchmarkOutputCopy(b *testing.B) {
	o := &engine.Output{ID: "Filter/q/1/0", Stream: "Out", Data: []engine.Value{engine.LongValue(1), engine.StringValue("S1"), engine.DoubleValue(1.5)}}
	keep := make([]*engine.Output, 4096)
	b.Run("clone", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			keep[i%len(keep)] = o.Clone()
		}
	})
	b.Run("slab", func(b *testing.B) {
		var s outSlab
		for i := 0; i < b.N; i++ {
			keep[i%len(keep)] = s.clone(o)
		}
	})
}
