package source_test

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamha/streamha/internal/freeport"
	"github.com/streamha/streamha/node/cluster"
	"github.com/streamha/streamha/node/config"
	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/ha"
	"github.com/streamha/streamha/node/sink"
	"github.com/streamha/streamha/node/source"
	"github.com/streamha/streamha/node/store"
)

// node is one HA node in the test process with the real source manager.
type node struct {
	ha      *ha.Node
	sources *source.Manager
	out     string // sink base dir
	bridge  string // databridge_listen
	cancel  context.CancelFunc
	done    chan struct{}
}

// startNode runs app src on the cluster database dbURL. tune adjusts the configuration.
func startNode(t *testing.T, dbURL, id, src string, tune ...func(*config.Config)) *node {
	t.Helper()
	app, err := engine.Compile("t.siddhi", src)
	if err != nil {
		t.Fatal(err)
	}
	if err := source.Check("t.siddhi", app); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	syncLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bridge, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	c := config.Default()
	c.NodeID, c.AuthToken, c.PersistInterval = id, "source-tests-shared-secret", time.Second
	c.SourceUsers, c.DatabridgeListen = "admin:admin,pub:s3cret", bridge
	for _, f := range tune {
		f(&c)
	}
	log := slog.New(slog.DiscardHandler)
	scfg, err := source.ConfigFrom(c, log)
	if err != nil {
		t.Fatal(err)
	}
	m, err := source.New([]*engine.App{app}, scfg)
	if err != nil {
		t.Fatal(err)
	}
	sc := sink.DefaultConfig()
	sc.BaseDir = t.TempDir()
	n, err := ha.New(ha.Options{
		Config: c, Apps: []*engine.App{app}, Cluster: db, Snapshots: db, Logger: log,
		Registry: prometheus.NewRegistry(), Sinks: sc, SyncListener: syncLn, Sources: m,
		Node: cluster.NodeInfo{Group: c.Group, NodeID: id, Properties: map[string]string{
			cluster.PropSyncAddr: syncLn.Addr().String(), cluster.PropRESTAddr: "http://127.0.0.1:1",
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	m.SetNode(n)
	ctx, cancel := context.WithCancel(context.Background())
	p := &node{ha: n, sources: m, out: sc.BaseDir, bridge: bridge, cancel: cancel, done: make(chan struct{})}
	go func() { defer close(p.done); n.Run(ctx) }()
	t.Cleanup(p.stop)
	return p
}

func (p *node) stop() {
	p.cancel()
	<-p.done
	p.sources.Close()
}

func (p *node) serving() bool { _, ok := p.ha.Runner().Serving(); return ok }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// outputs reads a file sink's JSON lines: each output's data.
func outputs(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var o struct {
			Data map[string]any `json:"data"`
		}
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, o.Data)
	}
	return out
}

func (p *node) outputs(t *testing.T, file string) []map[string]any {
	return outputs(t, filepath.Join(p.out, file))
}

func sqliteURL(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "ha.db") }
