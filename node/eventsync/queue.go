package eventsync

import (
	"errors"
	"fmt"
	"sort"
	"sync/atomic"
)

// ErrQueueFull means appending would pass the queue's byte bound. Nothing is dropped silently:
// the passive refuses the batch and tells the active, which must persist to make room.
var ErrQueueFull = errors.New("passive queue full")

// Queue is the passive's replay queue: per app, the inputs received from the active in sequence
// order, trimmed when the active reports a committed snapshot. It is bounded by bytes. Inputs
// are kept as the frames they arrived in and decoded only at replay: the passive's cost per
// input stays a copy, and the garbage collector sees one object per frame, not per input. Pure
// data structure, no locking: the server serialises access.
type Queue struct {
	gen    uint64 // identity: every NewQueue gets a new one (clones keep it)
	max    int64
	bytes  int64
	events int64
	apps   map[string]*appQueue
}

// chunk is one entries frame of an app: inputs first..last, of which those above live are live.
type chunk struct {
	payload     []byte
	first, last uint64
	live        uint64 // inputs at or below live were trimmed or were duplicates
	count       int64  // live inputs
	bytes       int64  // weight of the live inputs
}

type appQueue struct {
	chunks    []chunk
	head      int    // chunks[head:] hold live inputs
	last      uint64 // highest seq ever appended
	persisted uint64 // seq covered by the newest committed snapshot the active reported
	revision  int64
	delivered uint64 // the active wrote every sink output of inputs up to here
}

// Gap is a range of sequence numbers missing from the queue after a snapshot: inputs the passive
// cannot replay.
type Gap struct {
	App         string
	First, Last uint64
}

func (g Gap) String() string { return fmt.Sprintf("%s: inputs %d..%d missing", g.App, g.First, g.Last) }

// NewQueue returns an empty queue bounded to maxBytes.
func NewQueue(maxBytes int64) *Queue {
	return &Queue{gen: queueGen.Add(1), max: maxBytes, apps: map[string]*appQueue{}}
}

// queueGen numbers queues, so a reader can tell a replaced queue from the one it read.
var queueGen atomic.Uint64

// Gen is the queue's identity (see Feed.Gen).
func (q *Queue) Gen() uint64 { return q.gen }

// chunksAfter copies app's chunks holding live inputs after seq `after`, up to about max inputs.
func (q *Queue) chunksAfter(app string, after uint64, max int) []chunk {
	a := q.apps[app]
	if a == nil {
		return nil
	}
	live := a.chunks[a.head:]
	i := sort.Search(len(live), func(i int) bool { return live[i].last > after })
	var out []chunk
	n := 0
	for ; i < len(live) && n < max; i++ {
		out = append(out, live[i])
		n += int(live[i].count)
	}
	return out
}

// decodeAfter decodes chunks' live inputs after seq `after`.
func decodeAfter(chunks []chunk, after uint64) []Entry {
	var out []Entry
	for _, c := range chunks {
		var m entries
		if err := m.decode(c.payload); err != nil {
			continue // checked on arrival; cannot happen
		}
		for _, e := range m.Entries {
			if e.Seq > c.live && e.Seq > after {
				out = append(out, e)
			}
		}
	}
	return out
}

func (q *Queue) app(name string) *appQueue {
	a := q.apps[name]
	if a == nil {
		a = &appQueue{}
		q.apps[name] = a
	}
	return a
}

// Append adds entries of app in order. Entries at or below the highest seq held are duplicates
// (a resent batch) and skipped. If the batch would pass the bound nothing is appended.
func (q *Queue) Append(app string, es []Entry) error {
	if len(es) == 0 {
		return nil
	}
	_, err := q.AppendFrame(appendEntries(nil, app, es))
	return err
}

// AppendFrame adds an entries frame payload as received (copied): it is checked and weighed
// without decoding. It returns the frame's app.
func (q *Queue) AppendFrame(p []byte) (string, error) {
	hd := dec{b: p}
	app := string(hd.rawStr())
	if hd.err != nil {
		return "", hd.err
	}
	var seen uint64
	if a := q.apps[app]; a != nil {
		seen = a.last
	}
	var first, last uint64
	var count, bytes int64
	ordered := true
	if _, err := walkEntries(p, func(seq uint64, size int64) {
		ordered = ordered && seq > last
		if first == 0 {
			first = seq
		}
		last = seq
		if seq > seen {
			count++
			bytes += size
		}
	}); err != nil {
		return app, err
	}
	if !ordered {
		return app, fmt.Errorf("%w: entries of %s out of order", ErrMalformed, app)
	}
	if count == 0 {
		return app, nil // empty, or all duplicates of a resent batch
	}
	if q.bytes+bytes > q.max {
		return app, fmt.Errorf("%w: %d + %d bytes > %d", ErrQueueFull, q.bytes, bytes, q.max)
	}
	a := q.app(app)
	a.chunks = append(a.chunks, chunk{payload: append([]byte(nil), p...), first: first, last: last, live: seen, count: count, bytes: bytes})
	a.last = last
	q.events += count
	q.bytes += bytes
	return app, nil
}

// clone copies q's bookkeeping; the frames are shared (never modified once appended).
func (q *Queue) clone() *Queue {
	c := &Queue{gen: q.gen, max: q.max, bytes: q.bytes, events: q.events, apps: make(map[string]*appQueue, len(q.apps))}
	for name, a := range q.apps {
		ca := *a
		ca.chunks = append([]chunk(nil), a.chunks[a.head:]...)
		ca.head = 0
		c.apps[name] = &ca
	}
	return c
}

// Trim drops app's entries covered by a committed snapshot (seq <= upTo).
func (q *Queue) Trim(app string, upTo uint64, revision int64) {
	a := q.app(app)
	if upTo > a.persisted || (upTo == a.persisted && revision > a.revision) {
		a.persisted, a.revision = upTo, revision
	}
	for a.head < len(a.chunks) && a.chunks[a.head].first <= upTo {
		c := &a.chunks[a.head]
		if c.last <= upTo {
			q.events -= c.count
			q.bytes -= c.bytes
			a.chunks[a.head] = chunk{}
			a.head++
			continue
		}
		// Partly covered: weigh what stays.
		if upTo > c.live {
			var count, bytes int64
			walkEntries(c.payload, func(seq uint64, size int64) {
				if seq > upTo {
					count++
					bytes += size
				}
			})
			q.events -= c.count - count
			q.bytes -= c.bytes - bytes
			c.count, c.bytes, c.live = count, bytes, upTo
		}
		break
	}
	if a.head > 1024 && a.head*2 > len(a.chunks) {
		a.chunks = append([]chunk(nil), a.chunks[a.head:]...)
		a.head = 0
	}
	if upTo > a.last {
		a.last = upTo
	}
}

// Replay returns app's entries after snapshot seq `after`, in order, and the gaps among them: a
// gap means inputs the passive never received and no snapshot covers.
func (q *Queue) Replay(app string, after uint64) ([]Entry, []Gap) {
	a := q.apps[app]
	if a == nil {
		return nil, nil
	}
	var out []Entry
	var gaps []Gap
	next := after + 1
	live := a.chunks[a.head:]
	// Chunks are in seq order: those ending at or before `after` hold nothing to replay, so a
	// replay after a recent position (a hot passive's) does not decode the whole queue.
	i := sort.Search(len(live), func(i int) bool { return live[i].last > after })
	for _, c := range live[i:] {
		var m entries
		if err := m.decode(c.payload); err != nil {
			continue // checked on arrival; cannot happen
		}
		for _, e := range m.Entries {
			if e.Seq <= c.live || e.Seq < next {
				continue
			}
			if e.Seq > next {
				gaps = append(gaps, Gap{App: app, First: next, Last: e.Seq - 1})
			}
			out = append(out, e)
			next = e.Seq + 1
		}
	}
	return out, gaps
}

// Last is the highest seq of app the queue has seen (held, or covered by a snapshot).
func (q *Queue) Last(app string) uint64 {
	if a := q.apps[app]; a != nil {
		return a.last
	}
	return 0
}

// Persisted is the newest committed snapshot the active reported for app.
func (q *Queue) Persisted(app string) (seq uint64, revision int64) {
	if a := q.apps[app]; a != nil {
		return a.persisted, a.revision
	}
	return 0, 0
}

// Deliver records that the active wrote every sink output of app's inputs up to seq.
func (q *Queue) Deliver(app string, seq uint64) {
	if a := q.app(app); seq > a.delivered {
		a.delivered = seq
	}
}

// Delivered is how far the active reported app's sink outputs written: a promotion does not
// emit those again.
func (q *Queue) Delivered(app string) uint64 {
	if a := q.apps[app]; a != nil {
		return a.delivered
	}
	return 0
}

// Apps lists the apps with queue state, sorted.
func (q *Queue) Apps() []string {
	out := make([]string, 0, len(q.apps))
	for k := range q.apps {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Len is the number of entries held.
func (q *Queue) Len() int64 { return q.events }

// Bytes is the weight held against the bound.
func (q *Queue) Bytes() int64 { return q.bytes }

// Max is the bound.
func (q *Queue) Max() int64 { return q.max }
