package engine

import (
	"strconv"
	"strings"
)

// Expression grammar, lowest precedence first:
//   or  →  and  →  not  →  comparison (== != < <= > >= , "is null")  →  + -  →  * / %  →  unary -  →  primary

const maxExprDepth = 200

func (p *parser) expr() (expr, error) { return p.orExpr(0) }

func (p *parser) orExpr(d int) (expr, error) {
	if d > maxExprDepth {
		return nil, newCompileError(p.peek().pos, "expression nested too deeply")
	}
	l, err := p.andExpr(d)
	if err != nil {
		return nil, err
	}
	for p.isKw("or") {
		t := p.next()
		r, err := p.andExpr(d)
		if err != nil {
			return nil, err
		}
		l = &exBinary{p: t.pos, op: "or", l: l, r: r}
	}
	return l, nil
}

func (p *parser) andExpr(d int) (expr, error) {
	l, err := p.inExpr(d)
	if err != nil {
		return nil, err
	}
	for p.isKw("and") {
		t := p.next()
		r, err := p.inExpr(d)
		if err != nil {
			return nil, err
		}
		l = &exBinary{p: t.pos, op: "and", l: l, r: r}
	}
	return l, nil
}

// inExpr parses "<condition> in Table", which binds looser than comparisons and tighter than
// 'and', as in SiddhiQL.
func (p *parser) inExpr(d int) (expr, error) {
	l, err := p.notExpr(d)
	if err != nil {
		return nil, err
	}
	for p.isKw("in") {
		t := p.next()
		name, err := p.ident("table name after 'in'")
		if err != nil {
			return nil, err
		}
		l = &exIn{p: t.pos, cond: l, table: name.text, tableP: name.pos}
	}
	return l, nil
}

func (p *parser) notExpr(d int) (expr, error) {
	if p.isKw("not") {
		t := p.next()
		x, err := p.notExpr(d + 1)
		if err != nil {
			return nil, err
		}
		return &exUnary{p: t.pos, op: "not", x: x}, nil
	}
	return p.cmpExpr(d)
}

func (p *parser) cmpExpr(d int) (expr, error) {
	l, err := p.addExpr(d)
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		if t.kind == tkIdent && strings.EqualFold(t.text, "is") {
			p.next()
			if err := p.expectKw("null"); err != nil {
				return nil, err
			}
			l = &exCall{p: t.pos, name: "isNull", args: []expr{l}}
			continue
		}
		if t.kind != tkPunct {
			return l, nil
		}
		switch t.text {
		case "==", "!=", "<>", "<", "<=", ">", ">=":
		case "=":
			return nil, newCompileError(t.pos, "use '==' to compare")
		default:
			return l, nil
		}
		p.next()
		r, err := p.addExpr(d)
		if err != nil {
			return nil, err
		}
		op := t.text
		if op == "<>" {
			op = "!="
		}
		l = &exBinary{p: t.pos, op: op, l: l, r: r}
	}
}

func (p *parser) addExpr(d int) (expr, error) {
	l, err := p.mulExpr(d)
	if err != nil {
		return nil, err
	}
	for p.isPunct("+") || p.isPunct("-") {
		t := p.next()
		r, err := p.mulExpr(d)
		if err != nil {
			return nil, err
		}
		l = &exBinary{p: t.pos, op: t.text, l: l, r: r}
	}
	return l, nil
}

func (p *parser) mulExpr(d int) (expr, error) {
	l, err := p.unary(d)
	if err != nil {
		return nil, err
	}
	for p.isPunct("*") || p.isPunct("/") || p.isPunct("%") {
		t := p.next()
		r, err := p.unary(d)
		if err != nil {
			return nil, err
		}
		l = &exBinary{p: t.pos, op: t.text, l: l, r: r}
	}
	return l, nil
}

func (p *parser) unary(d int) (expr, error) {
	if p.isPunct("-") {
		t := p.next()
		if d > maxExprDepth {
			return nil, newCompileError(t.pos, "expression nested too deeply")
		}
		x, err := p.unary(d + 1)
		if err != nil {
			return nil, err
		}
		if lit, ok := x.(*exLit); ok { // fold negative literals
			switch lit.val.t {
			case TypeInt:
				if lit.val.Int() != -2147483648 {
					return &exLit{p: t.pos, val: IntValue(-lit.val.Int())}, nil
				}
			case TypeLong:
				return &exLit{p: t.pos, val: LongValue(-lit.val.Long())}, nil
			case TypeDouble:
				return &exLit{p: t.pos, val: DoubleValue(-lit.val.Double())}, nil
			case TypeFloat:
				return &exLit{p: t.pos, val: FloatValue(-lit.val.Float())}, nil
			}
		}
		return &exUnary{p: t.pos, op: "-", x: x}, nil
	}
	if p.isPunct("+") {
		p.next()
		return p.unary(d + 1)
	}
	return p.primary0(d)
}

func (p *parser) primary() (expr, error) { return p.primary0(0) }

func (p *parser) primary0(d int) (expr, error) {
	t := p.peek()
	switch t.kind {
	case tkInt, tkLong, tkDouble, tkFloat:
		return p.numberLiteral()
	case tkString:
		p.next()
		return &exLit{p: t.pos, val: StringValue(t.text)}, nil
	case tkPunct:
		if t.text == "#" { // #Inner.x: an inner stream's attribute, inside a partition
			return p.innerAttr()
		}
		if t.text == "(" {
			p.next()
			e, err := p.orExpr(d + 1)
			if err != nil {
				return nil, err
			}
			if _, err := p.expectPunct(")"); err != nil {
				return nil, err
			}
			return e, nil
		}
	case tkIdent:
		p.next()
		switch strings.ToLower(t.text) {
		case "true":
			return &exLit{p: t.pos, val: BoolValue(true)}, nil
		case "false":
			return &exLit{p: t.pos, val: BoolValue(false)}, nil
		case "null":
			return &exLit{p: t.pos}, nil
		}
		name := t.text
		if p.isPunct(":") && p.peekN(1).kind == tkIdent { // namespaced function, e.g. str:concat
			p.next()
			name += ":" + p.next().text
			if !p.isPunct("(") {
				return nil, p.fail("'(' after function name")
			}
		}
		if p.isPunct("(") {
			p.next()
			c := &exCall{p: t.pos, name: name}
			if p.isPunct("*") {
				p.next()
				c.star = true
			}
			for !p.isPunct(")") {
				if c.star {
					return nil, p.fail("')'")
				}
				a, err := p.orExpr(d + 1)
				if err != nil {
					return nil, err
				}
				c.args = append(c.args, a)
				if p.isPunct(",") {
					p.next()
				} else if !p.isPunct(")") {
					return nil, p.fail("',' or ')'")
				}
			}
			p.next()
			return c, nil
		}
		at := &exAttr{p: t.pos, qual: t.text}
		if p.isPunct("[") { // e2[0].x, e2[last].x, e2[last-1].x
			p.next()
			at.indexed = true
			if p.isKw("last") {
				p.next()
				at.fromLast = true
				if p.isPunct("-") {
					p.next()
					if p.peek().kind != tkInt {
						return nil, p.fail("an index after 'last -'")
					}
					n, err := strconv.Atoi(p.next().text)
					if err != nil {
						return nil, newCompileError(t.pos, "bad index")
					}
					at.index = n
				}
			} else if p.peek().kind == tkInt {
				n, err := strconv.Atoi(p.next().text)
				if err != nil {
					return nil, newCompileError(t.pos, "bad index")
				}
				at.index = n
			} else {
				return nil, p.fail("an event index (a number or 'last')")
			}
			if _, err := p.expectPunct("]"); err != nil {
				return nil, err
			}
			if !p.isPunct(".") {
				if n := p.peek(); n.kind == tkIdent && strings.EqualFold(n.text, "is") {
					return at, nil // a whole event, e2[last-1] is null (name "")
				}
				return nil, p.fail("'.' and an attribute after the event index")
			}
		}
		if p.isPunct(".") {
			p.next()
			a, err := p.ident("attribute name after '.'")
			if err != nil {
				return nil, err
			}
			at.name = a.text
			return at, nil
		}
		return &exAttr{p: t.pos, name: t.text}, nil
	}
	return nil, p.fail("an expression")
}
