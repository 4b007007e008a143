package e2e_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/streamha/streamha/lambdas/clustertest"
)

// BenchmarkHealthMirrorRIE measures warm invocations of the built healthmirror bootstrap under
// aws-lambda-rie, as `make bench` reports them: one scheduled event over 10 groups of 2 nodes
// in a real PostgreSQL, from the invoke request to its response, after one cold invocation.
// "db-only" runs without the ledger, "with-ledger" writes it to dynalite. It reports the mean
// (ms/invocation), the median (p50-ms) and, from 100 invocations on, p99-ms; with fewer, the
// largest (max-ms) instead, since a p99 of fewer samples is only their maximum.
func BenchmarkHealthMirrorRIE(b *testing.B) {
	s := startServices(b)
	db := clustertest.NewDB(b)
	var groups []string
	for i := 0; i < 10; i++ {
		g := fmt.Sprintf("group-%02d", i)
		groups = append(groups, g)
		term := db.Pair(g, "node-a", "node-b")
		db.SaveSnapshot(g, "TempMonitor", term)
	}
	event, err := os.ReadFile(filepath.Join("..", "testdata", "scheduled.json"))
	if err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, extra ...string) {
		p := s.start(b, "healthmirror", db.URL, append([]string{"CLUSTER_GROUPS=" + strings.Join(groups, ","), "LOG_LEVEL=warn"}, extra...)...)
		hc := &http.Client{Timeout: 30 * time.Second}
		invoke := func() time.Duration {
			t0 := time.Now()
			resp, err := hc.Post(p.URL, "application/json", bytes.NewReader(event))
			if err != nil {
				b.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			took := time.Since(t0)
			if err != nil || resp.StatusCode != http.StatusOK || bytes.Contains(body, []byte(`"errorMessage"`)) || strings.Count(string(body), `"group"`) != 10 {
				b.Fatalf("invocation: HTTP %d %s %v", resp.StatusCode, body, err)
			}
			return took
		}
		invoke() // cold: process start, database pool, first statements
		samples := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			samples = append(samples, invoke())
		}
		b.StopTimer()
		sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
		var sum time.Duration
		for _, d := range samples {
			sum += d
		}
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		rank := func(p float64) time.Duration { // nearest rank
			i := int(p/100*float64(len(samples))+0.999999) - 1
			return samples[max(0, min(i, len(samples)-1))]
		}
		b.ReportMetric(ms(sum)/float64(len(samples)), "ms/invocation")
		b.ReportMetric(ms(rank(50)), "p50-ms")
		if len(samples) >= 100 {
			b.ReportMetric(ms(rank(99)), "p99-ms")
		} else {
			b.ReportMetric(ms(samples[len(samples)-1]), "max-ms")
		}
	}
	b.Run("db-only", func(b *testing.B) { run(b, "LEDGER_TABLE=") })
	b.Run("with-ledger", func(b *testing.B) { run(b) })
}
