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
	q.opP = p.peek().pos
	switch {
	case p.isKw("delete"):
		p.next()
		q.op = opDelete
		return q, p.tableOutput(q)
	case p.isKw("update"):
		p.next()
		q.op = opUpdate
		if p.isKw("or") {
			p.next()
			if err := p.expectKw("insert"); err != nil {
				return nil, err
			}
			if err := p.expectKw("into"); err != nil {
				return nil, err
			}
			q.op = opUpsert
		}
		return q, p.tableOutput(q)
	case p.isKw("return"):
		return nil, newCompileError(p.peek().pos, "'return' outputs are not supported: use insert into, delete, update or update or insert into")
	}
	if err := p.expectKw("insert"); err != nil {
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
	if err := p.outStream(q); err != nil {
		return nil, err
	}
	if err := p.endStatement(); err != nil {
		return nil, err
	}
	return q, nil
}

// target parses the name a query writes to.
func (p *parser) target(q *queryDecl, what string) error {
	t, err := p.ident(what)
	if err != nil {
		return err
	}
	q.target, q.targetP = t.text, t.pos
	return nil
}

// tableOutput parses the rest of "delete T on cond;", "update T [set T.a = e, ...] on cond;" or
// "update or insert into T [set ...] on cond;" after its keywords.
func (p *parser) tableOutput(q *queryDecl) error {
	if err := p.target(q, "table name"); err != nil {
		return err
	}
	if q.op != opDelete && p.isKw("set") {
		p.next()
		for {
			e, err := p.primary()
			if err != nil {
				return err
			}
			at, ok := e.(*exAttr)
			if !ok || at.indexed {
				return newCompileError(e.at(), "set assigns table attributes: write set %s.a = <value>", q.target)
			}
			if _, err := p.expectPunct("="); err != nil {
				return err
			}
			v, err := p.expr()
			if err != nil {
				return err
			}
			q.sets = append(q.sets, setItem{attr: at, e: v})
			if !p.isPunct(",") {
				break
			}
			p.next()
		}
	}
	if p.isKw("for") {
		return newCompileError(p.peek().pos, "'for ... events' on table outputs is not supported: the query's output events change the table")
	}
	if err := p.expectKw("on"); err != nil {
		return err
	}
	on, err := p.expr()
	if err != nil {
		return err
	}
	q.on = on
	return p.endStatement()
}

func (p *parser) simpleInput() (*simpleInput, error) {
	st, err := p.streamName("input stream name")
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
