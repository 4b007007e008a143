package engine

import "strconv"

// Pattern and sequence inputs: "every e1=A[..] -> e2=B[..] within 10 sec", "e1=A, e2=B+, e3=C",
// counting elements "e2=B[..]<2:5>", absent elements "not B[..] for 10 sec".

// maxCount bounds the numbers of a counting element, so a partial's lists stay small.
const maxCount = 1 << 16

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
	if p.isKw("not") {
		return p.absentElem()
	}
	al, err := p.ident("pattern alias (e.g. e1=Stream)")
	if err != nil {
		return patElem{}, err
	}
	if _, err := p.expectPunct("="); err != nil {
		return patElem{}, err
	}
	el := patElem{p: al.pos, alias: al.text}
	if err := p.elemStream(&el); err != nil {
		return el, err
	}
	if p.isPunct("<") {
		lt := p.next()
		el.quant, el.quantP = '<', lt.pos
		el.lo, el.hi, err = p.countBounds(lt)
		return el, err
	}
	if p.isPunct("+") || p.isPunct("*") || p.isPunct("?") {
		t := p.next()
		el.quant, el.quantP = t.text[0], t.pos
	}
	return el, nil
}

// elemStream parses an element's "Stream[filter]" (the filter is optional).
func (p *parser) elemStream(el *patElem) error {
	st, err := p.streamName("stream name")
	if err != nil {
		return err
	}
	el.stream = st.text
	if p.isPunct("[") {
		p.next()
		e, err := p.expr()
		if err != nil {
			return err
		}
		if _, err := p.expectPunct("]"); err != nil {
			return err
		}
		el.filter = e
	}
	return nil
}

// absentElem parses an absent element "not Stream[filter] for <time>".
func (p *parser) absentElem() (patElem, error) {
	el := patElem{p: p.next().pos, absent: true}
	if err := p.elemStream(&el); err != nil {
		return el, err
	}
	if !p.isKw("for") {
		return el, nil // "not B and e3=C": logicalElem checks that it is paired
	}
	f := p.next()
	if k := p.peek().kind; k != tkInt && k != tkLong {
		return el, p.fail("a time value after 'for' (e.g. 10 sec)")
	}
	e, err := p.numberLiteral()
	if err != nil {
		return el, err
	}
	if el.wait = e.(*exLit).val.Long(); el.wait <= 0 {
		return el, newCompileError(f.pos, "'for' needs a positive time")
	}
	return el, nil
}

// logicalElem parses an element, or two joined by 'and' / 'or' ("e1=A[..] and e2=B[..]"), either
// possibly in parentheses; the first of a pair carries the operator.
func (p *parser) logicalElem() ([]patElem, error) {
	if p.isPunct("(") {
		p.next()
		els, err := p.logicalElem()
		if err != nil {
			return els, err
		}
		_, err = p.expectPunct(")")
		return els, err
	}
	el, err := p.patternElem()
	if err != nil || !(p.isKw("and") || p.isKw("or")) {
		if err == nil && el.absent && el.wait == 0 {
			return nil, p.fail("'for <time>' after an absent element (e.g. not B[..] for 10 sec)")
		}
		return []patElem{el}, err
	}
	op := p.next()
	if el.quant != 0 {
		return nil, newCompileError(el.quantP, "a counting or quantified element cannot be part of '%s'", op.text)
	}
	el2, err := p.patternElem()
	if err != nil {
		return nil, err
	}
	switch {
	case (el.absent && el.wait == 0 || el2.absent && el2.wait == 0) && (op.text == "or" || el.absent && el2.absent):
		return nil, newCompileError(op.pos, "an absent element without 'for <time>' can only be joined by 'and' to a matching element (not B and e3=C)")
	case el2.quant != 0:
		return nil, newCompileError(el2.quantP, "a counting or quantified element cannot be part of '%s'", op.text)
	case p.isKw("and") || p.isKw("or"):
		return nil, newCompileError(p.peek().pos, "a logical element joins two elements: use parentheses and '->' for more")
	}
	el.logic, el.logicP = '|', op.pos
	if op.text == "and" {
		el.logic = '&'
	}
	return []patElem{el, el2}, nil
}

// countBounds parses the rest of a counting element after its '<': "n:m>", "n:>", ":m>" or
// "n>". hi is -1 without a maximum.
func (p *parser) countBounds(lt token) (lo, hi int, err error) {
	bound := func() (int, bool, error) {
		t := p.peek()
		if t.kind == tkPunct && t.text == "-" {
			return 0, false, newCompileError(t.pos, "counting bounds must be non-negative integers")
		}
		if t.kind != tkInt {
			return 0, false, nil
		}
		p.next()
		n, err := strconv.Atoi(t.text)
		if err != nil || n > maxCount {
			return 0, false, newCompileError(t.pos, "counting bound %s is too large (at most %d)", t.text, maxCount)
		}
		return n, true, nil
	}
	lo, hasLo, err := bound()
	if err != nil {
		return 0, 0, err
	}
	hi = lo
	if p.isPunct(":") {
		p.next()
		var hasHi bool
		if hi, hasHi, err = bound(); err != nil {
			return 0, 0, err
		}
		if !hasHi {
			hi = -1
		}
		if !hasLo && !hasHi {
			return 0, 0, newCompileError(lt.pos, "a counting element needs a bound: <n:m>, <n:>, <:m> or <n>")
		}
	} else if !hasLo {
		return 0, 0, p.fail("a count (e.g. <2:5>, <2:>, <:5> or <3>)")
	}
	if _, err := p.expectPunct(">"); err != nil {
		return 0, 0, err
	}
	switch {
	case hi == 0:
		return 0, 0, newCompileError(lt.pos, "a counting element needs a positive maximum")
	case hi > 0 && lo > hi:
		return 0, 0, newCompileError(lt.pos, "counting minimum %d is above the maximum %d", lo, hi)
	}
	return lo, hi, nil
}

func (p *parser) patternInput() (*patternInput, error) {
	pi := &patternInput{p: p.peek().pos, grpLo: -1, grpHi: -1}
	every := false
	if p.isKw("every") {
		p.next()
		every = true
	}
	sep := ""
	everyNext := false // 'every' before the next element, an absent one
	everyGrp := false  // 'every' before the next element or group, not an absent one
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
			switch {
			case p.everyAbsent():
				everyNext = true
			case sep == ",":
				return false, newCompileError(p.peek().pos, "in a sequence 'every' is only supported on the first element, on an absent element (every not B for T) or around the whole sequence")
			case pi.grpHi >= 0:
				return false, newCompileError(p.peek().pos, "only one 'every' on a later element or on a group followed by more elements is supported")
			default:
				everyGrp = true
			}
			p.next()
		}
		return true, nil
	}
	// group reads an 'every' group that is not the whole pattern: one element or "( ... )".
	var elements func() error
	group := func() error {
		everyGrp = false
		lo := len(pi.elems)
		if p.isPunct("(") && !p.groupIsSingle() {
			p.next()
			if err := elements(); err != nil {
				return err
			}
			if _, err := p.expectPunct(")"); err != nil {
				return err
			}
		} else {
			els, err := p.logicalElem()
			if err != nil {
				return err
			}
			pi.elems = append(pi.elems, els...)
		}
		pi.grpLo, pi.grpHi = lo, len(pi.elems)-1
		return nil
	}
	// elements reads the elements and their separators up to the end of the pattern or group.
	elements = func() error {
		for {
			if everyGrp {
				if err := group(); err != nil {
					return err
				}
				if more, err := addSep(); err != nil || !more {
					return err
				}
				continue
			}
			at := p.peek().pos
			els, err := p.logicalElem()
			if err != nil {
				return err
			}
			if everyNext {
				// every not B for T; in a pattern also every (not B [for T] and|or e3=C)
				pair := len(els) == 2 && sep == "->" && (els[0].absent || els[1].absent)
				if !pair && (len(els) != 1 || !els[0].absent) {
					return newCompileError(at, "'every' after '->' is only supported on an absent element (every not B for T) or a logical element with an absent side")
				}
				els[0].every, everyNext = true, false
			}
			pi.elems = append(pi.elems, els...)
			if more, err := addSep(); err != nil || !more {
				return err
			}
		}
	}
	single := (p.peekN(1).kind == tkIdent && p.peekN(2).kind == tkPunct && p.peekN(2).text == "=") || isKwTok(p.peekN(1), "not")
	if p.isPunct("(") && !(single && p.groupIsSingle()) {
		open := p.next()
		// "(every e1=A -> e2=B) within T", as Siddhi allows: every on the group's first
		// element, the group being the whole pattern.
		innerEvery := false
		if !every && p.isKw("every") {
			p.next()
			if p.isPunct("(") {
				// "(every (e1=A -> e2=B) -> e3=C) within T": a group inside the group
				everyGrp = true
			} else {
				innerEvery = true
			}
		}
		if err := elements(); err != nil {
			return nil, err
		}
		if _, err := p.expectPunct(")"); err != nil {
			return nil, err
		}
		switch {
		case !p.isPunct("->") && !p.isPunct(","):
			switch {
			case every:
				pi.every = everyAll
			case innerEvery:
				pi.every = everyFirst
			}
		case innerEvery:
			return nil, newCompileError(open.pos, "a parenthesised group starting with 'every' must be the whole pattern")
		case p.isPunct(","):
			return nil, newCompileError(open.pos, "in a sequence a parenthesised group must be the whole sequence")
		default:
			// "every (e1=A -> e2=B) -> e3=C": the group restarts once a match left it;
			// without every the parentheses only group
			if every {
				pi.every, pi.grpLo, pi.grpHi = everyGroup, 0, len(pi.elems)-1
			}
			if _, err := addSep(); err != nil {
				return nil, err
			}
			if err := elements(); err != nil {
				return nil, err
			}
		}
	} else {
		if err := elements(); err != nil {
			return nil, err
		}
		if every {
			pi.every = everyFirst
		}
	}
	pi.sequence = sep == ","
	if pi.sequence && pi.grpHi >= 0 {
		return nil, newCompileError(pi.p, "in a sequence 'every' is only supported on the first element, on an absent element (every not B for T) or around the whole sequence")
	}
	if pi.grpLo == 0 && pi.every == everyNone {
		pi.every = everyGroup // the inner group of "(every (e1=A -> e2=B) -> e3=C) within T"
	}
	if pi.every == everyFirst && len(pi.elems) > 1 && pi.elems[0].absent && pi.elems[0].logic == 0 {
		// "every not A for T -> e2=B": each elapsed wait starts a match and the wait repeats
		pi.elems[0].every, pi.every = true, 0
	}
	if pi.every == everyFirst && pi.elems[0].logic != 0 && (pi.elems[0].absent || pi.elems[1].absent) {
		// "every (not A for T and e2=B) -> e3=C": each time the element holds, a match passes
		// it and its waits restart
		pi.elems[0].every, pi.every = true, 0
	}
	for i := max(pi.grpLo, 0); i <= pi.grpHi; i++ {
		if el := &pi.elems[i]; el.absent {
			return nil, newCompileError(el.p, "an absent element inside an 'every' group or after a later 'every' is not supported")
		}
	}
	// fixedBefore: element i is the first side of a logical element right after a counting
	// element of a fixed count in a pattern ("e2=A<2> -> not B and e3=C"): the match enters
	// the logical element once the count is collected
	fixedBefore := func(i int) bool {
		if pi.sequence || i == 0 || pi.elems[i].logic == 0 {
			return false
		}
		pr := &pi.elems[i-1]
		return pr.quant == '<' && pr.lo == pr.hi
	}
	allAbsent := true
	for _, el := range pi.elems {
		allAbsent = allAbsent && el.absent
	}
	for i, el := range pi.elems {
		paired := el.logic != 0 || (i > 0 && pi.elems[i-1].logic != 0)
		if el.absent {
			switch {
			case allAbsent:
				return nil, newCompileError(el.p, "an absent element needs a matching element in the pattern (e.g. e1=A -> not B[..] for 10 sec)")
			case i > 0 && pi.elems[i-1].quant != 0 && !(pi.sequence && pi.elems[i-1].quant == '+' && !paired && !el.every) && !fixedBefore(i):
				return nil, newCompileError(el.p, "an absent element right after a counting element is only supported after a '+' element of a sequence (e1=A+, not B for 10 sec)")
			case paired:
			case i > 0 && pi.elems[i-1].absent && pi.elems[i-1].logic == 0 && (i < 2 || pi.elems[i-2].logic == 0):
				return nil, newCompileError(el.p, "two absent elements in a row are not supported")
			case el.every && i > 0 && i == len(pi.elems)-1 && pi.every == everyAll:
				return nil, newCompileError(el.p, "'every' on an absent last element inside 'every (...)' is not supported")
			}
			continue
		}
		if el.logic != 0 && i > 0 && pi.elems[i-1].quant != 0 && !fixedBefore(i) {
			return nil, newCompileError(el.p, "a logical element (and / or) right after a counting or quantified element is only supported after a counting element of a fixed count in a pattern (e2=A<2> -> e3=B and e4=C)")
		}
		if el.quant == 0 {
			continue
		}
		if el.quant == '<' {
			switch {
			case pi.sequence:
				return nil, newCompileError(el.quantP, "counting elements (<n:m>) are only supported in patterns (elements separated by '->'); sequences take + * ?")
			case el.lo == 0 && i == len(pi.elems)-1:
				return nil, newCompileError(el.quantP, "a counting last element needs a minimum of at least 1")
			case el.lo == 0 && i == 0 && (len(pi.elems) < 2 || pi.elems[1].absent || pi.elems[1].logic != 0 || pi.every != everyNone):
				return nil, newCompileError(el.quantP, "a counting first element with a minimum of 0 needs a plain second element and no 'every'")
			}
			continue
		}
		switch {
		case !pi.sequence:
			return nil, newCompileError(el.quantP, "quantifier '%c' is only supported in sequences (elements separated by ',')", el.quant)
		case i > 0 && pi.elems[i-1].quant != 0:
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

// everyAbsent reports whether the 'every' at the cursor is on an absent element: "every not B"
// or "every (not B ...)".
func (p *parser) everyAbsent() bool {
	n := p.peekN(1)
	return isKwTok(n, "not") || (n.kind == tkPunct && n.text == "(" && isKwTok(p.peekN(2), "not"))
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
