package engine

import (
	"strconv"
	"strings"
)

// Partitions: "partition with (symbol of S, price < 100 as 'low' or price >= 100 as 'high' of T)
// begin <queries> end;". Inner streams (#Name) are written and read only inside their partition.

// partDecl is one partition: how each listed stream maps its events to keys, and its queries.
type partDecl struct {
	p       pos
	keys    []partKeyDecl
	queries []*queryDecl
	purge   *annotation // @purge(...); nil without one
}

// partKeyDecl is one "... of Stream" item: a value key (an expression) or range keys.
type partKeyDecl struct {
	stream  string
	streamP pos
	value   expr        // value partition: the key is the expression's value
	ranges  []rangeDecl // range partition: each condition that holds gives its label as key
}

type rangeDecl struct {
	cond  expr
	label string
}

// partition parses a partition block and adds its queries to app.
func (p *parser) partition(app *appDecl, anns []*annotation) error {
	kw := p.next() // partition
	if p.part != nil {
		return newCompileError(kw.pos, "partitions cannot be nested")
	}
	pd := &partDecl{p: kw.pos}
	for _, a := range anns {
		switch a.name {
		case "purge":
			pd.purge = a
		case "info":
		default:
			return newCompileError(a.p, "@%s is not allowed on a partition (only @purge)", a.name)
		}
	}
	if err := p.expectKw("with"); err != nil {
		return err
	}
	if _, err := p.expectPunct("("); err != nil {
		return err
	}
	for {
		k, err := p.partKey()
		if err != nil {
			return err
		}
		pd.keys = append(pd.keys, k)
		if p.isPunct(",") {
			p.next()
			continue
		}
		break
	}
	if _, err := p.expectPunct(")"); err != nil {
		return err
	}
	if err := p.expectKw("begin"); err != nil {
		return err
	}
	p.part, p.partN = pd, p.partN+1
	defer func() { p.part = nil }()
	for !p.isKw("end") {
		if p.isPunct(";") {
			p.next()
			continue
		}
		var qanns []*annotation
		for p.isPunct("@") {
			a, err := p.annotation()
			if err != nil {
				return err
			}
			qanns = append(qanns, a)
		}
		switch {
		case p.isKw("from"):
			q, err := p.query(qanns)
			if err != nil {
				return err
			}
			q.part = pd
			pd.queries = append(pd.queries, q)
			app.queries = append(app.queries, q)
			app.order = append(app.order, q)
		case p.isKw("define"):
			return newCompileError(p.peek().pos, "definitions are not allowed inside a partition: define streams and tables before it")
		case p.isKw("partition"):
			return newCompileError(p.peek().pos, "partitions cannot be nested")
		default:
			return p.fail("'from' or 'end' in the partition")
		}
	}
	p.next() // end
	if len(pd.queries) == 0 {
		return newCompileError(kw.pos, "a partition needs at least one query")
	}
	app.parts = append(app.parts, pd)
	return p.endStatement()
}

// partKey parses "expr of Stream" or "cond as 'label' or cond as 'label' ... of Stream".
func (p *parser) partKey() (partKeyDecl, error) {
	var k partKeyDecl
	e, err := p.expr()
	if err != nil {
		return k, err
	}
	if p.isKw("as") {
		for {
			if err := p.expectKw("as"); err != nil {
				return k, err
			}
			if p.peek().kind != tkString {
				return k, p.fail("a quoted range label (e.g. as 'low')")
			}
			k.ranges = append(k.ranges, rangeDecl{cond: e, label: p.next().text})
			if !p.isKw("or") {
				break
			}
			p.next()
			if e, err = p.expr(); err != nil {
				return k, err
			}
		}
	} else {
		k.value = e
	}
	if err := p.expectKw("of"); err != nil {
		return k, err
	}
	st, err := p.ident("partitioned stream name")
	if err != nil {
		return k, err
	}
	k.stream, k.streamP = st.text, st.pos
	return k, nil
}

// streamName reads a stream name, or an inner stream "#Name" inside a partition.
func (p *parser) streamName(what string) (token, error) {
	if !p.isPunct("#") {
		return p.ident(what)
	}
	h := p.next()
	t, err := p.ident("inner stream name after '#'")
	if err != nil {
		return t, err
	}
	if t.pos.line != h.pos.line || t.pos.col != h.pos.col+1 {
		return t, newCompileError(h.pos, "write an inner stream as #%s, without a blank after '#'", t.text)
	}
	if p.part == nil {
		return t, newCompileError(h.pos, "inner stream #%s is only visible inside a partition", t.text)
	}
	return token{kind: tkIdent, text: p.innerName(t.text), pos: h.pos}, nil
}

// innerName is the name of the current partition's inner stream #base: "#base", or
// "#base@<partN>" when an earlier partition has an inner stream of that name.
func (p *parser) innerName(base string) string {
	name := "#" + base
	if first, ok := p.inner[name]; ok && first != p.partN {
		return name + "@" + strconv.Itoa(p.partN)
	} else if !ok {
		if p.inner == nil {
			p.inner = map[string]int{}
		}
		p.inner[name] = p.partN
	}
	return name
}

// innerAttr parses "#Inner.x" in an expression: x of the inner stream (or its qualifier).
func (p *parser) innerAttr() (expr, error) {
	t, err := p.streamName("inner stream name")
	if err != nil {
		return nil, err
	}
	if _, err := p.expectPunct("."); err != nil {
		return nil, err
	}
	a, err := p.ident("attribute name after '.'")
	if err != nil {
		return nil, err
	}
	return &exAttr{p: t.pos, qual: t.text, name: a.text}, nil
}

// outStream reads the stream an 'insert into' writes: a name, or "#Name" inside a partition.
func (p *parser) outStream(q *queryDecl) error {
	t, err := p.streamName("output stream name")
	if err != nil {
		return err
	}
	q.target, q.targetP = t.text, t.pos
	return nil
}

// unknownStream says that no query writes stream name; for an inner stream, that inner streams
// are only visible inside the partition writing them (a later partition's #I is named #I@<n>).
func unknownStream(name string) string {
	if !isInner(name) {
		return "unknown stream " + name
	}
	base, _, _ := strings.Cut(name, "@")
	return "unknown inner stream " + base + ": no query of this partition inserts into it (inner streams are only visible inside their partition)"
}

// isInner reports whether a stream name is a partition's inner stream.
func isInner(name string) bool { return strings.HasPrefix(name, "#") }
