package engine_test

import (
	"fmt"
	"strings"
	"testing"
)

// TestSequenceAbsentAfterQuantified checks "e1=A+, not B for T" in a sequence: the wait runs
// from the last event the quantified element took (so it restarts with each one), passes on
// when it elapses and fails on a matching event. Restores mid-wait are checked by the property
// test (queryMenu) and the conformance cases.
func TestSequenceAbsentAfterQuantified(t *testing.T) {
	q := schema + `from e1=S[vol > 3]+, not S[vol < 2] for 1 sec, e3=S[vol == 3] select e1[0].sym as a, e1[last].sym as b, e3.sym as c insert into O;`
	cases := []struct {
		name string
		in   []string
		want []string
	}{
		{"passes after the last event", []string{ev(0, "a", 0, 5), ev(500, "b", 0, 6), tick(1400), ev(1600, "c", 0, 3)},
			[]string{"O@1600 a,b,c"}},
		{"too early", []string{ev(0, "a", 0, 5), ev(500, "b", 0, 6), ev(1400, "c", 0, 3), tick(3000)},
			nil},
		{"absence fails", []string{ev(0, "a", 0, 5), ev(300, "x", 0, 1), tick(2000), ev(2100, "c", 0, 3)},
			nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := mustCompile(t, q)
			got := fmtAll(runLines(t, a, tc.in))
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestSequenceAbsentBrokenByOtherStream checks strict continuity while a sequence waits out an
// absence, alone or as a side of a logical element: an event of another of the query's streams
// drops the match, one of the absent stream that fails its condition does not.
func TestSequenceAbsentBrokenByOtherStream(t *testing.T) {
	const streams = "define stream A (v int); define stream B (v int); define stream C (v int);\n"
	in := func(ts int64, stream string, v int) string {
		return fmt.Sprintf(`{"stream":%q,"ts":%d,"data":{"v":%d}}`, stream, ts, v)
	}
	cases := []struct {
		name, query string
		in          []string
		want        []string
	}{
		{"absent", `from e1=A, not B[v > 0] for 1 sec, e3=C select e1.v as a, e3.v as c insert into O;`,
			[]string{in(0, "A", 1), in(100, "B", 0), tick(1000), in(1100, "C", 3)}, []string{"O@1100 1,3"}},
		{"absent broken", `from e1=A, not B[v > 0] for 1 sec, e3=C select e1.v as a, e3.v as c insert into O;`,
			[]string{in(0, "A", 1), in(100, "C", 0), tick(1000), in(1100, "C", 3)}, nil},
		{"logical", `from e1=A, not B[v > 0] for 1 sec and e3=C select e1.v as a, e3.v as c insert into O;`,
			[]string{in(0, "A", 1), in(100, "B", 0), in(200, "C", 3), tick(1000)}, []string{"O@1000 1,3"}},
		{"logical broken", `from e1=A, not B[v > 0] for 1 sec and e3=C select e1.v as a, e3.v as c insert into O;`,
			[]string{in(0, "A", 1), in(100, "A", 2), in(200, "C", 3), tick(1000)}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := mustCompile(t, streams+tc.query)
			got := fmtAll(runLines(t, a, tc.in))
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}
