package engine_test

import (
	"strings"
	"testing"

	"github.com/streamha/streamha/node/engine"
)

// TestRateLimitedOutputIDs checks that outputs released by a period end get the id of the input
// (here a tick) whose clock advance released them, and that ids never repeat.
func TestRateLimitedOutputIDs(t *testing.T) {
	a := mustCompile(t, schema+`from S select sym output every 1 sec insert into O;
from S#window.lengthBatch(2) select sym, vol order by vol desc output every 3 events insert into P;`)
	outs := runLines(t, a, []string{ev(1000, "a", 0, 1), ev(1500, "b", 0, 2), tick(2000), ev(2100, "c", 0, 3), ev(2200, "d", 0, 4)})
	var ids []string
	seen := map[string]bool{}
	for _, o := range outs {
		if seen[o.ID] {
			t.Fatalf("id %s repeats", o.ID)
		}
		seen[o.ID] = true
		ids = append(ids, o.ID+"="+strings.Join(fmtAll([]*engine.Output{o}), ""))
	}
	want := "StreamApp/q1/3/0=O@1000 a StreamApp/q1/3/1=O@1500 b StreamApp/q2/5/0=P@1500 b,2 StreamApp/q2/5/1=P@1000 a,1 StreamApp/q2/5/2=P@2200 d,4"
	if got := strings.Join(ids, " "); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestRateLimitingUsesTime(t *testing.T) {
	for src, want := range map[string]bool{
		`from S select sym output last every 3 events insert into O;`:                 false,
		`from S select sym order by sym limit 1 insert into O;`:                       false,
		`from S select sym output first every 1 sec insert into O;`:                   true,
		`from S select count() as c output snapshot every 1 min insert into O;`:       true,
		`from S select sym, vol group by sym output last every 500 ms insert into O;`: true,
	} {
		if got := mustCompile(t, schema+src).UsesTime(); got != want {
			t.Errorf("%s: UsesTime %v, want %v", src, got, want)
		}
	}
}

// TestRestoreMidPeriod snapshots a runtime while rate limiters hold rows and checks that the
// restored runtime releases the same outputs.
func TestRestoreMidPeriod(t *testing.T) {
	a := mustCompile(t, schema+`from S select sym, sum(vol) as s group by sym output last every 1 sec insert into O;
from S#window.time(2 sec) select sym, count() as c group by sym output snapshot every 500 ms insert into P;`)
	lines := []string{ev(1000, "a", 0, 1), ev(1200, "b", 0, 2), ev(1400, "a", 0, 3), tick(2000), ev(2300, "c", 0, 1), tick(5000)}
	want := strings.Join(fmtAll(runLines(t, a, lines)), "\n")
	rt := engine.NewRuntime(a)
	var got []string
	emit := func(o *engine.Output) { got = append(got, fmtOut(o)) }
	for i, l := range lines {
		if i == 3 {
			blob, err := rt.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			if rt, err = engine.Restore(a, blob); err != nil {
				t.Fatal(err)
			}
		}
		in, err := a.DecodeInput([]byte(l))
		if err != nil {
			t.Fatal(err)
		}
		in.Seq = uint64(i + 1)
		if err := rt.Apply(in, emit); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Join(got, "\n") != want || !strings.Contains(want, "O@1400 a,4") {
		t.Fatalf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
	}
}
