package engine

// Aggregate functions over a group: incremental add and remove, so sliding windows cost O(1)
// amortised per event (min/max keep a monotonic deque; removals are FIFO in every window).

type aggKind uint8

const (
	aggCount aggKind = iota + 1
	aggSum
	aggAvg
	aggMin
	aggMax
	aggDistinct
)

type aggSpec struct {
	kind       aggKind
	arg        evalFn // nil for count()
	argT, outT Type
}

func (s aggSpec) resultType() Type {
	switch s.kind {
	case aggSum:
		if s.argT == TypeInt || s.argT == TypeLong {
			return TypeLong
		}
		return TypeDouble
	case aggAvg:
		return TypeDouble
	case aggMin, aggMax:
		return s.argT
	}
	return TypeLong
}

// aggState is the running state of one aggregate in one group.
type aggState struct {
	n        int64 // values counted (non-null, or events for count())
	isum     int64
	fsum     float64
	dq       []Value // min/max candidates; dq[head:] is the live deque
	head     int
	distinct map[string]int64
}

// better reports whether a should displace b at the back of the deque.
func (s *aggSpec) better(a, b Value) bool {
	c := compareValues(a, b)
	if s.kind == aggMin {
		return c < 0
	}
	return c > 0
}

func (st *aggState) add(s *aggSpec, v Value, noRemove bool, buf []byte) []byte {
	if s.arg == nil {
		st.n++
		return buf
	}
	if v.IsNull() {
		return buf
	}
	st.n++
	switch s.kind {
	case aggSum, aggAvg:
		if v.t == TypeInt || v.t == TypeLong {
			st.isum += int64(v.n)
		} else {
			st.fsum += v.Double()
		}
	case aggMin, aggMax:
		if noRemove {
			if len(st.dq) == 0 {
				st.dq = append(st.dq, v)
			} else if s.better(v, st.dq[0]) {
				st.dq[0] = v
			}
			return buf
		}
		for len(st.dq) > st.head && s.better(v, st.dq[len(st.dq)-1]) {
			st.dq = st.dq[:len(st.dq)-1]
		}
		st.dq = append(st.dq, v)
	case aggDistinct:
		buf = appendValue(buf[:0], v)
		if st.distinct == nil {
			st.distinct = make(map[string]int64)
		}
		st.distinct[string(buf)]++
	}
	return buf
}

func (st *aggState) remove(s *aggSpec, v Value, buf []byte) []byte {
	if s.arg == nil {
		st.n--
		return buf
	}
	if v.IsNull() {
		return buf
	}
	st.n--
	switch s.kind {
	case aggSum, aggAvg:
		if v.t == TypeInt || v.t == TypeLong {
			st.isum -= int64(v.n)
		} else {
			st.fsum -= v.Double()
		}
		if st.n == 0 {
			st.isum, st.fsum = 0, 0
		}
	case aggMin, aggMax:
		if st.head < len(st.dq) && compareValues(st.dq[st.head], v) == 0 {
			st.dq[st.head] = Value{}
			st.head++
			if st.head == len(st.dq) {
				st.dq, st.head = st.dq[:0], 0
			} else if st.head > 32 && st.head*2 > len(st.dq) {
				n := copy(st.dq, st.dq[st.head:])
				st.dq, st.head = st.dq[:n], 0
			}
		}
	case aggDistinct:
		buf = appendValue(buf[:0], v)
		if c := st.distinct[string(buf)]; c <= 1 {
			delete(st.distinct, string(buf))
		} else {
			st.distinct[string(buf)] = c - 1
		}
	}
	return buf
}

func (st *aggState) value(s *aggSpec) Value {
	switch s.kind {
	case aggCount:
		return LongValue(st.n)
	case aggDistinct:
		return LongValue(int64(len(st.distinct)))
	}
	if st.n == 0 {
		return Value{}
	}
	switch s.kind {
	case aggSum:
		if s.outT == TypeLong {
			return LongValue(st.isum)
		}
		return DoubleValue(st.fsum)
	case aggAvg:
		if s.argT == TypeInt || s.argT == TypeLong {
			return DoubleValue(float64(st.isum) / float64(st.n))
		}
		return DoubleValue(st.fsum / float64(st.n))
	case aggMin, aggMax:
		if st.head < len(st.dq) {
			return st.dq[st.head]
		}
	}
	return Value{}
}
