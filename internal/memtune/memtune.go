// Package memtune is a node's soft memory limit on a host without one: it follows the node's own
// bounds and its live heap (used by the node and by the in-process state-at-scale bench).
package memtune

import (
	"context"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"github.com/streamha/streamha/node/config"
)

// heapRoom is what a node needs besides its bounded buffers (engine state of a small app,
// connections, the runtime): part of the default floor of the soft memory limit.
const heapRoom = 32 << 20

// Floor is the soft memory limit of a node on a host without one (no memory_limit,
// GOMEMLIMIT or cgroup limit): its own bounds on pending outputs and on input in flight, plus
// heapRoom. The passive's replay queue is left out: a big queue raises the limit through the
// live heap instead (TunedLimit).
func Floor(c config.Config) int64 {
	return c.MaxPendingOutputBytes + c.MaxInflightInputBytes + heapRoom
}

// TunedLimit is the soft memory limit for a live heap of live bytes: floor while GOGC=400's
// headroom fits under it, 1.25 × live above (GOGC=25 in effect), so that the collector never
// chases a limit below the live data of a big stateful app. The passive of a pair fed at full
// rate holds up to ~140 MiB live (its queue between snapshots and its copy of the outbox):
// 1.25 × keeps it under 200 MiB of RSS, 1.5 × did not.
func TunedLimit(floor, live int64) int64 {
	return max(floor, live+live/4)
}

// liveHeapMetric is the heap the last collection marked live.
const liveHeapMetric = "/gc/heap/live:bytes"

// Tune sets the soft memory limit to TunedLimit(floor, live heap) now and then every
// period until ctx ends, moving it only when it changes by more than 1/16. Without a limit,
// GOGC=400 lets the heap grow to five times the live data: a node whose sink is slow holds
// max_pending_output_bytes of outputs and grew past 500 MiB of RSS.
func Tune(ctx context.Context, floor int64, period time.Duration, log *slog.Logger) {
	sample := []metrics.Sample{{Name: liveHeapMetric}}
	cur := int64(-1)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		metrics.Read(sample)
		var live int64
		if sample[0].Value.Kind() == metrics.KindUint64 {
			live = int64(sample[0].Value.Uint64())
		}
		if want := TunedLimit(floor, live); cur < 0 || abs(want-cur) > cur/16 {
			debug.SetMemoryLimit(want)
			if cur >= 0 && log != nil {
				log.Debug("memory limit follows the live heap", "bytes", want, "live_heap", live)
			}
			cur = want
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
