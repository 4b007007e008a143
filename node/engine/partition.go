package engine

import "encoding/binary"

// Partitions. Each partition key gets its own instance of the partition's queries (windows,
// aggregates, pattern partials, join windows, rate limiters), created at the key's first event,
// in arrival order. An event of a stream the partition lists goes to the instance of its key (a
// range partition: to the instance of each range whose condition holds, in the order written;
// none holds, no instance); an event of another stream its queries read goes to every existing
// instance, in creation order. Within an instance, queries take an event in source order, as
// outside partitions. Inner streams (#Name) are per instance. Outputs to outer streams and
// tables are shared; output ids count per query over all instances.

// partPlan is a compiled partition, shared by every Runtime of the App.
type partPlan struct {
	idx     int
	keys    map[*StreamDef]*partKeyPlan
	queries []*queryPlan
	subs    map[*StreamDef][]int // per stream read in the partition, the reading queries' indexes
	inner   []*StreamDef         // inner streams, in order of first output
	innerIx map[*StreamDef]int
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
		if pd.purge != nil {
			return errAt(pd.purge.p, "@purge on partitions is not supported: partition instances are kept until the app is redeployed")
		}
		pp := &partPlan{idx: i, keys: map[*StreamDef]*partKeyPlan{}, subs: map[*StreamDef][]int{}, innerIx: map[*StreamDef]int{}}
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
	owner := map[*StreamDef]*partDecl{}
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
			if o := owner[out]; o != nil && o != q.part {
				return errAt(q.targetP, "inner stream %s belongs to another partition", out.Name)
			}
			if owner[out] == nil {
				owner[out] = q.part
				pp.innerIx[out] = len(pp.inner)
				pp.inner = append(pp.inner, out)
			}
		}
	}
	for i, q := range d.queries {
		if q.part == nil {
			continue
		}
		for _, in := range plans[i].inputs {
			if isInner(in.Name) && owner[in] != q.part {
				return errAt(q.p, "inner stream %s belongs to another partition", in.Name)
			}
		}
	}
	return nil
}

// partitions is the runtime state of an app's partitions.
type partitions struct {
	rts    []*partRT
	order  []*partInst // every instance in creation order: the order of snapshots and timers
	tables map[string]*tableRT
}

// partRT routes the events of the streams a partition reads to its instances.
type partRT struct {
	p      *partPlan
	byKey  map[string]*partInst
	insts  []*partInst // creation order
	ids    []*queryRT  // per query: the prefix and id counter its instances share
	router *queryRT    // subscribed to the outer streams the partition reads
	f      frame
}

// partInst is one partition key's instance of the partition's queries.
type partInst struct {
	rt    *partRT
	key   string
	qs    []*queryRT
	inner []*streamRT // per inner stream: its subscribers in this instance
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
		pr.instance(r, kp.value(&pr.f).String(), true).deliver(r, def, ev)
		return
	}
	for _, rg := range kp.ranges {
		pr.f.ev, pr.f.ts = ev.vals, ev.ts
		if rg.cond(&pr.f).Bool() {
			pr.instance(r, rg.label, true).deliver(r, def, ev)
		}
	}
}

// deliver hands an event to the instance's queries reading its stream; each is one chunk.
func (inst *partInst) deliver(r *Runtime, def *StreamDef, ev *event) {
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
		q := r.newQuery(qp, r.part.tables, out)
		q.ids, q.prefix = pr.ids[i], pr.ids[i].prefix
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
	pr.byKey[key] = inst
	pr.insts = append(pr.insts, inst)
	r.part.order = append(r.part.order, inst)
	return inst
}

// encodePartitions appends the partition instances (in creation order) and their queries'
// states to a snapshot; apps without partitions append nothing.
func (r *Runtime) encodePartitions(b []byte) []byte {
	if r.part == nil {
		return b
	}
	b = binary.AppendUvarint(b, uint64(len(r.part.order)))
	for _, inst := range r.part.order {
		b = binary.AppendUvarint(b, uint64(inst.rt.p.idx))
		b = appendStr(b, inst.key)
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
