package ha

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/streamha/streamha/node/eventsync"
	"github.com/streamha/streamha/node/store"
)

// PromotionReport is how the last promotion of this node went.
type PromotionReport struct {
	Term int64
	// Paths says per app how it was promoted: "hot" (the passive's runtime, nothing restored),
	// "cold" (restored from a snapshot, the queue replayed) or "resumed" (a state this node
	// kept from its own term).
	Paths map[string]string
	// Replayed counts the inputs applied during the promotion: a cold app's replay, a hot
	// app's catch-up (0 when its runtime had applied the whole queue).
	Replayed int
	Took     time.Duration
}

// LastPromotion reports this node's last successful promotion, or nil.
func (n *Node) LastPromotion() *PromotionReport {
	r := n.lastPromo.Load()
	if r == nil {
		return nil
	}
	c := *r
	return &c
}

// promote is the runner's promotion step, in the seed's order: fence the persistence store with
// the new term, make every app's state complete, and only then start serving (the runner marks
// the node Active when this returns nil; ingest checks that role). An app whose passive runtime
// followed the queue is complete once it applied what it has not yet (usually nothing): no
// restore, no replay. Any other app restores its newest usable snapshot and replays the queue
// after it on the inputs' original timestamps (choosePath decides).
func (n *Node) promote(ctx context.Context, term int64) error {
	if !n.promoWork.enter() {
		return errors.New("promotion refused: the node is stopping serving")
	}
	defer n.promoWork.exit()
	if err := ctx.Err(); err != nil {
		return err
	}
	start := time.Now()
	// From here the appliers leave the apps alone; stopActive hands them back.
	for _, a := range n.apps {
		a.mu.Lock()
		a.passive = false
		a.mu.Unlock()
	}
	q, qTerm := n.server.TakeQueue()
	if err := n.opts.Snapshots.Fence(ctx, n.cfg.Group, term); err != nil {
		n.server.PutBack(q, qTerm)
		return fmt.Errorf("fence persistence at term %d: %w", term, err)
	}
	if kept := n.retainedTerm.Swap(0); kept != 0 {
		if term == kept+1 {
			return n.resume(term, start)
		}
		n.retainedTerm.Store(kept) // a handed-over state may still serve (choosePath)
	}
	decided, err := n.decideAll(ctx, q, term)
	if err != nil {
		n.server.PutBack(q, qTerm)
		return err
	}
	var cold []*appState
	for _, a := range n.apps {
		if decided[a.name].path == pathCold {
			cold = append(cold, a)
		}
	}
	plans, err := n.planApps(ctx, q, cold, decided)
	if err != nil {
		n.restoreFailed(err)
		// The queue may be the only copy of acknowledged inputs: keep it for the next try.
		n.server.PutBack(q, qTerm)
		return err
	}
	failed := func(err error) error {
		for _, b := range n.apps {
			b.mu.Lock()
			b.deactivateLocked()
			b.mu.Unlock()
		}
		n.retainedTerm.Store(0)
		n.server.PutBack(q, qTerm)
		return err
	}
	report := &PromotionReport{Term: term, Paths: map[string]string{}}
	for _, a := range n.apps {
		d := decided[a.name]
		var k int
		var err error
		if d.path == pathCold {
			k, err = n.restoreApp(a, plans[a.name], term, q)
		} else {
			k, err = n.completeApp(a, d, term, q, qTerm)
		}
		if err != nil {
			return failed(err)
		}
		if err := ctx.Err(); err != nil {
			return failed(err)
		}
		report.Replayed += k
		report.Paths[a.name] = d.path.String()
		n.m.promotions.WithLabelValues(d.path.String()).Inc()
	}
	n.retainedTerm.Store(0)
	// An operator's permission to lose inputs is for this one promotion.
	for _, a := range n.apps {
		if !decided[a.name].mayLose {
			continue
		}
		if err := n.opts.Snapshots.ClearAcceptLoss(ctx, n.cfg.Group, a.name); err != nil {
			return failed(fmt.Errorf("consume the accept-loss permission: %w", err))
		}
		used := false
		if p := plans[a.name]; p != nil {
			used = p.lossy
		}
		n.log.Warn("accept-loss permission consumed", "app", a.name, "used", used)
	}
	n.clearRestoreFailure()
	if err := n.serve(ctx, term); err != nil {
		return failed(err)
	}
	report.Took = time.Since(start)
	n.lastPromo.Store(report)
	n.log.Info("promoted: state complete", "term", term, "paths", report.Paths, "replayed", report.Replayed, "took", report.Took)
	n.m.promotion.Observe(report.Took.Seconds())
	n.m.promotionReplayed.Set(float64(report.Replayed))
	return nil
}

// serve starts the active's work for term, unless the promotion was cancelled meanwhile.
func (n *Node) serve(ctx context.Context, term int64) error {
	actx, cancel := context.WithCancel(context.Background())
	n.mu.Lock()
	if err := ctx.Err(); err != nil {
		n.mu.Unlock()
		cancel()
		return err
	}
	n.activeCancel, n.activeCtx = cancel, actx
	n.mu.Unlock()
	n.startActive(actx, term)
	return nil
}

// decision is one app's promotion path with what it needs.
type decision struct {
	path    promotionPath
	entries []eventsync.Entry // inputs after the runtime's position (hot and resumed paths)
	newest  store.Snapshot    // the newest stored revision (metadata), if any
	mayLose bool              // an operator's accept-loss permission is pending
}

// decideAll chooses every app's path (choosePath) from its runtime, the taken queue and the
// stored revisions' metadata. It changes nothing.
func (n *Node) decideAll(ctx context.Context, q *eventsync.Queue, term int64) (map[string]*decision, error) {
	out := map[string]*decision{}
	for _, a := range n.apps {
		_, mayLose, err := n.opts.Snapshots.AcceptLossRequested(ctx, n.cfg.Group, a.name)
		if err != nil {
			return nil, fmt.Errorf("app %s: %w", a.name, err)
		}
		d := &decision{mayLose: mayLose}
		out[a.name] = d
		a.mu.Lock()
		c := promoteCandidate{QueueGen: q.Gen(), Term: term}
		switch {
		case a.rt != nil && a.term != 0:
			c.Kept, c.KeptTerm, c.HandedOver, c.Seq = true, a.term, a.kept.HandedOver, a.rt.LastSeq()
		case a.isHotLocked():
			c.Hot, c.Gen, c.Seq = true, a.hotGen, a.rt.LastSeq()
		}
		a.mu.Unlock()
		if !c.Hot && !c.Kept {
			continue // cold
		}
		list, logged, present, err := n.heldInputs(ctx, a.name, q)
		if err != nil {
			return nil, err
		}
		for _, s := range list {
			c.StoredTerm = max(c.StoredTerm, s.Term)
			if s.Revision > d.newest.Revision {
				d.newest = s
			}
		}
		var gaps []eventsync.Gap
		d.entries, gaps, c.Missing = replayFrom(q, logged, a.name, c.Seq, present)
		d.path = choosePath(c)
		if d.path == pathCold {
			d.entries = nil
			n.log.Warn("passive runtime not usable for this promotion; restoring from a snapshot", "app", a.name,
				"hot", c.Hot, "kept_term", c.KeptTerm, "runtime_seq", c.Seq, "present", present, "missing", c.Missing, "gaps", len(gaps))
		}
	}
	return out, nil
}

// planApps plans the cold apps' restores against q.
func (n *Node) planApps(ctx context.Context, q *eventsync.Queue, apps []*appState, d map[string]*decision) (map[string]*appPlan, error) {
	plans := map[string]*appPlan{}
	for _, a := range apps {
		p, err := n.planApp(ctx, a, q, d[a.name].mayLose)
		if err != nil {
			return nil, err
		}
		plans[a.name] = p
	}
	return plans, nil
}

// completeApp promotes an app whose runtime is already the state (hot or kept): it applies the
// queued inputs after the runtime's position (a hot passive's catch-up, usually none), drops
// the outputs the previous active reported written, and serves it under term.
func (n *Node) completeApp(a *appState, d *decision, term int64, q *eventsync.Queue, qTerm int64) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.rt == nil {
		return 0, fmt.Errorf("app %s: its runtime is gone", a.name)
	}
	if a.idem == nil {
		a.idem = newIdemWindow(idemWindowSize)
	}
	for _, e := range d.entries {
		if err := a.applyEntryLocked(e, a.emit); err != nil {
			return 0, fmt.Errorf("app %s: catch up: %w", a.name, err)
		}
	}
	// The passive runtime already dropped the outputs reported written as it produced them.
	if skipped := a.dropDeliveredLocked(q.Delivered(a.name)) + a.hotSkipped; skipped > 0 {
		n.m.notReemitted.Add(float64(skipped))
	}
	// A hot runtime restored to a stored revision and fed every input since may continue that
	// revision's chain with its first persist (continueChain), if nothing newer from another
	// history was stored meanwhile; it is checked then, off the promotion path.
	w := a.warm
	a.rebase = nil
	if d.path == pathHot && w.id != 0 && a.rt.Revision() == w.id {
		w.qTerm = qTerm
		a.rebase = &w
	}
	a.activateLocked(a.rt, term, a.idem, a.outbox)
	// No snapshot is the base of this runtime's inputs: the input log starts from the next one.
	a.startLogLocked(n.inputLog() != nil, 0, 0, nil)
	a.breakLogLocked()
	a.persistedSeq, a.persistedRev = d.newest.LastSeq, d.newest.Revision
	a.committed.Store(d.newest.LastSeq)
	// The runtime is not at a stored revision: the next persist writes a base, unless it can
	// continue the chain the runtime was warmed from (rebase).
	a.chain = chainState{}
	a.persistedAt = d.newest.CreatedAt
	return len(d.entries), nil
}

// resume serves again from the state kept since losing term-1: no other node held the lease in
// between, so nothing newer exists anywhere.
func (n *Node) resume(term int64, start time.Time) error {
	for _, a := range n.apps {
		a.mu.Lock()
		err := a.resumeLocked(term)
		a.mu.Unlock()
		if err != nil {
			n.dropRetained()
			return err
		}
	}
	if err := n.serve(context.Background(), term); err != nil {
		return err
	}
	report := &PromotionReport{Term: term, Paths: map[string]string{}, Took: time.Since(start)}
	for _, a := range n.apps {
		n.m.promotions.WithLabelValues(pathResumed.String()).Inc()
		report.Paths[a.name] = pathResumed.String()
	}
	n.lastPromo.Store(report)
	n.m.promotionReplayed.Set(0)
	n.log.Info("promoted: resumed from the state kept since the previous term", "term", term, "took", time.Since(start))
	n.m.promotion.Observe(time.Since(start).Seconds())
	return nil
}

// restoreApp installs a planned restore and replays the queue after it. Gaps are inputs that
// nobody holds any more; they are reported loudly, never hidden.
func (n *Node) restoreApp(a *appState, p *appPlan, term int64, q *eventsync.Queue) (int, error) {
	snap, ok, rt, entries := p.snap, p.has, p.rt, p.entries
	idem := idemFromEnvelope(p.env)
	outbox := p.env.Outbox
	if p.lossy {
		n.log.Error("restoring with an operator-accepted loss: inputs after this revision are held by nobody", "app", a.name,
			"revision", snap.Revision, "seq", snap.LastSeq, "lost_inputs", p.missing, "gaps", len(p.gaps))
	}
	for _, g := range p.gaps {
		n.gaps.Add(1)
		n.lastGap.Store(g.String())
		n.log.Error("replay gap: inputs held by no snapshot and no queue", "app", a.name, "first", g.First, "last", g.Last)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.setOutboxLocked(outbox)
	a.rt, a.idem = rt, idem
	for _, e := range entries {
		if err := a.applyEntryLocked(e, a.emit); err != nil {
			a.rt, a.idem = nil, nil
			return 0, fmt.Errorf("replay: %w", err)
		}
	}
	// Outputs the previous active reported written are not emitted again: only its last,
	// unreported writes can repeat (identifiable by output id).
	if skipped := a.dropDeliveredLocked(q.Delivered(a.name)); skipped > 0 {
		n.m.notReemitted.Add(float64(skipped))
		n.log.Info("not re-emitting outputs the previous active delivered", "app", a.name, "outputs", skipped, "up_to_seq", q.Delivered(a.name))
	}
	a.activateLocked(rt, term, idem, a.outbox)
	a.startLogLocked(n.inputLog() != nil, snap.LastSeq, p.logUpTo, entries)
	a.persistedSeq, a.persistedRev = snap.LastSeq, snap.Revision
	a.committed.Store(snap.LastSeq)
	a.chain = p.chain
	if ok {
		a.persistedAt = snap.CreatedAt
	}
	return len(entries), nil
}
