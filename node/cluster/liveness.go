package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Crash detection. The active holds the group's LivenessLock for as long as it leads; the
// database (or the kernel) frees it the moment the active's process dies or its session ends. A
// passive tries the lock on every heartbeat and, at once, when told the active may be gone
// (SuspectLeaderGone); when it gets it, it takes the lease over under a new term without waiting
// for expiry. A frozen or partitioned active keeps its session, so those cases still wait for the
// lease; the lease stays the authority and the lock only speeds detection up.

func (r *Runner) initCrashDetection() error {
	if r.cfg.DisableCrashDetection {
		return nil
	}
	cd := r.cfg.Detector
	if cd == nil {
		cd, _ = r.cfg.Store.(CrashDetector)
	}
	if cd == nil {
		return nil
	}
	l, err := cd.LivenessLock(r.cfg.Node.Group)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	r.crash, r.lock = cd, l
	return nil
}

// CrashDetection reports whether the runner uses a liveness lock to detect a dead active.
func (r *Runner) CrashDetection() bool { return r.lock != nil }

// SuspectLeaderGone tells a passive that the active may have died (its sync connection dropped):
// it checks the active's liveness lock at once, and every few milliseconds for a heartbeat
// interval, instead of on its next heartbeat. A no-op without crash detection or when not
// passive.
func (r *Runner) SuspectLeaderGone() {
	if r.lock == nil {
		return
	}
	r.mu.Lock()
	if r.el.Role() != Passive {
		r.mu.Unlock()
		return
	}
	r.suspectUntil = r.clock.Now().Add(r.cfg.Timing.HeartbeatInterval)
	r.mu.Unlock()
	r.poke()
}

// TakeoverExpected reports whether this node is promoting, or is a passive that expects to take
// the lease within about a lease: the active stopped renewing (the lease it last read ends within half a lease, where a
// renewing holder stays at least lease − 2 heartbeats ahead), or the active's sync session just
// ended and its liveness lock is being checked. The data path then holds a client's request
// for the takeover instead of sending the client back to a node that does not answer.
func (r *Runner) TakeoverExpected() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch r.el.Role() {
	case Promoting:
		return true
	case Passive:
	default:
		return false
	}
	now := r.clock.Now()
	return now.Before(r.suspectUntil) || r.el.LeaseEndsWithin(now, r.cfg.Timing.Lease/2)
}

// suspectRetry is how often a suspecting passive checks the lock: the database frees it within a
// few milliseconds of the active's death, which may come just after the passive noticed.
func (r *Runner) suspectRetry() time.Duration {
	return max(r.cfg.Timing.HeartbeatInterval/10, 5*time.Millisecond)
}

// takeOverAfterCrash is a passive's answer to a lease held by another node: when the holder's
// liveness lock is free, take the lease at once, conditional on the term the passive saw. It
// reports whether the node now leads.
func (r *Runner) takeOverAfterCrash(ctx context.Context, seen Lease) bool {
	cctx, cancel := r.opContext(ctx)
	defer cancel()
	got, err := r.lock.TryLock(cctx)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Debug("liveness lock check failed", "err", err)
		}
		return false
	}
	if !got {
		return false
	}
	g, id := r.cfg.Node.Group, r.cfg.Node.NodeID
	sent := r.clock.Now()
	lease, ok, err := r.crash.AcquireAfterCrash(cctx, g, id, seen.Term, r.cfg.Timing.Lease, r.lock.Session())
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil || !ok {
		// The holder never recorded the lock under that term (it is still claiming it), or the
		// term moved on: the lock says nothing about the current holder.
		r.lock.Unlock()
		if err != nil && ctx.Err() == nil {
			r.lastErr = err.Error()
			r.log.Warn("takeover after crash detection failed", "seen_term", seen.Term, "err", err)
		}
		return false
	}
	r.seeLeaseLocked(lease)
	trs := r.el.TookOver(sent, lease.Term)
	if len(trs) == 0 {
		// No longer passive (leaving): the lease lapses as after any acquisition not acted on.
		r.lock.Unlock()
		return true
	}
	r.log.Warn("the active's liveness lock was free: took the lease over before it expired",
		"previous_holder", seen.Holder, "previous_term", seen.Term, "term", lease.Term, "lease_left", seen.Remaining)
	r.applyLocked(trs)
	r.lockTerm, r.lockRecorded = lease.Term, lease.Term
	r.watchLockLocked(lease.Term)
	return true
}

// claimLock makes a leader hold the liveness lock under its term and record it in the lease
// row, so that its death can be detected. A lease taken by expiry may find the lock still held by
// the deposed active's session lingering on the server (its client was cut off without a FIN):
// then that session is ended and the lock tried again on the next step. Meanwhile the node
// serves: the lease is the authority.
func (r *Runner) claimLock(ctx context.Context) {
	if r.lock == nil {
		return
	}
	r.mu.Lock()
	term, gen := r.el.Term(), r.lockGen
	leading := r.el.Leading(r.clock.Now())
	done := r.lockRecorded == term
	r.mu.Unlock()
	if !leading || done {
		return
	}
	cctx, cancel := r.opContext(ctx)
	defer cancel()
	g, id := r.cfg.Node.Group, r.cfg.Node.NodeID
	got, err := r.lock.TryLock(cctx)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("cannot take the liveness lock yet; crash detection is off until then", "term", term, "err", err)
		}
		return
	}
	if !got {
		ended, err := r.crash.BreakLock(cctx, g, id, term)
		switch {
		case err != nil && ctx.Err() == nil:
			r.log.Warn("the liveness lock is held by another session and cannot be freed yet", "term", term, "err", err)
		case ended:
			r.log.Warn("ended the deposed active's database session that still held the liveness lock", "term", term)
		}
		return
	}
	r.mu.Lock()
	if r.lockGen != gen || r.el.Term() != term || !r.el.Leading(r.clock.Now()) {
		r.lock.Unlock()
		r.mu.Unlock()
		return
	}
	if r.lockTerm != term {
		r.lockTerm = term
		r.watchLockLocked(term)
	}
	r.mu.Unlock()
	err = r.crash.RecordLock(cctx, g, id, term, r.lock.Session())
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case err == nil && r.lockGen == gen:
		r.lockRecorded = term
	case errors.Is(err, ErrLeaseLost):
		// The next renewal says so too and demotes.
	case err != nil && ctx.Err() == nil:
		r.log.Warn("cannot record the liveness lock; retrying", "term", term, "err", err)
	}
}

// watchLockLocked demotes the node at once when the session holding its lock ends while it leads
// under term: its database link is gone, so a passive may already have the lock and the lease.
func (r *Runner) watchLockLocked(term int64) {
	lost, gen := r.lock.Lost(), r.lockGen
	if lost == nil {
		return
	}
	go func() {
		<-lost
		r.mu.Lock()
		stale := r.lockGen != gen || r.el.Term() != term
		r.mu.Unlock()
		if stale {
			return
		}
		r.log.Warn("the liveness lock's database session ended: stopping at once", "term", term)
		_ = r.abdicate(context.Background(), fmt.Sprintf("liveness lock session lost at term %d", term), ReasonDemotion, 2*r.cfg.Timing.HeartbeatInterval)
	}()
}

// dropLockLocked marks the lock to be given up because the node stops leading; a watcher or
// claim under way sees lockGen change and does nothing more. The lock is freed only once the
// transition's subscribers have returned (the node has stopped serving; see unlockIfDue), so a
// passive can never see it free while this node still acts on its term.
func (r *Runner) dropLockLocked() {
	if r.lock == nil {
		return
	}
	r.lockGen++
	r.lockTerm, r.lockRecorded = 0, 0
	r.unlockDue = true
}

// unlockIfDue frees the lock after a demotion's or stop's subscribers returned.
func (r *Runner) unlockIfDue() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.unlockDue && !r.holdLock {
		r.unlockDue = false
		r.lock.Unlock()
	}
}
