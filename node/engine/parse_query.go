package engine

import (
	"strings"
)

// query parses "from ... [select ...] [group by ...] [having ...] insert ... into T;".
func (p *parser) query(anns []*annotation) (*queryDecl, error) {
	from := p.next()
	q := &queryDecl{p: from.pos, anns: anns}
	for _, a := range anns {
		switch a.name {
		case "info":
			if n, ok := a.kv["name"]; ok {
				q.name = n
			}
		case "sink", "source":
			return nil, newCompileError(a.p, "@%s belongs on a 'define stream', not on a query", a.name)
		}
	}
	if p.isKw("every") || p.isPunct("(") || (p.peek().kind == tkIdent && p.peekN(1).kind == tkPunct && p.peekN(1).text == "=") {
		pi, err := p.patternInput()
		if err != nil {
			return nil, err
		}
		q.pattern = pi
	} else {
		si, err := p.simpleInput()
		if err != nil {
			return nil, err
		}
		q.simple = si
	}
	q.selectP = p.peek().pos
	if p.isKw("select") {
		p.next()
		if p.isPunct("*") {
			p.next()
			q.star = true
		} else {
			for {
				start := p.peek().pos
				e, err := p.expr()
				if err != nil {
					return nil, err
				}
				it := selItem{p: start, e: e}
				if p.isKw("as") {
					p.next()
					a, err := p.ident("alias after 'as'")
					if err != nil {
						return nil, err
					}
					it.alias = a.text
				}
				q.items = append(q.items, it)
				if !p.isPunct(",") {
					break
				}
				p.next()
			}
		}
	} else {
		q.star = true
	}
	if p.isKw("group") {
		p.next()
		if err := p.expectKw("by"); err != nil {
			return nil, err
		}
		for {
			e, err := p.primary()
			if err != nil {
				return nil, err
			}
			a, ok := e.(*exAttr)
			if !ok {
				return nil, newCompileError(e.at(), "group by takes attribute names")
			}
			q.groupBy = append(q.groupBy, a)
			if !p.isPunct(",") {
				break
			}
			p.next()
		}
	}
	if p.isKw("having") {
		p.next()
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		q.having = e
	}
	for _, kw := range []string{"order", "limit", "offset", "output"} {
		if p.isKw(kw) {
			return nil, newCompileError(p.peek().pos, "'%s' is not supported", kw)
		}
	}
	if err := p.expectKw("insert"); err != nil {
		if p.isKw("return") || p.isKw("delete") || p.isKw("update") {
			return nil, newCompileError(p.peek().pos, "only 'insert into' outputs are supported")
		}
		return nil, err
	}
	switch {
	case p.isKw("current"):
		p.next()
		q.out = outCurrent
	case p.isKw("expired"):
		p.next()
		q.out = outExpired
	case p.isKw("all"):
		p.next()
		q.out = outAll
	}
	if p.isKw("events") {
		p.next()
	}
	if err := p.expectKw("into"); err != nil {
		return nil, err
	}
	t, err := p.ident("output stream name")
	if err != nil {
		return nil, err
	}
	q.target, q.targetP = t.text, t.pos
	if _, err := p.expectPunct(";"); err != nil {
		return nil, err
	}
	return q, nil
}

func (p *parser) simpleInput() (*simpleInput, error) {
	st, err := p.ident("input stream name")
	if err != nil {
		return nil, err
	}
	si := &simpleInput{p: st.pos, stream: st.text}
	for {
		switch {
		case p.isPunct("["):
			p.next()
			e, err := p.expr()
			if err != nil {
				return nil, err
			}
			if _, err := p.expectPunct("]"); err != nil {
				return nil, err
			}
			if si.window == nil {
				si.preFilters = append(si.preFilters, e)
			} else {
				si.postFilters = append(si.postFilters, e)
			}
		case p.isPunct("#"):
			h := p.next()
			ns, err := p.ident("'window'")
			if err != nil {
				return nil, err
			}
			if !strings.EqualFold(ns.text, "window") || !p.isPunct(".") {
				return nil, newCompileError(ns.pos, "only '#window.<name>(...)' stream handlers are supported")
			}
			if si.window != nil {
				return nil, newCompileError(h.pos, "at most one window per input stream")
			}
			p.next()
			name, err := p.ident("window name")
			if err != nil {
				return nil, err
			}
			w := &windowSpec{p: name.pos, name: name.text}
			if _, err := p.expectPunct("("); err != nil {
				return nil, err
			}
			for !p.isPunct(")") {
				e, err := p.expr()
				if err != nil {
					return nil, err
				}
				w.args = append(w.args, e)
				if p.isPunct(",") {
					p.next()
				} else if !p.isPunct(")") {
					return nil, p.fail("',' or ')'")
				}
			}
			p.next()
			si.window = w
		default:
			if p.isKw("as") {
				return nil, newCompileError(p.peek().pos, "stream aliases ('as') are not supported in from; use the stream name")
			}
			return si, nil
		}
	}
}

func (p *parser) patternElem() (patElem, error) {
	if p.isPunct("(") { // parenthesised single element
		p.next()
		e, err := p.patternElem()
		if err != nil {
			return e, err
		}
		_, err = p.expectPunct(")")
		return e, err
	}
	al, err := p.ident("pattern alias (e.g. e1=Stream)")
	if err != nil {
		return patElem{}, err
	}
	if _, err := p.expectPunct("="); err != nil {
		return patElem{}, err
	}
	st, err := p.ident("stream name")
	if err != nil {
		return patElem{}, err
	}
	el := patElem{p: al.pos, alias: al.text, stream: st.text}
	if p.isPunct("[") {
		p.next()
		e, err := p.expr()
		if err != nil {
			return el, err
		}
		if _, err := p.expectPunct("]"); err != nil {
			return el, err
		}
		el.filter = e
	}
	if p.isPunct("<") {
		return el, newCompileError(p.peek().pos, "counting patterns (<n:m>) are not supported")
	}
	if p.isPunct("+") || p.isPunct("*") || p.isPunct("?") {
		t := p.next()
		el.quant, el.quantP = t.text[0], t.pos
	}
	return el, nil
}

func (p *parser) patternInput() (*patternInput, error) {
	pi := &patternInput{p: p.peek().pos}
	every := false
	if p.isKw("every") {
		p.next()
		every = true
	}
	sep := ""
	addSep := func() (bool, error) {
		if !(p.isPunct("->") || p.isPunct(",")) {
			return false, nil
		}
		t := p.next()
		if sep != "" && sep != t.text {
			return false, newCompileError(t.pos, "mixing '->' (pattern) and ',' (sequence) is not supported")
		}
		sep = t.text
		if p.isKw("every") {
			return false, newCompileError(p.peek().pos, "'every' is only supported on the first element or around the whole pattern")
		}
		return true, nil
	}
	if p.isPunct("(") && !(p.peekN(1).kind == tkIdent && p.peekN(2).kind == tkPunct && p.peekN(2).text == "=" && p.groupIsSingle()) {
		open := p.next()
		for {
			el, err := p.patternElem()
			if err != nil {
				return nil, err
			}
			pi.elems = append(pi.elems, el)
			more, err := addSep()
			if err != nil {
				return nil, err
			}
			if !more {
				break
			}
		}
		if _, err := p.expectPunct(")"); err != nil {
			return nil, err
		}
		if p.isPunct("->") || p.isPunct(",") {
			return nil, newCompileError(open.pos, "a parenthesised group must be the whole pattern")
		}
		if every {
			pi.every = everyAll
		}
	} else {
		for {
			el, err := p.patternElem()
			if err != nil {
				return nil, err
			}
			pi.elems = append(pi.elems, el)
			more, err := addSep()
			if err != nil {
				return nil, err
			}
			if !more {
				break
			}
		}
		if every {
			pi.every = everyFirst
		}
	}
	pi.sequence = sep == ","
	for i, el := range pi.elems {
		if el.quant == 0 {
			continue
		}
		switch {
		case !pi.sequence:
			return nil, newCompileError(el.quantP, "quantifier '%c' is only supported in sequences (elements separated by ',')", el.quant)
		case i == 0 || i == len(pi.elems)-1:
			return nil, newCompileError(el.quantP, "quantifier '%c' is only supported on a middle element of a sequence", el.quant)
		case pi.elems[i-1].quant != 0:
			return nil, newCompileError(el.quantP, "two quantified elements in a row are not supported")
		}
	}
	if p.isKw("within") {
		w := p.next()
		pi.withinP = w.pos
		if k := p.peek().kind; k != tkInt && k != tkLong {
			return nil, p.fail("a time value after 'within' (e.g. 10 sec)")
		}
		e, err := p.numberLiteral()
		if err != nil {
			return nil, err
		}
		pi.within = e.(*exLit).val.Long()
		if pi.within <= 0 {
			return nil, newCompileError(w.pos, "'within' needs a positive time")
		}
	}
	return pi, nil
}

// groupIsSingle reports whether the "(" at the cursor encloses exactly one element.
func (p *parser) groupIsSingle() bool {
	depth := 0
	for j := p.i; j < len(p.toks); j++ {
		t := p.toks[j]
		if t.kind == tkEOF {
			return false
		}
		if t.kind != tkPunct {
			continue
		}
		switch t.text {
		case "(", "[":
			depth++
		case ")", "]":
			depth--
			if depth == 0 {
				return true
			}
		case "->", ",":
			if depth == 1 {
				return false
			}
		}
	}
	return false
}
