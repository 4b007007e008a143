package eventsync

import "testing"

// TestQueueCloneIsUnaffectedByLaterChanges: a copy taken for a restore check replays what the
// queue held then, whatever the queue does afterwards (trim, append).
func TestQueueCloneIsUnaffectedByLaterChanges(t *testing.T) {
	q := NewQueue(1 << 20)
	if err := q.Append("a", ents(1, 2, 3, 4)); err != nil {
		t.Fatal(err)
	}
	q.Trim("a", 1, 1)
	c := q.clone()
	q.Trim("a", 3, 2)
	if err := q.Append("a", ents(5, 6)); err != nil {
		t.Fatal(err)
	}
	got, gaps := c.Replay("a", 1)
	if len(got) != 3 || got[0].Seq != 2 || got[2].Seq != 4 || len(gaps) != 0 || c.Last("a") != 4 {
		t.Fatalf("copy replays %v gaps %v last %d, want 2..4", got, gaps, c.Last("a"))
	}
	if got, _ := q.Replay("a", 3); len(got) != 3 || got[0].Seq != 4 || got[2].Seq != 6 {
		t.Fatalf("original replays %v, want 4..6", got)
	}
}
