package engine

// streamScope resolves attributes of a simple query's input stream (f.ev).
type streamScope struct{ def *StreamDef }

func (s streamScope) resolve(e *exAttr) (evalFn, Type, error) {
	if e.qual != "" && e.qual != s.def.Name {
		return nil, 0, errAt(e.p, "unknown stream %s in %s.%s (the input is %s)", e.qual, e.qual, e.name, s.def.Name)
	}
	i := s.def.attrIndex(e.name)
	if i < 0 {
		return nil, 0, errAt(e.p, "stream %s has no attribute %s", s.def.Name, e.name)
	}
	return func(f *frame) Value { return f.ev[i] }, s.def.Attrs[i].Type, nil
}

// outScope resolves having's references to the select outputs (f.out).
type outScope struct{ attrs []Attr }

func (s outScope) resolve(e *exAttr) (evalFn, Type, error) {
	if e.qual == "" {
		for i, a := range s.attrs {
			if a.Name == e.name {
				return func(f *frame) Value { return f.out[i] }, a.Type, nil
			}
		}
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

func (s patScope) resolve(e *exAttr) (evalFn, Type, error) {
	si := -1
	if e.qual != "" {
		for i, st := range s.states {
			if st.alias == e.qual {
				si = i
			}
		}
		if si < 0 {
			return nil, 0, errAt(e.p, "unknown pattern alias %s", e.qual)
		}
		if si > s.limit {
			return nil, 0, errAt(e.p, "%s is not matched yet at this point of the pattern", e.qual)
		}
	} else if s.cur >= 0 {
		si = s.cur
	} else {
		for i, st := range s.states {
			if st.stream.attrIndex(e.name) >= 0 {
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
	if e.indexed && s.states[si].quant == 0 {
		return nil, 0, errAt(e.p, "%s matches one event: write %s.%s without an index", e.qual, e.qual, e.name)
	}
	if s.states[si].quant != 0 && (e.qual != "" || s.cur != si) {
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
