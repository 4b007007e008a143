package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/streamha/streamha/internal/pgtest"
	"github.com/streamha/streamha/node/cluster"
	"github.com/streamha/streamha/node/store"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// drivers runs fn once per database driver, each on a fresh empty database.
func drivers(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		fn(t, openDB(t, "sqlite://"+filepath.Join(t.TempDir(), "ha.db")))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		fn(t, openDB(t, pgtest.Shared(t).NewDatabase(t)))
	})
}

func openDB(t *testing.T, url string) *store.DB {
	t.Helper()
	db, err := store.Open(url)
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return db
}

func TestMigrateIsIdempotent(t *testing.T) {
	drivers(t, func(t *testing.T, db *store.DB) {
		v, err := db.Migrate(context.Background())
		if err != nil || len(v) != 0 {
			t.Fatalf("second migrate applied %v, err %v; want nothing", v, err)
		}
	})
}

func TestOpenRejectsUnknownScheme(t *testing.T) {
	_, err := store.Open("mysql://x")
	if !errors.Is(err, store.ErrBadURL) {
		t.Fatalf("err = %v, want ErrBadURL", err)
	}
}

func TestRegistrationAndHeartbeat(t *testing.T) {
	drivers(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		n := cluster.NodeInfo{Group: "g", NodeID: "a", Properties: map[string]string{cluster.PropSyncAddr: "h:1"}}
		if err := db.Register(ctx, n); err != nil {
			t.Fatal(err)
		}
		if err := db.Heartbeat(ctx, "g", "a", []byte(`{"role":"passive"}`)); err != nil {
			t.Fatal(err)
		}
		nodes, err := db.Nodes(ctx, "g")
		if err != nil || len(nodes) != 1 {
			t.Fatalf("nodes = %v, %v", nodes, err)
		}
		if got := nodes[0].Properties[cluster.PropSyncAddr]; got != "h:1" {
			t.Errorf("sync addr = %q", got)
		}
		if nodes[0].HeartbeatAge < 0 || nodes[0].HeartbeatAge > 5*time.Second {
			t.Errorf("heartbeat age %s out of range", nodes[0].HeartbeatAge)
		}
		if err := db.Heartbeat(ctx, "g", "nobody", nil); !errors.Is(err, cluster.ErrNotRegistered) {
			t.Errorf("heartbeat of unknown node: %v, want ErrNotRegistered", err)
		}
		if err := db.Deregister(ctx, "g", "a"); err != nil {
			t.Fatal(err)
		}
		if nodes, _ := db.Nodes(ctx, "g"); len(nodes) != 0 {
			t.Errorf("after deregister: %v", nodes)
		}
	})
}

func TestLeaseLifecycle(t *testing.T) {
	drivers(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		const lease = 300 * time.Millisecond
		l, ok, err := db.Acquire(ctx, "g", "a", lease)
		if err != nil || !ok || l.Term != 1 {
			t.Fatalf("first acquire = %+v %v %v; want term 1", l, ok, err)
		}
		l, ok, err = db.Acquire(ctx, "g", "b", lease)
		if err != nil || ok || l.Holder != "a" || l.Term != 1 {
			t.Fatalf("contended acquire = %+v %v %v; want refused, holder a", l, ok, err)
		}
		if _, err := db.Renew(ctx, "g", "a", 1, lease); err != nil {
			t.Fatalf("renew by holder: %v", err)
		}
		if _, err := db.Renew(ctx, "g", "b", 1, lease); !errors.Is(err, cluster.ErrLeaseLost) {
			t.Fatalf("renew by non-holder: %v, want ErrLeaseLost", err)
		}
		time.Sleep(lease + 100*time.Millisecond)
		if _, err := db.Renew(ctx, "g", "a", 1, lease); !errors.Is(err, cluster.ErrLeaseLost) {
			t.Fatalf("renew of an expired lease: %v, want ErrLeaseLost", err)
		}
		l, ok, err = db.Acquire(ctx, "g", "b", lease)
		if err != nil || !ok || l.Term != 2 {
			t.Fatalf("takeover = %+v %v %v; want term 2", l, ok, err)
		}
		if err := db.Release(ctx, "g", "a", 1, cluster.ReasonShutdown); !errors.Is(err, cluster.ErrLeaseLost) {
			t.Fatalf("release by deposed node: %v, want ErrLeaseLost", err)
		}
		if err := db.Release(ctx, "g", "b", 2, cluster.ReasonSwitchover); err != nil {
			t.Fatalf("release: %v", err)
		}
		if l, _ := db.Leader(ctx, "g"); l.Held() || l.Term != 2 {
			t.Fatalf("after release leader = %+v; want free at term 2", l)
		}
		l, ok, err = db.Acquire(ctx, "g", "a", lease)
		if err != nil || !ok || l.Term != 3 {
			t.Fatalf("acquire after release = %+v %v %v; want term 3 at once", l, ok, err)
		}
	})
}

func TestExactlyOneAcquirerWins(t *testing.T) {
	drivers(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for round := 0; round < 5; round++ {
			group := fmt.Sprintf("race%d", round)
			var wg sync.WaitGroup
			var mu sync.Mutex
			winners := 0
			for i := 0; i < 8; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					_, ok, err := db.Acquire(ctx, group, fmt.Sprintf("n%d", i), time.Minute)
					if err != nil {
						t.Errorf("acquire: %v", err)
					}
					if ok {
						mu.Lock()
						winners++
						mu.Unlock()
					}
				}(i)
			}
			wg.Wait()
			if winners != 1 {
				t.Fatalf("round %d: %d winners, want exactly 1", round, winners)
			}
		}
	})
}

func TestSnapshotsAreFencedByTerm(t *testing.T) {
	drivers(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		save := func(term int64, seq uint64) (int64, error) {
			return db.SaveSnapshot(ctx, store.Snapshot{Group: "g", App: "app", Term: term, LastSeq: seq, Payload: []byte(fmt.Sprintf("state@%d", seq))}, 2)
		}
		if rev, err := save(1, 10); err != nil || rev != 1 {
			t.Fatalf("save = %d, %v", rev, err)
		}
		if err := db.Fence(ctx, "g", 2); err != nil {
			t.Fatalf("fence: %v", err)
		}
		if _, err := save(1, 20); !errors.Is(err, cluster.ErrFenced) {
			t.Fatalf("save from deposed term: %v, want ErrFenced", err)
		}
		if err := db.Fence(ctx, "g", 1); !errors.Is(err, cluster.ErrFenced) {
			t.Fatalf("fence going back: %v, want ErrFenced", err)
		}
		for i, seq := range []uint64{30, 40, 50} {
			if rev, err := save(2, seq); err != nil || rev != int64(i+2) {
				t.Fatalf("save %d = %d, %v", seq, rev, err)
			}
		}
		s, ok, err := db.LatestSnapshot(ctx, "g", "app")
		if err != nil || !ok || s.Revision != 4 || s.LastSeq != 50 || string(s.Payload) != "state@50" || s.Term != 2 {
			t.Fatalf("latest = %+v %v %v", s, ok, err)
		}
		list, err := db.ListSnapshots(ctx, "g", "app")
		if err != nil || len(list) != 2 || list[0].Revision != 4 || list[1].Revision != 3 {
			t.Fatalf("kept revisions = %+v, %v; want 4 and 3", list, err)
		}
		if _, ok, _ := db.LatestSnapshot(ctx, "g", "other"); ok {
			t.Fatal("snapshot of an app never saved")
		}
	})
}
