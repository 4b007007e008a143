package engine_test

import (
	"strings"
	"testing"

	"github.com/streamha/streamha/node/engine"
)

// TestObjectAttribute checks the object type: JSON inputs keep their own type (an integral
// number is a long, another a double), cast/convert and instanceOf read it, and operators that
// need a known type refuse it at compile time.
func TestObjectAttribute(t *testing.T) {
	a := mustCompile(t, "@app:name('A')\ndefine stream S (o object);\n"+
		`from S select o, cast(o, 'double') as d, instanceOfString(o) as isStr, instanceOfLong(o) as isLong insert into O;`)
	outs := runLines(t, a, []string{
		`{"stream":"S","ts":0,"data":{"o":"x"}}`,
		`{"stream":"S","ts":1,"data":{"o":7}}`,
		`{"stream":"S","ts":2,"data":{"o":2.5}}`,
		`{"stream":"S","ts":3,"data":{"o":true}}`,
	})
	want := []string{"O@0 x,null,true,false", "O@1 7,7,false,true", "O@2 2.5,2.5,false,false", "O@3 true,1,false,false"}
	if got := fmtAll(outs); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %v, want %v", got, want)
	}
	if outs[1].Data[0].Type() != engine.TypeLong || outs[2].Data[0].Type() != engine.TypeDouble {
		t.Fatalf("object values typed %s and %s, want long and double", outs[1].Data[0].Type(), outs[2].Data[0].Type())
	}
	if _, err := a.DecodeInput([]byte(`{"stream":"S","ts":4,"data":{"o":{"k":1}}}`)); err == nil || !strings.Contains(err.Error(), "want object") {
		t.Fatalf("JSON object for an object attribute: err %v, want a 'want object' error", err)
	}
	for src, msg := range map[string]string{
		`from S[o > 5] select o insert into O;`:           "cannot compare object > int",
		`from S select o + 1 as p insert into O;`:         "needs numbers, got object and int",
		`from S select sum(o) as p insert into O;`:        "sum needs a number, got object",
		`from S select maximum(o, o) as p insert into O;`: "maximum needs numbers, got object",
	} {
		_, err := engine.Compile("t.siddhi", "define stream S (o object);\n"+src)
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: err %v, want %q", src, err, msg)
		}
	}
}
