package ha

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/streamha/streamha/node/config"
	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/eventsync"
)

// Ingest errors, mapped to HTTP statuses and TCP ack codes at the edges.
var (
	ErrUnknownApp    = errors.New("unknown app")
	ErrUnknownStream = errors.New("unknown stream")
	ErrBadEvent      = errors.New("bad event")
	// ErrNotAcknowledged means the events may or may not have been applied, and are not safe:
	// the client should retry, with its Idempotency-Key.
	ErrNotAcknowledged = errors.New("not acknowledged")
)

// ErrBacklog means the sinks are not keeping up; nothing was applied, retry later.
var ErrBacklog = errors.New("output backlog: the sinks are not keeping up")

// awaitOutputRoom is the output back-pressure, checked before a batch is applied: it waits, at
// most maxWait, until the outputs pending for the sinks are under max_pending_output_bytes.
func (n *Node) awaitOutputRoom(ctx context.Context, maxWait time.Duration) error {
	if !n.outBudget.full() {
		return nil
	}
	n.m.backpressureWaits.Inc()
	if n.outBudget.wait(ctx, maxWait) {
		return nil
	}
	return fmt.Errorf("%w: %w (%d bytes pending, waited up to %s)", ErrBacklog, errOutputBacklog, n.outBudget.bytes.Load(), maxWait)
}

// Event is one decoded input event.
type Event struct {
	TS    int64 // epoch ms; 0 with HasTS false means "stamp on arrival"
	HasTS bool
	Data  []engine.Value
	// Raw, when set, is Data's engine.AppendValues encoding as received (binary ingest): it is
	// forwarded to the passive as is instead of being encoded again. Only read during Submit.
	Raw []byte
}

// Ingest applies a batch of events to app's stream and returns once they are safe per sync_mode:
// in the passive's queue (ack) or applied on the active (async). The whole batch is applied or
// none of it. key, when set, makes a retry return the first answer without applying again.
func (n *Node) Ingest(ctx context.Context, app, stream string, events []Event, key string) (Answer, error) {
	// An HTTP request waits for the sinks briefly (then 503 with Retry-After).
	p, err := n.submit(ctx, n.timing.HTTPBackpressureWait, app, stream, events, key)
	if err != nil {
		return Answer{}, err
	}
	return p.Wait(ctx)
}

// Pending is a submitted batch whose safety has not been confirmed yet.
type Pending struct {
	n        *Node
	a        *appState
	term     int64
	sess     Peer
	streamed bool // the inputs went to the passive on sess
	ans      Answer
	done     func()
}

// Submit applies a batch in order and returns without waiting for the passive, so a connection
// can pipeline batches; the caller must Wait on each Pending, in order, before acknowledging.
// While the sinks are behind (max_pending_output_bytes) it waits for them first, up to
// Timing.TCPBackpressureWait (its connection is not read meanwhile, so the client's window
// fills and it is held back; then a not-acknowledged ack).
func (n *Node) Submit(app, stream string, events []Event, key string) (*Pending, error) {
	return n.submit(context.Background(), n.timing.TCPBackpressureWait, app, stream, events, key)
}

func (n *Node) submit(ctx context.Context, room time.Duration, app, stream string, events []Event, key string) (*Pending, error) {
	a, ok := n.byName[app]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownApp, app)
	}
	def, ok := a.app.Stream(stream)
	if !ok || !def.Defined {
		return nil, fmt.Errorf("%w %q in app %q", ErrUnknownStream, stream, app)
	}
	if len(events) == 0 {
		return nil, fmt.Errorf("%w: no events", ErrBadEvent)
	}
	if err := n.checkLimits(events, key); err != nil {
		return nil, err
	}
	for i, ev := range events {
		if err := def.CheckValues(ev.Data); err != nil {
			return nil, fmt.Errorf("%w: event %d: %v", ErrBadEvent, i, err)
		}
	}
	if err := n.awaitOutputRoom(ctx, room); err != nil {
		return nil, err
	}
	n.inflight.Add(1)
	term, serving := n.runner.Serving()
	if !serving || n.draining.Load() {
		// Not taken here: a held request must not hold up a switchover's drain.
		n.inflight.Add(-1)
		if !n.holdForServing(ctx) {
			return nil, n.notActive()
		}
		n.inflight.Add(1)
		if term, serving = n.runner.Serving(); !serving || n.draining.Load() {
			n.inflight.Add(-1)
			return nil, n.notActive()
		}
	}
	sess := n.session()
	ans, streamed, err := n.apply(a, term, stream, events, key, sess)
	if err != nil {
		n.inflight.Add(-1)
		return nil, err
	}
	return &Pending{n: n, a: a, term: term, sess: sess, streamed: streamed, ans: ans, done: func() { n.inflight.Add(-1) }}, nil
}

// Wait returns the batch's answer once it is safe, or why it is not acknowledged.
func (p *Pending) Wait(ctx context.Context) (Answer, error) {
	defer p.done()
	n := p.n
	ans, err := n.waitSafe(ctx, p.a, p.sess, p.streamed, p.ans)
	if err != nil {
		return Answer{}, err
	}
	if !n.runner.Leading(p.term) {
		return Answer{}, fmt.Errorf("%w: leadership lost at term %d before the events were safe", ErrNotAcknowledged, p.term)
	}
	if !ans.Duplicate {
		n.m.ingested.Add(float64(ans.Accepted))
	}
	return ans, nil
}

// apply sequences, forwards and applies the batch under the app's lock.
func (n *Node) apply(a *appState, term int64, stream string, events []Event, key string, sess Peer) (Answer, bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.rt == nil || a.term != term {
		return Answer{}, false, n.notActive()
	}
	if key != "" {
		if prev, ok := a.idem.get(key); ok {
			prev.Duplicate = true
			return prev, false, nil
		}
	}
	now := time.Now().UnixMilli()
	first := a.rt.LastSeq() + 1
	entries := make([]eventsync.Entry, len(events))
	var enc []byte
	for i, ev := range events {
		ts := ev.TS
		if !ev.HasTS {
			ts = now
		}
		data := ev.Raw
		if data == nil {
			// One buffer for the whole batch; earlier slices stay valid if it grows.
			start := len(enc)
			enc = engine.AppendValues(enc, ev.Data)
			data = enc[start:len(enc):len(enc)]
		}
		entries[i] = eventsync.Entry{Seq: first + uint64(i), TS: ts, Stream: stream, Data: data}
	}
	last := first + uint64(len(events)) - 1
	ans := Answer{Accepted: len(events), FirstSeq: first, LastSeq: last}
	if key != "" {
		entries[len(entries)-1].Key = key
		entries[len(entries)-1].KeyCount = uint32(len(events))
	}
	streamed := false
	if sess != nil {
		var err error
		if streamed, err = sess.Send(a.name, entries); err != nil {
			n.log.Warn("sync send failed; continuing alone", "app", a.name, "err", err)
		}
	}
	for i, ev := range events {
		in := engine.Input{Seq: entries[i].Seq, TS: entries[i].TS, Stream: stream, Data: ev.Data}
		if err := a.rt.Apply(in, a.emit); err != nil {
			// Inputs were validated before; an engine error here is a bug, and the log must say so.
			n.log.Error("engine rejected a validated input", "app", a.name, "seq", in.Seq, "err", err)
			return Answer{}, false, fmt.Errorf("%w: %v", ErrBadEvent, err)
		}
		if entries[i].TS > a.lastTS {
			a.lastTS = entries[i].TS
		}
	}
	if key != "" {
		a.idem.put(key, ans)
	}
	a.logInputsLocked(entries, streamed)
	return ans, streamed, nil
}

// waitSafe waits until the batch is safe, then releases its outputs. In ack mode that means
// durable beyond this node (see durable); in async mode, applied.
//
// Answer.Alone follows one rule in both modes: it is set unless a passive holds the batch (ack
// mode: acknowledged it; async mode: it was sent to one, which cannot be confirmed without
// waiting). A duplicate applied nothing and never carries it.
func (n *Node) waitSafe(ctx context.Context, a *appState, sess Peer, streamed bool, ans Answer) (Answer, error) {
	if n.cfg.SyncMode != config.SyncAck {
		ans.Alone = !streamed && !ans.Duplicate
		a.markSafe(ans.LastSeq)
		return ans, nil
	}
	a.mu.Lock()
	already := a.safe >= ans.LastSeq
	a.mu.Unlock()
	if already {
		// Made safe meanwhile by a later batch or by a snapshot that covers it: held by the
		// passive only if the passive acknowledged it, whatever made it safe (batchSafe's rule).
		var acked uint64
		if streamed && sess.Acked(a.name, ans.LastSeq) {
			acked = ans.LastSeq
		}
		_, ans.Alone = batchSafe(streamed, acked, 0, 0, ans.LastSeq)
	} else {
		wctx, cancel := context.WithTimeout(ctx, n.timing.AckTimeout)
		defer cancel()
		alone, err := n.durable(wctx, a, sess, streamed, ans.LastSeq)
		if err != nil {
			// The batch is applied either way: release its outputs once it is durable even
			// though nobody waits for the answer any more (a client that hung up).
			n.releaseWhenDurable(a, sess, streamed, ans.LastSeq)
			return Answer{}, fmt.Errorf("%w: seq %d neither held by the passive nor persisted: %v", ErrNotAcknowledged, ans.LastSeq, err)
		}
		ans.Alone = alone
	}
	if ans.Duplicate {
		ans.Alone = false
	}
	a.markSafe(ans.LastSeq)
	return ans, nil
}

// durable waits until input seq of a is held beyond this node's memory: in the passive's queue
// (sent on sess, whose snapshot point for the app is committed, so the queue continues a
// snapshot without a hole), or alone in the input log after a committed snapshot or in a
// committed snapshot (aloneDurable). Safety is thus cumulative: every input up to seq is
// durable too.
func (n *Node) durable(ctx context.Context, a *appState, sess Peer, streamed bool, seq uint64) (alone bool, err error) {
	// batchSafe is the rule; the waits below reach it.
	acked := uint64(0)
	if streamed {
		err := sess.Wait(ctx, a.name, seq)
		if err == nil {
			acked = seq
		} else if !errors.Is(err, eventsync.ErrSessionClosed) {
			return false, err
		}
	}
	var start uint64
	if streamed {
		start, _ = sess.StartSeq(a.name)
	}
	if _, alone := batchSafe(streamed, acked, start, 0, seq); alone {
		return true, n.aloneDurable(ctx, a, seq)
	}
	return false, a.waitPersisted(ctx, start)
}

// tick feeds a clock tick through the log, so time windows move on the active, on the passive's
// replay, and in a restore alike.
func (n *Node) tick(a *appState, term int64, now int64) {
	if n.draining.Load() {
		return // a switchover's snapshot must cover every input: the clock waits for the peer
	}
	sess := n.session()
	a.mu.Lock()
	if a.rt == nil || a.term != term {
		a.mu.Unlock()
		return
	}
	if now < a.lastTS {
		now = a.lastTS
	}
	e := eventsync.Entry{Seq: a.rt.LastSeq() + 1, TS: now}
	streamed := false
	if sess != nil {
		streamed, _ = sess.Send(a.name, []eventsync.Entry{e})
	}
	before := len(a.outbox)
	if err := a.rt.Apply(engine.Input{Seq: e.Seq, TS: e.TS}, a.emit); err != nil {
		n.log.Error("engine rejected a tick", "app", a.name, "err", err)
	}
	emitted := len(a.outbox) > before
	a.logInputsLocked([]eventsync.Entry{e}, streamed)
	a.mu.Unlock()
	switch {
	case n.cfg.SyncMode == config.SyncAsync:
		a.markSafe(e.Seq)
	case streamed || emitted:
		// The tick's outputs (time windows closing) wait until the tick is durable, like an
		// event's. A tick that emitted nothing and went nowhere needs no persist of its own:
		// the next durable input covers it.
		n.releaseWhenDurable(a, sess, streamed, e.Seq)
	}
}

// releaseWhenDurable lets the outputs of inputs up to seq go out once seq is durable, in the
// background, bounded by Timing.AckTimeout (a later durable input releases them otherwise). The
// goroutine belongs to the active's term: a demotion ends it and waits for it; once the node
// stops serving there is nothing to release.
func (n *Node) releaseWhenDurable(a *appState, sess Peer, streamed bool, seq uint64) {
	n.mu.Lock()
	actx := n.activeCtx
	n.mu.Unlock()
	if actx == nil {
		return
	}
	n.activeWork.Go(func() {
		ctx, cancel := context.WithTimeout(actx, n.timing.AckTimeout)
		defer cancel()
		if _, err := n.durable(ctx, a, sess, streamed, seq); err == nil {
			a.markSafe(seq)
		}
	})
}
