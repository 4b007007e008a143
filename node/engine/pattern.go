package engine

// Pattern (->) and sequence (,) matching. A partial match waits for its next state's event;
// patterns ignore non-matching events, sequences drop the partial on any other event of the
// query's streams. 'every' on the first state starts a partial for each matching event; 'every'
// around the whole pattern restarts only when no partial is pending; without 'every' the pattern
// matches once. 'within' drops partials older than the limit (logical clock).

type partial struct {
	next  int
	start int64
	caps  [][]Value
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

func (s *patternRT) test(st *patState, caps [][]Value, ev *event) bool {
	if st.filter == nil {
		return true
	}
	s.f.refs, s.f.ev, s.f.ts = caps, ev.vals, ev.ts
	return st.filter(&s.f).Bool()
}

func (s *patternRT) onEvent(r *Runtime, q *queryRT, def *StreamDef, ev *event) {
	n := len(s.p.states)
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
		st := &s.p.states[pm.next]
		if st.stream == def {
			pm.caps[pm.next] = ev.vals
			if s.test(st, pm.caps, ev) {
				if pm.next == n-1 {
					s.complete(r, q, pm.caps, ev)
					continue
				}
				pm.caps[pm.next] = r.copyVals(ev.vals)
				pm.next++
				keep = append(keep, pm)
				continue
			}
			pm.caps[pm.next] = nil
		}
		if s.p.sequence {
			continue
		}
		keep = append(keep, pm)
	}
	clear(s.partials[len(keep):])
	s.partials = keep
	if !canStart || s.p.states[0].stream != def {
		return
	}
	s.scratch[0] = ev.vals
	if !s.test(&s.p.states[0], s.scratch, ev) {
		s.scratch[0] = nil
		return
	}
	s.started = true
	if n == 1 {
		s.complete(r, q, s.scratch, ev)
		s.scratch[0] = nil
		return
	}
	s.scratch[0] = nil
	pm := &partial{next: 1, start: now, caps: make([][]Value, n)}
	pm.caps[0] = r.copyVals(ev.vals)
	s.partials = append(s.partials, pm)
}

func (s *patternRT) complete(r *Runtime, q *queryRT, caps [][]Value, ev *event) {
	sp := q.plan.sel
	if s.row == nil {
		s.row = make([]Value, len(sp.items))
	}
	s.f.refs, s.f.ev, s.f.ts = caps, ev.vals, ev.ts
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
