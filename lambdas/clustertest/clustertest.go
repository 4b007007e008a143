// Package clustertest seeds a throwaway cluster database for the Lambdas' tests exactly as real
// nodes do, through the node's own schema and store code (node/store), and ages heartbeats,
// leases and snapshots with the database's clock so staleness needs no sleeping.
package clustertest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/streamha/streamha/internal/pgtest"
	"github.com/streamha/streamha/node/cluster"
	"github.com/streamha/streamha/node/store"
)

// DB is a migrated cluster database.
type DB struct {
	*store.DB
	URL string
	tb  testing.TB
}

// NewDB creates a fresh database on the package's shared server (its TestMain must call
// pgtest.Main) and applies the schema.
func NewDB(tb testing.TB) *DB {
	tb.Helper()
	return Open(tb, pgtest.Shared(tb).NewDatabase(tb))
}

// Open connects to url and applies the schema.
func Open(tb testing.TB, url string) *DB {
	tb.Helper()
	s, err := store.Open(url)
	if err != nil {
		tb.Fatalf("clustertest: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.Migrate(ctx); err != nil {
		tb.Fatalf("clustertest: %v", err)
	}
	return &DB{DB: s, URL: url, tb: tb}
}

func (d *DB) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 10*time.Second)
}

// TaskARN is the task ARN the helpers register for node in cluster "si".
func TaskARN(group, node string) string {
	return fmt.Sprintf("arn:aws:ecs:us-east-1:123456789012:task/si/%s-%s", group, node)
}

// Register registers node with a task ARN (TaskARN(group, node)) and the usual properties.
func (d *DB) Register(group, node string) {
	d.tb.Helper()
	ctx, cancel := d.ctx()
	defer cancel()
	err := d.DB.Register(ctx, cluster.NodeInfo{Group: group, NodeID: node, Properties: map[string]string{
		cluster.PropTaskARN: TaskARN(group, node), cluster.PropRESTAddr: "http://" + node + ":9090",
		cluster.PropSyncAddr: node + ":9893", cluster.PropVersion: "test",
	}})
	if err != nil {
		d.tb.Fatalf("clustertest: %v", err)
	}
}

// Heartbeat stores st as node's status with a fresh heartbeat.
func (d *DB) Heartbeat(group, node string, st cluster.Status) {
	d.tb.Helper()
	raw, _ := json.Marshal(st)
	ctx, cancel := d.ctx()
	defer cancel()
	if err := d.DB.Heartbeat(ctx, group, node, raw); err != nil {
		d.tb.Fatalf("clustertest: %v", err)
	}
}

// Acquire takes the group's lease for node and returns the new term.
func (d *DB) Acquire(group, node string, lease time.Duration) int64 {
	d.tb.Helper()
	ctx, cancel := d.ctx()
	defer cancel()
	l, ok, err := d.DB.Acquire(ctx, group, node, lease)
	if err != nil || !ok {
		d.tb.Fatalf("clustertest: acquire %s/%s: ok=%v err=%v", group, node, ok, err)
	}
	return l.Term
}

// Pair seeds a healthy pair: a active under a fresh lease, b passive; it returns the term.
func (d *DB) Pair(group, a, b string) int64 {
	d.tb.Helper()
	d.Register(group, a)
	d.Register(group, b)
	term := d.Acquire(group, a, time.Minute)
	d.Heartbeat(group, a, Active(term))
	d.Heartbeat(group, b, Passive(term, a))
	return term
}

// Active is the status of a serving active under term.
func Active(term int64) cluster.Status {
	return cluster.Status{Role: "active", Term: term, Serving: true, PeerConnected: true, SyncLagEvents: 3,
		Apps: map[string]cluster.AppStatus{"TempMonitor": {LastSeq: 100, LastPersistRevision: 2, LastPersistSeq: 90,
			LastPersistAtMS: time.Now().Add(-20 * time.Second).UnixMilli()}}}
}

// Passive is the status of a passive following active under term.
func Passive(term int64, active string) cluster.Status {
	return cluster.Status{Role: "passive", Term: term, Active: active, PeerConnected: true, QueueEvents: 10, QueueBytes: 4096}
}

// AgeHeartbeat moves node's last heartbeat age into the past by the database's clock.
func (d *DB) AgeHeartbeat(group, node string, age time.Duration) {
	d.tb.Helper()
	d.exec(`UPDATE ha_node SET last_heartbeat = now() - $3 * interval '1 millisecond' WHERE group_id = $1 AND node_id = $2`,
		group, node, age.Milliseconds())
}

// ExpireLease makes the group's lease expire now, as when its holder stopped renewing.
func (d *DB) ExpireLease(group string) {
	d.tb.Helper()
	d.exec(`UPDATE ha_lease SET expires_at = now() - interval '1 second' WHERE group_id = $1`, group)
}

// AgeSnapshots moves every snapshot of the group's app into the past.
func (d *DB) AgeSnapshots(group, app string, age time.Duration) {
	d.tb.Helper()
	d.exec(`UPDATE ha_snapshot SET created_at = now() - $3 * interval '1 millisecond' WHERE group_id = $1 AND app = $2`,
		group, app, age.Milliseconds())
}

// SaveSnapshot persists a snapshot of app under term through the node's store.
func (d *DB) SaveSnapshot(group, app string, term int64) {
	d.tb.Helper()
	ctx, cancel := d.ctx()
	defer cancel()
	if _, err := d.DB.SaveSnapshot(ctx, store.Snapshot{Group: group, App: app, Term: term, LastSeq: 90, Payload: []byte("state")}, 2); err != nil {
		d.tb.Fatalf("clustertest: %v", err)
	}
}

func (d *DB) exec(q string, args ...any) {
	d.tb.Helper()
	ctx, cancel := d.ctx()
	defer cancel()
	if _, err := d.SQL().ExecContext(ctx, q, args...); err != nil {
		d.tb.Fatalf("clustertest: %v", err)
	}
}
