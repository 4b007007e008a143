package engine

// selector applies select/group by/having to a query's window output. It keeps the aggregate
// states of each group-by key (one group without group by) in a flat slice indexed by the
// group's index in a groupTable; in batch mode it collapses each batch flush (expired and current
// rows alike) to the last row per group, as Siddhi does for batch windows with aggregates or
// group by.

type pendRow struct {
	kind evKind
	ts   int64
	key  string // group-by key, kept only for a keyed rate limiter
	vals []Value
}

type selector struct {
	p      *selPlan
	q      *queryRT
	groups *groupTable
	states []aggState // len(p.aggs) per group
	exts   []*aggExt  // len(p.aggs) per group when an aggregate needsExt (hasExt), else empty
	hasExt bool
	key    []byte
	tmp    []byte
	f      frame
	row    []Value
	aggv   []Value

	batching bool
	pend     []pendRow
	pendIdx  map[string]int

	keyed    bool     // the rate limiter needs each row's group-by key (q.rowKey)
	snap     *limiter // output snapshot limiting: notified before each change
	lastRows []Value  // snapshot: the last row computed per group, len(p.items) per group
}

func newSelector(p *queryPlan, q *queryRT) *selector {
	s := &selector{p: p.sel, q: q, row: make([]Value, len(p.sel.items)), aggv: make([]Value, len(p.sel.aggs))}
	if len(p.sel.aggs) > 0 {
		s.groups = newGroupTable()
	}
	for i := range p.sel.aggs {
		s.hasExt = s.hasExt || p.sel.aggs[i].needsExt(p.sel.noRemove)
	}
	s.f.aggs = s.aggv
	s.keyed = p.rate != nil && p.rate.keyed
	return s
}

// groupKey encodes the group-by values of the event in s.f into s.key.
func (s *selector) groupKey() {
	s.key = s.key[:0]
	for _, fn := range s.p.groupBy {
		s.key = appendValue(s.key, fn(&s.f))
	}
}

// lookup finds the group of the event in s.f (creating it when create is set), or -1.
func (s *selector) lookup(create bool) int {
	s.groupKey()
	g, added := s.groups.lookup(s.key, create)
	if added {
		s.states = append(s.states, make([]aggState, len(s.p.aggs))...)
		if s.hasExt {
			s.exts = append(s.exts, make([]*aggExt, len(s.p.aggs))...)
		}
		if s.lastRowsOn() {
			s.lastRows = append(s.lastRows, make([]Value, len(s.p.items))...)
		}
	}
	return g
}

// ext is the aggExt at states index i (nil when the selector keeps none).
func (s *selector) ext(i int) *aggExt {
	if !s.hasExt {
		return nil
	}
	return s.exts[i]
}

func (s *selector) drop(g int) {
	last := s.groups.len() - 1
	s.groups.remove(g)
	s.states = dropSlot(s.states, g, last, len(s.p.aggs))
	if s.hasExt {
		s.exts = dropSlot(s.exts, g, last, len(s.p.aggs))
	}
	if s.lastRowsOn() {
		s.lastRows = dropSlot(s.lastRows, g, last, len(s.p.items))
	}
}

// dropSlot removes group g's width elements from per-group storage by moving the last group's
// elements into its place, as groupTable.remove does with the group records.
func dropSlot[T any](xs []T, g, last, width int) []T {
	if g != last {
		copy(xs[g*width:(g+1)*width], xs[last*width:(last+1)*width])
	}
	clear(xs[last*width:])
	return xs[:last*width]
}

func (s *selector) reset() {
	if s.groups != nil {
		s.groups.reset()
		clear(s.states)
		s.states = s.states[:0]
		clear(s.exts)
		s.exts = s.exts[:0]
		clear(s.lastRows)
		s.lastRows = s.lastRows[:0]
	}
}

func (s *selector) process(r *Runtime, k evKind, ev *event) {
	if s.snap != nil {
		s.snap.touch(r, s.q)
	}
	if k == kReset {
		s.reset()
		if s.tracks() {
			s.snap.trackEvent(r, k, ev)
		}
		return
	}
	s.f.ev, s.f.ts = ev.vals, ev.ts
	hasAgg := len(s.p.aggs) > 0
	g := -1
	if hasAgg {
		g = s.lookup(k == kCurrent)
		na := len(s.p.aggs)
		for i := range s.p.aggs {
			sp := &s.p.aggs[i]
			if g < 0 {
				s.aggv[i] = (&aggState{}).value(sp, nil)
				continue
			}
			var v Value
			if sp.arg != nil {
				v = sp.arg(&s.f)
			}
			st := &s.states[g*na+i]
			var xp **aggExt
			if s.hasExt {
				xp = &s.exts[g*na+i]
			}
			if k == kCurrent {
				s.tmp = st.add(sp, xp, v, s.p.noRemove, s.tmp)
			} else {
				s.tmp = st.remove(sp, xp, v, s.tmp)
			}
			s.aggv[i] = st.value(sp, s.ext(g*na+i))
		}
		if g >= 0 {
			s.groups.touch(g)
			rec := &s.groups.recs[g]
			if k == kCurrent {
				rec.count++
			} else {
				rec.count--
			}
		}
	}
	if s.tracks() {
		s.snap.trackEvent(r, k, ev)
		if g >= 0 && s.groups.recs[g].count <= 0 {
			s.drop(g)
		}
		return // the snapshot selects the window's events at period ends
	}
	for i, fn := range s.p.items {
		s.row[i] = fn(&s.f)
	}
	if s.lastRowsOn() && g >= 0 {
		copy(s.lastRows[g*len(s.row):], s.row)
	}
	if g >= 0 && s.groups.recs[g].count <= 0 {
		s.drop(g)
	}
	if !s.q.wants(k) {
		return
	}
	if s.p.having != nil {
		s.f.out = s.row
		if !s.p.having(&s.f).Bool() {
			return
		}
	}
	if s.batching && (hasAgg || len(s.p.groupBy) > 0) {
		if !hasAgg {
			s.groupKey()
		}
		s.collect(k, ev.ts)
		return
	}
	if s.keyed {
		if !hasAgg {
			s.groupKey()
		}
		s.q.rowKey = string(s.key)
	}
	if s.q.stage != nil { // q.emitRow, by hand: this is the per-event path
		s.q.stage.row(r, s.q, k, ev.ts, s.row)
		return
	}
	s.q.release(r, k, ev.ts, s.row)
}

// collect keeps the row as its group's row of the batch being flushed: the last row per group
// (whatever its kind), at the place where the group first appeared in the flush, as Siddhi's
// batch selector does.
func (s *selector) collect(k evKind, ts int64) {
	if s.pendIdx == nil {
		s.pendIdx = make(map[string]int)
	}
	if i, ok := s.pendIdx[string(s.key)]; ok { // s.key holds the group key
		pr := &s.pend[i]
		copy(pr.vals, s.row)
		pr.kind, pr.ts = k, ts
		return
	}
	s.pendIdx[string(s.key)] = len(s.pend)
	pr := pendRow{kind: k, ts: ts, vals: append([]Value(nil), s.row...)}
	if s.keyed {
		pr.key = string(s.key)
	}
	s.pend = append(s.pend, pr)
}

// beginBatch and endBatch bracket a batch window flush.
func (s *selector) beginBatch() { s.batching = true }

func (s *selector) endBatch(r *Runtime) {
	s.batching = false
	pend := s.pend
	s.pend = nil
	clear(s.pendIdx)
	for _, pr := range pend {
		s.q.rowKey = pr.key
		s.q.emitRow(r, pr.kind, pr.ts, pr.vals)
	}
}

// lastRowsOn reports whether the selector keeps each group's last row for output snapshot.
func (s *selector) lastRowsOn() bool { return s.snap != nil && s.snap.p.snap == snapGroups }

// tracks reports whether output snapshot selects the window's events (snapWindow): the
// selector then only updates the aggregates and hands the events to the limiter.
func (s *selector) tracks() bool { return s.snap != nil && s.snap.p.snap == snapWindow }

// emitWindow emits, as current events at ts, the select of each window event with the current
// aggregates, those passing having (output snapshot of a window); it reports whether the
// window held any event.
func (s *selector) emitWindow(r *Runtime, ts int64, evs []wevent) bool {
	if len(evs) == 0 {
		return false
	}
	if len(s.p.aggs) > 0 {
		s.f.ev, s.f.ts = evs[0].vals, evs[0].ts
		g := s.lookup(false)
		na := len(s.p.aggs)
		for i := range s.p.aggs {
			st, x := &aggState{}, (*aggExt)(nil)
			if g >= 0 {
				st, x = &s.states[g*na+i], s.ext(g*na+i)
			}
			s.aggv[i] = st.value(&s.p.aggs[i], x)
		}
	}
	for _, e := range evs {
		s.f.ev, s.f.ts = e.vals, e.ts
		for i, fn := range s.p.items {
			s.row[i] = fn(&s.f)
		}
		if s.p.having != nil {
			s.f.out = s.row
			if !s.p.having(&s.f).Bool() {
				continue
			}
		}
		s.q.stage.add(r, s.q, kCurrent, ts, "", s.row)
	}
	s.q.stage.endChunk(r, s.q)
	return true
}

// emitSnapshot emits, as current events at ts, the last row of every group that passes having,
// in group table order (output snapshot limiting); it reports whether there was any group.
func (s *selector) emitSnapshot(r *Runtime, ts int64) bool {
	w := len(s.p.items)
	for g := range s.groups.len() {
		row := s.lastRows[g*w : (g+1)*w]
		if s.p.having != nil {
			s.f.out = row
			if !s.p.having(&s.f).Bool() {
				continue
			}
		}
		s.q.stage.add(r, s.q, kCurrent, ts, "", row)
	}
	s.q.stage.endChunk(r, s.q)
	return s.groups.len() > 0
}
