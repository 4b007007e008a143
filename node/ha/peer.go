package ha

import (
	"context"
	"time"

	"github.com/streamha/streamha/node/eventsync"
)

// Peer is the active's sync session to its passive as the data path uses it.
// *eventsync.Session satisfies it; tests use an in-memory twin (memPeer).
type Peer interface {
	// Send queues app's inputs for the passive; false when app has no snapshot point on it yet.
	Send(app string, es []eventsync.Entry) (bool, error)
	// Wait returns once the passive holds app up to seq (eventsync.ErrSessionClosed if it ends).
	Wait(ctx context.Context, app string, seq uint64) error
	// Acked reports, without waiting, whether the passive acknowledged app up to seq.
	Acked(app string, seq uint64) bool
	// Applied is how far the passive's runtime applied app; ok false when it is cold.
	Applied(app string) (seq uint64, ok bool)
	// WaitApplied returns once the passive's runtime applied app up to seq, pinging meanwhile.
	WaitApplied(ctx context.Context, app string, seq uint64, every time.Duration) error
	Start(app string, seq uint64)
	StartSeq(app string) (seq uint64, ok bool)
	Started(app string) bool
	Control(app string, seq uint64, revision int64)
	Delivered(app string, seq uint64)
	Handover(term int64)
	Close(err error)
	Closed() bool
	Done() <-chan struct{}
	Err() error
	Lag() int64
	LagBytes() int64
	QueueBytes() (bytes, events int64)
	PeerID() string
	MaxQueue() int64
}

var _ Peer = (*eventsync.Session)(nil)
