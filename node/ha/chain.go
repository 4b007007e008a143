package ha

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/store"
)

// Incremental snapshots. A persist writes a delta revision (only what changed since the
// previous revision: the engine's SnapshotDelta, plus the node's small per-app state in full)
// while the runtime continues a stored chain, else a base (the full state). A background
// compaction folds a long chain into a new base offline: it restores the stored base and
// deltas into a scratch runtime and writes its full state as a base with the identity of the
// chain's newest revision, so the live runtime's next delta applies on it. Ingest never waits
// for it; persists wait only for its final write.

// Chain limits; variables so tests can shorten them.
var (
	// chainCompactAfter deltas, or deltas totalling half the base's bytes, start a compaction.
	chainCompactAfter = 16
	// chainMaxDeltas deltas make the next persist a base (compaction is not keeping up).
	chainMaxDeltas = 64
)

// chainState is what a runtime's next delta continues: the stored base, the newest stored
// revision of the chain (tip) and the engine revision id the runtime had when it was taken.
type chainState struct {
	base, tip  int64 // store revisions; base 0: no chain, the next persist writes a base
	tipID      uint64
	tipSeq     uint64 // the tip's last input: a delta's idempotency keys are those answered after it
	deltas     int
	deltaBytes int64
	lastDelta  int64 // bytes of the newest delta
	baseBytes  int64
}

// deltaOK says whether a persist of rt may write a delta on the chain: not for an app the engine
// cannot capture as a delta (partitions), and not when the newest delta saved little (half the base or more: state that changes whole, like big windows),
// where a base costs about the same and needs no compaction.
func (c *chainState) deltaOK(rt *engine.Runtime) bool {
	return c.base != 0 && c.tipID != 0 && rt.DeltaSupported() && rt.Revision() == c.tipID && c.deltas < chainMaxDeltas &&
		c.lastDelta*2 < c.baseBytes
}

// wantsCompaction says whether the chain is long enough to fold into a new base.
func (c *chainState) wantsCompaction() bool {
	return c.base != 0 && c.deltas > 0 && c.lastDelta*2 < c.baseBytes &&
		(c.deltas >= chainCompactAfter || c.deltaBytes*2 >= c.baseBytes)
}

// committed records a stored revision of rt (id is the runtime's revision it captured).
func (c *chainState) committed(rev int64, delta bool, id uint64, seq uint64, bytes int) {
	if delta {
		c.deltas++
		c.deltaBytes += int64(bytes)
		c.lastDelta = int64(bytes)
	} else {
		*c = chainState{base: rev, baseBytes: int64(bytes)}
	}
	c.tip, c.tipID, c.tipSeq = rev, id, seq
}

// loadChain reads revision rev with its chain and restores it: the engine state from the base
// and the deltas, the node's per-app state from rev's envelope. It also returns the chain the
// runtime continues.
func (n *Node) loadChain(ctx context.Context, a *appState, rev int64) (*appPlan, chainState, error) {
	snaps, err := store.ReadChain(ctx, n.opts.Snapshots, n.cfg.Group, a.name, rev)
	if errors.Is(err, store.ErrChecksum) || errors.Is(err, store.ErrChainBroken) {
		return nil, chainState{}, &unusableError{err}
	}
	if err != nil {
		return nil, chainState{}, err
	}
	p, err := restoreChain(a.app, snaps)
	if err != nil {
		return nil, chainState{}, &unusableError{err}
	}
	top := snaps[len(snaps)-1]
	c := chainState{base: snaps[0].Revision, baseBytes: snaps[0].Size, tip: top.Revision, tipID: p.rt.Revision(), tipSeq: top.LastSeq}
	for _, s := range snaps[1:] {
		c.deltas++
		c.deltaBytes += s.Size
		c.lastDelta = s.Size
	}
	return p, c, nil
}

// restoreChain restores a base and its deltas (payloads verified by ReadChain).
func restoreChain(app *engine.App, snaps []store.Snapshot) (*appPlan, error) {
	envs := make([]*envelope, len(snaps))
	deltas := make([][]byte, 0, len(snaps)-1)
	for i, s := range snaps {
		env, err := decodeEnvelope(app, s.Payload)
		if err != nil {
			return nil, fmt.Errorf("revision %d: %w", s.Revision, err)
		}
		envs[i] = env
		if i > 0 {
			deltas = append(deltas, env.Engine)
		}
	}
	rt, err := engine.Restore(app, envs[0].Engine, deltas...)
	if err != nil {
		return nil, fmt.Errorf("engine restore of revision %d (base %d + %d deltas): %w", snaps[len(snaps)-1].Revision, snaps[0].Revision, len(deltas), err)
	}
	return &appPlan{snap: snaps[len(snaps)-1], has: true, rt: rt, env: foldIdem(envs)}, nil
}

// unusableError marks a revision that cannot be restored (corrupt, or its chain broken): an
// older one may be used instead. Other errors of loadChain are the database's.
type unusableError struct{ err error }

// Error and Unwrap expose the cause, so errors.Is still finds store.ErrChecksum and the like.
func (e *unusableError) Error() string { return e.err.Error() }
func (e *unusableError) Unwrap() error { return e.err }

func isUnusable(err error) bool {
	var u *unusableError
	return errors.As(err, &u)
}

// maybeCompact starts a background compaction of a's chain when it is long enough. It runs
// under the serving term's context, not the caller's (an admin request's ends with it).
func (n *Node) maybeCompact(a *appState, term int64) {
	a.mu.Lock()
	want := a.chain.wantsCompaction()
	a.mu.Unlock()
	n.mu.Lock()
	ctx := n.activeCtx
	n.mu.Unlock()
	if !want || ctx == nil || !a.compacting.CompareAndSwap(false, true) {
		return
	}
	started := n.activeWork.Go(func() {
		defer a.compacting.Store(false)
		begin := time.Now()
		rev, err := n.compact(ctx, a, term)
		if err != nil {
			if !errors.Is(err, errNotLeading) && !errors.Is(err, context.Canceled) {
				n.log.Warn("snapshot compaction failed; the chain continues", "app", a.name, "err", err)
			}
			return
		}
		if rev != 0 {
			n.m.compactions.Inc()
			n.log.Info("snapshot chain compacted into a new base", "app", a.name, "revision", rev, "took", time.Since(begin))
		}
	})
	if !started {
		a.compacting.Store(false) // the active is stopping
	}
}

// compact folds a's stored chain into a new base revision (0: nothing to do). The heavy part,
// reading and restoring the chain, runs without locks; only the final write holds the persist
// lock, after folding in the deltas persisted meanwhile.
func (n *Node) compact(ctx context.Context, a *appState, term int64) (int64, error) {
	a.mu.Lock()
	c := a.chain
	a.mu.Unlock()
	if c.base == 0 || c.deltas == 0 {
		return 0, nil
	}
	p, _, err := n.loadChain(ctx, a, c.tip)
	if err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err // the term ended meanwhile
	}
	if n.draining.Load() {
		return 0, nil // a switchover or shutdown: its persist must not wait for a base write
	}
	a.persistMu.Lock()
	defer a.persistMu.Unlock()
	a.mu.Lock()
	now := a.chain
	a.mu.Unlock()
	if now.base != c.base || now.tipID == 0 {
		return 0, nil // a base was written meanwhile, or the last persist failed (a base is next)
	}
	envs, seq := []*envelope{p.env}, p.snap.LastSeq
	for rev := c.tip + 1; rev <= now.tip; rev++ {
		s, ok, err := n.opts.Snapshots.ReadSnapshot(ctx, n.cfg.Group, a.name, rev)
		if err != nil {
			return 0, err
		}
		if !ok || s.Base != c.base {
			return 0, fmt.Errorf("revision %d of the chain is gone", rev)
		}
		if err := s.VerifyErr(); err != nil {
			return 0, err
		}
		next, err := decodeEnvelope(a.app, s.Payload)
		if err != nil {
			return 0, fmt.Errorf("revision %d: %w", rev, err)
		}
		envs = append(envs, next)
		if err := p.rt.ApplyDelta(next.Engine); err != nil {
			return 0, fmt.Errorf("revision %d: %w", rev, err)
		}
		seq = s.LastSeq
	}
	if p.rt.Revision() != now.tipID {
		return 0, fmt.Errorf("compacted chain is at revision %016x, the runtime at %016x", p.rt.Revision(), now.tipID)
	}
	blob, err := p.rt.BaseSnapshot()
	if err != nil {
		return 0, err
	}
	base := *foldIdem(envs)
	base.Engine = blob
	payload := base.encode()
	if !n.runner.Leading(term) {
		return 0, errNotLeading
	}
	rev, err := n.opts.Snapshots.SaveSnapshot(ctx, store.Snapshot{Group: n.cfg.Group, App: a.name, Term: term, LastSeq: seq, Payload: payload}, n.cfg.RevisionsToKeep)
	if err != nil {
		return 0, err
	}
	a.mu.Lock()
	a.chain.committed(rev, false, now.tipID, seq, len(payload))
	if rev > a.persistedRev {
		a.persistedRev = rev
	}
	a.mu.Unlock()
	if sess := n.session(); sess != nil {
		sess.Control(a.name, seq, rev)
	}
	return rev, nil
}

// warmPoint is the stored revision a hot passive's runtime was restored to: rev (its term and
// input seq) and the runtime's revision id then. qTerm, set at promotion, is the term of the
// active whose inputs the runtime followed after it.
type warmPoint struct {
	rev, term int64
	seq       uint64
	id        uint64
	qTerm     int64
}

// continueChain runs before the first persist after a hot promotion (a.rebase set): the runtime
// was restored to stored revision W and has applied every input since, tracking its changes
// since W (a passive takes no revisions). If the newest stored revision T is W or a later one
// of the same history (written under the term whose inputs the runtime followed), those changes
// cover T's, so the runtime's next delta may apply on T (engine Rebase): the new term's first
// persist is a delta on the old chain instead of a base with the whole state and idempotency
// window, which made a switchover's first acknowledgements wait. Anything else writes a base.
func (n *Node) continueChain(ctx context.Context, a *appState, term int64) {
	a.mu.Lock()
	r := a.rebase
	a.rebase = nil
	ok := r != nil && a.chain.base == 0 && a.rt != nil && a.term == term && a.rt.Revision() == r.id && a.rt.DeltaSupported()
	a.mu.Unlock()
	if !ok {
		return
	}
	c, err := n.chainToContinue(ctx, a, *r)
	if err != nil {
		n.log.Info("the term's first persist writes a base", "app", a.name, "reason", err)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.rt == nil || a.term != term || a.rt.Revision() != r.id || a.chain.base != 0 {
		return
	}
	if err := a.rt.Rebase(c.tipID, c.tipSeq); err != nil {
		n.log.Info("the term's first persist writes a base", "app", a.name, "reason", err)
		return
	}
	a.chain = c
	n.log.Info("continuing the previous term's snapshot chain", "app", a.name, "base", c.base, "after", c.tip, "warmed_at", r.rev)
}

// chainToContinue reads the newest stored revision and its chain's sizes, and the revision id
// in its engine blob, for continueChain.
func (n *Node) chainToContinue(ctx context.Context, a *appState, w warmPoint) (chainState, error) {
	list, err := n.opts.Snapshots.ListSnapshots(ctx, n.cfg.Group, a.name)
	if err != nil {
		return chainState{}, err
	}
	if len(list) == 0 {
		return chainState{}, errors.New("no stored revision")
	}
	tip := list[0]
	switch {
	case tip.Quarantined():
		return chainState{}, fmt.Errorf("the newest revision %d is quarantined", tip.Revision)
	case tip.Revision < w.rev:
		return chainState{}, fmt.Errorf("the newest revision %d is older than revision %d the runtime was warmed from", tip.Revision, w.rev)
	case tip.Revision != w.rev && tip.Term != w.qTerm:
		return chainState{}, fmt.Errorf("the newest revision %d was written at term %d, not by the active the runtime followed (term %d)", tip.Revision, tip.Term, w.qTerm)
	}
	c := chainState{base: tip.Revision, tip: tip.Revision, tipSeq: tip.LastSeq}
	if tip.Delta() {
		c.base = tip.Base
	}
	for _, s := range list {
		switch {
		case s.Revision == c.base:
			c.baseBytes = s.Size
		case s.Base == c.base && s.Revision <= tip.Revision:
			c.deltas++
			c.deltaBytes += s.Size
			if s.Revision == tip.Revision {
				c.lastDelta = s.Size
			}
		}
	}
	if c.baseBytes == 0 {
		return chainState{}, fmt.Errorf("the base revision %d of the newest revision is not listed", c.base)
	}
	s, found, err := n.opts.Snapshots.ReadSnapshot(ctx, n.cfg.Group, a.name, tip.Revision)
	if err != nil {
		return chainState{}, err
	}
	if !found {
		return chainState{}, fmt.Errorf("revision %d is gone", tip.Revision)
	}
	if err := s.VerifyErr(); err != nil {
		return chainState{}, err
	}
	blob, err := envelopeEngine(s.Payload)
	if err != nil {
		return chainState{}, fmt.Errorf("revision %d: %w", tip.Revision, err)
	}
	h, err := engine.ReadSnapshotHeader(blob)
	if err != nil {
		return chainState{}, fmt.Errorf("revision %d: %w", tip.Revision, err)
	}
	if h.LastSeq != tip.LastSeq {
		return chainState{}, fmt.Errorf("revision %d: its engine state is at input %d, the row says %d", tip.Revision, h.LastSeq, tip.LastSeq)
	}
	c.tipID = h.ID
	return c, nil
}
