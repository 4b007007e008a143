package ha

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/eventsync"
)

// hotBatch bounds the inputs one applier step applies under the app's lock.
const hotBatch = 4096

// The hot passive. Each app has an applier that runs for the node's life: on a passive it keeps
// a runtime in step with the queue (the active's inputs, in sequence order, on the active's
// timestamps), with the outputs the active has not reported written in the outbox and the
// idempotency keys in the window. A promotion then has nothing to restore and nothing (or
// little) to replay. The queue is unchanged: it acknowledges, it is trimmed by the active's
// snapshots, and it is what a cold promotion replays. Applying is asynchronous to acknowledging:
// an acknowledged input is held by the queue whether or not it has been applied yet.

// applier keeps a's passive runtime in step with the queue until ctx ends (see nextHot).
func (n *Node) applier(ctx context.Context, a *appState) {
	var failedRev int64
	var retryAt time.Time
	for ctx.Err() == nil {
		a.mu.Lock()
		passive := a.passive
		v := hotView{Has: a.isHotLocked(), Gen: a.hotGen, FailedRev: failedRev, RetryAt: retryAt}
		if v.Has {
			v.Seq = a.rt.LastSeq()
		}
		a.mu.Unlock()
		want := 0
		if v.Has {
			want = hotBatch
		}
		f := n.server.Read(a.name, v.Seq, want)
		act := hotIdle
		if passive {
			q := queueView{Term: f.Term, Gen: f.Gen, Last: f.Last, Persisted: f.Persisted, Revision: f.Revision}
			if len(f.Entries) > 0 {
				q.First = f.Entries[0].Seq
			}
			act = nextHot(v, q, n.clock.Now())
		}
		switch act {
		case hotApply:
			if err := n.hotApply(a, f); err != nil {
				n.m.hotFailures.Inc()
				n.log.Error("passive runtime failed; the app is cold until the next snapshot the active reports", "app", a.name, "err", err)
				n.hotDrop(a, f.Gen)
				failedRev, retryAt = f.Revision, n.clock.Now().Add(n.timing.HotRetry)
			}
			continue
		case hotWarm:
			if err := n.hotWarm(ctx, a, f); err != nil && ctx.Err() == nil {
				n.m.hotFailures.Inc()
				n.log.Warn("passive cannot warm from the active's snapshot; cold until it can", "app", a.name, "revision", f.Revision, "err", err)
				failedRev, retryAt = f.Revision, n.clock.Now().Add(n.timing.HotRetry)
				break
			}
			continue
		case hotDrop:
			n.hotDrop(a, f.Gen)
			continue
		case hotIdle:
			if v.Has {
				a.mu.Lock()
				if a.isHotLocked() && a.hotGen == f.Gen {
					a.setHotDeliveredLocked(f.Delivered)
					a.setHot(true, a.rt.LastSeq())
				}
				a.mu.Unlock()
			}
		case hotStall:
			a.setHot(false, 0)
		}
		var retry <-chan time.Time
		var t *time.Timer
		if !retryAt.IsZero() {
			t = time.NewTimer(max(retryAt.Sub(n.clock.Now()), time.Millisecond))
			retry = t.C
		}
		select {
		case <-ctx.Done():
		case <-f.Changed:
		case <-retry:
			retryAt = time.Time{}
		}
		if t != nil {
			t.Stop()
		}
	}
}

// isHotLocked reports whether a holds a passive runtime following a queue (not an active's, nor
// one kept from this node's own term). mu is held.
func (s *appState) isHotLocked() bool { return s.rt != nil && s.term == 0 && s.hotGen != 0 }

// hotApply applies f's held inputs that follow the runtime, in order.
func (n *Node) hotApply(a *appState, f eventsync.Feed) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.passive || !a.isHotLocked() || a.hotGen != f.Gen {
		return nil
	}
	a.setHotDeliveredLocked(f.Delivered)
	for _, e := range f.Entries {
		if e.Seq != a.rt.LastSeq()+1 {
			break // a gap: the next step decides
		}
		if err := a.applyEntryLocked(e, a.emitPassive); err != nil {
			return err
		}
	}
	a.setHot(true, a.rt.LastSeq())
	return nil
}

// applyEntryLocked applies one queued input (event or tick) with its idempotency key, as a
// promotion's replay does. mu is held.
func (s *appState) applyEntryLocked(e eventsync.Entry, emit func(*engine.Output)) error {
	in := engine.Input{Seq: e.Seq, TS: e.TS, Stream: e.Stream}
	if e.Stream != "" {
		d, ok := s.app.Stream(e.Stream)
		if !ok {
			return fmt.Errorf("app %s: queued input %d for unknown stream %q", s.name, e.Seq, e.Stream)
		}
		vals, _, err := d.DecodeValues(e.Data)
		if err != nil {
			return fmt.Errorf("app %s: queued input %d: %w", s.name, e.Seq, err)
		}
		in.Data = vals
	}
	if err := s.rt.Apply(in, emit); err != nil && !errors.Is(err, engine.ErrApplied) {
		return fmt.Errorf("app %s: apply input %d: %w", s.name, e.Seq, err)
	}
	if e.Key != "" {
		s.idem.put(e.Key, Answer{Accepted: int(e.KeyCount), FirstSeq: e.Seq - uint64(e.KeyCount) + 1, LastSeq: e.Seq})
	}
	if e.TS > s.lastTS {
		s.lastTS = e.TS
	}
	return nil
}

// emitPassive keeps the outputs a promotion would emit: those bound for a sink, of inputs after
// the position the active reported written. mu is held (the runtime runs under it).
func (s *appState) emitPassive(o *engine.Output) {
	if c := s.streamOut[o.Stream]; c != nil { // the streams with a sink
		if keepOutput(o.Seq, s.hotDelivered) {
			s.appendCountedLocked(s.slab.clone(o), c)
		} else {
			s.hotSkipped++
		}
	}
}

// setHotDeliveredLocked records the active's delivered position and drops the outputs it
// covers. mu is held.
func (s *appState) setHotDeliveredLocked(seq uint64) {
	if seq > s.hotDelivered {
		s.hotDelivered = seq
	}
	s.hotSkipped += s.dropDeliveredLocked(s.hotDelivered)
}

// hotWarm restores the snapshot revision the active reported committed (f.Revision at
// f.Persisted) as the passive runtime of queue f.Gen; the inputs after it follow from the queue.
func (n *Node) hotWarm(ctx context.Context, a *appState, f eventsync.Feed) error {
	p, _, err := n.loadChain(ctx, a, f.Revision)
	if err != nil {
		return fmt.Errorf("revision %d: %w", f.Revision, err)
	}
	s := p.snap
	if s.LastSeq != f.Persisted {
		return fmt.Errorf("revision %d covers seq %d, the active reported %d", f.Revision, s.LastSeq, f.Persisted)
	}
	idem := idemFromEnvelope(p.env)
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.passive {
		return nil
	}
	if cur := n.server.Read(a.name, 0, 0); cur.Gen != f.Gen {
		return nil // the queue changed meanwhile; the next step decides
	}
	if a.rt != nil && a.term != 0 {
		n.log.Info("the new active's snapshot supersedes the state kept from this node's term", "app", a.name, "kept_term", a.term, "revision", f.Revision)
	}
	a.rt, a.term, a.idem, a.safe, a.kept = p.rt, 0, idem, 0, keptState{}
	a.warm, a.rebase = warmPoint{rev: s.Revision, term: s.Term, seq: s.LastSeq, id: p.rt.Revision()}, nil
	a.hotGen, a.hotDelivered = f.Gen, f.Delivered
	a.setOutboxLocked(p.env.Outbox)
	a.dropDeliveredLocked(a.hotDelivered)
	if c := p.rt.Clock(); c > a.lastTS {
		a.lastTS = c
	}
	a.setHot(true, p.rt.LastSeq())
	n.log.Info("passive is hot: restored the active's snapshot and follows its inputs", "app", a.name, "revision", f.Revision, "seq", s.LastSeq)
	return nil
}

// hotDrop drops a's passive runtime (cold): its queue is gone, or it failed.
func (n *Node) hotDrop(a *appState, gen uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.passive || !a.isHotLocked() {
		return
	}
	a.deactivateLocked()
	n.log.Info("passive runtime dropped: cold until the active's next snapshot", "app", a.name)
}

// tracker counts goroutines of one kind so that a demotion (or a stop) can wait for them; once
// closed it refuses new ones until reopened.
type tracker struct {
	mu     sync.Mutex
	wg     sync.WaitGroup
	closed bool
}

// enter registers a goroutine; false when closed.
func (t *tracker) enter() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.wg.Add(1)
	return true
}

func (t *tracker) exit() { t.wg.Done() }

// Go runs fn in a tracked goroutine; false (fn not run) when closed.
func (t *tracker) Go(fn func()) bool {
	if !t.enter() {
		return false
	}
	go func() {
		defer t.exit()
		fn()
	}()
	return true
}

// closeAndWait refuses new goroutines and waits for the running ones.
func (t *tracker) closeAndWait() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.wg.Wait()
}

// reopen accepts goroutines again (after closeAndWait returned).
func (t *tracker) reopen() {
	t.mu.Lock()
	t.closed = false
	t.mu.Unlock()
}

// setHot publishes whether a's passive runtime is in step and its position.
func (s *appState) setHot(hot bool, seq uint64) {
	s.hotApplied.Store(seq)
	s.hot.Store(hot)
}
