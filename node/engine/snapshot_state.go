package engine

import (
	"encoding/binary"
	"math"
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
	if len(w.cur) >= w.n {
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
	return appendWevents(appendWevents(dst, w.cur), w.prev)
}
func (w *extBatchWin) decode(d *decoder, def *StreamDef) error {
	w.started, w.end = d.bool1(), d.varint()
	w.cur, w.prev = d.wevents(def), d.wevents(def)
	return d.err
}

func appendGroup(dst []byte, g *group) []byte {
	dst = appendStr(dst, g.key)
	dst = binary.AppendVarint(dst, g.count)
	for i := range g.aggs {
		st := &g.aggs[i]
		dst = binary.AppendVarint(dst, st.n)
		dst = binary.AppendVarint(dst, st.isum)
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(st.fsum))
		live := st.dq[st.head:]
		dst = binary.AppendUvarint(dst, uint64(len(live)))
		dst = AppendValues(dst, live)
		dst = binary.AppendUvarint(dst, uint64(len(st.distinct)))
		for k, c := range st.distinct {
			dst = appendStr(dst, k)
			dst = binary.AppendVarint(dst, c)
		}
	}
	return dst
}

func (s *selector) encode(dst []byte) []byte {
	dst = appendBool(dst, s.single != nil)
	if s.single != nil {
		dst = appendGroup(dst, s.single)
	}
	dst = binary.AppendUvarint(dst, uint64(len(s.groups)))
	for _, g := range s.groups {
		dst = appendGroup(dst, g)
	}
	return dst
}

// decodeGroup fills g (whose aggs slice is preallocated) from the snapshot.
func (s *selector) decodeGroup(d *decoder, g *group) {
	g.key = d.str()
	g.count = d.varint()
	for i := range g.aggs {
		st := &g.aggs[i]
		st.n, st.isum, st.fsum = d.varint(), d.varint(), d.f64()
		if n := d.count(1); n > 0 {
			st.dq = make([]Value, n)
			for j := range st.dq {
				st.dq[j] = d.value()
			}
		}
		if n := d.count(2); n > 0 {
			st.distinct = make(map[string]int64, n)
			for j := 0; j < n && d.err == nil; j++ {
				k := d.str()
				st.distinct[k] = d.varint()
			}
		}
	}
}

func (s *selector) decode(d *decoder) error {
	na := len(s.p.aggs)
	if d.bool1() {
		if s.groups != nil {
			d.fail("single group in a query with group by")
			return d.err
		}
		s.single = s.newGroup("")
		s.decodeGroup(d, s.single)
	}
	n := d.count(2 + na*11)
	if n > 0 && s.groups == nil {
		d.fail("groups in a query without group by")
	}
	if d.err != nil || s.groups == nil {
		return d.err
	}
	gs := make([]group, n)
	states := make([]aggState, n*na)
	s.groups = make(map[string]*group, n)
	for i := 0; i < n && d.err == nil; i++ {
		g := &gs[i]
		g.aggs = states[i*na : (i+1)*na : (i+1)*na]
		s.decodeGroup(d, g)
		s.groups[g.key] = g
	}
	return d.err
}

func (s *patternRT) encode(dst []byte) []byte {
	dst = appendBool(dst, s.started)
	dst = binary.AppendUvarint(dst, uint64(len(s.partials)))
	for _, pm := range s.partials {
		dst = binary.AppendUvarint(dst, uint64(pm.next))
		dst = binary.AppendVarint(dst, pm.start)
		for j := 0; j < pm.next; j++ {
			dst = appendVals(dst, pm.caps[j])
		}
	}
	return dst
}

func (s *patternRT) decode(d *decoder) error {
	s.started = d.bool1()
	n := d.count(3)
	for i := 0; i < n && d.err == nil; i++ {
		next := d.uvarint()
		if next < 1 || next >= uint64(len(s.p.states)) {
			d.fail("pattern partial at state %d", next)
			break
		}
		pm := &partial{next: int(next), start: d.varint(), caps: make([][]Value, len(s.p.states))}
		for j := 0; j < pm.next; j++ {
			pm.caps[j] = d.vals(s.p.states[j].stream)
		}
		s.partials = append(s.partials, pm)
	}
	return d.err
}
