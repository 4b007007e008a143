package ha

import (
	"context"
	"time"
)

// Requests that reach a node about to change role are held rather than redirected, so that a
// client's answer comes with the change instead of after a detour to a node that cannot serve.
//
// A client whose active froze (SIGSTOP, a stalled VM) times out and tries the passive. Until
// the lease expires the passive would answer 503 with X-HA-Active naming the frozen node, and the
// client would go back there and wait out another timeout: the client-observed failover became
// its own timeout plus the lease. Instead, a passive that expects to take over within about a
// lease (cluster.Runner.TakeoverExpected) holds the request and applies it as soon as it serves.

// signalRoleChange wakes the requests held by awaitTakeover.
func (n *Node) signalRoleChange() {
	ch := make(chan struct{})
	if old := n.roleChanged.Swap(&ch); old != nil {
		close(*old)
	}
}

// roleChange returns a channel closed at the next role change.
func (n *Node) roleChange() <-chan struct{} {
	for {
		if p := n.roleChanged.Load(); p != nil {
			return *p
		}
		ch := make(chan struct{})
		n.roleChanged.CompareAndSwap(nil, &ch)
	}
}

// takeoverExpected reports whether this node expects to serve within about a lease: the active
// stopped renewing, its session just ended, a switchover's handover was announced, or this node
// is promoting.
func (n *Node) takeoverExpected() bool {
	if until := n.handoverUntil.Load(); until != 0 && time.Now().UnixNano() < until {
		return true
	}
	return n.runner.TakeoverExpected()
}

// awaitDrained holds a request that reached an active in a switchover until the switchover is
// decided (bounded by Timing.TakeoverHold): it returns the term and true when the switchover was
// abandoned and the node still serves, else false (the caller redirects to the new active).
func (n *Node) awaitDrained(ctx context.Context) (int64, bool) {
	n.m.takeoverHolds.Inc()
	return n.holdUntil(ctx, func() (int64, bool, bool) {
		if !n.draining.Load() {
			term, ok := n.runner.Serving()
			return term, ok, true
		}
		return 0, false, false
	})
}

// awaitTakeover holds a request on a passive that expects to take the lease, for at most
// Timing.TakeoverHold (and ctx): it returns the term and true once the node serves, false when
// the active turned out to be alive (renewing again), another node took over, or the wait ran out
// (the caller then redirects as usual).
func (n *Node) awaitTakeover(ctx context.Context) (int64, bool) {
	n.m.takeoverHolds.Inc()
	return n.holdUntil(ctx, func() (int64, bool, bool) {
		if term, ok := n.runner.Serving(); ok {
			return term, true, true
		}
		return 0, false, !n.takeoverExpected()
	})
}

// holdUntil re-checks decided at every role change and every Timing.TakeoverPoll, for at most
// Timing.TakeoverHold and while ctx lasts, and returns its term and serving answer once it is
// done; (0, false) when the wait ends first.
func (n *Node) holdUntil(ctx context.Context, decided func() (term int64, serving, done bool)) (int64, bool) {
	deadline := time.Now().Add(n.timing.TakeoverHold)
	for {
		changed := n.roleChange()
		if term, serving, done := decided(); done {
			return term, serving
		}
		left := time.Until(deadline)
		if left <= 0 {
			return 0, false
		}
		t := time.NewTimer(min(left, n.timing.TakeoverPoll))
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, false
		case <-changed:
		case <-t.C:
		}
		t.Stop()
	}
}
