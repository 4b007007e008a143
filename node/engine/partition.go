package engine

import (
	"container/heap"
	"encoding/binary"
	"math"
	"strconv"
	"strings"
)

// Partitions. Each partition key gets its own instance of the partition's queries (windows,
// aggregates, pattern partials, join windows, rate limiters), created at the key's first event,
// in arrival order. An event of a stream the partition lists goes to the instance of its key (a
// range partition: to the instance of each range whose condition holds, in the order written;
// none holds, or a value key is null: no instance); an event of another stream its queries read
// goes to every existing instance, in creation order. Within an instance, queries take an event
// in source order, as outside partitions. Inner streams (#Name) are per instance. Outputs to
// outer streams and tables are shared; output ids count per query over all instances. The
// instances' timers are in one heap (deadline, kind, creation, query), so a clock advance costs
// O(log n) per timer, not a scan of every instance.

// partPlan is a compiled partition, shared by every Runtime of the App.
type partPlan struct {
	idx     int
	keys    map[*StreamDef]*partKeyPlan
	queries []*queryPlan
	subs    map[*StreamDef][]int // per stream read in the partition, the reading queries' indexes
	inner   []*StreamDef         // inner streams, in order of first output
	innerIx map[*StreamDef]int
	// @purge: every purgeEvery ms of the logical clock (from the app's first input), the
	// instances no keyed event reached for purgeIdle ms are dropped; 0 without purging
	purgeEvery, purgeIdle int64
}

// partKeyPlan maps an event of one partitioned stream to its keys.
type partKeyPlan struct {
	value  evalFn // value partition; nil for range partitions
	ranges []partRange
}

type partRange struct {
	cond  evalFn
	label string
}

// checkPartitions builds the partition plans once every query is checked: key streams and
// their expressions, the queries of each partition and the scope of inner streams.
func (a *App) checkPartitions(d *appDecl, plans []*queryPlan) error {
	if len(d.parts) == 0 {
		return nil
	}
	byDecl := make(map[*partDecl]*partPlan, len(d.parts))
	for i, pd := range d.parts {
		pp := &partPlan{idx: i, keys: map[*StreamDef]*partKeyPlan{}, subs: map[*StreamDef][]int{}, innerIx: map[*StreamDef]int{}}
		if pd.purge != nil {
			var err error
			if pp.purgeEvery, pp.purgeIdle, err = purgeOptions(pd.purge); err != nil {
				return err
			}
			if pp.purgeEvery > 0 {
				a.usesTime = true
			}
		}
		for _, k := range pd.keys {
			if a.tableBy[k.stream] != nil {
				return errAt(k.streamP, "table %s cannot be partitioned: partition with the attribute of a stream", k.stream)
			}
			def := a.byName[k.stream]
			if def == nil {
				return errAt(k.streamP, "unknown stream %s in partition with", k.stream)
			}
			if pp.keys[def] != nil {
				return errAt(k.streamP, "stream %s is partitioned twice in one partition", k.stream)
			}
			kp := &partKeyPlan{}
			sc := streamScope{def: def}
			if k.value != nil {
				c := &exprCompiler{sc: sc, where: "partition key"}
				ce, err := c.compile(k.value)
				if err != nil {
					return err
				}
				kp.value = ce.fn
			}
			for _, rg := range k.ranges {
				fn, err := a.compileBool(sc, rg.cond, "partition range condition")
				if err != nil {
					return err
				}
				kp.ranges = append(kp.ranges, partRange{cond: fn, label: rg.label})
			}
			pp.keys[def] = kp
		}
		byDecl[pd] = pp
		a.parts = append(a.parts, pp)
	}
	// inner stream names are unique to their partition (the parser names a later partition's
	// #I #I@<n>), so each inner stream belongs to the partition of the queries writing it
	for i, q := range d.queries {
		if q.part == nil {
			continue
		}
		qp := plans[i]
		pp := byDecl[q.part]
		qp.part, qp.partQ = pp, len(pp.queries)
		pp.queries = append(pp.queries, qp)
		for _, in := range qp.inputs {
			pp.subs[in] = append(pp.subs[in], qp.partQ)
		}
		if out := qp.out; qp.tbl == nil && isInner(out.Name) {
			if _, seen := pp.innerIx[out]; !seen {
				pp.innerIx[out] = len(pp.inner)
				pp.inner = append(pp.inner, out)
			}
		}
	}
	return nil
}

// purgeOptions reads @purge(enable='true', interval='1 sec', idle.period='1 min'); with
// enable='false' both results are 0.
func purgeOptions(a *annotation) (every, idle int64, err error) {
	for _, k := range sortedKeys(a.kv) {
		if k != "enable" && k != "interval" && k != "idle.period" {
			return 0, 0, errAt(a.kvAt[k], "unknown @purge option %q (supported: enable, interval, idle.period)", k)
		}
	}
	if len(a.pos) > 0 || len(a.sub) > 0 {
		return 0, 0, errAt(a.p, "@purge takes name='value' options: @purge(enable='true', interval='10 sec', idle.period='1 hour')")
	}
	switch strings.ToLower(a.kv["enable"]) {
	case "false":
		return 0, 0, nil
	case "true":
	default:
		return 0, 0, errAt(a.p, "@purge needs enable='true' or enable='false'")
	}
	for _, k := range []string{"interval", "idle.period"} {
		v, ok := a.kv[k]
		if !ok {
			return 0, 0, errAt(a.p, "@purge(enable='true') needs %s, e.g. %s='10 sec'", k, k)
		}
		ms, ok := parseDuration(v)
		if !ok || ms <= 0 {
			return 0, 0, errAt(a.kvAt[k], "@purge %s %q is not a positive time (e.g. '10 sec', '1 min 30 sec')", k, v)
		}
		if k == "interval" {
			every = ms
		} else {
			idle = ms
		}
	}
	return every, idle, nil
}

// parseDuration reads a time such as "500 ms", "1 sec" or "1 min 30 sec" into milliseconds.
func parseDuration(s string) (int64, bool) {
	f := strings.Fields(s)
	if len(f) == 0 || len(f)%2 != 0 {
		return 0, false
	}
	var total int64
	for i := 0; i < len(f); i += 2 {
		n, err := strconv.ParseInt(f[i], 10, 64)
		unit, ok := timeUnit(f[i+1])
		if err != nil || !ok || n < 0 || n > math.MaxInt64/unit/4 {
			return 0, false
		}
		total += n * unit
	}
	return total, total < math.MaxInt64/4
}

// partitions is the runtime state of an app's partitions.
type partitions struct {
	rts     []*partRT
	order   []*partInst // every instance in creation order: the order of snapshots and timers
	tables  map[string]*tableRT
	purging bool // some partition has @purge
	timers  timerHeap
	dirty   []*partInst // instances whose timers may have moved since the heap was fixed
	created uint64      // instances created so far: orders timers due at the same time
	// armq: instances with patterns waiting from their first input ("every (not A for T ->
	// ...)") touched since the last clock advance, which may start their wait again then
	armq  []*partInst
	advTS int64 // the clock the current advance moves to
}

// partRT routes the events of the streams a partition reads to its instances.
type partRT struct {
	p      *partPlan
	byKey  map[string]*partInst
	insts  []*partInst // creation order
	ids    []*queryRT  // per query: the prefix and id counter its instances share
	router *queryRT    // subscribed to the outer streams the partition reads
	f      frame
	// @purge: the next check (set at the app's first input; started false before)
	purgeAt int64
	started bool
}

// partInst is one partition key's instance of the partition's queries.
type partInst struct {
	rt    *partRT
	key   string
	qs    []*queryRT
	inner []*streamRT // per inner stream: its subscribers in this instance
	last  int64       // clock of the last keyed event (for @purge)
	// timers: the instance's window, rate limiter and absent-wait timers (nil without any);
	// dirty: queued in partitions.dirty
	timers []*ptimer
	dirty  bool
	armed  bool // has patterns waiting from their first input
	queued bool // in partitions.armq
	purged bool // dropped by @purge (it may still be queued)
}

// subscribePartition subscribes the router of p's partition to p's outer inputs (once per
// stream, at the position of the partition's first query reading it).
func (r *Runtime) subscribePartition(p *queryPlan) {
	if r.part == nil {
		r.part = &partitions{rts: make([]*partRT, len(r.app.parts)), tables: make(map[string]*tableRT, len(r.tables))}
		for _, t := range r.tables {
			r.part.tables[t.def.Name] = t
		}
	}
	pr := r.part.rts[p.part.idx]
	if pr == nil {
		pr = &partRT{p: p.part, byKey: map[string]*partInst{}, ids: make([]*queryRT, len(p.part.queries))}
		for i, qp := range p.part.queries {
			pr.ids[i] = &queryRT{prefix: r.app.name + "/" + qp.name + "/"}
		}
		pr.router = &queryRT{multi: pr}
		r.part.rts[p.part.idx] = pr
		r.part.purging = r.part.purging || p.part.purgeEvery > 0
	}
	for _, in := range p.inputs {
		if isInner(in.Name) {
			continue
		}
		st := r.streams[in.Name]
		if len(st.subs) == 0 || st.subs[len(st.subs)-1] != pr.router {
			st.subs = append(st.subs, pr.router)
		}
	}
}

// onEvent routes an event of an outer stream to the instances of its keys.
func (pr *partRT) onEvent(r *Runtime, _ *queryRT, def *StreamDef, ev *event) {
	kp := pr.p.keys[def]
	if kp == nil { // not partitioned: every instance takes it
		for _, inst := range pr.insts {
			inst.deliver(r, def, ev)
		}
		return
	}
	pr.f.ev, pr.f.ts, pr.f.tabs = ev.vals, ev.ts, r.tables
	if kp.value != nil {
		v := kp.value(&pr.f)
		if v.IsNull() { // no key: as in Siddhi, no instance takes the event
			return
		}
		inst := pr.instance(r, v.String(), true)
		inst.last = r.clock
		inst.deliver(r, def, ev)
		return
	}
	for _, rg := range kp.ranges {
		pr.f.ev, pr.f.ts = ev.vals, ev.ts
		if rg.cond(&pr.f).Bool() {
			inst := pr.instance(r, rg.label, true)
			inst.last = r.clock
			inst.deliver(r, def, ev)
		}
	}
}

// deliver hands an event to the instance's queries reading its stream; each is one chunk.
func (inst *partInst) deliver(r *Runtime, def *StreamDef, ev *event) {
	r.part.touch(inst)
	for _, i := range inst.rt.p.subs[def] {
		q := inst.qs[i]
		q.onEvent(r, def, ev)
		if q.stage != nil {
			q.stage.endChunk(r, q)
		}
	}
}

// instance returns the key's instance, creating it (and registering its timers) when new;
// arm starts patterns that wait from their first input (not on restore, which decodes them).
func (pr *partRT) instance(r *Runtime, key string, arm bool) *partInst {
	if inst := pr.byKey[key]; inst != nil {
		return inst
	}
	p := pr.p
	inst := &partInst{rt: pr, key: key, qs: make([]*queryRT, len(p.queries))}
	if len(p.inner) > 0 {
		inst.inner = make([]*streamRT, len(p.inner))
		for j, d := range p.inner {
			inst.inner[j] = &streamRT{def: d}
		}
	}
	for i, qp := range p.queries {
		out := r.streams[qp.out.Name]
		if j, ok := p.innerIx[qp.out]; ok && qp.tbl == nil {
			out = inst.inner[j]
		}
		q := r.newQuery(qp, r.part.tables, out, true)
		q.ids, q.prefix = pr.ids[i], pr.ids[i].prefix
		if q.ids.uuid == nil { // UUID(): one generator per query, so instances never repeat one
			q.ids.uuid = &uuidGen{r: r, prefix: q.prefix}
		}
		q.sel.f.gen = q.ids.uuid
		if arm && q.pat != nil && qp.pat.absent {
			q.pat.periods, q.pat.until = 0, r.clock
			q.pat.arm(r.clock)
		}
		inst.qs[i] = q
	}
	for j, d := range p.inner {
		for _, i := range p.subs[d] {
			inst.inner[j].subs = append(inst.inner[j].subs, inst.qs[i])
		}
	}
	seq := r.part.created
	r.part.created++
	for _, q := range inst.qs {
		if q.plan.rate.timer() {
			inst.timers = append(inst.timers, &ptimer{q: q, kind: 1, seq: seq, inst: inst, idx: -1})
		}
		if q.win != nil && (q.plan.win.timed() || (q.join != nil && q.plan.join.timed())) {
			inst.timers = append(inst.timers, &ptimer{q: q, kind: 2, seq: seq, inst: inst, idx: -1})
		}
		if q.pat != nil && q.plan.pat.absent {
			inst.timers = append(inst.timers, &ptimer{q: q, kind: 3, seq: seq, inst: inst, idx: -1})
			inst.armed = inst.armed || q.plan.pat.armed()
		}
	}
	r.part.touch(inst)
	pr.byKey[key] = inst
	pr.insts = append(pr.insts, inst)
	r.part.order = append(r.part.order, inst)
	return inst
}

// advanceTo moves the clock to ts (Runtime.advance); with @purge it stops at each purge check
// on the way, so timers due before a check fire before the check drops idle instances.
func (r *Runtime) advanceTo(ts int64) {
	if r.part == nil || !r.part.purging {
		r.advance(ts)
		return
	}
	for range maxPurgeSteps {
		var next *partRT
		for _, pr := range r.part.rts {
			if pr == nil || pr.p.purgeEvery == 0 {
				continue
			}
			if !pr.started {
				pr.started, pr.purgeAt = true, addSat(ts, pr.p.purgeEvery)
			}
			if pr.purgeAt <= ts && (next == nil || pr.purgeAt < next.purgeAt) {
				next = pr
			}
		}
		if next == nil {
			break
		}
		at := next.purgeAt
		r.advance(at)
		next.purge(r, at)
		next.purgeAt = next.nextCheck(at)
	}
	r.advance(ts)
}

// maxPurgeSteps bounds the purge checks of one clock advance; past it the remaining checks
// happen at the next input (nextCheck skips the checks that cannot drop anything, so it is
// reached only when that many checks each drop instances).
const maxPurgeSteps = 1 << 16

// nextCheck is the first check after the one at 'at' that may drop an instance: one is idle
// at the earliest purgeIdle after its last event, and instances created later (by events
// after at) were idle for less. Checks in between would drop nothing, so they are skipped.
func (pr *partRT) nextCheck(at int64) int64 {
	earliest := at
	for _, inst := range pr.insts {
		earliest = min(earliest, inst.last)
	}
	due := addSat(earliest, pr.p.purgeIdle)
	next := addSat(at, pr.p.purgeEvery)
	if due > next {
		k := (due - at + pr.p.purgeEvery - 1) / pr.p.purgeEvery
		next = addSat(at, k*pr.p.purgeEvery)
	}
	return next
}

// purge drops the instances no keyed event reached in the idle period before now, with their
// timers; a later event of the key starts a fresh instance.
func (pr *partRT) purge(r *Runtime, now int64) {
	keep := pr.insts[:0]
	dropped := 0
	for _, inst := range pr.insts {
		if now-inst.last < pr.p.purgeIdle {
			keep = append(keep, inst)
			continue
		}
		for _, tm := range inst.timers {
			if tm.idx >= 0 {
				heap.Remove(&r.part.timers, tm.idx)
			}
		}
		inst.timers, inst.purged = nil, true
		delete(pr.byKey, inst.key)
		dropped++
	}
	clear(pr.insts[len(keep):])
	pr.insts = keep
	if dropped == 0 {
		return
	}
	order := r.part.order[:0]
	for _, inst := range r.part.order {
		if !inst.purged {
			order = append(order, inst)
		}
	}
	clear(r.part.order[len(order):])
	r.part.order = order
}

// ptimer is a window or rate limiter timer of a partition instance's query.
type ptimer struct {
	q    *queryRT
	kind int    // 1 rate limiter, 2 window, 3 absent pattern element (as in Runtime.advance)
	seq  uint64 // the instance's creation number
	d    int64  // deadline while in the heap
	idx  int    // index in the heap; -1 when not in it (no deadline)
	inst *partInst
}

// timerHeap orders instance timers by deadline, then kind, then instance creation, then query.
type timerHeap []*ptimer

// Len, Less, Swap, Push and Pop are container/heap's interface; Swap and Push keep each timer's
// idx so that heap.Fix and heap.Remove reach a timer whose deadline moved or went away.
func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	a, b := h[i], h[j]
	if a.d != b.d {
		return a.d < b.d
	}
	if a.kind != b.kind {
		return a.kind < b.kind
	}
	if a.seq != b.seq {
		return a.seq < b.seq
	}
	return a.q.plan.partQ < b.q.plan.partQ
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *timerHeap) Push(x any) {
	t := x.(*ptimer)
	t.idx = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.idx = -1
	return t
}

// touch queues an instance whose timers may move (an event reached it or a timer of it fires).
func (ps *partitions) touch(inst *partInst) {
	ps.moved(inst)
	if inst.armed && !inst.queued {
		inst.queued = true
		ps.armq = append(ps.armq, inst)
	}
}

// moved queues an instance whose timers' deadlines may have moved.
func (ps *partitions) moved(inst *partInst) {
	if !inst.dirty && len(inst.timers) > 0 {
		inst.dirty = true
		ps.dirty = append(ps.dirty, inst)
	}
}

// rearm starts a clock advance to ts: as Runtime.advance does for the patterns outside
// partitions, the absent patterns of the instances touched since the last advance start their
// wait again when none is pending (instances not touched have not changed since they were).
func (ps *partitions) rearm(ts int64) {
	ps.advTS = ts
	for i, inst := range ps.armq {
		ps.armq[i] = nil
		inst.queued = false
		if inst.purged {
			continue
		}
		for _, q := range inst.qs {
			if q.pat != nil && q.plan.pat.absent {
				q.pat.periods, q.pat.until = 0, ts
				q.pat.arm(ts)
			}
		}
		ps.moved(inst)
	}
	ps.armq = ps.armq[:0]
}

// earliest returns the instance timer due first by ts (deadline, kind and query to fire), after
// moving the timers of the instances touched since the last call.
func (ps *partitions) earliest(ts int64) (*queryRT, int64, int, bool) {
	for i, inst := range ps.dirty {
		inst.dirty = false
		ps.dirty[i] = nil
		for _, tm := range inst.timers {
			var d int64
			var ok bool
			switch tm.kind {
			case 1:
				d, ok = tm.q.stage.lim.deadline()
			case 2:
				d, ok = tm.q.win.deadline()
			default:
				d, ok = tm.q.pat.deadline()
			}
			switch {
			case ok && tm.idx >= 0:
				tm.d = d
				heap.Fix(&ps.timers, tm.idx)
			case ok:
				tm.d = d
				heap.Push(&ps.timers, tm)
			case tm.idx >= 0:
				heap.Remove(&ps.timers, tm.idx)
			}
		}
	}
	ps.dirty = ps.dirty[:0]
	if len(ps.timers) == 0 || ps.timers[0].d > ts {
		return nil, 0, 0, false
	}
	tm := ps.timers[0]
	ps.touch(tm.inst) // it may fire now: its deadlines move
	if p := tm.q.pat; tm.kind == 3 && p.until != ps.advTS {
		p.periods, p.until = 0, ps.advTS // as Runtime.advance does for patterns outside partitions
	}
	return tm.q, tm.d, tm.kind, true
}

// encodePartitions appends the partition instances (in creation order) and their queries'
// states to a snapshot; apps without partitions append nothing.
func (r *Runtime) encodePartitions(b []byte) []byte {
	if r.part == nil {
		return b
	}
	for _, pr := range r.part.rts { // @purge: the next check of each purging partition
		if pr != nil && pr.p.purgeEvery > 0 {
			b = appendBool(b, pr.started)
			b = binary.AppendVarint(b, pr.purgeAt)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(r.part.order)))
	for _, inst := range r.part.order {
		b = binary.AppendUvarint(b, uint64(inst.rt.p.idx))
		b = appendStr(b, inst.key)
		if inst.rt.p.purgeEvery > 0 {
			b = binary.AppendVarint(b, inst.last)
		}
		for _, q := range inst.qs {
			at := len(b)
			b = append(b, make([]byte, 8)...) // section length, patched below
			b = encodeQueryState(b, q)
			binary.LittleEndian.PutUint64(b[at:], uint64(len(b)-at-8))
		}
	}
	return b
}

// decodePartitions recreates the instances encodePartitions wrote, in the same order.
func (r *Runtime) decodePartitions(d *decoder) {
	if r.part == nil || d.err != nil {
		return
	}
	for _, pr := range r.part.rts {
		if pr != nil && pr.p.purgeEvery > 0 {
			pr.started, pr.purgeAt = d.bool1(), d.varint()
		}
	}
	n := d.count(2)
	for range n {
		pi := d.uvarint()
		key := d.str()
		if d.err != nil {
			return
		}
		if pi >= uint64(len(r.part.rts)) || r.part.rts[pi] == nil {
			d.fail("partition %d of %d", pi, len(r.part.rts))
			return
		}
		pr := r.part.rts[pi]
		if pr.byKey[key] != nil {
			d.fail("partition %d key %q twice", pi, key)
			return
		}
		inst := pr.instance(r, key, false)
		if pr.p.purgeEvery > 0 {
			inst.last = d.varint()
		}
		for _, q := range inst.qs {
			sd := &decoder{b: d.section()}
			if d.err != nil {
				return
			}
			decodeQueryState(sd, q)
			if sd.err == nil && len(sd.b) != 0 {
				sd.fail("%d trailing bytes", len(sd.b))
			}
			if sd.err != nil {
				d.fail("partition key %q query %s: %v", key, q.plan.name, sd.err)
				return
			}
		}
	}
}

// encodeQueryState appends one query's state as Snapshot does for a query outside partitions.
func encodeQueryState(b []byte, q *queryRT) []byte {
	if q.pat != nil {
		b = q.pat.encode(b)
	} else {
		if q.win != nil {
			b = q.win.encode(b)
		}
		b = q.sel.encode(b)
	}
	if q.stage != nil && q.stage.lim != nil {
		b = q.stage.lim.encode(b)
	}
	return b
}

// decodeQueryState reads what encodeQueryState wrote.
func decodeQueryState(d *decoder, q *queryRT) {
	if q.pat != nil {
		q.pat.decode(d)
	} else {
		if q.win != nil {
			q.win.decode(d, q.plan.inputs[0])
		}
		q.sel.decode(d)
	}
	if q.stage != nil && q.stage.lim != nil {
		q.stage.lim.decode(d, q.plan.out)
	}
}
