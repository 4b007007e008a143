package engine

// joinRT runs a stream-stream or stream-table join. Each stream side keeps its own window (a
// side without one retains nothing); a table side's rows are the table's, and it never triggers. An event arriving on a side passes the side's filters and enters its window, which
// may first expire older events; every current or expired event the window emits probes the
// other side's window (when the side triggers): each retained event, in insertion order, that
// satisfies 'on' yields one joined row of the same kind, and a probe of an outer side that
// matches nothing yields one row with nulls for the other side. In a self-join an event reaches
// the left side, then the right side.
//
// joinRT is the query's window for the runtime: its deadline is the earlier of the sides', and
// its snapshot state is the left window's state followed by the right window's.
type joinRT struct {
	p    *joinPlan
	wins [2]window     // nil for a side without a window
	bufs [2]*fifo      // the retained events of each side's (sliding) window
	bwin [2]joinWindow // a side's batch or sort window, probed through its contents
	cur  int           // the side whose window is adding or firing
	row  []Value       // the joined row
	refs [2][]Value    // the pair's events, for the join condition
	f    frame
	ev   event
	xev  event // a windowless side's arrival, as expired
}

func newJoinRT(p *joinPlan, outK outKind, tables map[string]*tableRT) *joinRT {
	j := &joinRT{p: p, row: make([]Value, p.width)}
	for s := range p.sides {
		if p.sides[s].table {
			j.bufs[s] = &tables[p.sides[s].def.Name].rows // probed in place; it has no window
			continue
		}
		w := newWindow(p.sides[s].win, outK)
		j.wins[s] = w
		switch w := w.(type) {
		case *lengthWin:
			j.bufs[s] = &w.buf
		case *timeWin:
			j.bufs[s] = &w.buf
		case *extTimeWin:
			j.bufs[s] = &w.buf
		case joinWindow:
			w.setJoined()
			j.bwin[s] = w
		default:
			if b, ok := w.(interface{ retained() *fifo }); ok {
				j.bufs[s] = b.retained()
			}
		}
	}
	return j
}

func (j *joinRT) onEvent(r *Runtime, q *queryRT, def *StreamDef, ev *event) {
	for s := range j.p.sides {
		sd := &j.p.sides[s]
		if sd.def != def || (len(sd.pre) > 0 && !passes(&j.f, sd.pre, ev)) {
			continue
		}
		if w := j.wins[s]; w != nil {
			j.cur = s
			j.beginChunk(q)
			w.add(r, q, ev) // the window calls q.toSel, which probes
			j.endChunk(r, q)
			continue
		}
		if !sd.trigger {
			continue
		}
		// A side without a window, as Siddhi's empty window: each arrival's joined rows are a
		// batch of current rows, then (when the query outputs expired events) a batch of the
		// same rows expired, then a reset, so aggregates cover one arrival's rows (one row per
		// group and kind: Siddhi's selector takes the current and the expired chunk apart).
		q.sel.beginBatch()
		j.probe(r, q, s, kCurrent, ev)
		q.sel.endBatch(r)
		j.xev = event{ts: r.clock, vals: ev.vals}
		if q.wants(kExpired) {
			q.sel.beginBatch()
			j.probe(r, q, s, kExpired, &j.xev)
			q.sel.endBatch(r)
		}
		q.sel.process(r, kReset, &j.xev)
		j.xev = event{}
	}
}

// beginChunk and endChunk bracket what one arrival or expiry makes a stream side's window
// emit. Joined with a table, that chunk is one batch, as in Siddhi: with aggregates or group by
// it emits one row per group, the last (JoinTestCase.joinTest18 counts 4 table rows at once).
// Two stream windows emit joined rows one by one.
func (j *joinRT) beginChunk(q *queryRT) {
	if j.p.sides[0].table || j.p.sides[1].table {
		q.sel.beginBatch()
	}
}

func (j *joinRT) endChunk(r *Runtime, q *queryRT) {
	if j.p.sides[0].table || j.p.sides[1].table {
		q.sel.endBatch(r)
	}
}

// passes evaluates filters on ev (callers on hot paths test len(filters) > 0 first).
func passes(f *frame, filters []evalFn, ev *event) bool {
	f.ev, f.ts = ev.vals, ev.ts
	for _, fn := range filters {
		if !fn(f).Bool() {
			return false
		}
	}
	return true
}

// probe joins an event of side s (current or expired) with the other side's window.
func (j *joinRT) probe(r *Runtime, q *queryRT, s int, k evKind, ev *event) {
	sd := &j.p.sides[s]
	if !sd.trigger {
		return
	}
	if k == kReset { // a batch window's flush: aggregates start again
		if _, isBatch := j.wins[s].(joinWindow); isBatch {
			q.sel.process(r, kReset, ev)
		}
		return
	}
	o := 1 - s
	od := &j.p.sides[o]
	copy(j.row[sd.off:], ev.vals)
	other := j.row[od.off : od.off+len(od.def.Attrs)]
	j.f.refs, j.f.ev, j.f.ts = j.refs[:], ev.vals, ev.ts
	j.refs[s] = ev.vals
	j.ev = event{ts: ev.ts, vals: j.row}
	matched := false
	var es []wevent
	if b := j.bufs[o]; b != nil {
		es = b.live()
	} else if bw := j.bwin[o]; bw != nil {
		es = bw.contents()
	}
	for _, e := range es {
		if j.p.on != nil {
			j.refs[o] = e.vals
			if !j.p.on(&j.f).Bool() {
				continue
			}
		}
		matched = true
		copy(other, e.vals)
		q.sel.process(r, k, &j.ev)
	}
	if !matched && sd.outer {
		clear(other)
		q.sel.process(r, k, &j.ev)
	}
	j.ev, j.refs = event{}, [2][]Value{}
}

// add is not used: events reach a join through onEvent, which knows their stream.
func (j *joinRT) add(*Runtime, *queryRT, *event) {}

// deadline is the earlier of the sides' window deadlines.
func (j *joinRT) deadline() (int64, bool) {
	d, _, ok := j.due()
	return d, ok
}

// due returns the earliest deadline and its side (the left one at equal deadlines).
func (j *joinRT) due() (int64, int, bool) {
	var best int64
	side := -1
	for s, w := range j.wins {
		if w == nil {
			continue
		}
		if d, ok := w.deadline(); ok && (side < 0 || d < best) {
			best, side = d, s
		}
	}
	return best, side, side >= 0
}

// fire fires the side whose deadline is due first; the runtime calls again for the other.
func (j *joinRT) fire(r *Runtime, q *queryRT, now int64) {
	if _, s, ok := j.due(); ok {
		j.cur = s
		j.beginChunk(q)
		j.wins[s].fire(r, q, now)
		j.endChunk(r, q)
	}
}

func (j *joinRT) encode(dst []byte) []byte {
	for _, w := range j.wins {
		if w != nil {
			dst = w.encode(dst)
		}
	}
	return dst
}

func (j *joinRT) decode(d *decoder, _ *StreamDef) error {
	for s, w := range j.wins {
		if w != nil {
			w.decode(d, j.p.sides[s].def)
		}
	}
	return d.err
}
