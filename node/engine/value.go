package engine

import (
	"math"
	"strconv"
	"strings"
)

// Type is the type of a stream attribute; the zero Type is the type of a null Value.
type Type uint8

// Attribute types of the SiddhiQL subset.
const (
	TypeNull   Type = iota // type of NullValue(); never an attribute type
	TypeString             // Go string
	TypeInt                // 32-bit signed integer
	TypeLong               // 64-bit signed integer
	TypeDouble             // 64-bit float
	TypeFloat              // 32-bit float
	TypeBool               // boolean
	// TypeObject is an attribute type only: an object attribute holds a value of any of the
	// types above (never an Value of type TypeObject), read through cast/convert, instanceOf…,
	// is null, or passed on as it is.
	TypeObject
)

var typeNames = [...]string{"null", "string", "int", "long", "double", "float", "bool", "object"}

// String returns the SiddhiQL name of the type ("string", "int", ...).
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// parseType maps a SiddhiQL type name to a Type.
func parseType(s string) (Type, bool) {
	for i := TypeString; i <= TypeObject; i++ {
		if typeNames[i] == s {
			return i, true
		}
	}
	return TypeNull, false
}

func (t Type) numeric() bool {
	return t == TypeInt || t == TypeLong || t == TypeDouble || t == TypeFloat
}

// rank orders numeric types for widening: int < long < float < double.
func (t Type) rank() int {
	switch t {
	case TypeInt:
		return 1
	case TypeLong:
		return 2
	case TypeFloat:
		return 3
	case TypeDouble:
		return 4
	}
	return 0
}

// Value is one attribute value: a compact tagged union (numbers in n, strings in s), never boxed.
// The zero Value is null.
type Value struct {
	t Type
	n uint64
	s string
}

// StringValue makes a string value.
func StringValue(s string) Value { return Value{t: TypeString, s: s} }

// IntValue makes an int value.
func IntValue(i int32) Value { return Value{t: TypeInt, n: uint64(int64(i))} }

// LongValue makes a long value.
func LongValue(i int64) Value { return Value{t: TypeLong, n: uint64(i)} }

// DoubleValue makes a double value.
func DoubleValue(f float64) Value { return Value{t: TypeDouble, n: math.Float64bits(f)} }

// FloatValue makes a float value.
func FloatValue(f float32) Value { return Value{t: TypeFloat, n: uint64(math.Float32bits(f))} }

// BoolValue makes a bool value.
func BoolValue(b bool) Value {
	if b {
		return Value{t: TypeBool, n: 1}
	}
	return Value{t: TypeBool}
}

// NullValue returns the null value (the zero Value).
func NullValue() Value { return Value{} }

// Type returns the value's type, TypeNull for null.
func (v Value) Type() Type { return v.t }

// IsNull reports whether v is null.
func (v Value) IsNull() bool { return v.t == TypeNull }

// Str returns the string of a string value ("" otherwise).
func (v Value) Str() string { return v.s }

// Int returns an int value (0 otherwise).
func (v Value) Int() int32 { return int32(int64(v.n)) }

// Long returns an int or long value as int64; floats are truncated.
func (v Value) Long() int64 {
	switch v.t {
	case TypeDouble:
		return int64(math.Float64frombits(v.n))
	case TypeFloat:
		return int64(math.Float32frombits(uint32(v.n)))
	}
	return int64(v.n)
}

// Double returns any numeric value as float64.
func (v Value) Double() float64 {
	switch v.t {
	case TypeDouble:
		return math.Float64frombits(v.n)
	case TypeFloat:
		return float64(math.Float32frombits(uint32(v.n)))
	case TypeInt, TypeLong:
		return float64(int64(v.n))
	}
	return 0
}

// Float returns a float value.
func (v Value) Float() float32 { return float32(v.Double()) }

// Bool returns a bool value (false otherwise).
func (v Value) Bool() bool { return v.t == TypeBool && v.n != 0 }

// String renders the value for messages and string concatenation.
func (v Value) String() string {
	switch v.t {
	case TypeString:
		return v.s
	case TypeNull:
		return "null"
	}
	return string(v.appendText(nil))
}

func (v Value) appendText(dst []byte) []byte {
	switch v.t {
	case TypeString:
		return append(dst, v.s...)
	case TypeInt, TypeLong:
		return strconv.AppendInt(dst, int64(v.n), 10)
	case TypeDouble:
		return strconv.AppendFloat(dst, math.Float64frombits(v.n), 'g', -1, 64)
	case TypeFloat:
		return strconv.AppendFloat(dst, float64(math.Float32frombits(uint32(v.n))), 'g', -1, 32)
	case TypeBool:
		return strconv.AppendBool(dst, v.n != 0)
	}
	return append(dst, "null"...)
}

// AppendJSON appends v as a JSON value (NaN and infinities become null).
func (v Value) AppendJSON(dst []byte) []byte {
	switch v.t {
	case TypeString:
		return AppendJSONString(dst, v.s)
	case TypeDouble, TypeFloat:
		f := v.Double()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return append(dst, "null"...)
		}
	}
	return v.appendText(dst)
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s quoted as in every output's JSON (", \, control bytes and DEL escaped,
// other bytes kept); exported so a sink caching parts of that JSON writes the same bytes.
func AppendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f) {
			continue // UTF-8 passes through; invalid bytes are kept as-is
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

// Equal reports whether two values have the same type and content (NaN equals NaN bit-wise).
func (v Value) Equal(o Value) bool { return v.t == o.t && v.n == o.n && v.s == o.s }

// compareValues orders two non-null values of comparable types: numbers numerically, strings
// lexically, bools false < true.
func compareValues(a, b Value) int {
	if a.t == TypeString && b.t == TypeString {
		switch {
		case a.s < b.s:
			return -1
		case a.s > b.s:
			return 1
		}
		return 0
	}
	if (a.t == TypeInt || a.t == TypeLong) && (b.t == TypeInt || b.t == TypeLong) {
		x, y := int64(a.n), int64(b.n)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
	if a.t == TypeBool && b.t == TypeBool {
		return int(a.n) - int(b.n)
	}
	x, y := a.Double(), b.Double()
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// convertValue converts v to type t (numbers truncate, strings parse; to bool, only "true" and
// 1 are true); a string that does not parse as a number yields null.
func convertValue(v Value, t Type) Value {
	if v.t == TypeNull || v.t == t || t == TypeObject {
		return v
	}
	switch t {
	case TypeString:
		return StringValue(v.String())
	case TypeBool:
		// As Siddhi: only "true" (any case) or the number 1 is true; any other string or
		// number is false, never null.
		if v.t == TypeString {
			return BoolValue(strings.EqualFold(v.s, "true"))
		}
		return BoolValue(v.Double() == 1)
	}
	if v.t == TypeString {
		switch t {
		case TypeInt:
			i, err := strconv.ParseInt(v.s, 10, 32)
			if err != nil {
				return Value{}
			}
			return IntValue(int32(i))
		case TypeLong:
			i, err := strconv.ParseInt(v.s, 10, 64)
			if err != nil {
				return Value{}
			}
			return LongValue(i)
		case TypeDouble, TypeFloat:
			f, err := strconv.ParseFloat(v.s, 64)
			if err != nil {
				return Value{}
			}
			if t == TypeFloat {
				return FloatValue(float32(f))
			}
			return DoubleValue(f)
		}
		return Value{}
	}
	if v.t == TypeBool {
		v = LongValue(int64(v.n))
	}
	switch t {
	case TypeInt:
		return IntValue(int32(v.Long()))
	case TypeLong:
		return LongValue(v.Long())
	case TypeDouble:
		return DoubleValue(v.Double())
	case TypeFloat:
		return FloatValue(float32(v.Double()))
	}
	return Value{}
}
