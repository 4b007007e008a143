package engine

import (
	"errors"
	"strings"
)

// Siddhi's expression window: expression('<condition>') keeps events while the condition
// holds over the window; expression(attr) reads the condition from a string attribute of each
// arrival. The condition reads aggregates over the window (count(), sum(x), ...), first.x and
// last.x (the oldest and newest event), eventTimestamp(first|last), and plain attributes (the
// newest event).

// winExpr is a compiled expression window condition.
type winExpr struct {
	cond evalFn
	aggs []aggSpec
}

// tsQual qualifies the rewritten eventTimestamp(first|last) references.
const tsQual = "\x00ts"

// compileWinExpr parses and compiles an expression window condition over def.
func compileWinExpr(def *StreamDef, src string) (*winExpr, error) {
	toks, err := tokenize(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	e, err := p.expr()
	if err != nil {
		return nil, err
	}
	if p.peek().kind != tkEOF {
		return nil, p.fail("the end of the condition")
	}
	e = rewriteEventTs(e)
	we := &winExpr{}
	c := &exprCompiler{sc: exprWinScope{def: def}, aggs: &we.aggs, where: "an expression window"}
	ce, err := c.compile(e)
	if err != nil {
		return nil, err
	}
	if ce.t != TypeBool {
		return nil, errAt(e.at(), "the condition of an expression window must be a bool, got %s", ce.t)
	}
	we.cond = ce.fn
	return we, nil
}

// rewriteEventTs turns eventTimestamp(first) and eventTimestamp(last) into references the
// window's scope resolves.
func rewriteEventTs(e expr) expr {
	switch x := e.(type) {
	case *exUnary:
		c := *x
		c.x = rewriteEventTs(x.x)
		return &c
	case *exBinary:
		c := *x
		c.l, c.r = rewriteEventTs(x.l), rewriteEventTs(x.r)
		return &c
	case *exCall:
		if len(x.args) == 1 && (x.name == "eventTimestamp" || x.name == "eventtimestamp") {
			if a, ok := x.args[0].(*exAttr); ok && a.qual == "" && (a.name == "first" || a.name == "last") {
				return &exAttr{p: x.p, qual: tsQual, name: a.name}
			}
		}
		c := *x
		c.args = make([]expr, len(x.args))
		for i, a := range x.args {
			c.args[i] = rewriteEventTs(a)
		}
		return &c
	}
	return e
}

// exprWinScope resolves first.x, last.x, eventTimestamp(first|last) and plain attributes.
type exprWinScope struct{ def *StreamDef }

func (s exprWinScope) resolve(e *exAttr) (evalFn, Type, error) {
	if e.indexed {
		return nil, TypeNull, errAt(e.p, "indexed references are not supported in an expression window")
	}
	if e.qual == tsQual {
		i := 0
		if e.name == "last" {
			i = 1
		}
		return func(f *frame) Value { return f.refs[2][i] }, TypeLong, nil
	}
	idx := s.def.attrIndex(e.name)
	if idx < 0 {
		return nil, TypeNull, errAt(e.p, "unknown attribute %s of %s", e.name, s.def.Name)
	}
	t := s.def.Attrs[idx].Type
	switch e.qual {
	case "first":
		return func(f *frame) Value { return f.refs[0][idx] }, t, nil
	case "last":
		return func(f *frame) Value { return f.refs[1][idx] }, t, nil
	case "", s.def.Name:
		return func(f *frame) Value { return f.ev[idx] }, t, nil
	}
	return nil, TypeNull, errAt(e.p, "unknown reference %s.%s in an expression window (want first.%s or last.%s)", e.qual, e.name, e.name, e.name)
}

// checkExprWindow compiles expression('<condition>') or expression(attr) into wp, and
// expressionBatch(condition [, includeTriggeringEvent]) (a bool constant or attribute).
func checkExprWindow(sc streamScope, w *windowSpec, wp *winPlan) error {
	wp.kind, wp.attr, wp.includeAttr = winExpression, -1, -1
	if strings.EqualFold(w.name, "expressionBatch") {
		wp.kind = winExpressionBatch
		if len(w.args) < 1 || len(w.args) > 3 {
			return errAt(w.p, "window expressionBatch takes 1 to 3 arguments (condition, include triggering event, stream current events), got %d", len(w.args))
		}
		if len(w.args) > 1 {
			switch a := w.args[1].(type) {
			case *exAttr:
				if _, _, err := sc.resolve(a); err != nil {
					return err
				}
				wp.includeAttr = sc.def.attrIndex(a.name)
				if t := sc.def.Attrs[wp.includeAttr].Type; t != TypeBool {
					return errAt(a.p, "the include triggering event attribute %s of expressionBatch must be a bool, got %s", a.name, t)
				}
			default:
				b, err := boolArg(w.args[1], "the include triggering event argument of expressionBatch")
				if err != nil {
					return err
				}
				wp.include = b
			}
		}
		if len(w.args) > 2 {
			b, err := boolArg(w.args[2], "the stream current events argument of expressionBatch")
			if err != nil {
				return err
			}
			if b {
				wp.stream = true
			}
		}
		w = &windowSpec{p: w.p, name: w.name, args: w.args[:1]}
	}
	if len(w.args) != 1 {
		return errAt(w.p, "window expression takes 1 argument (the condition), got %d", len(w.args))
	}
	switch a := w.args[0].(type) {
	case *exLit:
		if a.val.t != TypeString {
			return errAt(a.p, "the condition of window expression must be a string, got %s", a.val.t)
		}
		if _, err := compileWinExpr(sc.def, a.val.String()); err != nil {
			var ce *CompileError
			if errors.As(err, &ce) {
				return errAt(a.p, "invalid condition of window expression (column %d): %s", ce.Col, ce.Msg)
			}
			return errAt(a.p, "invalid condition of window expression: %v", err)
		}
		wp.exprSrc = a.val.String()
	case *exAttr:
		if _, _, err := sc.resolve(a); err != nil {
			return err
		}
		wp.attr = sc.def.attrIndex(a.name)
		if t := sc.def.Attrs[wp.attr].Type; t != TypeString {
			return errAt(a.p, "the condition attribute %s of window expression must be a string, got %s", a.name, t)
		}
	default:
		return errAt(w.args[0].at(), "the condition of window expression must be a string or a string attribute")
	}
	wp.def = sc.def
	if wp.kind == winExpressionBatch && wp.stream {
		return errAt(w.p, "expressionBatch streaming current events (a third argument true) is not supported")
	}
	return nil
}

// maxWinExprs bounds the compiled conditions an expression(attr) window caches.
const maxWinExprs = 64

// exprWin is the expression window: an arrival enters, then the oldest events expire (before
// the arrival is current) while the condition does not hold over the window. The condition's
// aggregates are computed over the whole window at each test, so a test costs the window's
// size. With expression(attr), the condition in force is the last arrival's (a null keeps the
// previous one; an arrival whose condition does not compile is dropped).
type exprWin struct {
	def    *StreamDef
	attr   int      // the attribute holding the condition (-1: fixed)
	fixed  *winExpr // the fixed condition
	src    string   // the condition in force, with attr
	cache  map[string]*winExpr
	buf    fifo
	states []aggState
	exts   []*aggExt // beside states (distinctCount, stdDev)
	f      frame
	refs   [3][]Value
	tsv    [2]Value
	tmp    []byte
}

func newExprWin(w *winPlan) *exprWin {
	x := &exprWin{def: w.def, attr: w.attr, cache: map[string]*winExpr{}}
	if w.attr < 0 {
		x.fixed, _ = compileWinExpr(w.def, w.exprSrc) // checked at compile time
	}
	return x
}

// current returns the condition in force (nil: none).
func (w *exprWin) current() *winExpr {
	if w.attr < 0 {
		return w.fixed
	}
	if we, ok := w.cache[w.src]; ok {
		return we
	}
	we, err := compileWinExpr(w.def, w.src)
	if err != nil {
		we = nil
	}
	if len(w.cache) >= maxWinExprs {
		clear(w.cache)
	}
	w.cache[w.src] = we
	return we
}

// arrive takes the condition an arrival carries in the expression attribute (a null keeps the
// last one) and returns the condition in force for it (nil: none).
func (w *exprWin) arrive(ev *event) *winExpr {
	if w.attr >= 0 {
		if v := ev.vals[w.attr]; !v.IsNull() {
			w.src = v.String()
		}
	}
	return w.current()
}

// decodeSrc restores the condition source; a window with a fixed condition keeps none. what
// names the window in errors.
func (w *exprWin) decodeSrc(d *decoder, what string) {
	w.src = d.str()
	if w.attr < 0 && w.src != "" {
		d.fail("%s window with a fixed condition holds condition %q", what, w.src)
	}
}

// holds evaluates we over the window's events (at least one).
func (w *exprWin) holds(we *winExpr) bool { return w.holdsOver(we, w.buf.live()) }

// holdsOver evaluates we over live (at least one event).
func (w *exprWin) holdsOver(we *winExpr, live []wevent) bool {
	if cap(w.states) < len(we.aggs) {
		w.states = make([]aggState, len(we.aggs))
		w.exts = make([]*aggExt, len(we.aggs))
		w.f.aggs = make([]Value, len(we.aggs))
	}
	w.states, w.f.aggs = w.states[:len(we.aggs)], w.f.aggs[:len(we.aggs)]
	w.exts = w.exts[:len(we.aggs)]
	for j := range w.states {
		w.states[j], w.exts[j] = aggState{}, nil
	}
	for i := range live {
		w.f.ev, w.f.ts = live[i].vals, live[i].ts
		for j := range we.aggs {
			sp := &we.aggs[j]
			var v Value
			if sp.arg != nil {
				v = sp.arg(&w.f)
			}
			w.tmp = w.states[j].add(sp, &w.exts[j], v, true, w.tmp)
		}
	}
	for j := range we.aggs {
		w.f.aggs[j] = w.states[j].value(&we.aggs[j], w.exts[j])
	}
	first, last := &live[0], &live[len(live)-1]
	w.tsv = [2]Value{LongValue(first.ts), LongValue(last.ts)}
	w.refs = [3][]Value{first.vals, last.vals, w.tsv[:]}
	w.f.refs, w.f.ev, w.f.ts = w.refs[:], last.vals, last.ts
	ok := we.cond(&w.f).Bool()
	w.f.refs, w.f.ev, w.refs = nil, nil, [3][]Value{}
	return ok
}

func (w *exprWin) add(r *Runtime, q *queryRT, ev *event) {
	we := w.arrive(ev)
	if we == nil {
		return // a condition that does not compile drops the arrival, as Siddhi fails on it
	}
	w.buf.push(wevent{ts: ev.ts, at: r.clock, vals: r.copyVals(ev.vals)})
	for w.buf.len() > 0 && !w.holds(we) {
		old := w.buf.pop()
		q.toSel(r, kExpired, &event{ts: r.clock, vals: old.vals})
	}
	q.toSel(r, kCurrent, ev)
}
func (w *exprWin) deadline() (int64, bool)        { return 0, false }
func (w *exprWin) fire(*Runtime, *queryRT, int64) {}
func (w *exprWin) retained() *fifo                { return &w.buf }

func (w *exprWin) encode(dst []byte) []byte {
	dst = appendStr(dst, w.src)
	return appendWevents(dst, w.buf.live())
}
func (w *exprWin) decode(d *decoder, def *StreamDef) error {
	w.decodeSrc(d, "expression")
	w.buf = fifo{items: d.wevents(def)}
	return d.err
}

// exprBatchWin is the expressionBatch window: an arrival joins the open batch; when the
// condition no longer holds over it, the batch is emitted (the previous one expiring) without
// the arrival, which opens the next batch, or with it when the triggering event is included.
// An arrival that fails the condition alone is current and expired at once.
type exprBatchWin struct {
	exprWin
	include     bool
	includeAttr int // -1: the constant include
	cur, prev   []wevent
	keepPrev    bool
}

func (w *exprBatchWin) add(r *Runtime, q *queryRT, ev *event) {
	we := w.arrive(ev)
	if we == nil {
		return // a condition that does not compile drops the arrival, as Siddhi fails on it
	}
	include := w.include
	if w.includeAttr >= 0 {
		include = ev.vals[w.includeAttr].Bool()
	}
	e := wevent{ts: ev.ts, at: r.clock, vals: r.copyVals(ev.vals)}
	w.cur = append(w.cur, e)
	if w.holdsOver(we, w.cur) {
		return
	}
	if include || len(w.cur) > 1 {
		batch := w.cur
		if !include {
			batch = w.cur[:len(w.cur)-1]
		}
		flushBatch(r, q, w.prev, batch, r.clock)
		rest := w.cur[len(batch):]
		if w.keepPrev {
			w.prev = append(w.prev[:0], batch...)
		}
		w.cur = append(w.cur[:0], rest...)
		clear(w.cur[len(rest):cap(w.cur)])
		if len(w.cur) == 0 || w.holdsOver(we, w.cur) {
			return
		}
	}
	// the arrival fails the condition alone: current, then expired at once
	q.sel.beginBatch()
	for i := range w.prev {
		q.toSel(r, kExpired, &event{ts: r.clock, vals: w.prev[i].vals})
	}
	q.toSel(r, kReset, &event{ts: r.clock})
	q.toSel(r, kCurrent, ev)
	q.toSel(r, kExpired, &event{ts: r.clock, vals: e.vals})
	q.toSel(r, kReset, &event{ts: r.clock})
	q.sel.endBatch(r)
	clear(w.prev)
	w.prev = w.prev[:0]
	clear(w.cur)
	w.cur = w.cur[:0]
}

func (w *exprBatchWin) encode(dst []byte) []byte {
	dst = appendStr(dst, w.src)
	return appendWevents(appendWevents(dst, w.cur), w.prev)
}
func (w *exprBatchWin) decode(d *decoder, def *StreamDef) error {
	w.decodeSrc(d, "expressionBatch")
	w.cur, w.prev = d.wevents(def), d.wevents(def)
	return d.err
}
