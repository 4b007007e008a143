package engine

// A window holds events of a simple query and tells the selector which events are current,
// which expire, and where batches begin and end. Time windows expose a deadline: the runtime
// fires it when the logical clock reaches it (the pending timer is derived from the state).
type window interface {
	add(r *Runtime, q *queryRT, ev *event)
	deadline() (int64, bool)
	fire(r *Runtime, q *queryRT, now int64)
	encode(dst []byte) []byte
	decode(d *decoder, def *StreamDef) error
}

type wevent struct {
	ts, at int64 // event time; arrival clock (time windows) or attribute time (externalTime)
	vals   []Value
}

// fifo is a queue of window events.
type fifo struct {
	items []wevent
	head  int
}

func (q *fifo) len() int       { return len(q.items) - q.head }
func (q *fifo) push(e wevent)  { q.items = append(q.items, e) }
func (q *fifo) front() *wevent { return &q.items[q.head] }
func (q *fifo) live() []wevent { return q.items[q.head:] }
func (q *fifo) pop() wevent {
	e := q.items[q.head]
	q.items[q.head] = wevent{}
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	} else if q.head >= 1024 && q.head*2 >= len(q.items) {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	return e
}

// newWindow creates the state of window w (nil for none); outK is the query's output kind.
func newWindow(w *winPlan, outK outKind) window {
	if w == nil {
		return nil
	}
	keep := outK != outCurrent
	switch w.kind {
	case winLength:
		return &lengthWin{n: w.length}
	case winLengthBatch:
		return &lengthBatchWin{n: w.length, keepPrev: keep, stream: w.stream}
	case winTime:
		return &timeWin{dur: w.dur}
	case winTimeBatch:
		return &timeBatchWin{dur: w.dur, keepPrev: keep, stream: w.stream, start: w.start, hasStart: w.hasStart}
	case winExtTime:
		return &extTimeWin{dur: w.dur, attr: w.attr}
	case winExtTimeBatch:
		return &extBatchWin{dur: w.dur, attr: w.attr, keepPrev: keep, start: w.start, startAttr: w.startAttr, timeout: w.timeout, replaceTs: w.replaceTs}
	}
	return newMoreWindow(w, keep)
}

// joinWindow is a window on a join side that is probed through its contents: for a batch
// window the last flushed batch (or, streaming current events, the events of the open batch).
type joinWindow interface {
	contents() []wevent
	setJoined()
}

func (w *lengthBatchWin) contents() []wevent {
	if w.stream {
		return w.cur
	}
	return w.prev
}
func (w *lengthBatchWin) setJoined() { w.keepPrev = true }

func (w *timeBatchWin) contents() []wevent {
	if w.stream {
		return w.cur
	}
	return w.prev
}
func (w *timeBatchWin) setJoined() { w.keepPrev = true }

func (w *extBatchWin) contents() []wevent { return w.prev }
func (w *extBatchWin) setJoined()         { w.keepPrev = true }

// expireAll emits evs as expired at now, then a reset, as one batch (a streaming batch
// window's flush: its events were current on arrival).
func expireAll(r *Runtime, q *queryRT, evs []wevent, now int64) {
	if len(evs) == 0 {
		return
	}
	q.sel.beginBatch()
	for i := range evs {
		q.toSel(r, kExpired, &event{ts: now, vals: evs[i].vals})
	}
	q.toSel(r, kReset, &event{ts: now})
	q.sel.endBatch(r)
}

// flushBatch emits a batch: the previous batch as expired, a reset, then the current batch.
func flushBatch(r *Runtime, q *queryRT, prev, cur []wevent, now int64) {
	if len(prev) == 0 && len(cur) == 0 {
		return
	}
	q.sel.beginBatch()
	for i := range prev {
		q.toSel(r, kExpired, &event{ts: now, vals: prev[i].vals})
	}
	q.toSel(r, kReset, &event{ts: now})
	for i := range cur {
		q.toSel(r, kCurrent, &event{ts: cur[i].ts, vals: cur[i].vals})
	}
	q.sel.endBatch(r)
}

// lengthWin keeps the last n events; the oldest expires when a new one arrives.
type lengthWin struct {
	n   int
	buf fifo
}

func (w *lengthWin) add(r *Runtime, q *queryRT, ev *event) {
	if w.n == 0 {
		// length(0), as in Siddhi: the arrival is current, then at once expired, then a reset.
		q.toSel(r, kCurrent, ev)
		q.toSel(r, kExpired, ev)
		q.toSel(r, kReset, ev)
		return
	}
	if w.buf.len() >= w.n {
		old := w.buf.pop()
		q.toSel(r, kExpired, &event{ts: ev.ts, vals: old.vals})
	}
	w.buf.push(wevent{ts: ev.ts, vals: r.copyVals(ev.vals)})
	q.toSel(r, kCurrent, ev)
}
func (w *lengthWin) deadline() (int64, bool)        { return 0, false }
func (w *lengthWin) fire(*Runtime, *queryRT, int64) {}

// lengthBatchWin emits every n events as one batch. Streaming current events, each arrival
// is current at once and a full batch expires (then resets) when the next event arrives, as
// Siddhi's lengthBatch(n, true) does.
type lengthBatchWin struct {
	n         int
	cur, prev []wevent
	keepPrev  bool
	stream    bool
}

func (w *lengthBatchWin) add(r *Runtime, q *queryRT, ev *event) {
	if w.n == 0 {
		// lengthBatch(0), as in Siddhi: each arrival is a batch of its own: the event as
		// current, then (when the query outputs expired events) as expired, then a reset.
		q.sel.beginBatch()
		q.toSel(r, kCurrent, ev)
		if w.keepPrev {
			q.toSel(r, kExpired, &event{ts: r.clock, vals: ev.vals})
		}
		q.toSel(r, kReset, &event{ts: r.clock})
		q.sel.endBatch(r)
		return
	}
	if w.stream {
		if len(w.cur) >= w.n {
			q.sel.beginBatch()
			for i := range w.cur {
				q.toSel(r, kExpired, &event{ts: r.clock, vals: w.cur[i].vals})
			}
			q.toSel(r, kReset, &event{ts: r.clock})
			clear(w.cur)
			w.cur = append(w.cur[:0], wevent{ts: ev.ts, vals: r.copyVals(ev.vals)})
			q.toSel(r, kCurrent, ev)
			q.sel.endBatch(r)
			return
		}
		w.cur = append(w.cur, wevent{ts: ev.ts, vals: r.copyVals(ev.vals)})
		q.toSel(r, kCurrent, ev)
		return
	}
	w.cur = append(w.cur, wevent{ts: ev.ts, vals: r.copyVals(ev.vals)})
	if len(w.cur) < w.n {
		return
	}
	flushBatch(r, q, w.prev, w.cur, ev.ts)
	if w.keepPrev {
		w.prev, w.cur = w.cur, w.prev[:0]
	} else {
		clear(w.cur)
		w.cur = w.cur[:0]
	}
}
func (w *lengthBatchWin) deadline() (int64, bool)        { return 0, false }
func (w *lengthBatchWin) fire(*Runtime, *queryRT, int64) {}
