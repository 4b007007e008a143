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

// needsExt reports whether the aggregate keeps an aggExt per group: windowed min/max and
// distinctCount; every other aggregate's state is its aggState alone.
func (s *aggSpec) needsExt(noRemove bool) bool {
	return s.kind == aggDistinct || s.kind == aggStdDev || ((s.kind == aggMin || s.kind == aggMax) && !noRemove)
}

// intAcc reports whether acc holds an int64 (int or long argument) rather than float64 bits
// for sum, avg and min/max; and/or always count in it, stdDev keeps its mean there.
func (s *aggSpec) intAcc() bool { return s.argT == TypeInt || s.argT == TypeLong }

// aggState is the running state of one aggregate in one group: 16 bytes and no pointer, so
// millions of groups cost little and the collector nothing to scan. The argument's static type
// tells how acc reads (intAcc).
type aggState struct {
	n   int64  // values counted (non-null, or events for count())
	acc uint64 // sum, mean (stdDev), count of true values (and/or), or the extreme of min/max
}

func (st *aggState) isum() int64    { return int64(st.acc) }
func (st *aggState) fsum() float64  { return math.Float64frombits(st.acc) }
func (st *aggState) setI(v int64)   { st.acc = uint64(v) }
func (st *aggState) setF(v float64) { st.acc = math.Float64bits(v) }
func (st *aggState) reset()         { st.acc = 0 }

// aggExt is the rarely needed, pointer-heavy part of an aggregate's state, kept beside the
// states only by selectors with an aggregate that needsExt.
type aggExt struct {
	dq       []Value // min/max candidates; dq[head:] is the live deque
	head     int
	distinct map[string]int64
	m2       float64 // stdDev: the sum of squared deviations from the mean (Welford)
}

// ext returns the aggExt in slot xp, creating it.
func ext(xp **aggExt) *aggExt {
	if *xp == nil {
		*xp = &aggExt{}
	}
	return *xp
}

// better reports whether a should displace b at the back of the deque.
func (s *aggSpec) better(a, b Value) bool {
	c := compareValues(a, b)
	if s.kind == aggMin || s.kind == aggMinForever {
		return c < 0
	}
	return c > 0
}

// add adds v; xp is the group's aggExt slot when s needsExt (else nil).
func (st *aggState) add(s *aggSpec, xp **aggExt, v Value, noRemove bool, buf []byte) []byte {
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
		if s.intAcc() {
			st.setI(st.isum() + int64(v.n))
		} else {
			st.setF(st.fsum() + v.Double())
		}
	case aggStdDev:
		// Welford's update, reversible for removals
		e, f := ext(xp), v.Double()
		d := f - st.fsum()
		st.setF(st.fsum() + d/float64(st.n))
		e.m2 += d * (f - st.fsum())
	case aggAnd, aggOr:
		if v.Bool() {
			st.setI(st.isum() + 1)
		}
	case aggMin, aggMax, aggMaxForever, aggMinForever:
		if noRemove || s.kind == aggMaxForever || s.kind == aggMinForever {
			if st.n == 1 || s.better(v, st.best(s)) {
				if s.intAcc() {
					st.setI(int64(v.n))
				} else {
					st.setF(v.Double())
				}
			}
			return buf
		}
		x := ext(xp)
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
		x := ext(xp)
		if x.distinct == nil {
			x.distinct = make(map[string]int64)
		}
		x.distinct[string(buf)]++
	}
	return buf
}

// remove takes v out (xp as for add).
func (st *aggState) remove(s *aggSpec, xp **aggExt, v Value, buf []byte) []byte {
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
		if s.intAcc() {
			st.setI(st.isum() - int64(v.n))
		} else {
			st.setF(st.fsum() - v.Double())
		}
		if st.n == 0 {
			st.reset()
		}
	case aggStdDev:
		e := ext(xp)
		if st.n == 0 {
			st.reset()
			e.m2 = 0
			break
		}
		f := v.Double()
		d := f - st.fsum()
		st.setF(st.fsum() - d/float64(st.n))
		e.m2 = max(e.m2-d*(f-st.fsum()), 0)
	case aggAnd, aggOr:
		if v.Bool() {
			st.setI(st.isum() - 1)
		}
	case aggMin, aggMax:
		x := ext(xp)
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
		x := ext(xp)
		if c := x.distinct[string(buf)]; c <= 1 {
			delete(x.distinct, string(buf))
		} else {
			x.distinct[string(buf)] = c - 1
		}
	}
	return buf
}

// value is the aggregate's result; x is the group's aggExt (nil when none).
func (st *aggState) value(s *aggSpec, x *aggExt) Value {
	switch s.kind {
	case aggCount:
		return LongValue(st.n)
	case aggDistinct:
		if x == nil {
			return LongValue(0)
		}
		return LongValue(int64(len(x.distinct)))
	}
	if st.n == 0 {
		return Value{}
	}
	switch s.kind {
	case aggSum:
		if s.outT == TypeLong {
			return LongValue(st.isum())
		}
		return DoubleValue(st.fsum())
	case aggAvg:
		if s.intAcc() {
			return DoubleValue(float64(st.isum()) / float64(st.n))
		}
		return DoubleValue(st.fsum() / float64(st.n))
	case aggStdDev:
		var m2 float64
		if x != nil {
			m2 = x.m2
		}
		return DoubleValue(math.Sqrt(max(m2/float64(st.n), 0)))
	case aggAnd:
		return BoolValue(st.isum() == st.n)
	case aggOr:
		return BoolValue(st.isum() > 0)
	case aggMaxForever, aggMinForever:
		return st.best(s)
	case aggMin, aggMax:
		if x == nil {
			return st.best(s)
		}
		if s.anyOrder {
			return x.extreme(s)
		}
		if x.head < len(x.dq) {
			return x.dq[x.head]
		}
	}
	return Value{}
}

// fields are the state's two sums as the snapshot layout keeps them: an integer one and a float
// one (stdDev: the bits of its m2, and its mean); x is the group's aggExt (nil when none).
func (st *aggState) fields(s *aggSpec, x *aggExt) (isum int64, fsum float64) {
	switch {
	case s.kind == aggStdDev:
		if x != nil {
			isum = int64(math.Float64bits(x.m2))
		}
		return isum, st.fsum()
	case s.kind == aggAnd || s.kind == aggOr || s.intAcc():
		return st.isum(), 0
	}
	return 0, st.fsum()
}

// setFields restores the state from fields' values; false when a sum the aggregate does not
// keep is not zero (a corrupt snapshot).
func (st *aggState) setFields(s *aggSpec, xp **aggExt, isum int64, fsum float64) bool {
	switch {
	case s.kind == aggStdDev:
		st.setF(fsum)
		if isum != 0 {
			ext(xp).m2 = math.Float64frombits(uint64(isum))
		}
		return true
	case s.kind == aggAnd || s.kind == aggOr || s.intAcc():
		st.setI(isum)
		return math.Float64bits(fsum) == 0
	}
	st.setF(fsum)
	return isum == 0
}

// best returns the extreme kept in acc by min/max without removals.
func (st *aggState) best(s *aggSpec) Value {
	switch s.argT {
	case TypeInt:
		return IntValue(int32(st.isum()))
	case TypeLong:
		return LongValue(st.isum())
	case TypeFloat:
		return FloatValue(float32(st.fsum()))
	}
	return DoubleValue(st.fsum())
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
