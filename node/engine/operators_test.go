package engine_test

import (
	"fmt"
	"strings"
	"testing"
)

// ev builds a play-format input line for stream S(sym string, price double, vol int, ets long).
func ev(ts int64, sym string, price float64, vol int) string {
	return fmt.Sprintf(`{"stream":"S","ts":%d,"data":{"sym":%q,"price":%v,"vol":%d,"ets":%d}}`, ts, sym, price, vol, ts)
}

func tick(ts int64) string { return fmt.Sprintf(`{"tick":%d}`, ts) }

const schema = "define stream S (sym string, price double, vol int, ets long);\n"

var operatorCases = []struct {
	name  string
	query string
	in    []string
	want  []string
}{
	{"filter", `from S[price > 50.0 and sym != 'x'] select sym, price insert into O;`,
		[]string{ev(1, "a", 40, 1), ev(2, "b", 60, 1), ev(3, "x", 70, 1)},
		[]string{"O@2 b,60"}},
	{"projection arithmetic and concat", `from S select sym + '-' + vol as k, price * vol as notional, vol / 2 as half, vol % 2 as odd insert into O;`,
		[]string{ev(1, "a", 2.5, 3)},
		[]string{"O@1 a-3,7.5,1,1"}},
	{"functions", `from S select ifThenElse(vol > 2, 'big', 'small') as size, coalesce(cast(null, 'string'), sym) as c, convert(price, 'int') as p, cast(vol, 'double') / 4 as q, not (vol == 3) as n insert into O;`,
		[]string{ev(1, "a", 2.7, 3), ev(2, "b", 9.1, 1)},
		[]string{"O@1 big,a,2,0.75,false", "O@2 small,b,9,0.25,true"}},
	{"default", `from S#window.length(1) select sym, default(max(price), -1.0) as m, default(cast(null, 'int'), vol) as v insert all events into O;`,
		[]string{ev(1, "a", 2.5, 3), ev(2, "b", 4, 5)},
		[]string{"O@1 a,2.5,3", "O@2! a,-1,3", "O@2 b,4,5"}},
	{"no window running aggregate", `from S select sym, sum(vol) as s, count() as c, avg(price) as a insert into O;`,
		[]string{ev(1, "a", 10, 1), ev(2, "b", 20, 2), ev(3, "c", 30, 3)},
		[]string{"O@1 a,1,1,10", "O@2 b,3,2,15", "O@3 c,6,3,20"}},
	{"length window", `from S#window.length(2) select sym, sum(vol) as s insert all events into O;`,
		[]string{ev(1, "a", 0, 1), ev(2, "b", 0, 2), ev(3, "c", 0, 4), ev(4, "d", 0, 8)},
		[]string{"O@1 a,1", "O@2 b,3", "O@3! a,2", "O@3 c,6", "O@4! b,4", "O@4 d,12"}},
	{"length window expired only", `from S#window.length(1) select sym insert expired events into O;`,
		[]string{ev(1, "a", 0, 1), ev(2, "b", 0, 2)},
		[]string{"O@2! a"}},
	// length(0) and lengthBatch(0), as Siddhi's LengthWindowProcessor and
	// LengthBatchWindowProcessor handle them: each arrival is current, then expired at once
	// (a batch of its own for lengthBatch), then the aggregates reset.
	{"length zero", `from S#window.length(0) select sym, count() as c insert all events into O;`,
		[]string{ev(1, "a", 0, 1), ev(2, "b", 0, 2)},
		[]string{"O@1 a,1", "O@1! a,0", "O@2 b,1", "O@2! b,0"}},
	{"length batch zero", `from S#window.lengthBatch(0) select sym, sum(vol) as s insert all events into O;`,
		[]string{ev(1, "a", 0, 1), ev(2, "b", 0, 2)},
		[]string{"O@1! a,null", "O@2! b,null"}}, // one row per batch: its last, the expired one
	{"length batch zero current only", `from S#window.lengthBatch(0) select sym, vol insert into O;`,
		[]string{ev(1, "a", 0, 1), ev(2, "b", 0, 2)},
		[]string{"O@1 a,1", "O@2 b,2"}},
	{"length batch", `from S#window.lengthBatch(2) select sym, vol insert into O;`,
		[]string{ev(1, "a", 0, 1), ev(2, "b", 0, 2), ev(3, "c", 0, 3), ev(4, "d", 0, 4), ev(5, "e", 0, 5)},
		[]string{"O@1 a,1", "O@2 b,2", "O@3 c,3", "O@4 d,4"}},
	{"length batch aggregate collapses", `from S#window.lengthBatch(3) select sym, sum(vol) as s group by sym insert into O;`,
		[]string{ev(1, "a", 0, 1), ev(2, "b", 0, 2), ev(3, "a", 0, 3), ev(4, "b", 0, 10), ev(5, "b", 0, 20), ev(6, "b", 0, 30)},
		[]string{"O@3 a,4", "O@2 b,2", "O@6 b,60"}},
	{"time window expires on later event and on tick", `from S#window.time(1 sec) select sym, count() as c insert all events into O;`,
		[]string{ev(1000, "a", 0, 1), ev(1500, "b", 0, 1), ev(2000, "c", 0, 1), tick(3000)},
		[]string{"O@1000 a,1", "O@1500 b,2", "O@2000! a,1", "O@2000 c,2", "O@2500! b,1", "O@3000! c,0"}},
	{"time window group by having", `from S#window.time(10 sec) select sym, avg(price) as ap group by sym having ap > 20.0 insert into O;`,
		[]string{ev(0, "a", 10, 1), ev(1000, "a", 40, 1), ev(2000, "b", 15, 1), ev(11500, "a", 10, 1)},
		[]string{"O@1000 a,25"}},
	{"time batch", `from S#window.timeBatch(1 sec) select sym, sum(vol) as s insert into O;`,
		[]string{ev(100, "a", 0, 1), ev(500, "b", 0, 2), ev(1100, "c", 0, 4), ev(1200, "d", 0, 8), tick(5000), ev(5050, "e", 0, 16), tick(6100)},
		[]string{"O@500 b,3", "O@1200 d,12", "O@5050 e,16"}},
	{"time batch all events", `from S#window.timeBatch(1 sec) select sym insert all events into O;`,
		[]string{ev(0, "a", 0, 1), ev(1000, "b", 0, 1), tick(3500)},
		[]string{"O@0 a", "O@2000! a", "O@1000 b", "O@3000! b"}},
	{"external time", `from S#window.externalTime(ets, 1 sec) select sym, sum(vol) as s insert all events into O;`,
		[]string{ev(0, "a", 0, 1), ev(500, "b", 0, 2), ev(1000, "c", 0, 4), tick(99999), ev(1600, "d", 0, 8)},
		[]string{"O@0 a,1", "O@500 b,3", "O@1000! a,2", "O@1000 c,6", "O@1600! b,4", "O@1600 d,12"}},
	{"external time batch", `from S#window.externalTimeBatch(ets, 1 sec) select max(price) as hi, min(price) as lo insert into O;`,
		[]string{ev(0, "a", 5, 1), ev(400, "b", 7, 1), ev(999, "c", 1, 1), ev(1000, "d", 3, 1), ev(3500, "e", 9, 1)},
		[]string{"O@999 7,1", "O@1000 3,3"}},
	{"min max sliding", `from S#window.length(3) select max(price) as hi, min(price) as lo, distinctCount(sym) as d insert into O;`,
		[]string{ev(1, "a", 5, 0), ev(2, "a", 9, 0), ev(3, "b", 1, 0), ev(4, "c", 4, 0), ev(5, "c", 2, 0)},
		[]string{"O@1 5,5,1", "O@2 9,5,1", "O@3 9,1,2", "O@4 9,1,3", "O@5 4,1,2"}},
	{"post window filter", `from S#window.length(2)[vol > 1] select sym insert all events into O;`,
		[]string{ev(1, "a", 0, 1), ev(2, "b", 0, 2), ev(3, "c", 0, 3), ev(4, "d", 0, 4)},
		[]string{"O@2 b", "O@3 c", "O@4! b", "O@4 d"}},
	{"chained queries", `from S[vol > 1] select sym, vol * 10 as v insert into T;
from T#window.length(2) select sum(v) as s insert into U;`,
		[]string{ev(1, "a", 0, 1), ev(2, "b", 0, 2), ev(3, "c", 0, 3), ev(4, "d", 0, 4)},
		[]string{"T@2 b,20", "U@2 20", "T@3 c,30", "U@3 50", "T@4 d,40", "U@4 70"}},
	{"select star", `from S[vol == 2] select * insert into O;`,
		[]string{ev(1, "a", 1.5, 2)},
		[]string{"O@1 a,1.5,2,1"}},
	{"pattern every within", `from every e1=S[vol == 1] -> e2=S[sym == e1.sym and price > e1.price] within 2 sec select e1.sym as sym, e1.price as p1, e2.price as p2 insert into O;`,
		[]string{ev(0, "a", 10, 1), ev(100, "a", 9, 1), ev(200, "b", 50, 0), ev(300, "a", 12, 0), ev(5000, "b", 1, 1), ev(8000, "b", 2, 0)},
		[]string{"O@300 a,10,12", "O@300 a,9,12"}},
	{"pattern index on a one-event element", `from every e1=S[vol == 1] -> e2=S[vol == 2] select e1[0].sym as a, e2[last].sym as b, e1[1].sym as c, e2[last-1].price as d insert into O;`,
		[]string{ev(1, "a", 0, 1), ev(2, "b", 0, 2)},
		[]string{"O@2 a,b,null,null"}},
	{"pattern without every matches once", `from e1=S[vol == 1] -> e2=S[vol == 2] select e1.sym as a, e2.sym as b insert into O;`,
		[]string{ev(0, "a", 0, 1), ev(1, "b", 0, 1), ev(2, "c", 0, 2), ev(3, "d", 0, 1), ev(4, "e", 0, 2)},
		[]string{"O@2 a,c"}},
	{"every whole pattern restarts after a match", `from every (e1=S[vol == 1] -> e2=S[vol == 2]) select e1.sym as a, e2.sym as b insert into O;`,
		[]string{ev(0, "a", 0, 1), ev(1, "b", 0, 1), ev(2, "c", 0, 2), ev(3, "d", 0, 1), ev(4, "e", 0, 2)},
		[]string{"O@2 a,c", "O@4 d,e"}},
	{"sequence", `from every e1=S[vol == 1], e2=S[vol == 2] select e1.sym as a, e2.sym as b insert into O;`,
		[]string{ev(0, "a", 0, 1), ev(1, "b", 0, 3), ev(2, "c", 0, 2), ev(3, "d", 0, 1), ev(4, "e", 0, 2)},
		[]string{"O@4 d,e"}},
	{"three state pattern", `from every e1=S[vol == 1] -> e2=S[vol == 2] -> e3=S[vol == 3] select e1.sym as a, e2.sym as b, e3.sym as c insert into O;`,
		[]string{ev(0, "a", 0, 1), ev(1, "b", 0, 2), ev(2, "c", 0, 1), ev(3, "d", 0, 3), ev(4, "e", 0, 2), ev(5, "f", 0, 3)},
		[]string{"O@3 a,b,d", "O@5 c,e,f"}},
	{"sequence one or more", `from every e1=S[vol == 1], e2=S[vol == 2]+, e3=S[vol == 3] select e1.sym as a, e2[0].sym as b0, e2[last].sym as bl, e3.sym as c insert into O;`,
		[]string{ev(1, "a", 0, 1), ev(2, "b", 0, 2), ev(3, "c", 0, 2), ev(4, "d", 0, 3), ev(5, "e", 0, 1), ev(6, "f", 0, 3), ev(7, "g", 0, 1), ev(8, "h", 0, 2), ev(9, "i", 0, 3)},
		[]string{"O@4 a,b,c,d", "O@9 g,h,h,i"}},
	{"sequence zero or more", `from every e1=S[vol == 1], e2=S[vol == 2]*, e3=S[vol == 3] select e1.sym as a, e2[last].sym as bl, e3.sym as c insert into O;`,
		[]string{ev(1, "a", 0, 1), ev(2, "d", 0, 3), ev(3, "e", 0, 1), ev(4, "f", 0, 2), ev(5, "g", 0, 3)},
		[]string{"O@2 a,null,d", "O@5 e,f,g"}},
	{"sequence optional", `from every e1=S[vol == 1], e2=S[vol == 2]?, e3=S[vol == 3] select e1.sym as a, e2.sym as b, e3.sym as c insert into O;`,
		[]string{ev(1, "a", 0, 1), ev(2, "b", 0, 2), ev(3, "c", 0, 2), ev(4, "d", 0, 1), ev(5, "e", 0, 3)},
		[]string{"O@5 d,null,e"}},
	{"sequence peak", `from every e1=S[vol == 1], e2=S[(e2[last].price is null and price > e1.price) or price > e2[last].price]+, e3=S[price < e2[last].price]
select e1.price as p0, e2[last].price as peak, e3.price as p3 insert into O;`,
		[]string{ev(1, "a", 10, 1), ev(2, "a", 11, 0), ev(3, "a", 12, 0), ev(4, "a", 5, 0)},
		[]string{"O@4 10,12,5"}},
	// counting patterns: <n:m>, <n:>, <:m>, <n>
	{"counting min max with indexes", `from e1=S[vol == 1] -> e2=S[vol == 2]<2:3> -> e3=S[vol == 3]
select e1.sym as a, e2[0].sym as b0, e2[1].sym as b1, e2[2].sym as b2, e2[last].sym as bl, e3.sym as c insert into O;`,
		[]string{ev(1, "a", 0, 1), ev(2, "b", 0, 2), ev(3, "x", 0, 3), ev(4, "c", 0, 2), ev(5, "d", 0, 2), ev(6, "e", 0, 2), ev(7, "f", 0, 3), ev(8, "g", 0, 3)},
		[]string{"O@7 a,b,c,d,d,f"}},
	{"counting n or more, index beyond the count is null", `from every e1=S[vol == 1] -> e2=S[vol == 2]<2:> -> e3=S[vol == 3]
select e1.sym as a, e2[0].sym as b0, e2[last].sym as bl, e2[3].sym as b3, e3.sym as c insert into O;`,
		[]string{ev(1, "a", 0, 1), ev(2, "b", 0, 2), ev(3, "c", 0, 2), ev(4, "d", 0, 2), ev(5, "e", 0, 3)},
		[]string{"O@5 a,b,d,null,e"}},
	{"counting up to m", `from every e1=S[vol == 1] -> e2=S[vol == 2]<:2> -> e3=S[vol == 3]
select e1.sym as a, e2[0].sym as b0, e2[last].sym as bl, e3.sym as c insert into O;`,
		[]string{ev(1, "a", 0, 1), ev(2, "e", 0, 3), ev(3, "b", 0, 1), ev(4, "c", 0, 2), ev(5, "d", 0, 2), ev(6, "g", 0, 2), ev(7, "h", 0, 3)},
		[]string{"O@2 a,null,null,e", "O@7 b,c,d,h"}},
	{"counting exactly n as the last element", `from every e1=S[vol == 1] -> e2=S[sym == e1.sym]<3>
select e1.sym as a, e2[0].vol as v0, e2[1].vol as v1, e2[2].vol as v2, e2[last].vol as vl insert into O;`,
		[]string{ev(1, "a", 0, 1), ev(2, "a", 0, 5), ev(3, "b", 0, 1), ev(4, "a", 0, 6), ev(5, "a", 0, 7), ev(6, "b", 0, 2), ev(7, "b", 0, 3), ev(8, "b", 0, 4)},
		[]string{"O@5 a,5,6,7,7", "O@8 b,2,3,4,4"}},
	{"counting first element", `from e1=S[vol == 1]<2:3> -> e2=S[vol == 2] select e1[0].sym as a0, e1[last].sym as al, e2.sym as b insert into O;`,
		[]string{ev(1, "a", 0, 1), ev(2, "b", 0, 2), ev(3, "c", 0, 1), ev(4, "d", 0, 2), ev(5, "e", 0, 1), ev(6, "f", 0, 2)},
		[]string{"O@4 a,c,d"}},
	{"counting first element with every", `from every e1=S[vol == 1]<2> -> e2=S[vol == 2] select e1[0].sym as a0, e1[1].sym as a1, e2.sym as b insert into O;`,
		[]string{ev(1, "a", 0, 1), ev(2, "b", 0, 1), ev(3, "c", 0, 1), ev(4, "d", 0, 2), ev(5, "e", 0, 1), ev(6, "f", 0, 2)},
		[]string{"O@4 a,b,d", "O@6 c,e,f"}}, // c starts the next match only once a,b are collected (as Siddhi)
	{"counting with within", `from every e1=S[vol == 1] -> e2=S[vol == 2]<2> within 1 sec select e1.sym as a, e2[0].sym as b, e2[1].sym as c insert into O;`,
		[]string{ev(0, "a", 0, 1), ev(500, "b", 0, 2), ev(1200, "c", 0, 2), ev(1300, "d", 0, 1), ev(1400, "e", 0, 2), ev(1500, "f", 0, 2)},
		[]string{"O@1500 d,e,f"}},
	{"counting list in a later condition", `from e1=S[vol == 1] -> e2=S[vol == 2]<1:> -> e3=S[price > e2[last].price]
select e1.sym as a, e2[last].sym as bl, e3.sym as c insert into O;`,
		[]string{ev(1, "a", 10, 1), ev(2, "b", 20, 2), ev(3, "c", 15, 2), ev(4, "d", 16, 0)},
		[]string{"O@4 a,c,d"}},
	{"every whole counting pattern", `from every (e1=S[vol == 1] -> e2=S[vol == 2]<2>) select e1.sym as a, e2[last].sym as b insert into O;`,
		[]string{ev(1, "a", 0, 1), ev(2, "b", 0, 1), ev(3, "c", 0, 2), ev(4, "d", 0, 2), ev(5, "e", 0, 2), ev(6, "f", 0, 1), ev(7, "g", 0, 2), ev(8, "h", 0, 2)},
		[]string{"O@4 a,d", "O@8 f,h"}},
	// absent patterns: not S[..] for <time>, on the logical clock
	{"absent after an event, cancelled by a matching event", `from every e1=S[vol == 1] -> not S[sym == e1.sym and vol == 2] for 1 sec
select e1.sym as a, e1.price as p insert into O;`,
		[]string{ev(0, "a", 10, 1), ev(300, "b", 20, 1), ev(500, "a", 0, 2), ev(1200, "c", 0, 0), tick(1300), ev(1500, "d", 5, 1), tick(2499), ev(2500, "d", 0, 2)},
		[]string{"O@1300 b,20", "O@2500 d,5"}},
	{"absent in the middle", `from e1=S[vol == 1] -> not S[vol == 2] for 1 sec -> e3=S[vol == 3] select e1.sym as a, e3.sym as c insert into O;`,
		[]string{ev(0, "a", 0, 1), ev(500, "x", 0, 3), ev(1000, "b", 0, 3), ev(2000, "c", 0, 1), ev(3500, "d", 0, 3)},
		[]string{"O@1000 a,b"}},
	{"absent first element, a matching event restarts the wait", `from not S[vol == 9] for 1 sec -> e2=S[vol == 1] select e2.sym as b insert into O;`,
		[]string{ev(100, "a", 0, 1), ev(600, "n", 0, 9), ev(1200, "b", 0, 1), ev(1700, "c", 0, 1), ev(1800, "d", 0, 1)},
		[]string{"O@1700 c"}},
	{"absent first element with every around the pattern", `from every (not S[vol == 9] for 1 sec -> e2=S[vol == 1]) select e2.sym as b insert into O;`,
		[]string{tick(0), ev(1000, "a", 0, 1), ev(1500, "n", 0, 9), ev(2400, "b", 0, 1), ev(2600, "c", 0, 1), ev(3000, "d", 0, 1)},
		[]string{"O@1000 a", "O@2600 c"}},
	{"absent with within", `from every e1=S[vol == 1] -> not S[vol == 2] for 1 sec -> e3=S[vol == 3] within 1500 ms select e1.sym as a, e3.sym as c insert into O;`,
		[]string{ev(0, "a", 0, 1), ev(1000, "b", 0, 3), ev(2000, "c", 0, 1), tick(3000), ev(3600, "d", 0, 3)},
		[]string{"O@1000 a,b"}},

	// order by, limit, offset: per chunk of outputs (one batch, or one arrival's expired + current)
	{"order by desc over a batch", `from S#window.lengthBatch(3) select sym, price order by price desc insert into O;`,
		[]string{ev(1, "a", 10, 0), ev(2, "b", 30, 0), ev(3, "c", 20, 0), ev(4, "d", 5, 0), ev(5, "e", 6, 0)},
		[]string{"O@2 b,30", "O@3 c,20", "O@1 a,10"}},
	{"order by two keys, ties keep emission order", `from S#window.lengthBatch(4) select sym, vol, price order by vol, price desc insert into O;`,
		[]string{ev(1, "a", 1, 2), ev(2, "b", 5, 1), ev(3, "c", 3, 2), ev(4, "d", 5, 1)},
		[]string{"O@2 b,1,5", "O@4 d,1,5", "O@3 c,2,3", "O@1 a,2,1"}},
	{"order by limit offset", `from S#window.lengthBatch(4) select sym, price order by price asc limit 2 offset 1 insert into O;`,
		[]string{ev(1, "a", 4, 0), ev(2, "b", 1, 0), ev(3, "c", 3, 0), ev(4, "d", 2, 0)},
		[]string{"O@4 d,2", "O@3 c,3"}},
	{"offset beyond the chunk and limit 0", `from S#window.lengthBatch(2) select sym offset 5 insert into O;
from S#window.lengthBatch(2) select sym limit 0 insert into P;`,
		[]string{ev(1, "a", 0, 0), ev(2, "b", 0, 0)},
		nil},
	{"limit over one arrival's expired and current", `from S#window.length(1) select sym limit 1 insert all events into O;`,
		[]string{ev(1, "a", 0, 0), ev(2, "b", 0, 0), ev(3, "c", 0, 0)},
		[]string{"O@1 a", "O@2! a", "O@3! b"}},
	{"top group of a batch", `from S#window.lengthBatch(4) select sym, sum(vol) as total group by sym order by total desc limit 1 insert into O;`,
		[]string{ev(1, "a", 0, 1), ev(2, "b", 0, 5), ev(3, "a", 0, 2), ev(4, "b", 0, 1)},
		[]string{"O@4 b,6"}},
	{"order by a selected input attribute and nulls first", `from S#window.lengthBatch(3) select sym as s, ifThenElse(vol > 1, price, cast(null, 'double')) as p order by p, sym desc insert into O;`,
		[]string{ev(1, "a", 5, 2), ev(2, "b", 7, 0), ev(3, "c", 1, 3), ev(4, "d", 1, 0), ev(5, "e", 1, 0), ev(6, "f", 1, 0)},
		[]string{"O@2 b,null", "O@3 c,1", "O@1 a,5", "O@6 f,null", "O@5 e,null", "O@4 d,null"}},

	// output rate limiting by event count
	{"output every n events", `from S select sym output every 2 events insert into O;`,
		[]string{ev(1, "a", 0, 0), ev(2, "b", 0, 0), ev(3, "c", 0, 0), ev(4, "d", 0, 0), ev(5, "e", 0, 0)},
		[]string{"O@1 a", "O@2 b", "O@3 c", "O@4 d"}},
	{"output first every n events", `from S select sym output first every 3 events insert into O;`,
		[]string{ev(1, "a", 0, 0), ev(2, "b", 0, 0), ev(3, "c", 0, 0), ev(4, "d", 0, 0), ev(5, "e", 0, 0)},
		[]string{"O@1 a", "O@4 d"}},
	{"output last every n events counts expired outputs", `from S#window.length(1) select sym output last every 3 events insert all events into O;`,
		[]string{ev(1, "a", 0, 0), ev(2, "b", 0, 0), ev(3, "c", 0, 0), ev(4, "d", 0, 0)},
		[]string{"O@2 b", "O@4! c"}},
	{"output first every n events per group", `from S select sym, sum(vol) as s group by sym output first every 4 events insert into O;`,
		[]string{ev(1, "a", 0, 1), ev(2, "a", 0, 2), ev(3, "b", 0, 3), ev(4, "a", 0, 4), ev(5, "b", 0, 5), ev(6, "b", 0, 6), ev(7, "a", 0, 7), ev(8, "c", 0, 8)},
		[]string{"O@1 a,1", "O@3 b,3", "O@8 c,8"}}, // each key counts its own runs of 4 (as Siddhi)
	{"output last every n events per group", `from S select sum(vol) as s group by sym output last every 4 events insert into O;`,
		[]string{ev(1, "a", 0, 1), ev(2, "a", 0, 2), ev(3, "b", 0, 3), ev(4, "a", 0, 4), ev(5, "b", 0, 5), ev(6, "b", 0, 6), ev(7, "a", 0, 7), ev(8, "c", 0, 8)},
		[]string{"O@4 7", "O@3 3", "O@6 14", "O@7 14", "O@8 8"}},
	{"order by then rate limit", `from S#window.lengthBatch(3) select sym, price order by price output first every 2 events insert into O;`,
		[]string{ev(1, "a", 3, 0), ev(2, "b", 1, 0), ev(3, "c", 2, 0)},
		[]string{"O@2 b,1", "O@1 a,3"}},
	{"pattern output last every n events", `from every e1=S[vol == 1] -> e2=S[vol == 2] select e1.sym as a, e2.sym as b output last every 2 events insert into O;`,
		[]string{ev(1, "a", 0, 1), ev(2, "b", 0, 1), ev(3, "c", 0, 2), ev(4, "d", 0, 1), ev(5, "e", 0, 2)},
		[]string{"O@3 b,c"}},

	// output rate limiting by time (logical clock)
	{"output every period", `from S select sym output every 1 sec insert into O;`,
		[]string{ev(1000, "a", 0, 0), ev(1500, "b", 0, 0), ev(2000, "c", 0, 0), tick(3500), ev(5200, "d", 0, 0), tick(5999), tick(6000)},
		[]string{"O@1000 a", "O@1500 b", "O@2000 c", "O@5200 d"}},
	{"output first every period", `from S select sym output first every 1 sec insert into O;`,
		[]string{ev(1000, "a", 0, 0), ev(1500, "b", 0, 0), ev(2100, "c", 0, 0), ev(2900, "d", 0, 0), ev(3000, "e", 0, 0)},
		[]string{"O@1000 a", "O@2100 c", "O@3000 e"}},
	{"output last every period", `from S select sym output last every 1 sec insert into O;`,
		[]string{ev(1000, "a", 0, 0), ev(1500, "b", 0, 0), tick(2000), ev(2100, "c", 0, 0), ev(2900, "d", 0, 0), ev(3000, "e", 0, 0), tick(4000)},
		[]string{"O@1500 b", "O@2900 d", "O@3000 e"}},
	{"output last every period per group", `from S select sym, max(vol) as m group by sym output last every 1 sec insert into O;`,
		[]string{ev(1000, "a", 0, 1), ev(1200, "b", 0, 2), ev(1500, "a", 0, 5), tick(2000), ev(2500, "b", 0, 1), tick(3000)},
		[]string{"O@1500 a,5", "O@1200 b,2", "O@2500 b,2"}},
	{"output first every period per group", `from S select sym, vol group by sym output first every 1 sec insert into O;`,
		[]string{ev(1000, "a", 0, 1), ev(1200, "b", 0, 2), ev(1500, "a", 0, 5), ev(2000, "a", 0, 6), ev(2100, "b", 0, 7)},
		[]string{"O@1000 a,1", "O@1200 b,2", "O@2000 a,6", "O@2100 b,7"}},
	{"output snapshot of a windowed group by", `from S#window.time(2 sec) select sym, sum(vol) as s group by sym output snapshot every 1 sec insert into O;`,
		[]string{ev(0, "a", 0, 1), ev(500, "b", 0, 2), tick(1000), ev(1500, "a", 0, 3), tick(2600), tick(3000), tick(4000), tick(9000)},
		[]string{"O@1000 a,1", "O@1000 b,2", "O@2000 a,4", "O@2000 b,2", "O@3000 a,3"}},
	{"output snapshot ordered, with having", `from S select sym, count() as c group by sym having c > 1 order by c desc output snapshot every 1 sec insert into O;`,
		[]string{ev(0, "a", 0, 0), ev(100, "b", 0, 0), ev(200, "b", 0, 0), ev(300, "c", 0, 0), ev(400, "c", 0, 0), ev(500, "c", 0, 0), ev(1000, "a", 0, 0)},
		[]string{"O@1000 c,3", "O@1000 b,2"}},
	{"rate limited output feeds a query", `from S select sym, vol output last every 2 events insert into T;
from T#window.length(2) select sum(vol) as s insert into U;`,
		[]string{ev(1, "a", 0, 1), ev(2, "b", 0, 2), ev(3, "c", 0, 3), ev(4, "d", 0, 4)},
		[]string{"T@2 b,2", "U@2 2", "T@4 d,4", "U@4 6"}},
}

func TestOperators(t *testing.T) {
	for _, tc := range operatorCases {
		t.Run(tc.name, func(t *testing.T) {
			a := mustCompile(t, schema+tc.query)
			got := fmtAll(runLines(t, a, tc.in))
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestAbsentPatternOutputIDs checks that a match fired by a clock advance gets the id of the
// input that moved the clock.
func TestAbsentPatternOutputIDs(t *testing.T) {
	a := mustCompile(t, "@app:name('A')\n"+schema+`from every e1=S[vol == 1] -> not S[vol == 2] for 1 sec select e1.sym as a insert into O;`)
	if !a.UsesTime() {
		t.Fatal("an app with an absent element must use time")
	}
	if mustCompile(t, schema+`from e1=S -> e2=S<2:> select e2[0].sym as a insert into O;`).UsesTime() {
		t.Fatal("a counting pattern without within does not use time")
	}
	outs := runLines(t, a, []string{ev(0, "a", 0, 1), ev(10, "b", 0, 1), tick(999), tick(1500), ev(1600, "c", 0, 1), ev(2600, "d", 0, 0)})
	var got []string
	for _, o := range outs {
		got = append(got, o.ID+" "+fmtOut(o))
	}
	q := outs[0].Query
	want := []string{"A/" + q + "/4/0 O@1000 a", "A/" + q + "/4/1 O@1010 b", "A/" + q + "/6/0 O@2600 c"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestEveryAbsentClockJump checks that a clock jump far past a short 'every' absent wait fires
// a bounded number of matches (maxPeriods) and that the wait then restarts at the new clock.
func TestEveryAbsentClockJump(t *testing.T) {
	a := mustCompile(t, "@app:name('A')\n"+schema+`from e1=S[vol == 1] -> every not S[vol == 2] for 1 ms select e1.sym as a insert into O;`)
	outs := runLines(t, a, []string{ev(0, "a", 0, 1), tick(1 << 50), tick(1<<50 + 3)})
	if len(outs) != 10000+3 {
		t.Fatalf("got %d matches, want 10000 for the jump and 3 after it", len(outs))
	}
	if got, want := fmtOut(outs[len(outs)-1]), fmt.Sprintf("O@%d a", int64(1<<50+3)); got != want {
		t.Fatalf("last match %q, want %q", got, want)
	}
}
