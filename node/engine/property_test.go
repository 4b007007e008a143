package engine_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/streamha/streamha/node/engine"
	"pgregory.net/rapid"
)

// Query templates over S(sym string, price double, vol int, ets long); generated apps combine
// a few of them, including chains through the streams they create.
var queryMenu = []string{
	`from S[price > 50.0] select sym, price insert into F{i};`,
	`from S#window.length(3) select sym, sum(vol) as s, max(price) as hi group by sym insert all events into L{i};`,
	`from S#window.lengthBatch(4) select sym, count() as c, min(price) as lo group by sym insert all events into LB{i};`,
	`from S#window.time(700 ms) select sym, avg(price) as ap, distinctCount(vol) as dc group by sym insert all events into TW{i};`,
	`from S#window.timeBatch(500 ms) select sym, sum(price) as sp group by sym having sp > 10.0 insert all events into TB{i};`,
	`from S#window.externalTime(ets, 600 ms) select count() as c, sum(vol) as v insert all events into ET{i};`,
	`from S#window.externalTimeBatch(ets, 800 ms) select sym, max(vol) as mv group by sym insert into EB{i};`,
	`from S select sym, count() as c, sum(vol) as total group by sym insert into R{i};`,
	`from every e1=S[vol > 5] -> e2=S[sym == e1.sym and price > e1.price] within 1 sec select e1.sym as sym, e1.price as p1, e2.price as p2 insert into P{i};`,
	`from every e1=S[vol < 3], e2=S[vol >= 3] select e1.vol as a, e2.vol as b insert into Q{i};`,
	`from every (e1=S[price < 30.0] -> e2=S[price > 70.0]) select e1.sym as a, e2.sym as b insert into PA{i};`,
	`from e1=S -> e2=S[vol == e1.vol] select e2.sym as sym insert into P1{i};`,
	`from every e1=S[vol < 4], e2=S[vol >= 4 and vol < 8]+, e3=S[vol >= 8] within 2 sec select e1.vol as a, e2[0].vol as b0, e2[last].vol as bl, e3.vol as c insert into SQ{i};`,
	`from every e1=S[vol < 5], e2=S[sym == e1.sym]*, e3=S[vol > 5] select e1.sym as a, e2[last].price as p, e3.sym as c insert into SS{i};`,
	`from S#window.time(1 sec) select sym, vol insert expired events into X{i};
from X{i}#window.length(2) select sym, sum(vol) as sv insert all events into X2{i};`,
	`from S[vol % 2 == 0] select sym, ifThenElse(price > 50.0, 'hi', 'lo') as band, vol insert into E{i};
from E{i}#window.timeBatch(300 ms) select band, count() as n group by band insert into EN{i};`,
	// order by / limit / offset and output rate limiting (keep appending: fuzz seeds use indexes)
	`from S#window.lengthBatch(3) select sym, price, vol order by price desc, sym limit 2 offset 0 insert all events into OB{i};`,
	`from S#window.length(3) select sym, sum(vol) as s group by sym order by s desc limit 1 output last every 3 events insert all events into OL{i};`,
	`from S select sym, count() as c group by sym output first every 2 events insert into OF{i};`,
	`from S select sym, price output all every 400 ms insert into OA{i};`,
	`from S select sym, max(price) as hi group by sym output last every 300 ms insert into OT{i};`,
	`from S select sym, vol group by sym output first every 500 ms insert into OFT{i};`,
	`from S#window.time(700 ms) select sym, sum(vol) as sv group by sym having sv > 3 order by sv desc output snapshot every 250 ms insert into OS{i};`,
	`from S#window.timeBatch(400 ms) select sym, avg(price) as ap group by sym limit 2 output snapshot every 1 sec insert all events into OSB{i};`,
	`from every e1=S[vol > 6] -> e2=S[sym == e1.sym] select e1.sym as sym, e2.vol as v output last every 500 ms insert into OP{i};`,
	`from S[vol > 2] select sym, vol output every 3 events insert into OC{i};
from OC{i}#window.timeBatch(300 ms) select sym, sum(vol) as s group by sym output snapshot every 200 ms insert into OC2{i};`,
	// joins (self-joins of S, and S joined with a stream derived from it)
	`from S[vol > 4]#window.length(3) as a join S[vol <= 4]#window.time(500 ms) as b on a.sym == b.sym select a.sym as sym, a.vol as av, b.vol as bv insert all events into J{i};`,
	`from S#window.length(2) as a left outer join S#window.externalTime(ets, 400 ms) as b on a.vol > b.vol select a.sym as sym, b.sym as bs, b.vol as bv insert all events into JL{i};`,
	`from S[price < 50.0]#window.time(600 ms) as a full outer join S[price >= 50.0]#window.length(4) as b on a.sym == b.sym
select a.sym as s, count() as c, max(b.price) as hi, min(a.vol) as lo, sum(b.vol) as sv group by a.sym insert all events into JF{i};`,
	`from S[vol < 5] select sym, vol insert into JD{i};
from S#window.length(2) as s right outer join JD{i}#window.time(400 ms) as d unidirectional on s.sym == d.sym select d.sym as sym, s.vol as sv, d.vol as dv order by sv desc output last every 2 events insert all events into JR{i};`,
	`from S[vol > 6] as x join S#window.length(3) as y on x.sym != y.sym select x.vol as xv, y.vol as yv, y.sym as ys output first every 300 ms insert into JN{i};`,
	`from S#window.time(300 ms) as a join S#window.time(700 ms) as b on a.sym == b.sym select a.sym as sym, max(a.price + b.price) as hi, count() as c group by a.sym having c > 1 output snapshot every 250 ms insert into JS{i};`,
	// counting patterns (<n:m>, <n:>, <:m>, <n>)
	`from every e1=S[vol > 6] -> e2=S[sym == e1.sym]<2:3> -> e3=S[vol < 2] within 2 sec select e1.sym as sym, e2[0].vol as v0, e2[last].vol as vl, e2[2].vol as v2, e3.vol as v3 insert into CP{i};`,
	`from every e1=S[vol < 3]<2> -> e2=S[price > e1[last].price] select e1[0].sym as a, e1[1].sym as b, e2.price as p insert into CF{i};`,
	`from every (e1=S[vol == 0] -> e2=S[vol > 5]<:2> -> e3=S[vol == 9]) select e1.sym as a, e2[0].vol as b, e3.sym as c insert into CW{i};`,
	`from e1=S[vol > 4] -> e2=S[sym == e1.sym]<2:> select e1.sym as sym, e2[0].vol as a, e2[1].vol as b insert into CL{i};`,
	// absent patterns (not S[..] for <time>)
	`from every e1=S[vol > 5] -> not S[sym == e1.sym and price > e1.price] for 500 ms select e1.sym as sym, e1.price as p insert into AB{i};`,
	`from every e1=S[vol == 1] -> not S[vol == 2] for 300 ms -> e3=S[sym == e1.sym] within 1 sec select e1.sym as a, e3.vol as v insert into AM{i};`,
	`from every (not S[vol > 7] for 400 ms -> e2=S[vol < 2]) select e2.sym as s, e2.vol as v output last every 2 events insert into AF{i};`,
	`from not S[price > 90.0] for 600 ms -> e2=S select e2.sym as s insert into A1{i};`,
	// every on an absent element: each elapsed wait moves a match on and the wait repeats
	`from every not S[vol > 8] for 700 ms -> e2=S[vol < 3] within 2 sec select e2.sym as s, e2.vol as v insert into EN{i};`,
	`from e1=S[vol == 4] -> every not S[sym == e1.sym] for 450 ms select e1.sym as s, e1.price as p insert into EL{i};`,
	// tables (insert, delete, update [or insert], with and without set; joined with S)
	`define table TI{i} (sym string, vol int);
from S[vol > 3] select sym, vol insert into TI{i};
from S[vol < 2] select sym delete TI{i} on TI{i}.sym == sym;
from S#window.length(2) as s left outer join TI{i} on s.sym == TI{i}.sym select s.sym as sym, TI{i}.vol as tv, s.vol as sv insert all events into TJ{i};`,
	`define table TU{i} (sym string, hi double, n int);
from S select sym, price as hi, 1 as n update or insert into TU{i} set TU{i}.hi = ifThenElse(hi > TU{i}.hi, hi, TU{i}.hi), TU{i}.n = TU{i}.n + 1 on TU{i}.sym == sym;
from S[vol > 6] join TU{i} as u on u.n > 1 select S.sym as sym, u.sym as us, u.hi as hi, u.n as n insert into TV{i};`,
	`define table TW{i} (sym string, total long);
from S#window.time(500 ms) select sym, sum(vol) as total group by sym output last every 2 events update or insert into TW{i} on TW{i}.sym == sym;
from S[price > 80.0] select sym, convert(vol, 'long') as total update TW{i} on TW{i}.sym == sym;
from TW{i} as t right outer join S[vol > 4]#window.externalTime(ets, 300 ms) as s on t.total > 5L and t.sym != s.sym select s.sym as sym, t.sym as ts, t.total as tt insert all events into TX{i};`,
	// logical patterns (and / or)
	`from every e1=S[vol > 5] -> e2=S[sym == e1.sym and vol < 3] and e3=S[price > e1.price] within 1 sec select e1.sym as sym, e2.vol as v2, e3.price as p3 insert into LA{i};`,
	`from every (e1=S[vol == 0] or e2=S[vol == 9]) -> e3=S[vol == 5] select e1.sym as a, e2.sym as b, e3.sym as c insert into LO{i};`,
	`from every (e1=S[vol < 2] and e2=S[vol > 7] -> not S[vol == 5] for 300 ms) select e1.vol as a, e2.vol as b insert into LN{i};`,
	`from every e1=S[vol == 1], e2=S[vol == 2] and e3=S[vol == 3], e4=S select e1.sym as a, e2.sym as b, e3.sym as c, e4.sym as d insert into LS{i};`,
	// "<condition> in Table"
	`define table IN{i} (sym string, vol int);
from S[vol > 5 and not (sym == IN{i}.sym in IN{i})] select sym, vol insert into IN{i};
from S[price > 50.0]#window.length(3)[(sym == IN{i}.sym and vol < IN{i}.vol) in IN{i}] select sym, (vol == IN{i}.vol in IN{i}) as same, count() as c group by sym insert all events into IO{i};`,
	// sequences with a quantified first or last element
	`from every e1=S[vol > 2]*, e2=S[vol < e1[last].vol] select e1[0].vol as a, e1[last].vol as b, e2.vol as c insert into QF{i};`,
	`from every e1=S[vol > 7], e2=S[sym == e1.sym]? select e1.sym as a, e2[0].vol as b insert into QL{i};`,
	// a primary-key table: duplicate inserts and key-clashing updates are dropped
	`@PrimaryKey('sym') @Index('vol') define table PK{i} (sym string, vol int);
from S select sym, vol insert into PK{i};
from S[price > 60.0] select sym, vol + 1 as vol update PK{i} on PK{i}.vol < vol;
from S[vol == 0] select sym delete PK{i} on PK{i}.sym == sym;
from S#window.length(1) join PK{i} as t on t.vol >= S.vol select S.sym as sym, t.sym as ts, t.vol as tv insert into PJ{i};`,
	// logical absent elements (not S for T and / or e=S, not S and e=S, two absent sides)
	`from every e1=S[vol > 5] -> not S[sym == e1.sym and vol < 3] for 400 ms and e3=S[price > e1.price] within 1 sec select e1.sym as sym, e3.price as p insert into XA{i};`,
	`from every e1=S[vol == 2] -> not S[vol == 9] for 300 ms or e3=S[sym == e1.sym] select e1.sym as a, e3.vol as v insert into XO{i};`,
	`from every ((not S[vol > 8] for 500 ms or not S[price > 90.0] for 700 ms) -> e3=S[vol < 2]) select e3.sym as s insert into XF{i};`,
	`from every e1=S[vol == 7] -> not S[vol == 0] and e3=S[sym == e1.sym] select e1.sym as a, e3.vol as v insert into XN{i};`,
	`from not S[vol == 3] for 400 ms and e2=S[vol == 6] -> e3=S[vol < 2] within 2 sec select e2.sym as b, e3.sym as c insert into XS{i};`,
	`from every (not S[vol == 0] for 300 ms or e2=S[vol == 5]) -> e3=S[sym == 'b'] within 1 sec select e2.sym as b, e3.vol as v insert into XE{i};`,
	// absent elements in sequences (',')
	`from every e1=S[vol > 5], not S[sym == e1.sym and vol < 3] for 400 ms, e3=S[vol < 5] select e1.sym as a, e3.vol as v insert into YA{i};`,
	`from every not S[vol > 8] for 300 ms, e2=S[vol < 5] within 1 sec select e2.sym as s, e2.vol as v insert into YE{i};`,
	`from every (not S[vol == 0] for 300 ms or e2=S[vol == 5]), e3=S select e2.sym as b, e3.vol as v insert into YL{i};`,
	`from every (not S[vol == 9] and e2=S[vol > 4]), e3=S[vol < 3] select e2.sym as b, e3.sym as c insert into YN{i};`,
	`from every e1=S[vol > 3]+, not S[vol < 2] for 250 ms, e3=S select e1[0].vol as a, e1[last].vol as b, e3.sym as c insert into YQ{i};`,
	// a cycle of queries: a recursive join through a table, and a time window on the cycle
	// whose expiries (at timers) go round again
	`define table CY{i} (sym string, vol int);
from S select sym, vol update or insert into CY{i} on CY{i}.sym == sym;
from S[vol > 6] join CY{i} as c on c.vol < S.vol select S.sym as sym, c.vol as vol, 0 as d insert into CC{i};
from CC{i}[d < 3]#window.time(200 ms) select sym, vol + 1 as vol, d + 1 as d insert all events into CC{i};
from CC{i} join CY{i} as c on c.sym == CC{i}.sym select CC{i}.sym as sym, CC{i}.vol as vol, d, c.vol as cv insert into CO{i};`,
	// partitions: per-key windows, inner streams, rate limiters, range keys with patterns, a
	// stream the partition does not list (every instance takes it), @purge
	`partition with (sym of S) begin
from S#window.time(600 ms) select sym, sum(vol) as s insert all events into #PW{i};
from #PW{i}#window.length(2) select sym, max(s) as m output last every 300 ms insert into PT{i};
end;`,
	`partition with (vol < 5 as 'lo' or vol >= 3 as 'hi' of S) begin
from every e1=S[price > 50.0] -> not S[sym == e1.sym] for 400 ms select e1.sym as sym, e1.vol as v insert into PR{i};
from every e1=S, e2=S[vol > e1.vol] select e1.vol as a, e2.vol as b insert into PS{i};
end;`,
	`@purge(enable='true', interval='500 ms', idle.period='700 ms')
partition with (sym of S) begin
from S#window.timeBatch(400 ms) select sym, count() as c insert into PB{i};
from S#window.length(2) as a join PB{i}#window.length(1) as b on a.vol > 2 select a.sym as sym, b.c as c insert all events into PJ{i};
end;`,
	`partition with (sym of S) begin
from every (not S[vol > 7] for 400 ms -> e2=S[vol < 2]) select e2.sym as s, e2.vol as v insert into PN{i};
from not S[price > 90.0] for 600 ms -> e2=S select e2.sym as s insert into PF{i};
from every e1=S[vol == 4] -> every not S[vol == 4] for 300 ms within 2 sec select e1.sym as s insert into PE{i};
end;`,
	// window options and the other core windows
	`from S#window.lengthBatch(3, true) select sym, count() as c insert all events into WS{i};
from S#window.timeBatch(300 ms, 100, true) select sum(vol) as s insert all events into WT{i};`,
	`from S#window.externalTimeBatch(ets, 500 ms, 0, 200, true) select sym, ets, count() as c insert all events into WE{i};
from S#window.externalTimeBatch(ets, 400 ms, ets, 300) select sym, count() as c group by sym insert into WG{i};`,
	`from S#window.timeLength(500 ms, 3) select sym, sum(vol) as s insert all events into WL{i};
from S#window.sort(3, price, 'desc', sym) select sym, price insert all events into WO{i};`,
	`from S#window.expression('sum(vol) < 15 and eventTimestamp(last) - eventTimestamp(first) < 500') select sym, count() as c insert all events into WX{i};
from S#window.expression(sym) select sym insert all events into WZ{i};`,
	`from S#window.expressionBatch('sum(vol) < 12') select sym, count() as c insert all events into WB{i};
from S#window.expressionBatch('last.vol >= first.vol', true) select sym, vol insert all events into WC{i};`,
	`from S#window.frequent(2, sym) select sym, vol insert all events into WF{i};
from S#window.lossyFrequent(0.3, 0.1, sym) select sym, vol insert all events into WY{i};`,
	`from S#window.lengthBatch(2) as a join S#window.timeBatch(300 ms) as b on a.sym == b.sym select a.vol as av, b.vol as bv insert all events into WJ{i};
from S#window.sort(2, vol) as a join S#window.externalTimeBatch(ets, 300 ms) as b on a.vol < b.vol select a.sym as s, count() as c group by a.sym insert all events into WK{i};`,
	// every on a group followed by more elements or on a later element; a counting first
	// element with a minimum of 0; having on pattern events and on a join's input attributes;
	// a table join's window chunk as one batch; every on a later logical element with an
	// absent side
	`from every (e1=S[vol > 5] -> e2=S[vol < 4]<1:2>) -> e3=S[sym == e1.sym] within 1 sec select e1.vol as a, e2[last].vol as b, e3.vol as c insert into GA{i};`,
	`from e0=S[vol == 9] -> every (e1=S[vol > 3] -> e2=S[vol < 3] or e3=S[price > 70.0]) -> e4=S[sym == e1.sym] select e0.sym as s, e1.vol as a, e2.vol as b, e3.vol as c, e4.vol as d insert into GB{i};`,
	`from e1=S[vol == 2] -> every e2=S[vol > 6] -> e3=S[vol < e2.vol] select e1.sym as s, e2.vol as a, e3.vol as b having e1.price > 10.0 insert into GC{i};`,
	`from e1=S[vol > 7]<0:2> -> e2=S[vol < 2] select e1[0].vol as a, e1[1].vol as b, e2.sym as s insert into GD{i};`,
	`define table GT{i} (sym string, vol int);
from S[vol > 5] select sym, vol insert into GT{i};
from S#window.length(2) as s join GT{i} as t on s.sym == t.sym select s.sym as sym, count() as c, sum(t.vol) as tv having s.price > 20.0 insert all events into GJ{i};`,
	`from S#window.length(2) as a join S#window.time(300 ms) as b on a.sym == b.sym select a.sym as sym, b.vol as v having a.vol > b.vol insert all events into GK{i};`,
	`from e1=S[vol == 1] -> every (not S[vol == 0] and e2=S[vol > 6]) select e1.sym as s, e2.vol as v insert into GL{i};`,
	`from every e1=S[vol > 5]<1:2> -> e2=S[vol < 3]<2> -> e3=S[sym == e1[0].sym] within 1 sec select e1[0].vol as a, e2[last].vol as b, e3.vol as c insert into GM{i};`,
	`from every e1=S[vol > 4] -> e2=S[sym == e1.sym] within 800 ms select e1.sym as s, count() as n, sum(e2.vol) as t, max(e2.price) as hi having n > 1 insert into GN{i};`,
	`from every e1=S[vol > 6], e2=S[e2[last] is null or vol >= e2[last].vol]+, e3=S[vol < 4] select e1.vol as a, e2[last-1] is null as one, e2[0] is null as none, e3.sym as s insert into GO{i};`,
	`from every e1=S[vol > 6] -> e2=S[vol > 3]<2> -> not S[vol == 9] and e3=S[vol < 3] within 2 sec select e1.vol as a, e2[1].vol as b, e3.sym as s insert into GP{i};`,
}

// menuQuery instantiates template j with output streams suffixed by i.
func menuQuery(j, i int) string { return strings.ReplaceAll(queryMenu[j], "{i}", fmt.Sprint(i)) }

// genInputs draws up to 40 input lines over three symbols for the property tests.
func genInputs(t *rapid.T) []string { return genInputsOver(t, 40, []string{"a", "b", "c"}) }

// genInputsOver draws 1 to maxN input lines: ticks, and S events of the symbols syms with timestamps
// that may go back, which the property tests replay whole and from snapshots.
func genInputsOver(t *rapid.T, maxN int, syms []string) []string {
	n := rapid.IntRange(1, maxN).Draw(t, "n")
	ts := int64(1_000_000)
	lines := make([]string, n)
	for i := range lines {
		ts += int64(rapid.IntRange(-50, 400).Draw(t, "dt"))
		if rapid.IntRange(0, 9).Draw(t, "kind") == 0 {
			lines[i] = fmt.Sprintf(`{"tick":%d}`, ts)
			continue
		}
		sym := rapid.SampledFrom(syms).Draw(t, "sym")
		price := rapid.IntRange(0, 100).Draw(t, "price")
		vol := rapid.IntRange(0, 9).Draw(t, "vol")
		ets := ts + int64(rapid.IntRange(-100, 100).Draw(t, "skew"))
		lines[i] = fmt.Sprintf(`{"stream":"S","ts":%d,"data":{"sym":%q,"price":%d,"vol":%d,"ets":%d}}`, ts, sym, price, vol, ets)
	}
	return lines
}

func applyAll(t *rapid.T, a *engine.App, rt *engine.Runtime, lines []string, from int, out *bytes.Buffer) {
	for i := from; i < len(lines); i++ {
		in, err := a.DecodeInput([]byte(lines[i]))
		if err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		in.Seq = uint64(i + 1)
		err = rt.Apply(in, func(o *engine.Output) {
			out.Write(o.AppendJSON(nil))
			out.WriteByte('\n')
		})
		if err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
	}
}

// compileMenuApp draws one to three queries of the menu and compiles them as app name, so the
// property tests build their random apps alike; src is the app's text for failure messages.
func compileMenuApp(t *rapid.T, name string) (a *engine.App, src string) {
	k := rapid.IntRange(1, 3).Draw(t, "queries")
	qs := make([]string, k)
	for i := range qs {
		qs[i] = menuQuery(rapid.IntRange(0, len(queryMenu)-1).Draw(t, "query"), i)
	}
	src = "@app:name('" + name + "')\n" + schema + strings.Join(qs, "\n")
	a, err := engine.Compile(strings.ToLower(name)+".siddhi", src)
	if err != nil {
		t.Fatalf("compile: %v\n%s", err, src)
	}
	return a, src
}

func TestSnapshotRestoreReplayProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, src := compileMenuApp(t, "Prop")
		lines := genInputs(t)
		var full bytes.Buffer
		applyAll(t, a, engine.NewRuntime(a), lines, 0, &full)

		for cut := 0; cut <= len(lines); cut++ {
			var out bytes.Buffer
			rt := engine.NewRuntime(a)
			applyAll(t, a, rt, lines[:cut], 0, &out)
			blob, err := rt.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			if seq, err := engine.SnapshotSeq(blob); err != nil || seq != uint64(cut) {
				t.Fatalf("SnapshotSeq = %d, %v; want %d", seq, err, cut)
			}
			rt2, err := engine.Restore(a, blob)
			if err != nil {
				t.Fatalf("restore at %d: %v", cut, err)
			}
			applyAll(t, a, rt2, lines, cut, &out)
			if out.String() != full.String() {
				t.Fatalf("cut %d: outputs differ\napp:\n%s\nfull:\n%s\nrestored:\n%s", cut, src, full.String(), out.String())
			}
		}
	})
}
