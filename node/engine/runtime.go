package engine

import (
	"errors"
	"fmt"
	"math"
	"strconv"
)

// ErrApplied is returned by Apply for an input whose seq is not above LastSeq: a caller replaying
// a queue after a restore skips it.
var ErrApplied = errors.New("input already applied")

// ErrInput reports an input that does not fit the app (unknown or non-input stream, bad values).
var ErrInput = errors.New("invalid input")

type evKind uint8

const (
	kCurrent evKind = iota
	kExpired
	kReset
)

type event struct {
	ts   int64
	vals []Value
}

type streamRT struct {
	def  *StreamDef
	subs []*queryRT
}

// Runtime runs one App over an ordered input log, single-threaded; all time is logical.
type Runtime struct {
	app     *App
	lastSeq uint64
	clock   int64
	streams map[string]*streamRT
	queries []*queryRT
	timed   []*queryRT  // queries with time windows
	limited []*queryRT  // queries with timer-driven output rate limiting
	absent  []*queryRT  // pattern queries with absent elements
	tables  []*tableRT  // in App.tables order
	part    *partitions // nil without partitions

	emit       func(*Output)
	seq        uint64
	out        Output
	idBuf      []byte
	slab       []Value
	snapHint   int    // size of the last snapshot, to size the next buffer
	snapGroups int    // group-by keys at the last full snapshot: new ones since add to the next one
	revID      uint64 // identity of the last revision taken or restored (0: none)
	revSeq     uint64 // its input sequence (Rebase's lower bound)
	moved      bool   // inputs were applied since revision revID
	inEv       event  // the input being dispatched (a field, so it is not allocated per input)

	// Outputs of queries on a cycle, delivered in order once the event being processed is done
	// (see drain). Always empty between inputs, so never in snapshots.
	pending  []pendingEv
	depth    int  // nesting of dispatch calls
	draining bool // drain is running
	cycled   int  // pending outputs delivered for the current input
}

// pendingEv is an output of a query on a cycle, waiting for delivery to its stream's readers.
type pendingEv struct {
	st *streamRT
	ev event
}

// maxCycleEvents bounds the outputs of queries on a cycle delivered for one input (a cycle
// whose filters never stop it would otherwise run forever; Siddhi overflows its stack). Past
// it, the remaining ones are dropped, the same way on every replay.
const maxCycleEvents = 100000

// NewRuntime creates a Runtime with empty state, LastSeq 0 and the clock unset.
func NewRuntime(a *App) *Runtime {
	r := &Runtime{app: a, clock: math.MinInt64, streams: make(map[string]*streamRT, len(a.streams))}
	for _, s := range a.streams {
		r.streams[s.Name] = &streamRT{def: s}
	}
	var tables map[string]*tableRT
	for _, t := range a.tables {
		if tables == nil {
			tables = make(map[string]*tableRT, len(a.tables))
		}
		tables[t.Name] = newTableRT(t)
		r.tables = append(r.tables, tables[t.Name])
	}
	for _, p := range a.queries {
		if p.part != nil {
			r.subscribePartition(p)
			continue
		}
		q := r.newQuery(p, tables, r.streams[p.out.Name], false)
		for _, in := range p.inputs {
			st := r.streams[in.Name]
			st.subs = append(st.subs, q)
		}
		r.queries = append(r.queries, q)
	}
	return r
}

// newQuery creates the runtime state of query p writing to the stream out (unless it writes a
// table) and registers its timers; the caller subscribes it to its inputs. The window and rate
// limiter timers and absent waits of a partition instance (inst) are kept by its partition
// (partition.go).
func (r *Runtime) newQuery(p *queryPlan, tables map[string]*tableRT, out *streamRT, inst bool) *queryRT {
	q := &queryRT{plan: p, outRT: out}
	if !inst { // instances share their query's prefix (partition.go)
		q.prefix = r.app.name + "/" + p.name + "/"
	}
	q.f.ev = nil
	if p.tbl != nil {
		q.tbl, q.outRT = tables[p.tbl.def.Name], &streamRT{def: p.out}
	}
	r.initQuery(q, tables, inst)
	if !inst {
		switch {
		case p.pat != nil:
			if p.pat.absent {
				r.absent = append(r.absent, q)
			}
		case p.join != nil:
			if p.join.timed() {
				r.timed = append(r.timed, q)
			}
		default:
			if p.win.timed() {
				r.timed = append(r.timed, q)
			}
		}
		if p.rate.timer() {
			r.limited = append(r.limited, q)
		}
	}
	return q
}

// initQuery gives q empty operator state: its window, pattern or join, selector and output
// stage (newQuery registers the timers). Restoring a delta's full section of a query starts
// from here too.
func (r *Runtime) initQuery(q *queryRT, tables map[string]*tableRT, inst bool) {
	p := q.plan
	q.win, q.pat, q.join, q.multi = nil, nil, nil, nil
	switch {
	case p.pat != nil:
		q.pat = newPatternRT(p.pat)
		q.multi = q.pat
	case p.join != nil:
		q.join = newJoinRT(p.join, p.outK, tables)
		q.multi, q.win = q.join, q.join
	default:
		q.win = newWindow(p.win, p.outK)
	}
	q.f.tabs = r.tables // filters may test "<condition> in Table"
	if q.join != nil {
		q.join.f.tabs = r.tables
	}
	q.sel = newSelector(p, q)
	q.sel.f.tabs = r.tables
	if q.pat != nil {
		q.pat.sel = q.sel // aggregates over the matches
	}
	if !inst { // a partition's instances share their query's generator (partition.go)
		q.sel.f.gen = &uuidGen{r: r, prefix: q.prefix}
	}
	if q.stage = newOutStage(p); q.stage != nil && q.stage.snapshot() {
		q.sel.snap = q.stage.lim
	}
}

// App returns the app this runtime runs.
func (r *Runtime) App() *App { return r.app }

// LastSeq is the sequence number of the last applied input (0 before any).
func (r *Runtime) LastSeq() uint64 { return r.lastSeq }

// Clock is the logical time: the highest event or tick timestamp seen (MinInt64 before any).
func (r *Runtime) Clock() int64 { return r.clock }

// Apply processes one input: it advances the clock to in.TS (firing due window timers), then
// routes the event. Outputs go to emit (which may be nil); an Output is valid only during the call.
// An input with Seq <= LastSeq returns ErrApplied; an invalid input changes nothing.
func (r *Runtime) Apply(in Input, emit func(*Output)) error {
	if in.Seq <= r.lastSeq {
		return fmt.Errorf("apply seq %d (last applied %d): %w", in.Seq, r.lastSeq, ErrApplied)
	}
	var st *streamRT
	if in.Stream != "" {
		st = r.streams[in.Stream]
		if st == nil {
			return fmt.Errorf("apply seq %d: unknown stream %q: %w", in.Seq, in.Stream, ErrInput)
		}
		if !st.def.Defined {
			return fmt.Errorf("apply seq %d: stream %s is not an input ('define stream'): %w", in.Seq, in.Stream, ErrInput)
		}
		if err := st.def.CheckValues(in.Data); err != nil {
			return fmt.Errorf("apply seq %d: %w: %w", in.Seq, ErrInput, err)
		}
	}
	r.emit, r.seq = emit, in.Seq
	r.cycled = 0
	r.advanceTo(in.TS)
	if st != nil {
		r.inEv = event{ts: in.TS, vals: in.Data}
		r.dispatch(st, &r.inEv)
		r.inEv = event{}
	}
	r.lastSeq = in.Seq
	r.moved = true
	r.emit = nil
	return nil
}

// advance moves the clock to ts, firing timers in deadline order; at equal deadlines output
// rate limiter periods end first, then window timers fire, then absent pattern elements, each
// kind in query order. Patterns starting with an absent element are armed at the first input.
func (r *Runtime) advance(ts int64) {
	for _, q := range r.limited {
		q.stage.lim.fires, q.stage.lim.until = 0, ts
	}
	if ts <= r.clock {
		return
	}
	for _, q := range r.absent {
		q.gen++
		q.pat.periods, q.pat.until = 0, ts
		q.pat.arm(ts)
	}
	if r.part != nil {
		r.part.rearm(ts)
	}
	for {
		r.drain() // what the previous timer's queries on a cycle output
		var best *queryRT
		var bestD int64
		kind := 0 // 1 rate limiter, 2 window, 3 absent pattern element
		for _, q := range r.limited {
			if d, ok := q.stage.lim.deadline(); ok && d <= ts && (best == nil || d < bestD) {
				best, bestD, kind = q, d, 1
			}
		}
		for _, q := range r.timed {
			if d, ok := q.win.deadline(); ok && d <= ts && (best == nil || d < bestD) {
				best, bestD, kind = q, d, 2
			}
		}
		for _, q := range r.absent {
			if d, ok := q.pat.deadline(); ok && d <= ts && (best == nil || d < bestD) {
				best, bestD, kind = q, d, 3
			}
		}
		if r.part != nil { // partition instances' timers, after the others' of their kind at a tie
			if q, d, k, ok := r.part.earliest(ts); ok && (best == nil || d < bestD || (d == bestD && k < kind)) {
				best, bestD, kind = q, d, k
			}
		}
		if best == nil {
			break
		}
		if bestD > r.clock {
			r.clock = bestD
		}
		best.gen++
		switch kind {
		case 1:
			best.stage.lim.fire(r, best)
			continue
		case 2:
			best.win.fire(r, best, r.clock)
		default:
			best.pat.fire(r, best, bestD)
		}
		if best.stage != nil {
			best.stage.endChunk(r, best)
		}
	}
	r.clock = ts
}

// dispatch delivers an event to the queries reading st; each delivery is one output chunk.
// Back at the outermost level, it delivers the pending outputs of queries on a cycle.
func (r *Runtime) dispatch(st *streamRT, ev *event) {
	r.depth++
	for _, q := range st.subs {
		q.gen++
		q.onEvent(r, st.def, ev)
		if q.stage != nil {
			q.stage.endChunk(r, q)
		}
	}
	r.depth--
	if r.depth == 0 && len(r.pending) > 0 {
		r.drain()
	}
}

// drain delivers the pending outputs of queries on a cycle in order, breadth first: what they
// output meanwhile is appended and delivered in turn, at most maxCycleEvents per input.
func (r *Runtime) drain() {
	if r.draining || len(r.pending) == 0 {
		return
	}
	r.draining = true
	for i := 0; i < len(r.pending); i++ {
		if r.cycled >= maxCycleEvents {
			break
		}
		r.cycled++
		p := r.pending[i]
		r.pending[i] = pendingEv{}
		r.dispatch(p.st, &p.ev)
	}
	clear(r.pending)
	r.pending = r.pending[:0]
	r.draining = false
}

// copyVals copies event values into slab-allocated storage owned by the runtime's state.
func (r *Runtime) copyVals(v []Value) []Value {
	n := len(v)
	if n == 0 {
		return []Value{}
	}
	if n > 64 {
		return append([]Value(nil), v...)
	}
	if len(r.slab) < n {
		r.slab = make([]Value, 4096)
	}
	c := r.slab[:n:n]
	r.slab = r.slab[n:]
	copy(c, v)
	return c
}

func addSat(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// queryRT is the runtime state of one query.
type queryRT struct {
	plan   *queryPlan
	prefix string
	uuid   *uuidGen // on a partitioned query's shared id holder: its instances' UUID() generator
	outRT  *streamRT
	win    window // a join's window is its joinRT
	sel    *selector
	pat    *patternRT
	join   *joinRT
	multi  multiInput // pat or join: the input stage of a query over several streams or states
	f      frame
	idxSeq uint64
	idxN   int
	outEv  event
	stage  *outStage // nil without order by, limit, offset and output rate limiting
	rowKey string    // group-by key of the row being emitted, set for keyed rate limiters
	tbl    *tableRT  // the table the query writes; nil for a stream
	ids    *queryRT  // partition instances: the holder of the query's shared id counter
	// gen counts the deliveries and timer firings that may have changed this query's state;
	// a delta writes the query's sections in full when it moved since snapGen (the last
	// revision), so an operator without delta support of its own stays correct.
	gen, snapGen uint64
}

// multiInput takes the events of a pattern or join query.
type multiInput interface {
	onEvent(r *Runtime, q *queryRT, def *StreamDef, ev *event)
}

func (q *queryRT) wants(k evKind) bool {
	switch q.plan.outK {
	case outCurrent:
		return k == kCurrent
	case outExpired:
		return k == kExpired
	}
	return true
}

func (q *queryRT) onEvent(r *Runtime, def *StreamDef, ev *event) {
	if st := q.stage; st != nil && st.snapshot() && !st.lim.started {
		st.lim.roll(r, q) // snapshot periods start at the first event reaching the query
	}
	if q.multi != nil {
		q.multi.onEvent(r, q, def, ev)
		return
	}
	if len(q.plan.pre) > 0 {
		q.f.ev, q.f.ts = ev.vals, ev.ts
		for _, fn := range q.plan.pre {
			if !fn(&q.f).Bool() {
				return
			}
		}
	}
	if q.win == nil {
		q.toSel(r, kCurrent, ev)
		return
	}
	q.win.add(r, q, ev)
}

// toSel passes a window output through the post-window filters to the selector; in a join it
// probes the other side's window.
func (q *queryRT) toSel(r *Runtime, k evKind, ev *event) {
	if q.join != nil {
		q.join.probe(r, q, q.join.cur, k, ev)
		return
	}
	if k != kReset && len(q.plan.post) > 0 {
		q.f.ev, q.f.ts = ev.vals, ev.ts
		for _, fn := range q.plan.post {
			if !fn(&q.f).Bool() {
				return
			}
		}
	}
	q.sel.process(r, k, ev)
}

// emitRow takes one row of the selector or pattern matcher: the output stage, when the query
// has one, decides what to release and when.
func (q *queryRT) emitRow(r *Runtime, k evKind, ts int64, vals []Value) {
	if q.stage != nil {
		q.stage.row(r, q, k, ts, vals)
		return
	}
	q.release(r, k, ts, vals)
}

// release hands one output to the caller and to the queries reading the target stream. Its id
// is the query, the input being applied (whose clock advance may have fired the timer that
// releases it) and a per-query counter over that input, so ids never repeat. A query writing a
// table changes the table instead, emitting nothing and using no id.
func (q *queryRT) release(r *Runtime, k evKind, ts int64, vals []Value) {
	if q.tbl != nil {
		q.tbl.gen++
		q.tbl.apply(r, q.plan.tbl, ts, vals)
		return
	}
	c := q
	if q.ids != nil { // a partition instance: ids count over all instances of the query
		c = q.ids
	}
	if c.idxSeq != r.seq {
		c.idxSeq, c.idxN = r.seq, 0
	}
	idx := c.idxN
	c.idxN++
	if r.emit != nil {
		b := append(r.idBuf[:0], q.prefix...)
		b = strconv.AppendUint(b, r.seq, 10)
		b = append(b, '/')
		b = strconv.AppendInt(b, int64(idx), 10)
		r.idBuf = b
		r.out = Output{ID: string(b), Query: q.plan.name, Seq: r.seq, Index: idx, Stream: q.plan.out.Name,
			TS: ts, Attrs: q.plan.out.Attrs, Data: vals, Expired: k == kExpired}
		r.emit(&r.out)
	}
	if len(q.outRT.subs) > 0 {
		if q.plan.cyclic { // delivered later, so q is not re-entered
			r.pending = append(r.pending, pendingEv{st: q.outRT, ev: event{ts: ts, vals: append([]Value(nil), vals...)}})
			return
		}
		// q is on no cycle, so it is not re-entered while outEv is in use
		q.outEv = event{ts: ts, vals: vals}
		r.dispatch(q.outRT, &q.outEv)
		q.outEv = event{}
	}
}
