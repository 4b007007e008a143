package hatest

import (
	"context"
	"os"
	"testing"
	"time"
)

// Cleanup closes c when the test ends and, when the test failed, logs the last 4 KB of each
// node's log: the nodes' own account of what went wrong is what a failure report needs.
func Cleanup(t testing.TB, c *Cluster) {
	t.Cleanup(func() {
		c.Close()
		if !t.Failed() {
			return
		}
		for _, p := range c.Nodes {
			if b, err := os.ReadFile(p.LogPath); err == nil {
				t.Logf("---- %s log (last 4KB) ----\n%s", p.ID, b[max(0, len(b)-4096):])
			}
		}
	})
}

// StartPair starts the first node, waits for it to serve, then starts the second and waits
// until the active reports it connected and in sync; each wait is bounded by timeout.
func (c *Cluster) StartPair(ctx context.Context, timeout time.Duration) error {
	if err := c.Nodes[0].Start(); err != nil {
		return err
	}
	if _, err := c.WaitActive(ctx, timeout, nil); err != nil {
		return err
	}
	if err := c.Nodes[1].Start(); err != nil {
		return err
	}
	return c.WaitPeerConnected(ctx, timeout)
}

// CheckNoLoss checks c's accepted.jsonl outputs against every event cl had acknowledged and
// fails the test when one is lost, or when nothing was acknowledged (the run proves nothing).
func CheckNoLoss(t testing.TB, c *Cluster, cl *Client) Report {
	t.Helper()
	_, acked, _, _, ids := cl.Snapshot()
	rep, err := Check(c, "accepted.jsonl", ids)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", rep)
	if acked == 0 {
		t.Fatal("nothing was acknowledged: the test proves nothing")
	}
	if !rep.OK() {
		t.Fatalf("%d acknowledged events lost, first %v", len(rep.Lost), rep.Lost[:min(10, len(rep.Lost))])
	}
	return rep
}
