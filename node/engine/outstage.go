package engine

import (
	"cmp"
	"slices"
)

// The output stage of a query with order by / limit / offset or output rate limiting sits
// between the selector (or pattern matcher) and the query's output. Rows of one chunk (what the
// selector emits for one input event or one window timer) are buffered, stably sorted, cut by
// offset and limit, then handed to the rate limiter, which releases them now or later. A query
// without these clauses has no stage and pays nothing.

type stageRow struct {
	kind evKind
	ts   int64
	key  string // group-by key, for per-group first/last
	off  int    // the values are arena[off : off+width]
}

type outStage struct {
	chunk *chunkPlan // nil without order by, limit and offset
	width int
	rows  []stageRow // the open chunk
	arena []Value
	lim   *limiter // nil without output rate limiting
}

func newOutStage(p *queryPlan) *outStage {
	if p.chunk == nil && p.rate == nil {
		return nil
	}
	st := &outStage{chunk: p.chunk, width: len(p.out.Attrs)}
	if p.rate != nil {
		st.lim = newLimiter(p.rate)
	}
	return st
}

func (st *outStage) snapshot() bool { return st.lim != nil && st.lim.p.kind == rateSnapshot }

// row takes one row the selector emits; q.rowKey holds its group-by key when the limiter is keyed.
func (st *outStage) row(r *Runtime, q *queryRT, k evKind, ts int64, vals []Value) {
	if st.snapshot() {
		// snapshot outputs are built at period ends from the selector's state, or from the
		// last rows (per key) kept here for a query without window and aggregates
		if st.lim.p.snap == snapLast && k == kCurrent {
			st.lim.keep(r, q, ts, q.rowKey, vals)
		}
		return
	}
	st.add(r, q, k, ts, q.rowKey, vals)
}

// add buffers a row of the open chunk, or passes it on when the query has no order/limit/offset.
func (st *outStage) add(r *Runtime, q *queryRT, k evKind, ts int64, key string, vals []Value) {
	if st.chunk == nil {
		st.pass(r, q, k, ts, key, vals)
		return
	}
	st.rows = append(st.rows, stageRow{kind: k, ts: ts, key: key, off: len(st.arena)})
	st.arena = append(st.arena, vals...)
}

// endChunk sorts the open chunk, applies offset and limit, and passes the rows on.
func (st *outStage) endChunk(r *Runtime, q *queryRT) {
	rows := st.rows
	if len(rows) == 0 {
		return
	}
	if len(st.chunk.order) > 0 {
		slices.SortStableFunc(rows, st.compare)
	}
	lo := int(min(int64(len(rows)), st.chunk.offset))
	hi := len(rows)
	if st.chunk.limit >= 0 && st.chunk.limit < int64(hi-lo) {
		hi = lo + int(st.chunk.limit)
	}
	for _, row := range rows[lo:hi] {
		st.pass(r, q, row.kind, row.ts, row.key, st.arena[row.off:row.off+st.width])
	}
	clear(rows)
	st.rows = rows[:0]
	clear(st.arena)
	st.arena = st.arena[:0]
}

func (st *outStage) compare(a, b stageRow) int {
	for _, k := range st.chunk.order {
		c := orderValues(st.arena[a.off+k.col], st.arena[b.off+k.col])
		if c != 0 {
			if k.desc {
				return -c
			}
			return c
		}
	}
	return 0
}

// orderValues orders two values of one output column: null first, then by value (NaN before
// every other number).
func orderValues(x, y Value) int {
	switch {
	case x.IsNull() && y.IsNull():
		return 0
	case x.IsNull():
		return -1
	case y.IsNull():
		return 1
	case x.t == TypeDouble || x.t == TypeFloat:
		return cmp.Compare(x.Double(), y.Double())
	}
	return compareValues(x, y)
}

// pass hands a row that survived order/limit/offset to the rate limiter or to the output.
func (st *outStage) pass(r *Runtime, q *queryRT, k evKind, ts int64, key string, vals []Value) {
	if st.lim != nil && !st.snapshot() {
		st.lim.offer(r, q, k, ts, key, vals)
		return
	}
	q.release(r, k, ts, vals)
}

type heldRow struct {
	kind evKind
	ts   int64
	key  string
	vals []Value
}

// limiter implements 'output all|first|last every N events | <time>' and 'output snapshot every
// <time>'. Event-count limiting counts the rows it is offered (current and expired alike) in
// groups of N; 'first' with group by counts each key's rows on their own. Time-based limiting uses periods of the logical clock: the first period starts at
// the clock of the first row (snapshot: of the first event reaching the query), later ones
// follow back to back (a period with no rows is skipped).
type limiter struct {
	p       *ratePlan
	count   int64               // rows in the open group (event-count limiting)
	held    []heldRow           // all: the rows of the open group/period; last: the last row per key
	heldIdx map[string]int      // last: key -> index in held
	seen    map[string]struct{} // first: the keys released in the open group/period
	seenN   map[string]int64    // first every N events with group by: rows counted per key
	started bool                // time based: the first period has started
	end     int64               // time based: end of the open period
	dirty   bool                // snapshot: the period end is due (the snapshot was not empty)
	track   fifo                // snapWindow: the events in the query's window, oldest first
	fires   int                 // snapshot: periods fired in the clock advance under way
	until   int64               // snapshot: the clock the advance under way moves to
}

// maxSnapshotPeriods bounds the snapshots one clock advance emits (a tick far ahead): past it
// the periods skip to the one containing the new clock, as absent pattern waits do.
const maxSnapshotPeriods = maxPeriods

func newLimiter(p *ratePlan) *limiter {
	return &limiter{p: p, heldIdx: map[string]int{}, seen: map[string]struct{}{}, seenN: map[string]int64{}}
}

// perKey reports whether the limiter counts runs of N rows per group-by key ('output first every
// N events' with group by), as Siddhi does, rather than over all rows.
func (l *limiter) perKey() bool {
	return l.p.keyed && l.p.kind == rateFirst && l.p.events > 0
}

// offer takes one row; it releases it now (first), holds it (all, last), and closes the group
// when it is the Nth row.
func (l *limiter) offer(r *Runtime, q *queryRT, k evKind, ts int64, key string, vals []Value) {
	if !l.p.keyed {
		key = ""
	}
	if l.p.dur > 0 {
		l.roll(r, q)
	}
	switch l.p.kind {
	case rateAll:
		l.held = append(l.held, heldRow{kind: k, ts: ts, vals: slices.Clone(vals)})
	case rateFirst:
		if l.perKey() {
			// as Siddhi: each key counts its own rows; its first row of a run of N is released
			n := l.seenN[key] + 1
			if n == 1 {
				q.release(r, k, ts, vals)
			}
			if n >= l.p.events {
				delete(l.seenN, key)
			} else {
				l.seenN[key] = n
			}
			return
		}
		if _, ok := l.seen[key]; !ok {
			l.seen[key] = struct{}{}
			q.release(r, k, ts, vals)
		}
	case rateLast:
		if i, ok := l.heldIdx[key]; ok {
			h := &l.held[i]
			h.kind, h.ts = k, ts
			copy(h.vals, vals)
		} else {
			l.heldIdx[key] = len(l.held)
			l.held = append(l.held, heldRow{kind: k, ts: ts, key: key, vals: slices.Clone(vals)})
		}
	}
	if l.p.events > 0 {
		l.count++
		if l.count == l.p.events {
			l.close(r, q)
		}
	}
}

// touch notes, before the selector processes an event, that the snapshot may change: an idle
// limiter (its last snapshot was empty) is due again at the end of the period holding the clock.
func (l *limiter) touch(r *Runtime, q *queryRT) {
	l.roll(r, q)
	l.dirty = true
}

// keep records the last current row of key (snapLast), what the snapshot emits every period.
func (l *limiter) keep(r *Runtime, q *queryRT, ts int64, key string, vals []Value) {
	l.touch(r, q)
	if !l.p.keyed {
		key = ""
	}
	if i, ok := l.heldIdx[key]; ok {
		h := &l.held[i]
		h.ts = ts
		copy(h.vals, vals)
		return
	}
	l.heldIdx[key] = len(l.held)
	l.held = append(l.held, heldRow{kind: kCurrent, ts: ts, key: key, vals: slices.Clone(vals)})
}

// trackEvent follows the query's window (snapWindow): a current event enters, an expired one
// leaves (windows expire in arrival order), a reset empties it.
func (l *limiter) trackEvent(r *Runtime, k evKind, ev *event) {
	switch k {
	case kCurrent:
		l.track.push(wevent{ts: ev.ts, vals: r.copyVals(ev.vals)})
	case kExpired:
		if l.track.len() > 0 {
			l.track.pop()
		}
	default:
		clear(l.track.items)
		l.track = fifo{items: l.track.items[:0]}
	}
}

// roll makes the open period contain the clock: it starts the first period, or closes an ended
// one whose timer has not fired yet (a row reaching the query at the very instant of its end).
func (l *limiter) roll(r *Runtime, q *queryRT) {
	if !l.started {
		l.started, l.end = true, addSat(r.clock, l.p.dur)
		return
	}
	if l.end <= r.clock {
		l.fire(r, q)
	}
}

// deadline is the end of the open period when the limiter has something to release then.
func (l *limiter) deadline() (int64, bool) {
	if l.p.kind == rateSnapshot {
		return l.end, l.dirty
	}
	return l.end, len(l.held) > 0
}

// fire closes the period ending at l.end and opens the one containing the clock. A snapshot
// limiter stays due while its snapshot is not empty, as Siddhi emits one every period even
// when no event came; past maxSnapshotPeriods in one advance it skips to the new clock.
func (l *limiter) fire(r *Runtime, q *queryRT) {
	l.close(r, q)
	l.end = alignEnd(l.end, r.clock, l.p.dur)
	if l.p.kind == rateSnapshot && l.dirty {
		l.fires++
		if l.fires >= maxSnapshotPeriods && l.end <= l.until {
			l.end = alignEnd(l.end, l.until, l.p.dur)
		}
	}
}

// close ends the open group or period: it releases the held rows (all, last) or the snapshot,
// and forgets the keys released (first).
func (l *limiter) close(r *Runtime, q *queryRT) {
	l.count = 0
	clear(l.seen)
	if l.p.kind == rateSnapshot {
		if l.dirty && !l.emitSnapshot(r, q) {
			l.dirty = false // idle until the next change
		}
		return
	}
	held := l.held
	clear(l.heldIdx)
	for _, h := range held {
		q.release(r, h.kind, h.ts, h.vals)
	}
	clear(held)
	l.held = held[:0]
}

// emitSnapshot emits the snapshot at the end of the period (current rows at l.end) and
// reports whether there was anything to emit (before having).
func (l *limiter) emitSnapshot(r *Runtime, q *queryRT) bool {
	switch l.p.snap {
	case snapLast:
		for _, h := range l.held {
			q.stage.add(r, q, kCurrent, l.end, "", h.vals)
		}
		q.stage.endChunk(r, q)
		return len(l.held) > 0
	case snapWindow:
		return q.sel.emitWindow(r, l.end, l.track.live())
	}
	return q.sel.emitSnapshot(r, l.end)
}
