package engine_test

import (
	"strings"
	"testing"

	"github.com/streamha/streamha/node/engine"
)

func mustCompile(tb testing.TB, src string) *engine.App {
	tb.Helper()
	a, err := engine.Compile("test.siddhi", src)
	if err != nil {
		tb.Fatalf("compile: %v", err)
	}
	return a
}

// fmtOut renders an output compactly: "Stream@ts v1,v2" with "!" after ts for expired events.
func fmtOut(o *engine.Output) string {
	var b strings.Builder
	b.WriteString(o.Stream)
	b.WriteString("@")
	b.WriteString(engine.LongValue(o.TS).String())
	if o.Expired {
		b.WriteString("!")
	}
	b.WriteString(" ")
	for i, v := range o.Data {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(v.String())
	}
	return b.String()
}

// runLines applies JSONL inputs (play format) with seq = line number and returns all outputs.
func runLines(tb testing.TB, a *engine.App, lines []string) []*engine.Output {
	tb.Helper()
	rt := engine.NewRuntime(a)
	var outs []*engine.Output
	for i, l := range lines {
		in, err := a.DecodeInput([]byte(l))
		if err != nil {
			tb.Fatalf("line %d: %v", i+1, err)
		}
		in.Seq = uint64(i + 1)
		if err := rt.Apply(in, func(o *engine.Output) { outs = append(outs, o.Clone()) }); err != nil {
			tb.Fatalf("line %d: %v", i+1, err)
		}
	}
	return outs
}

func fmtAll(outs []*engine.Output) []string {
	s := make([]string, len(outs))
	for i, o := range outs {
		s[i] = fmtOut(o)
	}
	return s
}
