package idempotency_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamha/streamha/internal/dynalitetest"
	"github.com/streamha/streamha/lambdas/idempotency"
	"github.com/streamha/streamha/lambdas/ledger"
)

func newStore(t *testing.T) (*idempotency.Store, context.Context) {
	t.Helper()
	srv := dynalitetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	c := srv.Client()
	if err := ledger.CreateTable(ctx, c, "ledger"); err != nil {
		t.Fatal(err)
	}
	return &idempotency.Store{DB: c, Table: "ledger", Function: "fn"}, ctx
}

func TestDoRunsOncePerPayload(t *testing.T) {
	s, ctx := newStore(t)
	var runs atomic.Int32
	fn := func(context.Context) (json.RawMessage, error) {
		runs.Add(1)
		time.Sleep(50 * time.Millisecond)
		return json.RawMessage(`{"stopped":1}`), nil
	}
	var wg sync.WaitGroup
	var dups, inProgress atomic.Int32
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, dup, err := s.Do(ctx, []byte("event-1"), fn)
			switch {
			case errors.Is(err, idempotency.ErrInProgress):
				inProgress.Add(1)
			case err != nil:
				t.Error(err)
			case dup:
				dups.Add(1)
			}
		}()
	}
	wg.Wait()
	if runs.Load() != 1 {
		t.Fatalf("ran %d times", runs.Load())
	}
	out, dup, err := s.Do(ctx, []byte("event-1"), fn)
	if err != nil || !dup || string(out) != `{"stopped":1}` || runs.Load() != 1 {
		t.Fatalf("redelivery: out=%s dup=%v err=%v runs=%d", out, dup, err, runs.Load())
	}
	if _, dup, err := s.Do(ctx, []byte("event-2"), fn); err != nil || dup || runs.Load() != 2 {
		t.Fatalf("other event: dup=%v err=%v runs=%d", dup, err, runs.Load())
	}
}

func TestFailureReleasesLock(t *testing.T) {
	s, ctx := newStore(t)
	boom := errors.New("boom")
	if _, _, err := s.Do(ctx, []byte("e"), func(context.Context) (json.RawMessage, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	ran := false
	if _, dup, err := s.Do(ctx, []byte("e"), func(context.Context) (json.RawMessage, error) { ran = true; return nil, nil }); err != nil || dup || !ran {
		t.Fatalf("retry: dup=%v err=%v ran=%v", dup, err, ran)
	}
}

func TestExpiredLocksAreTakenOver(t *testing.T) {
	s, ctx := newStore(t)
	now := time.Unix(1_800_000_000, 0)
	s.Now = func() time.Time { return now }
	s.InProgressExpiry = time.Second
	s.Expiry = time.Minute
	// A holder that died: lock taken, never completed.
	blocked := make(chan struct{})
	go func() {
		_, _, _ = s.Do(ctx, []byte("e"), func(context.Context) (json.RawMessage, error) { <-blocked; return nil, nil })
	}()
	time.Sleep(200 * time.Millisecond)
	if _, _, err := s.Do(ctx, []byte("e"), func(context.Context) (json.RawMessage, error) { return nil, nil }); !errors.Is(err, idempotency.ErrInProgress) {
		t.Fatalf("live lock: %v", err)
	}
	s2 := *s
	s2.Now = func() time.Time { return now.Add(2 * time.Second) }
	ran := false
	if _, _, err := s2.Do(ctx, []byte("e"), func(context.Context) (json.RawMessage, error) { ran = true; return nil, nil }); err != nil || !ran {
		t.Fatalf("expired lock not taken over: %v", err)
	}
	close(blocked)
	s3 := *s
	s3.Now = func() time.Time { return now.Add(2 * time.Minute) }
	ran = false
	if _, dup, err := s3.Do(ctx, []byte("e"), func(context.Context) (json.RawMessage, error) { ran = true; return nil, nil }); err != nil || dup || !ran {
		t.Fatalf("expired record still deduplicates: dup=%v err=%v", dup, err)
	}
}
