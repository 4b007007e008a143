package ha

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/streamha/streamha/node/cluster"
)

// ErrNoPeer means a switchover was asked with no passive in sync to take over.
var ErrNoPeer = errors.New("no passive in sync to hand over to")

// ErrBusy means a switchover is already under way.
var ErrBusy = errors.New("switchover already in progress")

// Switchover hands the active role to the passive without losing or duplicating anything: stop
// taking input (clients get 503 naming the peer), wait for in-flight requests and for the
// passive to hold every input, persist every app, tell the passive, and release the lease. The
// passive promotes at once (restore, nothing left to replay); this node rejoins as passive.
func (n *Node) Switchover(ctx context.Context) error {
	term, ok := n.runner.Serving()
	if !ok {
		return n.notActive()
	}
	sess := n.session()
	if sess == nil {
		return ErrNoPeer
	}
	if !n.draining.CompareAndSwap(false, true) {
		return ErrBusy
	}
	// The apps' own ports close first: publishers reconnect to the peer once it has promoted.
	n.opts.Sources.Close()
	handedOver := false
	defer func() {
		if !handedOver {
			n.draining.Store(false)
			if t, ok := n.runner.Serving(); ok && t == term {
				n.opts.Sources.Open(term)
			}
		}
	}()
	start := time.Now()
	n.waitInflight(ctx)
	for _, a := range n.apps {
		if !sess.Started(a.name) {
			return fmt.Errorf("%w: app %s has no snapshot point on the passive yet", ErrNoPeer, a.name)
		}
		a.mu.Lock()
		seq := uint64(0)
		if a.rt != nil {
			seq = a.rt.LastSeq()
		}
		a.mu.Unlock()
		if err := sess.Wait(ctx, a.name, seq); err != nil {
			return fmt.Errorf("switchover: passive did not catch up on %s: %w", a.name, err)
		}
	}
	// Persist after draining, so the snapshot covers every input: this node drops its state on
	// handing over, and until the new active's own first snapshot commits, a crash of it must
	// not leave acknowledged inputs that only its replay held. (A snapshot taken before the
	// drain would be quicker for clients but would leave exactly that window.)
	if err := n.persistAll(ctx, term, true); err != nil {
		return fmt.Errorf("switchover: persist: %w", err)
	}
	sess.Handover(term)
	if err := n.runner.Handover(ctx, "planned switchover to "+sess.Peer); err != nil {
		return fmt.Errorf("switchover: release lease: %w", err)
	}
	handedOver = true
	n.log.Info("switched over", "to", sess.Peer, "term", term, "took", time.Since(start))
	return nil
}

// onHandover runs on the passive when the active announces a planned switchover: take the lease
// as soon as it is released instead of waiting for the next heartbeat.
func (n *Node) onHandover(term int64) {
	deadline := time.Now().Add(n.cfg.Lease)
	for time.Now().Before(deadline) && n.runner.Role() == cluster.Passive {
		n.runner.TakeOver()
		time.Sleep(5 * time.Millisecond)
	}
}
