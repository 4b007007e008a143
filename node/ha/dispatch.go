package ha

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/sink"
	"github.com/streamha/streamha/node/store"
)

// maxDispatch bounds the outputs one dispatcher round hands to the sinks: big enough to keep a
// batched http sink's pipeline full, small enough to report delivered positions often.
const maxDispatch = 16384

// gatherOutputs is the size of a round after which the next one need not wait (dispatchHooks.gather).
const gatherOutputs = 4096

// dispatchGather is the active's dispatchHooks.gather: it adds at most that to an output's
// latency under a steady flow, none to an output arriving after a quiet spell.
const dispatchGather = time.Millisecond

// outputBytes estimates an output's memory in the outbox: the struct, its id, values and strings.
func outputBytes(o *engine.Output) int64 {
	n := int64(136 + len(o.ID) + 32*len(o.Data))
	for _, v := range o.Data {
		n += int64(len(v.Str()))
	}
	return n
}

// pendingCount is a number of outputs and their estimated bytes.
type pendingCount struct {
	outputs int
	bytes   int64
}

// outputBudget is the node's bound on pending outputs in bytes (max_pending_output_bytes),
// shared by its apps: ingest waits for room before applying a batch.
type outputBudget struct {
	max   int64
	bytes atomic.Int64
	mu    sync.Mutex
	freed chan struct{} // closed and replaced when outputs leave the outbox
}

func newOutputBudget(max int64) *outputBudget {
	return &outputBudget{max: max, freed: make(chan struct{})}
}

func (b *outputBudget) add(n int64) {
	if n == 0 {
		return
	}
	b.bytes.Add(n)
	if n < 0 {
		b.mu.Lock()
		close(b.freed)
		b.freed = make(chan struct{})
		b.mu.Unlock()
	}
}

// full reports whether the pending outputs are at or over the bound.
func (b *outputBudget) full() bool { return b.max > 0 && b.bytes.Load() >= b.max }

// wait blocks until the pending outputs are under the bound, for at most maxWait (or until ctx
// ends): false when there is still no room.
func (b *outputBudget) wait(ctx context.Context, maxWait time.Duration) bool {
	if !b.full() {
		return true
	}
	t := time.NewTimer(maxWait)
	defer t.Stop()
	for {
		b.mu.Lock()
		ch := b.freed
		b.mu.Unlock()
		if !b.full() {
			return true
		}
		select {
		case <-ch:
		case <-t.C:
			return !b.full()
		case <-ctx.Done():
			return false
		}
	}
}

// appendOutLocked adds an output to the outbox. mu is held by the caller.
func (s *appState) appendOutLocked(o *engine.Output) {
	s.appendCountedLocked(o, s.streamOut[o.Stream])
}

// appendCountedLocked is appendOutLocked with the counts of o's stream looked up (nil: none).
func (s *appState) appendCountedLocked(o *engine.Output, c *pendingCount) {
	sz := outputBytes(o)
	s.outbox = append(s.outbox, o)
	s.outBytes += sz
	if c != nil {
		c.outputs++
		c.bytes += sz
	}
	s.budget.add(sz)
}

// setOutboxLocked replaces the outbox (a restore, a promotion, a demotion). mu is held.
func (s *appState) setOutboxLocked(l []*engine.Output) {
	old := s.outBytes
	s.outbox, s.outBytes = nil, 0
	for _, c := range s.streamOut {
		*c = pendingCount{}
	}
	for _, o := range l {
		sz := outputBytes(o)
		s.outBytes += sz
		if c := s.streamOut[o.Stream]; c != nil {
			c.outputs++
			c.bytes += sz
		}
	}
	s.outbox = l
	s.budget.add(s.outBytes - old)
}

// trimLocked removes the first n outputs of the outbox and returns their counts per stream.
// mu is held by the caller.
func (s *appState) trimLocked(n int) map[string]pendingCount {
	gone, _ := s.trimUpToLocked(n, math.MaxUint64)
	return gone
}

// trimUpToLocked removes the outbox's leading outputs of inputs up to seq, at most n, in one
// pass, and returns their counts per stream and how many it removed. mu is held.
func (s *appState) trimUpToLocked(n int, seq uint64) (map[string]pendingCount, int) {
	gone := map[string]pendingCount{}
	var total int64
	// Outputs of one stream come in runs: the maps are touched once per run, not per output.
	var run pendingCount
	stream := ""
	flush := func() {
		if run.outputs == 0 {
			return
		}
		g := gone[stream]
		g.outputs += run.outputs
		g.bytes += run.bytes
		gone[stream] = g
		if c := s.streamOut[stream]; c != nil {
			c.outputs -= run.outputs
			c.bytes -= run.bytes
		}
		run = pendingCount{}
	}
	k := 0
	for _, o := range s.outbox[:n] {
		if o.Seq > seq {
			break
		}
		k++
		if o.Stream != stream {
			flush()
			stream = o.Stream
		}
		sz := outputBytes(o)
		total += sz
		run.outputs++
		run.bytes += sz
	}
	n = k
	flush()
	clear(s.outbox[:n]) // let the trimmed outputs be collected
	s.outbox = s.outbox[n:]
	s.outBytes -= total
	s.budget.add(-total)
	return gone, n
}

// SinkStatus is one sink of an app in /ha/status: its lag and error policy.
type SinkStatus struct {
	Sink    string `json:"sink"` // "<stream>:<type>"
	OnError string `json:"on_error"`
	// PendingOutputs and PendingBytes are the outputs of its stream that it has not written
	// yet (including those still waiting for their inputs to be safe): its lag.
	PendingOutputs int   `json:"pending_outputs"`
	PendingBytes   int64 `json:"pending_bytes"`
	Delivered      int64 `json:"delivered_outputs"`
	Dropped        int64 `json:"dropped_outputs,omitempty"`
	// Stored counts the outputs it failed to write that went to the error store
	// (on.error='store').
	Stored int64 `json:"stored_outputs,omitempty"`
}

// sinkRun is an open sink in the dispatcher, with how far it got: done is the number of
// leading outbox entries it has handled (written, or dropped under on.error='log'); handled
// counts its own stream's outputs among them.
type sinkRun struct {
	name    string // "<stream>:<type>"
	stream  string
	policy  string
	sk      sink.Sink
	done    int
	handled pendingCount
	stat    SinkStatus
	// outs and idx are writeRound's buffers: the outputs of the sink's stream in a round and
	// their places in it; whole: every output of the round is the sink's stream's (outs and
	// idx are not used).
	outs  []*engine.Output
	idx   []int
	whole bool
	// wrote are the outputs of the round's successful write (whole rounds), counted in handled
	// by settle unless the trim that follows takes all the sink handled.
	wrote []*engine.Output
}

func (s *appState) openSinks(cfg sink.Config) ([]*sinkRun, error) {
	var runs []*sinkRun
	for stream, specs := range s.sinky {
		seen := map[string]int{}
		for _, spec := range specs {
			name := stream + ":" + spec.Type
			// Two sinks of one type on a stream: the second is "<stream>:<type>#2", so the
			// error store can name the one a stored output goes back to.
			if seen[spec.Type]++; seen[spec.Type] > 1 {
				name += "#" + strconv.Itoa(seen[spec.Type])
			}
			opts, err := sink.Resolve(spec)
			var sk sink.Sink
			if err == nil {
				sk, err = sink.OpenConfig(spec, s.name, stream, s.log, cfg)
			}
			if err != nil {
				closeSinks(runs)
				return nil, &sinkError{name, fmt.Errorf("open: %w", err)}
			}
			policy := opts[sink.OnErrorOption]
			runs = append(runs, &sinkRun{name: name, stream: stream, policy: policy, sk: sk,
				stat: SinkStatus{Sink: name, OnError: policy}})
		}
	}
	return runs, nil
}

func closeSinks(runs []*sinkRun) {
	for _, r := range runs {
		_ = r.sk.Close()
	}
}

// dispatchHooks is how a dispatcher reports to its node.
type dispatchHooks struct {
	leading   func() bool                         // checked before every write
	delivered func(seq uint64)                    // every sink output of inputs up to seq is written
	failed    func(sinkName, kind string)         // a failed open or write (metric)
	wrote     func(sinkName string, n int)        // outputs written (metric)
	dropped   func(sinkName string, n int)        // outputs dropped under on.error='log' (metric)
	pending   func(sinkName string, p SinkStatus) // the sink's lag after a round (metrics)
	// store writes failed outputs to the error store under the dispatcher's term; nil once
	// it returns means they are durable (on.error='store').
	store  func(ctx context.Context, recs []store.ErrorRecord) error
	stored func(sinkName string, n int) // outputs stored under on.error='store' (metric)
	idle   time.Duration                // poll of an idle dispatcher (Timing.DispatchIdle)
	// gather is the least time from one round's start to the next's after a small round (0:
	// none): under a steady flow each round costs a write (and a sync), a position report to
	// the passive and the wake-ups on both nodes whatever its size, so rounds gather more.
	gather time.Duration
	report time.Duration // least time between idle position reports (Timing.IdleReport)
}

// dispatch opens the sinks, then writes safe outputs to them until ctx ends, removing them from
// the outbox only once every sink has handled them (so a snapshot taken meanwhile still carries
// them). Each sink keeps its own position in the outbox, so a sink that wrote part of a batch (a
// pipelined http sink) does not hold the others back nor get it again. leading is checked
// before every write: a deposed node never writes. After each round, delivered gets the input
// seq up to which every sink output is handled. After a round of fewer than gatherOutputs, the
// next one starts no sooner than h.gather after it began, so that under a steady flow rounds
// are fewer and bigger. A failed open or write is handled per the sink's
// on.error: wait (default) records it (status, and failed for the metric) and writes the same
// outputs again after a backoff (cfg.RetryInitial doubling to cfg.RetryMax), forever: they stay
// pending, delivered does not advance, and the output budget holds ingest back; log drops the
// outputs the error concerns with an error log line and a counter. The sinks are closed on
// return.
func (s *appState) dispatch(ctx context.Context, cfg sink.Config, h dispatchHooks) {
	retry := newBackoff(cfg)
	defer func() { // the failure was this dispatcher's: a stopped one has no sinks open
		s.mu.Lock()
		s.sinkErr, s.sinkErrKind, s.sinkErrSince = "", "", time.Time{}
		s.sinkStats = nil
		s.mu.Unlock()
	}()
	var runs []*sinkRun
	for {
		var err error
		if runs, err = s.openSinks(cfg); err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		s.sinkFailed(err, h.failed)
		if !sleepCtx(ctx, retry.wait()) {
			return
		}
	}
	defer closeSinks(runs)
	s.publishSinkStats(runs, h)
	// whole is the largest batch a sink sends: a round of more outputs than that is cut to
	// whole batches, the rest going with the next round (at once), so that under a steady flow
	// the requests leave full instead of one full and one small per round.
	whole := 1
	for _, r := range runs {
		if b, ok := r.sk.(sink.Batcher); ok {
			whole = max(whole, b.BatchSize())
		}
	}
	var lastIdle time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case req := <-s.replays:
			s.replay(ctx, req, runs, h)
		case <-time.After(h.idle):
		}
		for ctx.Err() == nil {
			select { // a replay is not held back by a backlog
			case req := <-s.replays:
				s.replay(ctx, req, runs, h)
			default:
			}
			s.mu.Lock()
			n := 0
			for n < len(s.outbox) && n < maxDispatch && s.outbox[n].Seq <= s.safe {
				n++
			}
			if n > whole {
				n -= n % whole
			}
			batch := s.outbox[:n:n]
			upTo := s.deliveredLocked()
			for _, r := range runs {
				// All of the outbox is the sink's stream's (one stream with sinks, the common
				// case): its outputs are the batch itself, not picked one by one.
				c := s.streamOut[r.stream]
				r.whole = c != nil && c.outputs == len(s.outbox)
			}
			s.mu.Unlock()
			if n == 0 {
				// Idle: report the position too (clock ticks advance it with no output), at
				// most every h.report; an app without sinks has nothing to report.
				if upTo > 0 && len(s.sinky) > 0 && time.Since(lastIdle) >= h.report {
					lastIdle = time.Now()
					h.delivered(upTo)
				}
				break
			}
			if !h.leading() {
				return
			}
			roundStart := time.Now()
			failure := s.writeRound(ctx, batch, runs, h)
			if ctx.Err() != nil {
				return
			}
			m := n
			for _, r := range runs {
				m = min(m, r.done)
			}
			if m > 0 {
				s.mu.Lock()
				s.written += uint64(m)
				if len(s.outbox) >= m && s.outbox[0] == batch[0] {
					for _, r := range runs {
						if r.done > m {
							r.settle() // before the trim clears the batch
						}
					}
					gone := s.trimLocked(m)
					for _, r := range runs {
						if r.done -= m; r.done == 0 {
							// It handled only trimmed outputs: none of the outbox is
							// counted, and its newly written ones need no counting.
							r.handled, r.wrote = pendingCount{}, nil
							continue
						}
						g := gone[r.stream]
						r.handled.outputs -= g.outputs
						r.handled.bytes -= g.bytes
					}
				} else { // not expected: start over, the sinks drop what they wrote by id
					for _, r := range runs {
						r.done, r.handled, r.wrote = 0, pendingCount{}, nil
					}
				}
				upTo = s.deliveredLocked()
				s.mu.Unlock()
				if upTo > 0 {
					h.delivered(upTo)
				}
			}
			for _, r := range runs {
				r.settle()
			}
			s.publishSinkStats(runs, h)
			if failure != nil {
				s.sinkFailed(failure, h.failed)
				if !sleepCtx(ctx, retry.wait()) {
					return
				}
				continue
			}
			retry.reset()
			s.sinkOK()
			if h.gather > 0 && n < gatherOutputs {
				if d := h.gather - time.Since(roundStart); d > 0 && !sleepCtx(ctx, d) {
					return
				}
			}
		}
	}
}

// writeRound hands batch (the outbox's first outputs) to every sink from its own position, and
// applies on.error to failures; it returns the failure of a sink under on.error='wait', which
// keeps its outputs pending.
func (s *appState) writeRound(ctx context.Context, batch []*engine.Output, runs []*sinkRun, h dispatchHooks) error {
	var failure error
	n := len(batch)
	defer func() { // outputs trimmed after the round must not stay reachable from the buffers
		for _, r := range runs {
			clear(r.outs)
		}
	}()
	for _, r := range runs {
		if r.done >= n {
			continue
		}
		var outs []*engine.Output
		base := r.done
		place := func(j int) int { return base + j } // the place in batch of outs[j]
		if r.whole {
			outs = batch[base:n]
		} else {
			outs, r.idx = r.outs[:0], r.idx[:0] // reused round to round, cleared after
			for i := r.done; i < n; i++ {
				if batch[i].Stream == r.stream {
					outs = append(outs, batch[i])
					r.idx = append(r.idx, i)
				}
			}
			r.outs = outs
			place = func(j int) int { return r.idx[j] }
		}
		if len(outs) == 0 {
			r.done = n
			continue
		}
		err := r.sk.Write(ctx, outs)
		if err == nil {
			r.done = n
			if r.whole {
				r.wrote = outs // counted by settle, unless trimmed at once
			} else {
				r.account(outs) // outs is cleared after the round
			}
			r.stat.Delivered += int64(len(outs))
			h.wrote(r.name, len(outs))
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		w, f := sink.Progress(err, len(outs))
		r.account(outs[:w])
		r.done = place(w) // everything before the first failed output is handled
		if w > 0 {
			r.stat.Delivered += int64(w)
			h.wrote(r.name, w)
		}
		se := &sinkError{r.name, err}
		kind := sink.Kind(err)
		lost := outs[w : w+f]
		switch r.policy {
		case sink.OnErrorLog:
			h.failed(r.name, kind)
			s.log.Error("sink failed; dropping its outputs as on.error='log' asks", "sink", r.name, "kind", kind,
				"outputs", len(lost), "first_id", lost[0].ID, "last_id", lost[len(lost)-1].ID, "err", err)
			r.stat.Dropped += int64(len(lost))
			h.dropped(r.name, len(lost))
		case sink.OnErrorStore:
			// Handled only once the store holds them: until the write commits they stay
			// pending like under wait, and a failed store write is retried with the sink.
			if serr := h.store(ctx, s.errorRecords(r, lost, err)); serr != nil {
				if failure == nil {
					failure = &sinkError{r.name, fmt.Errorf("%v; and the error store write failed: %w", err, serr)}
				}
				continue
			}
			h.failed(r.name, kind)
			s.log.Warn("sink failed; its outputs are in the error store (node errors list / replay)", "sink", r.name, "kind", kind,
				"outputs", len(lost), "first_id", lost[0].ID, "last_id", lost[len(lost)-1].ID, "err", err)
			r.stat.Stored += int64(len(lost))
			h.stored(r.name, len(lost))
		default:
			if failure == nil {
				failure = se
			}
			continue
		}
		r.account(lost)
		if w+f < len(outs) {
			r.done = place(w + f)
		} else {
			r.done = n
		}
	}
	return failure
}

// settle counts the outputs of the round's successful write as handled.
func (r *sinkRun) settle() {
	r.account(r.wrote)
	r.wrote = nil
}

// account counts outs (the sink's own stream's) as handled.
func (r *sinkRun) account(outs []*engine.Output) {
	for _, o := range outs {
		r.handled.outputs++
		r.handled.bytes += outputBytes(o)
	}
}

// sinkStat is a sink's figures as the dispatcher last published them: handled counts its
// stream's outputs in the outbox that it has handled, so that its lag can be computed live.
type sinkStat struct {
	SinkStatus
	stream  string
	handled pendingCount
}

// publishSinkStats records every sink's progress for status and metrics.
func (s *appState) publishSinkStats(runs []*sinkRun, h dispatchHooks) {
	stats := make([]sinkStat, len(runs))
	s.mu.Lock()
	for i, r := range runs {
		stats[i] = sinkStat{SinkStatus: r.stat, stream: r.stream, handled: r.handled}
	}
	s.sinkStats = stats
	lag := s.sinkLagLocked()
	s.mu.Unlock()
	for _, st := range lag {
		h.pending(st.Sink, st)
	}
}

// sinkLagLocked is every sink's status with its current lag. mu is held by the caller.
func (s *appState) sinkLagLocked() []SinkStatus {
	var out []SinkStatus
	for _, st := range s.sinkStats {
		c := s.streamOut[st.stream]
		st.PendingOutputs = c.outputs - st.handled.outputs
		st.PendingBytes = c.bytes - st.handled.bytes
		out = append(out, st.SinkStatus)
	}
	return out
}

// errOutputBacklog is wrapped by ErrBacklog answers of the output budget.
var errOutputBacklog = errors.New("pending outputs over max_pending_output_bytes")
