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

	// join queries
	join *joinPlan

	sel *selPlan

	chunk *chunkPlan // nil without order by, limit and offset
	rate  *ratePlan  // nil without output rate limiting
	tbl   *tablePlan // nil unless the query writes a table (out is then the select's schema)
	part  *partPlan  // the partition holding the query; nil outside partitions
	partQ int        // the query's index in part.queries

	// cyclic: the query's output leads back to its input; its outputs reach the queries reading
	// them after the current event (Runtime.pending), not nested in its own processing
	cyclic bool
}

// expires reports whether the selector may see expired events (a window on the input or on a
// join side, or a join outputting expired events, which a windowless side emits for each
// arrival); without, aggregates never see removals.
func (p *queryPlan) expires() bool {
	return p.win != nil || (p.join != nil && (p.join.sides[0].win != nil || p.join.sides[1].win != nil || p.outK != outCurrent))
}

// joinPlan is a stream-stream join. The joined row the selector sees holds the left side's
// attributes, then the right side's (nulls for the missing side of an outer join's row).
type joinPlan struct {
	sides [2]joinSide // left, right
	on    evalFn      // over the pair's events in f.refs; nil without 'on' (every pair matches)
	width int
}

type joinSide struct {
	def     *StreamDef
	pre     []evalFn // the side's filters, over its own event
	win     *winPlan // nil: the side's events only trigger, they are not retained
	off     int      // index of the side's first attribute in the joined row
	trigger bool     // the side's arrivals and expiries probe the other side's window
	outer   bool     // a probe of this side that matches nothing emits a row with nulls
	table   bool     // def is a table: its rows are probed in insertion order, it never triggers
}

// timed reports whether a side has a window driven by the clock.
func (p *joinPlan) timed() bool { return p.sides[0].win.timed() || p.sides[1].win.timed() }

type winKind uint8

const (
	winNone winKind = iota
	winLength
	winLengthBatch
	winTime
	winTimeBatch
	winExtTime
	winExtTimeBatch
	winTimeLength
	winSort
	winFrequent
	winLossyFrequent
	winExpression
	winExpressionBatch
)

type winPlan struct {
	kind   winKind
	length int
	dur    int64
	attr   int // timestamp attribute of externalTime windows
	// batch windows' options
	stream    bool  // lengthBatch/timeBatch: events are current on arrival, expired at the flush
	start     int64 // timeBatch/externalTimeBatch start time (externalTimeBatch: -1 for none)
	hasStart  bool  // timeBatch has a start time
	startAttr int   // externalTimeBatch: the attribute whose first value is the start time (-1: none)
	timeout   int64 // externalTimeBatch: flush after this much logical time without an event (0: never)
	replaceTs bool  // externalTimeBatch: flushed events carry the batch end as their timestamp
	// sort, frequent and lossyFrequent
	sortKeys []sortKey
	keys     []int   // attributes keyed by frequent/lossyFrequent (none: all)
	support  float64 // lossyFrequent
	errBound float64 // lossyFrequent
	// expression
	exprSrc     string     // the fixed condition ("" when read from attr)
	def         *StreamDef // the window's stream (expression conditions compile against it)
	include     bool       // expressionBatch: the triggering event ends the batch it fails
	includeAttr int        // expressionBatch: the bool attribute saying so (-1: include)
}

func (w *winPlan) timed() bool {
	return w != nil && (w.kind == winTime || w.kind == winTimeBatch || w.kind == winTimeLength ||
		(w.kind == winExtTimeBatch && w.timeout > 0))
}

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
	quant  byte  // 0, '+', '*', '?', or '<' for a counting element (e2=B<2:5>)
	lo, hi int   // bounds of a counting element; hi is -1 without a maximum
	absent bool  // "not S[..] for <wait>": the partial waits wait ms without a matching event
	wait   int64 // absent states only
	every  bool  // absent states only: "every not S for T" repeats the wait after each one passes
	logic  byte  // '&' or '|': this state and the next are one logical element (and / or)
}

// min is the number of events the state needs before the next state may match.
func (s *patState) min() int {
	switch s.quant {
	case '<':
		return s.lo
	case '+', 0:
		return 1
	}
	return 0
}

// maxed reports whether a state holding n events takes no more.
func (s *patState) maxed(n int) bool {
	switch s.quant {
	case '<':
		return s.hi >= 0 && n >= s.hi
	case '?', 0:
		return n >= 1
	}
	return false
}

type patPlan struct {
	states   []patState
	sequence bool
	every    int
	// grpLo..grpHi: the states of an 'every' group that is not the whole pattern (grpHi -1:
	// none). A match passing the group's last state leaves, when grpLo > 0, a copy of itself
	// waiting at grpLo again (its events from grpLo on dropped); with everyGroup (grpLo 0) a
	// match starts only while none waits inside the group.
	grpLo, grpHi int
	within       int64
	quants       bool // some state has a quantifier
	absent       bool // some state is absent: partials have deadlines (in snapshots too)
	logic        bool // some states form logical pairs: their slots may be empty (in snapshots too)
	// logicAbsent: a logical pair has an absent side; partials have a second deadline (in
	// snapshots too)
	logicAbsent bool
}

// quantAbsent reports whether state i is a quantified element followed by a lone absent one
// ("e1=A+, not B for T", sequences only): the absence's wait runs from its last event.
func (p *patPlan) quantAbsent(i int) bool {
	return p.states[i].quant != 0 && i+1 < len(p.states) && p.states[i+1].absent && p.states[i+1].logic == 0
}

// absentPair reports whether the logical pair starting at state i has an absent side.
func (p *patPlan) absentPair(i int) bool {
	return p.states[i].logic != 0 && (p.states[i].absent || p.states[i+1].absent)
}

// armed reports whether the pattern starts waiting at its first input rather than at a
// matching event: its first element is absent, or a logical one with an absent side.
func (p *patPlan) armed() bool {
	return p.states[0].absent || p.absentPair(0)
}

// paired reports whether state j belongs to a logical pair (and / or).
func (p *patPlan) paired(j int) bool {
	return p.states[j].logic != 0 || (j > 0 && p.states[j-1].logic != 0)
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
	keyed  bool  // first/last apply per group-by key; snapshot (snapLast): the last row per key
	snap   snapMode
	in     *StreamDef // snapWindow: the schema of the tracked window events
}

// snapMode is what 'output snapshot' emits at a period end, chosen as Siddhi chooses its
// snapshot rate limiter from the query's window, group by and aggregates.
type snapMode uint8

const (
	// snapGroups: the last row of each aggregate group (no window, or a window with group by
	// and aggregates, or a window and only aggregates in select).
	snapGroups snapMode = iota
	// snapLast: the last row the query emitted, per group-by key (no window, no aggregates).
	snapLast
	// snapWindow: every event in the window, selected with the current aggregates (a window
	// without aggregates, or with some aggregates and no group by).
	snapWindow
)

// timer reports whether the limiter releases outputs at period ends (time-based all, last and
// snapshot); time-based first releases on arrival and only needs the clock.
func (p *ratePlan) timer() bool { return p != nil && p.dur > 0 && p.kind != rateFirst }
