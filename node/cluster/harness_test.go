package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamha/streamha/internal/pgtest"
	"github.com/streamha/streamha/node/cluster"
	"github.com/streamha/streamha/node/store"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var fastTiming = cluster.Timing{HeartbeatInterval: 50 * time.Millisecond, Lease: 600 * time.Millisecond, RenewDeadline: 400 * time.Millisecond}

// errPartitioned is what a cut-off node's store calls return.
var errPartitioned = errors.New("partitioned")

// faultStore wraps a real store and can cut the node off from it, like a network partition or
// a crashed process whose lease is left to expire.
type faultStore struct {
	cluster.Store
	cut atomic.Bool
}

func (f *faultStore) check() error {
	if f.cut.Load() {
		return errPartitioned
	}
	return nil
}

func (f *faultStore) Register(ctx context.Context, n cluster.NodeInfo) error {
	if err := f.check(); err != nil {
		return err
	}
	return f.Store.Register(ctx, n)
}

func (f *faultStore) Heartbeat(ctx context.Context, g, id string, st json.RawMessage) error {
	if err := f.check(); err != nil {
		return err
	}
	return f.Store.Heartbeat(ctx, g, id, st)
}

func (f *faultStore) Acquire(ctx context.Context, g, id string, d time.Duration) (cluster.Lease, bool, error) {
	if err := f.check(); err != nil {
		return cluster.Lease{}, false, err
	}
	return f.Store.Acquire(ctx, g, id, d)
}

func (f *faultStore) Renew(ctx context.Context, g, id string, term int64, d time.Duration) (cluster.Lease, error) {
	if err := f.check(); err != nil {
		return cluster.Lease{}, err
	}
	return f.Store.Renew(ctx, g, id, term, d)
}

func (f *faultStore) Release(ctx context.Context, g, id string, term int64) error {
	if err := f.check(); err != nil {
		return err
	}
	return f.Store.Release(ctx, g, id, term)
}

// member is one node of a test cluster.
type member struct {
	id     string
	runner *cluster.Runner
	store  *faultStore
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex
	trans []cluster.Transition
}

func (m *member) transitions() []cluster.Transition {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]cluster.Transition(nil), m.trans...)
}

// stop shuts the member down cleanly (releasing its lease) and waits.
func (m *member) stop() {
	m.cancel()
	<-m.done
}

// testCluster is N runners of one group against one database.
type testCluster struct {
	t       *testing.T
	group   string
	members []*member
	// terms records every term that became Active, in the order seen.
	termsMu sync.Mutex
	terms   []int64
}

func newCluster(t *testing.T, url string, n int, skew []time.Duration) *testCluster {
	t.Helper()
	c := &testCluster{t: t, group: "g"}
	for i := 0; i < n; i++ {
		c.add(url, fmt.Sprintf("n%d", i), skewAt(skew, i))
	}
	return c
}

func skewAt(s []time.Duration, i int) time.Duration {
	if i < len(s) {
		return s[i]
	}
	return 0
}

func (c *testCluster) add(url, id string, skew time.Duration) *member {
	t := c.t
	db, err := store.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	m := &member{id: id, store: &faultStore{Store: db}, done: make(chan struct{})}
	r, err := cluster.NewRunner(cluster.Config{
		Node:   cluster.NodeInfo{Group: c.group, NodeID: id, Properties: map[string]string{}},
		Timing: fastTiming,
		Store:  m.store,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Now:    func() time.Time { return time.Now().Add(skew) },
	})
	if err != nil {
		t.Fatal(err)
	}
	r.OnTransition(func(tr cluster.Transition) {
		m.mu.Lock()
		m.trans = append(m.trans, tr)
		m.mu.Unlock()
		if tr.To == cluster.Active {
			c.termsMu.Lock()
			c.terms = append(c.terms, tr.Term)
			c.termsMu.Unlock()
		}
	})
	m.runner = r
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go func() { defer close(m.done); _ = r.Run(ctx) }()
	t.Cleanup(m.stop)
	c.members = append(c.members, m)
	return m
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Logf("%s", p); return len(p), nil }

// actives lists the members that currently serve.
func (c *testCluster) actives() []*member {
	var out []*member
	for _, m := range c.members {
		if _, ok := m.runner.Serving(); ok {
			out = append(out, m)
		}
	}
	return out
}

// waitActive waits until exactly one member serves, other than except, and returns it.
func (c *testCluster) waitActive(timeout time.Duration, except *member) *member {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if a := c.actives(); len(a) == 1 && a[0] != except {
			return a[0]
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatalf("no single active within %s (actives: %d)", timeout, len(c.actives()))
	return nil
}

// watchSingleActive fails the test if two members ever serve at once; stop it with the returned func.
func (c *testCluster) watchSingleActive() func() {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			if a := c.actives(); len(a) > 1 {
				c.t.Errorf("split brain: %d members serve at once", len(a))
				return
			}
		}
	}()
	return func() { close(stop); <-done }
}

// drivers runs fn against SQLite and a throwaway PostgreSQL database.
func drivers(t *testing.T, fn func(t *testing.T, url string)) {
	t.Run("sqlite", func(t *testing.T) {
		fn(t, "sqlite://"+filepath.Join(t.TempDir(), "ha.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		fn(t, pgtest.Shared(t).NewDatabase(t))
	})
}
