package engine_test

import (
	"slices"
	"testing"
)

// Window options and windows the Siddhi conformance cases check only by counts.
func TestWindowOptions(t *testing.T) {
	cases := []struct {
		name  string
		query string
		in    []string
		want  []string
	}{
		{"externalTimeBatch replaces the timestamp with the batch end",
			`from S#window.externalTimeBatch(ets, 1 sec, 0, 0, true) select sym, ets insert all events into O;`,
			[]string{ev(1500, "a", 0, 1), ev(1700, "b", 0, 2), ev(2100, "c", 0, 3), ev(3000, "d", 0, 4)},
			[]string{"O@1500 a,2000", "O@1700 b,2000", "O@3000! a,2000", "O@3000! b,2000", "O@2100 c,3000"}},
		{"externalTimeBatch keeps the timestamp by default",
			`from S#window.externalTimeBatch(ets, 1 sec, 0) select sym, ets insert into O;`,
			[]string{ev(1500, "a", 0, 1), ev(2100, "b", 0, 2)},
			[]string{"O@1500 a,1500"}},
		{"externalTimeBatch timeout emits the open batch, later events re-emit it whole",
			`from S#window.externalTimeBatch(ets, 10 sec, 0, 100) select count() as c insert into O;`,
			[]string{ev(1, "a", 0, 1), ev(2, "b", 0, 2), tick(102), ev(150, "c", 0, 3), tick(300)},
			[]string{"O@2 2", "O@150 3"}}, // a row carries its event's time
		{"timeBatch start time aligns the batches",
			`from S#window.timeBatch(1 sec, 300) select sum(vol) as s insert into O;`,
			[]string{ev(100, "a", 0, 1), ev(200, "b", 0, 2), ev(400, "c", 0, 4), ev(1250, "d", 0, 8), tick(1400)},
			[]string{"O@200 3", "O@1250 12"}}, // batches end at 300 and 1300
		{"timeBatch streaming current events",
			`from S#window.timeBatch(1 sec, true) select sym, count() as c insert all events into O;`,
			[]string{ev(0, "a", 0, 1), ev(100, "b", 0, 2), tick(1000)},
			[]string{"O@0 a,1", "O@100 b,2", "O@1000! b,0"}},
		{"lengthBatch streaming expires a full batch at the next arrival",
			`from S#window.lengthBatch(2, true) select sym insert all events into O;`,
			[]string{ev(1, "a", 0, 1), ev(2, "b", 0, 2), ev(3, "c", 0, 3)},
			[]string{"O@1 a", "O@2 b", "O@3! a", "O@3! b", "O@3 c"}},
		{"sort keeps the first n in order and expires the last",
			`from S#window.sort(2, vol, 'desc', sym) select sym, vol insert all events into O;`,
			[]string{ev(1, "a", 0, 5), ev(2, "b", 0, 9), ev(3, "c", 0, 7), ev(4, "d", 0, 9)},
			[]string{"O@1 a,5", "O@2 b,9", "O@3! a,5", "O@3 c,7", "O@4! c,7", "O@4 d,9"}},
		{"timeLength expires by length then by time",
			`from S#window.timeLength(1 sec, 2) select sym insert all events into O;`,
			[]string{ev(0, "a", 0, 1), ev(100, "b", 0, 2), ev(200, "c", 0, 3), tick(1200)},
			[]string{"O@0 a", "O@100 b", "O@200! a", "O@200 c", "O@1100! b", "O@1200! c"}},
		{"frequent drops a new key when no counter reaches zero",
			`from S#window.frequent(1, sym) select sym, vol insert all events into O;`,
			[]string{ev(1, "a", 0, 1), ev(2, "a", 0, 2), ev(3, "b", 0, 3), ev(4, "c", 0, 4)},
			[]string{"O@1 a,1", "O@2 a,2", "O@4! a,2", "O@4 c,4"}},
		{"expression expires the oldest while the condition fails, before the arrival",
			`from S#window.expression('sum(vol) <= 5 and last.vol >= first.vol') select sym, count() as c insert all events into O;`,
			[]string{ev(1, "a", 0, 1), ev(2, "b", 0, 3), ev(3, "c", 0, 2), ev(4, "d", 0, 0)},
			[]string{"O@1 a,1", "O@2 b,2", "O@3! a,1", "O@3! b,0", "O@3 c,1", "O@4! c,0", "O@4 d,1"}},
		{"expression read from an attribute, cached per condition",
			`define stream E (v int, cond string);
			from E#window.expression(cond) select v insert expired events into O;`,
			[]string{`{"stream":"E","ts":1,"data":{"v":1,"cond":"count() <= 2"}}`, `{"stream":"E","ts":2,"data":{"v":2,"cond":null}}`,
				`{"stream":"E","ts":3,"data":{"v":3,"cond":null}}`, `{"stream":"E","ts":4,"data":{"v":4,"cond":"count() < 1"}}`,
				`{"stream":"E","ts":5,"data":{"v":5,"cond":"not a condition ("}}`, `{"stream":"E","ts":6,"data":{"v":6,"cond":"count() <= 2"}}`,
				`{"stream":"E","ts":7,"data":{"v":7,"cond":null}}`, `{"stream":"E","ts":8,"data":{"v":8,"cond":null}}`},
			[]string{"O@3! 1", "O@4! 2", "O@4! 3", "O@4! 4", "O@8! 6"}}, // an arrival with an invalid condition is dropped
		{"batch window on a join side probes the last batch",
			`define stream T (sym string, w int);
			from S#window.lengthBatch(2) join T#window.length(5) on S.sym == T.sym select S.sym, vol, w insert into O;`,
			[]string{`{"stream":"T","ts":1,"data":{"sym":"a","w":7}}`, ev(2, "a", 0, 1), ev(3, "b", 0, 2)},
			[]string{"O@2 a,1,7"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := mustCompile(t, schema+tc.query)
			if got := fmtAll(runLines(t, a, tc.in)); !slices.Equal(got, tc.want) {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}
