package engine

import (
	"strings"
)

// query parses "from ... [select ...] [group by ...] [having ...] [order by ...] [limit N] [offset N]
// [output ...] insert ... into T;".
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
	if p.isKw("every") || p.isPunct("(") || (p.isKw("not") && p.peekN(1).kind == tkIdent) || (p.peek().kind == tkIdent && p.peekN(1).kind == tkPunct && p.peekN(1).text == "=") {
		pi, err := p.patternInput()
		if err != nil {
			return nil, err
		}
		q.pattern = pi
		if p.joinStart() {
			return nil, newCompileError(p.peek().pos, "joins are not supported in pattern queries")
		}
	} else {
		si, err := p.simpleInput()
		if err != nil {
			return nil, err
		}
		ji, err := p.joinInput(si)
		if err != nil {
			return nil, err
		}
		if ji != nil {
			q.join = ji
		} else {
			q.simple = si
		}
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
	if err := p.outputClauses(q); err != nil {
		return nil, err
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
				p.next()
				a, err := p.ident("stream alias after 'as'")
				if err != nil {
					return nil, err
				}
				si.alias, si.aliasP = a.text, a.pos
			}
			if p.isKw("unidirectional") {
				si.uni, si.uniP = true, p.next().pos
			}
			return si, nil
		}
	}
}
