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
		{"bad element names its index", `[{"id":1,"symbol":"A","qty":2,"price":1.5},{"id":true,"symbol":"A","qty":2,"price":1.5}]`, 0, "event 1"},
		{"int out of range", `{"id":1,"symbol":"A","qty":99999999999,"price":1}`, 0, "qty"},
		{"explicit nulls are values", `{"id":null,"symbol":null,"qty":null,"price":null}`, 1, ""},
		{"missing attributes are named", `{"id":1,"symbol":"A"}`, 0, "missing attribute qty, price"},
		{"empty objects are refused", `[{},{}]`, 0, "event 0: stream S: missing attribute id, symbol, qty, price"},
		{"only _ts", `{"_ts":5}`, 0, "missing attribute id"},
		{"over max_events_per_request", `[{},{},{},{},{},{}]`, 0, "more than 5 events in one request (max_events_per_request)"},
		{"scalars count as events", `[1,1,1,1,1,1,1]`, 0, "max_events_per_request"},
		{"nested value", `{"id":[1,2,3]}`, 0, "attribute values must be JSON scalars"},
		{"nested array element", `[[1,1,1]]`, 0, "expected a JSON object"},
		{"too many members", `{"id":1,"id":1,"id":1,"id":1,"id":1,"id":1}`, 0, "more than 5 members"},
		{"braces in strings do not count", `{"id":1,"symbol":"[{\"x\":[{","qty":2,"price":1.5}`, 1, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := DecodeEvents(def, []byte(tc.body), 5)
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
	evs, _ := DecodeEvents(def, []byte(`{"id":7,"symbol":"A","qty":2,"price":1.5,"_ts":1234}`), 0)
	if !evs[0].HasTS || evs[0].TS != 1234 || evs[0].Data[0].Long() != 7 {
		t.Fatalf("decoded %+v", evs[0])
	}
}

// TestDecodeEventsMissingAsNull: a stream whose @source @map says
// fail.on.missing.attribute='false' takes missing attributes as null.
func TestDecodeEventsMissingAsNull(t *testing.T) {
	app, err := engine.Compile("t.siddhi", `@app:name('T')
@source(type='http', @map(type='json', fail.on.missing.attribute='false'))
define stream S (id long, symbol string);
from S select id insert into O;`)
	if err != nil {
		t.Fatal(err)
	}
	def, _ := app.Stream("S")
	evs, err := DecodeEvents(def, []byte(`[{"id":1},{}]`), 0)
	if err != nil || len(evs) != 2 || !evs[0].Data[1].IsNull() || !evs[1].Data[0].IsNull() {
		t.Fatalf("events %+v, err %v", evs, err)
	}
}

// TestDecodeEventsBoundsMemory: a 3 MB body of empty objects (a node once took 999,999 such
// events and went from 19 MiB to 1 GiB) is refused by the scan before the parser builds a tree.
func TestDecodeEventsBoundsMemory(t *testing.T) {
	def := orderStream(t)
	body := []byte("[" + strings.Repeat("{},", 999_999) + "{}]")
	allocs := testing.AllocsPerRun(1, func() {
		if _, err := DecodeEvents(def, body, 10_000); err == nil || !strings.Contains(err.Error(), "max_events_per_request") {
			t.Fatalf("err = %v", err)
		}
	})
	if allocs > 20 {
		t.Fatalf("%v allocations to refuse the body", allocs)
	}
}

// FuzzDecodeEvents: any body gives events that fit the schema, or an error; never a panic.
func FuzzDecodeEvents(f *testing.F) {
	def := orderStream(f)
	for _, s := range []string{`{"id":1,"symbol":"A","qty":2,"price":1.5}`, `[{"id":1},{"_ts":5}]`, `[`, `{"qty":1e99}`, `null`, `[{}]`,
		`[{"id":1,"symbol":"A","qty":2,"price":1.5,"_ts":9},{"id":2,"symbol":null,"qty":null,"price":2}]`, `[{},{},{},{},{},{},{},{},{}]`, `{"id":[{"a":1}]}`, `[[1]]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, serr := DecodedSize(def, body, 8)
		evs, err := DecodeEvents(def, body, 8)
		if serr != nil && err == nil {
			t.Fatalf("DecodedSize refused what DecodeEvents took: %v", serr)
		}
		if err != nil {
			return
		}
		if len(evs) > 8 {
			t.Fatalf("%d events decoded past the limit of 8", len(evs))
		}
		for _, e := range evs {
			if err := def.CheckValues(e.Data); err != nil {
				t.Fatalf("decoded event does not fit the schema: %v", err)
			}
		}
	})
}
