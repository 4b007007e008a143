package ha

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/streamha/streamha/node/cluster"
	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/eventsync"
	"github.com/streamha/streamha/node/store"
)

// RestoreFailure says why this node cannot promote: /ha/status shows it, the heartbeat reports it
// (the health mirror turns it into the RestoreFailed metric).
type RestoreFailure struct {
	App      string    `json:"app"`
	Revision int64     `json:"revision"` // newest stored revision of the app (0: none)
	Error    string    `json:"error"`
	Since    time.Time `json:"since"`
	Attempts int64     `json:"attempts"` // failed promotions and readiness checks since Since
	// NextAttempt is when the node checks again whether it can restore (local clock).
	NextAttempt time.Time `json:"next_attempt,omitzero"`
}

// RestoreError is a restore that cannot be done without losing acknowledged inputs: no readable
// revision of App has its gap to the present covered by the held inputs. It wraps
// cluster.ErrNotRestorable, so the runner backs off instead of retrying at once.
type RestoreError struct {
	App      string
	Revision int64    // newest stored revision (0: none)
	Missing  uint64   // inputs the best readable revision (or the empty state) would lose
	Reasons  []string // why each revision was not used, newest first
}

func (e *RestoreError) Error() string {
	return fmt.Sprintf("app %s: no snapshot revision restores without loss (newest %d; best would lose %d inputs): %s; "+
		"see `node snapshot list`, and `node snapshot accept-loss --app %s` to restore anyway",
		e.App, e.Revision, e.Missing, strings.Join(e.Reasons, "; "), e.App)
}

// Unwrap makes errors.Is(err, cluster.ErrNotRestorable) hold.
func (e *RestoreError) Unwrap() error { return cluster.ErrNotRestorable }

// appPlan is how one app will be restored: from which revision (none: the empty state), the
// restored runtime, and the queued inputs to replay after it.
type appPlan struct {
	snap    store.Snapshot
	has     bool // restoring from snap, not from the empty state
	rt      *engine.Runtime
	env     *envelope
	entries []eventsync.Entry
	gaps    []eventsync.Gap
	missing uint64     // inputs in gaps
	lossy   bool       // chosen despite gaps because an operator accepted the loss
	logUpTo uint64     // the input log holds every input after the revision up to here
	chain   chainState // the stored chain a restored runtime continues (zero: write a base)
}

// planApp picks the revision to restore a from. The inputs held after a revision are those of
// the passive's queue q and of the input log. The newest stored revision is used when it reads
// back (its payload matches its checksum, decodes and restores); gaps after it are reported as
// before. Otherwise the newest older revision (or the empty state) whose gap to the present is
// fully held is used: same outputs, nothing lost. The present is the highest sequence any
// stored revision (quarantined ones included) or the queue has seen. When no candidate is
// lossless, mayLose picks the best readable one; else a *RestoreError.
func (n *Node) planApp(ctx context.Context, a *appState, q *eventsync.Queue, mayLose bool) (*appPlan, error) {
	list, logged, present, err := n.heldInputs(ctx, a.name, q)
	if err != nil {
		return nil, err
	}
	var newest int64
	for _, s := range list {
		newest = max(newest, s.Revision)
	}
	var reasons []string
	var best *appPlan
	for _, meta := range list {
		if meta.Quarantined() {
			reasons = append(reasons, fmt.Sprintf("revision %d quarantined", meta.Revision))
			continue
		}
		p, chain, err := n.loadChain(ctx, a, meta.Revision)
		switch {
		case errors.Is(err, store.ErrNoSnapshot):
			continue // trimmed meanwhile
		case isUnusable(err):
			n.log.Error("snapshot revision unusable", "app", a.name, "revision", meta.Revision, "seq", meta.LastSeq, "base", meta.Base, "err", err)
			reasons = append(reasons, fmt.Sprintf("revision %d: %v", meta.Revision, err))
			continue
		case err != nil:
			return nil, fmt.Errorf("app %s: %w", a.name, err)
		}
		s := p.snap
		if s.Revision == newest {
			p.chain = chain // the next persist may continue the newest chain
		}
		p.entries, p.gaps, p.missing = replayFrom(q, logged, a.name, s.LastSeq, present)
		p.logUpTo = contiguousTo(logged, s.LastSeq)
		if s.Revision == newest || p.missing == 0 {
			if s.Revision != newest {
				n.log.Warn("restoring from an older snapshot revision: the queue holds every input after it", "app", a.name,
					"revision", s.Revision, "seq", s.LastSeq, "newest", newest, "replay", len(p.entries))
			}
			return p, nil
		}
		reasons = append(reasons, fmt.Sprintf("revision %d (seq %d) would lose %d inputs", s.Revision, s.LastSeq, p.missing))
		if best == nil {
			best = p
		}
	}
	fresh := &appPlan{rt: engine.NewRuntime(a.app), env: &envelope{}}
	fresh.entries, fresh.gaps, fresh.missing = replayFrom(q, logged, a.name, 0, present)
	fresh.logUpTo = contiguousTo(logged, 0)
	if len(list) == 0 {
		return fresh, nil // never persisted: the original behaviour, gaps reported at replay
	}
	if fresh.missing == 0 {
		n.log.Warn("restoring from the empty state: the queue holds every input since the first", "app", a.name, "replay", len(fresh.entries))
		return fresh, nil
	}
	if best == nil {
		best = fresh
	}
	if mayLose {
		best.lossy = true
		return best, nil
	}
	return nil, &RestoreError{App: a.name, Revision: newest, Missing: best.missing, Reasons: reasons}
}

// heldInputs reads what a restore of app can start from: its stored revisions, its input log,
// and the present, the highest input sequence the queue q, the input log or any revision
// (quarantined ones included) has seen.
func (n *Node) heldInputs(ctx context.Context, app string, q *eventsync.Queue) ([]store.Snapshot, []eventsync.Entry, uint64, error) {
	list, err := n.opts.Snapshots.ListSnapshots(ctx, n.cfg.Group, app)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("app %s: list snapshots: %w", app, err)
	}
	logged, err := n.readInputLog(ctx, app)
	if err != nil {
		return nil, nil, 0, err
	}
	present := q.Last(app)
	if len(logged) > 0 {
		present = max(present, logged[len(logged)-1].Seq)
	}
	for _, s := range list {
		present = max(present, s.LastSeq)
	}
	return list, logged, present, nil
}

// replayFrom returns the inputs of app after seq after that the queue or the input log (logged,
// in seq order) holds, merged in order, and the gaps up to present with the number of inputs in
// them.
func replayFrom(q *eventsync.Queue, logged []eventsync.Entry, app string, after, present uint64) ([]eventsync.Entry, []eventsync.Gap, uint64) {
	queued, _ := q.Replay(app, after)
	entries := mergeInputs(queued, logged, after)
	var gaps []eventsync.Gap
	next := after + 1
	for _, e := range entries {
		if e.Seq > next {
			gaps = append(gaps, eventsync.Gap{App: app, First: next, Last: e.Seq - 1})
		}
		next = e.Seq + 1
	}
	if present >= next {
		gaps = append(gaps, eventsync.Gap{App: app, First: next, Last: present})
	}
	var missing uint64
	for _, g := range gaps {
		missing += g.Last - g.First + 1
	}
	return entries, gaps, missing
}

// planAll plans every app against q; accept-loss permissions are read from the store.
func (n *Node) planAll(ctx context.Context, q *eventsync.Queue) (map[string]*appPlan, map[string]bool, error) {
	plans := map[string]*appPlan{}
	marked := map[string]bool{}
	for _, a := range n.apps {
		_, mayLose, err := n.opts.Snapshots.AcceptLossRequested(ctx, n.cfg.Group, a.name)
		if err != nil {
			return nil, nil, fmt.Errorf("app %s: %w", a.name, err)
		}
		p, err := n.planApp(ctx, a, q, mayLose)
		if err != nil {
			return nil, nil, err
		}
		plans[a.name], marked[a.name] = p, mayLose
	}
	return plans, marked, nil
}

// checkRestorable is the runner's readiness check after a restore failure: could a promotion now
// restore every app without loss (or with a loss an operator accepted)? It reads a copy of the
// passive's queue, which stays in place.
func (n *Node) checkRestorable(ctx context.Context) error {
	_, _, err := n.planAll(ctx, n.server.QueueCopy())
	if err != nil {
		n.restoreFailed(err)
		return err
	}
	n.clearRestoreFailure()
	return nil
}

// restoreFailed records a restore that cannot be done without loss.
func (n *Node) restoreFailed(err error) {
	var re *RestoreError
	if !errors.As(err, &re) {
		return
	}
	n.m.restoreFailures.Inc()
	f := &RestoreFailure{App: re.App, Revision: re.Revision, Error: err.Error(), Since: time.Now(), Attempts: 1}
	if old := n.restoreFail.Load(); old != nil {
		f.Since, f.Attempts = old.Since, old.Attempts+1
	}
	n.restoreFail.Store(f)
}

func (n *Node) clearRestoreFailure() {
	if n.restoreFail.Swap(nil) != nil {
		n.log.Info("restore failure cleared")
	}
}

// RestoreFailure is why this node cannot promote, or nil.
func (n *Node) RestoreFailure() *RestoreFailure {
	f := n.restoreFail.Load()
	if f == nil {
		return nil
	}
	c := *f
	if failed, next := n.runner.RestoreBackoff(); failed {
		c.NextAttempt = next
	}
	return &c
}
