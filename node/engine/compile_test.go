package engine_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/streamha/streamha/node/engine"
)

func TestCompileErrors(t *testing.T) {
	cases := []struct{ src, want string }{
		{"define stream S (a int);\nfrom X select a insert into O;", "2:6: unknown stream X"},
		{"define stream S (a int);\nfrom S[b > 1] select a insert into O;", "2:8: stream S has no attribute b"},
		{"define stream S (a int, s string);\nfrom S[a > s] select a insert into O;", "2:10: cannot compare int > string"},
		{"define stream S (a int);\nfrom S[sum(a) > 1] select a insert into O;", "2:8: aggregate function sum is only allowed in select"},
		{"define stream S (a int);\nfrom S select a + 1 insert into O;", "2:15: name this expression with 'as <name>'"},
		{"define stream S (a int);\nfrom S select a insert into O\nfrom S select a insert into P;", "3:1: expected ';', found 'from'"},
		{"define stream S (a integer);", "1:20: unknown type \"integer\""},
		{"define stream S (a int);\nfrom S#window.foo(1) select a insert into O;", "2:15: unknown window foo"},
		{"define stream S (a int);\nfrom S#window.time(0 sec) select a insert into O;", "2:20: window time must be positive"},
		{"define stream S (a int);\npartition with (a of S) begin from S select a insert into S; end;", "2:59: inserting into S creates a cycle of queries through a partition, which is not supported"},
		{"define stream S (a double);\nfrom S select default(a, 1) as t insert into O;", "2:26: default: the default is int, the value double (they must have one type)"},
		{"define stream S (a double);\nfrom S select default(a) as t insert into O;", "2:15: default takes 2 argument(s), got 1"},
		{"define stream S (a int);\nfrom S as s select eventTimestamp(s) as t insert into O;", "2:35: eventTimestamp(s), the time of one event of a join or pattern, is not supported"},
		{"define stream S (a int);\ndefine stream S (a int);\ndefine stream S (a long);", "3:15: stream or table S is defined twice"},
		{"define stream S (a int);\ndefine stream O (a string);\nfrom S select a insert into O;", "3:29: stream O attribute a is string"},
		{"define stream S (a int);\nfrom every e1=S -> e2=S[e3.a == a] select e1.a as x insert into O;", "2:25: unknown pattern alias e3"},
		{"define stream S (a int);\nfrom e1=S[e2.a == a] -> e2=S select e1.a as x insert into O;", "2:11: e2 is not matched yet"},
		{"define stream S (a int);\nfrom S select a having sum(a) > 1 insert into O;", "2:24: aggregate function sum is only allowed in select"},
		{"define stream S (a int);\nfrom S select a insert into O;\nfrom S select a, a as b insert into O;", "3:37: stream O has 1 attributes, the query selects 2"},
		{"define stream S (a string);\nfrom S select 'x + 1 as b insert into O;", "2:15: unterminated string literal"},
		{"define stream S (a int);\nfrom S select a ; insert into O;", "2:17: expected 'insert', found ';'"},
		{"define stream S (a int);\ndefine stream T (a int);\nfrom S join T on S.a == T.a select a insert into O;", "3:36: attribute a is ambiguous: both S and T have it; qualify it (e.g. S.a)"},
		{"define stream S (a int);\nfrom S#window.length(2) left outer join S select a insert into O;", "2:6: a self-join needs an alias on both sides (from S as a join S as b)"},
		// joins (L(k string, x int), R(k string, y int))
		{joinSchema + "from L as l join R as r on z.k == r.k select x insert into O;", "3:28: unknown stream or alias z in z.k (the join reads L as l and R as r)"},
		{joinSchema + "from L as l join R as r on l.k == r.k select k, x insert into O;", "3:46: attribute k is ambiguous: both L as l and R as r have it; qualify it (e.g. l.k)"},
		{joinSchema + "from L as l join R as r on l.k == r.k select l.k as k, z insert into O;", "3:56: no stream of the join has an attribute z"},
		{joinSchema + "from L as l join R as r on l.k == r.z select x insert into O;", "3:35: stream R as r has no attribute z"},
		{joinSchema + "from L#window.length(1) join L#window.length(1) on x > 1 select x insert into O;", "3:6: a self-join needs an alias on both sides (from L as a join L as b)"},
		{joinSchema + "from L as a join L select a.x as x insert into O;", "3:18: a self-join needs an alias on both sides (from L as a join L as b)"},
		{joinSchema + "from L as a join L as b on L.x > 1 select a.x as x insert into O;", "3:28: unknown stream or alias L in L.x (the join reads L as a and L as b)"},
		{joinSchema + "from L as R join R select x insert into O;", "3:11: alias R also names the other side of the join"},
		{joinSchema + "from e1=L -> e2=L join R select e1.x as x insert into O;", "3:19: joins are not supported in pattern queries"},
		{joinSchema + "from L as l join R as r on x + y select x insert into O;", "3:30: join condition must be a bool condition, got int"},
		{joinSchema + "from L as l join R as r on sum(x) > 1 select l.x insert into O;", "3:28: aggregate function sum is only allowed in select"},
		{joinSchema + "from L[r.y > 1] as l join R as r select x insert into O;", "3:8: unknown stream r in r.y (the input is L)"},
		{joinSchema + "from L join R select * insert into O;", "3:15: select * over a join: both sides have an attribute k; name the attributes"},
		{joinSchema + "from L#window.length(1) as l join R#window.length(1) as r on l.k == r.k within 1 sec select x insert into O;", "3:73: 'within' in joins is not supported"},
		{joinSchema + "from L#window.frequent(2) as l join R as r select x insert into O;", "3:15: window frequent is not supported in joins"},
		{joinSchema + "from L#window.lengthBatch(2, 1) select x insert into O;", "3:30: the second argument of lengthBatch (stream current events) must be a constant bool"},
		{joinSchema + "from L#window.timeBatch(2 sec, 1, true, 3) select x insert into O;", "3:15: window timeBatch takes 1 to 3 arguments (time, start time, stream current events), got 4"},
		{joinSchema + "from L#window.sort(2, x, 'up') select x insert into O;", "3:26: sort order must be 'asc' or 'desc', got 'up'"},
		{joinSchema + "from L#window.sort(2, 8) select x insert into O;", "3:23: a sort key must be an attribute of L"},
		{joinSchema + "from L#window.timeLength(2 sec) select x insert into O;", "3:15: window timeLength takes 2 arguments (time, length), got 1"},
		{joinSchema + "from L#window.lossyFrequent(0.1, 0.2) select x insert into O;", "3:15: the error bound of lossyFrequent (0.2) must be below its support threshold (0.1)"},
		{joinSchema + "from L#window.expression('count() <= ') select x insert into O;", "3:26: invalid condition of window expression (column 12): expected"},
		{joinSchema + "from L#window.expression('sum(k) < 3') select x insert into O;", "3:26: invalid condition of window expression (column 5): sum needs a number, got string"},
		{joinSchema + "from L#window.expressionBatch('count() < 3', false, true) select x insert into O;", "3:15: expressionBatch streaming current events (a third argument true) is not supported"},
		{joinSchema + "from L#window.expression(x) select x insert into O;", "3:26: the condition attribute x of window expression must be a string, got int"},
		{joinSchema + "from L#window.lossyFrequent(2) select x insert into O;", "3:29: the support threshold of lossyFrequent must be between 0 and 1, got 2"},
		{joinSchema + "from L#window.length(2)[x > 1] as l join R as r select x insert into O;", "3:27: filters after the window are not supported in joins: filter before the window"},
		{joinSchema + "from L as l unidirectional join R as r unidirectional select x insert into O;", "3:40: only one side of a join can be unidirectional"},
		{joinSchema + "from L unidirectional select x insert into O;", "3:8: 'unidirectional' is only allowed on a side of a join"},
		{joinSchema + "from L outer join R select x insert into O;", "3:8: write 'left outer join', 'right outer join' or 'full outer join'"},
		{joinSchema + "from L left join R select x insert into O;", "3:13: expected 'outer', found 'join'"},
		{joinSchema + "from L join R join L select x insert into O;", "3:15: a query joins two streams at most"},
		{joinSchema + "from L as l join R as r select l.k as a, l.x order by r.x insert into O;", "3:55: order by can only use the select's output attributes (or selected input attributes); r.x is not one"},
		{"define stream S (a int);\nfrom every e1=S -> e2=S+ -> e3=S select e1.a as x insert into O;", "2:24: quantifier '+' is only supported in sequences"},
		{"define stream S (a int);\nfrom every e1=S+, e2=S* select e1[0].a as x insert into O;", "2:23: two quantified elements in a row are not supported"},
		{"define stream S (a int);\nfrom e1=S<3:2> -> e2=S select e2.a as x insert into O;", "2:10: counting minimum 3 is above the maximum 2"},
		{"define stream S (a int);\nfrom e1=S -> e2=S<0> select e1.a as x insert into O;", "2:18: a counting element needs a positive maximum"},
		{"define stream S (a int);\nfrom e1=S -> e2=S<0:0> -> e3=S select e1.a as x insert into O;", "2:18: a counting element needs a positive maximum"},
		{"define stream S (a int);\nfrom e1=S -> e2=S<-1:2> select e1.a as x insert into O;", "2:19: counting bounds must be non-negative integers"},
		{"define stream S (a int);\nfrom e1=S -> e2=S<:> select e1.a as x insert into O;", "2:18: a counting element needs a bound: <n:m>, <n:>, <:m> or <n>"},
		{"define stream S (a int);\nfrom e1=S -> e2=S<x> select e1.a as x insert into O;", "2:19: expected a count (e.g. <2:5>, <2:>, <:5> or <3>), found 'x'"},
		{"define stream S (a int);\nfrom e1=S -> e2=S<:2> select e1.a as x insert into O;", "2:18: a counting last element needs a minimum of at least 1"},
		{"define stream S (a int);\nfrom every e1=S<0:2> -> e2=S select e2.a as x insert into O;", "2:16: a counting first element with a minimum of 0 needs a plain second element and no 'every'"},
		{"define stream S (a int);\nfrom e1=S -> e2=S<2> select e9[1] is null as x insert into O;", "2:29: unknown pattern alias e9"},
		{"define stream S (a int);\nfrom e1=S[e2[0] is null] -> e2=S<2> select e1.a as x insert into O;", "2:11: e2 is not matched yet at this point of the pattern"},
		{"define stream S (a int);\nfrom S[S[0].a > 1] select a insert into O;", "2:8: indexed references (S[i].a) are only for patterns and sequences"},
		{"define stream S (a int);\nfrom S select a having b > 1 insert into O;", "2:24: having can only use the select's output attributes; b is not one"},
		{"define stream S (a int);\nfrom e1=S, e2=S<2:3>, e3=S select e1.a as x insert into O;", "2:16: counting elements (<n:m>) are only supported in patterns (elements separated by '->'); sequences take + * ?"},
		{"define stream S (a int);\nfrom e1=S -> e2=S<99999999> select e1.a as x insert into O;", "2:19: counting bound 99999999 is too large (at most 65536)"},
		{"define stream S (a int);\nfrom e1=S -> not S[a > 1] select e1.a as x insert into O;", "2:27: expected 'for <time>' after an absent element (e.g. not B[..] for 10 sec), found 'select'"},
		{"define stream S (a int);\nfrom not S or e2=S select e2.a as x insert into O;", "2:12: an absent element without 'for <time>' can only be joined by 'and' to a matching element"},
		{"define stream S (a int);\nfrom e1=S -> not S for 1 sec and not S select e1.a as x insert into O;", "2:30: an absent element without 'for <time>' can only be joined by 'and'"},
		{"define stream S (a int);\nfrom e1=S -> not S select e1.a as x insert into O;", "2:20: expected 'for <time>' after an absent element"},
		{"define stream S (a int);\nfrom not S for 1 sec and not S for 2 sec select 1 as x insert into O;", "2:6: an absent element needs a matching element"},
		{"define stream S (a int);\nfrom e1=S -> not S for 0 sec select e1.a as x insert into O;", "2:20: 'for' needs a positive time"},
		{"define stream S (a int);\nfrom e1=S*, not S for 1 sec select e1[0].a as x insert into O;", "2:13: an absent element right after a counting element is only supported after a '+' element of a sequence"},
		{"define stream S (a int);\nfrom not S for 1 sec select 1 as x insert into O;", "2:6: an absent element needs a matching element in the pattern (e.g. e1=A -> not B[..] for 10 sec)"},
		{"define stream S (a int);\nfrom e1=S -> not S for 1 sec -> not S for 2 sec select e1.a as x insert into O;", "2:33: two absent elements in a row are not supported"},
		{"define stream S (a int);\nfrom e1=S -> every S[a > 1] -> e2=S select e2.a as x insert into O;", "2:21: expected '=', found '['"},
		{"define stream S (a int);\nfrom every (not S for 1 sec -> e2=S) -> every not S for 1 sec select e2.a as x insert into O;", "2:13: an absent element inside an 'every' group or after a later 'every' is not supported"},
		{"define stream S (a int);\nfrom e1=S, every e2=S, e3=S select e2.a as x insert into O;", "2:12: in a sequence 'every' is only supported on the first element"},
		{"define stream S (a int);\nfrom e1=S -> every e2=S -> every e3=S select e2.a as x insert into O;", "2:28: only one 'every' on a later element or on a group followed by more elements"},
		{"define stream S (a int);\nfrom (every e1=S -> e2=S) -> e3=S select e2.a as x insert into O;", "2:6: a parenthesised group starting with 'every' must be the whole pattern"},
		{"define stream S (a int);\nfrom every (e1=S -> e2=S), e3=S select e2.a as x insert into O;", "2:12: in a sequence a parenthesised group must be the whole sequence"},
		{"define stream S (a int);\nfrom (every (e1=S, e2=S), e3=S) select e2.a as x insert into O;", "2:6: in a sequence 'every' is only supported on the first element"},
		{"define stream S (a int);\nfrom e1=S<2> -> not S for 1 sec select e1[0].a as x insert into O;", "2:17: an absent element right after a counting element is only supported after a '+' element of a sequence"},
		{"define stream S (a int); define table T (a int);\nfrom S[a == T.b in T] select a insert into O;", "2:13: table T has no attribute b"},
		{"define stream S (a int); define table T (a int);\nfrom S[a == T.a in X] select a insert into O;", "2:20: X is not a table"},
		{"define stream S (a int); define table T (a int);\nfrom S[T.a + 1 in T] select a insert into O;", "2:12: the condition before 'in' must be a bool, got int"},
		{"define stream S (a int); define table T (a int);\nfrom S[(a == T.a in T) in T] select a insert into O;", "2:18: '<condition> in <table>' is only supported in filters and the select of stream and join queries (not in the condition of another 'in')"},
		{"define stream S (a int); define table T (a int);\nfrom S select a having a == T.a in T insert into O;", "2:33: '<condition> in <table>' is only supported in filters and the select of stream and join queries (not in having)"},
		{"define stream S (a int); define table T (a int);\nfrom e1=S -> e2=S[a == T.a in T] select e1.a as x insert into O;", "2:28: '<condition> in <table>' is only supported in filters and the select of stream and join queries (not in pattern condition)"},
		{"define stream S (a int);\nfrom e1=S<2> and e2=S select e2.a as x insert into O;", "2:10: a counting or quantified element cannot be part of 'and'"},
		{"define stream S (a int);\nfrom e1=S and e2=S or e3=S select e2.a as x insert into O;", "2:20: a logical element joins two elements: use parentheses and '->' for more"},
		{"define stream S (a int);\nfrom e1=S, e2=S+, e3=S and e4=S select e1.a as x insert into O;", "2:19: a logical element (and / or) right after a counting or quantified element is only supported after a counting element of a fixed count"},
		{"define stream S (a int, b string);\nfrom S select a order by b insert into O;", "2:26: order by can only use the select's output attributes (or selected input attributes); b is not one"},
		{"define stream S (a int);\nfrom S select a as x order by S.a desc, y insert into O;", "2:41: order by can only use the select's output attributes (or selected input attributes); y is not one"},
		{"define stream S (a int);\nfrom S select a order a insert into O;", "2:23: expected 'by', found 'a'"},
		{"define stream S (a int);\nfrom S select a order by 1 insert into O;", "2:26: order by takes attribute names"},
		{"define stream S (a int);\nfrom S select a limit -1 insert into O;", "2:23: limit must be a non-negative integer literal"},
		{"define stream S (a int);\nfrom S select a limit a insert into O;", "2:23: limit must be a non-negative integer literal"},
		{"define stream S (a int);\nfrom S select a offset 1.5 insert into O;", "2:24: offset must be a non-negative integer literal"},
		{"define stream S (a int);\nfrom S select a offset 1 limit 2 insert into O;", "2:26: 'limit' is out of place or repeated"},
		{"define stream S (a int);\nfrom S select a output every 1 sec order by a insert into O;", "2:36: 'order' is out of place or repeated"},
		{"define stream S (a int);\nfrom e1=S -> e2=S select e1.a as x order by x insert into O;", "2:36: order by, limit and offset are not supported in pattern queries"},
		{"define stream S (a int);\nfrom e1=S -> e2=S select e1.a as x limit 1 insert into O;", "2:42: order by, limit and offset are not supported in pattern queries"},
		{"define stream S (a int);\nfrom S select a output snapshot every 5 events insert into O;", "2:39: output snapshot takes a time period"},
		{"define stream S (a int);\nfrom S select a output every 5 insert into O;", "2:32: expected 'events' or a time unit (ms, sec, min, ...), found 'insert'"},
		{"define stream S (a int);\nfrom S select a output every 0 events insert into O;", "2:30: output rate event count must be positive"},
		{"define stream S (a int);\nfrom S select a output every 0 sec insert into O;", "2:30: output rate period must be positive"},
		{"define stream S (a int);\nfrom S select a output last every events insert into O;", "2:35: expected an event count or a time period after 'every'"},
		{"define stream S (a int);\nfrom S select a output last 5 events insert into O;", "2:29: expected 'every', found '5'"},
		{joinSchema + "from L#window.length(2) as l join R#window.length(2) as r on l.k == r.k select l.x output snapshot every 1 sec insert into O;", "3:84: output snapshot over a join with windows needs aggregates"},
		{"define stream S (a int);\nfrom S select count() as c output snapshot every 1 sec insert expired events into O;", "2:28: output snapshot emits current events"},
	}
	for _, c := range cases {
		_, err := engine.Compile("app.siddhi", c.src)
		if err == nil {
			t.Errorf("%q: no error, want %s", c.src, c.want)
			continue
		}
		var ce *engine.CompileError
		if !errors.As(err, &ce) {
			t.Errorf("%q: %T is not a *CompileError", c.src, err)
			continue
		}
		if !strings.Contains(err.Error(), "app.siddhi:"+c.want) {
			t.Errorf("%q:\n got %s\nwant app.siddhi:%s", c.src, err, c.want)
		}
	}
}

func TestCompileErrorCaret(t *testing.T) {
	_, err := engine.Compile("x.siddhi", "define stream S (a int);\nfrom S[a > 'x'] select a insert into O;")
	want := "x.siddhi:2:10: cannot compare int > string\nfrom S[a > 'x'] select a insert into O;\n         ^"
	if err == nil || err.Error() != want {
		t.Fatalf("got:\n%v\nwant:\n%s", err, want)
	}
}

func TestAppAPI(t *testing.T) {
	a := mustCompile(t, `@app:name('Shop')
@sink(type='file', path='out.jsonl')
@sink(type='log')
define stream Orders (id long, total double);
@info(name='big')
from Orders[total > 100.0] select id, total insert into BigOrders;
from BigOrders#window.time(1 min) select count() as n insert into Counts;`)
	if a.Name() != "Shop" || !a.UsesTime() || a.Fingerprint() == "" {
		t.Fatalf("name %q usesTime %v fp %q", a.Name(), a.UsesTime(), a.Fingerprint())
	}
	var names []string
	for _, s := range a.Streams() {
		names = append(names, s.Name)
	}
	if strings.Join(names, ",") != "Orders,BigOrders,Counts" {
		t.Fatalf("streams %v", names)
	}
	o, _ := a.Stream("Orders")
	if !o.Defined || len(o.Sinks) != 2 || o.Sinks[0].Type != "file" || o.Sinks[0].Options["path"] != "out.jsonl" {
		t.Fatalf("orders %+v", o)
	}
	if b, _ := a.Stream("BigOrders"); b.Defined || b.Attrs[1].Type != engine.TypeDouble {
		t.Fatalf("BigOrders %+v", b)
	}
	b := mustCompile(t, "-- same app, other layout\n"+strings.ReplaceAll(`@app:name('Shop')
@sink(type='file', path='out.jsonl')
@sink(type='log')
define stream Orders (id long, total double);
@info(name='big')
from Orders[total > 100.0] select id, total insert into BigOrders;
from BigOrders#window.time(1 min) select count() as n insert into Counts;`, " ", "  "))
	if a.Fingerprint() != b.Fingerprint() {
		t.Fatal("layout changed the fingerprint")
	}
	rt := engine.NewRuntime(a)
	var ids []string
	emit := func(o *engine.Output) { ids = append(ids, o.ID) }
	if err := rt.Apply(engine.Input{Seq: 5, TS: 10, Stream: "Orders", Data: []engine.Value{engine.LongValue(1), engine.DoubleValue(150)}}, emit); err != nil {
		t.Fatal(err)
	}
	if strings.Join(ids, " ") != "Shop/big/5/0 Shop/q2/5/0" {
		t.Fatalf("ids %v", ids)
	}
	if err := rt.Apply(engine.Input{Seq: 5, TS: 10}, emit); !errors.Is(err, engine.ErrApplied) {
		t.Fatalf("re-apply: %v", err)
	}
	if err := rt.Apply(engine.Input{Seq: 6, TS: 10, Stream: "BigOrders"}, emit); !errors.Is(err, engine.ErrInput) {
		t.Fatalf("non-input stream: %v", err)
	}
	if err := rt.Apply(engine.Input{Seq: 6, TS: 10, Stream: "Orders", Data: []engine.Value{engine.IntValue(1), engine.DoubleValue(1)}}, emit); !errors.Is(err, engine.ErrInput) {
		t.Fatalf("bad type: %v", err)
	}
	if rt.LastSeq() != 5 {
		t.Fatalf("last seq %d", rt.LastSeq())
	}
	blob, err := rt.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if seq, err := engine.SnapshotSeq(blob); err != nil || seq != 5 {
		t.Fatalf("SnapshotSeq = %d, %v", seq, err)
	}
	other := mustCompile(t, "define stream S (a int);")
	if _, err := engine.Restore(other, blob); err == nil {
		t.Fatal("restore into another app succeeded")
	}
	blob[len(blob)/2] ^= 1
	if _, err := engine.Restore(a, blob); !errors.Is(err, engine.ErrCorrupt) {
		t.Fatalf("corrupt blob: %v", err)
	}
}

func TestDecodeJSON(t *testing.T) {
	a := mustCompile(t, "define stream S (s string, i int, l long, d double, f float, b bool);")
	s, _ := a.Stream("S")
	vals, ts, hasTS, err := s.DecodeJSON([]byte(`{"s":"x","i":-3,"l":1e3,"d":1.5,"f":2,"b":true,"_ts":77}`))
	if err != nil || !hasTS || ts != 77 {
		t.Fatal(err, ts, hasTS)
	}
	got := []string{}
	for _, v := range vals {
		got = append(got, v.Type().String()+":"+v.String())
	}
	if strings.Join(got, " ") != "string:x int:-3 long:1000 double:1.5 float:2 bool:true" {
		t.Fatal(got)
	}
	vals, _, _, err = s.DecodeJSON([]byte(`{"s":null}`))
	if err != nil || !vals[0].IsNull() || !vals[5].IsNull() {
		t.Fatal("missing/null attributes must be null", err)
	}
	for in, want := range map[string]string{
		`{"zz":1}`:         `unknown attribute "zz"`,
		`{"i":1.5}`:        "non-integral",
		`{"i":3000000000}`: "out of range",
		`{"s":1}`:          "want string, got a number",
		`{"b":"true"}`:     "want bool",
		`[1]`:              "decode JSON object",
		`{"l":"12"}`:       "want long",
		`{"l":1e30}`:       "out of range",
		`{"d":{"x":1}}`:    "want double, got an object",
	} {
		if _, _, _, err := s.DecodeJSON([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", in, err, want)
		}
	}
	enc := engine.AppendValues(nil, vals)
	back, n, err := s.DecodeValues(enc)
	if err != nil || n != len(enc) || len(back) != 6 {
		t.Fatal(err, n)
	}
}

// TestRuntimesShareApp runs two runtimes of one App concurrently (meaningful under -race).
func TestRuntimesShareApp(t *testing.T) {
	a := mustCompile(t, schema+menuQuery(3, 0)+"\n"+menuQuery(8, 0)+"\n"+menuQuery(13, 0))
	lines := []string{ev(1, "a", 10, 9), ev(200, "a", 20, 1), ev(300, "b", 30, 6), tick(5000)}
	done := make(chan string, 2)
	for range 2 {
		go func() {
			done <- strings.Join(fmtAll(runLines(t, a, lines)), "\n")
		}()
	}
	if x, y := <-done, <-done; x != y || x == "" {
		t.Fatalf("runs differ:\n%s\n--\n%s", x, y)
	}
}

// TestSourceMapMissingAttribute: @source's @map(fail.on.missing.attribute='false') marks the
// stream MissingAsNull; the default, 'true', and other streams do not; other values are errors.
func TestSourceMapMissingAttribute(t *testing.T) {
	app, err := engine.Compile("t.siddhi", `@app:name('M')
@source(type='http', @map(type='json', fail.on.missing.attribute='false'))
define stream Lenient (a int, b string);
@source(type='http', @map(type='json', fail.on.missing.attribute='true'))
define stream Strict (a int);
@source(type='http', @map(type='json'))
define stream Plain (a int);
define stream Bare (a int);
from Lenient select a insert into O;
from Strict select a insert into O;
from Plain select a insert into O;
from Bare select a insert into O;`)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"Lenient": true, "Strict": false, "Plain": false, "Bare": false} {
		def, _ := app.Stream(name)
		if def.MissingAsNull != want {
			t.Errorf("%s: MissingAsNull = %v, want %v", name, def.MissingAsNull, want)
		}
	}
	_, err = engine.Compile("t.siddhi", "@source(type='http', @map(type='json', fail.on.missing.attribute='no'))\ndefine stream S (a int);")
	if err == nil || !strings.Contains(err.Error(), "fail.on.missing.attribute must be 'true' or 'false'") {
		t.Fatalf("bad value: %v", err)
	}
}
