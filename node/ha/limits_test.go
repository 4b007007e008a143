package ha

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestBudgetBoundsReservations: reservations never exceed the budget; one over it is refused as
// overloaded after the wait, a waiter gets its bytes as soon as others release, and a request
// larger than the whole budget takes all of it instead of never running.
func TestBudgetBoundsReservations(t *testing.T) {
	ctx := context.Background()
	b := newBudget(100, time.Millisecond)
	r1 := &Reservation{b: b}
	if err := r1.Grow(ctx, 60); err != nil {
		t.Fatal(err)
	}
	r2 := &Reservation{b: b}
	if err := r2.Grow(ctx, 50); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("60 + 50 of 100: err = %v, want ErrOverloaded", err)
	}
	if err := r2.Grow(ctx, 40); err != nil || b.used != 100 {
		t.Fatalf("60 + 40 of 100: err = %v, used %d", err, b.used)
	}

	b.wait = time.Hour // the waiter below must be woken by the release, not by its timer
	got := make(chan error, 1)
	r3 := &Reservation{b: b}
	go func() { got <- r3.Grow(ctx, 30) }()
	r1.Release()
	r1.Release() // twice is harmless
	if err := <-got; err != nil || b.used != 70 {
		t.Fatalf("after release: err = %v, used %d", err, b.used)
	}
	r2.Release()
	r3.Release()
	if b.used != 0 {
		t.Fatalf("used %d after every release", b.used)
	}

	big := &Reservation{b: b}
	if err := big.Grow(ctx, 1000); err != nil || b.used != 100 {
		t.Fatalf("over-budget request: err = %v, used %d (want the whole budget)", err, b.used)
	}
	if err := big.Grow(ctx, 10); err != nil || b.used != 100 {
		t.Fatalf("growing a whole-budget reservation: err = %v, used %d", err, b.used)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := (&Reservation{b: b}).Grow(cctx, 1); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("cancelled wait: %v", err)
	}
	big.Release()
	if b.used != 0 {
		t.Fatalf("used %d", b.used)
	}
}
