package ha

import (
	"encoding/binary"
	"testing"

	"github.com/streamha/streamha/node/engine"
)

func testApp(t testing.TB) *engine.App {
	t.Helper()
	a, err := engine.Compile("t.siddhi", `@app:name('T')
define stream S (id long, v double);
@sink(type='log')
define stream O (id long, v double);
from S[v > 0] select id, v insert into O;`)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestEnvelopeRoundTrip(t *testing.T) {
	app := testApp(t)
	rt := engine.NewRuntime(app)
	var outs []*engine.Output
	for i := 1; i <= 3; i++ {
		err := rt.Apply(engine.Input{Seq: uint64(i), TS: int64(i), Stream: "S", Data: []engine.Value{engine.LongValue(int64(i)), engine.DoubleValue(1.5)}}, func(o *engine.Output) {
			outs = append(outs, o.Clone())
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	blob, _ := rt.Snapshot()
	w := newIdemWindow(2)
	w.put("a", Answer{Accepted: 1, FirstSeq: 1, LastSeq: 1})
	w.put("b", Answer{Accepted: 2, FirstSeq: 2, LastSeq: 3})
	w.put("c", Answer{Accepted: 1, FirstSeq: 4, LastSeq: 4}) // evicts a
	env := envelope{Engine: blob, Idem: w.records(), Outbox: outs}
	got, err := decodeEnvelope(app, env.encode())
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Idem) != 2 || got.Idem[0].Key != "b" || got.Idem[1].Answer.LastSeq != 4 {
		t.Fatalf("idempotency window = %+v", got.Idem)
	}
	if len(got.Outbox) != 3 || got.Outbox[2].ID != outs[2].ID || got.Outbox[2].Data[0].Long() != 3 {
		t.Fatalf("outbox = %+v", got.Outbox)
	}
	if _, err := engine.Restore(app, got.Engine); err != nil {
		t.Fatalf("engine blob: %v", err)
	}
}

func TestIdemWindowIsBounded(t *testing.T) {
	w := newIdemWindow(3)
	for i := 0; i < 10; i++ {
		w.put(string(rune('a'+i)), Answer{LastSeq: uint64(i)})
	}
	if len(w.m) != 3 {
		t.Fatalf("window holds %d keys, want 3", len(w.m))
	}
	if _, ok := w.get("a"); ok {
		t.Fatal("oldest key not evicted")
	}
	if a, ok := w.get("j"); !ok || a.LastSeq != 9 {
		t.Fatal("newest key missing")
	}
}

// FuzzDecodeEnvelope: a corrupt snapshot payload is an error, never a panic.
func FuzzDecodeEnvelope(f *testing.F) {
	app := testApp(f)
	rt := engine.NewRuntime(app)
	blob, _ := rt.Snapshot()
	f.Add((&envelope{Engine: blob, Idem: []idemRecord{{Key: "k", Answer: Answer{Accepted: 1}}}}).encode())
	f.Add([]byte("SHAE"))
	f.Fuzz(func(t *testing.T, p []byte) {
		_, _ = decodeEnvelope(app, p)
	})
}

// TestEnvelopeKeepsPositions: the source positions round-trip (version 2), and a version 1
// payload, written before positions existed, still decodes with none.
func TestEnvelopeKeepsPositions(t *testing.T) {
	app := testApp(t)
	blob, _ := engine.NewRuntime(app).Snapshot()
	env := envelope{Engine: blob, Positions: []positionRecord{{"kafka:a/0", 41}, {"kafka:a/1", 1 << 40}}}
	got, err := decodeEnvelope(app, env.encode())
	if err != nil || len(got.Positions) != 2 || got.Positions[1] != env.Positions[1] {
		t.Fatalf("positions = %+v, %v", got.Positions, err)
	}
	v3 := (&envelope{Engine: blob, Positions: env.Positions}).encode()
	v2 := append(append([]byte{}, v3[:8]...), v3[9:]...) // no flags byte
	v2[7] = 2
	if got, err := decodeEnvelope(app, v2); err != nil || len(got.Positions) != 2 || got.IdemDelta {
		t.Fatalf("version 2 payload: %+v, %v", got, err)
	}
	v1 := append([]byte{}, v2[:len(v2)-4-len(encodePositions(env.Positions))]...) // no positions
	v1[7] = 1
	if got, err := decodeEnvelope(app, v1); err != nil || got.Positions != nil {
		t.Fatalf("version 1 payload: %+v, %v", got, err)
	}
}

// encodePositions is the positions section's bytes after its count, as version 2 writes it.
func encodePositions(ps []positionRecord) []byte {
	var b []byte
	for _, p := range ps {
		b = appendBytes(b, []byte(p.Source))
		b = binary.BigEndian.AppendUint64(b, uint64(p.Offset))
	}
	return b
}

// TestEnvelopeEncodeSizesOnce checks that a payload is encoded into one buffer of its size: a
// state of many megabytes must not leave grown copies of itself behind each persist.
func TestEnvelopeEncodeSizesOnce(t *testing.T) {
	w := newIdemWindow(4)
	w.put("k1", Answer{Accepted: 1, FirstSeq: 1, LastSeq: 1})
	w.put(PositionKey("topic/0", 7), Answer{Accepted: 1, FirstSeq: 2, LastSeq: 2})
	env := envelope{Engine: make([]byte, 4<<20), Idem: w.records(), Positions: w.positionRecords()}
	var b []byte
	allocs := testing.AllocsPerRun(3, func() { b = env.encode() })
	if allocs != 1 || cap(b) != len(b) {
		t.Fatalf("encode: %.0f allocations, buffer cap %d for %d bytes; want 1 of exactly its size", allocs, cap(b), len(b))
	}
	got, err := decodeEnvelope(testApp(t), b)
	if err != nil || len(got.Engine) != 4<<20 || len(got.Idem) != 2 || len(got.Positions) != 1 {
		t.Fatalf("decode: %v, engine %d bytes, %d keys, %d positions", err, len(got.Engine), len(got.Idem), len(got.Positions))
	}
}
