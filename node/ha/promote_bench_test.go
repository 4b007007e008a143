package ha

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/streamha/streamha/node/cluster"
	"github.com/streamha/streamha/node/config"
	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/eventsync"
	"github.com/streamha/streamha/node/store"
)

const benchApp = `@app:name('T')
define stream S (id long, v double);
from S#window.length(1000) select count() as n, sum(v) as total insert into O;`

// BenchmarkPromotion measures one app's promotion with n inputs held since the last snapshot
// (seq 0): hot (the passive's runtime applied them as they came) against cold (restore the
// snapshot and replay them). Hot promotion time stays flat in n; cold grows with it.
func BenchmarkPromotion(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		for _, path := range []string{"hot", "cold"} {
			b.Run(fmt.Sprintf("%s/inputs=%d", path, n), func(b *testing.B) {
				node, a, q := benchPromotionSetup(b, n)
				ctx := context.Background()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					a.mu.Lock()
					if path == "hot" {
						a.term, a.hotGen = 0, q.Gen() // a passive again, following q
					} else {
						a.deactivateLocked()
					}
					a.mu.Unlock()
					b.StartTimer()
					d, err := node.decideAll(ctx, q, 2)
					if err != nil {
						b.Fatal(err)
					}
					var k int
					if d["T"].path == pathHot {
						k, err = node.completeApp(a, d["T"], 2, q, 1)
					} else {
						var p *appPlan
						if p, err = node.planApp(ctx, a, q, false); err == nil {
							k, err = node.restoreApp(a, p, 2, q)
						}
					}
					if err != nil {
						b.Fatal(err)
					}
					if got := d["T"].path.String(); got != path {
						b.Fatalf("path %s, want %s", got, path)
					}
					b.ReportMetric(float64(k), "replayed/op")
				}
			})
		}
	}
}

func benchPromotionSetup(b *testing.B, n int) (*Node, *appState, *eventsync.Queue) {
	b.Helper()
	app, err := engine.Compile("t.siddhi", benchApp)
	if err != nil {
		b.Fatal(err)
	}
	db, err := store.Open("sqlite://" + filepath.Join(b.TempDir(), "ha.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	ctx := context.Background()
	if _, err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	c := config.Default()
	c.NodeID, c.AuthToken = "a", "0123456789abcdef0123"
	node, err := New(Options{Config: c, Apps: []*engine.App{app}, Cluster: db, Snapshots: db,
		Logger: slog.New(slog.DiscardHandler), Node: cluster.NodeInfo{Group: c.Group, NodeID: "a"}})
	if err != nil {
		b.Fatal(err)
	}
	empty, _ := engine.NewRuntime(app).Snapshot()
	env := envelope{Engine: empty}
	if _, err := db.SaveSnapshot(ctx, store.Snapshot{Group: c.Group, App: "T", Term: 1, LastSeq: 0, Payload: env.encode()}, 3); err != nil {
		b.Fatal(err)
	}
	q := eventsync.NewQueue(1 << 40)
	rt := engine.NewRuntime(app)
	const batch = 1000
	for first := 1; first <= n; first += batch {
		es := make([]eventsync.Entry, 0, batch)
		for s := first; s < first+batch && s <= n; s++ {
			vals := []engine.Value{engine.LongValue(int64(s)), engine.DoubleValue(1)}
			es = append(es, eventsync.Entry{Seq: uint64(s), TS: int64(s), Stream: "S", Data: engine.AppendValues(nil, vals)})
			if err := rt.Apply(engine.Input{Seq: uint64(s), TS: int64(s), Stream: "S", Data: vals}, nil); err != nil {
				b.Fatal(err)
			}
		}
		if err := q.Append("T", es); err != nil {
			b.Fatal(err)
		}
	}
	a := node.byName["T"]
	a.mu.Lock()
	a.rt, a.idem, a.hotGen, a.passive = rt, newIdemWindow(idemWindowSize), q.Gen(), false
	a.mu.Unlock()
	return node, a, q
}
