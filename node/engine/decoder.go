package engine

import (
	"encoding/binary"
	"fmt"
	"math"
)

// decoder reads snapshot fields with bounds checks; the first error sticks and later reads
// return zero values, so decode code stays linear.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("snapshot: %s: %w", fmt.Sprintf(format, args...), ErrCorrupt)
	}
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte1() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail("truncated")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) bool1() bool {
	c := d.byte1()
	if c > 1 {
		d.fail("bad bool")
	}
	return c == 1
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("truncated bytes")
		return nil
	}
	s := d.b[:n]
	d.b = d.b[n:]
	return s
}

// section reads a block prefixed by a little-endian 8-byte length.
func (d *decoder) section() []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b) < 8 {
		d.fail("truncated section length")
		return nil
	}
	n := binary.LittleEndian.Uint64(d.b)
	if n > uint64(len(d.b)-8) {
		d.fail("truncated section")
		return nil
	}
	s := d.b[8 : 8+n]
	d.b = d.b[8+n:]
	return s
}

func (d *decoder) str() string { return string(d.bytes()) }

func (d *decoder) f64() float64 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 8 {
		d.fail("truncated float")
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	d.b = d.b[8:]
	return v
}

// count reads a collection length; each element takes at least minSize bytes, which bounds
// allocations on corrupt input.
func (d *decoder) count(minSize int) int {
	n := d.uvarint()
	if d.err != nil {
		return 0
	}
	if n > uint64(len(d.b)/minSize) {
		d.fail("count %d exceeds the remaining data", n)
		return 0
	}
	return int(n)
}

func (d *decoder) value() Value {
	if d.err != nil {
		return Value{}
	}
	v, n, err := decodeValue(d.b)
	if err != nil {
		d.fail("%v", err)
		return Value{}
	}
	d.b = d.b[n:]
	return v
}

// event reads values that must fit the schema def.
func (d *decoder) vals(def *StreamDef) []Value {
	n := d.count(1)
	if d.err != nil {
		return nil
	}
	if n != len(def.Attrs) {
		d.fail("event of %s has %d values, want %d", def.Name, n, len(def.Attrs))
		return nil
	}
	vs := make([]Value, n)
	for i := range vs {
		vs[i] = d.value()
	}
	if d.err == nil {
		if err := def.CheckValues(vs); err != nil {
			d.fail("%v", err)
		}
	}
	return vs
}

func appendVals(dst []byte, vs []Value) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(vs)))
	return AppendValues(dst, vs)
}

func appendStr(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, 1)
	}
	return append(dst, 0)
}

// u64 reads a fixed 8-byte little-endian value (revision ids).
func (d *decoder) u64() uint64 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 8 {
		d.fail("truncated revision id")
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}
