package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/streamha/streamha/internal/hatest"
	"github.com/streamha/streamha/internal/pgtest"
)

// Env is what every cluster of a bench run shares: the node binary, a PostgreSQL server and a
// scratch folder.
type Env struct {
	NodeBin string
	Dir     string
	PG      *pgtest.Server
	seq     int
	// bridges holds each node's databridge_listen (the filter app has a wso2event source).
	bridges map[*hatest.Proc]string
}

// sourceUser is the bench's source_users entry (databridge login).
const sourceUser, sourcePassword = "bench", "bench-pw"

// Bridge is p's databridge receiver address.
func (e *Env) Bridge(p *hatest.Proc) string { return e.bridges[p] }

// NewDB creates a fresh database on the shared server.
func (e *Env) NewDB() (string, error) {
	e.seq++
	name := fmt.Sprintf("bench_%d", e.seq)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, e.PG.URL("postgres"))
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	return e.PG.URL(name), nil
}

// pair starts n nodes (1: standalone, 2: an HA pair) of apps with flags and waits until they
// serve (and, for a pair, until the passive is in sync).
func (e *Env) pair(name, apps string, n int, flags ...string) (*hatest.Cluster, error) {
	url, err := e.NewDB()
	if err != nil {
		return nil, err
	}
	return e.pairOn(name, apps, n, url, flags...)
}

// pairOn is pair on the cluster database url ("" = a SQLite file in the cluster's folder).
func (e *Env) pairOn(name, apps string, n int, url string, flags ...string) (*hatest.Cluster, error) {
	dir := filepath.Join(e.Dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if url == "" {
		url = "sqlite://" + filepath.Join(dir, "ha.db")
	}
	var portErr error
	c, err := hatest.NewCluster(hatest.Options{
		Bin: e.NodeBin, Dir: dir, N: 2, AppsDir: apps, ClusterDB: url,
		Extra: append([]string{"--log_level", benchLogLevel(),
			"--source_users", sourceUser + ":" + sourcePassword}, flags...),
		NodeArgs: func(p *hatest.Proc) []string {
			a, aerr := hatest.FreeAddr()
			if aerr != nil {
				portErr = aerr
			}
			if e.bridges == nil {
				e.bridges = map[*hatest.Proc]string{}
			}
			e.bridges[p] = a
			return []string{"--databridge_listen", a}
		},
	})
	if err == nil {
		err = portErr
	}
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	if err := c.Nodes[0].Start(); err != nil {
		return nil, err
	}
	if _, err := c.WaitActive(ctx, 30*time.Second, nil); err != nil {
		c.Close()
		return nil, err
	}
	if n == 2 {
		if err := c.Nodes[1].Start(); err != nil {
			c.Close()
			return nil, err
		}
		if err := c.WaitPeerConnected(ctx, 30*time.Second); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// benchLogLevel is the nodes' log level: warn, or BENCH_LOG_LEVEL (info shows each switchover's
// phases) for a look into a run kept with BENCH_KEEP=1.
func benchLogLevel() string {
	if l := os.Getenv("BENCH_LOG_LEVEL"); l != "" {
		return l
	}
	return "warn"
}
