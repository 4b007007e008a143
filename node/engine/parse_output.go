package engine

import "strings"

// Parsing of the clauses between 'having' and 'insert': order by, limit, offset and output rate
// limiting ("output [all|first|last] every N events | <time>", "output snapshot every <time>").

// outputClauses parses the optional order by, limit, offset and output clauses, in that order.
func (p *parser) outputClauses(q *queryDecl) error {
	if p.isKw("order") {
		q.orderP = p.next().pos
		if err := p.expectKw("by"); err != nil {
			return err
		}
		for {
			e, err := p.primary()
			if err != nil {
				return err
			}
			a, ok := e.(*exAttr)
			if !ok || a.indexed {
				return newCompileError(e.at(), "order by takes attribute names")
			}
			it := orderItem{attr: a}
			if p.isKw("asc") {
				p.next()
			} else if p.isKw("desc") {
				p.next()
				it.desc = true
			}
			q.orderBy = append(q.orderBy, it)
			if !p.isPunct(",") {
				break
			}
			p.next()
		}
	}
	var err error
	if q.limit, err = p.optionalCount("limit"); err != nil {
		return err
	}
	if q.offset, err = p.optionalCount("offset"); err != nil {
		return err
	}
	if p.isKw("output") {
		if q.rate, err = p.outputRate(); err != nil {
			return err
		}
	}
	for _, kw := range []string{"order", "limit", "offset", "output"} {
		if p.isKw(kw) {
			return newCompileError(p.peek().pos, "'%s' is out of place or repeated: the clauses after having are order by, limit, offset, output, in this order", kw)
		}
	}
	return nil
}

// optionalCount parses "kw <expr>" when the next token is kw; the checker requires a literal.
func (p *parser) optionalCount(kw string) (expr, error) {
	if !p.isKw(kw) {
		return nil, nil
	}
	p.next()
	e, err := p.expr()
	if err != nil {
		return nil, err
	}
	return e, nil
}

// outputRate parses "output [all|first|last] every (N events | <time>)" and
// "output snapshot every <time>".
func (p *parser) outputRate() (*rateDecl, error) {
	rd := &rateDecl{p: p.next().pos}
	for k, name := range rateNames {
		if p.isKw(name) {
			p.next()
			rd.kind = rateKind(k)
			break
		}
	}
	if err := p.expectKw("every"); err != nil {
		return nil, err
	}
	t := p.peek()
	rd.valP = t.pos
	if t.kind != tkInt && t.kind != tkLong {
		return nil, p.fail("an event count or a time period after 'every' (e.g. '10 events' or '1 sec')")
	}
	if u := p.peekN(1); u.kind == tkIdent && (strings.EqualFold(u.text, "events") || strings.EqualFold(u.text, "event")) {
		if rd.kind == rateSnapshot {
			return nil, newCompileError(t.pos, "output snapshot takes a time period (e.g. 'every 1 sec'), not an event count")
		}
		lit, err := p.numberLiteral()
		if err != nil {
			return nil, err
		}
		p.next() // events
		rd.events = lit.(*exLit).val.Long()
		if rd.events <= 0 {
			return nil, newCompileError(t.pos, "output rate event count must be positive")
		}
		return rd, nil
	}
	if u := p.peekN(1); u.kind != tkIdent {
		return nil, newCompileError(u.pos, "expected 'events' or a time unit (ms, sec, min, ...) after %s", t.text)
	} else if _, ok := timeUnit(u.text); !ok {
		return nil, newCompileError(u.pos, "expected 'events' or a time unit (ms, sec, min, ...), found %s", describe(u))
	}
	lit, err := p.numberLiteral()
	if err != nil {
		return nil, err
	}
	rd.dur = lit.(*exLit).val.Long()
	if rd.dur <= 0 {
		return nil, newCompileError(t.pos, "output rate period must be positive")
	}
	return rd, nil
}
