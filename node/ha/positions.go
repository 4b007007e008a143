package ha

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// positionPrefix starts the idempotency keys that carry a source position (see PositionKey).
const positionPrefix = "pos:"

// PositionKey is the idempotency key of a batch read from a replayable source (a Kafka
// partition, say) whose last record is at offset of the stream position named source. Besides
// deduplicating, the node keeps, per source, the offset of the last batch applied: it rides to
// the passive with the batch, is in every snapshot, and is rebuilt by replay, so a promoted node
// knows exactly where each source must resume (Positions). source must not contain '@'.
func PositionKey(source string, offset int64) string {
	return positionPrefix + source + "@" + strconv.FormatInt(offset, 10)
}

// parsePositionKey splits a PositionKey; ok is false for any other key.
func parsePositionKey(key string) (source string, offset int64, ok bool) {
	rest, ok := strings.CutPrefix(key, positionPrefix)
	if !ok {
		return "", 0, false
	}
	i := strings.LastIndexByte(rest, '@')
	if i <= 0 {
		return "", 0, false
	}
	off, err := strconv.ParseInt(rest[i+1:], 10, 64)
	if err != nil {
		return "", 0, false
	}
	return rest[:i], off, true
}

// positionRecord is one source position in a snapshot.
type positionRecord struct {
	Source string
	Offset int64
}

// Positions returns the offsets of the last records app has applied from the sources whose
// position names start with prefix: restored from the snapshot, advanced by the replayed inputs
// and by every batch applied since. It fails unless the node serves term, so a source resumes
// only from the state of the term it was opened for.
func (n *Node) Positions(app string, term int64, prefix string) (map[string]int64, error) {
	a, ok := n.byName[app]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownApp, app)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.rt == nil || a.term != term || a.idem == nil {
		return nil, n.notActive()
	}
	out := map[string]int64{}
	for s, off := range a.idem.pos {
		if strings.HasPrefix(s, prefix) {
			out[s] = off
		}
	}
	return out, nil
}

// positionRecords lists the window's positions sorted by source, for the snapshot.
func (w *idemWindow) positionRecords() []positionRecord {
	out := make([]positionRecord, 0, len(w.pos))
	for s, off := range w.pos {
		out = append(out, positionRecord{s, off})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Source < out[j].Source })
	return out
}

// notePosition advances a source's position when key is a PositionKey.
func (w *idemWindow) notePosition(key string) {
	s, off, ok := parsePositionKey(key)
	if !ok {
		return
	}
	if prev, seen := w.pos[s]; !seen || off > prev {
		w.pos[s] = off
	}
}

// idemFromEnvelope is the idempotency window and source positions a snapshot holds.
func idemFromEnvelope(env *envelope) *idemWindow {
	idem := newIdemWindow(idemWindowSize)
	for _, r := range env.Idem {
		idem.put(r.Key, r.Answer)
	}
	for _, r := range env.Positions {
		if prev, ok := idem.pos[r.Source]; !ok || r.Offset > prev {
			idem.pos[r.Source] = r.Offset
		}
	}
	return idem
}
