package engine

import (
	"encoding/binary"
	"math"
	"slices"
	"strings"
)

// Siddhi's other core windows: timeLength, sort, frequent and lossyFrequent.

// sortKey is one attribute of a sort window's order.
type sortKey struct {
	attr int
	desc bool
}

// checkMoreWindows compiles the windows of this file into wp; ok is false for an unknown name.
func (a *App) checkMoreWindows(sc streamScope, w *windowSpec, wp *winPlan) (ok bool, err error) {
	def := sc.def
	attrArg := func(e expr, what string) (int, error) {
		at, isAttr := e.(*exAttr)
		if !isAttr {
			return 0, errAt(e.at(), "%s must be an attribute of %s", what, def.Name)
		}
		if _, _, err := sc.resolve(at); err != nil {
			return 0, err
		}
		return def.attrIndex(at.name), nil
	}
	keyArgs := func(es []expr, what string) error {
		for _, e := range es {
			i, err := attrArg(e, what)
			if err != nil {
				return err
			}
			wp.keys = append(wp.keys, i)
		}
		return nil
	}
	switch strings.ToLower(w.name) {
	case "timelength":
		wp.kind = winTimeLength
		if len(w.args) != 2 {
			return true, errAt(w.p, "window timeLength takes 2 arguments (time, length), got %d", len(w.args))
		}
		if wp.dur, err = constArg(w.args[0], "window time"); err != nil {
			return true, err
		}
		if wp.length, err = boundedArg(w.args[1], "window length", 1, 1<<26); err != nil {
			return true, err
		}
		a.usesTime = true
	case "sort":
		// sort(n, attr ['asc'|'desc'], attr ['asc'|'desc'], ...)
		wp.kind = winSort
		if len(w.args) < 2 {
			return true, errAt(w.p, "window sort takes a length and at least one attribute to sort by")
		}
		if wp.length, err = boundedArg(w.args[0], "window length", 1, 1<<26); err != nil {
			return true, err
		}
		args := w.args[1:]
		for len(args) > 0 {
			i, err := attrArg(args[0], "a sort key")
			if err != nil {
				return true, err
			}
			k := sortKey{attr: i}
			args = args[1:]
			if len(args) > 0 {
				if lit, isLit := args[0].(*exLit); isLit && lit.val.t == TypeString {
					switch strings.ToLower(lit.val.String()) {
					case "asc":
					case "desc":
						k.desc = true
					default:
						return true, errAt(lit.p, "sort order must be 'asc' or 'desc', got '%s'", lit.val.String())
					}
					args = args[1:]
				}
			}
			wp.sortKeys = append(wp.sortKeys, k)
		}
	case "frequent":
		// frequent(n, attr, ...): the most frequent keys (Misra-Gries), all attributes by default.
		wp.kind = winFrequent
		if len(w.args) < 1 {
			return true, errAt(w.p, "window frequent takes an event count and optional key attributes")
		}
		if wp.length, err = boundedArg(w.args[0], "the event count of frequent", 1, 1<<20); err != nil {
			return true, err
		}
		if err = keyArgs(w.args[1:], "a key of frequent"); err != nil {
			return true, err
		}
	case "lossyfrequent":
		// lossyFrequent(support, [error,] attr, ...): lossy counting; error defaults to support/10.
		wp.kind = winLossyFrequent
		if len(w.args) < 1 {
			return true, errAt(w.p, "window lossyFrequent takes a support threshold, an optional error bound and optional key attributes")
		}
		if wp.support, err = fracArg(w.args[0], "the support threshold of lossyFrequent"); err != nil {
			return true, err
		}
		rest := w.args[1:]
		wp.errBound = wp.support / 10
		if len(rest) > 0 {
			if _, isAttr := rest[0].(*exAttr); !isAttr {
				if wp.errBound, err = fracArg(rest[0], "the error bound of lossyFrequent"); err != nil {
					return true, err
				}
				rest = rest[1:]
			}
		}
		if wp.errBound >= wp.support {
			return true, errAt(w.p, "the error bound of lossyFrequent (%g) must be below its support threshold (%g)", wp.errBound, wp.support)
		}
		if err = keyArgs(rest, "a key of lossyFrequent"); err != nil {
			return true, err
		}
	case "expression", "expressionbatch":
		return true, checkExprWindow(sc, w, wp)
	default:
		return false, nil
	}
	return true, nil
}

// fracArg reads a constant number in (0, 1).
func fracArg(e expr, what string) (float64, error) {
	lit, ok := e.(*exLit)
	if !ok || !lit.val.t.numeric() {
		return 0, errAt(e.at(), "%s must be a constant number", what)
	}
	v := lit.val.Double()
	if !(v > 0 && v < 1) {
		return 0, errAt(e.at(), "%s must be between 0 and 1, got %g", what, v)
	}
	return v, nil
}

// newMoreWindow creates the state of a window of this file (nil for none); keep says whether
// the query outputs expired events.
func newMoreWindow(w *winPlan, keep bool) window {
	switch w.kind {
	case winTimeLength:
		return &timeLengthWin{dur: w.dur, n: w.length}
	case winSort:
		return &sortWin{n: w.length, keys: w.sortKeys}
	case winFrequent:
		return &freqWin{n: w.length, freqKeys: freqKeys{keys: w.keys, idx: map[string]int{}}}
	case winExpression:
		return newExprWin(w)
	case winExpressionBatch:
		return &exprBatchWin{exprWin: *newExprWin(w), include: w.include, includeAttr: w.includeAttr, keepPrev: keep}
	case winLossyFrequent:
		return &lossyWin{support: w.support, errBound: w.errBound, width: math.Ceil(1 / w.errBound),
			freqKeys: freqKeys{keys: w.keys, idx: map[string]int{}}, bucket: 1}
	}
	return nil
}

// timeLengthWin keeps events for dur ms of logical time and at most n of them: an arrival
// over n expires the oldest first.
type timeLengthWin struct {
	dur int64
	n   int
	buf fifo
}

func (w *timeLengthWin) add(r *Runtime, q *queryRT, ev *event) {
	if w.buf.len() >= w.n {
		old := w.buf.pop()
		q.toSel(r, kExpired, &event{ts: r.clock, vals: old.vals})
	}
	w.buf.push(wevent{ts: ev.ts, at: r.clock, vals: r.copyVals(ev.vals)})
	q.toSel(r, kCurrent, ev)
}

func (w *timeLengthWin) deadline() (int64, bool) {
	if w.buf.len() == 0 {
		return 0, false
	}
	return addSat(w.buf.front().at, w.dur), true
}

func (w *timeLengthWin) fire(r *Runtime, q *queryRT, now int64) {
	for w.buf.len() > 0 && addSat(w.buf.front().at, w.dur) <= now {
		old := w.buf.pop()
		q.toSel(r, kExpired, &event{ts: now, vals: old.vals})
	}
}

func (w *timeLengthWin) retained() *fifo { return &w.buf }

// sortWin keeps the n first events in its order: an arrival over n expires the last event in
// that order (among equals, the latest arrival), before the arrival is current.
type sortWin struct {
	n     int
	keys  []sortKey
	items []wevent // in order
}

func (w *sortWin) less(a, b []Value) int {
	for _, k := range w.keys {
		c := orderValues(a[k.attr], b[k.attr])
		if c != 0 {
			if k.desc {
				return -c
			}
			return c
		}
	}
	return 0
}

func (w *sortWin) add(r *Runtime, q *queryRT, ev *event) {
	// insert after every item that does not order after it (a stable sort, as Siddhi's)
	i := len(w.items)
	for i > 0 && w.less(w.items[i-1].vals, ev.vals) > 0 {
		i--
	}
	w.items = slices.Insert(w.items, i, wevent{ts: ev.ts, at: r.clock, vals: r.copyVals(ev.vals)})
	if len(w.items) > w.n {
		old := w.items[len(w.items)-1]
		w.items[len(w.items)-1] = wevent{}
		w.items = w.items[:len(w.items)-1]
		q.toSel(r, kExpired, &event{ts: r.clock, vals: old.vals})
	}
	q.toSel(r, kCurrent, ev)
}
func (w *sortWin) deadline() (int64, bool)        { return 0, false }
func (w *sortWin) fire(*Runtime, *queryRT, int64) {}
func (w *sortWin) contents() []wevent             { return w.items }
func (w *sortWin) setJoined()                     {}

// eventKey encodes the key attributes of vals (all of them when keys is empty).
func eventKey(dst []byte, keys []int, vals []Value) []byte {
	dst = dst[:0]
	if len(keys) == 0 {
		for _, v := range vals {
			dst = appendValue(dst, v)
		}
		return dst
	}
	for _, k := range keys {
		dst = appendValue(dst, vals[k])
	}
	return dst
}

// freqEntry is a key's counter and latest event.
type freqEntry struct {
	count  int64
	bucket int64 // lossyFrequent: the bucket id when the key was (re)inserted, minus one
	ev     wevent
}

// freqWin keeps the events of the n most frequent keys (Misra-Gries, as Siddhi's frequent): a
// known key's arrival counts and replaces its event; a new key when n are kept decrements
// every counter, expires the keys reaching zero, and is kept (current) only if room was made.
type freqWin struct {
	n int
	freqKeys
}

// freqKeys is the keyed entries frequent and lossyFrequent windows keep, with their index.
type freqKeys struct {
	keys []int
	ents []freqEntry // in insertion order
	idx  map[string]int
	key  []byte
}

func (f *freqKeys) reindex() {
	clear(f.idx)
	for i := range f.ents {
		f.key = eventKey(f.key, f.keys, f.ents[i].ev.vals)
		f.idx[string(f.key)] = i
	}
}

// sweep expires the entries keep rejects (keep may update the entry it keeps) and reindexes.
func (f *freqKeys) sweep(r *Runtime, q *queryRT, keep func(e *freqEntry) bool) {
	kept := f.ents[:0]
	for i := range f.ents {
		e := &f.ents[i] // in place: kept only ever writes at or before i
		if keep(e) {
			kept = append(kept, *e)
			continue
		}
		q.toSel(r, kExpired, &event{ts: r.clock, vals: e.ev.vals})
	}
	clear(f.ents[len(kept):])
	f.ents = kept
	f.reindex()
}

// restore decodes the entries (at most limit keys, when limit > 0) and their index; what names
// the window in errors.
func (f *freqKeys) restore(d *decoder, def *StreamDef, what string, limit int) {
	f.ents = d.freqEntries(def)
	if limit > 0 && len(f.ents) > limit {
		d.fail("%s window holds %d keys, limit %d", what, len(f.ents), limit)
	}
	f.reindex()
	if len(f.idx) != len(f.ents) {
		d.fail("%s window holds a key twice", what)
	}
}

func (w *freqWin) add(r *Runtime, q *queryRT, ev *event) {
	w.key = eventKey(w.key, w.keys, ev.vals)
	if i, ok := w.idx[string(w.key)]; ok {
		w.ents[i].count++
		w.ents[i].ev = wevent{ts: ev.ts, at: r.clock, vals: r.copyVals(ev.vals)}
		q.toSel(r, kCurrent, ev)
		return
	}
	if len(w.ents) >= w.n {
		w.sweep(r, q, func(e *freqEntry) bool { e.count--; return e.count > 0 })
		if len(w.ents) >= w.n {
			return // no room: the arrival is dropped
		}
		w.key = eventKey(w.key, w.keys, ev.vals)
	}
	w.idx[string(w.key)] = len(w.ents)
	w.ents = append(w.ents, freqEntry{count: 1, ev: wevent{ts: ev.ts, at: r.clock, vals: r.copyVals(ev.vals)}})
	q.toSel(r, kCurrent, ev)
}
func (w *freqWin) deadline() (int64, bool)        { return 0, false }
func (w *freqWin) fire(*Runtime, *queryRT, int64) {}

// lossyWin runs lossy counting (as Siddhi's lossyFrequent): an arrival is current when its
// key's count reaches (support - error) x the events seen; every ceil(1/error) events the keys
// whose count plus bucket id is at most the current bucket id expire.
type lossyWin struct {
	support, errBound, width float64
	freqKeys
	total  int64
	bucket float64
}

func (w *lossyWin) add(r *Runtime, q *queryRT, ev *event) {
	w.total++
	if w.total != 1 {
		w.bucket = math.Ceil(float64(w.total) / w.width)
	}
	w.key = eventKey(w.key, w.keys, ev.vals)
	we := wevent{ts: ev.ts, at: r.clock, vals: r.copyVals(ev.vals)}
	i, ok := w.idx[string(w.key)]
	if ok {
		w.ents[i].count++
		w.ents[i].ev = we
	} else {
		i = len(w.ents)
		w.idx[string(w.key)] = i
		w.ents = append(w.ents, freqEntry{count: 1, bucket: int64(w.bucket) - 1, ev: we})
	}
	if float64(w.ents[i].count) >= (w.support-w.errBound)*float64(w.total) {
		q.toSel(r, kCurrent, ev)
	}
	if math.Mod(float64(w.total), w.width) != 0 {
		return
	}
	w.sweep(r, q, func(e *freqEntry) bool { return float64(e.count+e.bucket) > w.bucket })
}
func (w *lossyWin) deadline() (int64, bool)        { return 0, false }
func (w *lossyWin) fire(*Runtime, *queryRT, int64) {}

// Snapshot state of the windows of this file.

func (w *timeLengthWin) encode(dst []byte) []byte { return appendWevents(dst, w.buf.live()) }
func (w *timeLengthWin) decode(d *decoder, def *StreamDef) error {
	w.buf = fifo{items: d.wevents(def)}
	if w.buf.len() > w.n {
		d.fail("timeLength window holds %d events, limit %d", w.buf.len(), w.n)
	}
	return d.err
}

func (w *sortWin) encode(dst []byte) []byte { return appendWevents(dst, w.items) }
func (w *sortWin) decode(d *decoder, def *StreamDef) error {
	w.items = d.wevents(def)
	if len(w.items) > w.n {
		d.fail("sort window holds %d events, limit %d", len(w.items), w.n)
	}
	return d.err
}

// appendFreqEntries encodes counters and events (keys are derived from the events).
func appendFreqEntries(dst []byte, ents []freqEntry) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(ents)))
	for _, e := range ents {
		dst = binary.AppendVarint(dst, e.count)
		dst = binary.AppendVarint(dst, e.bucket)
		dst = appendWevents(dst, []wevent{e.ev})
	}
	return dst
}

func (d *decoder) freqEntries(def *StreamDef) []freqEntry {
	n := d.count(4)
	var ents []freqEntry
	for i := 0; i < n && d.err == nil; i++ {
		e := freqEntry{count: d.varint(), bucket: d.varint()}
		evs := d.wevents(def)
		if len(evs) != 1 {
			d.fail("frequent window entry holds %d events", len(evs))
			break
		}
		if e.count <= 0 {
			d.fail("frequent window entry has count %d", e.count)
			break
		}
		e.ev = evs[0]
		ents = append(ents, e)
	}
	return ents
}

func (w *freqWin) encode(dst []byte) []byte { return appendFreqEntries(dst, w.ents) }
func (w *freqWin) decode(d *decoder, def *StreamDef) error {
	w.restore(d, def, "frequent", w.n)
	return d.err
}

func (w *lossyWin) encode(dst []byte) []byte {
	dst = binary.AppendVarint(dst, w.total)
	return appendFreqEntries(dst, w.ents)
}
func (w *lossyWin) decode(d *decoder, def *StreamDef) error {
	w.total = d.varint()
	if w.total < 0 {
		d.fail("lossyFrequent window has seen %d events", w.total)
	}
	w.bucket = 1
	if w.total > 1 {
		w.bucket = math.Ceil(float64(w.total) / w.width)
	}
	w.restore(d, def, "lossyFrequent", 0)
	return d.err
}
