// Command chaos is `make chaos`: a bounded fault run against a two-node pair on a throwaway
// PostgreSQL, judged by the chaos checker. It exits 1 when the checker finds a violation and
// leaves the run folder (logs, outputs, fault timeline) in place, saying where.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/streamha/streamha/internal/pgtest"
	"github.com/streamha/streamha/node/chaos"
)

func main() {
	bin := flag.String("node-bin", "bin/node", "the built node binary")
	apps := flag.String("apps", "node/demo/apps", "apps directory (the Orders demo app; unused with --source kafka)")
	source := flag.String("source", chaos.SourceHTTP, "load: http (events POSTed to the active) or kafka (records produced to an in-process Kafka cluster, read back from the Kafka sink's topic)")
	rounds := flag.Int("rounds", 2, "rounds; each runs every selected fault once, shuffled")
	faults := flag.String("faults", strings.Join(chaos.FaultNames(), ","), "comma-separated faults")
	seed := flag.Int64("seed", time.Now().UnixNano()%1e6, "schedule seed (printed, to replay a run)")
	settle := flag.Duration("settle", time.Second, "load between faults")
	hold := flag.Duration("hold", 3*time.Second, "how long a pause, cut or database outage lasts")
	dir := flag.String("dir", "", "run folder (default results/chaos/<time>)")
	keep := flag.Bool("keep", false, "keep the run folder even when the run passes")
	maxGap := flag.Duration("max-ack-gap", 0, "longest stretch a fault may go without an acknowledgement (default lease + 2.5s promotion allowance; restart-db adds --hold)")
	flag.Parse()

	if *dir == "" {
		*dir = filepath.Join("results", "chaos", time.Now().Format("20060102-150405"))
	}
	absDir, _ := filepath.Abs(*dir)
	absBin, _ := filepath.Abs(*bin)
	absApps, _ := filepath.Abs(*apps)
	pgBin, err := pgtest.BinDir()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(2)
	}
	res, err := chaos.Run(chaos.Config{
		NodeBin: absBin, AppsDir: absApps, Source: *source, Dir: absDir, PGBinDir: pgBin,
		Rounds: *rounds, Faults: strings.Split(*faults, ","), Seed: *seed,
		Settle: *settle, Hold: *hold, MaxAckGap: *maxGap, Log: os.Stdout,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "chaos: %v\nchaos: logs and timeline in %s\n", err, absDir)
		os.Exit(1)
	}
	fmt.Print(res)
	if !res.OK() {
		fmt.Printf("chaos: FAILED (seed %d); logs, outputs and fault timeline in %s\n", *seed, absDir)
		os.Exit(1)
	}
	if *keep {
		fmt.Printf("chaos: run folder %s\n", absDir)
	} else {
		os.RemoveAll(absDir)
	}
}
