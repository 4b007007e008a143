package engine_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/streamha/streamha/node/engine"
)

const joinSchema = "define stream L (k string, x int);\ndefine stream R (k string, y int);\n"

// lv and rv build play-format inputs for L(k string, x int) and R(k string, y int).
func lv(ts int64, k string, x int) string {
	return fmt.Sprintf(`{"stream":"L","ts":%d,"data":{"k":%q,"x":%d}}`, ts, k, x)
}

func rv(ts int64, k string, y int) string {
	return fmt.Sprintf(`{"stream":"R","ts":%d,"data":{"k":%q,"y":%d}}`, ts, k, y)
}

var joinCases = []struct {
	name  string
	query string
	in    []string
	want  []string
}{
	{"inner join of length windows", `from L#window.length(2) as l join R#window.length(2) as r on l.k == r.k select l.k as k, x, y insert into O;`,
		[]string{lv(1, "a", 1), rv(2, "a", 10), lv(3, "b", 2), rv(4, "b", 20), rv(5, "a", 30), lv(6, "a", 3)},
		[]string{"O@2 a,1,10", "O@4 b,2,20", "O@5 a,1,30", "O@6 a,3,30"}},
	{"inner keyword, stream names qualify", `from L#window.length(1) inner join R#window.length(1) on L.k == R.k select L.k as k, x, y insert into O;`,
		[]string{lv(1, "a", 1), rv(2, "a", 2), rv(3, "b", 3)},
		[]string{"O@2 a,1,2"}},
	{"left outer join with expired rows", `from L#window.length(2) as l left outer join R#window.length(2) as r on l.k == r.k select l.k as k, x, y insert all events into O;`,
		[]string{lv(1, "a", 1), rv(2, "a", 10), lv(3, "b", 2), lv(4, "a", 3)},
		[]string{"O@1 a,1,null", "O@2 a,1,10", "O@3 b,2,null", "O@4! a,1,10", "O@4 a,3,10"}},
	{"right outer join", `from L#window.length(2) as l right outer join R#window.length(2) as r on l.k == r.k select r.k as k, x, y insert into O;`,
		[]string{lv(1, "a", 1), rv(2, "b", 20), rv(3, "a", 30), lv(4, "b", 2)},
		[]string{"O@2 b,null,20", "O@3 a,1,30", "O@4 b,2,20"}},
	{"full outer join of time windows expiring on ticks", `from L#window.time(1 sec) as l full outer join R#window.time(1 sec) as r on l.k == r.k
select l.k as lk, r.k as rk, x, y insert all events into O;`,
		[]string{lv(0, "a", 1), rv(500, "b", 20), rv(600, "a", 30), tick(1000), tick(2000)},
		[]string{"O@0 a,null,1,null", "O@500 null,b,null,20", "O@600 a,a,1,30", "O@1000! a,a,1,30", "O@1500! null,b,null,20", "O@1600! null,a,null,30"}},
	{"unidirectional", `from L#window.length(3) as l unidirectional join R#window.length(3) as r on l.k == r.k select l.k as k, x, y insert into O;`,
		[]string{rv(1, "a", 10), lv(2, "a", 1), rv(3, "a", 20), lv(4, "a", 2)},
		[]string{"O@2 a,1,10", "O@4 a,2,10", "O@4 a,2,20"}},
	{"side without a window only triggers", `from L[x > 0] as l join R#window.length(2) as r on l.k == r.k select l.k as k, x, y insert into O;`,
		[]string{rv(1, "a", 10), lv(2, "a", 1), lv(3, "a", 0), rv(4, "a", 20), lv(5, "a", 2)},
		[]string{"O@2 a,1,10", "O@5 a,2,10", "O@5 a,2,20"}},
	{"expired events through a join", `from L#window.length(1) as l join R#window.length(5) as r on l.k == r.k select l.k as k, x, y insert expired events into O;`,
		[]string{rv(1, "a", 10), rv(2, "a", 20), lv(3, "a", 1), lv(4, "a", 2), lv(5, "b", 3)},
		[]string{"O@4! a,1,10", "O@4! a,1,20", "O@5! a,2,10", "O@5! a,2,20"}},
	{"group by over a join retracts expired pairs", `from L#window.length(2) as l join R#window.length(2) as r on l.k == r.k
select l.k as k, count() as c, sum(y) as s, max(y) as m group by l.k insert into O;`,
		[]string{rv(1, "a", 10), rv(2, "a", 30), lv(3, "a", 1), lv(4, "b", 2), rv(5, "b", 5), rv(6, "a", 20)},
		[]string{"O@3 a,1,10,10", "O@3 a,2,40,30", "O@5 b,1,5,5", "O@6 a,1,20,20"}},
	{"max over a join when pairs expire out of order", `from L#window.time(1 sec) as l join R#window.time(100 ms) as r select max(x + y) as m insert all events into O;`,
		[]string{lv(0, "a", 3), rv(10, "a", 9), rv(50, "a", 5), lv(60, "a", 0), tick(200)},
		[]string{"O@10 12", "O@50 12", "O@60 12", "O@60 12", "O@110! 9", "O@110! 8", "O@150! 5", "O@150! null"}},
	{"self-join with aliases", `from L#window.length(2) as a join L#window.length(2) as b on a.k == b.k and a.x < b.x select a.x as ax, b.x as bx insert into O;`,
		[]string{lv(1, "a", 1), lv(2, "a", 2), lv(3, "b", 3)},
		[]string{"O@2 1,2"}},
	{"cross join without on", `from L#window.length(2) as l join R as r select l.k as lk, r.k as rk, x, y insert into O;`,
		[]string{lv(1, "a", 1), lv(2, "b", 2), rv(3, "c", 3)},
		[]string{"O@3 a,c,1,3", "O@3 b,c,2,3"}},
	{"select star over a join", `from L select k as lk, x insert into T;
from T#window.length(1) join R#window.length(1) select * insert into O;`,
		[]string{lv(1, "a", 1), rv(2, "b", 2)},
		[]string{"T@1 a,1", "O@2 a,1,b,2"}},
	{"order by and limit over joined rows", `from L#window.length(3) as l join R as r on l.k == r.k select r.y as y, x order by x desc limit 2 insert into O;`,
		[]string{lv(1, "a", 1), lv(2, "a", 3), lv(3, "a", 2), rv(4, "a", 9)},
		[]string{"O@4 9,3", "O@4 9,2"}},
	{"rate limited join feeds a query", `from L#window.length(2) as l join R#window.length(2) as r on l.k == r.k select x, y output last every 2 events insert into J;
from J select x + y as s insert into O;`,
		[]string{lv(1, "a", 1), rv(2, "a", 10), rv(3, "a", 20), lv(4, "b", 2)},
		[]string{"J@3 1,20", "O@3 21"}},
	{"alias in a simple query", `from L#window.lengthBatch(2) as l select l.x as x, L.k order by l.x desc insert into O;`,
		[]string{lv(1, "a", 1), lv(2, "b", 2)},
		[]string{"O@2 2,b", "O@1 1,a"}},
}

func TestJoins(t *testing.T) {
	for _, tc := range joinCases {
		t.Run(tc.name, func(t *testing.T) {
			a := mustCompile(t, joinSchema+tc.query)
			got := fmtAll(runLines(t, a, tc.in))
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestJoinIDs checks that the rows one input joins get distinct, ordered ids.
func TestJoinIDs(t *testing.T) {
	a := mustCompile(t, joinSchema+`@info(name='j') from L#window.length(3) as l unidirectional join R#window.length(3) as r select x, y insert into O;`)
	var ids []string
	rt := engine.NewRuntime(a)
	for i, l := range []string{rv(1, "a", 10), rv(2, "a", 20), lv(3, "a", 1)} {
		in, err := a.DecodeInput([]byte(l))
		if err != nil {
			t.Fatal(err)
		}
		in.Seq = uint64(i + 1)
		if err := rt.Apply(in, func(o *engine.Output) { ids = append(ids, o.ID) }); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(ids, " "); got != "StreamApp/j/3/0 StreamApp/j/3/1" {
		t.Fatalf("ids %s", got)
	}
}
