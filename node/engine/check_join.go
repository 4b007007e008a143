package engine

// checkJoin compiles a join's two sides and its condition into qp.join; it returns the scope of
// the joined row and its attributes (the left side's, then the right side's) for select *.
func (a *App) checkJoin(q *queryDecl, qp *queryPlan) (joinScope, []Attr, error) {
	ji := q.join
	in := [2]*simpleInput{ji.left, ji.right}
	jp := &joinPlan{}
	var js joinScope
	if err := a.checkTableJoin(ji); err != nil {
		return js, nil, err
	}
	for s, si := range in {
		def, table := a.byName[si.stream], false
		if def == nil {
			def, table = a.tableBy[si.stream], true
		}
		if si.alias != "" && (si.alias == in[1-s].alias || si.alias == in[1-s].stream) {
			return js, nil, errAt(si.aliasP, "alias %s also names the other side of the join", si.alias)
		}
		js.sides[s] = joinRef{def: def, alias: si.alias, off: jp.width}
		pre, win, post, err := a.checkStreamInput(streamScope{def: def, alias: si.alias}, si)
		if err != nil {
			return js, nil, err
		}
		switch {
		case len(post) > 0:
			return js, nil, errAt(si.postFilters[0].at(), "filters after the window are not supported in joins: filter before the window")
		case win != nil && (win.kind == winFrequent || win.kind == winLossyFrequent || win.kind == winExpressionBatch):
			return js, nil, errAt(si.window.p, "window %s is not supported in joins", si.window.name)
		}
		jp.sides[s] = joinSide{def: def, pre: pre, win: win, off: jp.width, trigger: !in[1-s].uni && !table, table: table}
		jp.width += len(def.Attrs)
		if !table && (len(qp.inputs) == 0 || qp.inputs[0] != def) {
			qp.inputs = append(qp.inputs, def)
		}
	}
	if ji.left.stream == ji.right.stream {
		for _, si := range in {
			if si.alias == "" {
				return js, nil, errAt(si.p, "a self-join needs an alias on both sides (from %s as a join %s as b)", si.stream, si.stream)
			}
		}
	}
	if ji.left.uni && ji.right.uni {
		return js, nil, errAt(ji.right.uniP, "only one side of a join can be unidirectional")
	}
	jp.sides[0].outer = ji.kind == joinLeft || ji.kind == joinFull
	jp.sides[1].outer = ji.kind == joinRight || ji.kind == joinFull
	if ji.on != nil {
		on := js
		on.refs = true
		fn, err := a.compileBool(on, ji.on, "join condition")
		if err != nil {
			return js, nil, err
		}
		jp.on = fn
	}
	var star []Attr
	if q.star {
		for _, sd := range js.sides {
			for _, at := range sd.def.Attrs {
				for _, prev := range star {
					if prev.Name == at.Name {
						return js, nil, errAt(q.selectP, "select * over a join: both sides have an attribute %s; name the attributes", at.Name)
					}
				}
				star = append(star, at)
			}
		}
	}
	qp.join = jp
	return js, star, nil
}

// checkTableJoin checks the sides of a join with a table: one side must be a stream, and the
// table side has no window, filter or unidirectional, and is not the only outer side.
func (a *App) checkTableJoin(ji *joinInput) error {
	lt, rt := a.tableBy[ji.left.stream] != nil, a.tableBy[ji.right.stream] != nil
	switch {
	case lt && rt:
		return errAt(ji.right.p, "a join needs a stream: %s and %s are both tables", ji.left.stream, ji.right.stream)
	case !lt && !rt:
		return nil
	}
	t := ji.right
	if lt {
		t = ji.left
	}
	switch {
	case t.window != nil:
		return errAt(t.window.p, "a table side of a join cannot have a window (%s is a table)", t.stream)
	case len(t.preFilters) > 0:
		return errAt(t.preFilters[0].at(), "filters on a table side of a join are not supported: put the condition in 'on'")
	case t.uni:
		return errAt(t.uniP, "a table cannot be unidirectional: only the stream side of a join with a table triggers")
	case (ji.kind == joinLeft && lt) || (ji.kind == joinRight && rt):
		// (a full outer join is the stream side's outer join: the table never triggers)
		return errAt(ji.p, "the outer side of a join with a table must be the stream (%s is a table)", t.stream)
	}
	return nil
}
