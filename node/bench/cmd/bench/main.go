// Command bench is `make bench`: failover and switchover times, ingest throughput per mode,
// snapshot and promotion costs and the Lambda's warm duration under aws-lambda-rie, measured in
// one run on this machine, plus end-to-end sink throughput, memory under a slow sink and failover
// on PostgreSQL and SQLite, and the state-at-scale curve (100K, 1M, 10M keys; BENCH_SCALE_KEYS).
// It prints a table, writes report.md and PNG charts into the results folder and ends with one
// summary line. BENCH_QUICK=1 runs a reduced version.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/streamha/streamha/internal/pgtest"
	"github.com/streamha/streamha/node/bench"
)

func main() {
	bin := flag.String("node-bin", "bin/node", "the built node binary")
	demoApps := flag.String("demo-apps", "node/demo/apps", "apps for the failover runs (the Orders demo)")
	benchApps := flag.String("bench-apps", "node/bench/apps", "apps for the throughput runs (the Filter app)")
	out := flag.String("out", "results/bench", "results folder")
	quick := flag.Bool("quick", os.Getenv("BENCH_QUICK") == "1", "reduced run (BENCH_QUICK=1)")
	kafkaOnly := flag.Bool("kafka-only", false, "only the Kafka source → filter → Kafka sink run (ha-ack), printed")
	e2eOnly := flag.Int("e2e-rounds", 3, "-only sinks: rounds of the end-to-end runs (0: skip them)")
	rssOnly := flag.Duration("rss-for", 10*time.Second, "-only sinks: how long the memory scenario (slow receiver) runs")
	only := flag.String("only", "", "run one scenario only: scale (the state-at-scale scenario), sinks or failover (short looks, logged)")
	flag.Parse()
	logf := func(format string, args ...any) {
		fmt.Printf("%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}
	abs := func(p string) string { a, _ := filepath.Abs(p); return a }
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pgBin, err := pgtest.BinDir()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	pg, err := pgtest.New(pgBin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: postgresql:", err)
		os.Exit(1)
	}
	defer pg.Close()
	scratch, _ := os.MkdirTemp("", "streamha-bench-")
	if os.Getenv("BENCH_KEEP") == "1" {
		logf("keeping the node directories and logs under %s", scratch)
	} else {
		defer os.RemoveAll(scratch)
	}
	env := &bench.Env{NodeBin: abs(*bin), Dir: scratch, PG: pg}

	// The state-at-scale curve: 100K, 1M and 10M keys (10M needs about 2 GB and a few minutes;
	// BENCH_QUICK=1 leaves it out).
	scaleKeys := []int{100_000, 1_000_000, 10_000_000}
	if *quick {
		scaleKeys = scaleKeys[:2]
	}
	if v := os.Getenv("BENCH_SCALE_KEYS"); v != "" { // e.g. 10000000: one size alone
		scaleKeys = scaleKeys[:0]
		for _, f := range strings.Split(v, ",") {
			k, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || k <= 0 {
				fmt.Fprintf(os.Stderr, "bench: BENCH_SCALE_KEYS: %q is not a key count\n", f)
				os.Exit(2)
			}
			scaleKeys = append(scaleKeys, k)
		}
	}
	runScale := func() (string, error) {
		db, err := pgDB(env)
		if err != nil {
			return "", err
		}
		rows, err := bench.Scale(scaleKeys, db, logf)
		md := bench.ScaleMarkdown(rows)
		if werr := os.WriteFile(filepath.Join(*out, "scale.md"), []byte(md), 0o644); werr != nil && err == nil {
			err = werr
		}
		return md, err
	}
	if *only == "scale" {
		if p := os.Getenv("BENCH_CPUPROFILE"); p != "" { // where the process's CPU goes
			f, err := os.Create(p)
			if err == nil {
				err = pprof.StartCPUProfile(f)
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "bench: cpu profile:", err)
				os.Exit(1)
			}
		}
		md, err := runScale()
		pprof.StopCPUProfile() // before any exit below (no-op without a profile)
		fmt.Print("\n" + md + "\n")
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	} else if *only == "sinks" || *only == "failover" {
		// A short look at the sink or failover scenarios alone (the figures are logged).
		l := bench.Load{Conns: 8, Batch: 100, Warmup: time.Second, Duration: 5 * time.Second}
		var err error
		if *only == "sinks" {
			if _, err = env.EndToEnd(l, *e2eOnly, logf); err == nil {
				_, err = env.RSS(l, 50*time.Millisecond, *rssOnly, logf)
			}
		} else {
			var url string
			if url, err = env.NewDB(); err == nil {
				var run bench.FailoverRun
				// BENCH_KILLS, BENCH_PAUSES, BENCH_SWITCHES: a longer look at one tail.
				kills, pauses, switches := envInt("BENCH_KILLS", 3), envInt("BENCH_PAUSES", 1), envInt("BENCH_SWITCHES", 3)
				if run, err = env.Failover(abs(*demoApps), url, kills, pauses, switches, logf); err == nil {
					lbl, tail := run.Switch.Tail()
					logf("postgresql switchover: p50 %d ms, %s %d ms", run.Switch.Pct(50).Milliseconds(), lbl, tail.Milliseconds())
					logf("postgresql: client load %.0f events/s", run.LoadEPS)
					lbl, tail = run.Pause.Tail()
					logf("postgresql SIGSTOP: p50 %d ms, %s %d ms", run.Pause.Pct(50).Milliseconds(), lbl, tail.Milliseconds())
					run, err = env.Failover(abs(*demoApps), "", kills, pauses, 0, logf)
					lbl, tail = run.Pause.Tail()
					logf("sqlite SIGSTOP: p50 %d ms, %s %d ms", run.Pause.Pct(50).Milliseconds(), lbl, tail.Milliseconds())
					logf("sqlite: client load %.0f events/s", run.LoadEPS)
				}
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	} else if *only != "" {
		fmt.Fprintf(os.Stderr, "bench: unknown scenario %q (want scale, sinks or failover)\n", *only)
		os.Exit(2)
	}

	// Failovers take seconds each: 20 of them per database give a median and a maximum, not a
	// p99. Switchovers (on PostgreSQL) and Lambda invocations are cheap enough for the 100+
	// samples a p99 needs. SIGSTOP runs wait out the lease: a few give its maximum.
	kills, pauses, switches, lambdaN := 20, 5, 100, 200
	rssFor, e2eRounds := 2*time.Minute, 3
	tcp := bench.Load{Conns: 2, Batch: 1000, Depth: 32, Warmup: time.Second, Duration: 5 * time.Second}
	httpL := bench.Load{Conns: 8, Batch: 100, Warmup: time.Second, Duration: 5 * time.Second}
	keys := []int{10_000, 100_000, 1_000_000}
	queued := []int{10_000, 100_000, 1_000_000}
	if *quick {
		kills, pauses, switches, lambdaN = 5, 2, 10, 30
		rssFor, e2eRounds = 30*time.Second, 1
		tcp.Warmup, tcp.Duration = 500*time.Millisecond, 2*time.Second
		httpL.Warmup, httpL.Duration = 500*time.Millisecond, 2*time.Second
		keys, queued = []int{10_000, 100_000}, []int{10_000, 100_000}
	}
	if *kafkaOnly {
		eps, err := env.KafkaThroughput(bench.Modes[len(bench.Modes)-1], tcp, logf)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		logf("kafka ha-ack: %.0f records/s", eps)
		return
	}
	r := &bench.Results{At: time.Now(), Quick: *quick}
	note := func(err error) {
		if err != nil {
			logf("not measured: %v", err)
			r.Errors = append(r.Errors, err.Error())
		}
	}
	r.Rates, r.Profile, err = env.Throughput(abs(*benchApps), tcp, httpL, "ha-ack", logf)
	note(err)
	r.E2E, err = env.EndToEnd(httpL, e2eRounds, logf)
	note(err)
	rss, err := env.RSS(httpL, 50*time.Millisecond, rssFor, logf)
	note(err)
	r.RSS = &rss
	pgURL, err := env.NewDB()
	note(err)
	if err == nil {
		run, err := env.Failover(abs(*demoApps), pgURL, kills, pauses, switches, logf)
		note(err)
		r.Runs = append(r.Runs, run)
		r.Failover, r.Switchover = run.Kill, run.Switch
	}
	run, err := env.Failover(abs(*demoApps), "", kills, pauses, 0, logf)
	note(err)
	r.Runs = append(r.Runs, run)
	db, err := func() (string, error) { return pgDB(env) }()
	note(err)
	r.Snaps, err = bench.Snapshots(keys, db)
	note(err)
	r.Promos, err = env.Promotions(queued, logf)
	note(err)
	scaleMD, err := runScale()
	note(err)
	logf("lambda: healthmirror under aws-lambda-rie (lambdas/e2e BenchmarkHealthMirrorRIE)")
	r.Lambda, err = bench.Lambda(lambdaN)
	note(err)

	md := r.Markdown() + "\n" + scaleMD
	fmt.Print("\n" + md + "\n")
	if err := os.WriteFile(filepath.Join(*out, "report.md"), []byte(md), 0o644); err != nil {
		note(err)
	}
	note(r.Charts(*out))
	fmt.Printf("report and charts in %s\n", abs(*out))
	fmt.Println(r.Summary())
	if len(r.Errors) > 0 {
		os.Exit(1)
	}
}

func pgDB(env *bench.Env) (string, error) { return env.NewDB() }

// envInt is the positive integer in environment variable name, else def.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
