package engine

import (
	"encoding/binary"
	"maps"
	"math"
	"slices"
)

// Encoding of per-query state: window contents, aggregate groups and pattern partials.

func appendWevents(dst []byte, es []wevent) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(es)))
	for _, e := range es {
		dst = binary.AppendVarint(dst, e.ts)
		dst = binary.AppendVarint(dst, e.at)
		dst = appendVals(dst, e.vals)
	}
	return dst
}

func (d *decoder) wevents(def *StreamDef) []wevent {
	n := d.count(3)
	var es []wevent
	for i := 0; i < n && d.err == nil; i++ {
		ts, at := d.varint(), d.varint()
		es = append(es, wevent{ts: ts, at: at, vals: d.vals(def)})
	}
	return es
}

func (w *lengthWin) encode(dst []byte) []byte { return appendWevents(dst, w.buf.live()) }
func (w *lengthWin) decode(d *decoder, def *StreamDef) error {
	w.buf = fifo{items: d.wevents(def)}
	if w.buf.len() > w.n {
		d.fail("length window holds %d events, limit %d", w.buf.len(), w.n)
	}
	return d.err
}

func (w *lengthBatchWin) encode(dst []byte) []byte {
	return appendWevents(appendWevents(dst, w.cur), w.prev)
}
func (w *lengthBatchWin) decode(d *decoder, def *StreamDef) error {
	w.cur, w.prev = d.wevents(def), d.wevents(def)
	if len(w.cur) > w.n || (len(w.cur) == w.n && w.n > 0 && !w.stream) {
		d.fail("length batch holds %d events, limit %d", len(w.cur), w.n)
	}
	return d.err
}

func (w *timeWin) encode(dst []byte) []byte { return appendWevents(dst, w.buf.live()) }
func (w *timeWin) decode(d *decoder, def *StreamDef) error {
	w.buf = fifo{items: d.wevents(def)}
	return d.err
}

func (w *timeBatchWin) encode(dst []byte) []byte {
	dst = appendBool(appendBool(dst, w.active), w.started)
	dst = binary.AppendVarint(dst, w.end)
	return appendWevents(appendWevents(dst, w.cur), w.prev)
}
func (w *timeBatchWin) decode(d *decoder, def *StreamDef) error {
	w.active, w.started = d.bool1(), d.bool1()
	w.end = d.varint()
	w.cur, w.prev = d.wevents(def), d.wevents(def)
	if !w.active && len(w.cur)+len(w.prev) > 0 {
		d.fail("time batch holds events without a pending flush")
	}
	return d.err
}

func (w *extTimeWin) encode(dst []byte) []byte {
	dst = appendBool(dst, w.seen)
	dst = binary.AppendVarint(dst, w.maxT)
	return appendWevents(dst, w.buf.live())
}
func (w *extTimeWin) decode(d *decoder, def *StreamDef) error {
	w.seen, w.maxT = d.bool1(), d.varint()
	w.buf = fifo{items: d.wevents(def)}
	return d.err
}

func (w *extBatchWin) encode(dst []byte) []byte {
	dst = appendBool(dst, w.started)
	dst = binary.AppendVarint(dst, w.end)
	dst = appendWevents(appendWevents(dst, w.cur), w.prev)
	if w.timeout > 0 { // only then does fresh differ from len(cur) > 0
		dst = appendBool(dst, w.fresh)
		dst = binary.AppendVarint(dst, w.last)
	}
	return dst
}
func (w *extBatchWin) decode(d *decoder, def *StreamDef) error {
	w.started, w.end = d.bool1(), d.varint()
	w.cur, w.prev = d.wevents(def), d.wevents(def)
	w.fresh = len(w.cur) > 0
	if w.timeout > 0 {
		w.fresh, w.last = d.bool1(), d.varint()
	}
	return d.err
}

func (s *selector) encode(dst []byte) []byte {
	if s.groups == nil {
		return binary.AppendUvarint(dst, 0)
	}
	dst = binary.AppendUvarint(dst, uint64(s.groups.len()))
	for g := range s.groups.recs {
		dst = s.appendGroup(dst, g)
	}
	return dst
}

// appendGroup encodes group g: its key, event count, aggregate states and, with output
// snapshot limiting, its last row.
func (s *selector) appendGroup(dst []byte, g int) []byte {
	na := len(s.p.aggs)
	key := s.groups.key(g)
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	dst = append(dst, key...)
	dst = binary.AppendVarint(dst, s.groups.recs[g].count)
	for i := range na {
		st, x := &s.states[g*na+i], s.ext(g*na+i)
		isum, fsum := st.fields(&s.p.aggs[i], x)
		dst = binary.AppendVarint(dst, st.n)
		dst = binary.AppendVarint(dst, isum)
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(fsum))
		if x == nil {
			dst = append(dst, 0, 0)
			continue
		}
		live := x.dq[x.head:]
		dst = binary.AppendUvarint(dst, uint64(len(live)))
		dst = AppendValues(dst, live)
		dst = binary.AppendUvarint(dst, uint64(len(x.distinct)))
		for _, k := range slices.Sorted(maps.Keys(x.distinct)) { // sorted: equal states encode equally
			dst = appendStr(dst, k)
			dst = binary.AppendVarint(dst, x.distinct[k])
		}
	}
	if s.lastRowsOn() {
		w := len(s.p.items)
		dst = appendVals(dst, s.lastRows[g*w:(g+1)*w])
	}
	return dst
}

func (s *selector) decode(d *decoder) error {
	na := len(s.p.aggs)
	n := d.count(2 + na*11)
	if n > 0 && s.groups == nil {
		d.fail("groups in a query without aggregates")
	}
	if d.err != nil || n == 0 {
		return d.err
	}
	s.groups.reserve(n)
	s.states = make([]aggState, 0, n*na)
	if s.hasExt {
		s.exts = make([]*aggExt, 0, n*na)
	}
	for range n {
		key := d.bytes()
		count := d.varint()
		if d.err != nil {
			return d.err
		}
		g, added := s.groups.lookup(key, true)
		if !added {
			d.fail("duplicate group key")
			return d.err
		}
		s.groups.recs[g].count = count
		s.states = append(s.states, make([]aggState, na)...)
		if s.hasExt {
			s.exts = append(s.exts, make([]*aggExt, na)...)
		}
		if s.lastRowsOn() {
			s.lastRows = append(s.lastRows, make([]Value, len(s.p.items))...)
		}
		s.readStates(d, g)
	}
	return d.err
}

// readStates reads group g's aggregate states and last row (appendGroup after the count) into
// zeroed storage.
func (s *selector) readStates(d *decoder, g int) {
	na := len(s.p.aggs)
	for i := range na {
		sp, st := &s.p.aggs[i], &s.states[g*na+i]
		var xp **aggExt
		if s.hasExt {
			xp = &s.exts[g*na+i]
		}
		st.n = d.varint()
		if isum, fsum := d.varint(), d.f64(); !st.setFields(sp, xp, isum, fsum) {
			d.fail("aggregate %d of a group holds an integer sum %d and a float sum %g", i, isum, fsum)
			return
		}
		if m := d.count(1); m > 0 {
			if !sp.needsExt(s.p.noRemove) {
				d.fail("aggregate %d of a group holds %d values", i, m)
				return
			}
			x := ext(xp)
			x.dq = make([]Value, m)
			for j := range x.dq {
				x.dq[j] = d.value()
			}
		}
		if m := d.count(2); m > 0 {
			if !sp.needsExt(s.p.noRemove) {
				d.fail("aggregate %d of a group holds %d distinct values", i, m)
				return
			}
			x := ext(xp)
			x.distinct = make(map[string]int64, m)
			for j := 0; j < m && d.err == nil; j++ {
				k := d.str()
				x.distinct[k] = d.varint()
			}
		}
	}
	if s.lastRowsOn() {
		w := len(s.p.items)
		copy(s.lastRows[g*w:(g+1)*w], d.vals(s.q.plan.out))
	}
}

// encodeDelta writes the groups changed since the last revision: the group count, then each
// changed index with its group. Indexes at or past the count are gone.
func (s *selector) encodeDelta(dst []byte) []byte {
	n := s.groups.len()
	idx := s.groups.dirty.take(n)
	dst = binary.AppendUvarint(dst, uint64(n))
	dst = binary.AppendUvarint(dst, uint64(len(idx)))
	for _, g := range idx {
		dst = binary.AppendUvarint(dst, uint64(g))
		dst = s.appendGroup(dst, int(g))
	}
	return dst
}

// applyDelta reads encodeDelta's bytes onto the groups of the previous revision.
func (s *selector) applyDelta(d *decoder) error {
	if s.groups == nil {
		d.fail("group delta in a query without aggregates")
		return d.err
	}
	na, w := len(s.p.aggs), len(s.p.items)
	old := s.groups.len()
	n64 := d.uvarint()
	m := d.count(2 + na*11)
	if d.err == nil && n64 > uint64(old+m) {
		d.fail("group delta has %d groups from %d with %d changes", n64, old, m)
	}
	n := int(n64)
	idx := make([]int32, 0, m)
	keys := make([][]byte, 0, m)
	counts := make([]int64, 0, m)
	type span struct{ from, to int }
	bodies := make([]span, 0, m)
	full := d.b
	grown := 0
	for k := 0; k < m && d.err == nil; k++ {
		g := d.uvarint()
		if g >= uint64(n) || (k > 0 && int32(g) <= idx[k-1]) {
			d.fail("group delta index %d (groups %d)", g, n)
			break
		}
		if int(g) >= old {
			grown++
		}
		idx = append(idx, int32(g))
		keys = append(keys, d.bytes())
		counts = append(counts, d.varint())
		from := len(full) - len(d.b)
		s.skipStates(d)
		bodies = append(bodies, span{from, len(full) - len(d.b)})
	}
	if d.err == nil && n > old && grown != n-old {
		d.fail("group delta grows %d groups to %d but sets %d new ones", old, n, grown)
	}
	if d.err != nil {
		return d.err
	}
	if !s.groups.place(n, idx, keys) {
		d.fail("group delta gives two groups one key")
		return d.err
	}
	s.states = resizeSlots(s.states, n*na)
	if s.hasExt {
		s.exts = resizeSlots(s.exts, n*na)
	}
	if s.lastRowsOn() {
		s.lastRows = resizeSlots(s.lastRows, n*w)
	}
	for k, g := range idx {
		s.groups.recs[g].count = counts[k]
		clear(s.states[int(g)*na : (int(g)+1)*na])
		if s.hasExt {
			clear(s.exts[int(g)*na : (int(g)+1)*na])
		}
		sd := &decoder{b: full[bodies[k].from:bodies[k].to]}
		s.readStates(sd, int(g))
		if sd.err != nil {
			return sd.err
		}
	}
	return nil
}

// skipStates reads past one group's states, checking their framing.
func (s *selector) skipStates(d *decoder) {
	for range s.p.aggs {
		d.varint()
		d.varint()
		d.f64()
		for j, m := 0, d.count(1); j < m && d.err == nil; j++ {
			d.value()
		}
		for j, m := 0, d.count(2); j < m && d.err == nil; j++ {
			d.str()
			d.varint()
		}
	}
	if s.lastRowsOn() {
		d.vals(s.q.plan.out)
	}
}

func resizeSlots[T any](xs []T, n int) []T {
	if n <= len(xs) {
		clear(xs[n:])
		return xs[:n]
	}
	return append(xs, make([]T, n-len(xs))...)
}

// bound is the number of leading states whose captures a partial waiting at state next holds:
// those before it, and both sides of a logical element it waits at.
func (s *patternRT) bound(next int) int {
	if s.p.states[next].logic != 0 {
		return next + 2
	}
	return next
}

func (s *patternRT) encode(dst []byte) []byte {
	dst = appendBool(dst, s.started)
	dst = binary.AppendUvarint(dst, uint64(len(s.partials)))
	for _, pm := range s.partials {
		dst = binary.AppendUvarint(dst, uint64(pm.next))
		dst = binary.AppendVarint(dst, pm.start)
		if s.p.absent {
			dst = binary.AppendVarint(dst, pm.deadline)
		}
		if s.p.logicAbsent {
			dst = binary.AppendVarint(dst, pm.deadline2)
		}
		for j := 0; j < s.bound(pm.next); j++ {
			st := &s.p.states[j]
			switch {
			case st.quant != 0 || st.absent:
			case s.p.logic && s.p.paired(j): // a logical side may be unbound
				dst = appendBool(dst, pm.caps[j] != nil)
				if pm.caps[j] != nil {
					dst = appendVals(dst, pm.caps[j])
				}
			default:
				dst = appendVals(dst, pm.caps[j])
			}
		}
		for j, st := range s.p.states {
			if st.quant != 0 {
				dst = binary.AppendUvarint(dst, uint64(len(pm.lists[j])))
				for _, vs := range pm.lists[j] {
					dst = appendVals(dst, vs)
				}
			}
		}
	}
	if s.aggregates() { // only pattern queries with aggregates (count() as n) have this part
		dst = s.sel.encode(dst)
	}
	return dst
}

func (s *patternRT) decode(d *decoder) error {
	s.started = d.bool1()
	n := d.count(3)
	for i := 0; i < n && d.err == nil; i++ {
		next := d.uvarint()
		first := &s.p.states[0]
		if (next < 1 && first.quant == 0 && !first.absent && first.logic == 0) || next >= uint64(len(s.p.states)) ||
			(next > 0 && s.p.states[next-1].logic != 0) {
			d.fail("pattern partial at state %d", next)
			break
		}
		pm := s.newPartial(d.varint())
		pm.next = int(next)
		if s.p.absent {
			pm.deadline = d.varint()
		}
		if s.p.logicAbsent {
			pm.deadline2 = d.varint()
		}
		for j := 0; j < s.bound(pm.next); j++ {
			st := &s.p.states[j]
			switch {
			case st.quant != 0 || st.absent:
			case s.p.logic && s.p.paired(j):
				if d.bool1() {
					pm.caps[j] = d.vals(st.stream)
				}
			default:
				pm.caps[j] = d.vals(st.stream)
			}
		}
		for j, st := range s.p.states {
			if st.quant == 0 {
				continue
			}
			m := d.count(1)
			if m > 0 && (j > pm.next || st.maxed(m-1)) {
				d.fail("pattern state %d holds %d events", j, m)
			}
			for k := 0; k < m && d.err == nil; k++ {
				pm.lists[j] = append(pm.lists[j], d.vals(st.stream))
			}
		}
		s.partials = append(s.partials, pm)
	}
	if s.aggregates() && d.err == nil {
		s.sel.decode(d)
	}
	return d.err
}

func (l *limiter) encode(dst []byte) []byte {
	dst = binary.AppendVarint(dst, l.count)
	dst = appendBool(appendBool(dst, l.started), l.dirty)
	dst = binary.AppendVarint(dst, l.end)
	dst = binary.AppendUvarint(dst, uint64(len(l.held)))
	for _, h := range l.held {
		dst = append(dst, byte(h.kind))
		dst = binary.AppendVarint(dst, h.ts)
		dst = appendStr(dst, h.key)
		dst = appendVals(dst, h.vals)
	}
	keys := slices.Sorted(maps.Keys(l.seen))
	dst = binary.AppendUvarint(dst, uint64(len(keys)))
	for _, k := range keys {
		dst = appendStr(dst, k)
	}
	if l.perKey() { // only apps with 'output first every N events' and group by have this part
		keys = slices.Sorted(maps.Keys(l.seenN))
		dst = binary.AppendUvarint(dst, uint64(len(keys)))
		for _, k := range keys {
			dst = appendStr(dst, k)
			dst = binary.AppendVarint(dst, l.seenN[k])
		}
	}
	if l.p.snap == snapWindow { // only apps with output snapshot over a window without group-by aggregates
		dst = appendWevents(dst, l.track.live())
	}
	return dst
}

// decode reads a limiter encoded by encode; out is the schema of the query's output rows.
func (l *limiter) decode(d *decoder, out *StreamDef) error {
	l.count = d.varint()
	l.started, l.dirty = d.bool1(), d.bool1()
	l.end = d.varint()
	if l.count < 0 || (l.count > 0 && l.count >= l.p.events) || (l.dirty && l.p.kind != rateSnapshot) {
		d.fail("rate limiter count %d, dirty %v", l.count, l.dirty)
	}
	n := d.count(4)
	if n > 0 && l.p.kind != rateAll && l.p.kind != rateLast && (l.p.kind != rateSnapshot || l.p.snap != snapLast) {
		d.fail("%s rate limiter holds rows", rateNames[l.p.kind])
	}
	for i := 0; i < n && d.err == nil; i++ {
		var h heldRow
		h.kind = evKind(d.byte1())
		h.ts = d.varint()
		h.key = d.str()
		h.vals = d.vals(out)
		if h.kind > kExpired {
			d.fail("rate limiter row kind %d", h.kind)
		}
		l.checkKey(d, h.key)
		if l.p.kind == rateLast || l.p.kind == rateSnapshot {
			if _, dup := l.heldIdx[h.key]; dup {
				d.fail("rate limiter holds key %q twice", h.key)
			}
			l.heldIdx[h.key] = len(l.held)
		}
		l.held = append(l.held, h)
	}
	m := d.count(1)
	if m > 0 && l.p.kind != rateFirst {
		d.fail("%s rate limiter has released keys", rateNames[l.p.kind])
	}
	for i := 0; i < m && d.err == nil; i++ {
		k := d.str()
		l.checkKey(d, k)
		l.seen[k] = struct{}{}
	}
	if l.perKey() {
		if m > 0 || l.count != 0 {
			d.fail("per-key first rate limiter has a shared count")
		}
		m = d.count(2)
		for i := 0; i < m && d.err == nil; i++ {
			k := d.str()
			l.checkKey(d, k)
			n := d.varint()
			if _, dup := l.seenN[k]; dup || n < 1 || n >= l.p.events {
				d.fail("rate limiter key %q count %d", k, n)
			}
			l.seenN[k] = n
		}
	}
	if l.p.snap == snapWindow {
		l.track = fifo{items: d.wevents(l.p.in)}
	}
	return d.err
}

// checkKey checks a decoded group key: only keyed limiters have non-empty keys.
func (l *limiter) checkKey(d *decoder, key string) {
	if key != "" && !l.p.keyed {
		d.fail("rate limiter key %q without group by", key)
	}
}
