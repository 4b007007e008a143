package engine_test

import (
	"strings"
	"testing"

	"github.com/streamha/streamha/node/engine"
)

// tableSchema adds a table T(k string, v int) to L(k string, x int) and R(k string, y int).
const tableSchema = joinSchema + "define table T (k string, v int);\n"

// fillT inserts L's events into T.
const fillT = "from L[x > 0] select k, x as v insert into T;\n"

// dumpT emits T's rows, in order, for each R event: O(k, v) with T.v > y.
const dumpT = "\nfrom R join T on T.v > y select T.k as k, T.v as v insert into O;"

var tableCases = []struct {
	name  string
	query string
	in    []string
	want  []string
}{
	{"insert and inner join", fillT + `from R join T on R.k == T.k select R.k as k, T.v as v, y insert into O;`,
		[]string{lv(1, "a", 1), lv(2, "b", 2), lv(3, "a", 3), rv(4, "a", 10), rv(5, "c", 20)},
		[]string{"O@4 a,1,10", "O@4 a,3,10"}},
	{"left outer join", fillT + `from R as r left outer join T on r.k == T.k select r.k as k, T.v as v, y insert into O;`,
		[]string{lv(1, "a", 1), rv(2, "c", 20), lv(3, "c", 3), rv(4, "c", 30)},
		[]string{"O@2 c,null,20", "O@4 c,3,30"}},
	{"full outer join with a table: the stream side's outer join", fillT + `from T full outer join R on T.k == R.k select R.k as k, T.v as v, y insert into O;`,
		[]string{lv(1, "a", 1), rv(2, "c", 20), rv(3, "a", 30)},
		[]string{"O@2 c,null,20", "O@3 a,1,30"}},
	{"right outer join with the table on the left", fillT + `from T as t right outer join R on t.k == R.k select R.k as k, t.v as v, y insert into O;`,
		[]string{lv(1, "a", 1), rv(2, "c", 20), rv(3, "a", 30)},
		[]string{"O@2 c,null,20", "O@3 a,1,30"}},
	{"delete keeps the order of the rest", fillT + `from L[x < 0] select k delete T on T.k == k;` + dumpT,
		[]string{lv(1, "a", 1), lv(2, "b", 2), lv(3, "c", 3), lv(4, "a", 4), lv(5, "a", -1), rv(6, "z", 0)},
		[]string{"O@6 b,2", "O@6 c,3"}},
	{"update with set", fillT + `from L[x < 0] select k, x update T set T.v = T.v * x on T.k == k;` + dumpT,
		[]string{lv(1, "a", 1), lv(2, "b", 2), lv(3, "a", 3), lv(4, "a", -2), rv(5, "z", -100)},
		[]string{"O@5 a,-2", "O@5 b,2", "O@5 a,-6"}},
	{"set evaluates every value before assigning", `define table P (a int, b int);
from L select x as a, x * 10 as b insert into P;
from R select y update P set P.a = P.b, P.b = P.a on P.a == y;
from R[y < 0] join P select a, b insert into O;`,
		[]string{lv(1, "a", 1), lv(2, "a", 2), rv(3, "a", 1), rv(4, "a", -1)},
		[]string{"O@4 10,1", "O@4 2,20"}},
	{"update without set updates same-named attributes", fillT + `from L[x < 0] select x * -1 as v, k update T on T.k == k;` + dumpT,
		[]string{lv(1, "a", 1), lv(2, "b", 2), lv(3, "b", -5), rv(4, "z", -100)},
		[]string{"O@4 a,1", "O@4 b,5"}},
	{"set widens a narrower number", `define table D (k string, d double);
from L select k, 0.5 as d insert into D;
from R update D set D.d = y on D.k == k;
from R[y < 0] join D select D.k as k, D.d / 2 as h insert into O;`,
		[]string{lv(1, "a", 1), lv(2, "b", 2), rv(3, "a", 3), rv(4, "z", -1)},
		[]string{"O@4 a,1.5", "O@4 b,0.25"}},
	{"a definition repeated word for word adds nothing", `define table T (k string, v int);
define stream L (k string, x int);` + "\n" + fillT + dumpT,
		[]string{lv(1, "a", 1), rv(2, "z", 0)},
		[]string{"O@2 a,1"}},
	{"update or insert", `from L select k, x as v update or insert into T on T.k == k;` + dumpT,
		[]string{lv(1, "a", 1), lv(2, "b", 2), lv(3, "a", 3), rv(4, "z", -100)},
		[]string{"O@4 a,3", "O@4 b,2"}},
	{"update or insert with set", `from L select k, x as v update or insert into T set T.v = T.v + v on T.k == k;` + dumpT,
		[]string{lv(1, "a", 1), lv(2, "b", 2), lv(3, "a", 3), rv(4, "z", -100)},
		[]string{"O@4 a,4", "O@4 b,2"}},
	{"chain: update, then join on the same input", `from L select k, x as v update or insert into T on T.k == k;
from L join T on L.k == T.k select L.k as k, x, T.v as v insert into O;`,
		[]string{lv(1, "a", 1), lv(2, "a", 2), lv(3, "b", 3)},
		[]string{"O@1 a,1,1", "O@2 a,2,2", "O@3 b,3,3"}},
	{"chain: join, then update on the same input", `from L join T on L.k == T.k select L.k as k, x, T.v as v insert into O;
from L select k, x as v update or insert into T on T.k == k;`,
		[]string{lv(1, "a", 1), lv(2, "a", 2), lv(3, "b", 3)},
		[]string{"O@2 a,2,1"}},
	{"windowed stream: expired events probe the table", `from R select k, y as v insert into T;
from L#window.length(1) as l join T on l.k == T.k select l.k as k, x, T.v as v insert all events into O;`,
		[]string{rv(1, "a", 10), lv(2, "a", 1), lv(3, "b", 2), rv(4, "b", 20)},
		[]string{"O@2 a,1,10", "O@3! a,1,10"}},
	{"a probe sees the table as it started", fillT + `from R join T on T.v > y select T.k as k, T.v as v insert into J;
from J select k delete T on T.k == k;
from J select k, v * 10 as v insert into T;
from J select k, v insert into O;`,
		[]string{lv(1, "a", 1), lv(2, "b", 2), rv(3, "z", 0), rv(4, "z", 0)},
		[]string{"J@3 a,1", "O@3 a,1", "J@3 b,2", "O@3 b,2", "J@4 a,10", "O@4 a,10", "J@4 b,20", "O@4 b,20"}},
	{"a cycle of queries: its outputs reach their readers after the event, in order", `from L select k, x as v insert into T;
from R join T on R.k == T.k select T.v as v, y insert into C;
from C[v < y] select v + 1 as v, y insert into C;
from C select v, y insert into O;`,
		[]string{lv(1, "a", 1), rv(2, "a", 3), rv(3, "b", 3)},
		[]string{"C@2 1,3", "C@2 2,3", "O@2 1,3", "C@2 3,3", "O@2 2,3", "O@2 3,3"}},
	{"a cycle through a window: what its timer releases goes round before the input", `from L[x > 0]#window.time(10) select k, x - 1 as x insert expired events into L;
from L select k, x insert into O;
from R select k, y as x insert into O;`,
		[]string{lv(1, "a", 2), rv(20, "z", 9)},
		[]string{"O@1 a,2", "L@11! a,1", "O@11 a,1", "O@20 z,9"}},
	{"aggregates and rate limiting into a table", `from L select k, convert(sum(x), 'int') as v group by k output last every 2 events update or insert into T on T.k == k;` + dumpT,
		[]string{lv(1, "a", 1), lv(2, "a", 2), lv(3, "b", 5), rv(4, "z", -1), lv(5, "b", 1), rv(6, "z", -1)},
		[]string{"O@4 a,3", "O@6 a,3", "O@6 b,6"}},
}

func TestTables(t *testing.T) {
	for _, tc := range tableCases {
		t.Run(tc.name, func(t *testing.T) {
			a := mustCompile(t, tableSchema+tc.query)
			got := fmtAll(runLines(t, a, tc.in))
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			// restore at every cut and replay: the outputs must not change
			full := runIDs(t, a, tc.in, -1)
			for cut := 0; cut <= len(tc.in); cut++ {
				if got := runIDs(t, a, tc.in, cut); got != full {
					t.Fatalf("cut %d:\n%s\nwant:\n%s", cut, got, full)
				}
			}
		})
	}
}

// runIDs applies lines, snapshotting and restoring after cut of them (never when cut < 0),
// and returns the outputs with their ids.
func runIDs(tb testing.TB, a *engine.App, lines []string, cut int) string {
	tb.Helper()
	rt := engine.NewRuntime(a)
	var b strings.Builder
	for i, l := range lines {
		if i == cut {
			blob, err := rt.Snapshot()
			if err != nil {
				tb.Fatal(err)
			}
			if rt, err = engine.Restore(a, blob); err != nil {
				tb.Fatal(err)
			}
		}
		in, err := a.DecodeInput([]byte(l))
		if err != nil {
			tb.Fatal(err)
		}
		in.Seq = uint64(i + 1)
		if err := rt.Apply(in, func(o *engine.Output) { b.WriteString(o.ID + " " + fmtOut(o) + "\n") }); err != nil {
			tb.Fatal(err)
		}
	}
	return b.String()
}

// TestTableIDs checks that table writes consume no output ids and joined rows get the query's
// per-input counter.
func TestTableIDs(t *testing.T) {
	a := mustCompile(t, tableSchema+`@info(name='w') from R select k, y as v insert into T;
@info(name='j') from R join T on T.k == R.k select T.v as v insert into O;`)
	got := runIDs(t, a, []string{rv(1, "a", 1), rv(2, "a", 2), rv(3, "a", 3)}, -1)
	want := "StreamApp/j/1/0 O@1 1\nStreamApp/j/2/0 O@2 1\nStreamApp/j/2/1 O@2 2\n" +
		"StreamApp/j/3/0 O@3 1\nStreamApp/j/3/1 O@3 2\nStreamApp/j/3/2 O@3 3\n"
	if got != want {
		t.Fatalf("got:\n%swant:\n%s", got, want)
	}
	if len(a.Tables()) != 1 || a.Tables()[0].Name != "T" || a.Tables()[0].Defined {
		t.Fatalf("tables %v", a.Tables())
	}
	if _, ok := a.Stream("T"); ok {
		t.Fatal("a table is listed as a stream")
	}
	if err := engine.NewRuntime(a).Apply(engine.Input{Seq: 1, TS: 1, Stream: "T", Data: []engine.Value{engine.StringValue("a"), engine.IntValue(1)}}, nil); err == nil {
		t.Fatal("applied an input to a table")
	}
}

// TestTableSnapshotRows checks that a table's rows are in the snapshot.
func TestTableSnapshotRows(t *testing.T) {
	a := mustCompile(t, tableSchema+fillT)
	rt := engine.NewRuntime(a)
	in, _ := a.DecodeInput([]byte(lv(1, "abcxyz", 7)))
	in.Seq = 1
	if err := rt.Apply(in, nil); err != nil {
		t.Fatal(err)
	}
	blob, _ := rt.Snapshot()
	if !strings.Contains(string(blob), "abcxyz") {
		t.Fatal("table rows are not in the snapshot")
	}
	if _, err := engine.Restore(a, blob[:len(blob)-5]); err == nil {
		t.Fatal("restored a truncated snapshot")
	}
}

func TestTableCompileErrors(t *testing.T) {
	cases := []struct{ src, want string }{
		{"from T select k insert into O;", "4:6: tables cannot be queried with from; join them with a stream (T is a table)"},
		{"from e1=L -> e2=T select e1.x as x insert into O;", "4:14: tables cannot be used in patterns (T is a table)"},
		{"from L join T#window.length(1) on L.k == T.k select x insert into O;", "4:22: a table side of a join cannot have a window (T is a table)"},
		{"from L join T[v > 1] on L.k == T.k select x insert into O;", "4:17: filters on a table side of a join are not supported: put the condition in 'on'"},
		{"from L join T unidirectional on L.k == T.k select x insert into O;", "4:15: a table cannot be unidirectional: only the stream side of a join with a table triggers"},
		{"from T left outer join L on L.k == T.k select x insert into O;", "4:8: the outer side of a join with a table must be the stream (T is a table)"},
		{"from T join T as u on T.k == u.k select u.v as v insert into O;", "4:13: a join needs a stream: T and T are both tables"},
		{"from L select k, x insert into T;", "4:32: table T has attributes (k string, v int), the query selects (k string, x int): inserted rows must match by name, type and order"},
		{"from L select k delete O on O.k == k;", "4:24: O is not a table: delete, update and update or insert into need a 'define table'"},
		{"from L select k delete T on T.k == z;", "4:36: z is not an output attribute of the query (table attributes are written T.z)"},
		{"from L select k delete T on L.k == k;", "4:29: unknown L in L.k: write table attributes as T.x and output attributes unqualified"},
		{"from L select k delete T on T.v;", "4:29: on condition must be a bool condition, got int"},
		{"from L select k delete T for expired events on T.k == k;", "4:26: 'for ... events' on table outputs is not supported"},
		{"from L select k update T set T.z = k on T.k == k;", "4:30: table T has no attribute z"},
		{"from L select k, x update T set T.v = k on T.k == k;", "4:39: table T attribute v is int, the value is string"},
		{"from L select k update T set T.v = 1.5 on T.k == k;", "4:36: table T attribute v is int, the value is double"},
		{"from L select k update T set T.v = 2L on T.k == k;", "4:36: table T attribute v is int, the value is long"},
		{"from L select k update T set 1 = k on T.k == k;", "4:30: set assigns table attributes: write set T.a = <value>"},
		{"from L select k update T set R.y = 1 on T.k == k;", "4:30: set assigns attributes of table T: write T.y"},
		{"from L select x as y update T on T.k == 'a';", "4:29: update of table T without set: the query selects none of its attributes"},
		{"from L select k, x as v update T on T.k == k;\nfrom L select k, 1L as v update T on T.k == k;", "5:33: table T attribute v is int, the query selects v long"},
		{"from L select k update or insert into T on T.k == k;", "4:39: table T has attributes (k string, v int), the query selects (k string)"},
		{"from L select k return;", "4:17: 'return' outputs are not supported: use insert into, delete, update or update or insert into"},
		{"@sink(type='log') define table U (a int);", "4:1: @sink is not applicable to a table (tables take no inputs and emit nothing)"},
		{"@store(type='rdbms') define table U (k string);", "4:1: @store on a table is not supported (tables are in memory)"},
		{"@PrimaryKey('K') define table U (k string);", `4:1: @PrimaryKey names "K", which table U does not have`},
		{"@PrimaryKey() define table U (k string);", "4:1: @PrimaryKey needs attribute names, e.g. @PrimaryKey('symbol')"},
		{"@PrimaryKey('k') @PrimaryKey('k') define table U (k string);", "4:18: @PrimaryKey is given twice on table U"},
		{"@Index('k', 'k') define table U (k string);", "4:1: @Index names k twice"},
		{"define stream T (a int);", "4:15: stream or table T is defined twice"},
		{"define table L (a int);", "4:14: stream or table L is defined twice"},
		{"define stream L (k string, x long);", "4:15: stream or table L is defined twice"},
		{"define table T (k string, v int, w int);", "4:14: stream or table T is defined twice"},
		{"@PrimaryKey('k') define table T (k string, v int);", "4:31: stream or table T is defined twice"},
		{"define table U (a int, a string);", "4:24: attribute a is declared twice in table U"},
		{"define window W (a int);", "4:8: 'define window' is not supported (only 'define stream' and 'define table')"},
	}
	for _, c := range cases {
		_, err := engine.Compile("app.siddhi", tableSchema+c.src)
		if err == nil || !strings.Contains(err.Error(), "app.siddhi:"+c.want) {
			t.Errorf("%q:\n got %v\nwant app.siddhi:%s", c.src, err, c.want)
		}
	}
}

// TestCycleBound: a cycle of queries nothing stops delivers at most 100000 outputs per input,
// then drops the rest, the same way for every input.
func TestCycleBound(t *testing.T) {
	a := mustCompile(t, "define stream S (a int);\nfrom S select a + 1 as a insert into S;")
	in := []string{`{"stream":"S","ts":1,"data":{"a":0}}`, `{"stream":"S","ts":2,"data":{"a":0}}`}
	outs := runLines(t, a, in)
	if len(outs) != 2*100001 {
		t.Fatalf("%d outputs, want %d", len(outs), 2*100001)
	}
	if last := outs[len(outs)-1]; last.TS != 2 || last.Data[0].Int() != 100001 {
		t.Fatalf("last output %s", fmtOut(last))
	}
}
