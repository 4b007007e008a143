package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/streamha/streamha/node/cluster"
	"github.com/streamha/streamha/schema"
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
// clock, and each success increments the term. A success writes its term history row and trims
// the history in the same statement (PostgreSQL) or transaction (SQLite).
func (d *DB) Acquire(ctx context.Context, group, nodeID string, lease time.Duration) (cluster.Lease, bool, error) {
	keep, rows := d.historyLimits()
	var term, remMS int64
	var err error
	if d.dialect == schema.Postgres {
		err = d.db.QueryRowContext(ctx, d.q.acquire, group, nodeID, lease.Milliseconds(), keep.Milliseconds(), rows).Scan(&term, &remMS)
	} else {
		term, remMS, err = d.acquireSQLite(ctx, group, nodeID, lease, keep, rows)
	}
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

func (d *DB) acquireSQLite(ctx context.Context, group, nodeID string, lease, keep time.Duration, rows int) (term, remMS int64, err error) {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	var prev, reason string
	var at int64
	if err := tx.QueryRowContext(ctx, d.q.acquire, group, nodeID, lease.Milliseconds()).Scan(&term, &remMS, &prev, &reason, &at); err != nil {
		return 0, 0, err
	}
	if _, err := tx.ExecContext(ctx, d.q.addHistory, group, term, "acquire", nodeID, prev, reason, at); err != nil {
		return 0, 0, fmt.Errorf("term history: %w", err)
	}
	if _, err := tx.ExecContext(ctx, d.q.trimHistory, group, keep.Milliseconds(), rows); err != nil {
		return 0, 0, fmt.Errorf("trim term history: %w", err)
	}
	return term, remMS, tx.Commit()
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

// Release frees the lease at once (term kept) so a standby need not wait for expiry, and writes
// the release with its reason to the term history in the same statement or transaction.
func (d *DB) Release(ctx context.Context, group, nodeID string, term int64, reason string) error {
	var err error
	if d.dialect == schema.Postgres {
		var got int64
		err = d.db.QueryRowContext(ctx, d.q.release, group, nodeID, term, reason).Scan(&got)
	} else {
		err = d.releaseSQLite(ctx, group, nodeID, term, reason)
	}
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("release lease of %s at term %d: %w", group, term, cluster.ErrLeaseLost)
	case err != nil:
		return fmt.Errorf("release lease of %s at term %d: %w", group, term, err)
	}
	return nil
}

func (d *DB) releaseSQLite(ctx context.Context, group, nodeID string, term int64, reason string) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	var got, at int64
	if err := tx.QueryRowContext(ctx, d.q.release, group, nodeID, term, reason).Scan(&got, &at); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, d.q.addHistory, group, got, "release", nodeID, "", reason, at); err != nil {
		return fmt.Errorf("term history: %w", err)
	}
	return tx.Commit()
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

// Default bounds of the term history; SetHistoryRetention changes them.
const (
	DefaultHistoryRetention = 30 * 24 * time.Hour
	DefaultHistoryMaxRows   = 10000
)

// SetHistoryRetention bounds the term history each acquisition trims to: rows older than keep
// (by the database's clock) and all but the newest rows of each group go. Zero or negative
// values keep the defaults.
func (d *DB) SetHistoryRetention(keep time.Duration, rows int) {
	d.histKeep, d.histRows = keep, rows
}

func (d *DB) historyLimits() (time.Duration, int) {
	keep, rows := d.histKeep, d.histRows
	if keep <= 0 {
		keep = DefaultHistoryRetention
	}
	if rows <= 0 {
		rows = DefaultHistoryMaxRows
	}
	return keep, rows
}

// TermEvent is one row of the term history: a lease acquisition or release.
type TermEvent struct {
	Group  string `json:"group"`
	Term   int64  `json:"term"`
	Event  string `json:"event"`  // acquire or release
	Holder string `json:"holder"` // the node that took or gave up the lease
	// Previous is, on an acquisition, the node that held the lease before ("" on the first).
	Previous string `json:"previous,omitempty"`
	Reason   string `json:"reason"` // a cluster.Reason* value
	// At is when it happened by the database's clock; Age is how long ago, also by that clock.
	At  time.Time     `json:"at"`
	Age time.Duration `json:"-"`
}

// History lists the term history oldest first: of group ("" for every group), and only what
// happened within since (0 for everything kept).
func (d *DB) History(ctx context.Context, group string, since time.Duration) ([]TermEvent, error) {
	rows, err := d.db.QueryContext(ctx, d.q.history, group, since.Milliseconds())
	if err != nil {
		return nil, fmt.Errorf("read term history: %w", err)
	}
	defer rows.Close()
	var out []TermEvent
	for rows.Next() {
		var e TermEvent
		var atMS, ageMS int64
		if err := rows.Scan(&e.Group, &e.Term, &e.Event, &e.Holder, &e.Previous, &e.Reason, &atMS, &ageMS); err != nil {
			return nil, fmt.Errorf("read term history: %w", err)
		}
		e.At = time.UnixMilli(atMS).UTC()
		e.Age = time.Duration(ageMS) * time.Millisecond
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read term history: %w", err)
	}
	return out, nil
}

// Groups lists every group that has a lease or a registered node.
func (d *DB) Groups(ctx context.Context) ([]string, error) {
	rows, err := d.db.QueryContext(ctx, d.q.historyGroups)
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			return nil, fmt.Errorf("list groups: %w", err)
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// Now is the database's clock, to age the times read from it without the local clock.
func (d *DB) Now(ctx context.Context) (time.Time, error) {
	var ms int64
	if err := d.db.QueryRowContext(ctx, d.q.now).Scan(&ms); err != nil {
		return time.Time{}, fmt.Errorf("read the clock of %s: %w", d.display, err)
	}
	return time.UnixMilli(ms).UTC(), nil
}

// SchemaVersion is the newest schema version applied to the database, 0 when none is.
func (d *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := d.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM ha_schema_version`).Scan(&v)
	if err != nil {
		if ok, _ := d.tableExists(ctx, "ha_schema_version"); !ok {
			return 0, nil
		}
		return 0, fmt.Errorf("read the schema version of %s: %w", d.display, err)
	}
	return v, nil
}

func (d *DB) tableExists(ctx context.Context, name string) (bool, error) {
	q := `SELECT count(*) FROM information_schema.tables WHERE table_name = $1`
	if d.dialect == schema.SQLite {
		q = `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1`
	}
	var n int
	if err := d.db.QueryRowContext(ctx, q, name).Scan(&n); err != nil {
		return false, err
	}
	return n > 0, nil
}
