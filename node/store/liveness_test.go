package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/streamha/streamha/internal/pgtest"
	"github.com/streamha/streamha/node/cluster"
	"github.com/streamha/streamha/node/store"
)

func mustLock(t *testing.T, db *store.DB, group string) cluster.LivenessLock {
	t.Helper()
	l, err := db.LivenessLock(group)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func tryLock(t *testing.T, l cluster.LivenessLock) bool {
	t.Helper()
	got, err := l.TryLock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestLivenessLockIsExclusiveAndFreedOnUnlock: one holder per group at a time (also two handles
// of one process), other groups are independent, and Unlock frees it for the next.
func TestLivenessLockIsExclusiveAndFreedOnUnlock(t *testing.T) {
	drivers(t, func(t *testing.T, db *store.DB) {
		a, b, other := mustLock(t, db, "g"), mustLock(t, db, "g"), mustLock(t, db, "h")
		if !tryLock(t, a) {
			t.Fatal("first holder did not get the lock")
		}
		if !tryLock(t, a) {
			t.Fatal("the holder's second TryLock said no")
		}
		if tryLock(t, b) {
			t.Fatal("a second handle got a held lock")
		}
		if !tryLock(t, other) {
			t.Fatal("another group's lock is not independent")
		}
		lost := a.Lost()
		a.Unlock()
		select {
		case <-lost:
		case <-time.After(5 * time.Second):
			t.Fatal("Lost not closed by Unlock")
		}
		waitLock(t, b)
	})
}

// waitLock retries until l is taken: a release reaches the database a moment after Unlock.
func waitLock(t *testing.T, l cluster.LivenessLock) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !tryLock(t, l) {
		if time.Now().After(deadline) {
			t.Fatal("lock not free 5 s after its holder let it go")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestAcquireAfterCrashIsConditional: an unexpired lease is taken over only at the term seen and
// only once its holder recorded the lock under that term; a renewal, release or takeover that
// moved the term on makes a late takeover fail.
func TestAcquireAfterCrashIsConditional(t *testing.T) {
	drivers(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		lease := time.Minute
		l1, ok, err := db.Acquire(ctx, "g", "a", lease)
		if err != nil || !ok {
			t.Fatalf("acquire: %v %v", ok, err)
		}
		// Holder has not recorded the lock: no takeover (it may still be claiming it).
		if _, ok, err := db.AcquireAfterCrash(ctx, "g", "b", l1.Term, lease, 0); err != nil || ok {
			t.Fatalf("takeover before the holder recorded its lock: ok=%v err=%v", ok, err)
		}
		if err := db.RecordLock(ctx, "g", "a", l1.Term, 42); err != nil {
			t.Fatal(err)
		}
		if err := db.RecordLock(ctx, "g", "b", l1.Term, 43); !errors.Is(err, cluster.ErrLeaseLost) {
			t.Fatalf("RecordLock by a non-holder: %v, want ErrLeaseLost", err)
		}
		// A term the passive did not see (older) fails.
		if _, ok, _ := db.AcquireAfterCrash(ctx, "g", "b", l1.Term-1, lease, 0); ok {
			t.Fatal("takeover at a stale term succeeded")
		}
		l2, ok, err := db.AcquireAfterCrash(ctx, "g", "b", l1.Term, lease, 7)
		if err != nil || !ok {
			t.Fatalf("takeover: ok=%v err=%v", ok, err)
		}
		if l2.Term != l1.Term+1 || l2.Holder != "b" || l2.Remaining <= 0 {
			t.Fatalf("lease after takeover: %+v", l2)
		}
		hist, err := db.History(ctx, "g", 0)
		if err != nil {
			t.Fatal(err)
		}
		if last := hist[len(hist)-1]; last.Event != "acquire" || last.Term != l2.Term || last.Holder != "b" ||
			last.Previous != "a" || last.Reason != cluster.ReasonCrashTakeover {
			t.Fatalf("term history ends with %+v, want b's crash takeover of a's lease at term %d", last, l2.Term)
		}
		// The old holder's renewal is refused; a second takeover at the old term fails.
		if _, err := db.Renew(ctx, "g", "a", l1.Term, lease); !errors.Is(err, cluster.ErrLeaseLost) {
			t.Fatalf("old holder renewed: %v", err)
		}
		if _, ok, _ := db.AcquireAfterCrash(ctx, "g", "c", l1.Term, lease, 0); ok {
			t.Fatal("a second takeover at the same seen term succeeded")
		}
		// The taker's lock counts as recorded: a crash of b is detectable at once.
		if l3, ok, err := db.AcquireAfterCrash(ctx, "g", "c", l2.Term, lease, 0); err != nil || !ok || l3.Term != l2.Term+1 {
			t.Fatalf("takeover from a taker: %+v ok=%v err=%v", l3, ok, err)
		}
		if cur, _ := db.Leader(ctx, "g"); cur.Holder != "c" {
			t.Fatalf("holder %q, want c", cur.Holder)
		}
		// A lease its holder released (a switchover's hand-over) is no crash: the crash path
		// refuses it, and the normal acquire takes it, recorded as what it is.
		l4, _ := db.Leader(ctx, "g")
		if err := db.RecordLock(ctx, "g", "c", l4.Term, 44); err != nil {
			t.Fatal(err)
		}
		if err := db.Release(ctx, "g", "c", l4.Term, "switchover"); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := db.AcquireAfterCrash(ctx, "g", "d", l4.Term, lease, 0); ok {
			t.Fatal("a released lease was taken over as a crash")
		}
		if _, ok, err := db.Acquire(ctx, "g", "d", lease); err != nil || !ok {
			t.Fatalf("acquire after the release: ok=%v err=%v", ok, err)
		}
		hist, _ = db.History(ctx, "g", 0)
		if last := hist[len(hist)-1]; last.Reason == cluster.ReasonCrashTakeover {
			t.Fatalf("acquire after a release recorded as %+v", last)
		}
	})
}

// TestPostgresLockLostAndBroken: the holder's Lost fires as soon as its session is ended on the
// server, and BreakLock ends the recorded session only while it holds the lock, for the holder of
// the current unexpired lease.
func TestPostgresLockLostAndBroken(t *testing.T) {
	db := openDB(t, pgtest.Shared(t).NewDatabase(t))
	ctx := context.Background()
	old := mustLock(t, db, "g")
	if !tryLock(t, old) {
		t.Fatal("no lock")
	}
	l1, _, err := db.Acquire(ctx, "g", "a", 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.RecordLock(ctx, "g", "a", l1.Term, old.Session()); err != nil {
		t.Fatal(err)
	}
	// a is deposed by expiry but its session lingers with the lock.
	var l2 cluster.Lease
	for deadline := time.Now().Add(10 * time.Second); ; {
		if time.Now().After(deadline) {
			t.Fatal("b never took the expired lease")
		}
		var ok bool
		if l2, ok, err = db.Acquire(ctx, "g", "b", time.Minute); err != nil {
			t.Fatal(err)
		} else if ok {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if ended, err := db.BreakLock(ctx, "g", "a", l2.Term); err != nil || ended {
		t.Fatalf("BreakLock for a node not holding the lease ended a session: %v %v", ended, err)
	}
	lost := old.Lost()
	ended, err := db.BreakLock(ctx, "g", "b", l2.Term)
	if err != nil || !ended {
		t.Fatalf("BreakLock by the new holder: ended=%v err=%v", ended, err)
	}
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatal("the ended session's holder was not told: Lost still open")
	}
	taker := mustLock(t, db, "g")
	waitLock(t, taker)
	if err := db.RecordLock(ctx, "g", "b", l2.Term, taker.Session()); err != nil {
		t.Fatal(err)
	}
	// The recorded session (b's own) holds the lock, but BreakLock never ends the caller's
	// backend; and a pid that does not hold the lock is never ended.
	if err := db.RecordLock(ctx, "g", "b", l2.Term, 1); err != nil {
		t.Fatal(err)
	}
	if ended, err := db.BreakLock(ctx, "g", "b", l2.Term); err != nil || ended {
		t.Fatalf("BreakLock ended a session not holding the lock: %v %v", ended, err)
	}
	select {
	case <-taker.Lost():
		t.Fatal("the taker lost its lock")
	default:
	}
}
