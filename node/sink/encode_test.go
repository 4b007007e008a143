package sink

import (
	"bytes"
	"math"
	"testing"

	"github.com/streamha/streamha/node/engine"
)

// TestEncoderMatchesAppendJSON: the encoder's bytes are the engine's for outputs of changing
// streams and schemas, every byte value in strings, extra values without an attribute, NaN and
// expired outputs, whatever it cached before.
func TestEncoderMatchesAppendJSON(t *testing.T) {
	var all []byte
	for c := 0; c < 256; c++ {
		all = append(all, byte(c))
	}
	ab := []engine.Attr{{Name: "id", Type: engine.TypeLong}, {Name: "sy\"m\nbol", Type: engine.TypeString}}
	ab2 := []engine.Attr{{Name: "id", Type: engine.TypeLong}, {Name: "other", Type: engine.TypeString}}
	outs := []*engine.Output{
		{ID: "App/q0/1/0", Stream: "Out", TS: 5, Attrs: ab, Data: []engine.Value{engine.LongValue(1), engine.StringValue("x")}},
		{ID: "App/q0/2/0", Stream: "Out", TS: -7, Attrs: ab, Data: []engine.Value{engine.LongValue(2), engine.StringValue(string(all))}},
		{ID: "App/q0/3/0", Stream: "Out", TS: 9, Attrs: ab2, Data: []engine.Value{engine.LongValue(3), engine.StringValue("é\u2028")}},
		{ID: "App/q1/3/1", Stream: "Ou\tt2", TS: 9, Attrs: ab[:1], Data: []engine.Value{engine.LongValue(3), engine.DoubleValue(math.NaN()), engine.BoolValue(true)}, Expired: true},
		{ID: "A\"pp/q1/4/0", Stream: "Ou\tt2", TS: 9, Data: []engine.Value{engine.DoubleValue(1.5)}},
		{ID: "App/q0/5/0", Stream: "Out", TS: 1, Attrs: ab, Data: []engine.Value{engine.LongValue(5), engine.StringValue(string(all[120:]))}},
		{ID: string(all), Stream: string(all), Attrs: nil, Data: nil},
	}
	var e Encoder
	for i, o := range outs {
		want := o.AppendJSON(nil)
		got := e.Append([]byte("prefix"), o)
		if !bytes.Equal(got[len("prefix"):], want) || !bytes.HasPrefix(got, []byte("prefix")) {
			t.Errorf("output %d:\n got %q\nwant %q", i, got, want)
		}
	}
}

func BenchmarkEncoder(b *testing.B) {
	attrs := []engine.Attr{{Name: "id", Type: engine.TypeLong}, {Name: "symbol", Type: engine.TypeString}, {Name: "price", Type: engine.TypeDouble}}
	o := &engine.Output{ID: "Filter/query1/123456/0", Stream: "Out", TS: 1700000000000, Attrs: attrs,
		Data: []engine.Value{engine.LongValue(123456), engine.StringValue("S3"), engine.DoubleValue(1.5)}}
	buf := make([]byte, 0, 1024)
	b.Run("engine", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			buf = o.AppendJSON(buf[:0])
		}
	})
	b.Run("encoder", func(b *testing.B) {
		var e Encoder
		for i := 0; i < b.N; i++ {
			buf = e.Append(buf[:0], o)
		}
	})
}
