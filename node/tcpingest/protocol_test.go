package tcpingest

import (
	"bytes"
	"errors"
	"testing"

	"github.com/streamha/streamha/node/engine"
)

func TestBatchAndAckRoundTrip(t *testing.T) {
	b := &Batch{ID: 42, App: "Orders", Stream: "OrderStream", Key: "k1", Events: []RawEvent{
		{TS: 1000, Values: EncodeEvent([]engine.Value{engine.LongValue(1), engine.StringValue("A")})},
		{TS: 0, Values: EncodeEvent([]engine.Value{engine.LongValue(2), engine.NullValue()})},
	}}
	frame := AppendBatch(nil, b)
	var buf []byte
	typ, p, err := ReadFrame(bytes.NewReader(frame), &buf)
	if err != nil || typ != TypeBatch {
		t.Fatalf("read frame: %d %v", typ, err)
	}
	got, err := DecodeBatch(p)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != 42 || got.App != "Orders" || got.Key != "k1" || len(got.Events) != 2 || got.Events[0].TS != 1000 || !bytes.Equal(got.Events[1].Values, b.Events[1].Values) {
		t.Fatalf("round trip = %+v", got)
	}
	a := &Ack{ID: 42, Status: StatusOKAlone, FirstSeq: 5, LastSeq: 6, Message: "m"}
	typ, p, err = ReadFrame(bytes.NewReader(AppendAck(nil, a)), &buf)
	if err != nil || typ != TypeAck {
		t.Fatal(err)
	}
	if ga, err := DecodeAck(p); err != nil || *ga != *a {
		t.Fatalf("ack = %+v %v", ga, err)
	}
}

func TestGarbageFrames(t *testing.T) {
	var buf []byte
	if _, _, err := ReadFrame(bytes.NewReader([]byte{0xff, 0xff, 0xff, 0xff, 1}), &buf); err == nil {
		t.Fatal("a 4 GB frame length was accepted")
	}
	if _, err := DecodeBatch([]byte{0, 0, 0}); err == nil {
		t.Fatal("truncated batch decoded")
	}
	// A forged event count cannot make the decoder allocate for it.
	p := AppendBatch(nil, &Batch{ID: 1, App: "a", Stream: "s"})[5:]
	p[len(p)-1] = 0xff
	p[len(p)-2] = 0xff
	if _, err := DecodeBatch(p); err == nil {
		t.Fatal("forged count decoded")
	}
}

// FuzzDecodeBatch: garbage on the ingest port gives an error, never a panic.
func FuzzDecodeBatch(f *testing.F) {
	f.Add(AppendBatch(nil, &Batch{ID: 1, App: "a", Stream: "s", Key: "k", Events: []RawEvent{{TS: 1, Values: []byte{3, 2}}}})[5:])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, p []byte) {
		b, err := DecodeBatch(p)
		if err != nil {
			return
		}
		again := AppendBatch(nil, b)[5:]
		if !bytes.Equal(again, p) {
			t.Fatalf("batch does not round-trip")
		}
		_, _ = DecodeAck(p)
	})
}

// FuzzIngestStream runs the server's read path on arbitrary bytes from a client: frames read
// with a limit (never buffering past it), batches decoded with an event limit, events decoded
// against the stream's schema. Errors are fine; panics, a buffer past the limit, more events
// than the limit, or events that do not fit the schema are not.
func FuzzIngestStream(f *testing.F) {
	app, err := engine.Compile("t.siddhi", "define stream S (id long, name string, ok bool);\nfrom S select id insert into O;")
	if err != nil {
		f.Fatal(err)
	}
	def, _ := app.Stream("S")
	good := EncodeEvent([]engine.Value{engine.LongValue(1), engine.StringValue("a"), engine.BoolValue(true)})
	var stream []byte
	stream = AppendBatch(stream, &Batch{ID: 1, App: "A", Stream: "S", Key: "k", Events: []RawEvent{{TS: 5, Values: good}, {Values: good}}})
	stream = AppendBatch(stream, &Batch{ID: 2, App: "A", Stream: "S", Events: []RawEvent{{Values: good[:3]}}})
	f.Add(stream)
	f.Add(AppendBatch(nil, &Batch{ID: 3, App: "A", Stream: "S", Events: make([]RawEvent, 5)}))
	f.Add([]byte{0, 0, 1, 0, 1})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1})
	const maxFrame, maxEvents = 256, 4
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		var buf []byte
		for {
			var reserved uint32
			_, p, err := ReadFrameLimit(r, &buf, maxFrame, func(n uint32) error {
				reserved = n
				if n%7 == 0 { // some frames are refused for budget: skipped, the stream goes on
					return errors.New("over budget")
				}
				return nil
			})
			if cap(buf) > maxFrame || reserved > maxFrame {
				t.Fatalf("a %d-byte-bounded read took %d bytes (reserved %d)", maxFrame, cap(buf), reserved)
			}
			if err != nil {
				if err.Error() == "over budget" {
					continue
				}
				return
			}
			b, err := DecodeBatchLimit(p, maxEvents)
			if err != nil {
				continue
			}
			if len(b.Events) > maxEvents {
				t.Fatalf("%d events decoded past the limit of %d", len(b.Events), maxEvents)
			}
			evs, err := decodeEvents(def, b.Events)
			if err != nil {
				continue
			}
			for _, e := range evs {
				if err := def.CheckValues(e.Data); err != nil {
					t.Fatalf("decoded event does not fit the schema: %v", err)
				}
			}
		}
	})
}
