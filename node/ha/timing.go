package ha

import (
	"time"

	"github.com/streamha/streamha/node/config"
)

// Timing is every wait and period of the data path, in one place, derived from the configuration
// by TimingOf (with the defaults heartbeat_interval 250ms, lease 1500ms, renew_deadline 1000ms it
// gives the values in brackets). The rules that relate them:
//
//   - SyncLiveness = RenewDeadline [1 s]: a passive that stopped acknowledging is dropped (the
//     active goes on alone, acknowledging through persists) no later than an active that cannot
//     renew stops serving, so a silent link costs clients at most about one renew deadline.
//   - SyncPing = SyncLiveness/5 [200 ms]: an idle session sees several pings per liveness window,
//     so one late acknowledgement does not end it.
//   - IdleReport = HeartbeatInterval/5 [50 ms], DispatchIdle = 4×IdleReport [200 ms]: an idle
//     active's delivered positions reach the passive many times within a heartbeat, long before
//     the passive could take an expired lease (Lease), so a promotion rarely re-emits outputs.
//   - DialTimeout = 2×RenewDeadline [2 s], DialRetry = 2×HeartbeatInterval [500 ms]: the
//     active's connector retries a passive it cannot reach about every other heartbeat.
//   - HandoverWindow = Lease [1.5 s], polled every HandoverPoll [5 ms]: after a switchover the
//     passive tries to take the released lease at once, for at most one lease; its elector's own
//     heartbeat takes over after that.
//   - TakeoverHold = Lease + HeartbeatInterval [1.75 s], re-checked every TakeoverPoll =
//     HeartbeatInterval/5 [50 ms]: a passive that expects to take over (the active stopped
//     renewing) holds a client's request at most until the lease must have expired and the
//     passive's own wake-up at expiry has run, instead of redirecting it to the silent active.
//   - LeaveTimeout = 20×Lease [30 s]: a stopping node's bound when shutdown_timeout is unset.
//   - AckTimeout [10 s] > SyncLiveness + a persist: a batch whose passive went silent is still
//     acknowledged through the persist fallback before its wait ends.
//   - HTTPBackpressureWait [2 s] < TCPBackpressureWait [30 s]; InputBudgetWait [500 ms]: what a
//     client waits for the sinks or for input memory; they face clients, not the peer, and are
//     fixed.
//   - Tick [250 ms]: the clock ticks of time-based apps (output latency of time windows, not HA).
//   - PersistSettle, PersistCheck [100 ms], PressureGap [1 s]: the persister's first persist
//     after a promotion with no passive, its check of queue pressure and failed persists, and
//     the least time between two pressure persists.
//   - HotRetry [1 s]: a cold passive whose snapshot read failed tries again after it (or at the
//     next snapshot the active reports).
type Timing struct {
	Tick                 time.Duration
	AckTimeout           time.Duration
	HTTPBackpressureWait time.Duration
	TCPBackpressureWait  time.Duration
	InputBudgetWait      time.Duration
	IdleReport           time.Duration
	DispatchIdle         time.Duration
	PersistSettle        time.Duration
	PersistCheck         time.Duration
	PressureGap          time.Duration
	DialTimeout          time.Duration
	DialRetry            time.Duration
	SyncPing             time.Duration
	SyncLiveness         time.Duration
	HandoverWindow       time.Duration
	HandoverPoll         time.Duration
	TakeoverHold         time.Duration
	TakeoverPoll         time.Duration
	LeaveTimeout         time.Duration
	HotRetry             time.Duration
}

// TimingOf derives the data path's timing from c (see Timing for the rules).
func TimingOf(c config.Config) Timing {
	hb, lease, renew := c.HeartbeatInterval, c.Lease, c.RenewDeadline
	if hb <= 0 {
		hb = 250 * time.Millisecond
	}
	if lease <= 0 {
		lease = 1500 * time.Millisecond
	}
	if renew <= 0 || renew >= lease {
		renew = lease * 2 / 3
	}
	idle := hb / 5
	return Timing{
		Tick:                 250 * time.Millisecond,
		AckTimeout:           10 * time.Second,
		HTTPBackpressureWait: 2 * time.Second,
		TCPBackpressureWait:  30 * time.Second,
		InputBudgetWait:      500 * time.Millisecond,
		IdleReport:           idle,
		DispatchIdle:         4 * idle,
		PersistSettle:        100 * time.Millisecond,
		PersistCheck:         100 * time.Millisecond,
		PressureGap:          time.Second,
		DialTimeout:          2 * renew,
		DialRetry:            2 * hb,
		SyncLiveness:         renew,
		SyncPing:             renew / 5,
		HandoverWindow:       lease,
		HandoverPoll:         5 * time.Millisecond,
		TakeoverHold:         lease + hb,
		TakeoverPoll:         idle,
		LeaveTimeout:         20 * lease,
		HotRetry:             time.Second,
	}
}

// Check reports a timing that breaks its rules (Timing's doc comment).
func (t Timing) Check() []string {
	var bad []string
	if t.SyncPing*4 > t.SyncLiveness {
		bad = append(bad, "SyncPing must be at most SyncLiveness/4")
	}
	if t.AckTimeout <= t.SyncLiveness {
		bad = append(bad, "AckTimeout must exceed SyncLiveness")
	}
	if t.DispatchIdle < t.IdleReport {
		bad = append(bad, "DispatchIdle must be at least IdleReport")
	}
	if t.HTTPBackpressureWait > t.TCPBackpressureWait {
		bad = append(bad, "HTTPBackpressureWait must not exceed TCPBackpressureWait")
	}
	if t.TakeoverPoll <= 0 || t.TakeoverPoll > t.TakeoverHold {
		bad = append(bad, "TakeoverPoll must be positive and within TakeoverHold")
	}
	if t.HandoverPoll <= 0 || t.HandoverPoll > t.HandoverWindow {
		bad = append(bad, "HandoverPoll must be positive and within HandoverWindow")
	}
	return bad
}
