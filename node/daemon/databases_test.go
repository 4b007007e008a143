package daemon

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/streamha/streamha/node/config"
)

// TestOneDatabaseStillGetsTwoPools: with cluster_db and persistence_db naming the same database,
// the coordination and the snapshot handles are distinct pools, so a snapshot write holding the
// persistence pool's connections never makes a lease renewal wait for one; the schema is applied
// once. (Before, both roles shared one *store.DB and its pool.)
func TestOneDatabaseStillGetsTwoPools(t *testing.T) {
	c := config.Default()
	c.ClusterDB = "sqlite://" + filepath.Join(t.TempDir(), "ha.db")
	dbs, err := OpenDatabases(c)
	if err != nil {
		t.Fatal(err)
	}
	defer dbs.Close()
	if dbs.Cluster == dbs.Persistence || dbs.Cluster.SQL() == dbs.Persistence.SQL() {
		t.Fatal("cluster and persistence roles share one handle and pool")
	}
	if got := len(dbs.distinct()); got != 1 {
		t.Fatalf("%d databases to migrate, want 1 (the same database)", got)
	}
	ctx := context.Background()
	if err := dbs.Migrate(ctx, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	// Every persistence connection busy (held by a caller): the cluster handle still answers.
	dbs.Persistence.SQL().SetMaxOpenConns(1)
	held, err := dbs.Persistence.SQL().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, _, err := dbs.Cluster.Acquire(cctx, "g", "a", time.Second); err != nil {
		t.Fatalf("acquire through the cluster handle while the persistence pool is exhausted: %v", err)
	}
}
