package engine

import (
	"fmt"
	"strings"
)

// CompileError is a syntax or semantic error in an app, located by line and column (1-based).
type CompileError struct {
	File      string
	Line, Col int
	Msg       string
	srcLine   string
}

func newCompileError(p pos, format string, args ...any) *CompileError {
	return &CompileError{Line: p.line, Col: p.col, Msg: fmt.Sprintf(format, args...)}
}

// Error prints "file:line:col: msg", then the source line and a caret under the fault.
func (e *CompileError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
	if e.srcLine != "" {
		b.WriteByte('\n')
		b.WriteString(e.srcLine)
		b.WriteByte('\n')
		for i := 0; i < e.Col-1 && i < len(e.srcLine); i++ {
			if e.srcLine[i] == '\t' {
				b.WriteByte('\t')
			} else {
				b.WriteByte(' ')
			}
		}
		b.WriteByte('^')
	}
	return b.String()
}

// locate fills in the file name and the offending source line.
func (e *CompileError) locate(file, src string) *CompileError {
	e.File = file
	lines := strings.Split(src, "\n")
	if e.Line >= 1 && e.Line <= len(lines) {
		e.srcLine = strings.TrimRight(lines[e.Line-1], "\r")
	}
	return e
}
