package cluster_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/streamha/streamha/internal/faultproxy"
	"github.com/streamha/streamha/internal/pgtest"
	"github.com/streamha/streamha/node/cluster"
)

// crashTiming has a lease long enough that "well before expiry" cannot be met by a loaded
// machine's slowness, and that waiting for expiry (the behaviour without crash detection) is far
// beyond every bound these tests assert.
var crashTiming = cluster.Timing{HeartbeatInterval: 100 * time.Millisecond, Lease: 3 * time.Second, RenewDeadline: 2 * time.Second}

// crashTakeover is how a promotion after crash detection is explained in its transition.
const crashTakeover = "takeover after crash detection"

func newDetectingCluster(t *testing.T) *testCluster {
	c := newCluster(t, "", 0, nil)
	c.detect, c.timing = true, crashTiming
	return c
}

// lockRow reads the lease row's record of the liveness lock.
func lockRow(t *testing.T, m *member) (term, session int64) {
	t.Helper()
	err := m.db.SQL().QueryRowContext(context.Background(),
		`SELECT COALESCE(lock_term, 0), COALESCE(lock_session, 0) FROM ha_lease WHERE group_id = 'g'`).Scan(&term, &session)
	if err != nil {
		t.Fatal(err)
	}
	return term, session
}

// waitFor polls cond (the runners work on their own clocks and connections; nothing to signal).
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitLockRecorded waits until m leads and has recorded its liveness lock under its term: from
// then on its death is detectable.
func waitLockRecorded(t *testing.T, m *member) {
	t.Helper()
	waitFor(t, 10*time.Second, m.id+" records its liveness lock", func() bool {
		term, _ := lockRow(t, m)
		return term == m.runner.Term() && term > 0
	})
}

func promotionReason(m *member, term int64) string {
	for _, tr := range m.transitions() {
		if tr.To == cluster.Promoting && tr.Term == term {
			return tr.Reason
		}
	}
	return ""
}

// TestCrashedActiveIsReplacedBeforeLeaseExpiry: the active dies (its lease left behind, its
// liveness lock freed as a dead process's sockets and files are); the passive takes the lease
// over at once under the next term, well before the lease would expire.
func TestCrashedActiveIsReplacedBeforeLeaseExpiry(t *testing.T) {
	drivers(t, func(t *testing.T, url string) {
		c := newDetectingCluster(t)
		c.add(url, "n0", 0)
		c.add(url, "n1", 0)
		a := c.waitActive(10*time.Second, nil)
		waitLockRecorded(t, a)
		term := a.runner.Term()
		crashed := time.Now()
		a.store.cut.Store(true) // a dead process reaches nothing: no release, no deregistration
		a.stop()
		b := c.waitActive(10*time.Second, a)
		took := time.Since(crashed)
		if took >= crashTiming.Lease/2 {
			t.Errorf("takeover %s after the crash: not well before the lease (%s) could expire", took, crashTiming.Lease)
		}
		if got := b.runner.Term(); got != term+1 {
			t.Errorf("new term %d, want %d", got, term+1)
		}
		if r := promotionReason(b, b.runner.Term()); !strings.Contains(r, crashTakeover) {
			t.Errorf("promotion reason %q, want a takeover after crash detection", r)
		}
		t.Logf("took over %s after the crash", took)
		waitLockRecorded(t, b)
	})
}

// TestPartitionedActiveStillWaitsForTheLease: an active cut off from the database whose session
// lingers on the server (or frozen: it keeps its session either way) still holds the liveness
// lock, so the passive waits for the lease to expire. The new active then ends the lingering
// session (PostgreSQL) and takes the lock; on SQLite it gets the lock once the old process lets
// go of it.
func TestPartitionedActiveStillWaitsForTheLease(t *testing.T) {
	drivers(t, func(t *testing.T, url string) {
		c := newDetectingCluster(t)
		c.add(url, "n0", 0)
		c.add(url, "n1", 0)
		a := c.waitActive(10*time.Second, nil)
		waitLockRecorded(t, a)
		_, oldSession := lockRow(t, a)
		a.store.lock.linger.Store(true)
		t.Cleanup(func() { a.store.lock.LivenessLock.Close() })
		cut := time.Now()
		a.store.cut.Store(true)
		b := c.waitActive(10*time.Second, a)
		if took := time.Since(cut); took < crashTiming.RenewDeadline {
			t.Errorf("takeover %s after the partition: before the partitioned active's lease could expire", took)
		}
		if r := promotionReason(b, b.runner.Term()); strings.Contains(r, crashTakeover) {
			t.Errorf("promotion reason %q: the lock of a live session was taken", r)
		}
		if strings.HasPrefix(url, "sqlite://") {
			// A frozen or partitioned process keeps its flock: the new active serves without
			// the lock until the old one lets go of it.
			time.Sleep(3 * crashTiming.HeartbeatInterval)
			if term, _ := lockRow(t, b); term == b.runner.Term() {
				t.Fatal("the new active recorded a lock the old process still holds")
			}
			a.store.lock.LivenessLock.Close()
		}
		waitLockRecorded(t, b)
		if _, s := lockRow(t, b); s == oldSession && s != 0 {
			t.Fatalf("lock session %d is still the old active's", s)
		}
	})
}

// TestCutDatabaseConnectionDemotesAtOnce: only the active's database link is cut (its process
// keeps running). Its lock session ends, so it stops serving at once, long before renew_deadline,
// and the passive takes over at once under a newer term.
func TestCutDatabaseConnectionDemotesAtOnce(t *testing.T) {
	dbURL := pgtest.Shared(t).NewDatabase(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	px, err := faultproxy.New("127.0.0.1:0", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { px.Close() })
	proxied := *u
	proxied.Host = px.Addr()
	c := newDetectingCluster(t)
	c.splitBrainExpected = true // checked below, with the documented bound
	a := c.add(proxied.String(), "n0", 0)
	a2 := c.waitActive(10*time.Second, nil)
	if a2 != a {
		t.Fatalf("%s active, want n0", a2.id)
	}
	waitLockRecorded(t, a)
	b := c.add(dbURL, "n1", 0)
	waitFor(t, 10*time.Second, "n1 passive", func() bool { return b.runner.Role() == cluster.Passive })
	term := a.runner.Term()
	cut := time.Now()
	px.Cut()
	waitFor(t, 10*time.Second, "n0 stops serving", func() bool { _, ok := a.runner.Serving(); return !ok })
	demoted := time.Since(cut)
	c.waitActive(10*time.Second, a)
	took := time.Since(cut)
	if demoted >= crashTiming.RenewDeadline/2 {
		t.Errorf("the cut-off active served for %s: it did not notice its lock session end", demoted)
	}
	if took >= crashTiming.Lease/2 {
		t.Errorf("takeover %s after the cut: not well before the lease could expire", took)
	}
	if got := b.runner.Term(); got <= term {
		t.Errorf("new term %d not above %d", got, term)
	}
	t.Logf("old active stopped %s after the cut, new one serves after %s", demoted, took)
	px.Heal()
	for _, m := range c.members {
		m.stop()
	}
	if err := checkBoundedOverlap(c.leaderships(), crashTiming.RenewDeadline); err != nil {
		t.Fatal(err)
	}
}

// checkBoundedOverlap is checkLeaderships allowing what a cut database link may cause: the old
// active believing it leads a moment after the passive took over (until it sees its lock session
// end; at most bound). Terms must still increase.
func checkBoundedOverlap(ls []leadership, bound time.Duration) error {
	err := checkLeaderships(ls)
	if err == nil {
		return nil
	}
	for _, a := range ls {
		for _, b := range ls {
			if a.node == b.node || !a.from.Before(b.from) || (!a.to.IsZero() && !b.from.Before(a.to)) {
				continue
			}
			if a.to.IsZero() || a.to.Sub(b.from) > bound || b.term <= a.term {
				return fmt.Errorf("beyond the bound of %s: %w", bound, err)
			}
		}
	}
	return nil
}
