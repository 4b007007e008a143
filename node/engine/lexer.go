package engine

import (
	"strings"
)

type tokKind uint8

const (
	tkEOF tokKind = iota
	tkIdent
	tkString
	tkInt    // 12
	tkLong   // 12L
	tkDouble // 1.5, 1e3, 1.5d
	tkFloat  // 1.5f
	tkPunct
)

// pos is a 1-based line and column (in bytes) in the source.
type pos struct{ line, col int }

type token struct {
	kind tokKind
	text string // identifier, punctuation, number text (without suffix) or unquoted string
	pos  pos
}

// lexer splits SiddhiQL source into tokens; comments are "--", "//" and "/* */".
type lexer struct {
	src       string
	off       int
	line, col int
}

func (l *lexer) errAt(p pos, format string, args ...any) error {
	return newCompileError(p, format, args...)
}

func (l *lexer) advance(n int) {
	for i := 0; i < n && l.off < len(l.src); i++ {
		if l.src[l.off] == '\n' {
			l.line++
			l.col = 1
		} else {
			l.col++
		}
		l.off++
	}
}

var puncts2 = []string{"->", "==", "!=", "<=", ">=", "<>"}

func isIdentStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool      { return c >= '0' && c <= '9' }

// tokenize returns all tokens ending with tkEOF.
func tokenize(src string) ([]token, error) {
	l := &lexer{src: src, line: 1, col: 1}
	var toks []token
	for {
		// skip spaces and comments
		for l.off < len(l.src) {
			c := l.src[l.off]
			rest := l.src[l.off:]
			switch {
			case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
				l.advance(1)
				continue
			case strings.HasPrefix(rest, "--") || strings.HasPrefix(rest, "//"):
				i := strings.IndexByte(rest, '\n')
				if i < 0 {
					i = len(rest)
				}
				l.advance(i)
				continue
			case strings.HasPrefix(rest, "/*"):
				p := pos{l.line, l.col}
				i := strings.Index(rest[2:], "*/")
				if i < 0 {
					return nil, l.errAt(p, "unterminated comment")
				}
				l.advance(i + 4)
				continue
			}
			break
		}
		p := pos{l.line, l.col}
		if l.off >= len(l.src) {
			toks = append(toks, token{kind: tkEOF, pos: p})
			return toks, nil
		}
		c := l.src[l.off]
		rest := l.src[l.off:]
		switch {
		case isIdentStart(c):
			i := 1
			for i < len(rest) && (isIdentStart(rest[i]) || isDigit(rest[i])) {
				i++
			}
			toks = append(toks, token{kind: tkIdent, text: rest[:i], pos: p})
			l.advance(i)
		case c == '`':
			i := strings.IndexByte(rest[1:], '`')
			if i < 0 {
				return nil, l.errAt(p, "unterminated quoted identifier")
			}
			toks = append(toks, token{kind: tkIdent, text: rest[1 : 1+i], pos: p})
			l.advance(i + 2)
		case isDigit(c) || (c == '.' && len(rest) > 1 && isDigit(rest[1])):
			t, n, err := lexNumber(rest)
			if err != nil {
				return nil, l.errAt(p, "%s", err.Error())
			}
			t.pos = p
			toks = append(toks, t)
			l.advance(n)
		case c == '\'' || c == '"':
			var sb strings.Builder
			i := 1
			closed := false
			for i < len(rest) {
				ch := rest[i]
				if ch == c {
					closed = true
					i++
					break
				}
				if ch == '\\' && i+1 < len(rest) {
					i++
					switch rest[i] {
					case 'n':
						sb.WriteByte('\n')
					case 't':
						sb.WriteByte('\t')
					default:
						sb.WriteByte(rest[i])
					}
					i++
					continue
				}
				if ch == '\n' {
					break
				}
				sb.WriteByte(ch)
				i++
			}
			if !closed {
				return nil, l.errAt(p, "unterminated string literal")
			}
			toks = append(toks, token{kind: tkString, text: sb.String(), pos: p})
			l.advance(i)
		default:
			for _, p2 := range puncts2 {
				if strings.HasPrefix(rest, p2) {
					toks = append(toks, token{kind: tkPunct, text: p2, pos: p})
					l.advance(2)
					goto next
				}
			}
			if strings.IndexByte("()[],;.=<>+-*/%#@:?!{}", c) >= 0 {
				toks = append(toks, token{kind: tkPunct, text: rest[:1], pos: p})
				l.advance(1)
				continue
			}
			return nil, l.errAt(p, "unexpected character %q", rune(c))
		next:
		}
	}
}

type numErr string

func (e numErr) Error() string { return string(e) }

func lexNumber(s string) (token, int, error) {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	kind := tkInt
	if i < len(s) && s[i] == '.' && i+1 < len(s) && isDigit(s[i+1]) {
		kind = tkDouble
		i++
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		if j < len(s) && isDigit(s[j]) {
			kind = tkDouble
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			i = j
		}
	}
	text := s[:i]
	if i < len(s) {
		switch s[i] {
		case 'L', 'l':
			if kind != tkInt {
				return token{}, 0, numErr("long suffix on a decimal number")
			}
			kind = tkLong
			i++
		case 'f', 'F':
			kind = tkFloat
			i++
		case 'd', 'D':
			kind = tkDouble
			i++
		}
	}
	return token{kind: kind, text: text}, i, nil
}
