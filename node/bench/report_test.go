package bench

import (
	"strings"
	"testing"
)

// TestAloneAcksAreNotCountedForHAModes: an HA mode's figure counts only what the passive held.
func TestAloneAcksAreNotCountedForHAModes(t *testing.T) {
	r := &Results{Rates: []Rate{
		{Mode: "standalone", Transport: "tcp", Nodes: 1, Acked: Acked{Alone: 100}},
		{Mode: "ha-ack", Transport: "tcp", Nodes: 2, Acked: Acked{Held: 60, Alone: 30}},
	}}
	if got := r.rate("ha-ack", "tcp"); got != 60 {
		t.Errorf("ha-ack rate %v, want 60 (held only)", got)
	}
	if got := r.rate("standalone", "tcp"); got != 100 {
		t.Errorf("standalone rate %v, want 100", got)
	}
	if md := r.Markdown(); !strings.Contains(md, "| ha-ack | 60 (+30 alone) |") || !strings.Contains(md, "TCP 0.60") {
		t.Errorf("report:\n%s", md)
	}
}

func TestParseLambda(t *testing.T) {
	out := "goos: linux\nBenchmarkHealthMirrorRIE/db-only-2         \t      20\t   3276197 ns/op\t         8.740 max-ms\t         3.272 ms/invocation\t         2.316 p50-ms\n" +
		"BenchmarkHealthMirrorRIE/with-ledger-2     \t     200\t  33906431 ns/op\t        33.90 ms/invocation\t        28.80 p50-ms\t        88.34 p99-ms\nPASS\n"
	got := parseLambda(out)
	if v := got["db-only"]; v["max-ms"] != 8.74 || v["ms/invocation"] != 3.272 || v["p50-ms"] != 2.316 {
		t.Errorf("db-only: %v", v)
	}
	if v := got["with-ledger"]; v["p99-ms"] != 88.34 || v["ms/invocation"] != 33.9 {
		t.Errorf("with-ledger: %v", v)
	}
}
