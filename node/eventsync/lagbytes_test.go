package eventsync

import (
	"context"
	"testing"
	"time"
)

// TestLagBytesCountsUnacknowledgedBatches checks the bytes the active reports as not yet held by
// the passive: every batch sent counts its encoded size until an acknowledgement covers its last
// input; a partial acknowledgement leaves the batch counted.
func TestLagBytesCountsUnacknowledgedBatches(t *testing.T) {
	s := &Session{acked: map[string]uint64{}, sent: map[string]uint64{}, inflight: map[string][]sentBatch{},
		started: map[string]bool{"a": true, "b": true}}
	batch := func(app string, first, n uint64) {
		es := make([]Entry, n)
		for i := range es {
			es[i] = Entry{Seq: first + uint64(i), TS: 1, Stream: "S", Data: []byte("payload")}
		}
		if ok, err := s.Send(app, es); !ok || err != nil {
			t.Fatalf("send: %v %v", ok, err)
		}
	}
	batch("a", 1, 10)
	sizeA1 := int64(len(s.pending))
	batch("a", 11, 5)
	batch("b", 1, 3)
	if got := s.LagBytes(); got != int64(len(s.pending)) {
		t.Fatalf("lag bytes %d, want every byte sent (%d)", got, len(s.pending))
	}
	ack := func(app string, seq uint64) {
		s.mu.Lock()
		s.ackInflightLocked(app, seq)
		s.mu.Unlock()
	}
	ack("a", 12) // the second batch only in part
	if got := s.LagBytes(); got != int64(len(s.pending))-sizeA1 {
		t.Fatalf("after acknowledging the first batch: %d, want %d", got, int64(len(s.pending))-sizeA1)
	}
	ack("a", 15)
	ack("b", 3)
	if got := s.LagBytes(); got != 0 {
		t.Fatalf("after acknowledging everything: %d", got)
	}
}

// TestLagBytesOverASession checks that a real passive's acknowledgements bring the lag to zero.
func TestLagBytesOverASession(t *testing.T) {
	_, addr := startServer(t, ServerConfig{Group: "g", NodeID: "p", MaxQueueBytes: 1 << 20})
	s, err := dial(t, addr, DialConfig{Group: "g", NodeID: "a", Term: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(nil)
	s.Start("app", 0)
	if _, err := s.Send("app", []Entry{{Seq: 1, TS: 1, Stream: "S", Data: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Wait(ctx, "app", 1); err != nil {
		t.Fatal(err)
	}
	if got := s.LagBytes(); got != 0 {
		t.Fatalf("lag bytes after the acknowledgement: %d", got)
	}
}
