package engine

// Compiled query plans: immutable, shared by every Runtime of an App.

type queryPlan struct {
	idx    int
	name   string
	inputs []*StreamDef // streams the query listens to, each once
	out    *StreamDef
	outK   outKind

	// simple queries
	pre, post []evalFn
	win       *winPlan

	// pattern queries
	pat *patPlan

	sel *selPlan

	chunk *chunkPlan // nil without order by, limit and offset
	rate  *ratePlan  // nil without output rate limiting
}

type winKind uint8

const (
	winNone winKind = iota
	winLength
	winLengthBatch
	winTime
	winTimeBatch
	winExtTime
	winExtTimeBatch
)

type winPlan struct {
	kind   winKind
	length int
	dur    int64
	attr   int // timestamp attribute of externalTime windows
}

func (w *winPlan) batch() bool {
	return w != nil && (w.kind == winLengthBatch || w.kind == winTimeBatch || w.kind == winExtTimeBatch)
}

func (w *winPlan) timed() bool { return w != nil && (w.kind == winTime || w.kind == winTimeBatch) }

type selPlan struct {
	items    []evalFn
	aggs     []aggSpec
	groupBy  []evalFn
	having   evalFn
	noRemove bool // no window: aggregates never see removals
}

type patState struct {
	stream *StreamDef
	alias  string
	filter evalFn
	quant  byte // 0, '+', '*', '?'
}

func (s *patState) min() int {
	if s.quant == '+' || s.quant == 0 {
		return 1
	}
	return 0
}

func (s *patState) maxed(n int) bool { return (s.quant == '?' || s.quant == 0) && n >= 1 }

type patPlan struct {
	states   []patState
	sequence bool
	every    int
	within   int64
	quants   bool // some state has a quantifier
}

// chunkPlan is a query's order by / limit / offset, applied to each chunk of outputs (the rows
// the selector emits for one input event or one window timer).
type chunkPlan struct {
	order  []orderKey
	limit  int64 // -1 without 'limit'
	offset int64
}

type orderKey struct {
	col  int // index in the output row
	desc bool
}

// ratePlan is a query's output rate limiting ('output ... every ...').
type ratePlan struct {
	kind   rateKind
	events int64 // group size of event-count limiting; 0 when time based
	dur    int64 // period of time-based limiting (ms); 0 when event-count based
	keyed  bool  // first/last apply per group-by key
}

// timer reports whether the limiter releases outputs at period ends (time-based all, last and
// snapshot); time-based first releases on arrival and only needs the clock.
func (p *ratePlan) timer() bool { return p != nil && p.dur > 0 && p.kind != rateFirst }
