package healthmirror_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/streamha/streamha/internal/dynalitetest"
	"github.com/streamha/streamha/internal/pgtest"
	"github.com/streamha/streamha/lambdas/clusterdb"
	"github.com/streamha/streamha/lambdas/clustertest"
	"github.com/streamha/streamha/lambdas/emf"
	"github.com/streamha/streamha/lambdas/health"
	"github.com/streamha/streamha/lambdas/healthmirror"
	"github.com/streamha/streamha/lambdas/ledger"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

type syncBuffer struct {
	mu sync.Mutex
	bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.Write(p)
}

func realHandler(tb testing.TB, url string, l *ledger.Ledger, out io.Writer) *healthmirror.Handler {
	tb.Helper()
	r, err := clusterdb.Open(context.Background(), url, clusterdb.Options{ConnectTimeout: time.Second, QueryTimeout: 2 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(r.Close)
	h := &healthmirror.Handler{
		Config:  healthmirror.Config{Namespace: "StreamHA", Health: health.DefaultConfig()},
		Reader:  r,
		Metrics: emf.NewWriter("StreamHA", out),
		Log:     slog.New(slog.NewJSONHandler(io.Discard, nil)),
	}
	if l != nil {
		h.Ledger = l
	}
	return h
}

func newLedger(tb testing.TB) *ledger.Ledger {
	tb.Helper()
	srv := dynalitetest.Start(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := ledger.CreateTable(ctx, srv.Client(), "streamha-ledger"); err != nil {
		tb.Fatal(err)
	}
	return ledger.New(srv.Client(), "streamha-ledger")
}

func TestFailoverRecordedOnceAgainstRealServices(t *testing.T) {
	db := clustertest.NewDB(t)
	l := newLedger(t)
	ctx := context.Background()
	term := db.Pair("g1", "n1", "n2")
	db.SaveSnapshot("g1", "TempMonitor", term)

	var out syncBuffer
	h1 := realHandler(t, db.URL, l, &out)
	h2 := realHandler(t, db.URL, l, &out)
	if res, err := h1.Handle(ctx, nil); err != nil || !res.Reachable || res.Groups[0].Failover {
		t.Fatalf("first run: %+v %v", res, err)
	}
	if v, ok, err := l.GetView(ctx, "g1"); err != nil || !ok || v.Term != term || v.Holder != "n1" || len(v.Live) != 2 {
		t.Fatalf("view %+v ok=%v err=%v", v, ok, err)
	}

	// n1 hangs: its lease expires, n2 takes over and reports active.
	db.AgeHeartbeat("g1", "n1", time.Minute)
	db.ExpireLease("g1")
	newTerm := db.Acquire("g1", "n2", time.Minute)
	db.Heartbeat("g1", "n2", clustertest.Active(newTerm))

	out.Reset()
	var wg sync.WaitGroup
	results := make([]healthmirror.Result, 2)
	for i, h := range []*healthmirror.Handler{h1, h2} { // two overlapping invocations
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := h.Handle(ctx, nil)
			if err != nil {
				t.Error(err)
			}
			results[i] = r
		}()
	}
	wg.Wait()
	recorded := 0
	for _, r := range results {
		if r.Groups[0].Failover {
			recorded++
		}
	}
	got := metricsOf(t, out.Bytes())
	fs, err := l.Failovers(ctx, "g1")
	if err != nil {
		t.Fatal(err)
	}
	if recorded != 1 || len(fs) != 1 || fs[0].OldActive != "n1" || fs[0].NewActive != "n2" || fs[0].OldTerm != term || fs[0].NewTerm != newTerm {
		t.Fatalf("recorded by %d runs; records %+v", recorded, fs)
	}
	if got["Term|g1"] != float64(newTerm) || got["LiveNodes|g1"] != 1 || got["ActiveNodes|g1"] != 1 || got["HeartbeatAgeSeconds|g1|n1"] < 59 {
		t.Fatalf("metrics after failover %v", got)
	}
	if age := got["SnapshotAgeSeconds|g1|TempMonitor"]; age < 0 || age > 30 {
		t.Fatalf("snapshot age %v", age)
	}
	// A later run sees no new failover.
	if res, err := h1.Handle(ctx, nil); err != nil || res.Groups[0].Failover {
		t.Fatalf("third run: %+v %v", res, err)
	}
}

func TestDatabaseDownIsReported(t *testing.T) {
	srv := pgtest.Start(t)
	db := clustertest.Open(t, srv.URL("postgres"))
	db.Pair("g1", "n1", "n2")
	var out bytes.Buffer
	h := realHandler(t, db.URL, nil, &out)
	ctx := context.Background()
	if res, err := h.Handle(ctx, nil); err != nil || !res.Reachable {
		t.Fatalf("%+v %v", res, err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	res, err := h.Handle(ctx, nil)
	if err != nil || res.Reachable {
		t.Fatalf("down: %+v %v", res, err)
	}
	if got := metricsOf(t, out.Bytes()); got["ClusterDbReachable|g1"] != 0 || len(got) != 1 {
		t.Fatalf("metrics %v", got)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if res, err := h.Handle(ctx, nil); err != nil || !res.Reachable {
		t.Fatalf("after restart: %+v %v", res, err)
	}
}

// BenchmarkWarmInvocation measures one warm invocation (the pool already connected) over 10
// groups of 2 nodes against a real PostgreSQL, with and without the dynalite ledger.
func BenchmarkWarmInvocation(b *testing.B) {
	db := clustertest.NewDB(b)
	for i := 0; i < 10; i++ {
		g := fmt.Sprintf("group-%02d", i)
		term := db.Pair(g, "node-a", "node-b")
		db.SaveSnapshot(g, "TempMonitor", term)
	}
	run := func(b *testing.B, l *ledger.Ledger) {
		h := realHandler(b, db.URL, l, io.Discard)
		ctx := context.Background()
		if _, err := h.Handle(ctx, nil); err != nil { // warm up: connect, cache statements
			b.Fatal(err)
		}
		b.ResetTimer()
		start := time.Now()
		for i := 0; i < b.N; i++ {
			res, err := h.Handle(ctx, nil)
			if err != nil || len(res.Groups) != 10 {
				b.Fatalf("%+v %v", res, err)
			}
		}
		b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N)/1e6, "ms/invocation")
	}
	b.Run("db-only", func(b *testing.B) { run(b, nil) })
	b.Run("with-ledger", func(b *testing.B) { run(b, newLedger(b)) })
}
