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

// signalRoleChange wakes the requests held by holdForServing.
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

// holdForServing holds a request that reached a node that does not serve now but is about to
// decide: an active in a switchover (until the switchover is decided: served here again if it was
// abandoned, else redirected to the new active instead of bouncing the client between the two),
// or a node that expects to take over (until it serves, the active renews again, or another node
// takes over). At most Timing.TakeoverHold and while ctx lasts; it reports whether the node serves.
func (n *Node) holdForServing(ctx context.Context) bool {
	var decided func() (serving, done bool)
	switch {
	case n.draining.Load():
		decided = func() (bool, bool) {
			if n.draining.Load() {
				return false, false
			}
			_, ok := n.runner.Serving()
			return ok, true
		}
	case n.takeoverExpected():
		decided = func() (bool, bool) {
			if _, ok := n.runner.Serving(); ok {
				return true, true
			}
			return false, !n.takeoverExpected()
		}
	default:
		return false
	}
	n.m.takeoverHolds.Inc()
	return n.holdUntil(ctx, decided)
}

// holdUntil re-checks decided at every role change and every Timing.TakeoverPoll, for at most
// Timing.TakeoverHold and while ctx lasts, and returns its serving answer once it is done; false
// when the wait ends first.
func (n *Node) holdUntil(ctx context.Context, decided func() (serving, done bool)) bool {
	deadline := time.Now().Add(n.timing.TakeoverHold)
	for {
		changed := n.roleChange()
		if serving, done := decided(); done {
			return serving
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		t := time.NewTimer(min(left, n.timing.TakeoverPoll))
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-changed:
		case <-t.C:
		}
		t.Stop()
	}
}
