package sink

import (
	"math"
	"strconv"

	"github.com/streamha/streamha/node/engine"
)

// Encoder appends outputs as JSON byte for byte as engine.Output.AppendJSON does, with the parts
// every output of a stream repeats (its name, the attribute names) encoded once per stream
// instead of once per output: a sink encodes every output it writes, at ingest rate. The zero
// value is ready; an Encoder is not safe for concurrent use.
type Encoder struct {
	stream string
	names  []string // the attribute names the keys were built for
	head   []byte   // `,"stream":"<stream>","ts":`
	keys   [][]byte // per value: `"<name>":`, with a leading ',' after the first
}

// Append appends o's JSON object to dst.
func (e *Encoder) Append(dst []byte, o *engine.Output) []byte {
	if !e.fits(o) {
		e.build(o)
	}
	dst = append(dst, `{"id":`...)
	dst = engine.AppendJSONString(dst, o.ID)
	dst = append(dst, e.head...)
	dst = strconv.AppendInt(dst, o.TS, 10)
	dst = append(dst, `,"data":{`...)
	for i, v := range o.Data {
		dst = append(dst, e.keys[i]...)
		if v.Type() == engine.TypeDouble {
			dst = appendDouble(dst, v.Double())
		} else {
			dst = v.AppendJSON(dst)
		}
	}
	dst = append(dst, '}')
	if o.Expired {
		dst = append(dst, `,"expired":true`...)
	}
	return append(dst, '}')
}

// fits reports whether the cached parts are o's: same stream, same attribute names, a key
// for each value.
func (e *Encoder) fits(o *engine.Output) bool {
	if e.head == nil || o.Stream != e.stream || len(o.Data) != len(e.keys) || len(o.Attrs) != len(e.names) {
		return false
	}
	for i, a := range o.Attrs {
		if a.Name != e.names[i] {
			return false
		}
	}
	return true
}

func (e *Encoder) build(o *engine.Output) {
	e.stream = o.Stream
	e.head = engine.AppendJSONString(append([]byte(nil), `,"stream":`...), o.Stream)
	e.head = append(e.head, `,"ts":`...)
	e.names = e.names[:0]
	for _, a := range o.Attrs {
		e.names = append(e.names, a.Name)
	}
	e.keys = e.keys[:0]
	for i := range o.Data {
		var k []byte
		if i > 0 {
			k = append(k, ',')
		}
		k = engine.AppendJSONString(k, o.DataName(i))
		e.keys = append(e.keys, append(k, ':'))
	}
}

// pow10 are the exact powers of ten appendDouble tries.
var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8}

// appendDouble appends f as Value.AppendJSON does (strconv's shortest 'g', null for NaN and
// infinities), with a fast path for the common case of a number in [1e-4, 1e6) with at most
// eight decimals: f is m/10^k for an integer m under 10^15 exactly when the float division
// m/10^k, which is what parsing that decimal gives, is f; a decimal of at most 15 significant
// digits is then the only one that short that parses to f, so it is the shortest strconv would
// find, and in that range 'g' writes it without an exponent.
func appendDouble(dst []byte, f float64) []byte {
	a := math.Abs(f)
	if a >= 1e-4 && a < 1e6 { // not 0, NaN nor infinite
		for k, p := range pow10 {
			m := a * p
			if m != math.Trunc(m) {
				continue
			}
			u := uint64(m)
			if float64(u)/p != a || (k > 0 && u%10 == 0) {
				break // not as expected: strconv decides
			}
			if f < 0 {
				dst = append(dst, '-')
			}
			if k == 0 {
				return strconv.AppendUint(dst, u, 10)
			}
			q := uint64(p)
			dst = strconv.AppendUint(dst, u/q, 10)
			dst = append(dst, '.')
			r := u % q
			for d := q / 10; d > r && d > 1; d /= 10 {
				dst = append(dst, '0') // leading zeros of the decimals
			}
			return strconv.AppendUint(dst, r, 10)
		}
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, 64)
}
