package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// DecodeJSON turns one JSON object {"attr":value,...,"_ts":<epoch ms, optional>} into typed values
// for this stream. Unknown attributes are an error; a missing attribute or a JSON null becomes a
// null value. Numbers for int/long must be integral and in range; double/float accept any number.
func (s *StreamDef) DecodeJSON(obj []byte) (vals []Value, ts int64, hasTS bool, err error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(obj, &m); err != nil {
		return nil, 0, false, fmt.Errorf("stream %s: decode JSON object: %w", s.Name, err)
	}
	if m == nil {
		return nil, 0, false, fmt.Errorf("stream %s: expected a JSON object, got null", s.Name)
	}
	vals = make([]Value, len(s.Attrs))
	for k, raw := range m {
		if k == "_ts" {
			v, err := decodeJSONValue(raw, TypeLong)
			if err != nil {
				return nil, 0, false, fmt.Errorf("stream %s: _ts: %w", s.Name, err)
			}
			if !v.IsNull() {
				ts, hasTS = v.Long(), true
			}
			continue
		}
		i := s.attrIndex(k)
		if i < 0 {
			return nil, 0, false, fmt.Errorf("stream %s: unknown attribute %q", s.Name, k)
		}
		v, err := decodeJSONValue(raw, s.Attrs[i].Type)
		if err != nil {
			return nil, 0, false, fmt.Errorf("stream %s: attribute %s: %w", s.Name, k, err)
		}
		vals[i] = v
	}
	return vals, ts, hasTS, nil
}

// AttrIndex is the position of attribute name in the stream's values, or -1.
func (s *StreamDef) AttrIndex(name string) int { return s.attrIndex(name) }

func (s *StreamDef) attrIndex(name string) int {
	if s.index != nil {
		if i, ok := s.index[name]; ok {
			return i
		}
		return -1
	}
	for i, a := range s.Attrs {
		if a.Name == name {
			return i
		}
	}
	return -1
}

func jsonKind(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a bool"
	}
	return "a number"
}

// DecodeJSONValue decodes one JSON scalar (its raw text) into type t with the rules of
// DecodeJSON, for decoders that scan the object themselves.
func DecodeJSONValue(raw []byte, t Type) (Value, error) { return decodeJSONValue(raw, t) }

// decodeJSONValue decodes one JSON value into type t.
func decodeJSONValue(raw json.RawMessage, t Type) (Value, error) {
	raw = bytes.TrimSpace(raw)
	if string(raw) == "null" {
		return Value{}, nil
	}
	want := func() error { return fmt.Errorf("want %s, got %s %s", t, jsonKind(raw), truncate(string(raw), 40)) }
	if t == TypeObject {
		// an object attribute takes a JSON string, bool or number (integral: long, else double)
		switch {
		case len(raw) > 0 && raw[0] == '"':
			t = TypeString
		case string(raw) == "true" || string(raw) == "false":
			t = TypeBool
		case len(raw) > 0 && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9'):
			t = TypeDouble
			if _, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
				t = TypeLong
			}
		default:
			return Value{}, fmt.Errorf("want object (a JSON string, number or bool), got %s %s", jsonKind(raw), truncate(string(raw), 40))
		}
	}
	switch t {
	case TypeString:
		if len(raw) == 0 || raw[0] != '"' {
			return Value{}, want()
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return Value{}, err
		}
		return StringValue(s), nil
	case TypeBool:
		switch string(raw) {
		case "true":
			return BoolValue(true), nil
		case "false":
			return BoolValue(false), nil
		}
		return Value{}, want()
	}
	if len(raw) == 0 || !(raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') {
		return Value{}, want()
	}
	s := string(raw)
	switch t {
	case TypeInt, TypeLong:
		bits := 64
		if t == TypeInt {
			bits = 32
		}
		i, err := strconv.ParseInt(s, 10, bits)
		if err != nil {
			f, ferr := strconv.ParseFloat(s, 64)
			if ferr != nil || f != math.Trunc(f) {
				return Value{}, fmt.Errorf("want %s, got non-integral number %s", t, truncate(s, 40))
			}
			lo, hi := float64(math.MinInt64), float64(math.MaxInt64)
			if t == TypeInt {
				lo, hi = math.MinInt32, math.MaxInt32
			}
			if f < lo || f >= hi+1 || (t == TypeLong && f >= hi) {
				return Value{}, fmt.Errorf("%s out of range: %s", t, truncate(s, 40))
			}
			i = int64(f)
		}
		if t == TypeInt {
			return IntValue(int32(i)), nil
		}
		return LongValue(i), nil
	case TypeDouble, TypeFloat:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return Value{}, fmt.Errorf("bad number %s", truncate(s, 40))
		}
		if t == TypeFloat {
			return FloatValue(float32(f)), nil
		}
		return DoubleValue(f), nil
	}
	return Value{}, fmt.Errorf("unsupported type %s", t)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
