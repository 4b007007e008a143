package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamha/streamha/internal/memtune"
	"github.com/streamha/streamha/internal/procstat"
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
	AckAlone   bool          // every measured acknowledgement was answered alone
	PeakRSS    int64         // the bench process's VmRSS at most, sampled every 100 ms through the row
	GCCPU      float64       // share of the process's CPU time spent in the garbage collector through the row
	Lost       int           // leases lost (the active demoted itself) through the row: must be 0
	Stall      time.Duration // the longest a 10 ms ticker goroutine of the process went unscheduled
	Loaded     int           // keys loaded (all of them unless the load failed)
	Err        string        // why the row stopped, if it did (its other figures are up to then)
}

const scaleToken = "bench-scale-token-0123456789"

// scaleBatch is the events per acknowledged batch of the steady change rate.
const scaleBatch = 10

// Scale runs the scaling scenario for each key count against the PostgreSQL database dbURL
// (one fresh group per size). A size that fails keeps its row (Err, figures up to then) and the
// next size still runs; the error joins every size's failure.
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
	// The cluster role on a pool of its own, as a node runs it (daemon.OpenDatabases): lease
	// renewals never wait for a connection behind input-log appends and snapshot chunks.
	cl, err := store.Open(dbURL)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	// The node's memory policy on a bare host (node/main.go): GOGC=400 and a soft limit that
	// follows its bounds and live heap, so the RSS measured is what a node would reach.
	if os.Getenv("GOGC") == "" && os.Getenv("GOMEMLIMIT") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(400))
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))
		tctx, stop := context.WithCancel(ctx)
		tuned := make(chan struct{})
		go func() {
			defer close(tuned)
			memtune.Tune(tctx, memtune.Floor(config.Default()), 250*time.Millisecond, nil)
		}()
		defer func() { stop(); <-tuned }()
	}
	var rows []ScaleRow
	var errs []error
	for i, k := range keys {
		logf("scale: %d keys", k)
		r, err := scaleOne(ctx, cl, db, fmt.Sprintf("scale%d", i), k)
		if err != nil {
			// The row so far (how far the load got, RSS, leases lost) is part of the curve.
			err = fmt.Errorf("scale %d keys: %w", k, err)
			r.Err = err.Error()
			errs = append(errs, err)
		}
		rows = append(rows, r)
	}
	return rows, errors.Join(errs...)
}

func scaleOne(ctx context.Context, cl, db *store.DB, group string, keys int) (r ScaleRow, err error) {
	r = ScaleRow{Keys: keys}
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
	// The node's log at warn (BENCH_LOG_LEVEL to change) is counted for lost leases and kept in
	// the log of the bench (stderr).
	lost := &demotions{Handler: slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: scaleLogLevel()}), n: new(demoted)}
	stopRSS := sampleProcess()
	defer func() { r.PeakRSS, r.GCCPU, r.Stall = stopRSS(); r.Lost = int(lost.count().n.Load()) }()
	n, err := ha.New(ha.Options{Config: c, Apps: []*engine.App{app}, Cluster: cl, Snapshots: db,
		Logger: slog.New(lost).With("keys", keys), Registry: prometheus.NewRegistry(), SyncListener: ln,
		Node: cluster.NodeInfo{Group: group, NodeID: "bench", Properties: map[string]string{cluster.PropSyncAddr: ln.Addr().String()}}})
	if err != nil {
		return r, err
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); n.Run(rctx) }()
	defer func() { lost.count().stopping.Store(true); cancel(); <-done }()
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
			r.Load = time.Since(t0)
			return r, fmt.Errorf("load: %w", err)
		}
		r.Loaded = min(i+10_000, keys)
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

// scaleLogLevel is the in-process node's log level: warn, or BENCH_LOG_LEVEL.
func scaleLogLevel() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(benchLogLevel())); err != nil {
		return slog.LevelWarn
	}
	return l
}

// demotions is a log handler that counts the node's records of a lost lease (its demotion).
type demotions struct {
	slog.Handler
	n *demoted
}

// demoted is the count of demotions, shared by a handler's derivations; stopping: the bench
// stops the node (its own demotion does not count).
type demoted struct {
	n        atomic.Int64
	stopping atomic.Bool
}

// Handle counts a demotion, then logs.
func (d *demotions) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "stopped serving" && !d.count().stopping.Load() {
		d.count().n.Add(1)
	}
	if !d.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return d.Handler.Handle(ctx, r)
}

// Enabled lets the node's warnings (a demotion among them) reach Handle whatever the log level.
func (d *demotions) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn || d.Handler.Enabled(ctx, l)
}

func (d *demotions) count() *demoted { return d.n }

// WithAttrs keeps the count shared.
func (d *demotions) WithAttrs(a []slog.Attr) slog.Handler {
	return &demotions{Handler: d.Handler.WithAttrs(a), n: d.count()}
}

// WithGroup keeps the count shared.
func (d *demotions) WithGroup(name string) slog.Handler {
	return &demotions{Handler: d.Handler.WithGroup(name), n: d.count()}
}

// sampleProcess samples this process's VmRSS every 100 ms until the returned function is called,
// which gives the peak, the share of CPU time the garbage collector took meanwhile and the
// longest stall of a goroutine ticking every 10 ms (logged when over 250 ms): a process that is
// not scheduled cannot renew its lease either.
func sampleProcess() func() (int64, float64, time.Duration) {
	gc := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}, {Name: "/cpu/classes/total:cpu-seconds"}}
	metrics.Read(gc)
	gc0, all0 := gc[0].Value.Float64(), gc[1].Value.Float64()
	var peak, stall atomic.Int64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				now := time.Now()
				if d := now.Sub(last); d > time.Duration(stall.Load()) {
					stall.Store(int64(d))
				}
				if d := now.Sub(last); d > 250*time.Millisecond {
					slog.Warn("bench process stalled", "for", d, "until", now.Format("15:04:05.000"), "pauses", pauseMaxima())
				}
				last = now
			}
		}
	}()
	go func() {
		defer close(done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if rss, err := procstat.RSS(os.Getpid()); err == nil && rss > peak.Load() {
				peak.Store(rss)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() (int64, float64, time.Duration) {
		close(stop)
		<-done
		metrics.Read(gc)
		share := 0.0
		if d := gc[1].Value.Float64() - all0; d > 0 {
			share = (gc[0].Value.Float64() - gc0) / d
		}
		return peak.Load(), share, time.Duration(stall.Load())
	}
}

// pauseMaxima is the longest stop-the-world pause and time to stop the world so far, by cause,
// as the runtime's histograms bound them (the upper edge of the highest non-empty bucket).
func pauseMaxima() string {
	names := []string{"/sched/pauses/total/gc:seconds", "/sched/pauses/total/other:seconds",
		"/sched/pauses/stopping/gc:seconds", "/sched/pauses/stopping/other:seconds"}
	ss := make([]metrics.Sample, len(names))
	for i, n := range names {
		ss[i].Name = n
	}
	metrics.Read(ss)
	var b strings.Builder
	for i, smp := range ss {
		if smp.Value.Kind() != metrics.KindFloat64Histogram {
			continue
		}
		h := smp.Value.Float64Histogram()
		top := 0.0
		for j := len(h.Counts) - 1; j >= 0; j-- {
			if h.Counts[j] > 0 {
				top = h.Buckets[j+1]
				break
			}
		}
		fmt.Fprintf(&b, "%s=%.3fs ", strings.TrimSuffix(strings.TrimPrefix(names[i], "/sched/pauses/"), ":seconds"), top)
	}
	return b.String()
}

// ScaleMarkdown renders the scaling rows as a table.
func ScaleMarkdown(rows []ScaleRow) string {
	var b strings.Builder
	b.WriteString("## State at scale (in-process active, ack mode, no passive, PostgreSQL)\n\n")
	b.WriteString("`from In select key, count() as n, sum(v) as total group by key`; both persists measured while 10-event batches are acknowledged every millisecond (up to 10K events a second, each changing one key). " +
		"Base: the full state (`PersistBase`); delta: the next revision, one second after the base is stored, holding only the keys changed since the base's capture (plus the node's idempotency window and outbox). Ratios are within the same run.\n\n")
	b.WriteString("| keys | load | base persist | base | delta persist | delta | changes in the delta | persist base/delta | bytes base/delta | read + restore base+delta | acks during persists | ack p99 (max if < 100) | ack max | all alone | peak RSS | GC CPU | leases lost | longest stall |\n" +
		"|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|\n")
	for _, r := range rows {
		if r.Err != "" {
			fmt.Fprintf(&b, "| %d | failed after %s, %d keys loaded: %s | | | | | | | | | | | | | %d MiB | %.0f%% | %d | %s |\n",
				r.Keys, r.Load.Round(time.Millisecond), r.Loaded, r.Err, r.PeakRSS>>20, 100*r.GCCPU, r.Lost, r.Stall.Round(time.Millisecond))
			continue
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %.1f MB | %s | %.1f KB | %d | %sx | %sx | %s | %d | %s | %s | %v | %d MiB | %.0f%% | %d | %s |\n", r.Keys, r.Load.Round(time.Millisecond),
			r.Persist.Round(time.Millisecond), float64(r.Bytes)/1e6, r.Delta.Round(time.Millisecond), float64(r.DeltaBytes)/1e3, r.Changes,
			ratio(float64(r.Persist), float64(r.Delta)), ratio(float64(r.Bytes), float64(r.DeltaBytes)),
			r.Restore.Round(time.Millisecond), r.AckN, r.AckP99.Round(100*time.Microsecond), r.AckMax.Round(100*time.Microsecond), r.AckAlone,
			r.PeakRSS>>20, 100*r.GCCPU, r.Lost, r.Stall.Round(time.Millisecond))
	}
	return b.String()
}
