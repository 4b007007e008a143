package engine

import (
	"math"
	"strconv"
	"strings"
)

// parser is a recursive-descent parser over the token slice.
type parser struct {
	toks []token
	i    int
	part *partDecl // the partition being parsed; nil outside one
	// partN numbers partitions from 1; inner maps an inner stream name to the partition that
	// used it first (a later partition's stream of that name is named #Name@<partN>)
	partN int
	inner map[string]int
}

func (p *parser) peek() token { return p.toks[p.i] }

// endStatement reads the ';' ending a definition or query; the app's last one may omit it, as
// Siddhi allows.
func (p *parser) endStatement() error {
	if p.peek().kind == tkEOF || (p.part != nil && p.isKw("end")) {
		return nil
	}
	_, err := p.expectPunct(";")
	return err
}
func (p *parser) peekN(n int) token {
	if p.i+n < len(p.toks) {
		return p.toks[p.i+n]
	}
	return p.toks[len(p.toks)-1]
}
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tkEOF {
		p.i++
	}
	return t
}

func (p *parser) isPunct(s string) bool { t := p.peek(); return t.kind == tkPunct && t.text == s }
func (p *parser) isKw(s string) bool    { return isKwTok(p.peek(), s) }

// isKwTok reports whether t is the keyword s (keywords are case-insensitive identifiers).
func isKwTok(t token, s string) bool { return t.kind == tkIdent && strings.EqualFold(t.text, s) }

func describe(t token) string {
	switch t.kind {
	case tkEOF:
		return "end of input"
	case tkString:
		return "string '" + truncate(t.text, 20) + "'"
	case tkIdent:
		return "'" + t.text + "'"
	}
	return "'" + t.text + "'"
}

func (p *parser) fail(what string) error {
	t := p.peek()
	return newCompileError(t.pos, "expected %s, found %s", what, describe(t))
}

func (p *parser) expectPunct(s string) (token, error) {
	if !p.isPunct(s) {
		return token{}, p.fail("'" + s + "'")
	}
	return p.next(), nil
}

func (p *parser) expectKw(s string) error {
	if !p.isKw(s) {
		return p.fail("'" + s + "'")
	}
	p.next()
	return nil
}

func (p *parser) ident(what string) (token, error) {
	if p.peek().kind != tkIdent {
		return token{}, p.fail(what)
	}
	return p.next(), nil
}

// parseApp parses a whole app: annotations, stream definitions and queries.
func parseApp(src string) (*appDecl, error) {
	toks, err := tokenize(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	app := &appDecl{}
	for p.peek().kind != tkEOF {
		if p.isPunct(";") {
			p.next()
			continue
		}
		var anns []*annotation
		for p.isPunct("@") {
			a, err := p.annotation()
			if err != nil {
				return nil, err
			}
			if strings.HasPrefix(a.name, "app:") {
				if a.name == "app:name" {
					if len(a.pos) != 1 {
						return nil, newCompileError(a.p, "@app:name needs one string, e.g. @app:name('MyApp')")
					}
					app.name = a.pos[0]
				}
				continue
			}
			anns = append(anns, a)
		}
		switch {
		case p.isKw("define"):
			s, err := p.defineStream(anns)
			if err != nil {
				return nil, err
			}
			app.streams = append(app.streams, s)
			app.order = append(app.order, s)
		case p.isKw("from"):
			q, err := p.query(anns)
			if err != nil {
				return nil, err
			}
			app.queries = append(app.queries, q)
			app.order = append(app.order, q)
		case p.peek().kind == tkEOF && len(anns) == 0:
		case p.isKw("partition"):
			if err := p.partition(app, anns); err != nil {
				return nil, err
			}
		default:
			return nil, p.fail("'define stream', 'define table' or 'from'")
		}
	}
	return app, nil
}

func (p *parser) annotation() (*annotation, error) {
	at, _ := p.expectPunct("@")
	name, err := p.ident("annotation name")
	if err != nil {
		return nil, err
	}
	a := &annotation{p: at.pos, name: strings.ToLower(name.text), kv: map[string]string{}, kvAt: map[string]pos{}}
	if p.isPunct(":") {
		p.next()
		n2, err := p.ident("annotation name after ':'")
		if err != nil {
			return nil, err
		}
		a.name += ":" + strings.ToLower(n2.text)
	}
	if !p.isPunct("(") {
		return a, nil
	}
	p.next()
	for !p.isPunct(")") {
		switch {
		case p.isPunct("@"):
			sub, err := p.annotation() // nested annotations: @map(... @attributes(...))
			if err != nil {
				return nil, err
			}
			a.sub = append(a.sub, sub)
		case p.peek().kind == tkString:
			a.pos = append(a.pos, p.next().text)
		case p.peek().kind == tkIdent:
			k := p.next()
			key := k.text
			for p.isPunct(".") { // keys like "method.name"
				p.next()
				k2, err := p.ident("option name")
				if err != nil {
					return nil, err
				}
				key += "." + k2.text
			}
			if _, err := p.expectPunct("="); err != nil {
				return nil, err
			}
			v := p.peek()
			if v.kind != tkString {
				return nil, p.fail("a quoted option value")
			}
			p.next()
			if _, dup := a.kv[key]; dup {
				return nil, newCompileError(k.pos, "duplicate option %q", key)
			}
			a.kv[key] = v.text
			a.kvAt[key] = k.pos
		default:
			return nil, p.fail("annotation option")
		}
		if p.isPunct(",") {
			p.next()
			continue
		}
		if !p.isPunct(")") {
			return nil, p.fail("',' or ')'")
		}
	}
	p.next()
	return a, nil
}

func (p *parser) defineStream(anns []*annotation) (*streamDecl, error) {
	p.next() // define
	if p.isKw("window") || p.isKw("trigger") || p.isKw("aggregation") || p.isKw("function") {
		return nil, newCompileError(p.peek().pos, "'define %s' is not supported (only 'define stream' and 'define table')", p.peek().text)
	}
	table := p.isKw("table")
	if table {
		p.next()
	} else if err := p.expectKw("stream"); err != nil {
		return nil, err
	}
	what := "stream name"
	if table {
		what = "table name"
	}
	name, err := p.ident(what)
	if err != nil {
		return nil, err
	}
	s := &streamDecl{p: name.pos, name: name.text, anns: anns, table: table}
	if _, err := p.expectPunct("("); err != nil {
		return nil, err
	}
	for {
		an, err := p.ident("attribute name")
		if err != nil {
			return nil, err
		}
		tt, err := p.ident("attribute type")
		if err != nil {
			return nil, err
		}
		typ, ok := parseType(strings.ToLower(tt.text))
		if !ok {
			return nil, newCompileError(tt.pos, "unknown type %q (want string, int, long, double, float or bool)", tt.text)
		}
		s.attrs = append(s.attrs, attrDecl{p: an.pos, name: an.text, typ: typ})
		if p.isPunct(",") {
			p.next()
			continue
		}
		break
	}
	if _, err := p.expectPunct(")"); err != nil {
		return nil, err
	}
	if err := p.endStatement(); err != nil {
		return nil, err
	}
	return s, nil
}

// timeUnit returns the milliseconds of a time unit keyword.
func timeUnit(s string) (int64, bool) {
	switch strings.ToLower(s) {
	case "ms", "millisec", "millisecs", "millisecond", "milliseconds":
		return 1, true
	case "sec", "secs", "second", "seconds":
		return 1000, true
	case "min", "mins", "minute", "minutes":
		return 60_000, true
	case "hour", "hours":
		return 3_600_000, true
	case "day", "days":
		return 86_400_000, true
	case "week", "weeks":
		return 7 * 86_400_000, true
	}
	return 0, false
}

// literal parses a number token (with an optional time unit) or a string/bool.
func (p *parser) numberLiteral() (expr, error) {
	t := p.next()
	var v Value
	switch t.kind {
	case tkInt, tkLong:
		i, err := strconv.ParseInt(t.text, 10, 64)
		if err != nil {
			return nil, newCompileError(t.pos, "number %s out of range", t.text)
		}
		if t.kind == tkInt && i <= math.MaxInt32 {
			v = IntValue(int32(i))
		} else {
			v = LongValue(i)
		}
	case tkDouble, tkFloat:
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return nil, newCompileError(t.pos, "bad number %s", t.text)
		}
		if t.kind == tkFloat {
			v = FloatValue(float32(f))
		} else {
			v = DoubleValue(f)
		}
	}
	if u := p.peek(); u.kind == tkIdent {
		if ms, ok := timeUnit(u.text); ok {
			p.next()
			if v.t != TypeInt && v.t != TypeLong {
				return nil, newCompileError(t.pos, "time value must be an integer")
			}
			n := v.Long()
			if n != 0 && (n*ms)/ms != n {
				return nil, newCompileError(t.pos, "time value out of range")
			}
			total := n * ms
			// "1 min 30 sec": consecutive time terms add up
			for p.peek().kind == tkInt && p.peekN(1).kind == tkIdent {
				if ms2, ok := timeUnit(p.peekN(1).text); ok {
					n2, err := strconv.ParseInt(p.next().text, 10, 64)
					p.next()
					if err != nil || (n2 != 0 && (n2*ms2)/ms2 != n2) {
						return nil, newCompileError(t.pos, "time value out of range")
					}
					total += n2 * ms2
					continue
				}
				break
			}
			return &exLit{p: t.pos, val: LongValue(total)}, nil
		}
	}
	return &exLit{p: t.pos, val: v}, nil
}
