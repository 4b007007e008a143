package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// ErrCorrupt reports a truncated or malformed binary encoding (values or snapshot).
var ErrCorrupt = errors.New("corrupt encoding")

// AppendValues appends the binary encoding of one event's values: a tag byte (the Type) per value,
// then its payload (varint for int/long, 8/4 little-endian bytes for double/float, length-prefixed
// bytes for string, one byte for bool, nothing for null).
func AppendValues(dst []byte, vals []Value) []byte {
	for _, v := range vals {
		dst = appendValue(dst, v)
	}
	return dst
}

func appendValue(dst []byte, v Value) []byte {
	dst = append(dst, byte(v.t))
	switch v.t {
	case TypeString:
		dst = binary.AppendUvarint(dst, uint64(len(v.s)))
		dst = append(dst, v.s...)
	case TypeInt, TypeLong:
		dst = binary.AppendVarint(dst, int64(v.n))
	case TypeDouble:
		dst = binary.LittleEndian.AppendUint64(dst, v.n)
	case TypeFloat:
		dst = binary.LittleEndian.AppendUint32(dst, uint32(v.n))
	case TypeBool:
		dst = append(dst, byte(v.n))
	}
	return dst
}

// decodeValue decodes one self-describing value, returning the bytes consumed.
func decodeValue(src []byte) (Value, int, error) {
	if len(src) == 0 {
		return Value{}, 0, fmt.Errorf("value tag: %w", ErrCorrupt)
	}
	t := Type(src[0])
	p := src[1:]
	switch t {
	case TypeNull:
		return Value{}, 1, nil
	case TypeString:
		l, n := binary.Uvarint(p)
		if n <= 0 || l > uint64(len(p)-n) {
			return Value{}, 0, fmt.Errorf("string value: %w", ErrCorrupt)
		}
		return Value{t: t, s: string(p[n : n+int(l)])}, 1 + n + int(l), nil
	case TypeInt, TypeLong:
		i, n := binary.Varint(p)
		if n <= 0 || (t == TypeInt && (i < math.MinInt32 || i > math.MaxInt32)) {
			return Value{}, 0, fmt.Errorf("%s value: %w", t, ErrCorrupt)
		}
		return Value{t: t, n: uint64(i)}, 1 + n, nil
	case TypeDouble:
		if len(p) < 8 {
			return Value{}, 0, fmt.Errorf("double value: %w", ErrCorrupt)
		}
		return Value{t: t, n: binary.LittleEndian.Uint64(p)}, 9, nil
	case TypeFloat:
		if len(p) < 4 {
			return Value{}, 0, fmt.Errorf("float value: %w", ErrCorrupt)
		}
		return Value{t: t, n: uint64(binary.LittleEndian.Uint32(p))}, 5, nil
	case TypeBool:
		if len(p) < 1 || p[0] > 1 {
			return Value{}, 0, fmt.Errorf("bool value: %w", ErrCorrupt)
		}
		return Value{t: t, n: uint64(p[0])}, 2, nil
	}
	return Value{}, 0, fmt.Errorf("value tag %d: %w", t, ErrCorrupt)
}

// DecodeValues decodes one event encoded by AppendValues and checks it against the stream's
// schema (each value has the attribute's type or is null). n is the number of bytes consumed.
func (s *StreamDef) DecodeValues(src []byte) (vals []Value, n int, err error) {
	vals = make([]Value, len(s.Attrs))
	if n, err = s.DecodeValuesInto(vals, src); err != nil {
		return nil, 0, err
	}
	return vals, n, nil
}

// DecodeValuesInto is DecodeValues into dst (len(dst) must be the number of attributes), so a
// decoder of many events can use one slab of values.
func (s *StreamDef) DecodeValuesInto(dst []Value, src []byte) (n int, err error) {
	if len(dst) != len(s.Attrs) {
		return 0, fmt.Errorf("decode %s: %d values for %d attributes", s.Name, len(dst), len(s.Attrs))
	}
	for i, a := range s.Attrs {
		v, m, err := decodeValue(src[n:])
		if err != nil {
			return 0, fmt.Errorf("decode %s.%s: %w", s.Name, a.Name, err)
		}
		if v.t != TypeNull && v.t != a.Type {
			return 0, fmt.Errorf("decode %s.%s: got %s, want %s: %w", s.Name, a.Name, v.t, a.Type, ErrCorrupt)
		}
		dst[i] = v
		n += m
	}
	return n, nil
}

// CheckValues reports whether vals fit the stream's schema (count and types, nulls allowed).
func (s *StreamDef) CheckValues(vals []Value) error {
	if len(vals) != len(s.Attrs) {
		return fmt.Errorf("stream %s: got %d values, want %d", s.Name, len(vals), len(s.Attrs))
	}
	for i, v := range vals {
		if at := s.Attrs[i].Type; v.t != TypeNull && v.t != at && (at != TypeObject || v.t > TypeBool) {
			return fmt.Errorf("stream %s: attribute %s: got %s, want %s", s.Name, s.Attrs[i].Name, v.t, s.Attrs[i].Type)
		}
	}
	return nil
}
