package memtune

import (
	"context"
	"math"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/streamha/streamha/node/config"
)

// TestMemoryFloorFromBounds: the floor is the configured byte bounds plus heap room, and the tuned
// limit stays on it until 1.25 × the live heap passes it (so a node never limits what it may hold).
func TestMemoryFloorFromBounds(t *testing.T) {
	c := config.Config{MaxPendingOutputBytes: 64 << 20, MaxInflightInputBytes: 64 << 20}
	if got := Floor(c); got != 160<<20 {
		t.Fatalf("memoryFloor = %d MiB, want 160", got>>20)
	}
	for _, x := range []struct{ live, want int64 }{
		{0, 160 << 20},
		{120 << 20, 160 << 20}, // 1.25 × 120 MiB still under the floor
		{200 << 20, 250 << 20}, // a big live heap: the limit follows it
	} {
		if got := TunedLimit(160<<20, x.live); got != x.want {
			t.Errorf("TunedLimit(160 MiB, %d MiB) = %d MiB, want %d", x.live>>20, got>>20, x.want>>20)
		}
	}
}

// TestTuneMemoryLimitFollowsLiveHeap: the limit starts at the floor and rises to 1.25 × the live
// heap once that passes it; the tuner returns when its context ends.
func TestTuneMemoryLimitFollowsLiveHeap(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(old)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	const floor = 24 << 20
	go func() { defer close(done); Tune(ctx, floor, 5*time.Millisecond, nil) }()
	waitLimit := func(ok func(int64) bool, what string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !ok(debug.SetMemoryLimit(-1)) {
			if time.Now().After(deadline) {
				t.Fatalf("memory limit %d MiB: want %s", debug.SetMemoryLimit(-1)>>20, what)
			}
			runtime.GC()
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitLimit(func(l int64) bool { return l != math.MaxInt64 && l >= floor }, "the floor set")
	live := make([][]byte, 64) // 64 MiB kept live: 1.25 × is 80 MiB
	for i := range live {
		live[i] = make([]byte, 1<<20)
		live[i][0] = 1
	}
	// 1.25 × 64 MiB = 80 MiB, less the tuner's hysteresis (it moves the limit only when it is
	// off by more than 1/16)
	waitLimit(func(l int64) bool { return l >= (80<<20)*15/16 }, "at least 75 MiB with 64 MiB live")
	runtime.KeepAlive(live)
	cancel()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("tuner did not return after cancel")
	}
}
