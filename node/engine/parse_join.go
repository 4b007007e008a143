package engine

// Join inputs: "from L[f]#window.W(..) [as l] [unidirectional] <join> R[f]#window.W(..) [as r]
// [unidirectional] [on <condition>]" where <join> is join, inner join, or left|right|full outer join.

// joinStart reports whether the cursor is at a join keyword.
func (p *parser) joinStart() bool {
	for _, kw := range []string{"join", "inner", "left", "right", "full", "outer"} {
		if p.isKw(kw) {
			return true
		}
	}
	return false
}

// joinInput parses the rest of a join after its left side; it returns nil when no join follows.
func (p *parser) joinInput(left *simpleInput) (*joinInput, error) {
	if !p.joinStart() {
		return nil, nil
	}
	t := p.next()
	ji := &joinInput{p: t.pos, left: left}
	switch {
	case isKwTok(t, "outer"):
		return nil, newCompileError(t.pos, "write 'left outer join', 'right outer join' or 'full outer join'")
	case isKwTok(t, "left"):
		ji.kind = joinLeft
	case isKwTok(t, "right"):
		ji.kind = joinRight
	case isKwTok(t, "full"):
		ji.kind = joinFull
	}
	if ji.kind != joinInner {
		if err := p.expectKw("outer"); err != nil {
			return nil, err
		}
	}
	if !isKwTok(t, "join") {
		if err := p.expectKw("join"); err != nil {
			return nil, err
		}
	}
	right, err := p.simpleInput()
	if err != nil {
		return nil, err
	}
	ji.right = right
	if p.joinStart() {
		return nil, newCompileError(p.peek().pos, "a query joins two streams at most")
	}
	if p.isKw("on") {
		p.next()
		if ji.on, err = p.expr(); err != nil {
			return nil, err
		}
	}
	if p.isKw("within") {
		return nil, newCompileError(p.peek().pos, "'within' in joins is not supported: use time windows on the sides")
	}
	return ji, nil
}
