package engine_test

import (
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
