package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/streamha/streamha/node/cluster"
)

var _ cluster.Store = (*DB)(nil)

// Register inserts or refreshes the node's row with its properties and a fresh heartbeat.
func (d *DB) Register(ctx context.Context, n cluster.NodeInfo) error {
	props, err := json.Marshal(n.Properties)
	if err != nil {
		return fmt.Errorf("register %s/%s: %w", n.Group, n.NodeID, err)
	}
	if _, err := d.db.ExecContext(ctx, d.q.register, n.Group, n.NodeID, string(props)); err != nil {
		return fmt.Errorf("register %s/%s: %w", n.Group, n.NodeID, err)
	}
	return nil
}

// Heartbeat stamps the node's heartbeat with the database's clock and stores its reported status.
func (d *DB) Heartbeat(ctx context.Context, group, nodeID string, status json.RawMessage) error {
	if len(status) == 0 {
		status = json.RawMessage(`{}`)
	}
	res, err := d.db.ExecContext(ctx, d.q.heartbeat, group, nodeID, string(status))
	if err != nil {
		return fmt.Errorf("heartbeat %s/%s: %w", group, nodeID, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("heartbeat %s/%s: %w", group, nodeID, cluster.ErrNotRegistered)
	}
	return nil
}

// Deregister removes the node's row (a clean shutdown of a passive).
func (d *DB) Deregister(ctx context.Context, group, nodeID string) error {
	if _, err := d.db.ExecContext(ctx, d.q.deregister, group, nodeID); err != nil {
		return fmt.Errorf("deregister %s/%s: %w", group, nodeID, err)
	}
	return nil
}

// Nodes lists the group's registered nodes with heartbeat ages by the database's clock.
func (d *DB) Nodes(ctx context.Context, group string) ([]cluster.NodeRecord, error) {
	rows, err := d.db.QueryContext(ctx, d.q.nodes, group)
	if err != nil {
		return nil, fmt.Errorf("list nodes of %s: %w", group, err)
	}
	defer rows.Close()
	var out []cluster.NodeRecord
	for rows.Next() {
		var rec cluster.NodeRecord
		var props, status string
		var ageMS int64
		if err := rows.Scan(&rec.NodeID, &props, &status, &ageMS); err != nil {
			return nil, fmt.Errorf("list nodes of %s: %w", group, err)
		}
		rec.Group = group
		if err := json.Unmarshal([]byte(props), &rec.Properties); err != nil {
			return nil, fmt.Errorf("list nodes of %s: properties of %s: %w", group, rec.NodeID, err)
		}
		rec.Status = json.RawMessage(status)
		rec.HeartbeatAge = time.Duration(ageMS) * time.Millisecond
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list nodes of %s: %w", group, err)
	}
	return out, nil
}

// Acquire takes the lease with one conditional upsert: only when free or expired by the database's
// clock, and each success increments the term.
func (d *DB) Acquire(ctx context.Context, group, nodeID string, lease time.Duration) (cluster.Lease, bool, error) {
	var term, remMS int64
	err := d.db.QueryRowContext(ctx, d.q.acquire, group, nodeID, lease.Milliseconds()).Scan(&term, &remMS)
	switch {
	case err == nil:
		return cluster.Lease{Group: group, Holder: nodeID, Term: term, Remaining: time.Duration(remMS) * time.Millisecond}, true, nil
	case errors.Is(err, sql.ErrNoRows):
		l, err := d.Leader(ctx, group)
		return l, false, err
	default:
		return cluster.Lease{}, false, fmt.Errorf("acquire lease of %s: %w", group, err)
	}
}

// Renew extends the lease only if nodeID still holds it under term and it has not expired.
func (d *DB) Renew(ctx context.Context, group, nodeID string, term int64, lease time.Duration) (cluster.Lease, error) {
	var got, remMS int64
	err := d.db.QueryRowContext(ctx, d.q.renew, group, nodeID, term, lease.Milliseconds()).Scan(&got, &remMS)
	switch {
	case err == nil:
		return cluster.Lease{Group: group, Holder: nodeID, Term: got, Remaining: time.Duration(remMS) * time.Millisecond}, nil
	case errors.Is(err, sql.ErrNoRows):
		return cluster.Lease{}, fmt.Errorf("renew lease of %s at term %d: %w", group, term, cluster.ErrLeaseLost)
	default:
		return cluster.Lease{}, fmt.Errorf("renew lease of %s at term %d: %w", group, term, err)
	}
}

// Release frees the lease at once (term kept) so a standby need not wait for expiry.
func (d *DB) Release(ctx context.Context, group, nodeID string, term int64) error {
	res, err := d.db.ExecContext(ctx, d.q.release, group, nodeID, term)
	if err != nil {
		return fmt.Errorf("release lease of %s at term %d: %w", group, term, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("release lease of %s at term %d: %w", group, term, cluster.ErrLeaseLost)
	}
	return nil
}

// Leader reads the group's lease; a group that never had a leader has Term 0.
func (d *DB) Leader(ctx context.Context, group string) (cluster.Lease, error) {
	l := cluster.Lease{Group: group}
	var remMS int64
	err := d.db.QueryRowContext(ctx, d.q.leader, group).Scan(&l.Holder, &l.Term, &remMS)
	if errors.Is(err, sql.ErrNoRows) {
		return l, nil
	}
	if err != nil {
		return l, fmt.Errorf("read lease of %s: %w", group, err)
	}
	l.Remaining = time.Duration(remMS) * time.Millisecond
	return l, nil
}
