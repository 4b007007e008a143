// Command demo is `make demo`: two nodes on the embedded SQLite default in a temp dir, a steady
// stream of events, a SIGKILL of the active with the passive taking over, then a planned
// switchover back. It prints what a user needs to see and exits non-zero if anything
// acknowledged was lost.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/streamha/streamha/internal/hatest"
)

func main() {
	bin := flag.String("node-bin", "bin/node", "the built node binary")
	apps := flag.String("apps", "node/demo/apps", "apps directory")
	keep := flag.Bool("keep", false, "keep the demo directory (logs, database, outputs)")
	phase := flag.Duration("phase", 3*time.Second, "how long to stream events between faults")
	flag.Parse()
	os.Exit(run(*bin, *apps, *keep, *phase))
}

func say(format string, args ...any) {
	fmt.Printf("%s  "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
}

func run(bin, apps string, keep bool, phase time.Duration) int {
	absBin, err := filepath.Abs(bin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	absApps, _ := filepath.Abs(apps)
	dir, err := os.MkdirTemp("", "streamha-demo-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if !keep {
			os.RemoveAll(dir)
		}
	}()
	c, err := hatest.NewCluster(hatest.Options{
		Bin: absBin, Dir: dir, N: 2, AppsDir: absApps,
		ClusterDB: "sqlite://" + filepath.Join(dir, "cluster.db"),
		Extra:     []string{"--persist_interval", "2s"},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	fail := func(format string, args ...any) int {
		say("FAILED: "+format, args...)
		say("logs: %s (kept)", dir)
		keep = true
		return 1
	}
	say("streamha demo: two nodes on embedded SQLite in %s", dir)
	ctx := context.Background()
	a, b := c.Nodes[0], c.Nodes[1]
	if err := a.Start(); err != nil {
		return fail("%v", err)
	}
	first, err := c.WaitActive(ctx, 10*time.Second, nil)
	if err != nil {
		return fail("%v", err)
	}
	if err := b.Start(); err != nil {
		return fail("%v", err)
	}
	if err := c.WaitPeerConnected(ctx, 10*time.Second); err != nil {
		return fail("%v", err)
	}
	printRoles(c)

	client := hatest.NewClient(c)
	cctx, stopClient := context.WithCancel(ctx)
	clientDone := make(chan struct{})
	go func() {
		defer close(clientDone)
		client.Run(cctx, 20, 5*time.Millisecond)
	}()
	time.Sleep(phase)

	say("SIGKILL the active %s", first.ID)
	killedAt := time.Now()
	_ = first.Kill()
	second, err := c.WaitActive(ctx, 15*time.Second, first)
	if err != nil {
		stopClient()
		return fail("no takeover after SIGKILL: %v", err)
	}
	activeAfter := time.Since(killedAt)
	time.Sleep(500 * time.Millisecond)
	ack, ok := client.FirstAckAfter(killedAt, first.ID)
	if !ok {
		stopClient()
		return fail("the new active acknowledged nothing")
	}
	say("failover: %s active after %d ms; first event acknowledged by it %d ms after the kill",
		second.ID, activeAfter.Milliseconds(), ack.At.Sub(killedAt).Milliseconds())
	printRoles(c)

	say("restart %s: it rejoins as passive", first.ID)
	if err := first.Start(); err != nil {
		stopClient()
		return fail("%v", err)
	}
	if err := c.WaitPeerConnected(ctx, 15*time.Second); err != nil {
		stopClient()
		return fail("%v", err)
	}
	time.Sleep(phase)

	say("planned switchover: POST %s/ha/switchover", second.AdminURL())
	swAt := time.Now()
	if err := second.Switchover(30 * time.Second); err != nil {
		stopClient()
		return fail("switchover request: %v", err)
	}
	back, err := c.WaitActive(ctx, 10*time.Second, second)
	if err != nil {
		stopClient()
		return fail("no active after switchover: %v", err)
	}
	say("switchover: %s active again after %d ms", back.ID, time.Since(swAt).Milliseconds())
	time.Sleep(phase)
	stopClient()
	<-clientDone
	printRoles(c)

	// Stop both cleanly so every output is flushed, then check.
	for _, p := range []*hatest.Proc{back, c.Peer(back)} {
		if err := p.Stop(30 * time.Second); err != nil {
			return fail("%v", err)
		}
	}
	sent, acked, retries, alone, ids := client.Snapshot()
	rep, err := hatest.Check(c, "accepted.jsonl", ids)
	if err != nil {
		return fail("check outputs: %v", err)
	}
	say("events sent=%d acknowledged=%d (retried requests=%d, acknowledged while alone=%d)", sent, acked, retries, alone)
	say("outputs: %s", rep)
	if !rep.OK() {
		return fail("%d acknowledged events are missing from the outputs, e.g. %v", len(rep.Lost), head(rep.Lost))
	}
	say("lost = 0: every acknowledged event is reflected in the outputs")
	return 0
}

func head(l []int64) []int64 {
	if len(l) > 10 {
		return l[:10]
	}
	return l
}

func printRoles(c *hatest.Cluster) {
	for _, p := range c.Nodes {
		if !p.Running() {
			say("  %s: down", p.ID)
			continue
		}
		st, err := p.Status()
		if err != nil {
			say("  %s: %v", p.ID, err)
			continue
		}
		say("  %s: role=%v term=%v peer=%v queue=%v", p.ID, st["role"], st["term"], st["peer"], st["queue"])
	}
}
