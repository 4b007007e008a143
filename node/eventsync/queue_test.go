package eventsync

import (
	"errors"
	"testing"
)

func ents(seqs ...uint64) []Entry {
	out := make([]Entry, len(seqs))
	for i, s := range seqs {
		out[i] = Entry{Seq: s, TS: int64(s), Stream: "S", Data: []byte{1, 2, 3}}
	}
	return out
}

func TestQueueAppendTrimReplay(t *testing.T) {
	q := NewQueue(1 << 20)
	if err := q.Append("a", ents(1, 2, 3, 4, 5)); err != nil {
		t.Fatal(err)
	}
	if err := q.Append("a", ents(4, 5, 6)); err != nil { // resent overlap: duplicates skipped
		t.Fatal(err)
	}
	if q.Len() != 6 {
		t.Fatalf("len %d, want 6", q.Len())
	}
	q.Trim("a", 3, 7)
	if q.Len() != 3 {
		t.Fatalf("after trim len %d, want 3", q.Len())
	}
	got, gaps := q.Replay("a", 3)
	if len(got) != 3 || got[0].Seq != 4 || len(gaps) != 0 {
		t.Fatalf("replay after 3 = %v gaps %v", got, gaps)
	}
	// A snapshot older than the trim point leaves a gap that must be reported.
	_, gaps = q.Replay("a", 1)
	if len(gaps) != 1 || gaps[0].First != 2 || gaps[0].Last != 3 {
		t.Fatalf("gaps = %v, want 2..3", gaps)
	}
	if seq, rev := q.Persisted("a"); seq != 3 || rev != 7 {
		t.Fatalf("persisted = %d rev %d", seq, rev)
	}
	q.Trim("a", 100, 8)
	if q.Len() != 0 || q.Bytes() != 0 {
		t.Fatalf("after full trim len %d bytes %d", q.Len(), q.Bytes())
	}
}

func TestQueueBoundRefusesWholeBatch(t *testing.T) {
	one := ents(1)[0].Size()
	q := NewQueue(3 * one)
	if err := q.Append("a", ents(1, 2)); err != nil {
		t.Fatal(err)
	}
	err := q.Append("a", ents(3, 4))
	if !errors.Is(err, ErrQueueFull) {
		t.Fatalf("err = %v, want ErrQueueFull", err)
	}
	if q.Len() != 2 || q.Last("a") != 2 {
		t.Fatalf("a refused batch changed the queue: len %d last %d", q.Len(), q.Last("a"))
	}
	q.Trim("a", 2, 1)
	if err := q.Append("a", ents(3, 4)); err != nil {
		t.Fatalf("after trim: %v", err)
	}
}

func TestQueueGapAcrossSessions(t *testing.T) {
	q := NewQueue(1 << 20)
	q.Append("a", ents(1, 2))
	q.Append("a", ents(10, 11)) // a new session started at a later snapshot point
	got, gaps := q.Replay("a", 0)
	if len(got) != 4 || len(gaps) != 1 || gaps[0] != (Gap{App: "a", First: 3, Last: 9}) {
		t.Fatalf("replay = %v gaps %v", got, gaps)
	}
	q.Trim("a", 9, 2) // the snapshot at 9 is committed: nothing missing any more
	if _, gaps := q.Replay("a", 9); len(gaps) != 0 {
		t.Fatalf("gaps after covering snapshot: %v", gaps)
	}
}
