package ha

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/streamha/streamha/node/cluster"
	"github.com/streamha/streamha/node/config"
	"github.com/streamha/streamha/node/eventsync"
	"github.com/streamha/streamha/node/store"
)

// InputLog is the persistence database's input log (schema v6). In ack mode an active with no
// passive holding its inputs makes a batch durable by appending it there, one short write,
// instead of waiting for a snapshot of the whole state; a promotion replays the newest snapshot
// plus the log after it. A SnapshotStore that also implements InputLog enables it.
type InputLog interface {
	AppendInputs(ctx context.Context, r store.LogRecord) error
	InputLog(ctx context.Context, group, app string, after uint64) ([]store.LogRecord, error)
}

// Bounds of the input log on the active: one appended row holds at most maxLogRecordBytes of
// inputs; more than maxLogBufferBytes waiting to be appended (the database failing) gives the
// log up until the next snapshot, and acknowledgements wait for snapshots as before.
const (
	maxLogRecordBytes = 4 << 20
	maxLogBufferBytes = 64 << 20
)

// ilogState is an app's input log chain on the active, guarded by appState.mu. The chain is the
// snapshot at base (committed, or captured and being written) followed by log rows up to logged
// and the buffered inputs after it, with no hole: an input up to logged is durable once a
// snapshot at or after base is committed.
type ilogState struct {
	on     bool
	broken bool   // an input went unlogged (streamed to the passive): no chain until a snapshot capture
	gen    uint64 // incremented whenever the chain restarts, so a late append result is ignored
	base   uint64
	logged uint64
	buf    []eventsync.Entry // inputs after logged, in order, not yet appended (own copies)
	bytes  int64
	fenced bool      // an append was refused: a newer term exists, nothing more is acknowledged
	err    string    // the last failed append, "" after a success
	errAt  time.Time // when appends began to fail
	// changed is closed and replaced whenever logged, the chain or err change.
	changed chan struct{}
}

func (n *Node) inputLog() InputLog {
	if n.cfg.SyncMode != config.SyncAck {
		return nil
	}
	l, _ := n.opts.Snapshots.(InputLog)
	return l
}

func (s *appState) logSignalLocked() {
	close(s.ilog.changed)
	s.ilog.changed = make(chan struct{})
}

// startLogLocked starts the chain of a newly active app whose state is the snapshot at base (0:
// the empty state) plus the replayed inputs, of which the log already holds those up to
// logUpTo: the others (from the passive's queue) are appended under the new term, so the chain
// is complete without waiting for a first snapshot of the replayed state.
func (s *appState) startLogLocked(on bool, base, logUpTo uint64, replayed []eventsync.Entry) {
	gen := s.ilog.gen + 1
	s.logSignalLocked()
	logged := max(base, logUpTo)
	s.ilog = ilogState{on: on, gen: gen, base: base, logged: logged, changed: s.ilog.changed}
	if !on {
		return
	}
	k := 0
	for k < len(replayed) && replayed[k].Seq <= logged {
		k++
	}
	replayed = replayed[k:]
	for i, e := range replayed {
		if e.Seq != logged+uint64(i)+1 {
			s.ilog.broken = true // a gap (an accepted loss): the next snapshot restarts the chain
			return
		}
	}
	s.ilog.buf = append([]eventsync.Entry(nil), replayed...)
	for i := range s.ilog.buf {
		s.ilog.bytes += s.ilog.buf[i].Size()
	}
}

// stopLogLocked ends the chain (the app stops serving).
func (s *appState) stopLogLocked() {
	s.logSignalLocked()
	s.ilog = ilogState{gen: s.ilog.gen + 1, changed: s.ilog.changed}
}

// logInputsLocked adds applied inputs to the chain; streamed inputs (held by the passive
// instead) break it.
func (s *appState) logInputsLocked(es []eventsync.Entry, streamed bool) {
	l := &s.ilog
	if !l.on || l.broken {
		return
	}
	if streamed {
		s.breakLogLocked()
		return
	}
	size := 0
	for i := range es {
		size += len(es[i].Data)
	}
	data := make([]byte, 0, size)
	for _, e := range es {
		start := len(data)
		data = append(data, e.Data...)
		e.Data = data[start:len(data):len(data)]
		l.buf = append(l.buf, e)
		l.bytes += e.Size()
	}
	if l.bytes > maxLogBufferBytes {
		s.log.Warn("input log behind by more than its buffer; acknowledgements wait for snapshots until one is committed",
			"buffered_bytes", l.bytes, "err", l.err)
		s.breakLogLocked()
	}
}

func (s *appState) breakLogLocked() {
	s.ilog.broken, s.ilog.buf, s.ilog.bytes = true, nil, 0
	s.ilog.gen++
	s.logSignalLocked()
}

// logCaptureLocked runs when a snapshot of the state at seq is taken: a broken chain restarts
// from it.
func (s *appState) logCaptureLocked(seq uint64) {
	l := &s.ilog
	if l.on && l.broken {
		l.broken, l.base, l.logged, l.buf, l.bytes = false, seq, seq, nil, 0
		l.gen++
		s.logSignalLocked()
	}
}

// logCommittedLocked runs when the snapshot at seq is committed: buffered inputs it covers need
// no append any more.
func (s *appState) logCommittedLocked(seq uint64) {
	l := &s.ilog
	if !l.on || l.broken || seq < l.base {
		return
	}
	k := 0
	for k < len(l.buf) && l.buf[k].Seq <= seq {
		l.bytes -= l.buf[k].Size()
		k++
	}
	l.buf = l.buf[k:]
	l.base = seq
	l.logged = max(l.logged, seq)
	s.logSignalLocked()
}

// logAppender appends a's buffered inputs to the input log while the node leads term: each
// append takes everything buffered so far (group commit), up to maxLogRecordBytes.
func (n *Node) logAppender(ctx context.Context, a *appState, term int64, lg InputLog) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.wantLog:
		}
		for ctx.Err() == nil {
			a.mu.Lock()
			l := &a.ilog
			if a.term != term || !l.on || l.broken || len(l.buf) == 0 {
				a.mu.Unlock()
				break
			}
			gen, size, k := l.gen, int64(0), 0
			for k < len(l.buf) && (k == 0 || size+l.buf[k].Size() <= maxLogRecordBytes) {
				size += l.buf[k].Size()
				k++
			}
			es := l.buf[:k:k]
			a.mu.Unlock()
			begin := time.Now()
			err := lg.AppendInputs(ctx, store.LogRecord{Group: n.cfg.Group, App: a.name, FirstSeq: es[0].Seq, LastSeq: es[len(es)-1].Seq,
				Term: term, Payload: encodeLogEntries(es)})
			a.mu.Lock()
			if err != nil {
				if l.err == "" {
					l.errAt = time.Now()
				}
				l.err = err.Error()
				l.fenced = l.fenced || errors.Is(err, cluster.ErrFenced)
				a.logSignalLocked()
				a.mu.Unlock()
				n.m.logErrors.Inc()
				if errors.Is(err, cluster.ErrFenced) || ctx.Err() != nil {
					return
				}
				n.log.Warn("input log append failed; will retry", "app", a.name, "first", es[0].Seq, "last", es[len(es)-1].Seq, "err", err)
				if !sleepCtx(ctx, 100*time.Millisecond) {
					return
				}
				continue
			}
			l.err, l.errAt = "", time.Time{}
			if last := es[len(es)-1].Seq; l.gen == gen && last > l.logged {
				l.logged = last
				j := 0
				for j < len(l.buf) && l.buf[j].Seq <= last {
					l.bytes -= l.buf[j].Size()
					j++
				}
				l.buf = l.buf[j:]
			}
			a.logSignalLocked()
			a.mu.Unlock()
			n.m.logAppends.Inc()
			n.m.logSeconds.Observe(time.Since(begin).Seconds())
		}
	}
}

// aloneDurable waits until input seq of a is durable with no passive holding it: in the input
// log after a committed snapshot (one append), else in a committed snapshot (waitPersisted:
// the node has no input log, or the chain is broken because the inputs went to a passive that
// has left since).
func (n *Node) aloneDurable(ctx context.Context, a *appState, seq uint64) error {
	if n.inputLog() == nil {
		return a.waitPersisted(ctx, seq)
	}
	for {
		if a.committed.Load() >= seq {
			return nil
		}
		a.mu.Lock()
		l := &a.ilog
		if l.fenced {
			err := l.err
			a.mu.Unlock()
			return fmt.Errorf("input log: %w (%s)", cluster.ErrFenced, err)
		}
		if !l.on || l.broken || seq <= l.base {
			a.mu.Unlock()
			return a.waitPersisted(ctx, seq)
		}
		baseOK := a.persistedSeq >= l.base
		if baseOK && l.logged >= seq {
			a.mu.Unlock()
			return nil
		}
		ch, pch, needLog := l.changed, a.persisted, l.logged < seq
		a.mu.Unlock()
		if needLog {
			select {
			case a.wantLog <- struct{}{}:
			default:
			}
		}
		if !baseOK {
			select {
			case a.wantPersist <- struct{}{}:
			default:
			}
		}
		select {
		case <-ch:
		case <-pch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// readInputLog returns app's logged inputs in seq order; rows that fail their checksum or do
// not decode are left out (and logged): their inputs count as held by nobody. Where rows of two
// terms overlap (a restore that accepted a loss, then appended under its new term), the newer
// term wins from where its rows start, and older-term inputs after that are not history.
func (n *Node) readInputLog(ctx context.Context, app string) ([]eventsync.Entry, error) {
	lg, ok := n.opts.Snapshots.(InputLog)
	if !ok {
		return nil, nil
	}
	rows, err := lg.InputLog(ctx, n.cfg.Group, app, 0)
	if err != nil {
		return nil, fmt.Errorf("app %s: %w", app, err)
	}
	type termed struct {
		eventsync.Entry
		term int64
	}
	var all []termed
	for _, r := range rows {
		err := r.VerifyErr()
		var es []eventsync.Entry
		if err == nil {
			es, err = decodeLogEntries(r.Payload)
		}
		if err != nil {
			n.log.Error("input log row unusable", "app", app, "first", r.FirstSeq, "last", r.LastSeq, "term", r.Term, "err", err)
			continue
		}
		for _, e := range es {
			all = append(all, termed{e, r.Term})
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].Seq != all[j].Seq {
			return all[i].Seq < all[j].Seq
		}
		return all[i].term > all[j].term
	})
	var out []eventsync.Entry
	var last uint64
	var newest int64
	for _, e := range all {
		if (len(out) > 0 && e.Seq <= last) || e.term < newest {
			continue
		}
		out = append(out, e.Entry)
		last, newest = e.Seq, e.term
	}
	return out, nil
}

// contiguousTo is how far logged holds every input after seq after, without a hole.
func contiguousTo(logged []eventsync.Entry, after uint64) uint64 {
	next := after + 1
	for _, e := range logged {
		switch {
		case e.Seq < next:
		case e.Seq == next:
			next++
		default:
			return next - 1
		}
	}
	return next - 1
}

// mergeInputs merges two seq-ordered input lists after seq after, dropping duplicates.
func mergeInputs(a, b []eventsync.Entry, after uint64) []eventsync.Entry {
	out := make([]eventsync.Entry, 0, len(a)+len(b))
	i, j := 0, 0
	last := after
	for i < len(a) || j < len(b) {
		var e eventsync.Entry
		if j >= len(b) || (i < len(a) && a[i].Seq <= b[j].Seq) {
			e = a[i]
			i++
		} else {
			e = b[j]
			j++
		}
		if e.Seq > last {
			out = append(out, e)
			last = e.Seq
		}
	}
	return out
}

const logEncodingVersion = 1

// encodeLogEntries is the input log's row payload: a version byte, a count, then per input its
// seq, timestamp, stream ("" for a clock tick), value encoding, idempotency key and key count.
func encodeLogEntries(es []eventsync.Entry) []byte {
	size := 5
	for i := range es {
		size += 32 + len(es[i].Stream) + len(es[i].Data) + len(es[i].Key)
	}
	b := make([]byte, 0, size)
	b = append(b, logEncodingVersion)
	b = binary.BigEndian.AppendUint32(b, uint32(len(es)))
	for i := range es {
		e := &es[i]
		b = binary.BigEndian.AppendUint64(b, e.Seq)
		b = binary.BigEndian.AppendUint64(b, uint64(e.TS))
		b = appendBytes(b, []byte(e.Stream))
		b = appendBytes(b, e.Data)
		b = appendBytes(b, []byte(e.Key))
		b = binary.BigEndian.AppendUint32(b, e.KeyCount)
	}
	return b
}

var errLogEncoding = errors.New("input log row does not decode")

func decodeLogEntries(p []byte) ([]eventsync.Entry, error) {
	if len(p) < 5 || p[0] != logEncodingVersion {
		return nil, errLogEncoding
	}
	r := reader{b: p[1:]}
	n := r.u32()
	if r.err != nil || uint64(n) > uint64(len(p))/32 {
		return nil, errLogEncoding
	}
	out := make([]eventsync.Entry, 0, n)
	var stream string
	for i := uint32(0); i < n && r.err == nil; i++ {
		e := eventsync.Entry{Seq: r.u64(), TS: int64(r.u64())}
		if s := r.bytes(); string(s) == stream {
			e.Stream = stream
		} else {
			stream = string(s)
			e.Stream = stream
		}
		e.Data = r.bytes()
		e.Key = string(r.bytes())
		e.KeyCount = r.u32()
		out = append(out, e)
	}
	if r.err != nil || len(r.b) != 0 {
		return nil, errLogEncoding
	}
	return out, nil
}
