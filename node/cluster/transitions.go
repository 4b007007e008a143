package cluster

import (
	"context"
	"errors"
	"time"
)

func (r *Runner) apply(fn func() []Transition) {
	r.mu.Lock()
	r.applyLocked(fn())
	r.mu.Unlock()
}

// applyLocked queues transitions for dispatch and starts the work they imply. r.mu is held, so
// the time stamped on a transition orders it against every Leading and Serving answer.
func (r *Runner) applyLocked(trs []Transition) {
	var now time.Time
	if len(trs) > 0 {
		now = r.clock.Now()
	}
	for _, tr := range trs {
		if tr.At.IsZero() {
			tr.At = now
		}
		if tr.To == Active {
			tr.Takeover = r.otherTerm > r.ownTerm && r.otherTerm < tr.Term
			r.ownTerm = tr.Term
		}
		r.pending = append(r.pending, tr)
		switch tr.To {
		case Promoting:
			r.startPromotion(tr.Term)
		case Active:
			if tr.Takeover {
				r.failovers++
			}
			r.restoreWait, r.restoreAt = 0, time.Time{}
			r.deferSince, r.deferTo = time.Time{}, "" // a later demotion starts a new episode
		case Demoted, Stopped:
			if tr.To == Demoted && r.cancelPromo != nil {
				r.cancelPromo()
				r.cancelPromo = nil
			}
			r.dropLockLocked()
		}
	}
}

// flush dispatches queued transitions in order to subscribers, outside r.mu. After a demotion's
// callbacks return (the node has stopped serving) the node rejoins as passive.
func (r *Runner) flush() {
	r.dispatchMu.Lock()
	defer r.dispatchMu.Unlock()
	for {
		r.mu.Lock()
		if len(r.pending) == 0 {
			r.mu.Unlock()
			return
		}
		tr := r.pending[0]
		r.pending = r.pending[1:]
		subs := append([]func(Transition){}, r.subs...)
		r.mu.Unlock()
		lvl := r.log.Info
		if tr.To == Demoted {
			lvl = r.log.Warn
		}
		lvl("role change", "from", tr.From.String(), "to", tr.To.String(), "term", tr.Term, "reason", tr.Reason)
		r.cfg.Metrics.observe(tr)
		for _, fn := range subs {
			fn(tr)
		}
		if tr.To == Demoted || tr.To == Stopped {
			r.unlockIfDue()
		}
		if tr.To == Demoted {
			r.mu.Lock()
			r.applyLocked(r.el.Rejoined())
			r.mu.Unlock()
		}
	}
}

func (r *Runner) startPromotion(term int64) {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancelPromo = cancel
	promote := r.cfg.Promote
	go func() {
		// Let the Promoting transition reach subscribers before promotion work starts.
		r.flush()
		var err error
		if promote != nil {
			err = promote(ctx, term)
		}
		r.mu.Lock()
		if err == nil {
			r.applyLocked(r.el.Promoted(r.clock.Now(), term))
		}
		r.mu.Unlock()
		if err != nil && ctx.Err() == nil {
			if errors.Is(err, ErrNotRestorable) {
				r.mu.Lock()
				r.restoreWait = min(max(2*r.restoreWait, r.cfg.RestoreBackoff), r.cfg.RestoreBackoffMax)
				wait := r.restoreWait
				r.restoreAt = r.clock.Now().Add(wait)
				r.mu.Unlock()
				r.log.Error("promotion failed: state cannot be restored without loss; giving the lease up and not contending", "term", term, "retry_in", wait, "err", err)
				_ = r.abdicate(context.Background(), "promotion failed: "+err.Error(), ReasonDemotion, wait)
				return
			}
			r.log.Error("promotion failed; giving the lease up", "term", term, "err", err)
			_ = r.Abdicate(context.Background(), "promotion failed: "+err.Error())
			return
		}
		r.flush()
	}()
}

// Abdicate stops leading now and releases the lease so the peer can take over without waiting for
// expiry (planned switchover, failed promotion). The node rejoins as passive and does not try to
// take the lease back for holdOff.
func (r *Runner) Abdicate(ctx context.Context, reason string) error {
	return r.abdicate(ctx, reason, ReasonDemotion, 2*r.cfg.Timing.HeartbeatInterval)
}

// Handover is Abdicate for a planned switchover: the node then stays away from the lease for one
// lease period so the peer, not itself, takes it.
func (r *Runner) Handover(ctx context.Context, reason string) error {
	return r.abdicate(ctx, reason, ReasonSwitchover, r.cfg.Timing.Lease)
}

// abdicate demotes the node and releases its lease; why (a Reason*) goes to the term history.
func (r *Runner) abdicate(ctx context.Context, reason, why string, holdOff time.Duration) error {
	r.mu.Lock()
	term := r.el.Term()
	was := r.el.Role()
	now := r.clock.Now()
	// Keep the liveness lock until the release is written: freed first, the passive would see
	// it free and take the lease as after a crash, and the history would lose the release and
	// its reason (a switchover recorded as crash_takeover). Holding it longer is safe: the node
	// has stopped serving once the subscribers return, and the release pokes the passive.
	r.holdLock = true
	r.applyLocked(r.el.Abdicate(now, reason))
	r.el.HoldOff(now.Add(holdOff))
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.holdLock = false
		r.mu.Unlock()
		r.unlockIfDue()
	}()
	r.flush()
	if was != Promoting && was != Active {
		return nil
	}
	cctx, cancel := r.clock.WithTimeout(ctx, r.cfg.Timing.RenewDeadline)
	defer cancel()
	err := r.cfg.Store.Release(cctx, r.cfg.Node.Group, r.cfg.Node.NodeID, term, why)
	if err != nil && !errors.Is(err, ErrLeaseLost) {
		return err
	}
	r.poke()
	return nil
}

// Leave stops the node from taking the lease from now on (a clean shutdown begins), and waits
// until a promotion already under way has ended, so the caller sees a settled role.
func (r *Runner) Leave(ctx context.Context) Role {
	r.mu.Lock()
	r.el.Leave()
	r.mu.Unlock()
	for {
		role := r.Role()
		if role != Promoting || ctx.Err() != nil {
			return role
		}
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// TakeOver is how a passive reacts to the active announcing a handover: forget any hold-off
// from its own earlier hand-over and try the lease right away.
func (r *Runner) TakeOver() {
	r.mu.Lock()
	if r.el.Role() != Passive {
		r.mu.Unlock()
		return
	}
	r.el.ClearHoldOff()
	r.mu.Unlock()
	r.poke()
}

func (r *Runner) poke() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// shutdown releases a held lease and deregisters, on a fresh short context: the run context is
// already done.
func (r *Runner) shutdown() {
	ctx, cancel := r.clock.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r.mu.Lock()
	term, leading := r.el.Term(), r.el.Role() == Promoting || r.el.Role() == Active
	r.holdLock = true // freed by Close below, after the release (see abdicate)
	r.applyLocked(r.el.Stop())
	if r.cancelPromo != nil {
		r.cancelPromo()
	}
	r.mu.Unlock()
	r.flush()
	g, id := r.cfg.Node.Group, r.cfg.Node.NodeID
	if leading {
		if err := r.cfg.Store.Release(ctx, g, id, term, ReasonShutdown); err != nil {
			r.log.Warn("release lease on shutdown", "term", term, "err", err)
		} else {
			r.log.Info("released lease", "term", term)
		}
	}
	if err := r.cfg.Store.Deregister(ctx, g, id); err != nil {
		r.log.Warn("deregister on shutdown", "err", err)
	}
	if r.lock != nil {
		_ = r.lock.Close()
	}
}
