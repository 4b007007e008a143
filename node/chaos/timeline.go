package chaos

import (
	"encoding/json"
	"os"
	"sync"
	"time"
)

// Event is one line of the fault timeline.
type Event struct {
	At     time.Time `json:"at"`
	Kind   string    `json:"kind"` // fault, heal, recovered, error, note
	Fault  string    `json:"fault,omitempty"`
	Node   string    `json:"node,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

// Timeline is the append-only fault log of a run, written as JSON lines as it happens.
type Timeline struct {
	mu     sync.Mutex
	f      *os.File
	events []Event
}

// NewTimeline creates path.
func NewTimeline(path string) (*Timeline, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &Timeline{f: f}, nil
}

// Add records e (At defaults to now).
func (t *Timeline) Add(e Event) Event {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.events = append(t.events, e)
	if t.f != nil {
		b, _ := json.Marshal(e)
		t.f.Write(append(b, '\n'))
	}
	return e
}

// Events returns a copy.
func (t *Timeline) Events() []Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Event(nil), t.events...)
}

// Close closes the file.
func (t *Timeline) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.f == nil {
		return nil
	}
	err := t.f.Close()
	t.f = nil
	return err
}
