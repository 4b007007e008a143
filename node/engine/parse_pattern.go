package engine

// Pattern and sequence inputs: "every e1=A[..] -> e2=B[..] within 10 sec", "e1=A, e2=B+, e3=C".

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
