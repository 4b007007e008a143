package engine

// Pattern (->) and sequence (,) matching. A partial match waits for its next state's event;
// patterns ignore non-matching events, sequences drop the partial on any other event of the
// query's streams. 'every' on the first state starts a partial for each matching event; 'every'
// around the whole pattern restarts only when no partial is pending; without 'every' the pattern
// matches once. 'within' drops partials older than the limit (logical clock).
//
// Quantified sequence elements (e2=S[..]+, *, ?) collect events in a list. Once the element's
// minimum is met, an event that satisfies the following element moves the match on (reluctant
// matching); otherwise an event that satisfies the element itself is appended.

type partial struct {
	next  int
	start int64
	caps  [][]Value
	lists [][][]Value // per state, for quantified states; nil when the plan has none
}

type patternRT struct {
	p        *patPlan
	partials []*partial
	started  bool
	f        frame
	scratch  [][]Value
	row      []Value
}

func newPatternRT(p *patPlan) *patternRT {
	return &patternRT{p: p, scratch: make([][]Value, len(p.states))}
}

func (s *patternRT) newPartial(now int64) *partial {
	n := len(s.p.states)
	pm := &partial{next: 1, start: now, caps: make([][]Value, n)}
	if s.p.quants {
		pm.lists = make([][][]Value, n)
	}
	return pm
}

// try tests ev against state i of pm, with ev bound as state i's event.
func (s *patternRT) try(pm *partial, i int, ev *event) bool {
	st := &s.p.states[i]
	if st.filter == nil {
		return true
	}
	pm.caps[i] = ev.vals
	s.f.refs, s.f.lists, s.f.ev, s.f.ts = pm.caps, pm.lists, ev.vals, ev.ts
	ok := st.filter(&s.f).Bool()
	pm.caps[i] = nil
	return ok
}

func (s *patternRT) onEvent(r *Runtime, q *queryRT, def *StreamDef, ev *event) {
	now := r.clock
	var canStart bool
	switch s.p.every {
	case everyFirst:
		canStart = true
	case everyAll:
		canStart = len(s.partials) == 0
	default:
		canStart = !s.started
	}
	keep := s.partials[:0]
	for _, pm := range s.partials {
		if s.p.within > 0 && now-pm.start > s.p.within {
			continue
		}
		if s.step(r, q, pm, def, ev) {
			keep = append(keep, pm)
		}
	}
	clear(s.partials[len(keep):])
	s.partials = keep
	if !canStart || s.p.states[0].stream != def {
		return
	}
	first := &s.p.states[0]
	if first.filter != nil {
		s.scratch[0] = ev.vals
		s.f.refs, s.f.lists, s.f.ev, s.f.ts = s.scratch, nil, ev.vals, ev.ts
		ok := first.filter(&s.f).Bool()
		s.scratch[0] = nil
		if !ok {
			return
		}
	}
	s.started = true
	if len(s.p.states) == 1 {
		s.scratch[0] = ev.vals
		s.complete(r, q, s.scratch, nil, ev)
		s.scratch[0] = nil
		return
	}
	pm := s.newPartial(now)
	pm.caps[0] = r.copyVals(ev.vals)
	s.partials = append(s.partials, pm)
}

// step offers ev to a partial; it reports whether the partial stays pending.
func (s *patternRT) step(r *Runtime, q *queryRT, pm *partial, def *StreamDef, ev *event) bool {
	st := &s.p.states[pm.next]
	if st.quant != 0 {
		cnt := len(pm.lists[pm.next])
		if cnt >= st.min() && s.p.states[pm.next+1].stream == def && s.try(pm, pm.next+1, ev) {
			return s.advance(r, q, pm, pm.next+1, ev)
		}
		if st.stream == def && !st.maxed(cnt) && s.try(pm, pm.next, ev) {
			pm.lists[pm.next] = append(pm.lists[pm.next], r.copyVals(ev.vals))
			return true
		}
	} else if st.stream == def && s.try(pm, pm.next, ev) {
		return s.advance(r, q, pm, pm.next, ev)
	}
	return !s.p.sequence
}

// advance binds ev to state i; it completes the match at the last state.
func (s *patternRT) advance(r *Runtime, q *queryRT, pm *partial, i int, ev *event) bool {
	if i == len(s.p.states)-1 {
		pm.caps[i] = ev.vals
		s.complete(r, q, pm.caps, pm.lists, ev)
		pm.caps[i] = nil
		return false
	}
	pm.caps[i] = r.copyVals(ev.vals)
	pm.next = i + 1
	return true
}

func (s *patternRT) complete(r *Runtime, q *queryRT, caps [][]Value, lists [][][]Value, ev *event) {
	sp := q.plan.sel
	if s.row == nil {
		s.row = make([]Value, len(sp.items))
	}
	s.f.refs, s.f.lists, s.f.ev, s.f.ts = caps, lists, ev.vals, ev.ts
	for i, fn := range sp.items {
		s.row[i] = fn(&s.f)
	}
	if sp.having != nil {
		s.f.out = s.row
		if !sp.having(&s.f).Bool() {
			return
		}
	}
	if q.wants(kCurrent) {
		q.emitRow(r, kCurrent, ev.ts, s.row)
	}
}
