package bench

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamha/streamha/node/cluster"
	"github.com/streamha/streamha/node/config"
	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/ha"
	"github.com/streamha/streamha/node/store"
)

// ScaleRow is one state size on a real in-process active (ack mode, no passive) over
// PostgreSQL: how long a persist takes while input keeps changing the state, as a base (the
// full state) and as a delta (what changed in the second before), how big each revision is,
// how long reading and restoring the chain takes, and what an acknowledgement costs meanwhile.
type ScaleRow struct {
	Keys       int
	Load       time.Duration // feeding the keys (batches of 10K, each acknowledged through the input log)
	Persist    time.Duration // a base revision (the full state), under a steady change rate
	Bytes      int64         // its payload
	Delta      time.Duration // a delta revision one second of changes later, same run
	DeltaBytes int64
	Changes    int           // events (each changing one key) applied since the base's capture
	Restore    time.Duration // read the newest revision's chain (chunks) + engine restore of base + deltas
	AckN       int           // 10-event acknowledgements measured during the persists
	AckP99     time.Duration // p99 when AckN >= 100, else the max
	AckMax     time.Duration
	AckAlone   bool // every measured acknowledgement was answered alone
}

const scaleToken = "bench-scale-token-0123456789"

// scaleBatch is the events per acknowledged batch of the steady change rate.
const scaleBatch = 10

// Scale runs the scaling scenario for each key count against the PostgreSQL database dbURL
// (one fresh group per size).
func Scale(keys []int, dbURL string, logf func(string, ...any)) ([]ScaleRow, error) {
	db, err := store.Open(dbURL)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.Migrate(ctx); err != nil {
		return nil, err
	}
	var rows []ScaleRow
	for i, k := range keys {
		logf("scale: %d keys", k)
		r, err := scaleOne(ctx, db, fmt.Sprintf("scale%d", i), k)
		if err != nil {
			return rows, fmt.Errorf("scale %d keys: %w", k, err)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

func scaleOne(ctx context.Context, db *store.DB, group string, keys int) (ScaleRow, error) {
	r := ScaleRow{Keys: keys}
	app, err := engine.Compile("state.siddhi", stateApp)
	if err != nil {
		return r, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return r, err
	}
	c := config.Default()
	c.NodeID, c.Group, c.AuthToken, c.PersistInterval = "bench", group, scaleToken, time.Hour
	n, err := ha.New(ha.Options{Config: c, Apps: []*engine.App{app}, Cluster: db, Snapshots: db,
		Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(), SyncListener: ln,
		Node: cluster.NodeInfo{Group: group, NodeID: "bench", Properties: map[string]string{cluster.PropSyncAddr: ln.Addr().String()}}})
	if err != nil {
		return r, err
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); n.Run(rctx) }()
	defer func() { cancel(); <-done }()
	for deadline := time.Now().Add(30 * time.Second); ; {
		if _, ok := n.Runner().Serving(); ok {
			break
		}
		if time.Now().After(deadline) {
			return r, fmt.Errorf("not active after 30 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	event := func(i int) ha.Event {
		return ha.Event{Data: []engine.Value{engine.StringValue(fmt.Sprintf("key-%08d", i%keys)), engine.DoubleValue(1.5)}}
	}
	t0 := time.Now()
	for i := 0; i < keys; i += 10_000 {
		batch := make([]ha.Event, 0, 10_000)
		for j := i; j < min(i+10_000, keys); j++ {
			batch = append(batch, event(j))
		}
		if _, err := n.Ingest(ctx, "State", "In", batch, ""); err != nil {
			return r, fmt.Errorf("load: %w", err)
		}
	}
	r.Load = time.Since(t0)
	// A steady change rate (about 10K events a second, each changing one key, in 10-event
	// batches every millisecond) while persisting; each batch is an acknowledgement measured.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var lat []time.Duration
	alone := true
	var feedErr error
	var fed atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			s := time.Now()
			batch := make([]ha.Event, scaleBatch)
			for j := range batch {
				batch[j] = event((i*scaleBatch + j) * 7919)
			}
			ans, err := n.Ingest(ctx, "State", "In", batch, "")
			if err != nil {
				feedErr = err
				return
			}
			lat = append(lat, time.Since(s))
			fed.Add(scaleBatch)
			alone = alone && ans.Alone
		}
	}()
	time.Sleep(200 * time.Millisecond)
	t0 = time.Now()
	before := fed.Load()
	perr := n.PersistBase(ctx)
	r.Persist = time.Since(t0)
	if perr == nil {
		time.Sleep(time.Second)
		r.Changes = int(fed.Load() - before) // the delta holds the changes since the base's capture
		t0 = time.Now()
		perr = n.Persist(ctx)
		r.Delta = time.Since(t0)
	}
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()
	if perr != nil {
		return r, fmt.Errorf("persist: %w", perr)
	}
	if feedErr != nil {
		return r, fmt.Errorf("acknowledgement during persist: %w", feedErr)
	}
	slices.Sort(lat)
	r.AckN, r.AckAlone = len(lat), alone
	if len(lat) > 0 {
		r.AckMax = lat[len(lat)-1]
		r.AckP99 = r.AckMax
		if len(lat) >= 100 {
			r.AckP99 = lat[len(lat)*99/100]
		}
	}
	list, err := db.ListSnapshots(ctx, group, "State")
	if err != nil || len(list) < 2 || !list[0].Delta() || list[1].Delta() {
		return r, fmt.Errorf("want a base then a delta revision, have %+v: %v", list, err)
	}
	r.DeltaBytes, r.Bytes = list[0].Size, list[1].Size
	t0 = time.Now()
	chain, err := store.ReadChain(ctx, db, group, "State", list[0].Revision)
	if err != nil {
		return r, fmt.Errorf("read snapshot chain: %w", err)
	}
	if err := ha.VerifyChain(app, chain); err != nil {
		return r, err
	}
	r.Restore = time.Since(t0)
	return r, nil
}

// ScaleMarkdown renders the scaling rows as a table.
func ScaleMarkdown(rows []ScaleRow) string {
	var b strings.Builder
	b.WriteString("## State at scale (in-process active, ack mode, no passive, PostgreSQL)\n\n")
	b.WriteString("`from In select key, count() as n, sum(v) as total group by key`; both persists measured while 10-event batches are acknowledged every millisecond (up to 10K events a second, each changing one key). " +
		"Base: the full state (`PersistBase`); delta: the next revision, one second after the base is stored, holding only the keys changed since the base's capture (plus the node's idempotency window and outbox). Ratios are within the same run.\n\n")
	b.WriteString("| keys | load | base persist | base | delta persist | delta | changes in the delta | persist base/delta | bytes base/delta | read + restore base+delta | acks during persists | ack p99 (max if < 100) | ack max | all alone |\n" +
		"|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %d | %s | %s | %.1f MB | %s | %.1f KB | %d | %sx | %sx | %s | %d | %s | %s | %v |\n", r.Keys, r.Load.Round(time.Millisecond),
			r.Persist.Round(time.Millisecond), float64(r.Bytes)/1e6, r.Delta.Round(time.Millisecond), float64(r.DeltaBytes)/1e3, r.Changes,
			ratio(float64(r.Persist), float64(r.Delta)), ratio(float64(r.Bytes), float64(r.DeltaBytes)),
			r.Restore.Round(time.Millisecond), r.AckN, r.AckP99.Round(100*time.Microsecond), r.AckMax.Round(100*time.Microsecond), r.AckAlone)
	}
	return b.String()
}
