package cluster

import (
	"fmt"
	"time"
)

// Role is where a node stands in its group.
type Role int

// Roles in the order a node normally moves through them.
const (
	Starting  Role = iota // registering, not yet taking part
	Passive               // following; may try to take the lease
	Promoting             // holds the lease, restoring state; ports still closed
	Active                // holds the lease and serves
	Demoted               // lost the lease; stops serving at once, then becomes passive again
	Stopped               // shut down
)

var roleNames = [...]string{"starting", "passive", "promoting", "active", "demoted", "stopped"}

func (r Role) String() string {
	if r < 0 || int(r) >= len(roleNames) {
		return fmt.Sprintf("role(%d)", int(r))
	}
	return roleNames[r]
}

// Transition is one role change; the node's other parts subscribe to them.
type Transition struct {
	From, To Role
	Term     int64
	Reason   string
	// At is when the change took effect on the node's clock: when the Runner applied it, or, for
	// a demotion at the renew deadline, the deadline itself however late it was noticed. So a
	// node led exactly from its Promoting transition's At to the At of the one that ended it.
	At time.Time
	// Takeover (To Active only; set by the Runner) marks a failover: this process had seen
	// another node hold a term newer than any it held itself.
	Takeover bool
}

// Op is what the elector asks its driver to do next.
type Op int

// Operations the driver performs against the Store.
const (
	OpNone    Op = iota
	OpAcquire    // try to take the lease
	OpRenew      // renew the lease under the current term
)

// Timing is the coordination timing the elector enforces.
type Timing struct {
	HeartbeatInterval time.Duration // how often to renew, heartbeat and retry acquisition
	Lease             time.Duration // lease length granted by the database
	RenewDeadline     time.Duration // a leader that cannot renew for this long demotes itself
}

// Elector is the pure election state machine: no I/O and no clock of its own. Its driver reports
// the results of store calls with the local (monotonic) time the call was sent, and calls Tick.
//
// Safety rests on one rule: a leader counts its lease from the moment it *sent* the successful
// acquire or renew, and gives it up RenewDeadline after that, which is shorter than the Lease the
// database grants from the moment it *received* it. So the leader stops before the database lets
// anybody else in, without comparing two hosts' clocks.
type Elector struct {
	t         Timing
	role      Role
	term      int64
	renewedAt time.Time // send time of the last successful acquire/renew
	holdUntil time.Time // no acquisition attempts before this (after a demotion)
	expiresAt time.Time // when a held lease seen by this passive will expire, at the earliest
	leaving   bool      // shutting down: never take the lease again
}

// NewElector returns an elector in the Starting role.
func NewElector(t Timing) *Elector { return &Elector{t: t} }

// Role is the current role.
func (e *Elector) Role() Role { return e.role }

// Term is the term of the lease held, or last held.
func (e *Elector) Term() int64 { return e.term }

// Deadline is the local time after which a leader must no longer act; zero when not leading.
func (e *Elector) Deadline() time.Time {
	if e.role != Promoting && e.role != Active {
		return time.Time{}
	}
	return e.renewedAt.Add(e.t.RenewDeadline)
}

// Leading reports whether the node holds a lease it may act on at now.
func (e *Elector) Leading(now time.Time) bool {
	return (e.role == Promoting || e.role == Active) && now.Before(e.Deadline())
}

func (e *Elector) to(r Role, reason string) []Transition {
	if e.role == r {
		return nil
	}
	tr := Transition{From: e.role, To: r, Term: e.term, Reason: reason}
	e.role = r
	// A lease seen in an earlier passive spell says nothing about the next one.
	e.expiresAt = time.Time{}
	return []Transition{tr}
}

// Registered moves a starting node to passive.
func (e *Elector) Registered() []Transition {
	if e.role != Starting {
		return nil
	}
	return e.to(Passive, "registered")
}

// Next says which store operation is due at now.
func (e *Elector) Next(now time.Time) Op {
	switch e.role {
	case Passive:
		if e.leaving || now.Before(e.holdUntil) {
			return OpNone
		}
		return OpAcquire
	case Promoting, Active:
		return OpRenew
	}
	return OpNone
}

// LeaseSeen records another node's lease as read at sentAt with remaining time by the database's
// clock, so the passive can try again right when it expires instead of up to a heartbeat later.
func (e *Elector) LeaseSeen(sentAt time.Time, remaining time.Duration) {
	if remaining > 0 {
		e.expiresAt = sentAt.Add(remaining)
	}
}

// LeaseEndsWithin reports whether the other node's lease, as this passive last read it, ends
// within d of now (or has ended): a holder that renews keeps it about a lease ahead, so a short
// remainder means it stopped renewing.
func (e *Elector) LeaseEndsWithin(now time.Time, d time.Duration) bool {
	return e.role == Passive && !e.expiresAt.IsZero() && e.expiresAt.Sub(now) < d
}

// Wake is how long the driver may sleep before the elector has something to do: at most a
// heartbeat interval, less when a lease seen by a passive expires sooner.
func (e *Elector) Wake(now time.Time) time.Duration {
	d := e.t.HeartbeatInterval
	if e.role == Passive && e.expiresAt.After(now) {
		// A few milliseconds late, so the database agrees the lease has expired.
		if until := e.expiresAt.Sub(now) + 5*time.Millisecond; until < d {
			d = until
		}
	}
	return d
}

// Tick enforces the renew deadline: a leader past it demotes itself.
func (e *Elector) Tick(now time.Time) []Transition {
	if dl := e.Deadline(); !dl.IsZero() && !now.Before(dl) {
		trs := e.demote(now, fmt.Sprintf("no successful renewal within renew_deadline %s", e.t.RenewDeadline))
		for i := range trs {
			trs[i].At = dl // leadership ended then, not when the tick noticed
		}
		return trs
	}
	return nil
}

func (e *Elector) demote(now time.Time, reason string) []Transition {
	e.holdUntil = now.Add(2 * e.t.HeartbeatInterval)
	return e.to(Demoted, reason)
}

// AcquireResult records the outcome of an acquisition sent at sentAt.
func (e *Elector) AcquireResult(sentAt time.Time, acquired bool, term int64) []Transition {
	if e.role != Passive || !acquired {
		return nil
	}
	e.term = term
	e.renewedAt = sentAt
	return e.to(Promoting, fmt.Sprintf("acquired lease at term %d", term))
}

// TookOver records a takeover after crash detection (the store's AcquireAfterCrash) sent at
// sentAt: like a successful acquisition, under the new term.
func (e *Elector) TookOver(sentAt time.Time, term int64) []Transition {
	if e.role != Passive {
		return nil
	}
	e.term = term
	e.renewedAt = sentAt
	return e.to(Promoting, fmt.Sprintf("takeover after crash detection at term %d", term))
}

// RenewResult records the outcome of a renewal sent at sentAt. lost is true when the store said
// the lease is gone (not merely unreachable): demote at once.
func (e *Elector) RenewResult(sentAt time.Time, ok, lost bool) []Transition {
	if e.role != Promoting && e.role != Active {
		return nil
	}
	switch {
	case ok:
		if sentAt.After(e.renewedAt) {
			e.renewedAt = sentAt
		}
		return nil
	case lost:
		return e.demote(sentAt, fmt.Sprintf("lease at term %d lost", e.term))
	}
	return e.Tick(sentAt)
}

// Promoted marks the end of a promotion: the node serves.
func (e *Elector) Promoted(now time.Time, term int64) []Transition {
	if e.role != Promoting || term != e.term || !e.Leading(now) {
		return nil
	}
	return e.to(Active, fmt.Sprintf("promoted at term %d", term))
}

// Abdicate gives the lease up voluntarily (failed promotion or switchover): the caller releases it
// in the store. The node goes through Demoted like any other loss of leadership.
func (e *Elector) Abdicate(now time.Time, reason string) []Transition {
	if e.role != Promoting && e.role != Active {
		return nil
	}
	return e.demote(now, reason)
}

// Rejoined moves a demoted node back to passive once the rest of the node has reset its state.
func (e *Elector) Rejoined() []Transition {
	if e.role != Demoted {
		return nil
	}
	return e.to(Passive, "rejoined as passive")
}

// HoldOff delays acquisition attempts until until, e.g. after handing over so the peer wins.
func (e *Elector) HoldOff(until time.Time) {
	if until.After(e.holdUntil) {
		e.holdUntil = until
	}
}

// ClearHoldOff lets a passive try the lease at once: the active told it to take over.
func (e *Elector) ClearHoldOff() { e.holdUntil = time.Time{} }

// Leave stops a node from taking the lease again: it is shutting down. A lease already held is
// kept until the caller releases it.
func (e *Elector) Leave() { e.leaving = true }

// Stop ends participation.
func (e *Elector) Stop() []Transition { return e.to(Stopped, "stopped") }
