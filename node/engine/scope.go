package engine

// streamScope resolves attributes of a simple query's input stream (f.ev), qualified by the
// stream name or its alias, or not at all.
type streamScope struct {
	def   *StreamDef
	alias string
}

func (s streamScope) resolve(e *exAttr) (evalFn, Type, error) {
	if e.indexed {
		return nil, 0, errAt(e.p, "indexed references (%s[i].%s) are only for patterns and sequences", e.qual, e.name)
	}
	if e.qual != "" && e.qual != s.def.Name && e.qual != s.alias {
		return nil, 0, errAt(e.p, "unknown stream %s in %s.%s (the input is %s)", e.qual, e.qual, e.name, s.def.Name)
	}
	i := s.def.attrIndex(e.name)
	if i < 0 {
		return nil, 0, errAt(e.p, "stream %s has no attribute %s", s.def.Name, e.name)
	}
	return func(f *frame) Value { return f.ev[i] }, s.def.Attrs[i].Type, nil
}

// outScope resolves having's references to the select outputs (f.out). In a join (in set),
// as Siddhi allows, other references read the joined row's input attributes (f.ev).
type outScope struct {
	attrs []Attr
	in    scope
}

func (s outScope) resolve(e *exAttr) (evalFn, Type, error) {
	if e.qual == "" {
		for i, a := range s.attrs {
			if a.Name == e.name {
				return func(f *frame) Value { return f.out[i] }, a.Type, nil
			}
		}
	}
	if s.in != nil {
		return s.in.resolve(e)
	}
	return nil, 0, errAt(e.p, "having can only use the select's output attributes; %s is not one", e.name)
}

// patScope resolves pattern references: alias.attr to a bound event, bare names to the state's
// own stream (cur, or -1 in select where bare names must be unambiguous).
type patScope struct {
	states []patState
	cur    int
	limit  int // aliases with index > limit are not bound yet
}

// wholeEvent compiles "e2 is null" / "e2[i] is null" (e a bare alias or an indexed alias
// without attribute): true when the element has not bound that event. In the element's own
// condition, a counting element's indexes read the events collected so far.
func (s patScope) wholeEvent(e *exAttr) (evalFn, bool) {
	name := e.qual
	if !e.indexed {
		if e.qual != "" {
			return nil, false
		}
		name = e.name
	} else if e.name != "" {
		return nil, false
	}
	si := -1
	for i, st := range s.states {
		if st.alias == name && !st.absent {
			si = i
			break
		}
	}
	if si < 0 || si > s.limit {
		return nil, false
	}
	idx, fromLast, indexed := e.index, e.fromLast, e.indexed
	if s.states[si].quant == 0 {
		if indexed && idx != 0 {
			return func(*frame) Value { return BoolValue(true) }, true // one event: other indexes are null
		}
		return func(f *frame) Value { return BoolValue(f.refs == nil || f.refs[si] == nil) }, true
	}
	return func(f *frame) Value {
		if f.lists == nil {
			return BoolValue(true)
		}
		l := f.lists[si]
		if !indexed {
			return BoolValue(len(l) == 0)
		}
		j := idx
		if fromLast {
			j = len(l) - 1 - idx
		}
		return BoolValue(j < 0 || j >= len(l))
	}, true
}

func (s patScope) resolve(e *exAttr) (evalFn, Type, error) {
	si := -1
	if e.qual != "" {
		for i, st := range s.states {
			if st.alias == e.qual && !st.absent {
				si = i // the first element of the alias (an alias may name two, as in Siddhi)
				break
			}
		}
		if si < 0 {
			return nil, 0, errAt(e.p, "unknown pattern alias %s", e.qual)
		}
		if si > s.limit {
			return nil, 0, errAt(e.p, "%s is not matched yet at this point of the pattern", e.qual)
		}
		if e.name == "" {
			return nil, 0, errAt(e.p, "a whole event (%s[...]) can only be tested with 'is null'; read an attribute with %s[...].x", e.qual, e.qual)
		}
	} else if s.cur >= 0 {
		si = s.cur
	} else {
		for i, st := range s.states {
			if !st.absent && st.stream.attrIndex(e.name) >= 0 {
				if si >= 0 {
					return nil, 0, errAt(e.p, "attribute %s is ambiguous: qualify it with an alias (e.g. %s.%s)", e.name, st.alias, e.name)
				}
				si = i
			}
		}
		if si < 0 {
			return nil, 0, errAt(e.p, "no pattern stream has an attribute %s", e.name)
		}
	}
	def := s.states[si].stream
	i := def.attrIndex(e.name)
	if i < 0 {
		return nil, 0, errAt(e.p, "stream %s (%s) has no attribute %s", def.Name, s.states[si].alias, e.name)
	}
	if e.indexed && s.states[si].quant == 0 && e.index != 0 {
		// an element that matches one event holds it at e2[0] (= e2[last]); other indexes are
		// null, as in Siddhi
		return func(*frame) Value { return Value{} }, def.Attrs[i].Type, nil
	}
	// In its own condition, a counting element's alias without an index (e2.x) is the event being
	// tested, as in Siddhi; e2[i].x there reads the events collected so far.
	own := si == s.cur && (e.qual == "" || !e.indexed)
	if s.states[si].quant != 0 && !own {
		idx, fromLast := e.index, e.fromLast
		return func(f *frame) Value {
			if f.lists == nil {
				return Value{}
			}
			l := f.lists[si]
			j := idx
			if fromLast {
				j = len(l) - 1 - idx
			}
			if j < 0 || j >= len(l) {
				return Value{}
			}
			return l[j][i]
		}, def.Attrs[i].Type, nil
	}
	return func(f *frame) Value {
		if r := f.refs[si]; r != nil {
			return r[i]
		}
		return Value{}
	}, def.Attrs[i].Type, nil
}

// joinScope resolves a join's attribute references: in the joined row (f.ev), where each side's
// attributes start at its offset, or, for the join condition (refs), in the pair's events
// f.refs[0] and f.refs[1]. A side's filters use the side's streamScope. A name is qualified by a
// side's alias or stream name; an unqualified name must belong to one side only.
type joinScope struct {
	sides [2]joinRef
	refs  bool
}

type joinRef struct {
	def   *StreamDef
	alias string
	off   int
}

// label names a side in messages: "S" or "S as s".
func (r joinRef) label() string {
	if r.alias == "" {
		return r.def.Name
	}
	return r.def.Name + " as " + r.alias
}

func (s joinScope) resolve(e *exAttr) (evalFn, Type, error) {
	if e.indexed {
		return nil, 0, errAt(e.p, "indexed references (%s[i].%s) are only for pattern sequences", e.qual, e.name)
	}
	side := -1
	switch {
	case e.qual != "":
		for i, sd := range s.sides {
			// an aliased side is named by its alias only, as in Siddhi
			if sd.alias == e.qual || (sd.alias == "" && sd.def.Name == e.qual) {
				if side >= 0 {
					return nil, 0, errAt(e.p, "%s names both sides of the join: qualify %s with an alias", e.qual, e.name)
				}
				side = i
			}
		}
		if side < 0 {
			return nil, 0, errAt(e.p, "unknown stream or alias %s in %s.%s (the join reads %s and %s)",
				e.qual, e.qual, e.name, s.sides[0].label(), s.sides[1].label())
		}
	default:
		for i, sd := range s.sides {
			if sd.def.attrIndex(e.name) >= 0 {
				if side >= 0 {
					q := s.sides[0].alias
					if q == "" {
						q = s.sides[0].def.Name
					}
					return nil, 0, errAt(e.p, "attribute %s is ambiguous: both %s and %s have it; qualify it (e.g. %s.%s)",
						e.name, s.sides[0].label(), s.sides[1].label(), q, e.name)
				}
				side = i
			}
		}
		if side < 0 {
			return nil, 0, errAt(e.p, "no stream of the join has an attribute %s", e.name)
		}
	}
	sd := s.sides[side]
	i := sd.def.attrIndex(e.name)
	if i < 0 {
		return nil, 0, errAt(e.p, "stream %s has no attribute %s", sd.label(), e.name)
	}
	t := sd.def.Attrs[i].Type
	if s.refs {
		return func(f *frame) Value { return f.refs[side][i] }, t, nil
	}
	i += sd.off
	return func(f *frame) Value { return f.ev[i] }, t, nil
}
