package engine_test

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/streamha/streamha/node/engine"
)

// The Siddhi conformance suite: testdata/siddhi/*.txt hold cases written from the assertions of
// Siddhi's own tests (siddhi-io/siddhi, modules/siddhi-core/src/test/java/io/siddhi/core/query).
// The format is described in testdata/siddhi/README.md.

// confCase is one conformance case.
type confCase struct {
	name, area, file string
	line             int
	notes            []string
	deviation        string // expected to fail, with the reason
	unsupported      string // the engine refuses the app: its compile error contains this
	invalid          *string
	app              []string
	inputs           []confInput
	checks           []confCheck
}

type confInput struct {
	line   int
	ts     int64
	stream string // "" for a clock tick
	toks   []string
}

// confCheck is "rows TARGET" (with rows) or "count TARGET in=N removed=M" / "count stream S N".
type confCheck struct {
	line    int
	stream  bool // TARGET is "stream NAME" (stream callback: all rows, in order, kind ignored)
	target  string
	count   bool
	in, rem int // -1: not checked (the Java test does not assert it)
	// some: "count TARGET some": the Java test asserts only that rows arrive (any number)
	some     bool
	rows     [][]string // each row's tokens; for query targets the first token is + or -
	rowLines []int
}

func loadConfCases(t *testing.T) []*confCase {
	t.Helper()
	files, err := filepath.Glob("testdata/siddhi/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no conformance files under testdata/siddhi (%v)", err)
	}
	var all []*confCase
	seen := map[string]bool{}
	for _, f := range files {
		cs, err := parseConfFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if seen[c.name] {
				t.Fatalf("%s:%d: duplicate case %s", c.file, c.line, c.name)
			}
			seen[c.name] = true
		}
		all = append(all, cs...)
	}
	return all
}

func parseConfFile(path string) ([]*confCase, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var (
		cases []*confCase
		cur   *confCase
		block string // "app", "in", "rows"
	)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%s:%d: %s", path, n, fmt.Sprintf(format, args...))
	}
	for sc.Scan() {
		n++
		raw := sc.Text()
		trimmed := strings.TrimSpace(raw)
		if trimmed == "" || raw[0] == '#' {
			continue
		}
		if raw[0] == ' ' || raw[0] == '\t' {
			if cur == nil || block == "" {
				return nil, fail("indented line outside a block")
			}
			switch block {
			case "app":
				cur.app = append(cur.app, trimmed)
			case "in":
				in, err := parseConfInput(trimmed, cur)
				if err != nil {
					return nil, fail("%v", err)
				}
				in.line = n
				cur.inputs = append(cur.inputs, in)
			case "rows":
				ck := &cur.checks[len(cur.checks)-1]
				toks, err := confTokens(trimmed)
				if err != nil {
					return nil, fail("%v", err)
				}
				if !ck.stream && (len(toks) == 0 || toks[0] != "+" && toks[0] != "-") {
					return nil, fail("a query's row starts with + (current) or - (expired)")
				}
				ck.rows = append(ck.rows, toks)
				ck.rowLines = append(ck.rowLines, n)
			}
			continue
		}
		block = ""
		word, rest, _ := strings.Cut(trimmed, " ")
		rest = strings.TrimSpace(rest)
		if word != "case" && cur == nil {
			return nil, fail("%q before the first case", word)
		}
		switch word {
		case "case":
			cur = &confCase{name: rest, file: path, line: n}
			cases = append(cases, cur)
		case "area":
			cur.area = rest
		case "note":
			cur.notes = append(cur.notes, rest)
		case "deviation":
			cur.deviation = rest
		case "unsupported":
			cur.unsupported = rest
		case "invalid":
			cur.invalid = &rest
		case "app", "in":
			block = word
		case "rows", "count":
			ck := confCheck{line: n, count: word == "count", in: -1, rem: -1} // count: an omitted number is not checked
			fs := strings.Fields(rest)
			if len(fs) > 0 && fs[0] == "stream" {
				ck.stream = true
				fs = fs[1:]
			}
			if len(fs) == 0 {
				return nil, fail("%s needs a target", word)
			}
			ck.target = fs[0]
			if word == "rows" {
				if len(fs) != 1 {
					return nil, fail("rows takes only a target")
				}
				block = "rows"
			} else {
				if len(fs) == 2 && fs[1] == "some" {
					ck.some = true
					cur.checks = append(cur.checks, ck)
					continue
				}
				for _, kv := range fs[1:] {
					k, v, ok := strings.Cut(kv, "=")
					if ck.stream && !ok {
						k, v = "in", kv
					}
					x, err := strconv.Atoi(v)
					if err != nil || (k != "in" && k != "removed") {
						return nil, fail("bad count %q", kv)
					}
					if k == "in" {
						ck.in = x
					} else {
						ck.rem = x
					}
				}
			}
			cur.checks = append(cur.checks, ck)
		default:
			return nil, fail("unknown directive %q", word)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, c := range cases {
		if c.area == "" || len(c.app) == 0 {
			return nil, fmt.Errorf("%s:%d: case %s needs area and app", path, c.line, c.name)
		}
		if c.unsupported == "" && c.invalid == nil && len(c.checks) == 0 {
			return nil, fmt.Errorf("%s:%d: case %s checks nothing", path, c.line, c.name)
		}
	}
	return cases, nil
}

// parseConfInput reads "[@ts] Stream v1 v2 ..." or "@ts tick"; without @ts the previous
// input's timestamp is reused.
func parseConfInput(s string, c *confCase) (confInput, error) {
	toks, err := confTokens(s)
	if err != nil {
		return confInput{}, err
	}
	var in confInput
	if len(c.inputs) > 0 {
		in.ts = c.inputs[len(c.inputs)-1].ts
	}
	if len(toks) > 0 && strings.HasPrefix(toks[0], "@") {
		ts, err := strconv.ParseInt(toks[0][1:], 10, 64)
		if err != nil {
			return in, fmt.Errorf("bad timestamp %q", toks[0])
		}
		in.ts = ts
		toks = toks[1:]
	}
	if len(toks) == 0 {
		return in, errors.New("input without a stream")
	}
	if toks[0] != "tick" {
		in.stream = toks[0]
	}
	in.toks = toks[1:]
	return in, nil
}

// confTokens splits on blanks and commas; 'quoted' or "quoted" strings keep blanks.
func confTokens(s string) ([]string, error) {
	var out []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == ',':
			i++
		case c == '\'' || c == '"':
			j := strings.IndexByte(s[i+1:], c)
			if j < 0 {
				return nil, fmt.Errorf("unterminated string in %q", s)
			}
			out = append(out, "\x00"+s[i+1:i+1+j]) // \x00 marks a quoted string
			i += j + 2
		default:
			j := i
			for j < len(s) && s[j] != ' ' && s[j] != '\t' && s[j] != ',' {
				j++
			}
			out = append(out, s[i:j])
			i = j
		}
	}
	return out, nil
}

func confValue(tok string, t engine.Type) (engine.Value, error) {
	if tok == "null" {
		return engine.NullValue(), nil
	}
	if t == engine.TypeObject { // an object attribute: a bool, a long, a double or a string
		if b, err := strconv.ParseBool(strings.TrimPrefix(tok, "\x00")); err == nil && !strings.HasPrefix(tok, "\x00") {
			return engine.BoolValue(b), nil
		}
		if x, err := strconv.ParseInt(tok, 10, 64); err == nil {
			return engine.LongValue(x), nil
		}
		if x, err := strconv.ParseFloat(tok, 64); err == nil {
			return engine.DoubleValue(x), nil
		}
		return engine.StringValue(strings.TrimPrefix(tok, "\x00")), nil
	}
	if strings.HasPrefix(tok, "\x00") {
		if t != engine.TypeString {
			return engine.Value{}, fmt.Errorf("string %q for a %s attribute", tok[1:], t)
		}
		return engine.StringValue(tok[1:]), nil
	}
	switch t {
	case engine.TypeString:
		return engine.StringValue(tok), nil
	case engine.TypeInt:
		x, err := strconv.ParseInt(tok, 10, 32)
		return engine.IntValue(int32(x)), err
	case engine.TypeLong:
		x, err := strconv.ParseInt(tok, 10, 64)
		return engine.LongValue(x), err
	case engine.TypeDouble:
		x, err := strconv.ParseFloat(tok, 64)
		return engine.DoubleValue(x), err
	case engine.TypeFloat:
		x, err := strconv.ParseFloat(tok, 32)
		return engine.FloatValue(float32(x)), err
	case engine.TypeBool:
		x, err := strconv.ParseBool(tok)
		return engine.BoolValue(x), err
	}
	return engine.Value{}, fmt.Errorf("type %s", t)
}

// confMatch reports whether an output value matches an expected token: * matches anything,
// numbers compare numerically (float results to float precision), others by their text.
func confMatch(v engine.Value, tok string) bool {
	if tok == "*" {
		return true
	}
	if tok == "null" {
		return v.IsNull()
	}
	if strings.HasPrefix(tok, "\x00") {
		return v.Type() == engine.TypeString && v.Str() == tok[1:]
	}
	switch v.Type() {
	case engine.TypeInt, engine.TypeLong:
		x, err := strconv.ParseInt(tok, 10, 64)
		return err == nil && x == v.Long()
	case engine.TypeDouble, engine.TypeFloat:
		x, err := strconv.ParseFloat(tok, 64)
		if err != nil {
			return false
		}
		got := v.Double()
		tol := 1e-9
		if v.Type() == engine.TypeFloat {
			tol = 1e-5
		}
		return got == x || math.Abs(got-x) <= tol*math.Max(1, math.Abs(x))
	}
	return v.String() == tok
}

func confRow(o *engine.Output) string {
	s := make([]string, len(o.Data))
	for i, v := range o.Data {
		s[i] = v.String()
		if v.Type() == engine.TypeString {
			s[i] = "'" + s[i] + "'"
		}
	}
	sign := "+"
	if o.Expired {
		sign = "-"
	}
	return sign + " " + strings.Join(s, ", ") + "  @" + strconv.FormatInt(o.TS, 10)
}

// buildInputs turns a case's input lines into engine inputs (seq = position + 1).
func (c *confCase) buildInputs(a *engine.App) ([]engine.Input, error) {
	ins := make([]engine.Input, len(c.inputs))
	for i, ci := range c.inputs {
		in := engine.Input{Seq: uint64(i + 1), TS: ci.ts, Stream: ci.stream}
		if ci.stream != "" {
			def, ok := a.Stream(ci.stream)
			if !ok {
				return nil, fmt.Errorf("%s:%d: unknown stream %s", c.file, ci.line, ci.stream)
			}
			if len(ci.toks) != len(def.Attrs) {
				return nil, fmt.Errorf("%s:%d: %d values for %d attributes", c.file, ci.line, len(ci.toks), len(def.Attrs))
			}
			for j, tok := range ci.toks {
				v, err := confValue(tok, def.Attrs[j].Type)
				if err != nil {
					return nil, fmt.Errorf("%s:%d: %s: %w", c.file, ci.line, def.Attrs[j].Name, err)
				}
				in.Data = append(in.Data, v)
			}
		} else if len(ci.toks) != 0 {
			return nil, fmt.Errorf("%s:%d: a tick takes no values", c.file, ci.line)
		}
		ins[i] = in
	}
	return ins, nil
}

func confRun(rt *engine.Runtime, ins []engine.Input) ([]*engine.Output, error) {
	var outs []*engine.Output
	for _, in := range ins {
		if err := rt.Apply(in, func(o *engine.Output) { outs = append(outs, o.Clone()) }); err != nil {
			return outs, err
		}
	}
	return outs, nil
}

// check compares the outputs with the case's checks; it returns the first difference.
func (c *confCase) check(outs []*engine.Output) error {
	for _, ck := range c.checks {
		var sel []*engine.Output
		for _, o := range outs {
			if ck.stream && o.Stream == ck.target || !ck.stream && o.Query == ck.target {
				sel = append(sel, o)
			}
		}
		if ck.count {
			in, rem := 0, 0
			for _, o := range sel {
				if o.Expired && !ck.stream {
					rem++
				} else {
					in++
				}
			}
			if ck.some {
				if len(sel) == 0 {
					return fmt.Errorf("line %d: %s: no rows, want some", ck.line, ck.target)
				}
				continue
			}
			if (ck.in >= 0 && in != ck.in) || (ck.rem >= 0 && rem != ck.rem) {
				return fmt.Errorf("line %d: %s: %d current and %d expired rows, want %d and %d%s",
					ck.line, ck.target, in, rem, ck.in, ck.rem, dumpRows(sel))
			}
			continue
		}
		// Query callbacks: current rows in order, and expired rows in order (Siddhi hands them
		// over as two arrays). Stream callbacks: all rows in order.
		for _, kind := range []string{"+", "-", ""} {
			if ck.stream != (kind == "") {
				continue
			}
			var got []*engine.Output
			for _, o := range sel {
				if ck.stream || o.Expired == (kind == "-") {
					got = append(got, o)
				}
			}
			var want [][]string
			var lines []int
			for i, r := range ck.rows {
				if ck.stream {
					want, lines = append(want, r), append(lines, ck.rowLines[i])
				} else if r[0] == kind {
					want, lines = append(want, r[1:]), append(lines, ck.rowLines[i])
				}
			}
			for i := 0; i < len(want) || i < len(got); i++ {
				switch {
				case i >= len(got):
					return fmt.Errorf("line %d: %s: missing row %q%s", lines[i], ck.target, strings.Join(want[i], " "), dumpRows(sel))
				case i >= len(want):
					return fmt.Errorf("line %d: %s: unexpected row %s%s", ck.line, ck.target, confRow(got[i]), dumpRows(sel))
				}
				o := got[i]
				ok := len(o.Data) == len(want[i])
				for j := 0; ok && j < len(want[i]); j++ {
					ok = confMatch(o.Data[j], want[i][j])
				}
				if !ok {
					return fmt.Errorf("line %d: %s: row %s, want %q%s", lines[i], ck.target, confRow(o), strings.Join(want[i], " "), dumpRows(sel))
				}
			}
		}
	}
	return nil
}

func dumpRows(outs []*engine.Output) string {
	var b strings.Builder
	b.WriteString("\n  outputs:")
	for _, o := range outs {
		b.WriteString("\n    " + confRow(o))
	}
	return b.String()
}

// runConfCase returns nil when the engine gives what the case expects. Unsupported and invalid
// cases must fail to compile; the others must compile, run, and restore + replay at every cut
// to the same outputs and ids.
func runConfCase(c *confCase) (err error) {
	src := strings.Join(c.app, "\n") + "\n"
	a, cerr := engine.Compile(c.name+".siddhi", src)
	if c.unsupported != "" || c.invalid != nil {
		want := c.unsupported
		if c.invalid != nil {
			want = *c.invalid
		}
		if cerr == nil {
			return errors.New("compiles, want a compile error")
		}
		var ce *engine.CompileError
		if !errors.As(cerr, &ce) {
			return fmt.Errorf("error %v is not a *CompileError", cerr)
		}
		if !strings.Contains(ce.Msg, want) {
			return fmt.Errorf("compile error %q does not contain %q", ce.Msg, want)
		}
		return nil
	}
	if cerr != nil {
		return fmt.Errorf("compile: %w", cerr)
	}
	ins, err := c.buildInputs(a)
	if err != nil {
		return err
	}
	outs, err := confRun(engine.NewRuntime(a), ins)
	if err != nil {
		return err
	}
	return c.check(outs)
}

// confReplay checks the engine's contract on a case: restoring the snapshot taken after any
// input and applying the rest gives the outputs (ids and data) of the uninterrupted run.
func confReplay(c *confCase) error {
	a, err := engine.Compile(c.name+".siddhi", strings.Join(c.app, "\n")+"\n")
	if err != nil {
		return nil
	}
	ins, err := c.buildInputs(a)
	if err != nil {
		return err
	}
	render := func(outs []*engine.Output) []string {
		s := make([]string, len(outs))
		for i, o := range outs {
			s[i] = o.ID + " " + o.Stream + " " + confRow(o)
		}
		return s
	}
	full, err := confRun(engine.NewRuntime(a), ins)
	if err != nil {
		return err
	}
	want := render(full)
	for k := 0; k <= len(ins); k++ {
		rt := engine.NewRuntime(a)
		head, err := confRun(rt, ins[:k])
		if err != nil {
			return err
		}
		blob, err := rt.Snapshot()
		if err != nil {
			return fmt.Errorf("snapshot after input %d: %w", k, err)
		}
		rt2, err := engine.Restore(a, blob)
		if err != nil {
			return fmt.Errorf("restore after input %d: %w", k, err)
		}
		tail, err := confRun(rt2, ins[k:])
		if err != nil {
			return err
		}
		got := render(append(head, tail...))
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			return fmt.Errorf("restore after input %d: outputs differ:\n got %q\nwant %q", k, got, want)
		}
	}
	return nil
}

// TestSiddhiConformance runs every case. A supported case without a documented deviation that
// does not give Siddhi's outputs fails the test, and so does a documented deviation that now
// passes (remove its "deviation" line); the summary gives the figures per area.
func TestSiddhiConformance(t *testing.T) {
	type tally struct{ pass, total, unsupported, deviation int }
	areas := map[string]*tally{}
	for _, c := range loadConfCases(t) {
		ty := areas[c.area]
		if ty == nil {
			ty = &tally{}
			areas[c.area] = ty
		}
		t.Run(c.name, func(t *testing.T) {
			if err := confReplay(c); err != nil {
				t.Errorf("%s:%d: %v", c.file, c.line, err)
			}
			err := runConfCase(c)
			switch {
			case c.unsupported != "":
				ty.unsupported++
				if err != nil {
					t.Errorf("%s:%d: unsupported case: %v", c.file, c.line, err)
				}
				return
			case c.deviation != "":
				ty.total++
				ty.deviation++
				if err == nil {
					t.Errorf("%s:%d: documented deviation (%s) now gives Siddhi's outputs: remove the deviation line", c.file, c.line, c.deviation)
				}
				return
			}
			ty.total++
			if err != nil {
				t.Errorf("%s:%d: %v", c.file, c.line, err)
				return
			}
			ty.pass++
		})
	}
	names := make([]string, 0, len(areas))
	for a := range areas {
		names = append(names, a)
	}
	sort.Strings(names)
	var parts []string
	var sum tally
	for _, a := range names {
		ty := areas[a]
		parts = append(parts, fmt.Sprintf("%s %d/%d", a, ty.pass, ty.total))
		sum.pass += ty.pass
		sum.total += ty.total
		sum.unsupported += ty.unsupported
		sum.deviation += ty.deviation
	}
	t.Logf("siddhi conformance: %d/%d supported cases pass (%s); %d documented deviations; %d unsupported (compile error checked)",
		sum.pass, sum.total, strings.Join(parts, ", "), sum.deviation, sum.unsupported)
}
