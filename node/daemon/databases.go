package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/streamha/streamha/node/config"
	"github.com/streamha/streamha/node/store"
)

// Databases are the cluster and persistence databases. They are always two handles with their
// own connection pools, even when the configuration names one database for both roles: lease
// renewals and heartbeats never wait for a connection busy with a snapshot write.
type Databases struct {
	Cluster     *store.DB
	Persistence *store.DB
	// shared is true when both handles reach the same database (migrated once).
	shared bool
}

// Close closes both handles.
func (d *Databases) Close() {
	if d.Persistence != nil && d.Persistence != d.Cluster {
		d.Persistence.Close()
	}
	if d.Cluster != nil {
		d.Cluster.Close()
	}
}

// OpenDatabases opens both databases, each with its own pool; it does not contact them.
func OpenDatabases(c config.Config) (*Databases, error) {
	cl, err := store.Open(c.ClusterDB)
	if err != nil {
		return nil, &config.Error{Key: "cluster_db", Err: err}
	}
	cl.SetHistoryRetention(c.HistoryRetention, c.HistoryMaxRows)
	p := c.PersistenceURL()
	d := &Databases{Cluster: cl, shared: p == c.ClusterDB}
	if d.Persistence, err = store.Open(p); err != nil {
		cl.Close()
		key := "persistence_db"
		if d.shared {
			key = "cluster_db"
		}
		return nil, &config.Error{Key: key, Err: err}
	}
	d.Persistence.SetHistoryRetention(c.HistoryRetention, c.HistoryMaxRows)
	return d, nil
}

// Migrate applies the schema to each distinct database, once.
func (d *Databases) Migrate(ctx context.Context, log *slog.Logger) error {
	for _, db := range d.distinct() {
		v, err := db.Migrate(ctx)
		if err != nil {
			return err
		}
		if len(v) > 0 {
			log.Info("schema applied", "db", db.String(), "versions", v)
		}
	}
	return nil
}

func (d *Databases) distinct() []*store.DB {
	if d.shared || d.Persistence == d.Cluster {
		return []*store.DB{d.Cluster}
	}
	return []*store.DB{d.Cluster, d.Persistence}
}

// MigrateWithRetry keeps trying while the databases are unreachable, with exponential backoff,
// logging each failure: a database that is late at start is reported, not a crash loop.
func (d *Databases) MigrateWithRetry(ctx context.Context, log *slog.Logger) error {
	backoff := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := d.Migrate(cctx, log)
		cancel()
		if err == nil {
			return nil
		}
		log.Warn("database not ready; retrying", "attempt", attempt, "retry_in", backoff, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("database not ready: %w", err)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}
