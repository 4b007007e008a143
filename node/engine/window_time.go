package engine

// timeWin keeps events for dur milliseconds of logical time after their arrival.
type timeWin struct {
	dur int64
	buf fifo
}

func (w *timeWin) add(r *Runtime, q *queryRT, ev *event) {
	w.buf.push(wevent{ts: ev.ts, at: r.clock, vals: r.copyVals(ev.vals)})
	q.toSel(r, kCurrent, ev)
}

func (w *timeWin) deadline() (int64, bool) {
	if w.buf.len() == 0 {
		return 0, false
	}
	return addSat(w.buf.front().at, w.dur), true
}

func (w *timeWin) fire(r *Runtime, q *queryRT, now int64) {
	for w.buf.len() > 0 && addSat(w.buf.front().at, w.dur) <= now {
		old := w.buf.pop()
		q.toSel(r, kExpired, &event{ts: now, vals: old.vals})
	}
}

// timeBatchWin collects events for dur milliseconds and emits them as one batch at the end.
// Batch boundaries stay aligned to the first batch's start.
type timeBatchWin struct {
	dur       int64
	cur, prev []wevent
	end       int64
	active    bool // a flush is pending at end
	started   bool
	keepPrev  bool
}

func (w *timeBatchWin) add(r *Runtime, q *queryRT, ev *event) {
	if !w.active {
		if !w.started {
			w.end, w.started = addSat(r.clock, w.dur), true
		} else if w.end <= r.clock {
			w.end = alignEnd(w.end, r.clock, w.dur)
		}
		w.active = true
	}
	w.cur = append(w.cur, wevent{ts: ev.ts, at: r.clock, vals: r.copyVals(ev.vals)})
}

func (w *timeBatchWin) deadline() (int64, bool) { return w.end, w.active }

func (w *timeBatchWin) fire(r *Runtime, q *queryRT, now int64) {
	flushBatch(r, q, w.prev, w.cur, now)
	if w.keepPrev {
		w.prev, w.cur = w.cur, w.prev[:0]
	} else {
		clear(w.cur)
		w.cur = w.cur[:0]
	}
	next := addSat(now, w.dur)
	w.end = next
	w.active = len(w.prev) > 0 && next > now
}

// alignEnd returns the first end+k*dur (k >= 1) that is above t, saturating at MaxInt64.
func alignEnd(end, t, dur int64) int64 {
	if t < end {
		return end
	}
	k := (uint64(t)-uint64(end))/uint64(dur) + 1
	step := k * uint64(dur)
	if step/uint64(dur) != k {
		return 1<<63 - 1
	}
	return addSat(end, int64(min(step, 1<<63-1)))
}

// extTimeWin is a sliding window over an event attribute's time, moved only by arrivals.
type extTimeWin struct {
	dur  int64
	attr int
	buf  fifo
	maxT int64
	seen bool
}

func attrTime(ev *event, attr int, fallback int64) int64 {
	if v := ev.vals[attr]; !v.IsNull() {
		return v.Long()
	}
	return fallback
}

func (w *extTimeWin) add(r *Runtime, q *queryRT, ev *event) {
	t := attrTime(ev, w.attr, w.maxT)
	if !w.seen || t > w.maxT {
		w.maxT, w.seen = t, true
	}
	for w.buf.len() > 0 && addSat(w.buf.front().at, w.dur) <= w.maxT {
		old := w.buf.pop()
		q.toSel(r, kExpired, &event{ts: ev.ts, vals: old.vals})
	}
	w.buf.push(wevent{ts: ev.ts, at: t, vals: r.copyVals(ev.vals)})
	q.toSel(r, kCurrent, ev)
}
func (w *extTimeWin) deadline() (int64, bool)        { return 0, false }
func (w *extTimeWin) fire(*Runtime, *queryRT, int64) {}

// extBatchWin batches by an attribute's time: an event at or past the batch end flushes it.
type extBatchWin struct {
	dur       int64
	attr      int
	cur, prev []wevent
	end       int64
	started   bool
	keepPrev  bool
}

func (w *extBatchWin) add(r *Runtime, q *queryRT, ev *event) {
	t := attrTime(ev, w.attr, w.end-1)
	if !w.started {
		w.end, w.started = addSat(t, w.dur), true
	} else if t >= w.end {
		flushBatch(r, q, w.prev, w.cur, ev.ts)
		if w.keepPrev {
			w.prev, w.cur = w.cur, w.prev[:0]
		} else {
			clear(w.cur)
			w.cur = w.cur[:0]
		}
		w.end = alignEnd(w.end, t, w.dur)
	}
	w.cur = append(w.cur, wevent{ts: ev.ts, at: t, vals: r.copyVals(ev.vals)})
}
func (w *extBatchWin) deadline() (int64, bool)        { return 0, false }
func (w *extBatchWin) fire(*Runtime, *queryRT, int64) {}
