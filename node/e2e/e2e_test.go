// Package e2e runs real node processes on a throwaway PostgreSQL and injects faults under load:
// after each, every acknowledged event must be reflected in the outputs (lost = 0), with
// re-emitted outputs identifiable by their output id.
package e2e

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/streamha/streamha/internal/hatest"
	"github.com/streamha/streamha/internal/pgtest"
)

var nodeBin string

func TestMain(m *testing.M) { os.Exit(hatest.MainWithNode(m, &nodeBin, pgtest.Main)) }

// pair starts two nodes on url under load and returns them with a running client.
type pair struct {
	t      *testing.T
	c      *hatest.Cluster
	client *hatest.Client
	stop   context.CancelFunc
	done   chan struct{}
}

// startClusterPair starts the cluster o describes, stopped when the test ends, and waits (30 s at
// most) for its two nodes to be active and synced passive: the start of every e2e test.
func startClusterPair(t *testing.T, o hatest.Options) *hatest.Cluster {
	t.Helper()
	c, err := hatest.NewCluster(o)
	if err != nil {
		t.Fatal(err)
	}
	hatest.Cleanup(t, c)
	if err := c.StartPair(context.Background(), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	return c
}

func startPair(t *testing.T, url string, extra ...string) *pair {
	t.Helper()
	apps, _ := filepath.Abs("../demo/apps")
	dir := t.TempDir()
	c := startClusterPair(t, hatest.Options{
		Bin: nodeBin, Dir: dir, N: 2, AppsDir: apps, ClusterDB: url,
		Extra: append([]string{"--persist_interval", "1s"}, extra...),
	})
	ctx := context.Background()
	p := &pair{t: t, c: c, client: hatest.NewClient(c), done: make(chan struct{})}
	cctx, cancel := context.WithCancel(ctx)
	p.stop = cancel
	go func() {
		defer close(p.done)
		p.client.Run(cctx, 10, 2*time.Millisecond)
	}()
	return p
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// finish stops the load, shuts both nodes down cleanly and checks the outputs.
func (p *pair) finish() hatest.Report {
	p.t.Helper()
	p.stop()
	<-p.done
	for _, n := range p.c.Nodes {
		if err := n.Stop(60 * time.Second); err != nil {
			p.t.Errorf("clean stop: %v", err)
		}
	}
	rep := hatest.CheckNoLoss(p.t, p.c, p.client)
	if rep.DupEvents != 0 {
		p.t.Fatalf("%d events applied twice despite idempotency keys", rep.DupEvents)
	}
	return rep
}

func (p *pair) waitAcks(n int64, timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	_, start, _, _, _ := p.client.Snapshot()
	for {
		_, acked, _, _, _ := p.client.Snapshot()
		if acked >= start+n {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("fewer than %d acknowledgements within %s", n, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestKillActiveUnderLoad(t *testing.T) {
	p := startPair(t, pgtest.Shared(t).NewDatabase(t))
	ctx := context.Background()
	for round := 0; round < 3; round++ {
		p.waitAcks(200, 30*time.Second)
		old := p.c.Active()
		if old == nil {
			t.Fatalf("round %d: no active", round)
		}
		killed := time.Now()
		if err := old.Kill(); err != nil {
			t.Fatal(err)
		}
		next, err := p.c.WaitActive(ctx, 30*time.Second, old)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		t.Logf("round %d: %s killed, %s active after %s", round, old.ID, next.ID, time.Since(killed))
		p.waitAcks(100, 30*time.Second)
		if err := old.Start(); err != nil {
			t.Fatal(err)
		}
		if err := p.c.WaitPeerConnected(ctx, 30*time.Second); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	p.finish()
}

func TestPausedActiveDoesNotActOnItsOldTerm(t *testing.T) {
	p := startPair(t, pgtest.Shared(t).NewDatabase(t))
	ctx := context.Background()
	p.waitAcks(200, 30*time.Second)
	old := p.c.Active()
	if err := old.Pause(); err != nil {
		t.Fatal(err)
	}
	next, err := p.c.WaitActive(ctx, 30*time.Second, old)
	if err != nil {
		old.Resume()
		t.Fatal(err)
	}
	p.waitAcks(100, 30*time.Second)
	resumed := time.Now()
	if err := old.Resume(); err != nil {
		t.Fatal(err)
	}
	p.waitAcks(200, 30*time.Second)
	// After the resume, every acknowledgement must come from the new active.
	if a, ok := p.client.FirstAckAfter(resumed, next.ID); ok {
		t.Fatalf("the deposed node %s acknowledged events at %s after being resumed", a.Node, a.At)
	}
	st, err := old.Status()
	if err != nil {
		t.Fatal(err)
	}
	if st["serving"] == true {
		t.Fatalf("resumed node still serving: %v", st)
	}
	p.finish()
}

func TestRestartPassiveUnderLoad(t *testing.T) {
	p := startPair(t, pgtest.Shared(t).NewDatabase(t))
	ctx := context.Background()
	for round := 0; round < 2; round++ {
		p.waitAcks(200, 30*time.Second)
		active := p.c.Active()
		passive := p.c.Peer(active)
		if err := passive.Kill(); err != nil {
			t.Fatal(err)
		}
		p.waitAcks(100, 30*time.Second)
		if err := passive.Start(); err != nil {
			t.Fatal(err)
		}
		if err := p.c.WaitPeerConnected(ctx, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		if p.c.Active() != active {
			t.Fatalf("round %d: restarting the passive moved the active role", round)
		}
	}
	p.finish()
}

func TestDatabaseStopAndRestart(t *testing.T) {
	srv := pgtest.Start(t)
	p := startPair(t, srv.NewDatabase(t))
	ctx := context.Background()
	p.waitAcks(200, 30*time.Second)
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	// Without the database no node may serve once renew_deadline has passed.
	time.Sleep(3 * time.Second)
	if a := p.c.Active(); a != nil {
		t.Fatalf("%s still active with the database down", a.ID)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.c.WaitActive(ctx, 60*time.Second, nil); err != nil {
		t.Fatal(err)
	}
	p.waitAcks(200, 60*time.Second)
	p.finish()
}

func TestStartWhileDatabaseIsDown(t *testing.T) {
	srv := pgtest.Start(t)
	url := srv.NewDatabase(t)
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	apps, _ := filepath.Abs("../demo/apps")
	c, err := hatest.NewCluster(hatest.Options{Bin: nodeBin, Dir: t.TempDir(), N: 1, AppsDir: apps, ClusterDB: url})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n := c.Nodes[0]
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if !n.Running() {
		b, _ := os.ReadFile(n.LogPath)
		t.Fatalf("node exited while the database was down:\n%s", b)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitActive(context.Background(), 30*time.Second, nil); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(n.LogPath)
	if !strings.Contains(string(b), "database not ready; retrying") {
		t.Fatalf("the wait for the database was not reported:\n%s", b)
	}
}

// TestSwitchoversUnderLoadThenStopBoth hands the active role back and forth under load, then
// stops both nodes one right after the other: the second may have just been promoted and must
// still leave nothing acknowledged behind.
func TestSwitchoversUnderLoadThenStopBoth(t *testing.T) {
	p := startPair(t, pgtest.Shared(t).NewDatabase(t))
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		p.waitAcks(300, 30*time.Second)
		if err := p.c.WaitPeerConnected(ctx, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		a := p.c.Active()
		t0 := time.Now()
		if err := a.Switchover(30 * time.Second); err != nil {
			t.Fatalf("switchover %d: %v", i, err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			if r, ok := p.client.FirstAckAfter(t0, a.ID); ok && !r.Sent.Before(t0) {
				t.Logf("switchover %d from %s: the other node acknowledged after %s", i, a.ID, r.At.Sub(t0))
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("switchover %d: the other node acknowledged nothing within 10 s", i)
			}
			time.Sleep(time.Millisecond)
		}
	}
	// finish stops node-a then node-b: whichever was active hands over to the other, which is
	// then stopped at once.
	p.finish()
}

// TestFailoverRepeatsNoDeliveredOutput: the active reports to the passive how far its sink
// outputs are written, so a crash after they were all written and reported re-emits none of
// them, even with no snapshot since the passive joined (everything after it is replayed).
func TestFailoverRepeatsNoDeliveredOutput(t *testing.T) {
	p := startPair(t, pgtest.Shared(t).NewDatabase(t), "--persist_interval", "10m")
	ctx := context.Background()
	p.waitAcks(300, 30*time.Second)
	p.stop()
	<-p.done
	active := p.c.Active()
	if active == nil {
		t.Fatal("no active")
	}
	passive := p.c.Peer(active)
	orders := func(n *hatest.Proc) (last, pending, delivered float64) {
		st, err := n.Status()
		if err != nil {
			t.Fatalf("%s status: %v", n.ID, err)
		}
		a, _ := st["apps"].(map[string]any)["Orders"].(map[string]any)
		last, _ = a["last_seq"].(float64)
		pending, _ = a["outputs_pending"].(float64)
		delivered, _ = a["delivered_seq"].(float64)
		return last, pending, delivered
	}
	// Settled: the active's input position is stable (a request the client gave up on may
	// still be applied just after it stopped), nothing is pending, and the passive knows.
	deadline := time.Now().Add(15 * time.Second)
	for {
		last1, pending1, _ := orders(active)
		time.Sleep(100 * time.Millisecond)
		_, _, known := orders(passive)
		last2, pending2, _ := orders(active)
		if last1 == last2 && pending1 == 0 && pending2 == 0 && known >= last2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not settled: active at input %v then %v with %v outputs pending; passive knows outputs up to %v delivered",
				last1, last2, pending2, known)
		}
	}
	if err := active.Kill(); err != nil {
		t.Fatal(err)
	}
	next, err := p.c.WaitActive(ctx, 30*time.Second, active)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(next.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !regexp.MustCompile(`(?m)^streamha_outputs_not_reemitted_total [1-9]`).Match(metrics) {
		t.Errorf("the new active's metrics do not count the outputs it skipped")
	}
	rep := p.finish()
	if rep.DupOutputIDs != 0 {
		t.Fatalf("%d outputs written before the crash were emitted again", rep.DupOutputIDs)
	}
}
