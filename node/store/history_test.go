package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/streamha/streamha/node/cluster"
	"github.com/streamha/streamha/node/store"
	"github.com/streamha/streamha/schema"
)

// expire makes group's lease expired by the database's clock, as if its holder had died.
func expire(t *testing.T, db *store.DB, group string) {
	t.Helper()
	q := `UPDATE ha_lease SET expires_at = now() - interval '1 second' WHERE group_id = $1`
	if db.Dialect() == schema.SQLite {
		q = `UPDATE ha_lease SET expires_at = expires_at - 3600000 WHERE group_id = ?1`
	}
	if _, err := db.SQL().ExecContext(context.Background(), q, group); err != nil {
		t.Fatal(err)
	}
}

func describe(es []store.TermEvent) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "%d %s %s prev=%s %s\n", e.Term, e.Event, e.Holder, e.Previous, e.Reason)
	}
	return b.String()
}

// TestTermHistory checks that every acquisition and release writes one history row with the
// holder, the previous holder and the reason, on both databases: first election, takeover after
// expiry (a crashed holder), switchover, demotion and shutdown releases and the acquisitions they
// free the lease for. Refused acquisitions and releases write nothing.
func TestTermHistory(t *testing.T) {
	drivers(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		const lease = time.Minute
		acquire := func(node string, want int64) {
			t.Helper()
			l, ok, err := db.Acquire(ctx, "g", node, lease)
			if err != nil || !ok || l.Term != want {
				t.Fatalf("acquire by %s = %+v %v %v; want term %d", node, l, ok, err, want)
			}
		}
		release := func(node string, term int64, reason string) {
			t.Helper()
			if err := db.Release(ctx, "g", node, term, reason); err != nil {
				t.Fatalf("release by %s: %v", node, err)
			}
		}
		acquire("a", 1)
		if _, ok, _ := db.Acquire(ctx, "g", "b", lease); ok {
			t.Fatal("contended acquire succeeded")
		}
		expire(t, db, "g")
		acquire("b", 2)
		if err := db.Release(ctx, "g", "a", 1, cluster.ReasonShutdown); err == nil {
			t.Fatal("release by a deposed holder succeeded")
		}
		release("b", 2, cluster.ReasonSwitchover)
		acquire("a", 3)
		release("a", 3, cluster.ReasonDemotion)
		acquire("b", 4)
		release("b", 4, cluster.ReasonShutdown)
		acquire("a", 5)
		if _, ok, _ := db.Acquire(ctx, "other", "x", lease); !ok {
			t.Fatal("acquire in another group")
		}
		got, err := db.History(ctx, "g", 0)
		if err != nil {
			t.Fatal(err)
		}
		want := `1 acquire a prev= first_election
2 acquire b prev=a expiry_takeover
2 release b prev= switchover
3 acquire a prev=b switchover
3 release a prev= demotion
4 acquire b prev=a demotion
4 release b prev= shutdown
5 acquire a prev=b shutdown
`
		if d := describe(got); d != want {
			t.Fatalf("history:\n%s\nwant:\n%s", d, want)
		}
		for i, e := range got {
			if e.Group != "g" || e.At.IsZero() || e.Age < 0 || e.Age > time.Hour || (i > 0 && e.At.Before(got[i-1].At)) {
				t.Fatalf("row %d: %+v", i, e)
			}
		}
		all, err := db.History(ctx, "", time.Hour)
		if err != nil || len(all) != len(got)+1 {
			t.Fatalf("history of every group within an hour: %d rows, %v; want %d", len(all), err, len(got)+1)
		}
		groups, err := db.Groups(ctx)
		if err != nil || strings.Join(groups, ",") != "g,other" {
			t.Fatalf("groups = %v, %v", groups, err)
		}
	})
}

// TestTermHistoryRetention checks the trim each acquisition makes: at most history_max_rows
// rows per group, and none older than history_retention, without touching other groups.
func TestTermHistoryRetention(t *testing.T) {
	drivers(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		db.SetHistoryRetention(time.Hour, 3)
		if _, ok, _ := db.Acquire(ctx, "other", "x", time.Minute); !ok {
			t.Fatal("acquire in another group")
		}
		for term := int64(1); term <= 5; term++ {
			l, ok, err := db.Acquire(ctx, "g", "a", time.Minute)
			if err != nil || !ok || l.Term != term {
				t.Fatalf("acquire = %+v %v %v", l, ok, err)
			}
			if err := db.Release(ctx, "g", "a", term, cluster.ReasonShutdown); err != nil {
				t.Fatal(err)
			}
		}
		got, _ := db.History(ctx, "g", 0)
		// The last trim ran at term 5's acquisition: it kept 3 rows, then the release added one.
		if d := describe(got); d != "4 acquire a prev=a shutdown\n4 release a prev= shutdown\n5 acquire a prev=a shutdown\n5 release a prev= shutdown\n" {
			t.Fatalf("after trimming to 3 rows:\n%s", d)
		}
		// Age every row past the retention: the next acquisition keeps only its own.
		q := `UPDATE ha_lease_history SET at = at - interval '2 hours' WHERE group_id = 'g'`
		if db.Dialect() == schema.SQLite {
			q = `UPDATE ha_lease_history SET at = at - 7200000 WHERE group_id = 'g'`
		}
		if _, err := db.SQL().ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := db.Acquire(ctx, "g", "a", time.Minute); !ok {
			t.Fatal("acquire")
		}
		if got, _ := db.History(ctx, "g", 0); describe(got) != "6 acquire a prev=a shutdown\n" {
			t.Fatalf("after the retention passed:\n%s", describe(got))
		}
		if got, _ := db.History(ctx, "other", 0); len(got) != 1 {
			t.Fatalf("other group's history trimmed: %v", got)
		}
	})
}
