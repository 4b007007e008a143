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
// Batch boundaries stay aligned to the first batch's start; with a start time, the first batch
// ends at the first start+k*dur after the first event, as Siddhi computes it. Streaming
// current events, each arrival is current at once and the batch expires at its end.
type timeBatchWin struct {
	dur       int64
	cur, prev []wevent
	end       int64
	active    bool // a flush is pending at end
	started   bool
	keepPrev  bool
	stream    bool
	hasStart  bool
	start     int64
}

func (w *timeBatchWin) add(r *Runtime, q *queryRT, ev *event) {
	if !w.active {
		if !w.started {
			w.end, w.started = addSat(r.clock, w.dur), true
			if w.hasStart { // the first start+k*dur after now
				w.end = firstEnd(w.start, r.clock, w.dur)
			}
		} else if w.end <= r.clock {
			w.end = alignEnd(w.end, r.clock, w.dur)
		}
		w.active = true
	}
	w.cur = append(w.cur, wevent{ts: ev.ts, at: r.clock, vals: r.copyVals(ev.vals)})
	if w.stream {
		q.toSel(r, kCurrent, ev)
	}
}

func (w *timeBatchWin) deadline() (int64, bool) { return w.end, w.active }

func (w *timeBatchWin) fire(r *Runtime, q *queryRT, now int64) {
	if w.stream {
		expireAll(r, q, w.cur, now)
		clear(w.cur)
		w.cur = w.cur[:0]
		w.end = addSat(now, w.dur)
		w.active = false
		return
	}
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

// extBatchWin batches by an attribute's time: an event at or past the batch end emits the
// batch. Boundaries are aligned to the start time (the first event's time by default). With a
// timeout, the open batch is also emitted once the logical clock passed the last arrival by
// the timeout; it stays open, and when later events join it, its next emission holds all of
// its events again, as in Siddhi.
type extBatchWin struct {
	dur       int64
	attr      int
	cur, prev []wevent
	end       int64
	started   bool
	keepPrev  bool
	start     int64 // -1: the first event's time
	startAttr int   // -1: none
	timeout   int64 // 0: none
	replaceTs bool
	fresh     bool  // cur holds events not emitted yet (always len(cur) > 0 without timeout)
	last      int64 // clock of the last arrival (timeout)
}

// firstEnd returns the first base+k*dur (k any integer) above t.
func firstEnd(base, t, dur int64) int64 {
	if t < base {
		gap := uint64(base) - uint64(t) - 1                      // fits: base > t
		return int64(uint64(base) - gap/uint64(dur)*uint64(dur)) // base-k*dur > t
	}
	return alignEnd(base, t, dur)
}

func (w *extBatchWin) add(r *Runtime, q *queryRT, ev *event) {
	t := attrTime(ev, w.attr, w.end-1)
	if !w.started {
		base := t
		switch {
		case w.startAttr >= 0:
			if v := ev.vals[w.startAttr]; !v.IsNull() {
				base = v.Long()
			}
		case w.start >= 0:
			base = w.start
		}
		w.end, w.started = firstEnd(base, t, w.dur), true
	} else if t >= w.end {
		if w.fresh || w.timeout == 0 {
			flushBatch(r, q, w.prev, w.cur, ev.ts)
		}
		if w.keepPrev {
			w.prev, w.cur = w.cur, w.prev[:0]
		} else {
			clear(w.cur)
			w.cur = w.cur[:0]
		}
		w.end = alignEnd(w.end, t, w.dur)
	}
	vals := r.copyVals(ev.vals)
	if w.replaceTs {
		vals[w.attr] = LongValue(w.end)
	}
	w.cur = append(w.cur, wevent{ts: ev.ts, at: t, vals: vals})
	w.fresh, w.last = true, r.clock
}

func (w *extBatchWin) deadline() (int64, bool) {
	if w.timeout == 0 || !w.fresh {
		return 0, false
	}
	return addSat(w.last, w.timeout), true
}

// fire emits the open batch when its timeout elapsed; the batch stays open.
func (w *extBatchWin) fire(r *Runtime, q *queryRT, now int64) {
	flushBatch(r, q, w.prev, w.cur, now)
	clear(w.prev)
	w.prev = w.prev[:0]
	w.fresh = false
}
