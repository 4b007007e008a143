package cluster_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamha/streamha/node/cluster"
)

// TestLeadershipCheckCatchesOverlaps shows the history check finds any overlap of two members'
// leaderships, however short, on the common clock whatever the members' skew.
func TestLeadershipCheckCatchesOverlaps(t *testing.T) {
	base := time.Now()
	ms := func(n int) time.Time { return base.Add(time.Duration(n) * time.Millisecond) }
	tr := func(from, to cluster.Role, term int64, at time.Time) cluster.Transition {
		return cluster.Transition{From: from, To: to, Term: term, At: at}
	}
	led := func(term int64, from, to time.Time) []cluster.Transition {
		return []cluster.Transition{
			tr(cluster.Starting, cluster.Passive, 0, from.Add(-time.Second)),
			tr(cluster.Passive, cluster.Promoting, term, from),
			tr(cluster.Promoting, cluster.Active, term, from.Add(time.Microsecond)),
			tr(cluster.Active, cluster.Demoted, term, to),
			tr(cluster.Demoted, cluster.Passive, term, to),
		}
	}
	const skew = 7 * time.Minute
	skewed := func(trs []cluster.Transition) []cluster.Transition {
		for i := range trs {
			trs[i].At = trs[i].At.Add(skew)
		}
		return trs
	}
	cases := []struct {
		name string
		ls   []leadership
		want string // "" for no error
	}{
		{"one after the other", append(leadershipsOf("a", 0, led(1, ms(0), ms(100))), leadershipsOf("b", 0, led(2, ms(100), ms(200)))...), ""},
		{"one microsecond of overlap", append(leadershipsOf("a", 0, led(1, ms(0), ms(100))), leadershipsOf("b", 0, led(2, ms(100).Add(-time.Microsecond), ms(200)))...), "split brain"},
		{"a short leadership inside another", append(leadershipsOf("a", 0, led(1, ms(0), ms(100))), leadershipsOf("b", 0, led(2, ms(50), ms(50).Add(time.Microsecond)))...), "split brain"},
		{"still leading when another begins", append(leadershipsOf("a", 0, led(1, ms(0), ms(100))[:3]), leadershipsOf("b", 0, led(2, ms(150), ms(200)))...), "split brain"},
		{"overlap hidden by skew", append(leadershipsOf("a", 0, led(1, ms(0), ms(100))), leadershipsOf("b", skew, skewed(led(2, ms(99), ms(200))))...), "split brain"},
		{"no overlap despite skew", append(leadershipsOf("a", 0, led(1, ms(0), ms(100))), leadershipsOf("b", skew, skewed(led(2, ms(101), ms(200))))...), ""},
		{"term goes back", append(leadershipsOf("a", 0, led(3, ms(0), ms(100))), leadershipsOf("b", 0, led(2, ms(100), ms(200)))...), "terms out of order"},
		{"term repeats on one member", leadershipsOf("a", 0, append(led(3, ms(0), ms(100)), led(3, ms(200), ms(300))...)), "terms out of order"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := checkLeaderships(tc.ls)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// liarStore grants its node the lease whatever the database says: a broken store, to inject a
// split brain into a real cluster.
type liarStore struct{ cluster.Store }

func (s liarStore) Acquire(ctx context.Context, g, id string, d time.Duration) (cluster.Lease, bool, error) {
	l, err := s.Store.Leader(ctx, g)
	if err != nil {
		return cluster.Lease{}, false, err
	}
	return cluster.Lease{Group: g, Holder: id, Term: l.Term + 1000, Remaining: d}, true, nil
}

func (s liarStore) Renew(_ context.Context, g, id string, term int64, d time.Duration) (cluster.Lease, error) {
	return cluster.Lease{Group: g, Holder: id, Term: term, Remaining: d}, nil
}

func (s liarStore) Release(context.Context, string, string, int64, string) error { return nil }

// TestHistoryCatchesAnInjectedSplitBrain: next to a real active, a member whose store lies leads
// for the blink of a failed promotion (it never serves, so polling Serving could not see it);
// the check over the recorded history reports the overlap.
func TestHistoryCatchesAnInjectedSplitBrain(t *testing.T) {
	url := "sqlite://" + filepath.Join(t.TempDir(), "ha.db")
	c := newCluster(t, url, 1, nil)
	c.splitBrainExpected = true
	a := c.waitActive(5*time.Second, nil)
	led := make(chan int64, 1)
	b := c.addWith(url, "liar", 0, func(s cluster.Store) cluster.Store { return liarStore{s} },
		func(_ context.Context, term int64) error {
			select {
			case led <- term:
			default:
			}
			return errors.New("injected: promotion fails at once")
		})
	select {
	case <-led:
	case <-time.After(5 * time.Second):
		t.Fatal("the lying member never took the lease")
	}
	b.stop()
	if _, serving := a.runner.Serving(); !serving {
		t.Fatal("the real active stopped serving: the overlap is not injected")
	}
	err := checkLeaderships(c.leaderships())
	if err == nil || !strings.Contains(err.Error(), "split brain") {
		t.Fatalf("the history check missed the injected split brain: %v", err)
	}
	t.Logf("caught: %v", err)
}
