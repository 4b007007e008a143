package engine

import "math"

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
	aggStdDev     // population standard deviation; fsum is the mean, isum the bits of M2
	aggMaxForever // the extreme of every value ever added; removals are ignored
	aggMinForever
	aggAnd // isum counts the true values
	aggOr
)

type aggSpec struct {
	kind       aggKind
	arg        evalFn // nil for count()
	argT, outT Type
	anyOrder   bool // removals may come in any order (joins): min/max keep every value
}

func (s aggSpec) resultType() Type {
	switch s.kind {
	case aggSum:
		if s.argT == TypeInt || s.argT == TypeLong {
			return TypeLong
		}
		return TypeDouble
	case aggAvg, aggStdDev:
		return TypeDouble
	case aggMin, aggMax, aggMaxForever, aggMinForever:
		return s.argT
	case aggAnd, aggOr:
		return TypeBool
	}
	return TypeLong
}

// aggState is the running state of one aggregate in one group.
type aggState struct {
	n    int64 // values counted (non-null, or events for count())
	isum int64
	fsum float64 // sum; for min/max without removals (no window), isum or fsum holds the extreme
	x    *aggExt // only for windowed min/max and distinctCount
}

// aggExt is the rarely needed, pointer-heavy part of an aggregate's state.
type aggExt struct {
	dq       []Value // min/max candidates; dq[head:] is the live deque
	head     int
	distinct map[string]int64
}

func (st *aggState) ext() *aggExt {
	if st.x == nil {
		st.x = &aggExt{}
	}
	return st.x
}

// better reports whether a should displace b at the back of the deque.
func (s *aggSpec) better(a, b Value) bool {
	c := compareValues(a, b)
	if s.kind == aggMin || s.kind == aggMinForever {
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
	case aggStdDev:
		// Welford's update, reversible for removals
		x := v.Double()
		m2 := math.Float64frombits(uint64(st.isum))
		d := x - st.fsum
		st.fsum += d / float64(st.n)
		st.isum = int64(math.Float64bits(m2 + d*(x-st.fsum)))
	case aggAnd, aggOr:
		if v.Bool() {
			st.isum++
		}
	case aggMin, aggMax, aggMaxForever, aggMinForever:
		if noRemove || s.kind == aggMaxForever || s.kind == aggMinForever {
			if st.n == 1 || s.better(v, st.best(s)) {
				if v.t == TypeInt || v.t == TypeLong {
					st.isum = int64(v.n)
				} else {
					st.fsum = v.Double()
				}
			}
			return buf
		}
		x := st.ext()
		if s.anyOrder {
			x.dq = append(x.dq, v) // a multiset: value scans it
			return buf
		}
		for len(x.dq) > x.head && s.better(v, x.dq[len(x.dq)-1]) {
			x.dq = x.dq[:len(x.dq)-1]
		}
		x.dq = append(x.dq, v)
	case aggDistinct:
		buf = appendValue(buf[:0], v)
		x := st.ext()
		if x.distinct == nil {
			x.distinct = make(map[string]int64)
		}
		x.distinct[string(buf)]++
	}
	return buf
}

func (st *aggState) remove(s *aggSpec, v Value, buf []byte) []byte {
	if s.kind == aggMaxForever || s.kind == aggMinForever {
		return buf // the extreme of every value ever seen: a removal does not change it
	}
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
	case aggStdDev:
		if st.n == 0 {
			st.isum, st.fsum = 0, 0
			break
		}
		x := v.Double()
		m2 := math.Float64frombits(uint64(st.isum))
		d := x - st.fsum
		st.fsum -= d / float64(st.n)
		st.isum = int64(math.Float64bits(max(m2-d*(x-st.fsum), 0)))
	case aggAnd, aggOr:
		if v.Bool() {
			st.isum--
		}
	case aggMin, aggMax:
		x := st.ext()
		if s.anyOrder {
			x.removeAny(v)
			return buf
		}
		if x.head < len(x.dq) && compareValues(x.dq[x.head], v) == 0 {
			x.dq[x.head] = Value{}
			x.head++
			if x.head == len(x.dq) {
				x.dq, x.head = x.dq[:0], 0
			} else if x.head > 32 && x.head*2 > len(x.dq) {
				n := copy(x.dq, x.dq[x.head:])
				clear(x.dq[n:])
				x.dq, x.head = x.dq[:n], 0
			}
		}
	case aggDistinct:
		buf = appendValue(buf[:0], v)
		x := st.ext()
		if c := x.distinct[string(buf)]; c <= 1 {
			delete(x.distinct, string(buf))
		} else {
			x.distinct[string(buf)] = c - 1
		}
	}
	return buf
}

func (st *aggState) value(s *aggSpec) Value {
	switch s.kind {
	case aggCount:
		return LongValue(st.n)
	case aggDistinct:
		if st.x == nil {
			return LongValue(0)
		}
		return LongValue(int64(len(st.x.distinct)))
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
	case aggStdDev:
		return DoubleValue(math.Sqrt(max(math.Float64frombits(uint64(st.isum))/float64(st.n), 0)))
	case aggAnd:
		return BoolValue(st.isum == st.n)
	case aggOr:
		return BoolValue(st.isum > 0)
	case aggMaxForever, aggMinForever:
		return st.best(s)
	case aggMin, aggMax:
		if st.x == nil {
			return st.best(s)
		}
		if s.anyOrder {
			return st.x.extreme(s)
		}
		if st.x.head < len(st.x.dq) {
			return st.x.dq[st.x.head]
		}
	}
	return Value{}
}

// best returns the extreme kept in isum/fsum by min/max without removals.
func (st *aggState) best(s *aggSpec) Value {
	switch s.argT {
	case TypeInt:
		return IntValue(int32(st.isum))
	case TypeLong:
		return LongValue(st.isum)
	case TypeFloat:
		return FloatValue(float32(st.fsum))
	}
	return DoubleValue(st.fsum)
}

// removeAny removes one value equal to v from the multiset dq of an anyOrder min/max (the
// last value takes its place).
func (x *aggExt) removeAny(v Value) {
	for i := x.head; i < len(x.dq); i++ {
		if compareValues(x.dq[i], v) == 0 {
			last := len(x.dq) - 1
			x.dq[i] = x.dq[last]
			x.dq[last] = Value{}
			x.dq = x.dq[:last]
			return
		}
	}
}

// extreme is the min or max of the multiset dq of an anyOrder min/max (null when empty).
func (x *aggExt) extreme(s *aggSpec) Value {
	var best Value
	for i, v := range x.dq[x.head:] {
		if i == 0 || s.better(v, best) {
			best = v
		}
	}
	return best
}
