package ha

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/sink"
	"github.com/streamha/streamha/node/store"
)

// countSink records the size of each Write.
type countSink struct {
	mu    sync.Mutex
	sizes []int
}

func (c *countSink) Write(_ context.Context, outs []*engine.Output) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sizes = append(c.sizes, len(outs))
	return nil
}

func (c *countSink) Close() error { return nil }

func (c *countSink) writes() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.sizes...)
}

var gatherSinks sync.Map // stream name → *countSink

func init() {
	sink.Register(sink.Type{Name: "gathertest", Open: func(s sink.Spec) (sink.Sink, error) {
		c, _ := gatherSinks.LoadOrStore(s.App, &countSink{})
		return c.(*countSink), nil
	}})
}

// TestDispatcherGathersAfterASmallRound: after a round smaller than gatherOutputs the next one
// waits for dispatchHooks.gather (here an hour: it never ends within the test) however many
// outputs come meanwhile, while a big round is followed at once; a stopped dispatcher does not
// wait.
func TestDispatcherGathersAfterASmallRound(t *testing.T) {
	app, err := engine.Compile("g.siddhi", "@app:name('Gather')\n@sink(type='gathertest')\ndefine stream S (v long);\n")
	if err != nil {
		t.Fatal(err)
	}
	cs := &countSink{} // a fresh one per run: -count=N must not see the previous run's writes
	gatherSinks.Store("Gather", cs)
	s := newAppState(app, slog.New(slog.NewTextHandler(io.Discard, nil)), newOutputBudget(0))
	seq := uint64(0)
	add := func(n int) {
		s.mu.Lock()
		for i := 0; i < n; i++ {
			seq++
			s.appendOutLocked(&engine.Output{ID: "Gather/q/" + strconv.FormatUint(seq, 10) + "/0", Seq: seq, Stream: "S", Data: []engine.Value{engine.LongValue(int64(seq))}})
		}
		s.safe = seq
		s.mu.Unlock()
		s.poke()
	}
	h := dispatchHooks{leading: func() bool { return true }, delivered: func(uint64) {}, failed: func(string, string) {},
		wrote: func(string, int) {}, dropped: func(string, int) {}, pending: func(string, SinkStatus) {},
		store: func(context.Context, []store.ErrorRecord) error { return nil }, stored: func(string, int) {},
		idle: time.Hour, report: time.Hour, gather: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.dispatch(ctx, sink.DefaultConfig(), h) }()
	waitWrites := func(want int) []int {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if w := cs.writes(); len(w) >= want {
				return w
			}
			time.Sleep(time.Millisecond)
		}
		t.Fatalf("writes %v, want %d of them", cs.writes(), want)
		return nil
	}
	add(gatherOutputs) // a big round: the next one follows at once
	waitWrites(1)
	add(3)
	waitWrites(2) // a small round: the next one waits
	add(5)
	s.poke()
	// The outputs wait for the gather (an hour): while they do, the pending count stays 5.
	for i := 0; i < 50; i++ {
		s.mu.Lock()
		pending := len(s.outbox)
		s.mu.Unlock()
		if w := cs.writes(); len(w) != 2 || pending != 5 {
			t.Fatalf("writes %v, %d pending: the round after a small one did not wait", w, pending)
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a stopped dispatcher kept waiting")
	}
	if w := cs.writes(); len(w) != 2 || w[0] != gatherOutputs || w[1] != 3 {
		t.Fatalf("writes %v, want [%d 3]", w, gatherOutputs)
	}
}
