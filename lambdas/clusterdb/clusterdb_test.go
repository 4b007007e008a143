package clusterdb_test

import (
	"context"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamha/streamha/internal/pgtest"
	"github.com/streamha/streamha/lambdas/clusterdb"
	"github.com/streamha/streamha/lambdas/clustertest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestReadSeededCluster(t *testing.T) {
	db := clustertest.NewDB(t)
	term := db.Pair("g1", "n1", "n2")
	db.SaveSnapshot("g1", "TempMonitor", term)
	db.AgeSnapshots("g1", "TempMonitor", 90*time.Second)
	db.AgeHeartbeat("g1", "n2", 40*time.Second)
	db.Register("g2", "x")

	ctx := context.Background()
	r, err := clusterdb.Open(ctx, db.URL, clusterdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	gs, err := r.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) != 2 || gs[0].Name != "g1" || gs[1].Name != "g2" {
		t.Fatalf("groups %+v", gs)
	}
	g := gs[0]
	if g.Lease.Holder != "n1" || g.Lease.Term != term || !g.Lease.Held() {
		t.Fatalf("lease %+v", g.Lease)
	}
	if len(g.Nodes) != 2 || g.Nodes[0].Status.Role != "active" || g.Nodes[0].TaskARN() != clustertest.TaskARN("g1", "n1") {
		t.Fatalf("nodes %+v", g.Nodes)
	}
	if age := g.Nodes[1].HeartbeatAge; age < 39*time.Second || age > 45*time.Second {
		t.Fatalf("heartbeat age %v", age)
	}
	if len(g.Snapshots) != 1 || g.Snapshots[0].Age < 89*time.Second || g.Snapshots[0].Revision != 1 {
		t.Fatalf("snapshots %+v", g.Snapshots)
	}
	only, err := r.Read(ctx, "g2", "g3")
	if err != nil || len(only) != 2 || len(only[0].Nodes) != 1 || only[1].Name != "g3" || len(only[1].Nodes) != 0 {
		t.Fatalf("named groups %+v err %v", only, err)
	}
	n, lease, ok, err := r.NodeByTask(ctx, clustertest.TaskARN("g1", "n2"))
	if err != nil || !ok || n.NodeID != "n2" || lease.Holder != "n1" {
		t.Fatalf("by task: %+v %+v %v %v", n, lease, ok, err)
	}
	if _, _, ok, err := r.NodeByTask(ctx, "arn:nope"); ok || err != nil {
		t.Fatalf("unknown task: ok=%v err=%v", ok, err)
	}
}

// TestUnreachableIsAnErrorNotAHang points the reader at a server that accepts connections but
// never answers: the read must fail within the connect timeout, not hang. (Stopping and
// restarting a real server is covered by the health mirror's tests.)
func TestUnreachableIsAnErrorNotAHang(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			_ = c.Close()
		}
	}()
	ctx := context.Background()
	url := "postgres://postgres@" + l.Addr().String() + "/x?sslmode=disable"
	r, err := clusterdb.Open(ctx, url, clusterdb.Options{ConnectTimeout: 500 * time.Millisecond, QueryTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	start := time.Now()
	if _, err := r.Read(ctx); err == nil {
		t.Fatal("read from a silent server succeeded")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("failing read took %v", d)
	}
}

// TestUnusableURLSaysWhy: a URL the functions cannot use is refused by name, and the stand-in
// reader repeats why on every read.
func TestUnusableURLSaysWhy(t *testing.T) {
	ctx := context.Background()
	_, err := clusterdb.Open(ctx, "sqlite:///tmp/cluster.db", clusterdb.Options{})
	if err == nil || !strings.Contains(err.Error(), `scheme "sqlite"`) || !strings.Contains(err.Error(), "PostgreSQL only") {
		t.Fatalf("sqlite URL: %v", err)
	}
	if _, err := (clusterdb.Unusable{Err: err}).Read(ctx, "g"); err == nil || !strings.Contains(err.Error(), "unusable") || !strings.Contains(err.Error(), "sqlite") {
		t.Fatalf("unusable reader: %v", err)
	}
	if _, err := clusterdb.Open(ctx, "postgres://h:notaport/db", clusterdb.Options{}); err == nil || !strings.Contains(err.Error(), "parse cluster database URL") {
		t.Fatalf("malformed URL: %v", err)
	}
}
