package engine

import ()

func (a *App) compileBool(sc scope, e expr, where string) (evalFn, error) {
	c := &exprCompiler{sc: sc, where: where}
	if where == "filter" {
		c.app = a
	}
	ce, err := c.compile(e)
	if err != nil {
		return nil, err
	}
	if ce.t != TypeBool {
		return nil, errAt(e.at(), "%s must be a bool condition, got %s", where, ce.t)
	}
	return ce.fn, nil
}

// checkStreamInput compiles a stream input's filters and window (sc resolves its attributes).
func (a *App) checkStreamInput(sc streamScope, si *simpleInput) (pre []evalFn, win *winPlan, post []evalFn, err error) {
	filters := func(es []expr) ([]evalFn, error) {
		var fns []evalFn
		for _, f := range es {
			fn, err := a.compileBool(sc, f, "filter")
			if err != nil {
				return nil, err
			}
			fns = append(fns, fn)
		}
		return fns, nil
	}
	if pre, err = filters(si.preFilters); err != nil {
		return nil, nil, nil, err
	}
	if si.window != nil {
		if win, err = a.checkWindow(sc, si.window); err != nil {
			return nil, nil, nil, err
		}
	}
	post, err = filters(si.postFilters)
	return pre, win, post, err
}

func (a *App) checkQuery(q *queryDecl, qp *queryPlan) error {
	var sc scope
	var star []Attr
	if q.join != nil {
		js, attrs, err := a.checkJoin(q, qp)
		if err != nil {
			return err
		}
		sc, star = js, attrs
	} else if si := q.simple; si != nil {
		if si.uni {
			return errAt(si.uniP, "'unidirectional' is only allowed on a side of a join")
		}
		if a.tableBy[si.stream] != nil {
			return errAt(si.p, "tables cannot be queried with from; join them with a stream (%s is a table)", si.stream)
		}
		def := a.byName[si.stream]
		qp.inputs = []*StreamDef{def}
		ss := streamScope{def: def, alias: si.alias}
		sc, star = ss, def.Attrs
		var err error
		if qp.pre, qp.win, qp.post, err = a.checkStreamInput(ss, si); err != nil {
			return err
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
	sp := &selPlan{noRemove: !qp.expires()}
	var aggs []aggSpec
	var attrs []Attr
	if q.star {
		for i, at := range star {
			attrs = append(attrs, at)
			sp.items = append(sp.items, func(f *frame) Value { return f.ev[i] })
		}
	} else {
		for _, it := range q.items {
			c := &exprCompiler{app: a, sc: sc, where: "select", aggs: &aggs}
			if q.pattern != nil {
				c.app = nil // aggregates over the matches are allowed, as in Siddhi
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
	if qp.join != nil {
		for i := range aggs {
			aggs[i].anyOrder = true // joined rows do not expire in the order they were emitted
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
		os := outScope{attrs: attrs}
		if (q.join != nil || q.pattern != nil) && (q.rate == nil || q.rate.kind != rateSnapshot) {
			// input attributes (pattern events) too, as Siddhi allows; output snapshot selects
			// rows again later, without their input
			os.in = sc
		}
		fn, err := a.compileBool(os, q.having, "having")
		if err != nil {
			return err
		}
		sp.having = fn
	}
	qp.sel = sp
	if err := a.checkOutputClauses(q, qp, attrs); err != nil {
		return err
	}
	return a.bindOutput(q, qp, attrs)
}
