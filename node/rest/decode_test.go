package rest

import (
	"strings"
	"testing"

	"github.com/streamha/streamha/node/engine"
)

func orderStream(t testing.TB) *engine.StreamDef {
	t.Helper()
	app, err := engine.Compile("t.siddhi", `@app:name('T')
define stream S (id long, symbol string, qty int, price double);
from S select id insert into O;`)
	if err != nil {
		t.Fatal(err)
	}
	def, _ := app.Stream("S")
	return def
}

func TestDecodeEvents(t *testing.T) {
	def := orderStream(t)
	cases := []struct {
		name, body string
		n          int
		err        string
	}{
		{"object", `{"id":1,"symbol":"A","qty":2,"price":1.5}`, 1, ""},
		{"array with ts", `[{"id":1,"symbol":"A","qty":2,"price":1.5,"_ts":1000},{"id":2,"symbol":"B","qty":1,"price":2}]`, 2, ""},
		{"empty", ``, 0, "empty body"},
		{"empty array", `[]`, 0, "empty array"},
		{"scalar", `42`, 0, "JSON object"},
		{"malformed", `[{"id":1,`, 0, "malformed JSON"},
		{"wrong type names the attribute", `{"id":"x","symbol":"A","qty":2,"price":1.5}`, 0, "id"},
		{"unknown attribute", `{"id":1,"colour":"red"}`, 0, "colour"},
		{"bad element names its index", `[{"id":1},{"id":true}]`, 0, "event 1"},
		{"int out of range", `{"id":1,"symbol":"A","qty":99999999999,"price":1}`, 0, "qty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := DecodeEvents(def, []byte(tc.body))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want mention of %q", err, tc.err)
				}
				return
			}
			if err != nil || len(evs) != tc.n {
				t.Fatalf("got %d events, err %v", len(evs), err)
			}
		})
	}
	evs, _ := DecodeEvents(def, []byte(`{"id":7,"symbol":"A","qty":2,"price":1.5,"_ts":1234}`))
	if !evs[0].HasTS || evs[0].TS != 1234 || evs[0].Data[0].Long() != 7 {
		t.Fatalf("decoded %+v", evs[0])
	}
}

// FuzzDecodeEvents: any body gives events that fit the schema, or an error; never a panic.
func FuzzDecodeEvents(f *testing.F) {
	def := orderStream(f)
	for _, s := range []string{`{"id":1,"symbol":"A","qty":2,"price":1.5}`, `[{"id":1},{"_ts":5}]`, `[`, `{"qty":1e99}`, `null`, `[{}]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		evs, err := DecodeEvents(def, body)
		if err != nil {
			return
		}
		for _, e := range evs {
			if err := def.CheckValues(e.Data); err != nil {
				t.Fatalf("decoded event does not fit the schema: %v", err)
			}
		}
	})
}
