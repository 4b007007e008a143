package eventsync

import (
	"errors"
	"fmt"
	"sort"
)

// ErrQueueFull means appending would pass the queue's byte bound. Nothing is dropped silently:
// the passive refuses the batch and tells the active, which must persist to make room.
var ErrQueueFull = errors.New("passive queue full")

// Queue is the passive's replay queue: per app, the inputs received from the active in sequence
// order, trimmed when the active reports a committed snapshot. It is bounded by bytes. Pure data
// structure, no locking: the server serialises access.
type Queue struct {
	max    int64
	bytes  int64
	events int64
	apps   map[string]*appQueue
}

type appQueue struct {
	entries   []Entry
	head      int    // entries[head:] are live
	last      uint64 // highest seq ever appended
	persisted uint64 // seq covered by the newest committed snapshot the active reported
	revision  int64
}

// Gap is a range of sequence numbers missing from the queue after a snapshot: inputs the passive
// cannot replay.
type Gap struct {
	App         string
	First, Last uint64
}

func (g Gap) String() string { return fmt.Sprintf("%s: inputs %d..%d missing", g.App, g.First, g.Last) }

// NewQueue returns an empty queue bounded to maxBytes.
func NewQueue(maxBytes int64) *Queue { return &Queue{max: maxBytes, apps: map[string]*appQueue{}} }

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
	a := q.app(app)
	var add int64
	for i := range es {
		if es[i].Seq > a.last {
			add += es[i].Size()
		}
	}
	if q.bytes+add > q.max {
		return fmt.Errorf("%w: %d + %d bytes > %d", ErrQueueFull, q.bytes, add, q.max)
	}
	for _, e := range es {
		if e.Seq <= a.last {
			continue
		}
		a.entries = append(a.entries, e)
		a.last = e.Seq
		q.events++
	}
	q.bytes += add
	return nil
}

// Trim drops app's entries covered by a committed snapshot (seq <= upTo).
func (q *Queue) Trim(app string, upTo uint64, revision int64) {
	a := q.app(app)
	if upTo > a.persisted || (upTo == a.persisted && revision > a.revision) {
		a.persisted, a.revision = upTo, revision
	}
	for a.head < len(a.entries) && a.entries[a.head].Seq <= upTo {
		q.bytes -= a.entries[a.head].Size()
		q.events--
		a.entries[a.head] = Entry{}
		a.head++
	}
	if a.head > 1024 && a.head*2 > len(a.entries) {
		a.entries = append([]Entry(nil), a.entries[a.head:]...)
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
	for _, e := range a.entries[a.head:] {
		if e.Seq < next {
			continue
		}
		if e.Seq > next {
			gaps = append(gaps, Gap{App: app, First: next, Last: e.Seq - 1})
		}
		out = append(out, e)
		next = e.Seq + 1
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
