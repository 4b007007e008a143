package engine

import "strings"

// Checks of query inputs: window arguments and pattern elements.

// constArg evaluates a window argument that must be a constant integer (or time) literal.
func constArg(e expr, what string) (int64, error) {
	n, err := constArgMin(e, what, 1)
	return n, err
}

// constArgMin reads a constant integer argument of at least lo.
func constArgMin(e expr, what string, lo int64) (int64, error) {
	lit, ok := e.(*exLit)
	if !ok || (lit.val.t != TypeInt && lit.val.t != TypeLong) {
		return 0, errAt(e.at(), "%s must be a constant integer", what)
	}
	if n := lit.val.Long(); n < lo {
		if lo == 0 {
			return 0, errAt(e.at(), "%s must not be negative", what)
		}
		return 0, errAt(e.at(), "%s must be positive", what)
	}
	return lit.val.Long(), nil
}

// checkWindow compiles the window of the input sc.def (sc resolves its timestamp attribute).
func (a *App) checkWindow(sc streamScope, w *windowSpec) (*winPlan, error) {
	def := sc.def
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
		n, err := constArgMin(w.args[0], "window length", 0) // length(0) is valid, as in Siddhi
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
		if _, _, err := sc.resolve(at); err != nil {
			return nil, err
		}
		wp.attr = def.attrIndex(at.name)
		if t := def.Attrs[wp.attr].Type; t != TypeLong { // as Siddhi: an int is refused too
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
	for i, el := range pi.elems {
		if seen[el.alias] {
			return nil, errAt(el.p, "pattern alias %s is used twice", el.alias)
		}
		if !el.absent {
			seen[el.alias] = true
		}
		if a.tableBy[el.stream] != nil {
			return nil, errAt(el.p, "tables cannot be used in patterns (%s is a table)", el.stream)
		}
		def := a.byName[el.stream]
		pp.states = append(pp.states, patState{stream: def, alias: el.alias, quant: el.quant, lo: el.lo, hi: el.hi,
			absent: el.absent, wait: el.wait, every: el.every, logic: el.logic})
		pp.quants = pp.quants || el.quant != 0
		pp.logic = pp.logic || el.logic != 0
		if el.absent {
			pp.absent, a.usesTime = true, true
			pp.logicAbsent = pp.logicAbsent || el.logic != 0 || (i > 0 && pi.elems[i-1].logic != 0)
		}
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
