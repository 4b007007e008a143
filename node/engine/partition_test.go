package engine_test

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/streamha/streamha/node/engine"
	"pgregory.net/rapid"
)

// TestPartitionCompileErrors checks that bad partitions are refused with an error naming what
// is wrong and where.
func TestPartitionCompileErrors(t *testing.T) {
	const s = "define stream S (k string, p int);\ndefine table T (k string);\n"
	cases := []struct{ src, want string }{
		{s + "partition with (k of X) begin from S select k insert into O; end;", "3:22: unknown stream X in partition with"},
		{s + "partition with (z of S) begin from S select k insert into O; end;", "3:17: stream S has no attribute z"},
		{s + "partition with (p + 1 as 'a' of S) begin from S select k insert into O; end;", "3:19: partition range condition must be a bool condition, got int"},
		{s + "partition with (k of T) begin from S select k insert into O; end;", "3:22: table T cannot be partitioned"},
		{s + "partition with (k of S, p of S) begin from S select k insert into O; end;", "3:30: stream S is partitioned twice"},
		{s + "partition with (sum(p) of S) begin from S select k insert into O; end;", "3:17: aggregate function sum is only allowed in select"},
		{s + "from #I select k insert into O;", "3:6: inner stream #I is only visible inside a partition"},
		{s + "from S select k insert into #I;", "3:29: inner stream #I is only visible inside a partition"},
		{s + "partition with (k of S) begin from S select k insert into #I; end;\nfrom S[k == #I.k] select k insert into O;", "4:13: inner stream #I is only visible inside a partition"},
		{s + "partition with (k of S) begin from S select k insert into #I; end;\npartition with (k of S) begin from #I select k insert into O; end;", "4:36: unknown inner stream #I: no query of this partition inserts into it"},
		{s + "partition with (k of S) begin from # I select k insert into O; end;", "3:36: write an inner stream as #I"},
		{s + "partition with (k of S) begin partition with (k of S) begin end; end;", "3:31: partitions cannot be nested"},
		{s + "partition with (k of S) begin define stream X (a int); end;", "3:31: definitions are not allowed inside a partition"},
		{s + "partition with (k of S) begin end;", "3:1: a partition needs at least one query"},
		{s + "partition with (k of S) begin from S select k insert into O;", "expected 'from' or 'end' in the partition, found end of input"},
		{s + "partition with (p < 1 as low of S) begin from S select k insert into O; end;", "3:26: expected a quoted range label"},
		{s + "@purge(enable='true', interval='1 sec') partition with (k of S) begin from S select k insert into O; end;", "3:1: @purge(enable='true') needs idle.period"},
		{s + "@purge(enable='true', interval='soon', idle.period='1 sec') partition with (k of S) begin from S select k insert into O; end;", "3:23: @purge interval \"soon\" is not a positive time"},
		{s + "@purge(enable='yes') partition with (k of S) begin from S select k insert into O; end;", "3:1: @purge needs enable='true' or enable='false'"},
		{s + "@purge(enable='true', every='1 sec') partition with (k of S) begin from S select k insert into O; end;", "3:23: unknown @purge option \"every\""},
		{s + "@sink(type='log') partition with (k of S) begin from S select k insert into O; end;", "3:1: @sink is not allowed on a partition"},
	}
	for _, c := range cases {
		_, err := engine.Compile("app", c.src)
		var ce *engine.CompileError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("compile %q:\n got %v\nwant %q", c.src, err, c.want)
		}
	}
}

// TestPartitionIDsAndSnapshot checks that the instances of one query share its id counter
// (two keys' batches ending at one clock advance get indexes 0 and 1) and that a restored
// runtime keeps each key's state apart.
func TestPartitionIDsAndSnapshot(t *testing.T) {
	a := mustCompile(t, `@app:name('P')
define stream S (k string, p int);
partition with (k of S) begin
  @info(name='q') from S#window.timeBatch(1 sec) select k, sum(p) as t insert into O;
end;`)
	rt := engine.NewRuntime(a)
	var got []string
	emit := func(o *engine.Output) { got = append(got, fmt.Sprintf("%s %v", o.ID, o.Data)) }
	in := []engine.Input{
		{Seq: 1, TS: 0, Stream: "S", Data: []engine.Value{engine.StringValue("a"), engine.IntValue(1)}},
		{Seq: 2, TS: 0, Stream: "S", Data: []engine.Value{engine.StringValue("b"), engine.IntValue(2)}},
		{Seq: 3, TS: 500, Stream: "S", Data: []engine.Value{engine.StringValue("a"), engine.IntValue(10)}},
	}
	for _, i := range in {
		if err := rt.Apply(i, emit); err != nil {
			t.Fatal(err)
		}
	}
	blob, err := rt.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	rt2, err := engine.Restore(a, blob)
	if err != nil {
		t.Fatal(err)
	}
	if err := rt2.Apply(engine.Input{Seq: 4, TS: 1000}, emit); err != nil {
		t.Fatal(err)
	}
	want := []string{"P/q/4/0 [a 11]", "P/q/4/1 [b 2]"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("outputs %q, want %q", got, want)
	}
}

// TestPartitionInstanceMemory measures the heap one partition key costs (a length window of
// two events and a sum) and bounds it, so that per-key state stays compact.
func TestPartitionInstanceMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 50K partition instances")
	}
	a := mustCompile(t, `define stream S (k string, p int);
partition with (k of S) begin
  from S#window.length(2) select k, sum(p) as t insert into O;
end;`)
	const keys = 50_000
	rt := engine.NewRuntime(a)
	data := make([][]engine.Value, keys)
	for i := range data {
		data[i] = []engine.Value{engine.StringValue(fmt.Sprintf("key-%06d", i)), engine.IntValue(int32(i))}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range keys {
		if err := rt.Apply(engine.Input{Seq: uint64(i + 1), TS: int64(i), Stream: "S", Data: data[i]}, nil); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perKey := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / keys
	t.Logf("partition instance: %d heap bytes per key (length(2) window and sum)", perKey)
	if perKey > 4096 {
		t.Fatalf("a partition key costs %d heap bytes, want at most 4096", perKey)
	}
	runtime.KeepAlive(rt)
}

// BenchmarkPartitionTimeWindow applies events spread over 10K partition keys, each with its own
// 1 sec time window: the instances' timers are kept in a heap, so an event costs about the same
// as with few keys.
func BenchmarkPartitionTimeWindow(b *testing.B) {
	a := mustCompile(b, `define stream S (k string, p int);
partition with (k of S) begin
  from S#window.time(1 sec) select k, sum(p) as t insert into O;
end;`)
	const keys = 10_000
	data := make([][]engine.Value, keys)
	for i := range data {
		data[i] = []engine.Value{engine.StringValue(fmt.Sprintf("key-%06d", i)), engine.IntValue(int32(i))}
	}
	rt := engine.NewRuntime(a)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := rt.Apply(engine.Input{Seq: uint64(i + 1), TS: int64(i), Stream: "S", Data: data[i%keys]}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPartitionOneKeyProperty checks that queries inside "partition with (sym of S)" fed events
// of a single key give exactly the outputs (ids and data) of the same queries outside a
// partition: one instance behaves as the query itself (windows, patterns, absent waits, joins,
// rate limiters, timers and their order).
func TestPartitionOneKeyProperty(t *testing.T) {
	var menu []int
	for j, q := range queryMenu {
		if !strings.Contains(q, "define ") && !strings.Contains(q, "partition") {
			menu = append(menu, j)
		}
	}
	rapid.Check(t, func(t *rapid.T) {
		k := rapid.IntRange(1, 3).Draw(t, "queries")
		qs := make([]string, k)
		for i := range qs {
			qs[i] = menuQuery(rapid.SampledFrom(menu).Draw(t, "query"), i)
		}
		plain := "@app:name('Prop')\n" + schema + strings.Join(qs, "\n")
		parted := "@app:name('Prop')\n" + schema + "partition with (sym of S) begin\n" + strings.Join(qs, "\n") + "\nend;"
		a, err := engine.Compile("plain.siddhi", plain)
		if err != nil {
			t.Fatalf("compile: %v\n%s", err, plain)
		}
		b, err := engine.Compile("parted.siddhi", parted)
		if err != nil {
			t.Fatalf("compile: %v\n%s", err, parted)
		}
		lines := genInputs(t)
		for i, l := range lines { // one key; the first input is an event, which creates the instance
			lines[i] = strings.NewReplacer(`"sym":"b"`, `"sym":"a"`, `"sym":"c"`, `"sym":"a"`).Replace(l)
		}
		if strings.HasPrefix(lines[0], `{"tick"`) {
			lines[0] = `{"stream":"S","ts":1000000,"data":{"sym":"a","price":1,"vol":1,"ets":1000000}}`
		}
		var want, got bytes.Buffer
		applyAll(t, a, engine.NewRuntime(a), lines, 0, &want)
		applyAll(t, b, engine.NewRuntime(b), lines, 0, &got)
		if got.String() != want.String() {
			t.Fatalf("outputs differ\napp:\n%s\nplain:\n%s\npartitioned:\n%s", plain, want.String(), got.String())
		}
	})
}

// partitionApp has the partition templates of queryMenu (per-key windows, inner streams, range
// keys with absent patterns, @purge, a stream every instance takes), for FuzzRestorePartition.
func partitionApp(tb testing.TB) *engine.App {
	var qs []string
	for j, q := range queryMenu {
		if strings.Contains(q, "partition with") {
			qs = append(qs, menuQuery(j, j))
		}
	}
	return mustCompile(tb, "@app:name('Part')\n"+schema+strings.Join(qs, "\n"))
}

// FuzzRestorePartition is FuzzRestore for an app with partitions.
func FuzzRestorePartition(f *testing.F) {
	fuzzRestoreSeeded(f, partitionApp(f))
}

// FuzzCompilePartition is FuzzCompile seeded with partition syntax: any source compiles or
// fails with a located error, and a compiled app snapshots.
func FuzzCompilePartition(f *testing.F) {
	f.Add("define stream S (k string, p int);\npartition with (k of S) begin from S#window.length(2) select k, sum(p) as t insert into #I; from #I[#I.t > 1] select k insert into O; end;")
	f.Add("define stream S (k string, p int);\n@purge(enable='true', interval='1 sec', idle.period='2 sec') partition with (p < 10 as 'lo' or p >= 10 as 'hi' of S) begin from every e1=S -> not S[p > e1.p] for 1 sec select e1.k as k insert into O end")
	f.Fuzz(func(t *testing.T, src string) {
		a, err := engine.Compile("fuzz.siddhi", src)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.siddhi:") {
				t.Fatalf("error without location: %v", err)
			}
			return
		}
		if _, err := engine.NewRuntime(a).Snapshot(); err != nil {
			t.Fatal(err)
		}
	})
}
