package ha

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/sink"
	_ "github.com/streamha/streamha/node/sink/all" // the sink types
)

// idemWindowSize is how many idempotency keys each app remembers (a variable for tests).
var idemWindowSize = 100_000

// appState is one stream app on this node. On the active it holds the engine runtime and the
// outputs awaiting their sinks; on the passive only its identity (the queue lives in the sync
// server). All fields below mu are guarded by it; the lock is held only for in-memory work.
type appState struct {
	name  string
	app   *engine.App
	sinky map[string][]engine.SinkSpec // output streams that have sinks
	log   *slog.Logger

	mu sync.Mutex
	// lastStatus is the app's part of the node's status as last read under mu: the heartbeat
	// reports it when mu is busy (Node.status).
	lastStatus atomic.Pointer[AppStatus]
	rt         *engine.Runtime // nil unless active
	term       int64
	idem       *idemWindow
	outbox     []*engine.Output // outputs of applied inputs not yet written by the sinks, in order
	// outBytes estimates the outbox's memory (outputBytes), also counted in budget; per
	// stream, how many outputs and bytes of the outbox are that stream's.
	outBytes  int64
	streamOut map[string]*pendingCount
	budget    *outputBudget
	sinkStats []sinkStat // per sink, as the dispatcher last published them
	safe      uint64     // outputs of inputs up to here may be written
	// written counts the outputs the sinks have written since the process started.
	written uint64
	lastTS  int64 // newest event time applied, for ticks

	// On a passive (see hot.go): passive is false while the node promotes or serves, so the
	// applier leaves the state alone; hotGen is the queue the passive runtime follows (0: none,
	// cold); hotDelivered the active's delivered position; hotApplied the runtime's position
	// while hot (0 when cold or stalled), read without mu by acknowledgements and metrics.
	passive      bool
	hotGen       uint64
	hotDelivered uint64
	hotApplied   atomic.Uint64
	hot          atomic.Bool
	hotSkipped   int // outputs the passive runtime dropped as written by the active (metric at promotion)
	// kept describes a state kept from this node's own term (rt with term != 0 on a passive).
	kept keptState
	// warm is the stored revision the passive runtime was restored to (zero: none); a hot
	// promotion turns it into rebase, which lets the term's first persist continue the previous
	// term's snapshot chain (continueChain) instead of writing a base.
	warm   warmPoint
	rebase *warmPoint

	persistMu    sync.Mutex    // one persist of this app at a time
	committed    atomic.Uint64 // persistedSeq, readable without mu on the acknowledgement path
	persistedSeq uint64
	persistedRev int64
	persistedAt  time.Time
	persistErr   string
	persistFail  time.Time     // when persists began to fail; zero while they succeed
	persisted    chan struct{} // closed and replaced after each successful persist
	// chain is the stored revision chain the runtime's next delta continues (chain.go); mu.
	chain       chainState
	compacting  atomic.Bool
	wantPersist chan struct{} // an acknowledgement waits for a persist (no passive)
	// ilog is the input log chain (inputlog.go); wantLog asks the appender for an append.
	ilog    ilogState
	wantLog chan struct{}

	slab    outSlab         // copies of outputs for the outbox (emit, emitPassive), under mu
	wake    chan struct{}   // pokes the output dispatcher
	replays chan *replayReq // error store replays, served by the dispatcher (it owns the sinks)

	// The sinks' current failure, guarded by mu: the error of the newest failed write, the
	// sink that failed ("<stream>:<type>"), its kind (sink.Kind) and when the sinks began to
	// fail (zero while they work).
	sinkErr      string
	sinkErrKind  string
	sinkErrSince time.Time
}

func newAppState(a *engine.App, log *slog.Logger, budget *outputBudget) *appState {
	s := &appState{name: a.Name(), app: a, sinky: map[string][]engine.SinkSpec{}, log: log.With("app", a.Name()),
		budget: budget, streamOut: map[string]*pendingCount{},
		wake: make(chan struct{}, 1), replays: make(chan *replayReq), persisted: make(chan struct{}), wantPersist: make(chan struct{}, 1), passive: true,
		wantLog: make(chan struct{}, 1), ilog: ilogState{changed: make(chan struct{})}}
	for _, st := range a.Streams() {
		if len(st.Sinks) > 0 {
			s.sinky[st.Name] = st.Sinks
			s.streamOut[st.Name] = &pendingCount{}
		}
	}
	return s
}

// emit keeps outputs bound for a sink; the engine's *Output is only valid during the call.
func (s *appState) emit(o *engine.Output) {
	if c := s.streamOut[o.Stream]; c != nil { // the streams with a sink
		s.appendCountedLocked(s.slab.clone(o), c)
	}
}

// outSlab allocates the outbox's copies of outputs in chunks instead of two allocations per
// output: outputs enter and leave the outbox in order, so a chunk becomes garbage soon after
// its last output is trimmed (the collector keeps it while anything points into it).
type outSlab struct {
	outs []engine.Output
	vals []engine.Value
}

// slabOutputs and slabValues size the chunks: 8 KiB each, under the runtime's large-object
// size (a large allocation costs more than the small ones it replaces).
const (
	slabOutputs = 64
	slabValues  = 256
)

// clone is o.Clone with the copy and its values taken from the current chunks.
func (b *outSlab) clone(o *engine.Output) *engine.Output {
	if len(b.outs) == 0 {
		b.outs = make([]engine.Output, slabOutputs)
	}
	c := &b.outs[0]
	b.outs = b.outs[1:]
	*c = *o
	n := len(o.Data)
	if n == 0 {
		c.Data = nil // as Clone leaves it
		return c
	}
	if len(b.vals) < n {
		b.vals = make([]engine.Value, max(slabValues, n))
	}
	c.Data = b.vals[:n:n]
	copy(c.Data, o.Data)
	b.vals = b.vals[n:]
	return c
}

// activateLocked installs a restored runtime for term. The sinks are opened by the output
// dispatcher, off the promotion path (a file sink reads its tail to drop re-emitted outputs).
// mu is held by the caller.
func (s *appState) activateLocked(rt *engine.Runtime, term int64, idem *idemWindow, outbox []*engine.Output) {
	s.rt, s.term, s.idem = rt, term, idem
	s.hotGen, s.hotDelivered, s.kept, s.hotSkipped = 0, 0, keptState{}, 0
	s.warm = warmPoint{}
	s.setHot(false, 0)
	s.setOutboxLocked(outbox)
	s.safe = rt.LastSeq()
}

// resumeLocked serves the kept runtime again under a new term. mu is held by the caller.
func (s *appState) resumeLocked(term int64) error {
	if s.rt == nil {
		return fmt.Errorf("app %s: no kept state to resume", s.name)
	}
	s.term, s.kept = term, keptState{}
	return nil
}

// sinkError is a failure of one sink, to open it or to write to it.
type sinkError struct {
	sink string
	err  error
}

func (e *sinkError) Error() string { return e.sink + ": " + e.err.Error() }
func (e *sinkError) Unwrap() error { return e.err }

// deactivateLocked drops the runtime and its pending outputs (a demoted node rejoins empty).
func (s *appState) deactivateLocked() {
	s.rt, s.term, s.idem, s.safe = nil, 0, nil, 0
	s.warm, s.rebase = warmPoint{}, nil
	s.hotGen, s.hotDelivered, s.kept, s.hotSkipped = 0, 0, keptState{}, 0
	s.setHot(false, 0)
	s.stopLogLocked()
	s.setOutboxLocked(nil)
}

// keptState is a state an active kept on stopping (retainOnStop): after losing its lease, or
// after handing it over to Peer in a planned switchover.
type keptState struct {
	HandedOver bool
	Peer       string
}

func (s *appState) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// waitPersisted blocks until a committed snapshot covers seq: how an active with no passive
// makes an acknowledgement durable.
func (s *appState) waitPersisted(ctx context.Context, seq uint64) error {
	if s.committed.Load() >= seq {
		return nil
	}
	for {
		s.mu.Lock()
		done, ch := s.persistedSeq >= seq, s.persisted
		s.mu.Unlock()
		if done {
			return nil
		}
		select {
		case s.wantPersist <- struct{}{}:
		default:
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// markSafe lets outputs of inputs up to seq go to the sinks.
func (s *appState) markSafe(seq uint64) {
	s.mu.Lock()
	if seq > s.safe {
		s.safe = seq
	}
	s.mu.Unlock()
	s.poke()
}

// backoff is the sink error policy's wait: first, then doubled per failure up to max.
type backoff struct{ first, max, next time.Duration }

func newBackoff(cfg sink.Config) *backoff {
	b := &backoff{first: cfg.RetryInitial, max: cfg.RetryMax}
	if b.first <= 0 {
		b.first = 50 * time.Millisecond
	}
	if b.max < b.first {
		b.max = max(b.first, 5*time.Second)
	}
	b.next = b.first
	return b
}

func (b *backoff) wait() time.Duration {
	d := b.next
	b.next = min(b.next*2, b.max)
	return d
}

func (b *backoff) reset() { b.next = b.first }

// sinkFailed records a failed open or write of the sinks for status and metrics (failed gets
// the sink's name and the error's kind) and logs when the failure starts or changes.
func (s *appState) sinkFailed(err error, failed func(sinkName, kind string)) {
	name := "?"
	var se *sinkError
	if errors.As(err, &se) {
		name = se.sink
	}
	kind := sink.Kind(err)
	failed(name, kind)
	s.mu.Lock()
	// Logged when the failure starts or moves to another sink or kind, not per retry (the
	// message itself changes as outputs pile into the batch).
	first, changed := s.sinkErrSince.IsZero(), !strings.HasPrefix(s.sinkErr, name+": ") || s.sinkErrKind != kind
	if first {
		s.sinkErrSince = time.Now()
	}
	s.sinkErr, s.sinkErrKind = err.Error(), kind
	pending := len(s.outbox)
	s.mu.Unlock()
	if first || changed {
		s.log.Error("sink failed; its outputs stay pending and are written again with backoff, none is dropped",
			"sink", name, "kind", kind, "outputs_pending", pending, "err", err)
	}
}

// sinkOK clears a recorded sink failure after a successful write.
func (s *appState) sinkOK() {
	s.mu.Lock()
	since := s.sinkErrSince
	s.sinkErr, s.sinkErrKind, s.sinkErrSince = "", "", time.Time{}
	s.mu.Unlock()
	if !since.IsZero() {
		s.log.Info("sinks recovered", "failing_for", time.Since(since).Round(time.Millisecond))
	}
}

// sleepCtx waits d, or less if ctx ends first; it reports whether ctx is still live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// deliveredLocked is the input seq up to which every sink output is written: the outbox holds,
// in input order, exactly the outputs not yet written. mu is held by the caller.
func (s *appState) deliveredLocked() uint64 {
	switch {
	case len(s.outbox) > 0:
		return s.outbox[0].Seq - 1
	case s.rt != nil:
		return s.rt.LastSeq()
	}
	return 0
}

// dropDeliveredLocked removes from the outbox the outputs of inputs up to seq, which the previous
// active already wrote, and returns how many. mu is held by the caller.
func (s *appState) dropDeliveredLocked(seq uint64) int {
	_, n := s.trimUpToLocked(len(s.outbox), seq)
	return n
}
