package engine

import (
	"crypto/sha1"
	"encoding/hex"
	"strconv"
	"strings"
)

// More built-in functions: instanceOf<Type>, maximum/minimum over arguments, and UUID().

var instanceOfTypes = map[string]Type{
	"instanceofboolean": TypeBool, "instanceofstring": TypeString, "instanceofinteger": TypeInt,
	"instanceoflong": TypeLong, "instanceoffloat": TypeFloat, "instanceofdouble": TypeDouble,
}

// moreCall compiles the functions of this file; ok is false for another name.
func (c *exprCompiler) moreCall(e *exCall, lname string) (ce cexpr, ok bool, err error) {
	if t, is := instanceOfTypes[lname]; is {
		ce, err = c.instanceOf(e, t)
		return ce, true, err
	}
	switch lname {
	case "maximum", "minimum":
		ce, err = c.extreme(e, lname == "minimum")
		return ce, true, err
	case "uuid":
		ce, err = c.uuid(e)
		return ce, true, err
	}
	return cexpr{}, false, nil
}

// instanceOf is true when its argument is a non-null value of type t. Stream attributes are
// typed, so only a null of the right type gives false.
func (c *exprCompiler) instanceOf(e *exCall, t Type) (cexpr, error) {
	if len(e.args) != 1 || e.star {
		return cexpr{}, errAt(e.p, "%s takes one argument, got %d", e.name, len(e.args))
	}
	a, err := c.compile(e.args[0])
	if err != nil {
		return a, err
	}
	fn := a.fn
	if a.t == TypeObject { // known only at run time
		return cexpr{func(f *frame) Value { return BoolValue(fn(f).t == t) }, TypeBool}, nil
	}
	if a.t != t {
		return cexpr{func(*frame) Value { return BoolValue(false) }, TypeBool}, nil
	}
	return cexpr{func(f *frame) Value { return BoolValue(!fn(f).IsNull()) }, TypeBool}, nil
}

// extreme compiles maximum(a, b, ...) and minimum(...): the largest or smallest non-null
// argument (null when all are null). As in Siddhi the arguments have one numeric type;
// maximum(*) takes every attribute of the input stream.
func (c *exprCompiler) extreme(e *exCall, least bool) (cexpr, error) {
	args := e.args
	if e.star {
		ss, ok := c.sc.(streamScope)
		if !ok {
			return cexpr{}, errAt(e.p, "%s(*) needs a single input stream", e.name)
		}
		for _, at := range ss.def.Attrs {
			args = append(args, &exAttr{p: e.p, name: at.Name})
		}
	}
	if len(args) == 0 {
		return cexpr{}, errAt(e.p, "%s needs arguments", e.name)
	}
	fns := make([]evalFn, len(args))
	t := TypeNull
	for i, a := range args {
		ca, err := c.compile(a)
		if err != nil {
			return ca, err
		}
		if !ca.t.numeric() {
			return cexpr{}, errAt(a.at(), "%s needs numbers, got %s", e.name, ca.t)
		}
		if t != TypeNull && ca.t != t {
			return cexpr{}, errAt(a.at(), "%s: arguments of one type are needed, got %s and %s", e.name, t, ca.t)
		}
		t, fns[i] = ca.t, ca.fn
	}
	return cexpr{func(f *frame) Value {
		var best Value
		for _, fn := range fns {
			v := fn(f)
			if v.IsNull() {
				continue
			}
			if best.IsNull() {
				best = v
				continue
			}
			if c := compareValues(v, best); (least && c < 0) || (!least && c > 0) {
				best = v
			}
		}
		return best
	}, t}, nil
}

// uuid compiles UUID(). Siddhi gives a random UUID; the engine must give the same outputs when
// it replays inputs after a restore, so it derives a name-based UUID (version 5 layout, SHA-1)
// from the app, the query, the input sequence and a count of the UUIDs made for that input.
func (c *exprCompiler) uuid(e *exCall) (cexpr, error) {
	if len(e.args) != 0 || e.star {
		return cexpr{}, errAt(e.p, "UUID takes no arguments")
	}
	if c.where != "select" {
		return cexpr{}, errAt(e.p, "UUID() is only supported in the select of stream and join queries (not in %s)", c.where)
	}
	return cexpr{func(f *frame) Value {
		if f.gen == nil {
			return Value{}
		}
		return StringValue(f.gen.next())
	}, TypeString}, nil
}

// uuidGen derives the UUIDs of one query's select: deterministic per input, so a replay after
// a restore gives the ids of the uninterrupted run (the count restarts with each input).
type uuidGen struct {
	r      *Runtime
	prefix string // app/query/
	seq    uint64
	n      int
	buf    []byte
}

func (g *uuidGen) next() string {
	if g.seq != g.r.seq {
		g.seq, g.n = g.r.seq, 0
	}
	b := append(g.buf[:0], g.prefix...)
	b = strconv.AppendUint(b, g.seq, 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(g.n), 10)
	g.buf = b
	g.n++
	h := sha1.Sum(b)
	h[6] = h[6]&0x0f | 0x50 // version 5: name-based (SHA-1)
	h[8] = h[8]&0x3f | 0x80 // RFC 4122 variant
	var s strings.Builder
	s.Grow(36)
	for i, part := range [][]byte{h[0:4], h[4:6], h[6:8], h[8:10], h[10:16]} {
		if i > 0 {
			s.WriteByte('-')
		}
		s.WriteString(hex.EncodeToString(part))
	}
	return s.String()
}
