package engine

import "strings"

// Built-in functions and aggregate calls of the expression compiler.

// unify gives the common type of branches (ifThenElse, coalesce): equal types, widened numbers,
// or null literals.
func unify(p pos, fname string, cs []cexpr) (Type, error) {
	t := TypeNull
	for _, c := range cs {
		switch {
		case c.t == TypeNull || c.t == t:
		case t == TypeNull:
			t = c.t
		case t.numeric() && c.t.numeric():
			t = widest(t, c.t)
		default:
			return t, errAt(p, "%s: mixed types %s and %s", fname, t, c.t)
		}
	}
	return t, nil
}

var aggNames = map[string]aggKind{
	"count": aggCount, "sum": aggSum, "avg": aggAvg, "min": aggMin, "max": aggMax, "distinctcount": aggDistinct,
	"stddev": aggStdDev, "maxforever": aggMaxForever, "minforever": aggMinForever, "and": aggAnd, "or": aggOr,
}

func (c *exprCompiler) call(e *exCall) (cexpr, error) {
	lname := strings.ToLower(e.name)
	if k, ok := aggNames[lname]; ok {
		return c.aggregate(e, k)
	}
	if ce, ok, err := c.moreCall(e, lname); ok {
		return ce, err
	}
	if lname == "eventtimestamp" && len(e.args) == 1 {
		if at, ok := e.args[0].(*exAttr); ok && at.qual == "" && !at.indexed {
			return cexpr{}, errAt(at.p, "eventTimestamp(%s), the time of one event of a join or pattern, is not supported: eventTimestamp() gives the time of the event being processed", at.name)
		}
	}
	if lname == "isnull" && len(e.args) == 1 {
		// "e2 is null", "e2[last-1] is null": whether a pattern element bound that event
		if at, ok := e.args[0].(*exAttr); ok {
			if ps, ok := c.sc.(patScope); ok {
				if fn, ok := ps.wholeEvent(at); ok {
					return cexpr{fn, TypeBool}, nil
				}
			}
		}
	}
	args := make([]cexpr, len(e.args))
	for i, a := range e.args {
		ca, err := c.compile(a)
		if err != nil {
			return ca, err
		}
		args[i] = ca
	}
	nargs := func(n int) error {
		if len(args) != n {
			return errAt(e.p, "%s takes %d argument(s), got %d", e.name, n, len(args))
		}
		return nil
	}
	switch lname {
	case "ifthenelse":
		if err := nargs(3); err != nil {
			return cexpr{}, err
		}
		if args[0].t != TypeBool {
			return cexpr{}, errAt(e.args[0].at(), "ifThenElse condition must be bool, got %s", args[0].t)
		}
		t, err := unify(e.p, e.name, args[1:])
		if err != nil {
			return cexpr{}, err
		}
		cf, af, bf := args[0].fn, widen(args[1], t), widen(args[2], t)
		return cexpr{func(f *frame) Value {
			if cf(f).Bool() {
				return af(f)
			}
			return bf(f)
		}, t}, nil
	case "coalesce":
		if len(args) == 0 {
			return cexpr{}, errAt(e.p, "coalesce needs arguments")
		}
		// As Siddhi, every argument has the same type (null literals aside): no widening.
		t := TypeNull
		for _, a := range args {
			switch {
			case a.t == TypeNull || a.t == t:
			case t == TypeNull:
				t = a.t
			default:
				return cexpr{}, errAt(e.p, "coalesce: mixed types %s and %s (arguments must have one type)", t, a.t)
			}
		}
		fns := make([]evalFn, len(args))
		for i, a := range args {
			fns[i] = widen(a, t)
		}
		return cexpr{func(f *frame) Value {
			for _, fn := range fns {
				if v := fn(f); !v.IsNull() {
					return v
				}
			}
			return Value{}
		}, t}, nil
	case "cast", "convert":
		if err := nargs(2); err != nil {
			return cexpr{}, err
		}
		lit, ok := e.args[1].(*exLit)
		if !ok || lit.val.t != TypeString {
			return cexpr{}, errAt(e.args[1].at(), "%s needs a type name string, e.g. '%s'", e.name, "double")
		}
		t, ok := parseType(strings.ToLower(lit.val.s))
		if !ok {
			return cexpr{}, errAt(e.args[1].at(), "unknown type %q", lit.val.s)
		}
		fn := args[0].fn
		return cexpr{func(f *frame) Value { return convertValue(fn(f), t) }, t}, nil
	case "default":
		if err := nargs(2); err != nil {
			return cexpr{}, err
		}
		// As Siddhi, the value and its default have one type (a null literal aside).
		t := args[0].t
		if t == TypeNull {
			t = args[1].t
		} else if args[1].t != t && args[1].t != TypeNull {
			return cexpr{}, errAt(e.args[1].at(), "default: the default is %s, the value %s (they must have one type)", args[1].t, t)
		}
		vf, df := args[0].fn, args[1].fn
		return cexpr{func(f *frame) Value {
			if v := vf(f); !v.IsNull() {
				return v
			}
			return df(f)
		}, t}, nil
	case "isnull":
		if err := nargs(1); err != nil {
			return cexpr{}, err
		}
		fn := args[0].fn
		return cexpr{func(f *frame) Value { return BoolValue(fn(f).IsNull()) }, TypeBool}, nil
	case "eventtimestamp":
		if err := nargs(0); err != nil {
			return cexpr{}, err
		}
		return cexpr{func(f *frame) Value { return LongValue(f.ts) }, TypeLong}, nil
	case "concat", "str:concat":
		fns := make([]evalFn, len(args))
		for i, a := range args {
			fns[i] = a.fn
		}
		return cexpr{func(f *frame) Value {
			var b []byte
			for _, fn := range fns {
				v := fn(f)
				if v.IsNull() {
					return Value{}
				}
				b = v.appendText(b)
			}
			return StringValue(string(b))
		}, TypeString}, nil
	}
	return cexpr{}, errAt(e.p, "unknown function %s", e.name)
}

func (c *exprCompiler) aggregate(e *exCall, k aggKind) (cexpr, error) {
	if c.aggs == nil {
		return cexpr{}, errAt(e.p, "aggregate function %s is only allowed in select (not in %s)", e.name, c.where)
	}
	if c.inAgg {
		return cexpr{}, errAt(e.p, "aggregate function %s cannot be nested in another aggregate", e.name)
	}
	spec := aggSpec{kind: k}
	switch {
	case k == aggCount && (e.star || len(e.args) == 0):
	case len(e.args) != 1:
		return cexpr{}, errAt(e.p, "%s takes one argument", e.name)
	default:
		c.inAgg = true
		a, err := c.compile(e.args[0])
		c.inAgg = false
		if err != nil {
			return a, err
		}
		switch k {
		case aggSum, aggAvg, aggMin, aggMax, aggStdDev, aggMaxForever, aggMinForever:
			if !a.t.numeric() {
				return a, errAt(e.args[0].at(), "%s needs a number, got %s", e.name, a.t)
			}
		case aggAnd, aggOr:
			if a.t != TypeBool {
				return a, errAt(e.args[0].at(), "%s needs a bool, got %s", e.name, a.t)
			}
		}
		spec.arg, spec.argT = a.fn, a.t
	}
	spec.outT = spec.resultType()
	slot := len(*c.aggs)
	*c.aggs = append(*c.aggs, spec)
	return cexpr{func(f *frame) Value { return f.aggs[slot] }, spec.outT}, nil
}
