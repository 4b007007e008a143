package ledger_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamha/streamha/internal/dynalitetest"
	"github.com/streamha/streamha/lambdas/ledger"
)

func newLedger(t *testing.T) (*ledger.Ledger, context.Context) {
	t.Helper()
	srv := dynalitetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	c := srv.Client()
	if err := ledger.CreateTable(ctx, c, "ledger"); err != nil {
		t.Fatal(err)
	}
	return ledger.New(c, "ledger"), ctx
}

func TestLedgerRecords(t *testing.T) {
	l, ctx := newLedger(t)
	t.Run("view never rolls back", func(t *testing.T) {
		if _, ok, err := l.GetView(ctx, "g1"); err != nil || ok {
			t.Fatalf("empty view: ok=%v err=%v", ok, err)
		}
		v := ledger.View{Group: "g1", Term: 3, Holder: "a", Active: []string{"a"}, Live: []string{"a", "b"}, Reachable: true, SeenAt: time.UnixMilli(1000)}
		if _, had, err := l.PutView(ctx, v); err != nil || had {
			t.Fatalf("first put: had=%v err=%v", had, err)
		}
		if prev, had, err := l.PutView(ctx, v); err != nil || !had || prev.Term != 3 || prev.Holder != "a" {
			t.Fatalf("second put: prev=%+v had=%v err=%v", prev, had, err)
		}
		old := v
		old.Term = 2
		if _, _, err := l.PutView(ctx, old); !errors.Is(err, ledger.ErrConflict) {
			t.Fatalf("older term stored: %v", err)
		}
		got, ok, err := l.GetView(ctx, "g1")
		if err != nil || !ok || got.Term != 3 || got.Holder != "a" || len(got.Live) != 2 || !got.Reachable || got.SeenAt.UnixMilli() != 1000 {
			t.Fatalf("view %+v ok=%v err=%v", got, ok, err)
		}
	})
	t.Run("failover recorded once under concurrency", func(t *testing.T) {
		var wrote atomic.Int32
		var wg sync.WaitGroup
		for i := 0; i < 5; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := l.RecordFailover(ctx, ledger.Failover{Group: "g1", OldTerm: 3, NewTerm: 4, OldActive: "a", NewActive: "b", SeenAt: time.Now()})
				if err != nil {
					t.Error(err)
				}
				if ok {
					wrote.Add(1)
				}
			}()
		}
		wg.Wait()
		if wrote.Load() != 1 {
			t.Fatalf("%d writers recorded the failover", wrote.Load())
		}
		fs, err := l.Failovers(ctx, "g1")
		if err != nil || len(fs) != 1 || fs[0].NewActive != "b" || fs[0].OldTerm != 3 {
			t.Fatalf("failovers %+v err=%v", fs, err)
		}
	})
	t.Run("stops are idempotent and filtered by time", func(t *testing.T) {
		at := time.UnixMilli(5_000_000)
		s := ledger.Stop{Group: "g1", TaskARN: "arn:aws:ecs:us-east-1:1:task/c/abc", NodeID: "a", StopCode: "EssentialContainerExited", ExitCodes: []int{137}, StoppedAt: at}
		for i := 0; i < 2; i++ {
			if err := l.PutStop(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		s.StoppedAt, s.TaskARN = at.Add(time.Minute), "arn:aws:ecs:us-east-1:1:task/c/def"
		if err := l.PutStop(ctx, s); err != nil {
			t.Fatal(err)
		}
		all, err := l.Stops(ctx, "g1", time.Time{})
		if err != nil || len(all) != 2 || all[0].ExitCodes[0] != 137 {
			t.Fatalf("stops %+v err=%v", all, err)
		}
		recent, err := l.Stops(ctx, "g1", at.Add(time.Second))
		if err != nil || len(recent) != 1 {
			t.Fatalf("recent stops %+v err=%v", recent, err)
		}
	})
	t.Run("restart state is optimistically locked", func(t *testing.T) {
		st, err := l.GetRestart(ctx, "g1")
		if err != nil || st.Version != 0 {
			t.Fatalf("%+v %v", st, err)
		}
		stale := st
		st.Attempts = 1
		if err := l.PutRestart(ctx, &st); err != nil {
			t.Fatal(err)
		}
		if err := l.PutRestart(ctx, &stale); !errors.Is(err, ledger.ErrConflict) {
			t.Fatalf("stale write: %v", err)
		}
		got, err := l.GetRestart(ctx, "g1")
		if err != nil || got.Attempts != 1 || got.Version != 1 {
			t.Fatalf("%+v %v", got, err)
		}
	})
	t.Run("actions", func(t *testing.T) {
		a := ledger.Action{Group: "g1", EventID: "e1", Alarm: "x", Kind: "stop_task", Result: "stopped", At: time.Now()}
		if err := l.PutAction(ctx, a); err != nil {
			t.Fatal(err)
		}
		as, err := l.Actions(ctx, "g1")
		if err != nil || len(as) != 1 || as[0].Result != "stopped" {
			t.Fatalf("%+v %v", as, err)
		}
	})
}
