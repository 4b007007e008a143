package engine

import ()

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
	if err := a.checkOutputClauses(q, qp, attrs); err != nil {
		return err
	}
	return a.bindOutput(q, qp, attrs)
}
