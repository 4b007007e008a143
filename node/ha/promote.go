package ha

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/eventsync"
)

// promote is the runner's promotion step, in the seed's order: fence the persistence store with
// the new term, restore every app from its newest snapshot, replay the queued inputs after it on
// their original timestamps, and only then start serving (the runner marks the node Active when
// this returns nil; ingest checks that role).
func (n *Node) promote(ctx context.Context, term int64) error {
	start := time.Now()
	q, qTerm := n.server.TakeQueue()
	if err := n.opts.Snapshots.Fence(ctx, n.cfg.Group, term); err != nil {
		n.server.PutBack(q, qTerm)
		return fmt.Errorf("fence persistence at term %d: %w", term, err)
	}
	if kept := n.retainedTerm.Swap(0); kept != 0 {
		if term == kept+1 {
			return n.resume(term, start)
		}
		n.retainedTerm.Store(kept)
		n.dropRetained()
	}
	plans, marked, err := n.planAll(ctx, q)
	if err != nil {
		n.restoreFailed(err)
		// The queue may be the only copy of acknowledged inputs: keep it for the next try.
		n.server.PutBack(q, qTerm)
		return err
	}
	replayed := 0
	for _, a := range n.apps {
		k, err := n.restoreApp(a, plans[a.name], term, q)
		if err != nil {
			for _, b := range n.apps {
				b.mu.Lock()
				b.deactivateLocked()
				b.mu.Unlock()
			}
			n.server.PutBack(q, qTerm)
			return err
		}
		replayed += k
	}
	// An operator's permission to lose inputs is for this one promotion.
	for _, a := range n.apps {
		if !marked[a.name] {
			continue
		}
		if err := n.opts.Snapshots.ClearAcceptLoss(ctx, n.cfg.Group, a.name); err != nil {
			for _, b := range n.apps {
				b.mu.Lock()
				b.deactivateLocked()
				b.mu.Unlock()
			}
			n.server.PutBack(q, qTerm)
			return fmt.Errorf("consume the accept-loss permission: %w", err)
		}
		n.log.Warn("accept-loss permission consumed", "app", a.name, "used", plans[a.name].lossy)
	}
	n.clearRestoreFailure()
	actx, cancel := context.WithCancel(context.Background())
	n.mu.Lock()
	n.activeCancel = cancel
	n.mu.Unlock()
	n.startActive(actx, term)
	n.log.Info("promoted: state restored and queue replayed", "term", term, "replayed", replayed, "took", time.Since(start))
	n.m.promotion.Observe(time.Since(start).Seconds())
	return nil
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
	actx, cancel := context.WithCancel(context.Background())
	n.mu.Lock()
	n.activeCancel = cancel
	n.mu.Unlock()
	n.startActive(actx, term)
	n.log.Info("promoted: resumed from the state kept since the previous term", "term", term, "took", time.Since(start))
	n.m.promotion.Observe(time.Since(start).Seconds())
	return nil
}

// restoreApp installs a planned restore and replays the queue after it. Gaps are inputs that
// nobody holds any more; they are reported loudly, never hidden.
func (n *Node) restoreApp(a *appState, p *appPlan, term int64, q *eventsync.Queue) (int, error) {
	snap, ok, rt, entries := p.snap, p.has, p.rt, p.entries
	idem := newIdemWindow(idemWindowSize)
	for _, r := range p.env.Idem {
		idem.put(r.Key, r.Answer)
	}
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
	def := map[string]*engine.StreamDef{}
	for _, e := range entries {
		in := engine.Input{Seq: e.Seq, TS: e.TS, Stream: e.Stream}
		if e.Stream != "" {
			d, ok := def[e.Stream]
			if !ok {
				if d, ok = a.app.Stream(e.Stream); !ok {
					return 0, fmt.Errorf("app %s: queued input %d for unknown stream %q", a.name, e.Seq, e.Stream)
				}
				def[e.Stream] = d
			}
			vals, _, err := d.DecodeValues(e.Data)
			if err != nil {
				return 0, fmt.Errorf("app %s: queued input %d: %w", a.name, e.Seq, err)
			}
			in.Data = vals
		}
		if err := rt.Apply(in, a.emit); err != nil && !errors.Is(err, engine.ErrApplied) {
			return 0, fmt.Errorf("app %s: replay input %d: %w", a.name, e.Seq, err)
		}
		if e.Key != "" {
			idem.put(e.Key, Answer{Accepted: int(e.KeyCount), FirstSeq: e.Seq - uint64(e.KeyCount) + 1, LastSeq: e.Seq})
		}
		if e.TS > a.lastTS {
			a.lastTS = e.TS
		}
	}
	// Outputs the previous active reported written are not emitted again: only its last,
	// unreported writes can repeat (identifiable by output id).
	if skipped := a.dropDeliveredLocked(q.Delivered(a.name)); skipped > 0 {
		n.m.notReemitted.Add(float64(skipped))
		n.log.Info("not re-emitting outputs the previous active delivered", "app", a.name, "outputs", skipped, "up_to_seq", q.Delivered(a.name))
	}
	a.activateLocked(rt, term, idem, a.outbox)
	a.persistedSeq, a.persistedRev = snap.LastSeq, snap.Revision
	a.committed.Store(snap.LastSeq)
	if ok {
		a.persistedAt = snap.CreatedAt
	}
	return len(entries), nil
}
