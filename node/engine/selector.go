package engine

// selector applies select/group by/having to a query's window output. It keeps one group of
// aggregate states per group-by key; in batch mode it collapses each batch to the last row per
// (kind, group), as Siddhi does for batch windows with aggregates.

type group struct {
	key   string
	count int64 // events currently in the group; the group is dropped at zero
	aggs  []aggState
}

type pendRow struct {
	kind evKind
	ts   int64
	vals []Value
}

type selector struct {
	p      *selPlan
	q      *queryRT
	groups map[string]*group
	single *group
	key    []byte
	tmp    []byte
	f      frame
	row    []Value
	aggv   []Value

	batching bool
	pend     []pendRow
	pendIdx  map[string]int
}

func newSelector(p *queryPlan, q *queryRT) *selector {
	s := &selector{p: p.sel, q: q, row: make([]Value, len(p.sel.items)), aggv: make([]Value, len(p.sel.aggs))}
	if len(p.sel.groupBy) > 0 {
		s.groups = make(map[string]*group)
	}
	s.f.aggs = s.aggv
	return s
}

func (s *selector) newGroup(key string) *group {
	return &group{key: key, aggs: make([]aggState, len(s.p.aggs))}
}

// lookup finds the group of the event in s.f (creating it when create is set).
func (s *selector) lookup(create bool) *group {
	if s.groups == nil {
		if s.single == nil && create {
			s.single = s.newGroup("")
		}
		return s.single
	}
	s.key = s.key[:0]
	for _, fn := range s.p.groupBy {
		s.key = appendValue(s.key, fn(&s.f))
	}
	g := s.groups[string(s.key)]
	if g == nil && create {
		g = s.newGroup(string(s.key))
		s.groups[g.key] = g
	}
	return g
}

func (s *selector) drop(g *group) {
	if s.groups == nil {
		s.single = nil
	} else {
		delete(s.groups, g.key)
	}
}

func (s *selector) reset() {
	s.single = nil
	if s.groups != nil {
		clear(s.groups)
	}
}

func (s *selector) process(r *Runtime, k evKind, ev *event) {
	if k == kReset {
		s.reset()
		return
	}
	s.f.ev, s.f.ts = ev.vals, ev.ts
	hasAgg := len(s.p.aggs) > 0
	var g *group
	if hasAgg {
		g = s.lookup(k == kCurrent)
		for i := range s.p.aggs {
			sp := &s.p.aggs[i]
			if g == nil {
				s.aggv[i] = (&aggState{}).value(sp)
				continue
			}
			var v Value
			if sp.arg != nil {
				v = sp.arg(&s.f)
			}
			st := &g.aggs[i]
			if k == kCurrent {
				s.tmp = st.add(sp, v, s.p.noRemove, s.tmp)
			} else {
				s.tmp = st.remove(sp, v, s.tmp)
			}
			s.aggv[i] = st.value(sp)
		}
		if g != nil {
			if k == kCurrent {
				g.count++
			} else {
				g.count--
			}
		}
	}
	for i, fn := range s.p.items {
		s.row[i] = fn(&s.f)
	}
	if g != nil && g.count <= 0 {
		s.drop(g)
	}
	if !s.q.wants(k) {
		return
	}
	if s.batching && hasAgg {
		s.collect(r, k, ev.ts)
		return
	}
	if s.p.having != nil {
		s.f.out = s.row
		if !s.p.having(&s.f).Bool() {
			return
		}
	}
	s.q.emitRow(r, k, ev.ts, s.row)
}

func (s *selector) collect(r *Runtime, k evKind, ts int64) {
	if s.pendIdx == nil {
		s.pendIdx = make(map[string]int)
	}
	s.key = append(s.key, byte(k)) // s.key holds the group key from lookup (empty without group by)
	if s.groups == nil {
		s.key = append(s.key[:0], byte(k))
	}
	if i, ok := s.pendIdx[string(s.key)]; ok {
		copy(s.pend[i].vals, s.row)
		s.pend[i].ts = ts
		return
	}
	s.pendIdx[string(s.key)] = len(s.pend)
	s.pend = append(s.pend, pendRow{kind: k, ts: ts, vals: append([]Value(nil), s.row...)})
}

// beginBatch and endBatch bracket a batch window flush.
func (s *selector) beginBatch() { s.batching = true }

func (s *selector) endBatch(r *Runtime) {
	s.batching = false
	pend := s.pend
	s.pend = nil
	clear(s.pendIdx)
	for _, pr := range pend {
		if s.p.having != nil {
			s.f.out = pr.vals
			if !s.p.having(&s.f).Bool() {
				continue
			}
		}
		s.q.emitRow(r, pr.kind, pr.ts, pr.vals)
	}
}
