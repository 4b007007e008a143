package bench

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/streamha/streamha/internal/hatest"
)

// Dist is a latency distribution.
type Dist struct {
	Samples []time.Duration
}

// Pct is the p-th percentile (nearest rank).
func (d Dist) Pct(p float64) time.Duration {
	if len(d.Samples) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d.Samples...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(p/100*float64(len(s))+0.999999) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(s) {
		i = len(s) - 1
	}
	return s[i]
}

// Max is the largest sample.
func (d Dist) Max() time.Duration { return d.Pct(100) }

// minForP99 is the fewest samples a p99 is stated from: with fewer, the nearest-rank p99 is
// simply the largest sample.
const minForP99 = 100

// Tail is the distribution's tail as it may honestly be named: the p99 from minForP99 samples
// on, else the maximum, labelled "max of N".
func (d Dist) Tail() (label string, v time.Duration) {
	if len(d.Samples) >= minForP99 {
		return "p99", d.Pct(99)
	}
	return fmt.Sprintf("max of %d", len(d.Samples)), d.Max()
}

// Failover measures the time from SIGKILL of the active (kills times) and from a planned
// switchover request (switches times) until the other node acknowledges events, under a steady
// client load, with default settings (the demo app, lease 1500ms, ack mode).
func (e *Env) Failover(apps string, kills, switches int, log func(string, ...any)) (kill, switchover Dist, err error) {
	c, err := e.pair("failover", apps, 2)
	if err != nil {
		return kill, switchover, err
	}
	defer c.Close()
	cl := hatest.NewClient(c)
	cl.SetTimeout(time.Second)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); cl.Run(ctx, 10, 2*time.Millisecond) }()
	defer func() { stop(); <-done }()
	firstAck := func(since time.Time, except string) (time.Duration, error) {
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if a, ok := cl.FirstAckAfter(since, except); ok && !a.Sent.Before(since) {
				return a.At.Sub(since), nil
			}
			time.Sleep(2 * time.Millisecond)
		}
		return 0, fmt.Errorf("no acknowledgement by another node within 30s")
	}
	n := kills
	for i := 0; i < n; i++ {
		time.Sleep(time.Second)
		a, err := c.WaitActive(ctx, 30*time.Second, nil)
		if err != nil {
			return kill, switchover, err
		}
		t0 := time.Now()
		if err := a.Kill(); err != nil {
			return kill, switchover, err
		}
		d, err := firstAck(t0, a.ID)
		if err != nil {
			return kill, switchover, fmt.Errorf("failover %d: %w", i+1, err)
		}
		kill.Samples = append(kill.Samples, d)
		log("failover %d/%d: %s killed, other node acknowledged after %d ms", i+1, n, a.ID, d.Milliseconds())
		if err := a.Start(); err != nil {
			return kill, switchover, err
		}
		if err := c.WaitPeerConnected(ctx, 30*time.Second); err != nil {
			return kill, switchover, err
		}
	}
	n = switches
	for i := 0; i < n; i++ {
		time.Sleep(time.Second)
		a, err := c.WaitActive(ctx, 30*time.Second, nil)
		if err != nil {
			return kill, switchover, err
		}
		if err := c.WaitPeerConnected(ctx, 30*time.Second); err != nil {
			return kill, switchover, err
		}
		t0 := time.Now()
		if err := a.Switchover(15 * time.Second); err != nil {
			return kill, switchover, err
		}
		d, err := firstAck(t0, a.ID)
		if err != nil {
			return kill, switchover, fmt.Errorf("switchover %d: %w", i+1, err)
		}
		switchover.Samples = append(switchover.Samples, d)
		log("switchover %d/%d: from %s, other node acknowledged after %d ms", i+1, n, a.ID, d.Milliseconds())
	}
	return kill, switchover, nil
}
