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

// boundedArg reads a constant integer argument in [lo, hi]: a window's size, which a snapshot
// and every restore must be able to hold.
func boundedArg(e expr, what string, lo, hi int64) (int, error) {
	n, err := constArgMin(e, what, lo)
	if err != nil {
		return 0, err
	}
	if n > hi {
		return 0, errAt(e.at(), "%s %d is too large", what, n)
	}
	return int(n), nil
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
			if len(w.args) == 2 { // lengthBatch(n, streamCurrentEvents)
				if wp.stream, err = boolArg(w.args[1], "the second argument of lengthBatch (stream current events)"); err != nil {
					return nil, err
				}
				w = &windowSpec{p: w.p, name: w.name, args: w.args[:1]}
			}
		}
		if err = nargs(1); err != nil {
			return nil, err
		}
		if wp.length, err = boundedArg(w.args[0], "window length", 0, 1<<26); err != nil { // length(0) is valid, as in Siddhi
			return nil, err
		}
	case "time":
		wp.kind = winTime
		if err = nargs(1); err != nil {
			return nil, err
		}
		if wp.dur, err = constArg(w.args[0], "window time"); err != nil {
			return nil, err
		}
		a.usesTime = true
	case "timebatch":
		// timeBatch(t), timeBatch(t, startTime), timeBatch(t, streamCurrentEvents) and
		// timeBatch(t, startTime, streamCurrentEvents), as Siddhi's overloads.
		wp.kind = winTimeBatch
		if len(w.args) < 1 || len(w.args) > 3 {
			return nil, errAt(w.p, "window timeBatch takes 1 to 3 arguments (time, start time, stream current events), got %d", len(w.args))
		}
		if wp.dur, err = constArg(w.args[0], "window time"); err != nil {
			return nil, err
		}
		rest := w.args[1:]
		if len(rest) > 0 && !isBoolLit(rest[0]) {
			if wp.start, err = constArgMin(rest[0], "the start time of timeBatch", 0); err != nil {
				return nil, err
			}
			wp.hasStart, rest = true, rest[1:]
		}
		if len(rest) > 0 {
			if wp.stream, err = boolArg(rest[0], "the stream current events argument of timeBatch"); err != nil {
				return nil, err
			}
			rest = rest[1:]
		}
		if len(rest) > 0 {
			return nil, errAt(rest[0].at(), "unexpected argument of timeBatch after the stream current events flag")
		}
		a.usesTime = true
	case "externaltime", "externaltimebatch":
		wp.kind = winExtTime
		batch := strings.EqualFold(w.name, "externalTimeBatch")
		if batch {
			wp.kind = winExtTimeBatch
			if len(w.args) < 2 || len(w.args) > 5 {
				return nil, errAt(w.p, "window externalTimeBatch takes 2 to 5 arguments (timestamp, time, start time, timeout, replace timestamp with batch end), got %d", len(w.args))
			}
		} else if err = nargs(2); err != nil {
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
		if err := checkExtBatchOpts(sc, wp, w.args[2:]); err != nil {
			return nil, err
		}
		if wp.timeout > 0 {
			a.usesTime = true
		}
	default:
		if ok, err := a.checkMoreWindows(sc, w, wp); ok || err != nil {
			return wp, err
		}
		return nil, errAt(w.p, "unknown window %s (want length, lengthBatch, time, timeBatch, externalTime, externalTimeBatch, timeLength, sort, frequent, lossyFrequent, expression, expressionBatch)", w.name)
	}
	return wp, nil
}

// isBoolLit reports whether e is a bool literal.
func isBoolLit(e expr) bool {
	lit, ok := e.(*exLit)
	return ok && lit.val.t == TypeBool
}

// boolArg reads a constant bool window argument.
func boolArg(e expr, what string) (bool, error) {
	if !isBoolLit(e) {
		return false, errAt(e.at(), "%s must be a constant bool", what)
	}
	return e.(*exLit).val.Bool(), nil
}

// checkExtBatchOpts reads externalTimeBatch's optional arguments after the time: the start
// time (a constant, or an attribute read from the first event; -1 or absent: the first
// event's time), the timeout (ms of logical clock without an event after which the open batch
// is emitted) and whether emitted events carry the batch end in the timestamp attribute.
func checkExtBatchOpts(sc streamScope, wp *winPlan, args []expr) error {
	wp.start, wp.startAttr = -1, -1
	var err error
	if len(args) > 0 {
		if at, ok := args[0].(*exAttr); ok {
			if _, _, err := sc.resolve(at); err != nil {
				return err
			}
			wp.startAttr = sc.def.attrIndex(at.name)
			if t := sc.def.Attrs[wp.startAttr].Type; t != TypeLong && t != TypeInt {
				return errAt(at.p, "the start time attribute %s of externalTimeBatch must be int or long, got %s", at.name, t)
			}
		} else {
			lit, ok := args[0].(*exLit)
			if !ok || (lit.val.t != TypeInt && lit.val.t != TypeLong) {
				return errAt(args[0].at(), "the start time of externalTimeBatch must be a constant integer or an attribute")
			}
			if wp.start = lit.val.Long(); wp.start < -1 {
				return errAt(args[0].at(), "the start time of externalTimeBatch must not be negative")
			}
		}
	}
	if len(args) > 1 {
		if wp.timeout, err = constArgMin(args[1], "the timeout of externalTimeBatch", 0); err != nil {
			return err
		}
	}
	if len(args) > 2 {
		if wp.replaceTs, err = boolArg(args[2], "the replace timestamp argument of externalTimeBatch"); err != nil {
			return err
		}
	}
	return nil
}

func (a *App) checkPattern(pi *patternInput, qp *queryPlan) (*patPlan, error) {
	pp := &patPlan{sequence: pi.sequence, every: pi.every, within: pi.within, grpLo: pi.grpLo, grpHi: pi.grpHi}
	if pi.within > 0 {
		a.usesTime = true
	}
	// An alias may name two elements, as Siddhi allows ("every e1=A -> e1=B"): references
	// read the first of them (patScope).
	for i, el := range pi.elems {
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
