package engine

import "strings"

// Checks of the clauses after having: order by, limit, offset and output rate limiting.

// checkOutputClauses compiles q's order by, limit, offset and output rate into qp; attrs is the
// select's output schema.
func (a *App) checkOutputClauses(q *queryDecl, qp *queryPlan, attrs []Attr) error {
	if err := checkChunk(q, qp, attrs); err != nil {
		return err
	}
	return a.checkRate(q, qp)
}

func checkChunk(q *queryDecl, qp *queryPlan, attrs []Attr) error {
	if q.orderBy == nil && q.limit == nil && q.offset == nil {
		return nil
	}
	if q.pattern != nil {
		at := q.orderP
		switch {
		case q.orderBy != nil:
		case q.limit != nil:
			at = q.limit.at()
		default:
			at = q.offset.at()
		}
		return errAt(at, "order by, limit and offset are not supported in pattern queries")
	}
	cp := &chunkPlan{limit: -1}
	for _, it := range q.orderBy {
		col, err := orderColumn(q, attrs, it.attr)
		if err != nil {
			return err
		}
		cp.order = append(cp.order, orderKey{col: col, desc: it.desc})
	}
	var err error
	if q.limit != nil {
		if cp.limit, err = countLiteral(q.limit, "limit"); err != nil {
			return err
		}
	}
	if q.offset != nil {
		if cp.offset, err = countLiteral(q.offset, "offset"); err != nil {
			return err
		}
	}
	qp.chunk = cp
	return nil
}

// orderColumn resolves an order by attribute to an output column: an output name, or an input
// attribute that the select projects (possibly under an alias, or through select *). In a simple
// query a qualifier is the stream name or its alias; in a join it must be written as in select.
func orderColumn(q *queryDecl, attrs []Attr, at *exAttr) (int, error) {
	self := func(qual string) bool { return false } // qual names the only input
	if si := q.simple; si != nil {
		self = func(qual string) bool { return qual == "" || qual == si.stream || (qual == si.alias && qual != "") }
	}
	if at.qual == "" || (self(at.qual) && q.star) {
		for i, a := range attrs {
			if a.Name == at.name {
				return i, nil
			}
		}
	}
	for i, it := range q.items {
		if src, ok := it.e.(*exAttr); ok && src.name == at.name && (src.qual == at.qual || (self(src.qual) && self(at.qual))) {
			return i, nil
		}
	}
	name := at.name
	if at.qual != "" {
		name = at.qual + "." + at.name
	}
	return 0, errAt(at.p, "order by can only use the select's output attributes (or selected input attributes); %s is not one", name)
}

// countLiteral checks a limit or offset: a non-negative integer literal.
func countLiteral(e expr, what string) (int64, error) {
	lit, ok := e.(*exLit)
	if !ok || (lit.val.t != TypeInt && lit.val.t != TypeLong) || lit.val.Long() < 0 {
		return 0, errAt(e.at(), "%s must be a non-negative integer literal", what)
	}
	return lit.val.Long(), nil
}

func (a *App) checkRate(q *queryDecl, qp *queryPlan) error {
	rd := q.rate
	if rd == nil {
		return nil
	}
	rp := &ratePlan{kind: rd.kind, events: rd.events, dur: rd.dur}
	switch rd.kind {
	case rateSnapshot:
		if q.out == outExpired {
			return errAt(rd.p, "output snapshot emits current events: use 'insert into' or 'insert all events into'")
		}
		windowed := qp.win != nil || (qp.join != nil && (qp.join.sides[0].win != nil || qp.join.sides[1].win != nil))
		switch {
		case !windowed && len(qp.sel.aggs) == 0:
			rp.snap, rp.keyed = snapLast, len(q.groupBy) > 0
		case !windowed || (len(qp.sel.aggs) > 0 && len(q.groupBy) > 0) || allAggregates(q):
			rp.snap = snapGroups
		case qp.join != nil:
			return errAt(rd.p, "output snapshot over a join with windows needs aggregates with group by, or only aggregates in select (the joined rows in the windows are not tracked)")
		default:
			rp.snap, rp.in = snapWindow, qp.inputs[0]
		}
	case rateFirst, rateLast:
		rp.keyed = len(q.groupBy) > 0
	}
	if rd.dur > 0 {
		a.usesTime = true
	}
	qp.rate = rp
	return nil
}

// allAggregates reports whether every select item is an aggregate call (sum(x) as s), which
// makes output snapshot emit one row per group rather than every event in the window.
func allAggregates(q *queryDecl) bool {
	if q.star || len(q.items) == 0 {
		return false
	}
	for _, it := range q.items {
		c, ok := it.e.(*exCall)
		if !ok {
			return false
		}
		if _, agg := aggNames[strings.ToLower(c.name)]; !agg {
			return false
		}
	}
	return true
}
