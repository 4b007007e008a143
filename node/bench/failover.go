package bench

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/streamha/streamha/internal/hatest"
	"github.com/streamha/streamha/node/engine"
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

// FailoverRun is one cluster database's failover figures: SIGKILL and SIGSTOP of the active and
// planned switchovers, under the client load LoadEPS (acknowledged events/s over the run).
type FailoverRun struct {
	DB                  string // postgresql or sqlite
	Kill, Pause, Switch Dist
	LoadEPS             float64
	Lease               time.Duration
}

// failoverLoad is the client's batch: 200 events per request, a new one 1 ms after each
// acknowledgement, so the steady load is ≥ 20K events/s while acknowledgements take < 9 ms.
const failoverBatch, failoverGap = 200, time.Millisecond

// switchKeys is the idempotency keys (one per batch) sent before the switchovers, the issue's
// "100K idempotency keys in the window".
const switchKeys = 100_000

// Failover measures, on cluster database db ("" = SQLite), the time from SIGKILL (kills times)
// and SIGSTOP (pauses times) of the active, and from a planned switchover request (switches
// times), until the other node acknowledges a batch: the client retries each batch with its
// Idempotency-Key and follows X-HA-Active. Default settings (the demo app, lease 1500ms, ack
// mode) under a steady client load.
func (e *Env) Failover(apps, db string, kills, pauses, switches int, log func(string, ...any)) (run FailoverRun, err error) {
	run = FailoverRun{DB: "postgresql", Lease: 1500 * time.Millisecond}
	if db == "" {
		run.DB = "sqlite"
	}
	var c *hatest.Cluster
	c, err = e.pairOn("failover-"+run.DB, apps, 2, db)
	if err != nil {
		return run, err
	}
	defer c.Close()
	cl := hatest.NewClient(c)
	cl.SetTimeout(time.Second)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	began := time.Now()
	go func() { defer close(done); cl.Run(ctx, failoverBatch, failoverGap) }()
	defer func() {
		stop()
		<-done
	}()
	defer func() {
		_, acked, _, _, _ := cl.Snapshot()
		run.LoadEPS = float64(acked) / time.Since(began).Seconds()
	}()
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
	// settled is the active once the pair has run a second of steady load since the last
	// disturbance and the passive is connected again: each run starts from the same steady state.
	settled := func() (*hatest.Proc, error) {
		time.Sleep(time.Second)
		a, err := c.WaitActive(ctx, 30*time.Second, nil)
		if err != nil {
			return nil, err
		}
		return a, c.WaitPeerConnected(ctx, 30*time.Second)
	}
	for _, k := range []struct {
		name string
		n    int
		d    *Dist
		hit  func(p *hatest.Proc) error
		back func(p *hatest.Proc) error
	}{
		{"SIGKILL", kills, &run.Kill, (*hatest.Proc).Kill, (*hatest.Proc).Start},
		{"SIGSTOP", pauses, &run.Pause, (*hatest.Proc).Pause, (*hatest.Proc).Resume},
	} {
		for i := 0; i < k.n; i++ {
			a, err := settled()
			if err != nil {
				return run, err
			}
			t0 := time.Now()
			if err := k.hit(a); err != nil {
				return run, err
			}
			d, err := firstAck(t0, a.ID)
			if err != nil {
				_ = k.back(a)
				return run, fmt.Errorf("%s %s %d: %w", run.DB, k.name, i+1, err)
			}
			k.d.Samples = append(k.d.Samples, d)
			log("%s %s %d/%d: %s hit, other node acknowledged after %d ms", run.DB, k.name, i+1, k.n, a.ID, d.Milliseconds())
			if err := k.back(a); err != nil {
				return run, err
			}
			if err := c.WaitPeerConnected(ctx, 30*time.Second); err != nil {
				return run, err
			}
		}
	}
	if switches > 0 {
		// Fill the idempotency window (the last 100,000 keys per app): a switchover must not grow
		// with it.
		a, err := c.WaitActive(ctx, 30*time.Second, nil)
		if err != nil {
			return run, err
		}
		began := time.Now()
		if _, err := sendKeyed(a.TCPAddr, "Orders", "OrderStream", switchKeys, 1, "window", func(i int) []engine.Value {
			return []engine.Value{engine.LongValue(int64(1e12) + int64(i)), engine.StringValue("KEYS"), engine.IntValue(1), engine.DoubleValue(1)}
		}); err != nil {
			return run, fmt.Errorf("%s: filling the idempotency window: %w", run.DB, err)
		}
		log("%s: %d idempotency keys sent in %s before the switchovers", run.DB, switchKeys, time.Since(began).Round(time.Millisecond))
	}
	for i := 0; i < switches; i++ {
		a, err := settled()
		if err != nil {
			return run, err
		}
		t0 := time.Now()
		if err := a.Switchover(15 * time.Second); err != nil {
			return run, err
		}
		d, err := firstAck(t0, a.ID)
		if err != nil {
			return run, fmt.Errorf("%s switchover %d: %w", run.DB, i+1, err)
		}
		run.Switch.Samples = append(run.Switch.Samples, d)
		log("%s switchover %d/%d: from %s, other node acknowledged after %d ms", run.DB, i+1, switches, a.ID, d.Milliseconds())
	}
	return run, nil
}
