package engine

import (
	"strings"
)

// streamScope resolves attributes of a simple query's input stream (f.ev).
type streamScope struct{ def *StreamDef }

func (s streamScope) resolve(e *exAttr) (evalFn, Type, error) {
	if e.qual != "" && e.qual != s.def.Name {
		return nil, 0, errAt(e.p, "unknown stream %s in %s.%s (the input is %s)", e.qual, e.qual, e.name, s.def.Name)
	}
	i := s.def.attrIndex(e.name)
	if i < 0 {
		return nil, 0, errAt(e.p, "stream %s has no attribute %s", s.def.Name, e.name)
	}
	return func(f *frame) Value { return f.ev[i] }, s.def.Attrs[i].Type, nil
}

// outScope resolves having's references to the select outputs (f.out).
type outScope struct{ attrs []Attr }

func (s outScope) resolve(e *exAttr) (evalFn, Type, error) {
	if e.qual == "" {
		for i, a := range s.attrs {
			if a.Name == e.name {
				return func(f *frame) Value { return f.out[i] }, a.Type, nil
			}
		}
	}
	return nil, 0, errAt(e.p, "having can only use the select's output attributes; %s is not one", e.name)
}

// patScope resolves pattern references: alias.attr to a bound event, bare names to the state's
// own stream (cur, or -1 in select where bare names must be unambiguous).
type patScope struct {
	states []patState
	cur    int
	limit  int // aliases with index > limit are not bound yet
}

func (s patScope) resolve(e *exAttr) (evalFn, Type, error) {
	si := -1
	if e.qual != "" {
		for i, st := range s.states {
			if st.alias == e.qual {
				si = i
			}
		}
		if si < 0 {
			return nil, 0, errAt(e.p, "unknown pattern alias %s", e.qual)
		}
		if si > s.limit {
			return nil, 0, errAt(e.p, "%s is not matched yet at this point of the pattern", e.qual)
		}
	} else if s.cur >= 0 {
		si = s.cur
	} else {
		for i, st := range s.states {
			if st.stream.attrIndex(e.name) >= 0 {
				if si >= 0 {
					return nil, 0, errAt(e.p, "attribute %s is ambiguous: qualify it with an alias (e.g. %s.%s)", e.name, st.alias, e.name)
				}
				si = i
			}
		}
		if si < 0 {
			return nil, 0, errAt(e.p, "no pattern stream has an attribute %s", e.name)
		}
	}
	def := s.states[si].stream
	i := def.attrIndex(e.name)
	if i < 0 {
		return nil, 0, errAt(e.p, "stream %s (%s) has no attribute %s", def.Name, s.states[si].alias, e.name)
	}
	if e.indexed && s.states[si].quant == 0 {
		return nil, 0, errAt(e.p, "%s matches one event: write %s.%s without an index", e.qual, e.qual, e.name)
	}
	if s.states[si].quant != 0 && (e.qual != "" || s.cur != si) {
		idx, fromLast := e.index, e.fromLast
		return func(f *frame) Value {
			if f.lists == nil {
				return Value{}
			}
			l := f.lists[si]
			j := idx
			if fromLast {
				j = len(l) - 1 - idx
			}
			if j < 0 || j >= len(l) {
				return Value{}
			}
			return l[j][i]
		}, def.Attrs[i].Type, nil
	}
	return func(f *frame) Value {
		if r := f.refs[si]; r != nil {
			return r[i]
		}
		return Value{}
	}, def.Attrs[i].Type, nil
}

func (a *App) compileBool(sc scope, e expr, where string) (evalFn, error) {
	c := &exprCompiler{sc: sc, where: where}
	ce, err := c.compile(e)
	if err != nil {
		return nil, err
	}
	if ce.t != TypeBool {
		return nil, errAt(e.at(), "%s must be a bool condition, got %s", where, ce.t)
	}
	return ce.fn, nil
}

func (a *App) checkQuery(q *queryDecl, qp *queryPlan) error {
	var sc scope
	var star []Attr
	if si := q.simple; si != nil {
		def := a.byName[si.stream]
		qp.inputs = []*StreamDef{def}
		sc = streamScope{def}
		star = def.Attrs
		for _, f := range si.preFilters {
			fn, err := a.compileBool(sc, f, "filter")
			if err != nil {
				return err
			}
			qp.pre = append(qp.pre, fn)
		}
		if si.window != nil {
			w, err := a.checkWindow(def, si.window)
			if err != nil {
				return err
			}
			qp.win = w
		}
		for _, f := range si.postFilters {
			fn, err := a.compileBool(sc, f, "filter")
			if err != nil {
				return err
			}
			qp.post = append(qp.post, fn)
		}
	} else {
		pp, err := a.checkPattern(q.pattern, qp)
		if err != nil {
			return err
		}
		qp.pat = pp
		sc = patScope{states: pp.states, cur: -1, limit: len(pp.states) - 1}
		if q.star {
			return errAt(q.selectP, "select * is not supported in patterns: name the attributes (e.g. e1.x)")
		}
	}
	sp := &selPlan{noRemove: qp.win == nil}
	var aggs []aggSpec
	var attrs []Attr
	if q.star {
		for i, at := range star {
			attrs = append(attrs, at)
			sp.items = append(sp.items, func(f *frame) Value { return f.ev[i] })
		}
	} else {
		for _, it := range q.items {
			c := &exprCompiler{sc: sc, where: "select", aggs: &aggs}
			if q.pattern != nil {
				c.aggs, c.where = nil, "pattern queries"
			}
			ce, err := c.compile(it.e)
			if err != nil {
				return err
			}
			name := it.alias
			if name == "" {
				at, ok := it.e.(*exAttr)
				if !ok {
					return errAt(it.p, "name this expression with 'as <name>'")
				}
				name = at.name
			}
			if ce.t == TypeNull {
				return errAt(it.p, "the type of %s is unknown (a bare null): use cast(null, 'type')", name)
			}
			for _, prev := range attrs {
				if prev.Name == name {
					return errAt(it.p, "output attribute %s is selected twice", name)
				}
			}
			attrs = append(attrs, Attr{Name: name, Type: ce.t})
			sp.items = append(sp.items, ce.fn)
		}
	}
	sp.aggs = aggs
	for _, g := range q.groupBy {
		if q.pattern != nil {
			return errAt(g.p, "group by is not supported in pattern queries")
		}
		fn, _, err := sc.resolve(g)
		if err != nil {
			return err
		}
		sp.groupBy = append(sp.groupBy, fn)
	}
	if q.having != nil {
		fn, err := a.compileBool(outScope{attrs}, q.having, "having")
		if err != nil {
			return err
		}
		sp.having = fn
	}
	qp.sel = sp
	return a.bindOutput(q, qp, attrs)
}

// constArg evaluates a window argument that must be a constant integer (or time) literal.
func constArg(e expr, what string) (int64, error) {
	lit, ok := e.(*exLit)
	if !ok || (lit.val.t != TypeInt && lit.val.t != TypeLong) {
		return 0, errAt(e.at(), "%s must be a constant integer", what)
	}
	if lit.val.Long() <= 0 {
		return 0, errAt(e.at(), "%s must be positive", what)
	}
	return lit.val.Long(), nil
}

func (a *App) checkWindow(def *StreamDef, w *windowSpec) (*winPlan, error) {
	wp := &winPlan{}
	nargs := func(n int) error {
		if len(w.args) != n {
			return errAt(w.p, "window %s takes %d argument(s), got %d", w.name, n, len(w.args))
		}
		return nil
	}
	var err error
	switch strings.ToLower(w.name) {
	case "length", "lengthbatch":
		wp.kind = winLength
		if strings.EqualFold(w.name, "lengthBatch") {
			wp.kind = winLengthBatch
		}
		if err = nargs(1); err != nil {
			return nil, err
		}
		n, err := constArg(w.args[0], "window length")
		if err != nil {
			return nil, err
		}
		if n > 1<<26 {
			return nil, errAt(w.args[0].at(), "window length %d is too large", n)
		}
		wp.length = int(n)
	case "time", "timebatch":
		wp.kind = winTime
		if strings.EqualFold(w.name, "timeBatch") {
			wp.kind = winTimeBatch
		}
		if err = nargs(1); err != nil {
			return nil, err
		}
		if wp.dur, err = constArg(w.args[0], "window time"); err != nil {
			return nil, err
		}
		a.usesTime = true
	case "externaltime", "externaltimebatch":
		wp.kind = winExtTime
		if strings.EqualFold(w.name, "externalTimeBatch") {
			wp.kind = winExtTimeBatch
		}
		if err = nargs(2); err != nil {
			return nil, err
		}
		at, ok := w.args[0].(*exAttr)
		if !ok {
			return nil, errAt(w.args[0].at(), "the first argument of %s is the timestamp attribute", w.name)
		}
		if _, _, err := (streamScope{def}).resolve(at); err != nil {
			return nil, err
		}
		wp.attr = def.attrIndex(at.name)
		if t := def.Attrs[wp.attr].Type; t != TypeLong && t != TypeInt {
			return nil, errAt(at.p, "timestamp attribute %s must be long, got %s", at.name, t)
		}
		if wp.dur, err = constArg(w.args[1], "window time"); err != nil {
			return nil, err
		}
	default:
		return nil, errAt(w.p, "unknown window %s (want length, lengthBatch, time, timeBatch, externalTime, externalTimeBatch)", w.name)
	}
	return wp, nil
}

func (a *App) checkPattern(pi *patternInput, qp *queryPlan) (*patPlan, error) {
	pp := &patPlan{sequence: pi.sequence, every: pi.every, within: pi.within}
	if pi.within > 0 {
		a.usesTime = true
	}
	seen := map[string]bool{}
	for _, el := range pi.elems {
		if seen[el.alias] {
			return nil, errAt(el.p, "pattern alias %s is used twice", el.alias)
		}
		seen[el.alias] = true
		def := a.byName[el.stream]
		pp.states = append(pp.states, patState{stream: def, alias: el.alias, quant: el.quant})
		pp.quants = pp.quants || el.quant != 0
		dup := false
		for _, in := range qp.inputs {
			dup = dup || in == def
		}
		if !dup {
			qp.inputs = append(qp.inputs, def)
		}
	}
	for i, el := range pi.elems {
		if el.filter == nil {
			continue
		}
		fn, err := a.compileBool(patScope{states: pp.states, cur: i, limit: i}, el.filter, "pattern condition")
		if err != nil {
			return nil, err
		}
		pp.states[i].filter = fn
	}
	return pp, nil
}
