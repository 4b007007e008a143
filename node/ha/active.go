package ha

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/streamha/streamha/node/cluster"
	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/eventsync"
	"github.com/streamha/streamha/node/store"
)

// errNotLeading stops a persist of a node that no longer holds its term.
var errNotLeading = errors.New("not leading")

// startActive starts the active's background work for term; stopActive ends it.
func (n *Node) startActive(ctx context.Context, term int64) {
	leading := func() bool { return n.runner.Leading(term) }
	// The dispatchers have a context of their own: a switchover stops them before it hands
	// over the delivered positions.
	dctx, dcancel := context.WithCancel(ctx)
	var dispatchers sync.WaitGroup
	n.mu.Lock()
	n.stopDispatch = func() { dcancel(); dispatchers.Wait() }
	n.mu.Unlock()
	for _, a := range n.apps {
		a := a
		delivered := func(seq uint64) {
			if sess := n.session(); sess != nil {
				sess.Delivered(a.name, seq)
			}
		}
		sinks := n.opts.Sinks
		sinks.Term, sinks.Group = term, n.cfg.Group
		hooks := dispatchHooks{
			leading: leading, delivered: delivered, idle: n.timing.DispatchIdle, report: n.timing.IdleReport, gather: dispatchGather,
			failed:  func(sinkName, kind string) { n.m.sinkErrors.WithLabelValues(a.name, sinkName, kind).Inc() },
			wrote:   func(sinkName string, k int) { n.m.sinkDelivered.WithLabelValues(a.name, sinkName).Add(float64(k)) },
			dropped: func(sinkName string, k int) { n.m.sinkDropped.WithLabelValues(a.name, sinkName).Add(float64(k)) },
			store: func(ctx context.Context, recs []store.ErrorRecord) error {
				if n.errors == nil {
					return ErrNoErrorStore
				}
				return n.saveErrors(ctx, term, recs)
			},
			stored: func(sinkName string, k int) { n.m.sinkStored.WithLabelValues(a.name, sinkName).Add(float64(k)) },
			pending: func(sinkName string, p SinkStatus) {
				n.m.sinkPending.WithLabelValues(a.name, sinkName).Set(float64(p.PendingOutputs))
				n.m.sinkPendingBytes.WithLabelValues(a.name, sinkName).Set(float64(p.PendingBytes))
			},
		}
		dispatchers.Add(1)
		if !n.activeWork.Go(func() { defer dispatchers.Done(); a.dispatch(dctx, sinks, hooks) }) {
			dispatchers.Done()
		}
		if a.app.UsesTime() {
			n.goActive(func() { n.ticker(ctx, a, term) })
		}
	}
	if lg := n.inputLog(); lg != nil {
		for _, a := range n.apps {
			a := a
			n.goActive(func() { n.logAppender(ctx, a, term, lg) })
		}
	}
	n.goActive(func() { n.persister(ctx, term) })
	n.goActive(func() { n.connector(ctx, term) })
}

func (n *Node) goActive(fn func()) { n.activeWork.Go(fn) }

// stopDispatchers stops the serving term's output dispatchers and waits for them.
func (n *Node) stopDispatchers() {
	n.mu.Lock()
	stop := n.stopDispatch
	n.mu.Unlock()
	if stop != nil {
		stop()
	}
}

func (n *Node) ticker(ctx context.Context, a *appState, term int64) {
	t := time.NewTicker(n.timing.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			n.tick(a, term, now.UnixMilli())
		}
	}
}

// persistApp snapshots one app and stores it under term, then tells the passive it may trim.
// With startOn set, the app starts streaming on that session right at the snapshot point (a
// passive joining). Without force, an app with no new input since its last snapshot is skipped.
func (n *Node) persistApp(ctx context.Context, a *appState, term int64, force bool, startOn Peer) error {
	a.persistMu.Lock()
	defer a.persistMu.Unlock()
	return n.persistAppLocked(ctx, a, term, force, startOn)
}

// persistAppLocked is persistApp with persistMu held.
func (n *Node) persistAppLocked(ctx context.Context, a *appState, term int64, force bool, startOn Peer) error {
	begin := time.Now()
	n.continueChain(ctx, a, term)
	a.mu.Lock()
	if a.rt == nil || a.term != term {
		a.mu.Unlock()
		return errNotLeading
	}
	seq := a.rt.LastSeq()
	if !force && startOn == nil && seq == a.persistedSeq && a.persistErr == "" {
		a.mu.Unlock()
		return nil
	}
	// A delta while the runtime continues the stored chain (chain.go), else the full state.
	delta := a.chain.deltaOK(a.rt)
	base, after := a.chain.base, a.chain.tip
	var blob []byte
	var err error
	if delta {
		blob, err = a.rt.SnapshotDelta()
	} else {
		blob, err = a.rt.Snapshot()
	}
	if err != nil {
		a.mu.Unlock()
		return fmt.Errorf("app %s: snapshot: %w", a.name, err)
	}
	id := a.rt.Revision()
	// Until this revision is stored the chain has no usable tip: a failed save means a base next.
	a.chain.tipID = 0
	env := envelope{Engine: blob, Outbox: append([]*engine.Output(nil), a.outbox...), Positions: a.idem.positionRecords()}
	if delta {
		// Only the keys answered since the tip: a delta's cost follows the change here too.
		env.Idem, env.IdemDelta = a.idem.recordsAfter(a.chain.tipSeq), true
	} else {
		env.Idem = a.idem.records()
	}
	if startOn != nil {
		startOn.Start(a.name, seq)
	}
	a.logCaptureLocked(seq)
	a.mu.Unlock()
	payload := env.encode()
	if !n.runner.Leading(term) {
		return errNotLeading
	}
	snap := store.Snapshot{Group: n.cfg.Group, App: a.name, Term: term, LastSeq: seq, Payload: payload}
	if delta {
		snap.Base, snap.After = base, after
	}
	rev, err := n.opts.Snapshots.SaveSnapshot(ctx, snap, n.cfg.RevisionsToKeep)
	if err == nil {
		a.mu.Lock()
		a.chain.committed(rev, delta, id, seq, len(payload))
		a.mu.Unlock()
		kind := "base"
		if delta {
			kind = "delta"
		}
		n.m.persistRevisions.WithLabelValues(kind).Inc()
	}
	if err != nil {
		a.mu.Lock()
		a.persistErr = err.Error()
		if a.persistFail.IsZero() {
			a.persistFail = time.Now()
		}
		a.mu.Unlock()
		n.m.persistErrors.Inc()
		return fmt.Errorf("app %s: save snapshot at seq %d: %w", a.name, seq, err)
	}
	a.mu.Lock()
	if seq > a.persistedSeq || rev > a.persistedRev {
		a.persistedSeq, a.persistedRev = seq, rev
		a.committed.Store(a.persistedSeq)
	}
	// A committed snapshot makes every input it covers durable: their outputs may go out.
	if seq > a.safe {
		a.safe = seq
	}
	a.logCommittedLocked(seq)
	a.persistedAt, a.persistErr, a.persistFail = time.Now(), "", time.Time{}
	close(a.persisted)
	a.persisted = make(chan struct{})
	a.mu.Unlock()
	a.poke()
	n.m.persistSeconds.Observe(time.Since(begin).Seconds())
	n.m.persistBytes.WithLabelValues(a.name).Set(float64(len(payload)))
	if sess := n.session(); sess != nil {
		sess.Control(a.name, seq, rev)
	}
	n.log.Debug("persisted", "app", a.name, "revision", rev, "delta", delta, "seq", seq, "bytes", len(payload), "took", time.Since(begin))
	n.maybeCompact(a, term)
	return nil
}

// persistAll persists every app; the first error is returned after trying them all.
func (n *Node) persistAll(ctx context.Context, term int64, force bool) error {
	var first error
	for _, a := range n.apps {
		if err := n.persistApp(ctx, a, term, force, nil); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Persist snapshots every app now (POST /ha/persist).
func (n *Node) Persist(ctx context.Context) error {
	term, ok := n.runner.Serving()
	if !ok {
		return n.notActive()
	}
	return n.persistAll(ctx, term, true)
}

// PersistBase stores every app's full state now as a base revision, starting a new chain
// (deltas continue on it); benchmarks compare it with deltas.
func (n *Node) PersistBase(ctx context.Context) error {
	term, ok := n.runner.Serving()
	if !ok {
		return n.notActive()
	}
	for _, a := range n.apps {
		a.persistMu.Lock()
		a.mu.Lock()
		a.chain = chainState{}
		a.mu.Unlock()
		err := n.persistAppLocked(ctx, a, term, true, nil)
		a.persistMu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// persister persists on the interval, retries failed persists every second, and persists early
// when the passive's queue passes half its bound.
func (n *Node) persister(ctx context.Context, term int64) {
	// Right after a promotion the replayed state is only in memory. A passive joining persists
	// it anyway (its snapshot point, within milliseconds when it is up); without one, persist it
	// after 100 ms. Not at once: that would hold the persist lock just when the joining
	// passive's snapshot point is wanted.
	settle := time.NewTimer(n.timing.PersistSettle)
	defer settle.Stop()
	interval := time.NewTicker(n.cfg.PersistInterval)
	defer interval.Stop()
	check := time.NewTicker(n.timing.PersistCheck)
	defer check.Stop()
	var lastPressure time.Time
	want := make(chan *appState)
	for _, a := range n.apps {
		a := a
		n.goActive(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-a.wantPersist:
					select {
					case want <- a:
					case <-ctx.Done():
						return
					}
				}
			}
		})
	}
	for {
		select {
		case <-ctx.Done():
			return
		case a := <-want:
			// Acknowledgements without a passive wait for this: persist now; requests arriving
			// meanwhile are covered by the next one (group commit).
			n.logPersist(n.persistApp(ctx, a, term, false, nil))
		case <-settle.C:
			// No passive has started streaming: nobody else holds what was replayed.
			if sess := n.session(); sess == nil {
				n.logPersist(n.persistAll(ctx, term, false))
			}
		case <-interval.C:
			n.logPersist(n.persistAll(ctx, term, false))
		case <-check.C:
			failing := false
			for _, a := range n.apps {
				a.mu.Lock()
				failing = failing || a.persistErr != ""
				a.mu.Unlock()
			}
			pressure := false
			if sess := n.session(); sess != nil && sess.MaxQueue() > 0 {
				b, _ := sess.QueueBytes()
				pressure = b > sess.MaxQueue()/2
			}
			if now := n.clock.Now(); (pressure || failing) && now.Sub(lastPressure) > n.timing.PressureGap {
				lastPressure = now
				if pressure {
					n.m.pressurePersists.Inc()
				}
				n.logPersist(n.persistAll(ctx, term, false))
			}
		}
	}
}

func (n *Node) logPersist(err error) {
	if err != nil && !errors.Is(err, errNotLeading) && !errors.Is(err, context.Canceled) {
		n.log.Warn("persist failed; will retry", "err", err)
	}
}

// connector keeps a sync session to the passive while active: it finds the peer in the cluster
// database, dials it and gives it a fresh snapshot point per app.
func (n *Node) connector(ctx context.Context, term int64) {
	var lastErr string
	n.dialErr.Store("")
	for ctx.Err() == nil {
		if sess := n.session(); sess != nil {
			select {
			case <-ctx.Done():
				return
			case <-sess.Done():
				n.log.Warn("passive disconnected; continuing alone", "passive", sess.PeerID(), "err", sess.Err())
				continue
			}
		}
		peer, addr := n.findPeer()
		if peer == "" {
			sleep(ctx, n.cfg.HeartbeatInterval)
			continue
		}
		dctx, cancel := context.WithTimeout(ctx, n.timing.DialTimeout)
		sess, err := eventsync.Dial(dctx, addr, peer, eventsync.DialConfig{
			Group: n.cfg.Group, NodeID: n.cfg.NodeID, Token: n.cfg.AuthToken, Term: term, Logger: n.log,
			PingInterval: n.timing.SyncPing, LivenessTimeout: n.timing.SyncLiveness,
		})
		cancel()
		if err != nil {
			if err.Error() != lastErr {
				n.log.Warn("cannot connect to passive", "passive", peer, "addr", addr, "err", err)
				lastErr = err.Error()
				n.dialErr.Store(lastErr)
			}
			sleep(ctx, n.timing.DialRetry)
			continue
		}
		lastErr = ""
		n.dialErr.Store("")
		n.mu.Lock()
		if n.activeCancel == nil || ctx.Err() != nil {
			n.mu.Unlock()
			sess.Close(nil)
			return
		}
		n.sess = sess
		n.mu.Unlock()
		n.log.Info("passive joined; sending fresh snapshot points", "passive", peer, "term", term)
		for _, a := range n.apps {
			if err := n.persistApp(ctx, a, term, true, sess); err != nil {
				n.log.Warn("snapshot point for joining passive not persisted yet; will retry", "app", a.name, "err", err)
			}
		}
	}
}

// findPeer picks a live node of the group other than this one.
func (n *Node) findPeer() (id, addr string) {
	for _, nd := range n.runner.View().Nodes {
		if nd.NodeID == n.cfg.NodeID || nd.HeartbeatAge > n.cfg.Lease {
			continue
		}
		if a := nd.Properties[cluster.PropSyncAddr]; a != "" {
			return nd.NodeID, a
		}
	}
	return "", ""
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
