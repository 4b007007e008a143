package sink

import (
	"bytes"
	"math"
	"strconv"
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

// BenchmarkEncoder: the sinks' cached encoder against Output.AppendJSON on a typical output,
// the per-output cost the encoder exists to cut.
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

// TestAppendDoubleMatchesStrconv: the fast path writes what strconv's shortest 'g' writes, for
// short decimals in and around its range, values that are not short decimals, and edge cases.
func TestAppendDoubleMatchesStrconv(t *testing.T) {
	vals := []float64{0, math.Copysign(0, -1), 1, -1, 1.5, 0.1, 0.2, 0.3, 0.1 + 0.2, 1e-4, 1.0001e-4, 9.9999e-5, 1e-5,
		999999, 999999.5, 999999.99999999, 1e6, 1e6 - 1e-9, 123.456, 0.00012345678, 0.123456789, 100, 1234.5, 5e-324,
		math.MaxFloat64, math.SmallestNonzeroFloat64, 1.0 / 3, 2.0 / 3, 0.07, 0.7, 7e-4, 4.35, 1.005, 12345.6789,
		math.NaN(), math.Inf(1), math.Inf(-1)}
	for k := 0; k <= 9; k++ { // short decimals: m/10^k over a spread of m
		p := math.Pow(10, float64(k))
		for m := int64(1); m < 1e15; m = m*7 + 3 {
			vals = append(vals, float64(m)/p, -float64(m)/p)
		}
	}
	r := uint64(88172645463325252) // xorshift: arbitrary bit patterns and products
	for i := 0; i < 200000; i++ {
		r ^= r << 13
		r ^= r >> 7
		r ^= r << 17
		vals = append(vals, math.Float64frombits(r), float64(r%100000000)/float64(uint64(1)<<(r%30)), float64(r%10000000)/100)
	}
	for _, f := range vals {
		want := engine.DoubleValue(f).AppendJSON(nil)
		if got := appendDouble(nil, f); !bytes.Equal(got, want) {
			t.Fatalf("%v (%x): got %s, want %s", f, math.Float64bits(f), got, want)
		}
	}
}

// BenchmarkAppendDouble: appendDouble's short-decimal path against strconv on doubles in and out
// of its range (0.1+0.2 is not a short decimal), to show the path pays and the fallback costs nothing.
func BenchmarkAppendDouble(b *testing.B) {
	buf := make([]byte, 0, 64)
	for _, f := range []float64{1.5, 123.456, 0.1 + 0.2} {
		b.Run(strconv.FormatFloat(f, 'g', -1, 64)+"/strconv", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				buf = strconv.AppendFloat(buf[:0], f, 'g', -1, 64)
			}
		})
		b.Run(strconv.FormatFloat(f, 'g', -1, 64)+"/fast", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				buf = appendDouble(buf[:0], f)
			}
		})
	}
}
