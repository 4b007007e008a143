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

// idemWindowSize is how many idempotency keys each app remembers.
const idemWindowSize = 100_000

// appState is one stream app on this node. On the active it holds the engine runtime and the
// outputs awaiting their sinks; on the passive only its identity (the queue lives in the sync
// server). All fields below mu are guarded by it; the lock is held only for in-memory work.
type appState struct {
	name  string
	app   *engine.App
	sinky map[string][]engine.SinkSpec // output streams that have sinks
	log   *slog.Logger

	mu     sync.Mutex
	rt     *engine.Runtime // nil unless active
	term   int64
	idem   *idemWindow
	outbox []*engine.Output // outputs of applied inputs not yet written by the sinks, in order
	safe   uint64           // outputs of inputs up to here may be written
	lastTS int64            // newest event time applied, for ticks

	persistMu    sync.Mutex    // one persist of this app at a time
	committed    atomic.Uint64 // persistedSeq, readable without mu on the acknowledgement path
	persistedSeq uint64
	persistedRev int64
	persistedAt  time.Time
	persistErr   string
	persisted    chan struct{} // closed and replaced after each successful persist
	wantPersist  chan struct{} // an acknowledgement waits for a persist (no passive)

	wake chan struct{} // pokes the output dispatcher

	// The sinks' current failure, guarded by mu: the error of the newest failed write, the
	// sink that failed ("<stream>:<type>"), its kind (sink.Kind) and when the sinks began to
	// fail (zero while they work).
	sinkErr      string
	sinkErrKind  string
	sinkErrSince time.Time
}

func newAppState(a *engine.App, log *slog.Logger) *appState {
	s := &appState{name: a.Name(), app: a, sinky: map[string][]engine.SinkSpec{}, log: log.With("app", a.Name()),
		wake: make(chan struct{}, 1), persisted: make(chan struct{}), wantPersist: make(chan struct{}, 1)}
	for _, st := range a.Streams() {
		if len(st.Sinks) > 0 {
			s.sinky[st.Name] = st.Sinks
		}
	}
	return s
}

// emit keeps outputs bound for a sink; the engine's *Output is only valid during the call.
func (s *appState) emit(o *engine.Output) {
	if _, ok := s.sinky[o.Stream]; ok {
		s.outbox = append(s.outbox, o.Clone())
	}
}

// activateLocked installs a restored runtime for term. The sinks are opened by the output
// dispatcher, off the promotion path (a file sink reads its tail to drop re-emitted outputs).
// mu is held by the caller.
func (s *appState) activateLocked(rt *engine.Runtime, term int64, idem *idemWindow, outbox []*engine.Output) {
	s.rt, s.term, s.idem, s.outbox = rt, term, idem, outbox
	s.safe = rt.LastSeq()
}

// resumeLocked serves the kept runtime again under a new term. mu is held by the caller.
func (s *appState) resumeLocked(term int64) error {
	if s.rt == nil {
		return fmt.Errorf("app %s: no kept state to resume", s.name)
	}
	s.term = term
	return nil
}

// namedSink is an open sink with its name in metrics and status: "<stream>:<type>".
type namedSink struct {
	name string
	sink.Sink
}

// sinkError is a failure of one sink, to open it or to write to it.
type sinkError struct {
	sink string
	err  error
}

func (e *sinkError) Error() string { return e.sink + ": " + e.err.Error() }
func (e *sinkError) Unwrap() error { return e.err }

func (s *appState) openSinks(cfg sink.Config) (map[string][]namedSink, error) {
	sinks := map[string][]namedSink{}
	for stream, specs := range s.sinky {
		for _, spec := range specs {
			name := stream + ":" + spec.Type
			sk, err := sink.OpenConfig(spec, s.name, stream, s.log, cfg)
			if err != nil {
				closeSinks(sinks)
				return nil, &sinkError{name, fmt.Errorf("open: %w", err)}
			}
			sinks[stream] = append(sinks[stream], namedSink{name, sk})
		}
	}
	return sinks, nil
}

// deactivateLocked drops the runtime and its pending outputs (a demoted node rejoins empty).
func (s *appState) deactivateLocked() {
	s.rt, s.term, s.idem, s.outbox, s.safe = nil, 0, nil, nil, 0
}

func closeSinks(m map[string][]namedSink) {
	for _, l := range m {
		for _, sk := range l {
			_ = sk.Close()
		}
	}
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

// idleReport spaces the delivered positions an idle dispatcher reports: every acknowledgement
// wakes it, and the passive needs the position only by the time it might promote.
const idleReport = 50 * time.Millisecond

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

// dispatch opens the sinks, then writes safe outputs to them until ctx ends, removing them from
// the outbox only once written (so a snapshot taken meanwhile still carries them). leading is
// checked before every write: a deposed node never writes. After each write, delivered gets the
// input seq up to which every sink output is written. A failed open or write is the sink error
// policy's business: it is recorded (status, and failed for the metric), and the same outputs
// are written again after a backoff (cfg.RetryInitial doubling to cfg.RetryMax), forever: they
// stay pending, delivered does not advance, and the outbox bound pushes back on ingest. The
// sinks are closed on return.
func (s *appState) dispatch(ctx context.Context, leading func() bool, delivered func(uint64), cfg sink.Config, failed func(sinkName, kind string)) {
	retry := newBackoff(cfg)
	defer func() { // the failure was this dispatcher's: a stopped one has no sinks open
		s.mu.Lock()
		s.sinkErr, s.sinkErrKind, s.sinkErrSince = "", "", time.Time{}
		s.mu.Unlock()
	}()
	var sinks map[string][]namedSink
	for {
		var err error
		if sinks, err = s.openSinks(cfg); err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		s.sinkFailed(err, failed)
		if !sleepCtx(ctx, retry.wait()) {
			return
		}
	}
	defer closeSinks(sinks)
	var lastIdle time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-time.After(200 * time.Millisecond):
		}
		for ctx.Err() == nil {
			s.mu.Lock()
			n := 0
			for n < len(s.outbox) && n < 4096 && s.outbox[n].Seq <= s.safe {
				n++
			}
			batch := s.outbox[:n:n]
			upTo := s.deliveredLocked()
			s.mu.Unlock()
			if n == 0 {
				// Idle: report the position too (clock ticks advance it with no output), at
				// most every idleReport; an app without sinks has nothing to report.
				if upTo > 0 && len(s.sinky) > 0 && time.Since(lastIdle) >= idleReport {
					lastIdle = time.Now()
					delivered(upTo)
				}
				break
			}
			if !leading() {
				return
			}
			if err := writeBatch(ctx, batch, sinks); err != nil {
				if ctx.Err() != nil {
					return
				}
				s.sinkFailed(err, failed)
				if !sleepCtx(ctx, retry.wait()) {
					return
				}
				continue
			}
			retry.reset()
			s.sinkOK()
			s.mu.Lock()
			if len(s.outbox) >= n && s.outbox[0] == batch[0] {
				s.outbox = s.outbox[n:]
			}
			upTo = s.deliveredLocked()
			s.mu.Unlock()
			if upTo > 0 {
				delivered(upTo)
			}
		}
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
	n := 0
	for n < len(s.outbox) && s.outbox[n].Seq <= seq {
		n++
	}
	s.outbox = s.outbox[n:]
	return n
}

func writeBatch(ctx context.Context, batch []*engine.Output, sinks map[string][]namedSink) error {
	byStream := map[string][]*engine.Output{}
	var order []string
	for _, o := range batch {
		if _, ok := byStream[o.Stream]; !ok {
			order = append(order, o.Stream)
		}
		byStream[o.Stream] = append(byStream[o.Stream], o)
	}
	for _, st := range order {
		for _, sk := range sinks[st] {
			if err := sk.Write(ctx, byStream[st]); err != nil {
				return &sinkError{sk.name, err}
			}
		}
	}
	return nil
}
