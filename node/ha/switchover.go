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
// passive to hold every input, stop the sinks and hand over the delivered positions, tell the
// passive, and release the lease. With a hot passive (its runtime applied every input) nothing
// is persisted on the way: its time does not grow with the state. This node keeps its state
// (retainOnStop) until the new active's first snapshot supersedes it. A cold passive gets a
// snapshot first, so that its promotion replays nothing.
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
	drained := time.Since(start)
	last := map[string]uint64{}
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
		last[a.name] = seq
		if err := sess.Wait(ctx, a.name, seq); err != nil {
			return fmt.Errorf("switchover: passive did not catch up on %s: %w", a.name, err)
		}
	}
	caughtUp := time.Since(start)
	// A hot passive applies what it holds within milliseconds; wait for it (bounded), so that it
	// promotes with nothing to replay.
	applied := map[string]uint64{}
	for app, seq := range last {
		// The last acknowledgement may predate the passive's warming: a cold-looking passive
		// gets a few pings' time to say otherwise.
		bound := n.timing.SyncLiveness
		if _, hot := sess.Applied(app); !hot {
			bound = 10 * n.timing.HandoverPoll
		}
		wctx, cancel := context.WithTimeout(ctx, bound)
		err := sess.WaitApplied(wctx, app, seq, n.timing.HandoverPoll)
		cancel()
		if err != nil {
			break
		}
		applied[app] = seq
	}
	appliedAt := time.Since(start)
	persisted := false
	if switchoverNeedsPersist(applied, last) {
		// A cold passive restores at promotion: persist after draining, so the snapshot covers
		// every input and its promotion replays nothing.
		if err := n.persistAll(ctx, term, true); err != nil {
			return fmt.Errorf("switchover: persist: %w", err)
		}
		persisted = true
	}
	// Stop the sinks, then tell the passive how far they wrote: the new active emits exactly the
	// outputs this node did not write (only a write cut short can repeat, under the same ids).
	n.stopDispatchers()
	stopped := time.Since(start)
	for _, a := range n.apps {
		a.mu.Lock()
		upTo := a.deliveredLocked()
		a.mu.Unlock()
		if upTo > 0 {
			sess.Delivered(a.name, upTo)
		}
	}
	sess.Handover(term)
	n.handoverTo.Store(sess.PeerID())
	n.handedOver.Store(true)
	if err := n.runner.Handover(ctx, "planned switchover to "+sess.PeerID()); err != nil {
		return fmt.Errorf("switchover: release lease: %w", err)
	}
	handedOver = true
	n.log.Info("switched over", "to", sess.PeerID(), "term", term, "persisted", persisted, "took", time.Since(start),
		"drained", drained, "caught_up", caughtUp, "applied", appliedAt, "sinks_stopped", stopped)
	return nil
}

// onHandover runs on the passive when the active announces a planned switchover: take the lease
// as soon as it is released instead of waiting for the next heartbeat.
func (n *Node) onHandover(term int64) {
	if !n.bg.enter() {
		return
	}
	defer n.bg.exit()
	deadline := time.Now().Add(n.timing.HandoverWindow)
	n.handoverUntil.Store(deadline.UnixNano())
	defer n.handoverUntil.Store(0)
	n.signalRoleChange() // held requests re-check: a takeover is now expected
	for time.Now().Before(deadline) && n.runner.Role() == cluster.Passive {
		n.runner.TakeOver()
		time.Sleep(n.timing.HandoverPoll)
	}
}
