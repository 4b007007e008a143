package ha

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/streamha/streamha/node/config"
)

// MaxIdempotencyKeyBytes bounds an Idempotency-Key: keys are kept in every snapshot and sent to
// the passive, so a long one would weigh on both for the next 100,000 requests.
const MaxIdempotencyKeyBytes = 256

// Limit errors, mapped to HTTP statuses and TCP ack codes at the edges. Nothing is applied.
var (
	// ErrTooLarge is a request over a size or count limit (HTTP 413, TCP status 4).
	ErrTooLarge = errors.New("request too large")
	// ErrBadKey is an Idempotency-Key over MaxIdempotencyKeyBytes (HTTP 400, TCP status 4).
	ErrBadKey = errors.New("bad idempotency key")
	// ErrOverloaded means max_inflight_input_bytes is taken by other requests: retry shortly
	// (HTTP 503 with Retry-After, TCP status 5).
	ErrOverloaded = errors.New("overloaded: input memory budget (max_inflight_input_bytes) in use; retry shortly")
)

// Defaults of the input limits, used when a Config leaves them zero (tests build Configs by hand).
const (
	DefaultMaxRequestBytes       = 4 << 20
	DefaultMaxEventsPerRequest   = 10_000
	DefaultTCPMaxFrameBytes      = 4 << 20
	DefaultMaxInflightInputBytes = 64 << 20
	DefaultMaxConnections        = 1024
	DefaultRESTReadTimeout       = 30 * time.Second
)

// Limits are the input limits the transports enforce (config keys of the same names).
type Limits struct {
	MaxRequestBytes       int64         // max_request_bytes
	MaxEventsPerRequest   int           // max_events_per_request
	TCPMaxFrameBytes      int64         // tcp_max_frame_bytes
	MaxInflightInputBytes int64         // max_inflight_input_bytes
	MaxConnections        int           // max_connections
	RESTReadTimeout       time.Duration // rest_read_timeout
}

// Limits returns the node's input limits.
func (n *Node) Limits() Limits { return n.limits }

func limitsOf(c config.Config) Limits {
	l := Limits{
		MaxRequestBytes: c.MaxRequestBytes, MaxEventsPerRequest: c.MaxEventsPerRequest,
		TCPMaxFrameBytes: c.TCPMaxFrameBytes, MaxInflightInputBytes: c.MaxInflightInputBytes,
		MaxConnections: c.MaxConnections, RESTReadTimeout: c.RESTReadTimeout,
	}
	if l.MaxRequestBytes <= 0 {
		l.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if l.MaxEventsPerRequest <= 0 {
		l.MaxEventsPerRequest = DefaultMaxEventsPerRequest
	}
	if l.TCPMaxFrameBytes <= 0 {
		l.TCPMaxFrameBytes = DefaultTCPMaxFrameBytes
	}
	if l.MaxInflightInputBytes <= 0 {
		l.MaxInflightInputBytes = DefaultMaxInflightInputBytes
	}
	if l.MaxConnections <= 0 {
		l.MaxConnections = DefaultMaxConnections
	}
	if l.RESTReadTimeout <= 0 {
		l.RESTReadTimeout = DefaultRESTReadTimeout
	}
	return l
}

// checkLimits refuses a batch over the event count or key length limits before anything is
// applied.
func (n *Node) checkLimits(events []Event, key string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if max := n.limits.MaxEventsPerRequest; len(events) > max {
		return fmt.Errorf("%w: %d events, the limit is %d (max_events_per_request)", ErrTooLarge, len(events), max)
	}
	return nil
}

// CheckKey reports an Idempotency-Key that is too long, for transports that want to refuse it
// before reading a body.
func CheckKey(key string) error {
	if len(key) > MaxIdempotencyKeyBytes {
		return fmt.Errorf("%w: Idempotency-Key is %d bytes, the limit is %d", ErrBadKey, len(key), MaxIdempotencyKeyBytes)
	}
	return nil
}

// Reservation is input memory held against max_inflight_input_bytes, from before a request's
// bytes are read until its events are applied. Release returns it; it is safe to call twice.
type Reservation struct {
	b *budget
	n int64
}

// ReserveInput takes bytes of the input budget for a request about to be read, waiting briefly
// when the budget is in use; ErrOverloaded when it stays so. A request larger than the whole
// budget takes all of it, so it runs alone rather than never.
func (n *Node) ReserveInput(ctx context.Context, bytes int64) (*Reservation, error) {
	r := &Reservation{b: n.budget}
	if err := r.Grow(ctx, bytes); err != nil {
		return nil, err
	}
	return r, nil
}

// Grow adds bytes to the reservation (a decoded body weighs more than its text), with the same
// brief wait; on error the reservation keeps what it had.
func (r *Reservation) Grow(ctx context.Context, bytes int64) error {
	if r == nil || bytes <= 0 {
		return nil
	}
	got, err := r.b.acquire(ctx, r.n, bytes)
	r.n += got
	return err
}

// Release returns the reservation's bytes to the budget.
func (r *Reservation) Release() {
	if r == nil || r.n == 0 {
		return
	}
	r.b.release(r.n)
	r.n = 0
}

// budget is a byte semaphore with a bounded wait.
type budget struct {
	max     int64
	wait    time.Duration
	refused func() // counts refusals (metrics); may be nil

	mu    sync.Mutex
	used  int64
	freed chan struct{} // closed and replaced on every release
}

func newBudget(max int64, wait time.Duration) *budget {
	return &budget{max: max, wait: wait, freed: make(chan struct{})}
}

// acquire takes n more bytes for a holder that already has held (so held+n is clamped to max)
// and returns how many it took.
func (b *budget) acquire(ctx context.Context, held, n int64) (int64, error) {
	if held+n > b.max {
		n = b.max - held
		if n <= 0 {
			return 0, nil
		}
	}
	var timeout <-chan time.Time
	for {
		b.mu.Lock()
		if b.used+n <= b.max {
			b.used += n
			b.mu.Unlock()
			return n, nil
		}
		freed := b.freed
		b.mu.Unlock()
		if timeout == nil {
			t := time.NewTimer(b.wait)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-freed:
		case <-timeout:
			b.count()
			return 0, ErrOverloaded
		case <-ctx.Done():
			b.count()
			return 0, fmt.Errorf("%w: %v", ErrOverloaded, ctx.Err())
		}
	}
}

func (b *budget) count() {
	if b.refused != nil {
		b.refused()
	}
}

func (b *budget) release(n int64) {
	b.mu.Lock()
	b.used -= n
	close(b.freed)
	b.freed = make(chan struct{})
	b.mu.Unlock()
}

// InflightInputBytes is the input memory reserved now.
func (n *Node) InflightInputBytes() int64 {
	n.budget.mu.Lock()
	defer n.budget.mu.Unlock()
	return n.budget.used
}
