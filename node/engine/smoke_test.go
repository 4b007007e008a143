package engine_test

import (
	"testing"
)

func TestSmoke(t *testing.T) {
	a := mustCompile(t, `@app:name('T')
define stream S (sym string, price double, vol int);
from S[price > 10] select sym, price insert into O;
from S#window.length(2) select sym, sum(vol) as total insert all events into P;
`)
	outs := runLines(t, a, []string{
		`{"stream":"S","ts":1000,"data":{"sym":"a","price":5,"vol":1}}`,
		`{"stream":"S","ts":2000,"data":{"sym":"b","price":15,"vol":2}}`,
		`{"stream":"S","ts":3000,"data":{"sym":"c","price":25,"vol":3}}`,
	})
	for _, o := range outs {
		t.Log(o.ID, fmtOut(o))
	}
}
