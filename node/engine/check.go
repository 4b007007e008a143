package engine

import (
	"strconv"
	"strings"
)

// check turns the syntax tree into an App: resolves streams, types expressions, builds plans.
func check(d *appDecl) (*App, error) {
	a := &App{name: d.name, byName: map[string]*StreamDef{}, tableBy: map[string]*StreamDef{}}
	if a.name == "" {
		a.name = "StreamApp"
	}
	if strings.ContainsAny(a.name, "/\n") {
		return nil, errAt(pos{1, 1}, "app name %q must not contain '/'", a.name)
	}
	for _, s := range d.streams {
		kind := "stream"
		if s.table {
			kind = "table"
		}
		if prev := a.byName[s.name]; prev != nil || a.tableBy[s.name] != nil {
			if prev == nil {
				prev = a.tableBy[s.name]
			}
			// Siddhi accepts a definition repeated word for word (same kind, attributes and
			// types); it adds nothing. Annotations on the repeat would be lost, so it has none.
			if prev.Defined == !s.table && len(s.anns) == 0 && sameDeclAttrs(prev, s.attrs) {
				continue
			}
			return nil, errAt(s.p, "stream or table %s is defined twice", s.name)
		}
		def := &StreamDef{Name: s.name, Defined: !s.table, index: map[string]int{}}
		for _, at := range s.attrs {
			if _, dup := def.index[at.name]; dup {
				return nil, errAt(at.p, "attribute %s is declared twice in %s %s", at.name, kind, s.name)
			}
			def.index[at.name] = len(def.Attrs)
			def.Attrs = append(def.Attrs, Attr{Name: at.name, Type: at.typ})
		}
		if s.table {
			if err := checkTableAnns(s, def); err != nil {
				return nil, err
			}
			a.tables = append(a.tables, def)
			a.tableBy[def.Name] = def
			continue
		}
		for _, an := range s.anns {
			if an.name == "source" {
				src, err := sourceSpec(an)
				if err != nil {
					return nil, err
				}
				def.Sources = append(def.Sources, src)
				if err := sourceMap(def, an); err != nil {
					return nil, err
				}
				continue
			}
			if an.name != "sink" {
				continue // other annotations are ignored
			}
			sk, err := sinkSpec(an)
			if err != nil {
				return nil, err
			}
			def.Sinks = append(def.Sinks, sk)
		}
		a.streams = append(a.streams, def)
		a.byName[def.Name] = def
	}
	names := map[string]bool{}
	plans := make([]*queryPlan, len(d.queries))
	for i, q := range d.queries {
		name := q.name
		if name == "" {
			name = "q" + strconv.Itoa(i+1)
		}
		if strings.Contains(name, "/") || names[name] {
			return nil, errAt(q.p, "query name %q is duplicated or contains '/'", name)
		}
		names[name] = true
		plans[i] = &queryPlan{idx: i, name: name, outK: q.out}
	}
	// Queries may read streams created by later queries' 'insert into': compile in rounds.
	done := make([]bool, len(d.queries))
	for left := len(d.queries); left > 0; {
		progress := false
		for i, q := range d.queries {
			if done[i] || !a.inputsKnown(q) {
				continue
			}
			if err := a.checkQuery(q, plans[i]); err != nil {
				return nil, err
			}
			done[i], progress = true, true
			left--
		}
		if !progress {
			for i, q := range d.queries {
				if !done[i] {
					n, p := a.firstUnknown(q)
					return nil, errAt(p, "%s", unknownStream(n))
				}
			}
		}
	}
	a.queries = plans
	if err := a.checkPartitions(d, plans); err != nil {
		return nil, err
	}
	if err := a.checkCycles(d); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *App) inputsKnown(q *queryDecl) bool {
	n, _ := a.firstUnknown(q)
	return n == ""
}

func (a *App) firstUnknown(q *queryDecl) (string, pos) {
	var ins []*simpleInput
	switch {
	case q.simple != nil:
		ins = []*simpleInput{q.simple}
	case q.join != nil:
		ins = []*simpleInput{q.join.left, q.join.right}
	}
	for _, si := range ins {
		if !a.known(si.stream) {
			return si.stream, si.p
		}
	}
	if q.pattern == nil {
		return "", pos{}
	}
	for _, e := range q.pattern.elems {
		if !a.known(e.stream) {
			return e.stream, e.p
		}
	}
	return "", pos{}
}

// known reports whether name is a stream or a table (tables are never created by queries; the
// checker rejects them where a stream is needed).
func (a *App) known(name string) bool { return a.byName[name] != nil || a.tableBy[name] != nil }

// checkCycles marks the queries on a cycle of the query graph: a query whose output stream leads
// back to one of its inputs (Siddhi accepts such apps, e.g. a recursive join with a table). The
// runtime delivers their outputs after the event being processed, so no query is re-entered.
// Partitioned queries may not be on a cycle.
func (a *App) checkCycles(d *appDecl) error {
	next := map[string][]string{} // stream -> output streams of the queries reading it
	for _, q := range a.queries {
		if q.tbl != nil {
			continue // a table write feeds no query
		}
		for _, in := range q.inputs {
			next[in.Name] = append(next[in.Name], q.out.Name)
		}
	}
	for i, q := range a.queries {
		if q.tbl != nil {
			continue
		}
		ins := map[string]bool{}
		for _, in := range q.inputs {
			ins[in.Name] = true
		}
		seen := map[string]bool{}
		stack := []string{q.out.Name}
		for len(stack) > 0 && !q.cyclic {
			s := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen[s] {
				continue
			}
			seen[s] = true
			q.cyclic = ins[s]
			stack = append(stack, next[s]...)
		}
		if q.cyclic && q.part != nil {
			return errAt(d.queries[i].targetP, "inserting into %s creates a cycle of queries through a partition, which is not supported", d.queries[i].target)
		}
	}
	return nil
}

// bindOutput checks the select schema against an existing target or creates the target stream.
func (a *App) bindOutput(q *queryDecl, qp *queryPlan, attrs []Attr) error {
	if t := a.tableBy[q.target]; t != nil || q.op != opInsert {
		return a.bindTable(q, qp, t, attrs)
	}
	if t, ok := a.byName[q.target]; ok {
		if len(t.Attrs) != len(attrs) {
			return errAt(q.targetP, "stream %s has %d attributes, the query selects %d", t.Name, len(t.Attrs), len(attrs))
		}
		for i := range attrs {
			if t.Attrs[i].Type != attrs[i].Type {
				return errAt(q.targetP, "stream %s attribute %s is %s, the query selects %s %s",
					t.Name, t.Attrs[i].Name, t.Attrs[i].Type, attrs[i].Name, attrs[i].Type)
			}
		}
		qp.out = t
		return nil
	}
	def := &StreamDef{Name: q.target, Attrs: attrs, index: map[string]int{}}
	for i, at := range attrs {
		def.index[at.Name] = i
	}
	a.streams = append(a.streams, def)
	a.byName[def.Name] = def
	qp.out = def
	return nil
}

// sourceSpec records a @source annotation and its @map; the node checks the options.
func sourceSpec(an *annotation) (SourceSpec, error) {
	spec, err := ioSpec(an, "@source", "@source(type='http', receiver.url='http://0.0.0.0:8006/in')",
		func(sub *annotation, m *MapSpec) error {
			for _, at := range sub.sub {
				if at.name != "attributes" {
					m.Other = append(m.Other, at.name)
					continue
				}
				m.Attributes = at.kv
				m.Positional = at.pos
			}
			return nil
		})
	return SourceSpec(spec), err
}

// sinkSpec records a @sink annotation and its nested @map; the node checks the options and the
// mapping (node/sink).
func sinkSpec(an *annotation) (SinkSpec, error) {
	return ioSpec(an, "@sink", "@sink(type='log')", func(sub *annotation, m *MapSpec) error {
		for _, at := range sub.sub {
			m.Other = append(m.Other, at.name)
		}
		if len(sub.pos) > 0 {
			return errAt(sub.p, "@map of a @sink takes name='value' options only")
		}
		return nil
	})
}

// ioSpec reads what @source and @sink (kind) share: the type, the other options verbatim and at
// most one nested @map with its type and options; mapped reads the rest of that @map.
func ioSpec(an *annotation, kind, example string, mapped func(sub *annotation, m *MapSpec) error) (SinkSpec, error) {
	t, ok := an.kv["type"]
	if !ok {
		return SinkSpec{}, errAt(an.p, "%s needs a type, e.g. %s", kind, example)
	}
	spec := SinkSpec{Type: t, Options: optionsBut(an.kv, "type"), Line: an.p.line, Col: an.p.col}
	for _, sub := range an.sub {
		if sub.name != "map" {
			return SinkSpec{}, errAt(sub.p, "%s takes only a nested @map, not @%s", kind, sub.name)
		}
		if spec.Map.Type != "" {
			return SinkSpec{}, errAt(sub.p, "%s has two @map annotations", kind)
		}
		mt, ok := sub.kv["type"]
		if !ok {
			return SinkSpec{}, errAt(sub.p, "@map needs a type, e.g. @map(type='json')")
		}
		spec.Map = MapSpec{Type: mt, Options: optionsBut(sub.kv, "type")}
		if err := mapped(sub, &spec.Map); err != nil {
			return SinkSpec{}, err
		}
	}
	return spec, nil
}

// optionsBut copies kv without the key skip.
func optionsBut(kv map[string]string, skip string) map[string]string {
	out := make(map[string]string, len(kv))
	for k, v := range kv {
		if k != skip {
			out[k] = v
		}
	}
	return out
}

// sourceMap reads fail.on.missing.attribute of a @source's @map into def.
func sourceMap(def *StreamDef, src *annotation) error {
	for _, m := range src.sub {
		if m.name != "map" {
			continue
		}
		v, ok := m.kv["fail.on.missing.attribute"]
		if !ok {
			continue
		}
		switch strings.ToLower(v) {
		case "true":
			def.MissingAsNull = false
		case "false":
			def.MissingAsNull = true
		default:
			return errAt(m.kvAt["fail.on.missing.attribute"], "fail.on.missing.attribute must be 'true' or 'false', not %q", v)
		}
	}
	return nil
}

// sameDeclAttrs reports whether declared attributes equal a definition's, by name, type and order.
func sameDeclAttrs(def *StreamDef, attrs []attrDecl) bool {
	if len(def.Attrs) != len(attrs) {
		return false
	}
	for i, at := range attrs {
		if def.Attrs[i].Name != at.name || def.Attrs[i].Type != at.typ {
			return false
		}
	}
	return true
}
