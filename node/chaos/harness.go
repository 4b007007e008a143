package chaos

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/streamha/streamha/internal/faultproxy"
	"github.com/streamha/streamha/internal/hatest"
	"github.com/streamha/streamha/internal/pgtest"
	"github.com/streamha/streamha/node/config"
)

// Config is one chaos run.
type Config struct {
	NodeBin  string        // built node binary
	AppsDir  string        // apps to run (the demo's Orders app; unused with SourceKafka)
	Source   string        // SourceHTTP (default) or SourceKafka
	Dir      string        // run folder: logs, outputs, timeline; kept when the run fails
	PGBinDir string        // PostgreSQL binaries (pgtest.BinDir)
	Rounds   int           // rounds of the fault schedule
	Faults   []string      // fault names (default: all of FaultNames)
	Seed     int64         // shuffles the faults of each round
	Settle   time.Duration // load between faults
	Hold     time.Duration // how long a pause or a cut lasts
	Recover  time.Duration // bound for the pair to serve and resync after a fault
	Batch    int           // events per client request
	Extra    []string      // more node flags
	Log      io.Writer     // progress lines (nil: silent)

	// Availability bound. A fault may leave clients without an acknowledgement for at most
	// MaxAckGap (plus Hold for restart-db, when no node can hold a lease), however quickly
	// the pair recovers afterwards: a stall within Recover is otherwise a green run.
	Lease     time.Duration // the nodes' lease (default: --lease in Extra, else the node's default)
	Promotion time.Duration // takeover allowance once the lease ran out: election, fence, restore, replay, a client's retry (default 2.5 s)
	MaxAckGap time.Duration // default Lease + Promotion
}

func (c *Config) defaults() {
	if c.Source == "" {
		c.Source = SourceHTTP
	}
	if c.Rounds <= 0 {
		c.Rounds = 1
	}
	if len(c.Faults) == 0 {
		c.Faults = FaultNames()
	}
	if c.Settle <= 0 {
		c.Settle = time.Second
	}
	if c.Hold <= 0 {
		c.Hold = 3 * time.Second
	}
	if c.Recover <= 0 {
		c.Recover = 30 * time.Second
	}
	if c.Batch <= 0 {
		c.Batch = 10
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	if c.Lease <= 0 {
		c.Lease = leaseOf(c.Extra)
	}
	if c.Promotion <= 0 {
		c.Promotion = 2500 * time.Millisecond
	}
	if c.MaxAckGap <= 0 {
		c.MaxAckGap = c.Lease + c.Promotion
	}
}

// leaseOf is the lease the nodes run with: the last --lease in extra, else the node's default.
func leaseOf(extra []string) time.Duration {
	lease := config.Default().Lease
	for i, a := range extra {
		v, ok := "", false
		switch {
		case a == "--lease" || a == "-lease":
			if i+1 < len(extra) {
				v, ok = extra[i+1], true
			}
		case strings.HasPrefix(a, "--lease="), strings.HasPrefix(a, "-lease="):
			_, v, ok = strings.Cut(a, "=")
		}
		if d, err := time.ParseDuration(v); ok && err == nil {
			lease = d
		}
	}
	return lease
}

// ackGapBound is the longest stretch without an acknowledgement the fault may cost: MaxAckGap,
// plus the hold for restart-db, during which neither node can renew or take the lease.
func (c *Config) ackGapBound(fault string) time.Duration {
	if fault == "restart-db" {
		return c.MaxAckGap + c.Hold
	}
	return c.MaxAckGap
}

// Harness is a running pair with its database, proxies, client and recorder.
type Harness struct {
	cfg      Config
	PG       *pgtest.Server
	Cluster  *hatest.Cluster
	DBProxy  map[string]*faultproxy.Proxy // node id → its link to PostgreSQL
	SyncProx map[string]*faultproxy.Proxy // node id → the link into its sync port
	Client   *hatest.Client               // the load of an HTTP-fed run
	Kafka    *KafkaLoad                   // the load and output reader of a Kafka-fed run
	Rec      *Recorder
	Timeline *Timeline

	stopLoad context.CancelFunc
	loadDone chan struct{}
	stopRec  context.CancelFunc
	recDone  chan struct{}
	stopRead context.CancelFunc // the Kafka output reader
	readDone chan struct{}
}

// Start brings up PostgreSQL, the proxies and the pair, waits until the passive is in sync and
// starts the load and the recorder.
func Start(cfg Config) (*Harness, error) {
	cfg.defaults()
	h := &Harness{cfg: cfg, DBProxy: map[string]*faultproxy.Proxy{}, SyncProx: map[string]*faultproxy.Proxy{}}
	if cfg.Source != SourceHTTP && cfg.Source != SourceKafka {
		return nil, fmt.Errorf("source %q: want %s or %s", cfg.Source, SourceHTTP, SourceKafka)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	var env []string
	if cfg.Source == SourceKafka {
		apps, err := writeKafkaApp(cfg.Dir)
		if err != nil {
			return nil, err
		}
		k, err := newKafkaLoad()
		if err != nil {
			return nil, err
		}
		h.Kafka, cfg.AppsDir, env = k, apps, k.env()
		h.cfg = cfg
	}
	tl, err := NewTimeline(filepath.Join(cfg.Dir, "timeline.jsonl"))
	if err != nil {
		return nil, err
	}
	h.Timeline = tl
	pg, err := pgtest.New(cfg.PGBinDir)
	if err != nil {
		tl.Close()
		return nil, fmt.Errorf("postgresql: %w", err)
	}
	h.PG = pg
	pgAddr := fmt.Sprintf("127.0.0.1:%d", pg.Port)
	var proxyErr error
	c, err := hatest.NewCluster(hatest.Options{
		Bin: cfg.NodeBin, Dir: cfg.Dir, N: 2, AppsDir: cfg.AppsDir, ClusterDB: pg.URL("postgres"),
		Extra: append([]string{"--persist_interval", "1s"}, cfg.Extra...), Env: env,
		NodeArgs: func(p *hatest.Proc) []string {
			db, err := faultproxy.New("127.0.0.1:0", pgAddr)
			if err != nil {
				proxyErr = err
				return nil
			}
			sy, err := faultproxy.New("127.0.0.1:0", p.SyncAddr)
			if err != nil {
				proxyErr = err
				return nil
			}
			h.DBProxy[p.ID], h.SyncProx[p.ID] = db, sy
			return []string{"--cluster_db", "postgres://postgres@" + db.Addr() + "/postgres?sslmode=disable",
				"--sync_advertise", sy.Addr()}
		},
	})
	if err == nil {
		err = proxyErr
	}
	if err != nil {
		h.Close()
		return nil, err
	}
	h.Cluster = c
	ctx := context.Background()
	if err := c.Nodes[0].Start(); err != nil {
		h.Close()
		return nil, err
	}
	if _, err := c.WaitActive(ctx, cfg.Recover, nil); err != nil {
		h.Close()
		return nil, err
	}
	if err := c.Nodes[1].Start(); err != nil {
		h.Close()
		return nil, err
	}
	if err := c.WaitPeerConnected(ctx, cfg.Recover); err != nil {
		h.Close()
		return nil, err
	}
	h.Rec = NewRecorder(pg.URL("postgres"), "default", c.Nodes, 20*time.Millisecond)
	rctx, stopRec := context.WithCancel(ctx)
	h.stopRec, h.recDone = stopRec, make(chan struct{})
	go func() { defer close(h.recDone); h.Rec.Run(rctx) }()

	lctx, stopLoad := context.WithCancel(ctx)
	h.stopLoad, h.loadDone = stopLoad, make(chan struct{})
	if h.Kafka != nil {
		// The reader outlives the load: it must see the outputs of the last records produced.
		dctx, stopRead := context.WithCancel(ctx)
		h.stopRead, h.readDone = stopRead, make(chan struct{})
		go func() { defer close(h.readDone); h.Kafka.read(dctx) }()
		// About 2,000 records/s, like the Kafka end-to-end tests.
		go func() { defer close(h.loadDone); h.Kafka.produce(lctx, 2*cfg.Batch, 10*time.Millisecond) }()
		return h, nil
	}
	h.Client = hatest.NewClient(c)
	h.Client.SetTimeout(time.Second)
	go func() { defer close(h.loadDone); h.Client.Run(lctx, cfg.Batch, 2*time.Millisecond) }()
	return h, nil
}

// Logf prints a progress line.
func (h *Harness) Logf(format string, args ...any) {
	fmt.Fprintf(h.cfg.Log, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
}

// StopLoad ends the client (or the Kafka producer) and the recorder (idempotent); the Kafka
// output reader keeps reading until StopReader.
func (h *Harness) StopLoad() {
	if h.stopLoad != nil {
		h.stopLoad()
		<-h.loadDone
		h.stopLoad = nil
	}
	if h.stopRec != nil {
		h.stopRec()
		<-h.recDone
		h.stopRec = nil
	}
}

// StopNodes shuts both nodes down cleanly (the active first: it hands over), so every output is
// flushed before the outputs are checked.
func (h *Harness) StopNodes() error {
	var errs []string
	order := h.Cluster.Nodes
	if a := h.Cluster.Active(); a != nil {
		order = []*hatest.Proc{a, h.Cluster.Peer(a)}
	}
	for _, p := range order {
		if err := p.Stop(60 * time.Second); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("clean stop: %s", strings.Join(errs, "; "))
	}
	return nil
}

// StopReader ends the Kafka output reader (idempotent; nothing for an HTTP-fed run).
func (h *Harness) StopReader() {
	if h.stopRead != nil {
		h.stopRead()
		<-h.readDone
		h.stopRead = nil
	}
}

// Close kills what still runs and removes the database (the run folder stays).
func (h *Harness) Close() {
	h.StopLoad()
	h.StopReader()
	if h.Cluster != nil {
		h.Cluster.Close()
	}
	if h.Kafka != nil {
		h.Kafka.Cluster.Close()
	}
	for _, p := range h.DBProxy {
		p.Close()
	}
	for _, p := range h.SyncProx {
		p.Close()
	}
	if h.PG != nil {
		h.PG.Close()
	}
	if h.Timeline != nil {
		h.Timeline.Close()
	}
}

// progress is what waitAcks counts: acknowledged events, or a Kafka-fed run's outputs read
// (the producer's acknowledgements come from the broker and say nothing of the pair).
func (h *Harness) progress() int64 {
	if h.Kafka != nil {
		return h.Kafka.outputs.Load()
	}
	_, acked, _, _, _ := h.Client.Snapshot()
	return acked
}

// waitAcks waits for n more acknowledgements (outputs of a Kafka-fed run).
func (h *Harness) waitAcks(n int64, timeout time.Duration) error {
	start := h.progress()
	deadline := time.Now().Add(timeout)
	for {
		if h.progress() >= start+n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("fewer than %d acknowledgements within %s", n, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// switchover asks p to hand over (with the cluster's random secret as the bearer token).
func switchover(p *hatest.Proc) error { return p.Switchover(10 * time.Second) }
