package engine

import "math"

// Pattern (->) and sequence (,) matching. A partial match waits for its next state's event;
// patterns ignore non-matching events, sequences drop the partial on any other event of the
// query's streams. 'every' on the first state starts a partial for each matching event; 'every'
// around the whole pattern restarts only when no partial is pending; without 'every' the pattern
// matches once. 'within' drops partials older than the limit (logical clock).
//
// Quantified sequence elements (e2=S[..]+, *, ?) and counting pattern elements (e2=S[..]<2:5>)
// collect events in a list. Once the element's minimum is met, an event that satisfies the
// following element moves the match on (reluctant matching); otherwise an event that satisfies
// the element itself is appended, until its maximum. A counting last element completes the
// match when its minimum is met (at once when it is 0); a counting first element starts a
// partial waiting at state 0, and with a minimum of 0 an event may also skip it.
//
// In a sequence with 'every', an event that a pending partial took (and still waits on) does
// not also start a new match, as in Siddhi: "every e1=A, e2=A[..]+, e3=A[..]" starts no match
// at the events collected by e2, but does at the one that completes e3.
//
// Absent elements in sequences follow Siddhi's sequence state processors (worked out from the
// expected outputs of its absent sequence tests): waiting out an absence, a partial is dropped
// by an event of another of the query's streams (one of the absent stream failing its
// condition is ignored); a matching event on an absent first element drops the partial rather
// than restarting the wait (unless 'every'), and on either absent side drops an 'or' pair too;
// elapsed waits pass at most one new partial to a state until the next event (Siddhi's sequence
// addState keeps one new arrival); "every (not A and e2=B), e3=C" re-arms only from the event
// after the A that failed it (idle, in patterns too); "e1=A+, not B for T" waits from A's last
// event.
//
// 'every' on a later element or a group followed by more ("e1=A -> every (e2=B -> e3=B) ->
// e4=C", "every (e1=A -> e2=B) -> e3=C"): a match passing the group's last state leaves a copy
// of itself waiting at the group's first state (see rearm); a group of first elements starts a
// new match only while no match waits inside it. 'every' on a later logical element with an
// absent side ("e1=A -> every (not B and e3=C)") passes a copy each time the element holds and
// waits again, as on a first one.

// unstarted is the start of a partial that passed an absent first element and bound no event
// yet: 'within' counts from the first event a match binds, as in Siddhi.
const unstarted = math.MaxInt64

type partial struct {
	next     int
	start    int64 // clock of the first bound event (or of the arming), unstarted: none yet
	deadline int64 // when next is an absent state: the clock at which the absence is proven
	// deadline2: the second side's deadline when next is a logical pair with absent sides;
	// there either deadline may be proven or never
	deadline2 int64
	caps      [][]Value
	lists     [][][]Value // per state, for quantified states; nil when the plan has none
}

type patternRT struct {
	p        *patPlan
	partials []*partial
	started  bool
	used     bool // the event being offered was taken by a partial that stays pending
	f        frame
	// periods counts the waits of 'every' absent states that passed in the current clock
	// advance (to until); past maxPeriods they restart at until instead of repeating.
	periods int
	until   int64
	spawned []*partial // matches passing an 'every' logical first element, appended after a pass
	scratch [][]Value
	row     []Value
	// sel is the query's selector; it keeps the aggregates of a pattern query that has them
	// (their state is part of the pattern's snapshot state)
	sel *selector
}

// aggregates reports whether the query's select has aggregates over the matches.
func (s *patternRT) aggregates() bool { return s.sel != nil && len(s.sel.p.aggs) > 0 }

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
	if s.p.within > 0 {
		// Attempts that timed out go first, so that with every around the whole pattern the
		// event arriving after them starts the next attempt, as in Siddhi.
		keep := s.partials[:0]
		for _, pm := range s.partials {
			if !s.expired(pm, now) {
				keep = append(keep, pm)
			}
		}
		clear(s.partials[len(keep):])
		s.partials = keep
	}
	var canStart bool
	switch s.p.every {
	case everyFirst:
		canStart = true
	case everyAll:
		canStart = len(s.partials) == 0
	case everyGroup:
		canStart = true
		for _, pm := range s.partials {
			canStart = canStart && pm.next > s.p.grpHi
		}
	default:
		canStart = !s.started
	}
	first := &s.p.states[0]
	keep := s.partials[:0]
	s.used = false
	for _, pm := range s.partials {
		if canStart && !s.p.sequence && first.quant != 0 && pm.next == 0 && len(pm.lists[0]) < first.min() {
			// every on a counting first element, as in Siddhi: a new match starts only once
			// the pending one has collected its minimum (the event that completes it too)
			canStart = false
		}
		if first.logic != 0 && pm.next == 0 {
			canStart = false // likewise, a logical first element completes before the next starts
		}
		if s.step(r, q, pm, def, ev) {
			keep = append(keep, pm)
		}
	}
	clear(s.partials[len(keep):])
	s.partials = append(keep, s.spawned...)
	clear(s.spawned)
	s.spawned = s.spawned[:0]
	if s.p.armed() {
		s.arm(now)
		return
	}
	if s.p.sequence && s.used {
		canStart = false
	}
	if !canStart {
		return
	}
	if first.logic != 0 {
		pm := s.newPartial(now)
		pm.next = 0
		if matched, keep := s.stepLogic(r, q, pm, def, ev); matched {
			s.started = true
			if keep {
				s.partials = append(s.partials, pm)
			}
		}
		return
	}
	if first.quant != 0 && first.min() == 0 && s.skipFirst(r, q, def, ev, now) {
		return
	}
	if first.stream != def {
		return
	}
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
	if first.quant != 0 { // a counting first element
		pm := s.newPartial(now)
		pm.next = 0
		pm.lists[0] = append(pm.lists[0], r.copyVals(ev.vals))
		if s.p.quantAbsent(0) && first.min() <= 1 {
			pm.deadline = addSat(now, s.p.states[1].wait)
		}
		if len(s.p.states) == 1 && first.min() <= 1 {
			s.complete(r, q, pm.caps, pm.lists, ev)
			return
		}
		s.partials = append(s.partials, pm)
		return
	}
	if len(s.p.states) == 1 {
		s.scratch[0] = ev.vals
		s.complete(r, q, s.scratch, nil, ev)
		s.scratch[0] = nil
		return
	}
	pm := s.newPartial(now)
	pm.caps[0] = r.copyVals(ev.vals)
	if s.enter(r, q, pm, 1, ev) {
		s.partials = append(s.partials, pm)
	}
}

// skipFirst offers ev to the state after a first element with a minimum of 0, as a match that
// collected nothing there; it reports whether ev matched it.
func (s *patternRT) skipFirst(r *Runtime, q *queryRT, def *StreamDef, ev *event, now int64) bool {
	if s.p.states[1].stream != def || s.p.states[1].logic != 0 {
		return false
	}
	pm := s.newPartial(now)
	if !s.try(pm, 1, ev) {
		return false
	}
	s.started = true
	if s.advance(r, q, pm, 1, ev) {
		s.partials = append(s.partials, pm)
	}
	return true
}

// rearm leaves, when pm moves from inside a later 'every' group to state next past it, a copy
// of pm waiting at the group's first state again, without the events bound from there on. The
// copy is appended after the current event (s.spawned), so that event does not also start the
// group again, as in Siddhi.
func (s *patternRT) rearm(pm *partial, next int) {
	lo, hi := s.p.grpLo, s.p.grpHi
	if lo <= 0 || pm.next < lo || pm.next > hi || next <= hi {
		return
	}
	cp := s.clonePartial(pm)
	cp.next = lo
	for j := lo; j < len(cp.caps); j++ {
		cp.caps[j] = nil
		if cp.lists != nil {
			cp.lists[j] = nil
		}
	}
	s.spawned = append(s.spawned, cp)
}

// enter moves pm to state i after ev bound the state before it. A last state that needs no
// event (e2=B* or B?) completes the match at once; enter reports whether pm stays pending.
func (s *patternRT) enter(r *Runtime, q *queryRT, pm *partial, i int, ev *event) bool {
	s.moveTo(pm, i, r.clock)
	if st := &s.p.states[i]; i == len(s.p.states)-1 && st.quant != 0 && st.min() == 0 {
		s.complete(r, q, pm.caps, pm.lists, ev)
		return false
	}
	return true
}

// touch starts pm's 'within' period at its first bound event.
func touch(pm *partial, now int64) {
	if pm.start == unstarted {
		pm.start = now
	}
}

// expired reports whether pm's 'within' period is over at now.
func (s *patternRT) expired(pm *partial, now int64) bool {
	return pm.start != unstarted && now-pm.start > s.p.within
}

// moveTo makes pm wait at state i; an absent state's wait starts now.
func (s *patternRT) moveTo(pm *partial, i int, now int64) {
	pm.next = i
	if s.p.absentPair(i) {
		pm.deadline, pm.deadline2 = s.sideWait(i, now), s.sideWait(i+1, now)
		return
	}
	if st := &s.p.states[i]; st.absent {
		pm.deadline = addSat(now, st.wait)
	}
}

// step offers ev to a partial; it reports whether the partial stays pending.
func (s *patternRT) step(r *Runtime, q *queryRT, pm *partial, def *StreamDef, ev *event) bool {
	st := &s.p.states[pm.next]
	if st.logic != 0 {
		_, keep := s.stepLogic(r, q, pm, def, ev)
		return keep
	}
	if st.quant != 0 {
		cnt := len(pm.lists[pm.next])
		last := pm.next == len(s.p.states)-1
		if !last && cnt >= st.min() && !s.p.states[pm.next+1].absent && s.p.states[pm.next+1].stream == def && s.try(pm, pm.next+1, ev) {
			return s.advance(r, q, pm, pm.next+1, ev)
		}
		if st.stream == def && !st.maxed(cnt) && s.try(pm, pm.next, ev) {
			touch(pm, r.clock)
			pm.lists[pm.next] = append(pm.lists[pm.next], r.copyVals(ev.vals))
			if last && cnt+1 >= st.min() {
				s.rearm(pm, pm.next+1)
				s.complete(r, q, pm.caps, pm.lists, ev)
				return false
			}
			if s.p.quantAbsent(pm.next) && cnt+1 >= st.min() {
				pm.deadline = addSat(r.clock, s.p.states[pm.next+1].wait) // the silence restarts
			}
			if !last && st.maxed(cnt+1) && s.p.states[pm.next+1].logic != 0 {
				// a fixed count collected before a logical element: the match enters it
				s.rearm(pm, pm.next+1)
				s.moveTo(pm, pm.next+1, r.clock)
			}
			s.used = true
			return true
		}
		if s.waitsOut(pm) && s.p.states[pm.next+1].stream == def && s.try(pm, pm.next+1, ev) {
			return false // the absence after the collected events failed
		}
	} else if st.absent {
		if st.stream == def && s.try(pm, pm.next, ev) {
			if pm.next > 0 || (s.p.sequence && !st.every) {
				return false // the absence failed; a sequence does not restart its first wait
			}
			pm.start, pm.deadline = r.clock, addSat(r.clock, st.wait) // the silence restarts
		} else if s.p.sequence && pm.next > 0 && st.stream != def {
			return false // another stream's event breaks a sequence waiting out an absence
		}
		return true
	} else if st.stream == def && s.try(pm, pm.next, ev) {
		return s.advance(r, q, pm, pm.next, ev)
	}
	return !s.p.sequence
}

// advance binds ev to state i; it completes the match at the last state.
func (s *patternRT) advance(r *Runtime, q *queryRT, pm *partial, i int, ev *event) bool {
	return s.bind(r, q, pm, i, i+1, ev)
}

// bind binds ev to state slot and moves pm to state next; past the last state it completes the
// match. It reports whether pm stays pending.
func (s *patternRT) bind(r *Runtime, q *queryRT, pm *partial, slot, next int, ev *event) bool {
	if st := &s.p.states[slot]; st.quant != 0 {
		// the first event of a counting element right after another one ("e1=A<2> ->
		// e2=B<2>"): it is collected there, and the match waits at the element for more
		s.rearm(pm, slot)
		touch(pm, r.clock)
		pm.lists[slot] = append(pm.lists[slot], r.copyVals(ev.vals))
		pm.next = slot
		if slot == len(s.p.states)-1 && len(pm.lists[slot]) >= st.min() {
			s.complete(r, q, pm.caps, pm.lists, ev)
			return false
		}
		s.used = true
		return true
	}
	s.rearm(pm, next)
	touch(pm, r.clock)
	if next == len(s.p.states) {
		pm.caps[slot] = ev.vals
		s.complete(r, q, pm.caps, pm.lists, ev)
		pm.caps[slot] = nil
		return false
	}
	pm.caps[slot] = r.copyVals(ev.vals)
	if !s.enter(r, q, pm, next, ev) {
		return false
	}
	s.used = true
	return true
}

// Logical elements ("e2=B[..] and e3=C[..]", "... or ..."): states i and i+1, pm waiting at i.
// With 'or', the first event satisfying either side binds it and moves on, the other side stays
// null. With 'and', each side binds the first event satisfying it (one event may bind both) and
// the match moves on once both are bound, as Siddhi's logical state processors do.

// stepLogic offers ev to the logical element pm waits at. It reports whether ev bound a side
// and whether pm stays pending.
func (s *patternRT) stepLogic(r *Runtime, q *queryRT, pm *partial, def *StreamDef, ev *event) (matched, keep bool) {
	i := pm.next
	if s.p.absentPair(i) {
		return s.stepLogicAbsent(r, q, pm, def, ev)
	}
	a, b := &s.p.states[i], &s.p.states[i+1]
	hitA := pm.caps[i] == nil && a.stream == def && s.try(pm, i, ev)
	if a.logic == '|' {
		switch {
		case hitA:
			return true, s.bind(r, q, pm, i, i+2, ev)
		case b.stream == def && s.try(pm, i+1, ev):
			return true, s.bind(r, q, pm, i+1, i+2, ev)
		}
		return false, !s.p.sequence
	}
	if hitA {
		touch(pm, r.clock)
		pm.caps[i] = r.copyVals(ev.vals)
	}
	hitB := pm.caps[i+1] == nil && b.stream == def && s.try(pm, i+1, ev)
	switch {
	case !hitA && !hitB:
		return false, !s.p.sequence
	case pm.caps[i] == nil:
		touch(pm, r.clock)
		pm.caps[i+1] = r.copyVals(ev.vals)
		s.used = true
		return true, true
	case !hitB && pm.caps[i+1] == nil:
		s.used = true
		return true, true
	case hitB:
		return true, s.bind(r, q, pm, i+1, i+2, ev)
	}
	// ev bound the first side, the second was bound before
	s.rearm(pm, i+2)
	if i+2 == len(s.p.states) {
		s.complete(r, q, pm.caps, pm.lists, ev)
		return true, false
	}
	if !s.enter(r, q, pm, i+2, ev) {
		return true, false
	}
	s.used = true
	return true, true
}

// Absent elements ("not B[..] for 10 sec"). A partial reaching an absent state gets a deadline
// (the clock then plus the wait); a matching event before the deadline drops it. When the clock
// reaches the deadline (a timer, fired before the input that moved the clock is processed), the
// partial passes the state, or completes the match at the last state with the deadline as its
// timestamp. An absent first state is a partial at state 0 that the pattern arms at its first
// input (again whenever no partial is pending, with every around the whole pattern); there a
// matching event restarts the wait instead of dropping the partial.

// maxPeriods bounds the waits of 'every' absent states passing in one clock advance: a jump of
// the clock far past a short wait would otherwise fire one match per elapsed period.
const maxPeriods = 10000

// arm starts the wait of an absent first state when the pattern can start.
func (s *patternRT) arm(now int64) {
	switch {
	case !s.p.armed():
		return
	case s.p.every == everyAll:
		if len(s.partials) > 0 {
			return
		}
	case s.started:
		return
	}
	s.started = true
	pm := s.newPartial(now)
	if s.p.states[0].logic != 0 {
		pm.start = unstarted // 'within' counts from the first bound event
	}
	s.moveTo(pm, 0, now)
	s.partials = append(s.partials, pm)
}

// clonePartial copies pm; bound events are shared (they are never written in place).
func (s *patternRT) clonePartial(pm *partial) *partial {
	cp := &partial{next: pm.next, start: pm.start, deadline: pm.deadline, deadline2: pm.deadline2, caps: append([][]Value(nil), pm.caps...)}
	if pm.lists != nil {
		cp.lists = make([][][]Value, len(pm.lists))
		for i, l := range pm.lists {
			cp.lists[i] = append([][]Value(nil), l...)
		}
	}
	return cp
}

// deadline is the earliest deadline of the partials waiting at absent states.
func (s *patternRT) deadline() (int64, bool) {
	var d int64
	ok := false
	for _, pm := range s.partials {
		if s.p.absentPair(pm.next) {
			for _, pd := range [2]int64{pm.deadline, pm.deadline2} {
				if pd != proven && pd != never && pd != idle && (!ok || pd < d) {
					d, ok = pd, true
				}
			}
			continue
		}
		if (s.p.states[pm.next].absent || s.waitsOut(pm)) && (!ok || pm.deadline < d) {
			d, ok = pm.deadline, true
		}
	}
	return d, ok
}

// fire moves on the partials whose absence is proven at d.
func (s *patternRT) fire(r *Runtime, q *queryRT, d int64) {
	ev := event{ts: d}
	last := len(s.p.states) - 1
	keep := s.partials[:0]
	var moved []*partial // copies passing an 'every' absent state, after the others
	var seqAt []bool
	if s.p.sequence {
		seqAt = s.waiting()
	}
	for _, pm := range s.partials {
		switch {
		case s.p.absentPair(pm.next):
			if s.p.within > 0 && s.expired(pm, d) {
				continue
			}
			if s.fireLogic(r, q, pm, d, seqAt) {
				keep = append(keep, pm)
			}
		case s.waitsOut(pm) && pm.deadline == d:
			// the silence after a quantified element's events passed its absent state
			switch {
			case s.p.within > 0 && s.expired(pm, d):
			case pm.next+1 == last:
				s.complete(r, q, pm.caps, pm.lists, &ev)
			default:
				s.moveTo(pm, pm.next+2, d)
				keep = append(keep, pm)
			}
		case !s.p.states[pm.next].absent || pm.deadline != d:
			keep = append(keep, pm)
		case s.p.within > 0 && s.expired(pm, d):
		case s.p.states[pm.next].every:
			// every not B for T: the match passes (or completes) and the wait repeats
			switch {
			case pm.next == last:
				s.complete(r, q, pm.caps, pm.lists, &ev)
			case seqAt != nil && seqAt[pm.next+1]:
				// a sequence takes one new arrival per state until its next event, as Siddhi's
				// sequence state processors do: the copy that passed earlier keeps waiting
			default:
				cp := s.clonePartial(pm)
				if cp.next == 0 {
					cp.start = unstarted
				}
				s.moveTo(cp, cp.next+1, d)
				moved = append(moved, cp)
				if seqAt != nil {
					seqAt[cp.next] = true
				}
			}
			again := d
			if s.periods++; s.periods >= maxPeriods && s.until > d {
				again = s.until // a far clock jump: skip the remaining periods
			}
			s.moveTo(pm, pm.next, again)
			if pm.next == 0 {
				pm.start = again
			}
			keep = append(keep, pm)
		case pm.next == last:
			s.complete(r, q, pm.caps, pm.lists, &ev)
		default:
			if pm.next == 0 {
				pm.start = unstarted
			}
			s.moveTo(pm, pm.next+1, d)
			keep = append(keep, pm)
		}
	}
	clear(s.partials[len(keep):])
	s.partials = append(append(keep, moved...), s.spawned...)
	clear(s.spawned)
	s.spawned = s.spawned[:0]
	s.arm(d)
}

// waitsOut reports whether pm, at a quantified sequence element followed by an absent one
// ("e1=A+, not B for T"), holds enough events that the absence's wait runs (to pm.deadline).
func (s *patternRT) waitsOut(pm *partial) bool {
	return s.p.quantAbsent(pm.next) && len(pm.lists[pm.next]) >= s.p.states[pm.next].min()
}

// waiting reports, per state, whether some partial waits at it.
func (s *patternRT) waiting() []bool {
	at := make([]bool, len(s.p.states))
	for _, pm := range s.partials {
		at[pm.next] = true
	}
	return at
}

func (s *patternRT) complete(r *Runtime, q *queryRT, caps [][]Value, lists [][][]Value, ev *event) {
	sp := q.plan.sel
	if s.aggregates() {
		// aggregates (count() as n) run over the matches, which never expire: the selector
		// keeps them (and their snapshot state) as for a windowless query
		q.sel.f.refs, q.sel.f.lists = caps, lists
		q.sel.process(r, kCurrent, ev)
		q.sel.f.refs, q.sel.f.lists = nil, nil
		return
	}
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

// Logical elements with an absent side ("not B[..] for T and e3=C[..]", "not B for T or e3=C",
// "not A for T and not B for T", "not B and e3=C"). Each absent side has its own deadline: the
// clock at which its absence is proven, never for a side without 'for' (which holds as long as
// no matching event came) or for an 'or' side that failed. With 'and', every side must hold:
// the matching side bound, each absent side proven (or, without 'for', not failed when the
// other side binds); a matching event on an absent side drops the match. With 'or', the first
// side to hold moves the match on: the matching side bound (the absent side's event stays
// null) or an absent side's deadline reached; an absent side's event only rules that side out.
// On the first element a matching event on an absent side restarts its wait instead, as for
// an absent first element.

const (
	proven = math.MinInt64 // an absent side's deadline once its absence is proven
	never  = math.MaxInt64 // an absent side's deadline when no time proves it
	// idle: both deadlines of an 'every' logical first element whose absent side (without
	// 'for') failed; as in Siddhi, it waits again only from the event after the failing one
	// (EveryAbsentPatternTestCase.testQueryAbsent49, and the sequence tests)
	idle = math.MinInt64 + 1
)

// sideWait is the deadline of side j of a logical pair entered at now.
func (s *patternRT) sideWait(j int, now int64) int64 {
	st := &s.p.states[j]
	if !st.absent || st.wait == 0 {
		return never
	}
	return addSat(now, st.wait)
}

// sideDeadline is the deadline slot of side j of the logical pair pm waits at.
func sideDeadline(pm *partial, j int) *int64 {
	if j == pm.next {
		return &pm.deadline
	}
	return &pm.deadline2
}

// stepLogicAbsent offers ev to the logical pair with an absent side pm waits at.
func (s *patternRT) stepLogicAbsent(r *Runtime, q *queryRT, pm *partial, def *StreamDef, ev *event) (matched, keep bool) {
	i := pm.next
	if pm.deadline == idle {
		s.moveTo(pm, i, r.clock)
		return false, true
	}
	or := s.p.states[i].logic == '|'
	if s.p.sequence && i > 0 && s.p.states[i].stream != def && s.p.states[i+1].stream != def {
		return false, false // another stream's event breaks the sequence
	}
	bound := false
	for j := i; j <= i+1; j++ {
		st := &s.p.states[j]
		if st.stream != def {
			continue
		}
		if !st.absent {
			if pm.caps[j] == nil && s.try(pm, j, ev) {
				touch(pm, r.clock)
				pm.caps[j] = r.copyVals(ev.vals)
				matched, bound = true, true
			}
			continue
		}
		dl := sideDeadline(pm, j)
		if *dl == proven || (or && *dl == never) || !s.try(pm, j, ev) {
			continue
		}
		matched = true
		switch {
		case i == 0 && st.wait > 0:
			*dl = addSat(r.clock, st.wait) // the silence restarts
		case !or && i == 0 && s.p.states[i].every:
			pm.deadline, pm.deadline2, pm.caps[i], pm.caps[i+1] = idle, idle, nil, nil
			pm.start = unstarted
			return true, true
		case !or:
			return true, false // the absence failed
		case s.p.sequence:
			return true, false // in a sequence an absent side's event fails 'or' too
		default:
			*dl = never
			o := 2*i + 1 - j // the other side
			if s.p.states[o].absent && *sideDeadline(pm, o) == never {
				return true, false // both sides failed
			}
		}
	}
	if !bound || !s.logicHolds(pm, or) {
		return matched, true
	}
	if s.p.states[i].every {
		s.passEvery(r, q, pm, ev, 1, ev.ts)
		return true, true
	}
	return true, s.passLogic(r, q, pm, ev)
}

// passEvery passes n copies of pm past its satisfied 'every' logical first element and
// restarts the element's waits at again.
func (s *patternRT) passEvery(r *Runtime, q *queryRT, pm *partial, ev *event, n int, again int64) {
	for k := 0; k < n; k++ {
		cp := s.clonePartial(pm)
		if s.passLogic(r, q, cp, ev) {
			s.spawned = append(s.spawned, cp)
		}
	}
	pm.caps[pm.next], pm.caps[pm.next+1] = nil, nil
	s.moveTo(pm, pm.next, again)
	if pm.next == 0 {
		pm.start = unstarted // a later element keeps the match's start (within)
	}
}

// logicHolds reports whether the logical pair pm waits at is satisfied.
func (s *patternRT) logicHolds(pm *partial, or bool) bool {
	i := pm.next
	for j := i; j <= i+1; j++ {
		st := &s.p.states[j]
		var ok bool
		if st.absent {
			d := *sideDeadline(pm, j)
			ok = d == proven || (!or && d == never && st.wait == 0)
		} else {
			ok = pm.caps[j] != nil
		}
		if ok == or {
			return or
		}
	}
	return !or
}

// passLogic moves pm past its satisfied logical pair (ev is the event or timer that
// satisfied it); it reports whether pm stays pending.
func (s *patternRT) passLogic(r *Runtime, q *queryRT, pm *partial, ev *event) bool {
	i := pm.next
	if i+2 == len(s.p.states) {
		s.complete(r, q, pm.caps, pm.lists, ev)
		return false
	}
	return s.enter(r, q, pm, i+2, ev)
}

// fireLogic proves the absent sides of pm's logical pair whose deadline is d; it reports
// whether pm stays pending. seqAt (sequences only) marks the states some partial waits at.
func (s *patternRT) fireLogic(r *Runtime, q *queryRT, pm *partial, d int64, seqAt []bool) bool {
	n := 0
	if pm.deadline == d {
		pm.deadline, n = proven, n+1
	}
	if pm.deadline2 == d {
		pm.deadline2, n = proven, n+1
	}
	or := s.p.states[pm.next].logic == '|'
	if !s.logicHolds(pm, or) {
		return true
	}
	ev := event{ts: d}
	if s.p.states[pm.next].every {
		if !or {
			n = 1 // 'or' passes once per side whose wait elapsed, 'and' once
		}
		if to := pm.next + 2; seqAt != nil && to < len(seqAt) {
			// a sequence takes one new arrival per state (see fire)
			if seqAt[to] {
				n = 0
			} else {
				n, seqAt[to] = 1, true
			}
		}
		again := d
		if s.periods++; s.periods >= maxPeriods && s.until > d {
			again = s.until // a far clock jump: skip the remaining periods
		}
		s.passEvery(r, q, pm, &ev, n, again)
		return true
	}
	return s.passLogic(r, q, pm, &ev)
}
