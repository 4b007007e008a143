package cluster

import (
	"context"
	"time"
)

// Clock is the Runner's source of time. Every deadline the Runner enforces is a difference of
// two readings of one Clock, so a skewed wall clock does no harm; tests inject a fake one to
// drive slow or lost store answers without sleeping.
type Clock interface {
	// Now is the local time; only differences between readings are used.
	Now() time.Time
	// AfterFunc calls f once d has passed; stop cancels a call that has not started. f must
	// not block.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
	// WithTimeout is context.WithTimeout measured on this clock.
	WithTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc)
}

// systemClock is the process clock, read through now (time.Now unless Config.Now says otherwise).
type systemClock struct{ now func() time.Time }

func (c systemClock) Now() time.Time { return c.now() }

func (systemClock) AfterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }

func (systemClock) WithTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d)
}
