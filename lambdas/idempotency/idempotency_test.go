package idempotency_test

import (
	"context"
	"encoding/json"
	"errors"
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

// TestDoRunsOncePerPayload: four concurrent deliveries of one event race for its lock while the
// winner's handler is held inside fn; the three others must each get ErrInProgress (not run, not
// a duplicate with no result). Once the handler finishes, redeliveries get its stored result.
func TestDoRunsOncePerPayload(t *testing.T) {
	s, ctx := newStore(t)
	var runs atomic.Int32
	entered := make(chan struct{}, 4) // one per handler run: more than one is the defect
	release := make(chan struct{})
	fn := func(context.Context) (json.RawMessage, error) {
		runs.Add(1)
		entered <- struct{}{}
		<-release
		return json.RawMessage(`{"stopped":1}`), nil
	}
	type result struct {
		dup bool
		err error
	}
	results := make(chan result, 4)
	for i := 0; i < 4; i++ {
		go func() {
			_, dup, err := s.Do(ctx, []byte("event-1"), fn)
			results <- result{dup, err}
		}()
	}
	// While a handler holds the lock, every other delivery must return without running it.
	var dups, inProgress, entries, done int
	var released bool
	for done < 4 {
		if !released && entries == 1 && done == 3 {
			close(release)
			released = true
		}
		select {
		case <-entered:
			entries++
			if entries > 1 {
				if !released {
					close(release)
				}
				t.Fatalf("handler entered %d times for one event while the first run held the lock", entries)
			}
		case r := <-results:
			done++
			switch {
			case errors.Is(r.err, idempotency.ErrInProgress):
				inProgress++
			case r.err != nil:
				t.Errorf("Do: %v", r.err)
			case r.dup:
				dups++
			}
		}
	}
	if runs.Load() != 1 || inProgress != 3 || dups != 0 {
		t.Fatalf("runs=%d in-progress=%d duplicates=%d; want 1 run, 3 in progress (the lock was held), 0 duplicates",
			runs.Load(), inProgress, dups)
	}
	for i := 0; i < 2; i++ {
		out, dup, err := s.Do(ctx, []byte("event-1"), fn)
		if err != nil || !dup || string(out) != `{"stopped":1}` || runs.Load() != 1 {
			t.Fatalf("redelivery %d: out=%s dup=%v err=%v runs=%d", i+1, out, dup, err, runs.Load())
		}
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
	// A holder that died: lock taken, never completed. fn runs only once Do holds the lock.
	held, blocked, holderDone := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(holderDone)
		_, _, _ = s.Do(ctx, []byte("e"), func(context.Context) (json.RawMessage, error) {
			close(held)
			<-blocked
			return nil, nil
		})
	}()
	<-held
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
	<-holderDone // its late completion must not revive the record either
	s3 := *s
	s3.Now = func() time.Time { return now.Add(2 * time.Minute) }
	ran = false
	if _, dup, err := s3.Do(ctx, []byte("e"), func(context.Context) (json.RawMessage, error) { ran = true; return nil, nil }); err != nil || dup || !ran {
		t.Fatalf("expired record still deduplicates: dup=%v err=%v", dup, err)
	}
}
