package ha

// Answer is what an ingest request is told once its events are safe.
type Answer struct {
	Accepted int    `json:"accepted"`
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"`
	// Alone is true when no passive holds the events. In ack mode they are then in a committed
	// snapshot; in async mode they were not even sent to a passive. Never set on a duplicate.
	Alone bool `json:"alone,omitempty"`
	// Duplicate is true when the Idempotency-Key was seen before: nothing new was applied.
	Duplicate bool `json:"duplicate,omitempty"`
}

type idemRecord struct {
	Key    string
	Answer Answer
}

// idemWindow remembers the answers of the last max idempotency keys of an app. It is part of the
// app's snapshot and its keys travel to the passive with the events, so it survives failover.
type idemWindow struct {
	max   int
	m     map[string]Answer
	order []string // FIFO ring of keys
	head  int
	// pos is the offset of the last batch applied per source position (PositionKey): never
	// evicted, in snapshots beside the keys.
	pos map[string]int64
}

func newIdemWindow(max int) *idemWindow {
	return &idemWindow{max: max, m: make(map[string]Answer), pos: map[string]int64{}}
}

func (w *idemWindow) get(key string) (Answer, bool) {
	a, ok := w.m[key]
	return a, ok
}

func (w *idemWindow) put(key string, a Answer) {
	w.notePosition(key)
	if _, ok := w.m[key]; ok {
		return
	}
	a.Alone, a.Duplicate = false, false
	if len(w.order) < w.max {
		w.order = append(w.order, key)
	} else {
		delete(w.m, w.order[w.head])
		w.order[w.head] = key
		w.head = (w.head + 1) % w.max
	}
	w.m[key] = a
}

// recordsAfter lists, oldest first, the keys answered after input seq: those added since a
// revision at seq (answers are added in sequence order), for a delta revision's envelope.
func (w *idemWindow) recordsAfter(seq uint64) []idemRecord {
	n := 0
	for n < len(w.order) && w.m[w.order[(w.head+len(w.order)-1-n)%len(w.order)]].LastSeq > seq {
		n++
	}
	return w.recordsFrom(len(w.order) - n)
}

// records lists the whole window oldest first, for a base revision.
func (w *idemWindow) records() []idemRecord { return w.recordsFrom(0) }

// recordsFrom lists the window from its i-th oldest key on.
func (w *idemWindow) recordsFrom(i int) []idemRecord {
	out := make([]idemRecord, 0, len(w.order)-i)
	for ; i < len(w.order); i++ {
		k := w.order[(w.head+i)%len(w.order)]
		out = append(out, idemRecord{Key: k, Answer: w.m[k]})
	}
	return out
}
