package tcpingest

import (
	"bytes"
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
