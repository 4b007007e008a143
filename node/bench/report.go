package bench

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Results is everything one `make bench` measured.
type Results struct {
	At         time.Time
	Quick      bool
	Failover   Dist // SIGKILL on PostgreSQL (the summary's and chart's figure)
	Switchover Dist // on PostgreSQL
	// Runs are the failover runs per cluster database (SIGKILL, SIGSTOP, switchover).
	Runs    []FailoverRun
	E2E     []E2ERow
	RSS     *RSSRow
	Rates   []Rate
	Snaps   []SnapRow
	Promos  []PromoRow
	Lambda  map[string]map[string]float64 // sub-benchmark → metric (ms/invocation, p50-ms, p99-ms or max-ms) → value
	Profile string                        // perf top of the active during the HA ack TCP run
	Errors  []string
}

func (r *Results) rate(mode, transport string) float64 {
	return r.find(mode, transport).EPS()
}

func (r *Results) find(mode, transport string) Rate {
	for _, x := range r.Rates {
		if x.Mode == mode && x.Transport == transport {
			return x
		}
	}
	return Rate{}
}

// withAlone shows a rate of an HA mode with the events acknowledged alone beside it.
func withAlone(x Rate) string {
	if x.Nodes < 2 {
		return eps(x.EPS())
	}
	return fmt.Sprintf("%s (+%s alone)", eps(x.EPS()), eps(x.Alone))
}

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

func eps(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.0fK", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func goal(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// Markdown is the report: tables with the goals, then how to reproduce.
func (r *Results) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# streamha benchmarks\n\n%s, %s/%s, %d CPUs, %s%s; nodes, PostgreSQL and the load client share the machine.\n\n",
		r.At.Format("2006-01-02 15:04"), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(), map[bool]string{true: ", BENCH_QUICK=1", false: ""}[r.Quick])
	b.WriteString("## Failover and switchover (time until the other node acknowledges events)\n\n")
	fmt.Fprintf(&b, "From the signal (or the switchover request) until the client gets the first acknowledgement from the other node: the client retries each batch with its Idempotency-Key and follows X-HA-Active (batches of %d events, the next %v after each acknowledgement; its load over the run is given per database; its request timeout is 1 s, after which it tries the other node). Before the switchovers, %d one-event batches with their own keys fill the idempotency window. A p99 is stated only from %d samples on; with fewer runs the tail column is their maximum.\n\n", failoverBatch, failoverGap, switchKeys, minForP99)
	b.WriteString("| database | | runs | p50 ms | tail ms | max ms | goal | client load |\n|---|---|---|---|---|---|---|---|\n")
	runs := r.Runs
	if len(runs) == 0 && (len(r.Failover.Samples) > 0 || len(r.Switchover.Samples) > 0) {
		runs = []FailoverRun{{DB: "postgresql", Kill: r.Failover, Switch: r.Switchover, Lease: 1500 * time.Millisecond}}
	}
	for _, run := range runs {
		for _, row := range []struct {
			name  string
			d     Dist
			goal  time.Duration
			onMax bool
		}{{"SIGKILL of the active", run.Kill, 500 * time.Millisecond, false}, {"SIGSTOP of the active", run.Pause, run.Lease + 500*time.Millisecond, true}, {"planned switchover", run.Switch, 100 * time.Millisecond, false}} {
			if len(row.d.Samples) == 0 {
				continue
			}
			label, tail := row.d.Tail()
			judged, v := label, tail
			if row.onMax {
				judged, v = "max", row.d.Max()
			}
			fmt.Fprintf(&b, "| %s | %s | %d | %s | %s %s | %s | %s ≤ %d: %s | %s events/s |\n", run.DB, row.name, len(row.d.Samples), ms(row.d.Pct(50)), label, ms(tail), ms(row.d.Max()),
				judged, row.goal.Milliseconds(), goal(v <= row.goal), eps(run.LoadEPS))
		}
	}
	b.WriteString("\nGoals: SIGKILL p99 ≤ 500 ms (judged on the tail shown), SIGSTOP ≤ lease + 500 ms (judged on the max), switchover p99 ≤ 100 ms; client load ≥ 20K events/s. Peer: WSO2 SI ≈ 15 s with shipped settings.\n")
	b.WriteString("\n## Ingest throughput (filter app, acknowledged events/s, one run)\n\n")
	b.WriteString("With a passive, a mode's TCP and HTTP figures count only events the passive held (ack: acknowledged by it; async: sent to it); events acknowledged alone (TCP status 1, HTTP `\"alone\":true`: no passive held them) are shown apart as \"+N alone\" and in no ratio. Standalone acknowledges everything alone. A databridge answer cannot say alone: that column counts every acknowledged event.\n\n")
	b.WriteString("| mode | TCP | HTTP (batches of 100) | WSO2 databridge (binary) | TCP vs standalone | HTTP vs standalone |\n|---|---|---|---|---|---|\n")
	for _, m := range Modes {
		t, h, d := r.find(m.Name, "tcp"), r.find(m.Name, "http"), r.find(m.Name, "databridge")
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", m.Name, withAlone(t), withAlone(h), eps(d.EPS()), ratio(t.EPS(), r.rate("standalone", "tcp")), ratio(h.EPS(), r.rate("standalone", "http")))
	}
	ta, ha := r.rate("ha-ack", "tcp"), r.rate("ha-ack", "http")
	fmt.Fprintf(&b, "\nGoals: HA ack ≥ 0.7 × standalone (TCP %s: %s); TCP ≥ 1M/s with both nodes (%s: %s); HTTP ≥ 250K/s (%s: %s). Peer: WSO2 SP 4.0.0 filter 900K/s on two c4.2xlarge (16 vCPUs).\n\n",
		ratio(ta, r.rate("standalone", "tcp")), goal(ta >= 0.7*r.rate("standalone", "tcp") && ta > 0), eps(ta), goal(ta >= 1e6), eps(ha), goal(ha >= 250e3))
	if k := r.rate("ha-ack", "kafka"); k > 0 {
		fmt.Fprintf(&b, "Kafka source → filter → Kafka sink, HA ack (transactional sink, in-process kfake broker sharing the CPU): %s records/s (TCP ingest of the same run: %s).\n\n", eps(k), eps(ta))
	}
	if len(r.E2E) > 0 {
		fmt.Fprintf(&b, "End to end (HA ack pair, HTTP ingest as above, Out to a sink; outputs arrived per second in the measured window). The ingest-only figure is the same app with no sink on a pair run right before each sink run (medians over rounds; CPU in ms per 1K events of the active / passive / bench process, which holds the client and the receiver; \"on saturated cores\": the ratio those CPU figures predict when the cores are the limit, which other work on the machine does not move); without one, this run's ingest-only HTTP HA ack (%s events/s).\n\n| sink | outputs/s | vs ingest-only | ingest-only | ingest held meanwhile | CPU with sink | CPU ingest-only | on saturated cores | goals: ≥ 0.8 × ingest-only, ≥ 100K outputs/s |\n|---|---|---|---|---|---|---|---|---|\n", eps(r.rate("ha-ack", "http")))
		for _, x := range r.E2E {
			base, rt := x.Baseline, x.Ratio
			if rt == 0 {
				base = r.rate("ha-ack", "http")
				if base > 0 {
					rt = x.OutEPS / base
				}
			}
			sat := "—"
			if c := x.CPURatio(); c > 0 {
				sat = fmt.Sprintf("%.2f", c)
			}
			fmt.Fprintf(&b, "| %s | %s | %.2f | %s | %s | %s | %s | %s | %s, %s |\n", x.Sink, eps(x.OutEPS), rt, eps(base), eps(x.IngestEPS), cpus(x.CPU), cpus(x.BaseCPU), sat, goal(rt >= 0.8), goal(x.OutEPS >= 100e3))
		}
		b.WriteString("\n")
	}
	if x := r.RSS; x != nil {
		var worst int64
		var parts []string
		for _, id := range sortedKeys(x.MaxRSS) {
			parts = append(parts, fmt.Sprintf("%s %.0f MiB", id, float64(x.MaxRSS[id])/(1<<20)))
			worst = max(worst, x.MaxRSS[id])
		}
		fmt.Fprintf(&b, "Memory under a slow sink (HA ack pair, full-rate HTTP ingest for %v, http sink batch.size=500 to a receiver answering each request after %v; VmRSS sampled every 250 ms): max %s (ingest %s events/s, outputs %s/s). Goal < 200 MiB: %s.\n\n",
			x.Duration, x.Delay, strings.Join(parts, ", "), eps(x.IngestEPS), eps(x.OutEPS), goal(worst > 0 && worst < 200<<20))
	}
	if r.Profile != "" {
		b.WriteString("CPU profile of the active during the HA ack TCP run (`perf`, self time by function):\n\n```\n" + r.Profile + "\n```\n\n")
	}
	b.WriteString("## Persistence (in-process: node/engine snapshot, node/store write to PostgreSQL; one measurement each)\n\n")
	b.WriteString("| group keys | snapshot capture ms | size MiB | write to PostgreSQL ms | restore ms |\n|---|---|---|---|---|\n")
	for _, s := range r.Snaps {
		fmt.Fprintf(&b, "| %d | %.1f | %.2f | %.1f | %.1f |\n", s.Keys, float64(s.Capture.Microseconds())/1000, float64(s.Size)/(1<<20), float64(s.Write.Microseconds())/1000, float64(s.Restore.Microseconds())/1000)
	}
	fmt.Fprintf(&b, "\n## Promotion (node processes on PostgreSQL, one run each)\n\nSIGKILL of the active, then the passive's own `streamha_promotion_seconds`, until it serves (the wait before it is not included), and the path it took (`streamha_promotions_total`): cold is fencing, reading the newest snapshot from PostgreSQL, decoding its envelope, restoring %d group keys, rebuilding the idempotency window (one key per %d events) and replaying the queue; hot (a passive whose runtime followed the queue) restores and replays nothing.\n\n", promoKeys, promoBatch)
	b.WriteString("| queued events | path | inputs replayed | promotion ms |\n|---|---|---|---|\n")
	for _, p := range r.Promos {
		fmt.Fprintf(&b, "| %d | %s | %d | %.1f |\n", p.Queued, p.Path, p.Replayed, float64(p.Promotion.Microseconds())/1000)
	}
	b.WriteString("\n## Lambda\n\nThe built healthmirror bootstrap under aws-lambda-rie, 10 groups of 2 nodes in PostgreSQL: warm invocations, from the invoke request to its response (after one cold invocation).\n\n| variant | mean ms | p50 ms | tail ms |\n|---|---|---|---|\n")
	for _, k := range sortedKeys(r.Lambda) {
		v := r.Lambda[k]
		tail := fmt.Sprintf("p99 %.2f", v["p99-ms"])
		if _, ok := v["p99-ms"]; !ok {
			tail = fmt.Sprintf("max %.2f", v["max-ms"])
		}
		fmt.Fprintf(&b, "| %s | %.2f | %.2f | %s |\n", k, v["ms/invocation"], v["p50-ms"], tail)
	}
	if len(r.Errors) > 0 {
		b.WriteString("\n## Not measured\n\n")
		for _, e := range r.Errors {
			b.WriteString("- " + e + "\n")
		}
	}
	b.WriteString("\nReproduce: `make bench` (`BENCH_QUICK=1 make bench` for the reduced run); charts beside this file.\n")
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Summary is the one line tracked across versions. Tails are maxima unless a key says p99 (a
// p99 needs minForP99 samples); tcp/http_ack_eps count only events the passive held.
func (r *Results) Summary() string {
	tailKey := func(name string, d Dist) string {
		label, v := d.Tail()
		if label != "p99" {
			label = "max"
		}
		return fmt.Sprintf("%s_%s_ms=%s", name, label, ms(v))
	}
	return fmt.Sprintf("bench: failover_p50_ms=%s %s %s tcp_ack_eps=%.0f tcp_ack_alone_eps=%.0f http_ack_eps=%.0f tcp_standalone_eps=%.0f ha_ratio=%s",
		ms(r.Failover.Pct(50)), tailKey("failover", r.Failover), tailKey("switchover", r.Switchover),
		r.rate("ha-ack", "tcp"), r.find("ha-ack", "tcp").Alone, r.rate("ha-ack", "http"),
		r.rate("standalone", "tcp"), ratio(r.rate("ha-ack", "tcp"), r.rate("standalone", "tcp"))) + r.extraSummary(tailKey)
}

// extraSummary adds the SQLite failover, SIGSTOP, end-to-end and RSS keys when measured.
func (r *Results) extraSummary(tailKey func(string, Dist) string) string {
	var b strings.Builder
	for _, run := range r.Runs {
		if run.DB != "postgresql" && len(run.Kill.Samples) > 0 {
			fmt.Fprintf(&b, " %s_failover_p50_ms=%s %s", run.DB, ms(run.Kill.Pct(50)), tailKey(run.DB+"_failover", run.Kill))
		}
		if len(run.Pause.Samples) > 0 {
			fmt.Fprintf(&b, " %s_sigstop_max_ms=%s", run.DB, ms(run.Pause.Max()))
		}
	}
	for _, x := range r.E2E {
		k := strings.Fields(x.Sink)[0]
		rt := ratio(x.OutEPS, r.rate("ha-ack", "http"))
		if x.Ratio > 0 {
			rt = fmt.Sprintf("%.2f", x.Ratio)
		}
		fmt.Fprintf(&b, " e2e_%s_eps=%.0f e2e_%s_ratio=%s", k, x.OutEPS, k, rt)
	}
	if r.RSS != nil {
		var worst int64
		for _, v := range r.RSS.MaxRSS {
			worst = max(worst, v)
		}
		fmt.Fprintf(&b, " rss_max_mib=%.0f", float64(worst)/(1<<20))
	}
	return b.String()
}

// Charts writes the PNG charts into dir.
func (r *Results) Charts(dir string) error {
	var tp Chart
	tp.Title = "ingest throughput, acknowledged events/s (filter app)"
	for _, x := range r.Rates {
		tp.Bars = append(tp.Bars, Bar{Label: x.Mode + " " + x.Transport, Value: x.EPS(), Text: eps(x.EPS())})
	}
	fo := Chart{Title: "time until the other node acknowledges, ms"}
	for _, d := range []struct {
		name string
		d    Dist
	}{{"failover", r.Failover}, {"switchover", r.Switchover}} {
		label, tail := d.d.Tail()
		fo.Bars = append(fo.Bars,
			Bar{Label: d.name + " p50", Value: float64(d.d.Pct(50).Milliseconds()), Text: ms(d.d.Pct(50))},
			Bar{Label: d.name + " " + label, Value: float64(tail.Milliseconds()), Text: ms(tail)})
	}
	fo.Bars = append(fo.Bars, Bar{Label: "wso2 si shipped", Value: 15000, Text: "15000 (peer)", Ref: true})
	sn := Chart{Title: "snapshot capture + write + restore, ms"}
	for _, s := range r.Snaps {
		t := s.Capture + s.Write + s.Restore
		sn.Bars = append(sn.Bars, Bar{Label: fmt.Sprintf("%d keys", s.Keys), Value: float64(t.Microseconds()), Text: fmt.Sprintf("%s (%.1f mib)", ms(t), float64(s.Size)/(1<<20))})
	}
	pr := Chart{Title: "promotion of a node process (restore + replay until serving), ms"}
	for _, p := range r.Promos {
		pr.Bars = append(pr.Bars, Bar{Label: fmt.Sprintf("%d queued", p.Queued), Value: float64(p.Promotion.Microseconds()), Text: ms(p.Promotion)})
	}
	for name, c := range map[string]Chart{"throughput.png": tp, "failover.png": fo, "snapshot.png": sn, "promotion.png": pr} {
		if err := c.WritePNG(filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}

var lambdaLine = regexp.MustCompile(`(?m)^BenchmarkHealthMirrorRIE/(\S+?)(?:-\d+)?\s+\d+\s+\d+ ns/op\s+(.*)$`)

var lambdaMetric = regexp.MustCompile(`([\d.]+) (\S+)`)

// Lambda runs the healthmirror benchmark under aws-lambda-rie (lambdas/e2e) with n warm
// invocations per variant and returns its metrics per variant.
func Lambda(n int) (map[string]map[string]float64, error) {
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", "BenchmarkHealthMirrorRIE", "-benchtime", strconv.Itoa(n)+"x", "./lambdas/e2e")
	out, err := cmd.CombinedOutput()
	res := parseLambda(string(out))
	if err != nil || len(res) == 0 {
		return res, fmt.Errorf("lambda benchmark: %v: %s", err, lastLines(string(out), 5))
	}
	return res, nil
}

// parseLambda reads the metrics of each BenchmarkHealthMirrorRIE variant from go test output.
func parseLambda(out string) map[string]map[string]float64 {
	res := map[string]map[string]float64{}
	for _, m := range lambdaLine.FindAllStringSubmatch(out, -1) {
		res[m[1]] = map[string]float64{}
		for _, kv := range lambdaMetric.FindAllStringSubmatch(m[2], -1) {
			v, _ := strconv.ParseFloat(kv[1], 64)
			res[m[1]][kv[2]] = v
		}
	}
	return res
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, " | ")
}

// cpus formats CPU ms per 1K events of the active, passive and bench process ("—" unmeasured).
func cpus(c [3]float64) string {
	if c == [3]float64{} {
		return "—"
	}
	return fmt.Sprintf("%.2f / %.2f / %.2f", c[0], c[1], c[2])
}
