package sink

import (
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
	dst = appendJSONString(dst, o.ID)
	dst = append(dst, e.head...)
	dst = strconv.AppendInt(dst, o.TS, 10)
	dst = append(dst, `,"data":{`...)
	for i, v := range o.Data {
		dst = append(dst, e.keys[i]...)
		dst = v.AppendJSON(dst)
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
	e.head = appendJSONString(append([]byte(nil), `,"stream":`...), o.Stream)
	e.head = append(e.head, `,"ts":`...)
	e.names = e.names[:0]
	for _, a := range o.Attrs {
		e.names = append(e.names, a.Name)
	}
	e.keys = e.keys[:0]
	for i := range o.Data {
		name := "_" + strconv.Itoa(i) // what AppendJSON names a value without an attribute
		if i < len(o.Attrs) {
			name = o.Attrs[i].Name
		}
		var k []byte
		if i > 0 {
			k = append(k, ',')
		}
		k = appendJSONString(k, name)
		e.keys = append(e.keys, append(k, ':'))
	}
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s as the engine's JSON does: ", \ and control bytes (and DEL)
// escaped, other bytes (UTF-8 included) as they are.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f) {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
