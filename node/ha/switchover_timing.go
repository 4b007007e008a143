package ha

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/streamha/streamha/node/cluster"
)

// switchoverConfirmWait bounds how long a switchover's old active waits, after releasing the
// lease, to see the new active serve; past it the answer reports only its own part.
const switchoverConfirmWait = 10 * time.Second

// AwaitPeerServing is called by the old active after a switchover from term: it polls the other
// nodes' /ha/active (the endpoint a load balancer uses, 200 only on a serving active that is not
// draining) until one answers at a higher term, and returns when it first saw that. ok is false
// when none did within switchoverConfirmWait (or ctx). A switchover's full time, from the old
// active refusing input to the new one accepting it, is then measured on one clock.
func (n *Node) AwaitPeerServing(ctx context.Context, term int64) (time.Time, bool) {
	ctx, cancel := context.WithTimeout(ctx, switchoverConfirmWait)
	defer cancel()
	client := &http.Client{Timeout: 250 * time.Millisecond}
	for ctx.Err() == nil {
		for _, nd := range n.runner.View().Nodes {
			if nd.NodeID == n.cfg.NodeID {
				continue
			}
			base := nd.Properties[cluster.PropRESTAddr]
			if base == "" {
				continue
			}
			if peerServing(ctx, client, strings.TrimRight(base, "/")+"/ha/active", term) {
				return time.Now(), true
			}
		}
		sleepCtx(ctx, 2*time.Millisecond)
	}
	return time.Time{}, false
}

func peerServing(ctx context.Context, c *http.Client, url string, term int64) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var body struct {
		Active bool  `json:"active"`
		Term   int64 `json:"term"`
	}
	return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&body) == nil && body.Active && body.Term > term
}

// ObserveSwitchover records a switchover's full time (streamha_switchover_seconds).
func (n *Node) ObserveSwitchover(d time.Duration) { n.m.switchover.Observe(d.Seconds()) }
