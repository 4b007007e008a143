package engine_test

import (
	"strconv"
	"testing"

	"github.com/streamha/streamha/node/engine"
)

func benchInputs(n, syms int, dt int64) []engine.Input {
	names := make([]engine.Value, syms)
	for i := range names {
		names[i] = engine.StringValue("sym" + strconv.Itoa(i))
	}
	ins := make([]engine.Input, n)
	for i := range ins {
		ts := int64(i) * dt
		ins[i] = engine.Input{TS: ts, Stream: "S", Data: []engine.Value{
			names[(i*7919)%syms], engine.DoubleValue(float64(i%100) + 0.5), engine.IntValue(int32(i % 10)), engine.LongValue(ts)}}
	}
	return ins
}

func runBench(b *testing.B, query string, ins []engine.Input) {
	a := mustCompile(b, schema+query)
	rt := engine.NewRuntime(a)
	outs := 0
	emit := func(*engine.Output) { outs++ }
	b.ReportAllocs()
	b.ResetTimer()
	seq := uint64(0)
	for i := 0; i < b.N; i++ {
		in := ins[i%len(ins)]
		seq++
		in.Seq = seq
		in.TS += int64(i/len(ins)) * ins[len(ins)-1].TS
		if err := rt.Apply(in, emit); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(outs)/float64(b.N), "outputs/event")
}

func BenchmarkFilter(b *testing.B) {
	runBench(b, `from S[price > 50.0 and vol != 3] select sym, price insert into O;`, benchInputs(1<<16, 100, 1))
}

func BenchmarkTimeWindowGroupBy(b *testing.B) {
	runBench(b, `from S#window.time(1 sec) select sym, avg(price) as ap, count() as c group by sym insert into O;`,
		benchInputs(1<<16, 100, 1))
}

func BenchmarkLengthBatchGroupBy(b *testing.B) {
	runBench(b, `from S#window.lengthBatch(1000) select sym, sum(vol) as s, max(price) as hi group by sym insert into O;`,
		benchInputs(1<<16, 100, 1))
}

func BenchmarkPattern(b *testing.B) {
	runBench(b, `from every e1=S[vol == 9] -> e2=S[sym == e1.sym and price >= e1.price] within 100 ms
select e1.sym as sym, e1.price as p1, e2.price as p2 insert into O;`, benchInputs(1<<16, 100, 1))
}

// BenchmarkJoin joins S and T (inputs alternate, the mth of each with symbol m*19 mod 100) over
// two length(100) windows on an equality of symbols: each arrival probes 100 events and matches one.
func BenchmarkJoin(b *testing.B) {
	ins := benchInputs(1<<16, 100, 1)
	syms := make([]engine.Value, len(ins))
	for i := range ins {
		syms[i] = ins[i/2].Data[0]
	}
	for i := range ins {
		ins[i].Data[0] = syms[i]
		if i%2 == 1 {
			ins[i].Stream = "T"
		}
	}
	runBench(b, `define stream T (sym string, price double, vol int, ets long);
from S#window.length(100) as s join T#window.length(100) as t on s.sym == t.sym
select s.sym as sym, s.price as p1, t.price as p2 insert into O;`, ins)
}

// BenchmarkSnapshotRestore1MKeys measures Snapshot + Restore of a group-by with 1M keys.
func BenchmarkSnapshotRestore1MKeys(b *testing.B) {
	const keys = 1_000_000
	a := mustCompile(b, schema+`from S select sym, count() as c, sum(vol) as s, max(price) as hi group by sym insert into O;`)
	rt := engine.NewRuntime(a)
	for i, in := range benchInputs(keys, keys, 1) {
		in.Seq = uint64(i + 1)
		if err := rt.Apply(in, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	var size int
	for i := 0; i < b.N; i++ {
		blob, err := rt.Snapshot()
		if err != nil {
			b.Fatal(err)
		}
		size = len(blob)
		if _, err := engine.Restore(a, blob); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(size)/1e6, "MB")
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/snapshot+restore")
}
