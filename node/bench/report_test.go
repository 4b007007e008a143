package bench

import (
	"strings"
	"testing"
	"time"
)

func samples(n int) Dist {
	var d Dist
	for i := 1; i <= n; i++ {
		d.Samples = append(d.Samples, time.Duration(i)*time.Millisecond)
	}
	return d
}

// TestTailNamesAP99OnlyFrom100Samples: with 20 samples the nearest-rank p99 is the maximum, so
// the report must call it that; from 100 samples on it is a p99 and differs from the maximum.
func TestTailNamesAP99OnlyFrom100Samples(t *testing.T) {
	if label, v := samples(20).Tail(); label != "max of 20" || v != 20*time.Millisecond {
		t.Errorf("20 samples: %q %v, want max of 20 = 20ms", label, v)
	}
	if label, v := samples(200).Tail(); label != "p99" || v != 198*time.Millisecond {
		t.Errorf("200 samples: %q %v, want p99 = 198ms", label, v)
	}
	r := &Results{Failover: samples(20), Switchover: samples(100)}
	sum := r.Summary()
	for _, want := range []string{"failover_max_ms=20 ", "switchover_p99_ms=99 "} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary %q lacks %q", sum, want)
		}
	}
	md := r.Markdown()
	if strings.Contains(md, "SIGKILL of the active | 20 | 10 | p99") || !strings.Contains(md, "max of 20 20") {
		t.Errorf("report names the tail of 20 failovers wrongly:\n%s", md)
	}
}

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

// TestNewGoalsAreJudged: SIGSTOP is judged on its max against lease + 500 ms, SIGKILL on its
// tail against 500 ms; end to end against 0.8 × the same run's ingest-only HTTP figure and
// 100K/s; RSS against 200 MiB.
func TestNewGoalsAreJudged(t *testing.T) {
	r := &Results{
		Rates: []Rate{{Mode: "ha-ack", Transport: "http", Nodes: 2, Acked: Acked{Held: 200e3}}},
		Runs: []FailoverRun{{DB: "sqlite", Lease: 1500 * time.Millisecond, LoadEPS: 30e3,
			Kill: samples(20), Pause: Dist{Samples: []time.Duration{1900 * time.Millisecond, 2100 * time.Millisecond}}}},
		E2E: []E2ERow{{Sink: "http (batch.size=500)", OutEPS: 170e3}, {Sink: "file (fsync=batch)", OutEPS: 150e3},
			{Sink: "kafka (interleaved)", OutEPS: 90e3, Baseline: 110e3, Ratio: 0.82, CPU: [3]float64{3, 1.2, 0.9}, BaseCPU: [3]float64{2, 1, 0.5}}},
		RSS: &RSSRow{Delay: 50 * time.Millisecond, Duration: time.Minute, MaxRSS: map[string]int64{"node-a": 150 << 20, "node-b": 250 << 20}},
	}
	md := r.Markdown()
	for _, want := range []string{
		"| sqlite | SIGKILL of the active | 20 | 10 | max of 20 20 | 20 | max of 20 ≤ 500: met | 30K events/s |",
		"| sqlite | SIGSTOP of the active | 2 | 1900 | max of 2 2100 | 2100 | max ≤ 2000: MISSED |",
		"| http (batch.size=500) | 170K | 0.85 | 200K | 0 | — | — | — | met, met |",
		"| file (fsync=batch) | 150K | 0.75 | 200K | 0 | — | — | — | MISSED, met |",
		"| kafka (interleaved) | 90K | 0.82 | 110K | 0 | 3.00 / 1.20 / 0.90 | 2.00 / 1.00 / 0.50 | 0.69 | met, MISSED |",
		"node-a 150 MiB, node-b 250 MiB", "Goal < 200 MiB: MISSED",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	sum := r.Summary()
	for _, want := range []string{"sqlite_failover_max_ms=20", "sqlite_sigstop_max_ms=2100", "e2e_http_ratio=0.85", "e2e_file_eps=150000", "e2e_kafka_ratio=0.82", "rss_max_mib=250"} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary %q lacks %q", sum, want)
		}
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
