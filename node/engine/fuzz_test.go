package engine_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/streamha/streamha/node/engine"
)

// Seed apps for FuzzCompile; the committed corpus lives in testdata/fuzz/<FuzzName>/.
var seedApps = []string{
	schema + menuQuery(0, 0),
	schema + menuQuery(76, 0),
	schema + menuQuery(77, 0),
	schema + menuQuery(80, 0),
	schema + menuQuery(3, 0),
	schema + menuQuery(8, 0),
	schema + menuQuery(9, 0),
	schema + menuQuery(12, 0),
	schema + menuQuery(13, 0),
	schema + menuQuery(14, 0),
	"@app:name('A')\n@sink(type='http', url='http://x')\ndefine stream S (a int, b string);\nfrom S[not (a > 1) or b == 'x'] select coalesce(b, 'y') as c, cast(a, 'long') * 2L as d insert into O;",
	"define stream S (a int); from S#window.externalTimeBatch(a, 1 min 30 sec) select count(*) as c, distinctCount(a) as d having c > 1 insert current events into O;",
	"from", "define stream", "@", "/* x", "'", "define stream S (a int); from every (e1=S -> e2=S) within 1 day select e1.a as x insert into O;",
	schema + menuQuery(16, 0),
	schema + menuQuery(17, 0),
	schema + menuQuery(22, 0),
	schema + menuQuery(25, 0),
	"define stream S (a int, b string); from S#window.lengthBatch(10) select b, sum(a) as t group by b having t > 0 order by t desc, b asc limit 3 offset 1 output last every 2 events insert all events into O;",
	"define stream S (a int); from S select count() as c output snapshot every 1 min 30 sec insert into O;",
	"define stream S (a int); from S select a output first every 100 ms insert into O;",
	"define stream S (a int); from S select a as x order by S.a desc limit 0 output all every 1 event insert into O;",
	schema + menuQuery(26, 0),
	schema + menuQuery(28, 0),
	schema + menuQuery(29, 0),
	"define stream L (k string, x int); define stream R (k string, y int); from L[x > 0]#window.time(1 sec) as l unidirectional left outer join R#window.externalTime(y, 5 sec) as r on l.k == r.k and not (r.y is null) select l.k, count() as c group by l.k having c > 0 order by c desc limit 5 insert all events into O;",
	"define stream L (k string, x int); define stream R (k string, y int); from L full outer join R#window.length(3) on L.k == R.k select x, y output last every 2 events insert into O;",
	"define stream L (k string); from L#window.length(2) as a inner join L as b unidirectional select a.k as p, b.k as q insert expired events into O;",
	schema + menuQuery(32, 0),
	schema + menuQuery(33, 0),
	schema + menuQuery(36, 0),
	schema + menuQuery(38, 0),
	"define stream A (x int); define stream B (y int); from every e1=A<2:> -> e2=B[y > e1[last].x]<:3> -> e3=A<1> within 1 min select e1[0].x as f, e2[1].y as g, e3[0].x as h insert into O;",
	"define stream A (x int); define stream B (y int); from e1=A -> not B[y == e1.x] for 1 min 30 sec -> e3=A[x > e1.x] select e1.x as a, e3.x as b insert into O;",
	"define stream A (x int); define stream B (y int); from every not A for 1 sec -> e2=B -> every (not A[x == e2.y] for 2 sec) select e2.y as a insert into O;",
	"define stream A (x int); from not A and e2=A select e2.x as b insert into O;",
	"define stream A (x int); from e1=A<0:0> -> e2=A<-1> -> not A for -> e3=A<:> select e1.x as b insert into O;",
	schema + menuQuery(40, 0),
	schema + menuQuery(41, 0),
	schema + menuQuery(42, 0),
	"define stream S (a int, b string); define table T (a int, b string); from S select a, b update or insert into T set T.a = T.a + a, T.b = b on T.b == b; from S#window.length(2) as s left outer join T as t on s.b == t.b select s.a as x, t.a as y insert all events into O;",
	"define table T (a int); from T select a insert into O; from S select a delete T on T.a == a; update",
	"@primaryKey('a') define table T (a int); define stream S (a int); from S select a update T set a = 1 on T.a > a;",
	schema + menuQuery(43, 0),
	schema + menuQuery(44, 0),
	schema + menuQuery(45, 0),
	schema + menuQuery(46, 0),
	"define stream A (x int); define stream B (y int); from every (e1=A[x > 1] or (e2=B)) -> e3=A and e4=B[y > e1.x] within 2 sec select e1.x as a, e2.y as b, e4.y as c insert into O;",
	"define stream A (x int); from e1=A and e2=A or e3=A -> e4=A<2> and not A for 1 sec select e1.x as a insert into O;",
	schema + menuQuery(47, 0),
	"define stream S (a int, b string); define table T (a int, b string); from S[a == T.a and b != T.b in T or a > 1] select b, (T.a > a in T) as c insert into O; from S#window.length(1) as s join T on s.a == T.a select s.b, (T.b == s.b in T) as d insert into P;",
	"define table T (a int); define stream S (a int); from S[a in T] select a in T as x, (a == T.a in T in T) insert into O;",
	schema + menuQuery(48, 0),
	schema + menuQuery(50, 0),
	"define stream A (x int); from every e1=A[x > 1]+, e2=A[x < e1[last].x], e3=A* select e1[0].x as a, e3[0].x as b insert into O;",
	schema + menuQuery(53, 0),
	schema + menuQuery(55, 0),
	schema + menuQuery(57, 0),
	schema + menuQuery(58, 0),
	"define stream A (x int); define stream B (y int); from (not A for 1 sec and not B) -> e3=A or not B for 2 sec select e3.x as a insert into O;",
	"define stream A (x int); from e1=A -> (not A[x == e1.x] for 1 sec or e2=A) -> not A for 1 sec select e2.x as a insert into O;",
}

func propApp(tb testing.TB) *engine.App {
	return mustCompile(tb, "@app:name('Prop')\n"+schema+strings.Join([]string{
		menuQuery(1, 1), menuQuery(3, 3), menuQuery(4, 4), menuQuery(6, 6), menuQuery(8, 8), menuQuery(10, 10), menuQuery(12, 12),
	}, "\n"))
}

// rateApp has order by/limit and every kind of output rate limiter, for FuzzRestoreRate.
func rateApp(tb testing.TB) *engine.App {
	return mustCompile(tb, "@app:name('Rate')\n"+schema+strings.Join([]string{
		menuQuery(17, 1), menuQuery(18, 2), menuQuery(19, 3), menuQuery(20, 4), menuQuery(21, 5), menuQuery(22, 6), menuQuery(23, 7),
	}, "\n"))
}

// seedSnapshots returns snapshots of propApp after a few inputs.
func seedSnapshots(tb testing.TB) [][]byte { return snapshotsOf(tb, propApp(tb)) }

// snapshotsOf returns snapshots of app a after a few inputs.
func snapshotsOf(tb testing.TB, a *engine.App) [][]byte {
	rt := engine.NewRuntime(a)
	var blobs [][]byte
	for i := 0; i < 12; i++ {
		line := fmt.Sprintf(`{"stream":"S","ts":%d,"data":{"sym":"%c","price":%d,"vol":%d,"ets":%d}}`, 1000+i*150, 'a'+i%3, 10+i*9, i%10, 1000+i*150)
		in, err := a.DecodeInput([]byte(line))
		if err != nil {
			tb.Fatal(err)
		}
		in.Seq = uint64(i + 1)
		if err := rt.Apply(in, nil); err != nil {
			tb.Fatal(err)
		}
		if i%4 == 0 || i == 11 {
			b, _ := rt.Snapshot()
			blobs = append(blobs, b)
		}
	}
	return blobs
}

func FuzzCompile(f *testing.F) {
	for _, s := range seedApps {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		a, err := engine.Compile("fuzz.siddhi", src)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.siddhi:") {
				t.Fatalf("error without location: %v", err)
			}
			return
		}
		rt := engine.NewRuntime(a)
		if _, err := rt.Snapshot(); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzRestore(f *testing.F) {
	for _, b := range seedSnapshots(f) {
		f.Add(b)
	}
	f.Add([]byte("SHASNAP\x01"))
	fuzzRestore(f, propApp(f))
}

// joinApp has inner, outer, unidirectional and window-less joins, for FuzzRestoreJoin.
func joinApp(tb testing.TB) *engine.App {
	return mustCompile(tb, "@app:name('Join')\n"+schema+strings.Join([]string{
		menuQuery(26, 1), menuQuery(27, 2), menuQuery(28, 3), menuQuery(29, 4), menuQuery(30, 5),
	}, "\n"))
}

// FuzzRestoreJoin is FuzzRestore for an app with joins.
func FuzzRestoreJoin(f *testing.F) {
	fuzzRestoreSeeded(f, joinApp(f))
}

// patternApp has counting and absent patterns and absent sequences, for FuzzRestorePattern.
func patternApp(tb testing.TB) *engine.App {
	return mustCompile(tb, "@app:name('Pat')\n"+schema+strings.Join([]string{
		menuQuery(32, 1), menuQuery(33, 2), menuQuery(34, 3), menuQuery(35, 4), menuQuery(36, 5), menuQuery(37, 6), menuQuery(38, 7), menuQuery(39, 8),
		menuQuery(53, 9), menuQuery(54, 10), menuQuery(55, 11), menuQuery(56, 12), menuQuery(57, 13), menuQuery(58, 14),
		menuQuery(59, 15), menuQuery(60, 16), menuQuery(61, 17), menuQuery(62, 18), menuQuery(63, 19),
		menuQuery(76, 20), menuQuery(77, 21), menuQuery(78, 22), menuQuery(79, 23), menuQuery(82, 24), menuQuery(83, 25), menuQuery(84, 26), menuQuery(86, 27),
	}, "\n"))
}

// FuzzRestorePattern is FuzzRestore for an app with counting and absent patterns.
func FuzzRestorePattern(f *testing.F) {
	fuzzRestoreSeeded(f, patternApp(f))
}

// TestCommittedSnapshotsRestore checks that the committed FuzzRestore seeds (snapshots of
// propApp taken by earlier versions, before output rate limiting existed) still restore: the
// format of apps without it must not change. A missing seed fails the test rather than leaving
// it nothing to check.
func TestCommittedSnapshotsRestore(t *testing.T) {
	const committed = 4 // seed-00 … seed-03
	a := propApp(t)
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzRestore", "seed-*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < committed {
		t.Fatalf("found %d FuzzRestore seeds in testdata/fuzz/FuzzRestore, want the %d committed ones (%v)", len(files), committed, files)
	}
	for _, fn := range files {
		raw, err := os.ReadFile(fn)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
		last := lines[len(lines)-1]
		if len(lines) != 2 || lines[0] != "go test fuzz v1" || !strings.HasPrefix(last, "[]byte(") {
			t.Fatalf("%s: not a one-value []byte fuzz seed", fn)
		}
		blob, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(last, "[]byte("), ")"))
		if err != nil {
			t.Fatalf("%s: %v", fn, err)
		}
		if _, err := engine.Restore(a, []byte(blob)); err != nil {
			t.Fatalf("%s: %v", fn, err)
		}
	}
}

// FuzzRestoreRate is FuzzRestore for an app with output rate limiters.
func FuzzRestoreRate(f *testing.F) {
	fuzzRestoreSeeded(f, rateApp(f))
}

// fuzzRestoreSeeded is fuzzRestore seeded with snapshots of a after a few inputs, so that each
// app's fuzzer starts from valid blobs of that app.
func fuzzRestoreSeeded(f *testing.F, a *engine.App) {
	for _, b := range snapshotsOf(f, a) {
		f.Add(b)
	}
	fuzzRestore(f, a)
}

// fuzzRestore checks that restoring any blob into a either fails or yields a runtime that runs.
func fuzzRestore(f *testing.F, a *engine.App) {
	f.Fuzz(func(t *testing.T, blob []byte) {
		rt, err := engine.Restore(a, blob)
		if err != nil {
			return
		}
		// a restored runtime must keep running without panics
		in, _ := a.DecodeInput([]byte(`{"stream":"S","ts":99999,"data":{"sym":"a","price":50,"vol":7,"ets":99999}}`))
		in.Seq = rt.LastSeq() + 1
		if in.Seq == 0 {
			return
		}
		_ = rt.Apply(in, func(*engine.Output) {})
		_ = rt.Apply(engine.Input{Seq: in.Seq + 1, TS: 1 << 62}, func(*engine.Output) {})
	})
}

func FuzzDecodeValues(f *testing.F) {
	a := mustCompile(f, "define stream S (s string, i int, l long, d double, f float, b bool);")
	s, _ := a.Stream("S")
	f.Add(engine.AppendValues(nil, []engine.Value{engine.StringValue("x"), engine.IntValue(-1), engine.LongValue(1 << 40),
		engine.DoubleValue(1.5), engine.FloatValue(2), engine.BoolValue(true)}))
	f.Add(engine.AppendValues(nil, make([]engine.Value, 6)))
	f.Fuzz(func(t *testing.T, b []byte) {
		vals, n, err := s.DecodeValues(b)
		if err != nil {
			return
		}
		if n > len(b) || len(vals) != 6 {
			t.Fatalf("n %d len %d vals %d", n, len(b), len(vals))
		}
		// varints may be non-minimal on the wire; the values must round-trip
		again := engine.AppendValues(nil, vals)
		back, m, err := s.DecodeValues(again)
		if err != nil || m != len(again) {
			t.Fatalf("re-decode: %v", err)
		}
		for i := range back {
			if !back[i].Equal(vals[i]) {
				t.Fatalf("value %d: %v != %v", i, back[i], vals[i])
			}
		}
	})
}

func FuzzDecodeJSON(f *testing.F) {
	a := mustCompile(f, "define stream S (s string, i int, l long, d double, f float, b bool);")
	s, _ := a.Stream("S")
	f.Add(`{"s":"x","i":1,"l":2,"d":3.5,"f":4,"b":false,"_ts":5}`)
	f.Add(`{"stream":"S","ts":1,"data":{"i":2}}`)
	f.Add(`{"tick":12}`)
	f.Add(`{"i":1e9,"l":-9223372036854775808}`)
	f.Fuzz(func(t *testing.T, in string) {
		if vals, _, _, err := s.DecodeJSON([]byte(in)); err == nil {
			if err := s.CheckValues(vals); err != nil {
				t.Fatal(err)
			}
		}
		if inp, err := a.DecodeInput([]byte(in)); err == nil && inp.Stream != "" {
			if err := s.CheckValues(inp.Data); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestWriteFuzzCorpus regenerates testdata/fuzz seeds when STREAMHA_WRITE_CORPUS=1.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("STREAMHA_WRITE_CORPUS") != "1" {
		t.Skip("set STREAMHA_WRITE_CORPUS=1 to regenerate the seed corpus")
	}
	write := func(name string, i int, typ, val string) {
		dir := filepath.Join("testdata", "fuzz", name)
		os.MkdirAll(dir, 0o755)
		body := "go test fuzz v1\n" + typ + "(" + val + ")\n"
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range seedApps {
		write("FuzzCompile", i, "string", strconv.Quote(s))
	}
	for i, b := range seedSnapshots(t) {
		write("FuzzRestore", i, "[]byte", strconv.Quote(string(b)))
	}
	write("FuzzDecodeValues", 0, "[]byte", strconv.Quote(string(engine.AppendValues(nil, []engine.Value{engine.StringValue("x"), engine.IntValue(7), engine.NullValue(), engine.DoubleValue(2), engine.FloatValue(1), engine.BoolValue(false)}))))
	write("FuzzDecodeJSON", 0, "string", strconv.Quote(`{"s":"x","i":1,"l":2,"d":3.5,"f":4,"b":false,"_ts":5}`))
	write("FuzzDecodeJSON", 1, "string", strconv.Quote(`{"stream":"S","ts":1,"data":{"i":2}}`))
}
