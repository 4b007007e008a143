package ha

import (
	"time"

	"github.com/streamha/streamha/node/cluster"
)

// The decisions of the data path, as functions of plain values (no I/O, no clock, no locks), in
// the style of cluster.Elector: the node gathers the inputs, calls one of these, and acts on the
// answer. The tests drive them with tables and properties.

// hotAction is what a passive's applier does next for one app.
type hotAction int

const (
	hotIdle  hotAction = iota // nothing to do until the queue changes
	hotApply                  // apply the held inputs that follow the runtime's position
	hotWarm                   // restore the snapshot the active reported, then go on from it
	hotDrop                   // the queue the runtime followed is gone: drop the runtime (cold)
	hotStall                  // inputs after the runtime are missing and no snapshot covers them yet
)

func (a hotAction) String() string {
	return [...]string{"idle", "apply", "warm", "drop", "stall"}[a]
}

// hotView is a passive app's runtime as the applier sees it.
type hotView struct {
	Has bool   // a runtime kept in step with the queue (not a state kept from an own term)
	Gen uint64 // the queue (eventsync.Feed.Gen) it follows
	Seq uint64 // last input it applied
	// RetryAt: a warm failed; no new attempt before it (unless a newer snapshot is reported).
	RetryAt   time.Time
	FailedRev int64 // the revision whose warm failed
}

// queueView is the passive's queue for one app (eventsync.Feed without its entries).
type queueView struct {
	Term      int64  // 0: no active streams to this node
	Gen       uint64 // the queue's identity
	First     uint64 // first held input after the runtime's position (0: none held)
	Last      uint64 // highest seq the queue has seen
	Persisted uint64 // newest committed snapshot the active reported, and its revision (0: none)
	Revision  int64
}

// nextHot decides a passive app's next step. A runtime follows one queue: a new queue (another
// term, a promotion, a reset) drops it. A cold app warms from the newest snapshot the active
// reported committed (the snapshot point every joining passive gets, or a later one), since the
// queue holds every input after it. A hot app applies the inputs that follow it; when some are
// missing (the session broke and the active went on alone, or the queue was trimmed past the
// runtime), it waits for a committed snapshot that covers them and warms from that.
func nextHot(h hotView, q queueView, now time.Time) hotAction {
	if q.Term == 0 {
		if h.Has {
			return hotDrop
		}
		return hotIdle
	}
	if h.Has && h.Gen != q.Gen {
		return hotDrop
	}
	warm := func() hotAction {
		if q.Revision == 0 {
			return hotStall
		}
		if q.Revision == h.FailedRev && now.Before(h.RetryAt) {
			return hotStall
		}
		return hotWarm
	}
	if !h.Has {
		if q.Revision == 0 {
			return hotIdle // the snapshot point is not committed yet
		}
		return warm()
	}
	switch {
	case q.First == h.Seq+1:
		return hotApply
	case q.First == 0 && q.Last <= h.Seq:
		return hotIdle // caught up
	}
	// Missing inputs after h.Seq: up to q.First-1, or up to q.Last when nothing is held.
	missingTo := q.Last
	if q.First != 0 {
		missingTo = q.First - 1
	}
	if q.Persisted >= missingTo {
		return warm()
	}
	return hotStall
}

// keepOutput says whether a passive keeps an output its runtime produced: only those of inputs
// after the position up to which the active reported every output written. They are the ones a
// promotion emits.
func keepOutput(seq, delivered uint64) bool { return seq > delivered }

// promotionPath is how one app is promoted.
type promotionPath int

const (
	pathCold    promotionPath = iota // restore the newest usable snapshot and replay the queue after it
	pathHot                          // the passive's runtime is the state: apply what it has not yet (usually nothing)
	pathResumed                      // the state this node kept from its own term
)

func (p promotionPath) String() string { return [...]string{"cold", "hot", "resumed"}[p] }

// promoteCandidate is what a promoting node knows about one app's runtime, if it has one.
type promoteCandidate struct {
	Hot      bool   // a passive runtime that followed the queue Gen
	Gen      uint64 // its queue
	Kept     bool   // a state kept from this node's own term KeptTerm
	KeptTerm int64
	// HandedOver: the kept state is from a planned switchover of this node, so the next term
	// started from exactly it.
	HandedOver bool
	Seq        uint64 // last input it applied

	QueueGen uint64 // the queue taken for this promotion
	Term     int64  // the term being promoted to
	// Missing counts the inputs after Seq up to the present (the highest seq any stored
	// snapshot or the queue has seen) that neither the runtime nor the queue holds.
	Missing uint64
	// StoredTerm is the highest term of any stored snapshot revision of the app.
	StoredTerm int64
}

// choosePath decides one app's promotion. A hot runtime is used when it followed the very queue
// being taken and nothing is missing after it: it then is the state a restore plus replay would
// build. A kept state is used when nobody served since (the next term), or when it is the state
// this node handed over and no later term than the one it handed to has stored a snapshot, with
// nothing missing. Everything else takes the cold path, which reports gaps.
func choosePath(c promoteCandidate) promotionPath {
	switch {
	case c.Kept && c.Term == c.KeptTerm+1:
		return pathResumed
	case c.Kept && c.HandedOver && c.StoredTerm <= c.KeptTerm+1 && c.Missing == 0:
		return pathResumed
	case c.Hot && c.Gen == c.QueueGen && c.Missing == 0:
		return pathHot
	}
	return pathCold
}

// retainOnStop says whether an active that stops keeps its apps' state. It keeps it after losing
// its lease (if it wins the very next term nobody served in between) and after handing over in a
// planned switchover (the new active starts from exactly that state; until the new active's
// first snapshot commits, this copy is the only one besides the new active's memory). A node
// that stops, or that failed while promoting, drops it.
func retainOnStop(from, to cluster.Role, draining, handedOver bool) bool {
	return to == cluster.Demoted && from == cluster.Active && (!draining || handedOver)
}

// switchoverNeedsPersist says whether a planned switchover must persist before handing over: not
// when the passive's runtime has applied every input (it promotes with nothing to restore or
// replay, and this node keeps its state until the new active's first snapshot); otherwise yes,
// so the passive's cold promotion replays nothing.
func switchoverNeedsPersist(passiveApplied map[string]uint64, last map[string]uint64) bool {
	for app, seq := range last {
		if a, ok := passiveApplied[app]; !ok || a < seq {
			return true
		}
	}
	return false
}

// batchSafe says whether a batch ending at input seq is safe to acknowledge in ack mode:
// streamed on a session, once the passive acknowledged it and the session's snapshot point
// (start) is committed, so the queue continues a snapshot without a hole; not streamed (alone),
// once a committed snapshot covers it. Safety is cumulative: the inputs before seq are too.
func batchSafe(streamed bool, acked, start, committed, seq uint64) (safe, alone bool) {
	if streamed && acked >= seq {
		return committed >= start, false
	}
	return committed >= seq, true
}
