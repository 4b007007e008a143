package engine

import (
	"fmt"
	"math"
)

// frame is what a compiled expression reads: the current event, the events bound by pattern
// aliases, the aggregate results and the select outputs (for having).
type frame struct {
	ev    []Value
	refs  [][]Value
	lists [][][]Value // events of quantified sequence elements (e2[0], e2[last])
	aggs  []Value
	out   []Value
	ts    int64
	tabs  []*tableRT // the runtime's tables, for "<condition> in Table"
	trow  []Value    // the table row an 'in' condition is testing
	gen   *uuidGen   // UUID() in a select; nil elsewhere
}

// evalFn is a compiled expression: a closure tree, no reflection and no boxing.
type evalFn func(f *frame) Value

type cexpr struct {
	fn evalFn
	t  Type
}

// scope resolves attribute references for the compiler.
type scope interface {
	resolve(a *exAttr) (evalFn, Type, error)
}

type exprCompiler struct {
	app   *App // set where "<condition> in Table" is allowed (filters)
	sc    scope
	aggs  *[]aggSpec // nil: aggregates not allowed here
	where string     // "filter", "having" ... for messages
	inAgg bool
}

func errAt(p pos, format string, args ...any) error { return newCompileError(p, format, args...) }

func constFn(v Value) evalFn { return func(*frame) Value { return v } }

// widen converts a numeric expression to a wider numeric type.
func widen(c cexpr, to Type) evalFn {
	if c.t == to || c.t == TypeNull {
		return c.fn
	}
	fn := c.fn
	return func(f *frame) Value { return convertValue(fn(f), to) }
}

func widest(a, b Type) Type {
	if a.rank() >= b.rank() {
		return a
	}
	return b
}

func (c *exprCompiler) compile(e expr) (cexpr, error) {
	switch e := e.(type) {
	case *exLit:
		return cexpr{constFn(e.val), e.val.t}, nil
	case *exAttr:
		fn, t, err := c.sc.resolve(e)
		return cexpr{fn, t}, err
	case *exIn:
		return c.compileIn(e)
	case *exUnary:
		x, err := c.compile(e.x)
		if err != nil {
			return x, err
		}
		if e.op == "not" {
			if x.t != TypeBool {
				return x, errAt(e.p, "'not' needs a bool, got %s", x.t)
			}
			fn := x.fn
			return cexpr{func(f *frame) Value { return BoolValue(!fn(f).Bool()) }, TypeBool}, nil
		}
		if !x.t.numeric() {
			return x, errAt(e.p, "unary '-' needs a number, got %s", x.t)
		}
		fn, t := x.fn, x.t
		return cexpr{func(f *frame) Value {
			v := fn(f)
			switch v.t {
			case TypeInt:
				return IntValue(-v.Int())
			case TypeLong:
				return LongValue(-v.Long())
			case TypeDouble:
				return DoubleValue(-v.Double())
			case TypeFloat:
				return FloatValue(-v.Float())
			}
			return v
		}, t}, nil
	case *exBinary:
		return c.binary(e)
	case *exCall:
		return c.call(e)
	}
	return cexpr{}, fmt.Errorf("unknown expression %T", e)
}

func (c *exprCompiler) binary(e *exBinary) (cexpr, error) {
	l, err := c.compile(e.l)
	if err != nil {
		return l, err
	}
	r, err := c.compile(e.r)
	if err != nil {
		return r, err
	}
	lf, rf := l.fn, r.fn
	switch e.op {
	case "and", "or":
		if l.t != TypeBool || r.t != TypeBool {
			return l, errAt(e.p, "'%s' needs bool operands, got %s and %s", e.op, l.t, r.t)
		}
		if e.op == "and" {
			return cexpr{func(f *frame) Value { return BoolValue(lf(f).Bool() && rf(f).Bool()) }, TypeBool}, nil
		}
		return cexpr{func(f *frame) Value { return BoolValue(lf(f).Bool() || rf(f).Bool()) }, TypeBool}, nil
	case "==", "!=", "<", "<=", ">", ">=":
		return c.comparison(e, l, r)
	}
	if e.op == "+" && (l.t == TypeString || r.t == TypeString) {
		return cexpr{func(f *frame) Value {
			a, b := lf(f), rf(f)
			if a.IsNull() || b.IsNull() {
				return Value{}
			}
			return StringValue(a.String() + b.String())
		}, TypeString}, nil
	}
	if !l.t.numeric() || !r.t.numeric() {
		return l, errAt(e.p, "'%s' needs numbers, got %s and %s", e.op, l.t, r.t)
	}
	t := widest(l.t, r.t)
	return cexpr{arith(e.op, t, widen(l, t), widen(r, t)), t}, nil
}

func arith(op string, t Type, lf, rf evalFn) evalFn {
	switch t {
	case TypeInt, TypeLong:
		var f func(a, b int64) (int64, bool)
		switch op {
		case "+":
			f = func(a, b int64) (int64, bool) { return a + b, true }
		case "-":
			f = func(a, b int64) (int64, bool) { return a - b, true }
		case "*":
			f = func(a, b int64) (int64, bool) { return a * b, true }
		case "/":
			f = func(a, b int64) (int64, bool) {
				if b == 0 {
					return 0, false
				}
				return a / b, true
			}
		default:
			f = func(a, b int64) (int64, bool) {
				if b == 0 {
					return 0, false
				}
				return a % b, true
			}
		}
		isInt := t == TypeInt
		return func(fr *frame) Value {
			a, b := lf(fr), rf(fr)
			if a.IsNull() || b.IsNull() {
				return Value{}
			}
			x, ok := f(int64(a.n), int64(b.n))
			if !ok {
				return Value{}
			}
			if isInt {
				return IntValue(int32(x))
			}
			return LongValue(x)
		}
	}
	var f func(a, b float64) float64
	switch op {
	case "+":
		f = func(a, b float64) float64 { return a + b }
	case "-":
		f = func(a, b float64) float64 { return a - b }
	case "*":
		f = func(a, b float64) float64 { return a * b }
	case "/":
		f = func(a, b float64) float64 { return a / b }
	default:
		f = math.Mod
	}
	isFloat := t == TypeFloat
	return func(fr *frame) Value {
		a, b := lf(fr), rf(fr)
		if a.IsNull() || b.IsNull() {
			return Value{}
		}
		if isFloat {
			return FloatValue(float32(f(float64(a.Float()), float64(b.Float()))))
		}
		return DoubleValue(f(a.Double(), b.Double()))
	}
}

func (c *exprCompiler) comparison(e *exBinary, l, r cexpr) (cexpr, error) {
	lf, rf := l.fn, r.fn
	if l.t == TypeNull || r.t == TypeNull {
		return l, errAt(e.p, "comparison with null: use 'x is null'")
	}
	ok := (l.t.numeric() && r.t.numeric()) || (l.t == r.t && l.t == TypeString) ||
		(l.t == r.t && l.t == TypeBool && (e.op == "==" || e.op == "!="))
	if !ok {
		return l, errAt(e.p, "cannot compare %s %s %s", l.t, e.op, r.t)
	}
	var test func(c int) bool
	switch e.op {
	case "==":
		test = func(c int) bool { return c == 0 }
	case "!=":
		test = func(c int) bool { return c != 0 }
	case "<":
		test = func(c int) bool { return c < 0 }
	case "<=":
		test = func(c int) bool { return c <= 0 }
	case ">":
		test = func(c int) bool { return c > 0 }
	default:
		test = func(c int) bool { return c >= 0 }
	}
	if l.t == TypeString && r.t == TypeString && (e.op == "==" || e.op == "!=") {
		want := e.op == "=="
		return cexpr{func(f *frame) Value {
			a, b := lf(f), rf(f)
			if a.IsNull() || b.IsNull() {
				return BoolValue(false)
			}
			return BoolValue((a.s == b.s) == want)
		}, TypeBool}, nil
	}
	// fast paths for the common numeric comparisons
	if l.t.numeric() && r.t.numeric() && (l.t == TypeDouble || r.t == TypeDouble || l.t == TypeFloat || r.t == TypeFloat) {
		var cmp func(a, b float64) bool
		switch e.op {
		case "==":
			cmp = func(a, b float64) bool { return a == b }
		case "!=":
			cmp = func(a, b float64) bool { return a != b }
		case "<":
			cmp = func(a, b float64) bool { return a < b }
		case "<=":
			cmp = func(a, b float64) bool { return a <= b }
		case ">":
			cmp = func(a, b float64) bool { return a > b }
		default:
			cmp = func(a, b float64) bool { return a >= b }
		}
		return cexpr{func(f *frame) Value {
			a, b := lf(f), rf(f)
			if a.IsNull() || b.IsNull() {
				return BoolValue(false)
			}
			return BoolValue(cmp(a.Double(), b.Double()))
		}, TypeBool}, nil
	}
	return cexpr{func(f *frame) Value {
		a, b := lf(f), rf(f)
		if a.IsNull() || b.IsNull() {
			return BoolValue(false)
		}
		return BoolValue(test(compareValues(a, b)))
	}, TypeBool}, nil
}

// compileIn compiles "<condition> in Table": the condition reads the table's row as Table.x
// (other names resolve as outside), and the result is true when some row, in insertion order,
// satisfies it.
func (c *exprCompiler) compileIn(e *exIn) (cexpr, error) {
	if c.app == nil {
		return cexpr{}, errAt(e.p, "'<condition> in <table>' is only supported in filters and the select of stream and join queries (not in %s)", c.where)
	}
	def := c.app.tableBy[e.table]
	if def == nil {
		return cexpr{}, errAt(e.tableP, "%s is not a table ('<condition> in <table>' needs a defined table)", e.table)
	}
	ti := 0
	for ti < len(c.app.tables) && c.app.tables[ti] != def {
		ti++
	}
	inner := *c
	inner.app, inner.where = nil, "the condition of another 'in'"
	inner.sc = inTableScope{outer: c.sc, def: def}
	ce, err := inner.compile(e.cond)
	if err != nil {
		return ce, err
	}
	if ce.t != TypeBool {
		return ce, errAt(e.cond.at(), "the condition before 'in' must be a bool, got %s", ce.t)
	}
	cond := ce.fn
	return cexpr{func(f *frame) Value {
		saved := f.trow
		found := false
		for _, row := range f.tabs[ti].rows.live() {
			f.trow = row.vals
			if cond(f).Bool() {
				found = true
				break
			}
		}
		f.trow = saved
		return BoolValue(found)
	}, TypeBool}, nil
}

// inTableScope resolves Table.x in the condition of "<condition> in Table" to the row being
// tested, and other names as the enclosing scope does (an unqualified name the enclosing scope
// does not know may name a table attribute).
type inTableScope struct {
	outer scope
	def   *StreamDef
}

func (s inTableScope) resolve(e *exAttr) (evalFn, Type, error) {
	if e.qual == s.def.Name && !e.indexed {
		i := s.def.attrIndex(e.name)
		if i < 0 {
			return nil, 0, errAt(e.p, "table %s has no attribute %s", s.def.Name, e.name)
		}
		return func(f *frame) Value {
			if f.trow == nil {
				return Value{}
			}
			return f.trow[i]
		}, s.def.Attrs[i].Type, nil
	}
	fn, t, err := s.outer.resolve(e)
	if err != nil && e.qual == "" && !e.indexed {
		if i := s.def.attrIndex(e.name); i >= 0 {
			return func(f *frame) Value {
				if f.trow == nil {
					return Value{}
				}
				return f.trow[i]
			}, s.def.Attrs[i].Type, nil
		}
	}
	return fn, t, err
}
