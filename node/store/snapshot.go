package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/streamha/streamha/node/cluster"
)

// Snapshot is one persisted revision of an app's state.
type Snapshot struct {
	Group     string
	App       string
	Revision  int64
	Term      int64
	LastSeq   uint64
	CreatedAt time.Time
	Size      int64
	Payload   []byte // nil in listings
}

// Fence raises the group's fencing term in the persistence database to term. A promoting node calls
// it before restoring, so any later write from an older term is refused. ErrFenced if a higher
// term is already recorded.
func (d *DB) Fence(ctx context.Context, group string, term int64) error {
	var got int64
	err := d.db.QueryRowContext(ctx, d.q.fence, group, term).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("fence %s at term %d: %w", group, term, cluster.ErrFenced)
	}
	if err != nil {
		return fmt.Errorf("fence %s at term %d: %w", group, term, err)
	}
	return nil
}

// SaveSnapshot stores a new revision under term, in one transaction that first checks (and raises)
// the fence, then drops revisions beyond keep. It returns the new revision.
func (d *DB) SaveSnapshot(ctx context.Context, s Snapshot, keep int) (int64, error) {
	if keep < 1 {
		keep = 1
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("save snapshot %s/%s: begin: %w", s.Group, s.App, err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	var got int64
	err = tx.QueryRowContext(ctx, d.q.fence, s.Group, s.Term).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("save snapshot %s/%s at term %d: %w", s.Group, s.App, s.Term, cluster.ErrFenced)
	}
	if err != nil {
		return 0, fmt.Errorf("save snapshot %s/%s: fence: %w", s.Group, s.App, err)
	}
	if d.afterFence != nil {
		d.afterFence()
	}
	var rev int64
	if err := tx.QueryRowContext(ctx, d.q.nextRevision, s.Group, s.App).Scan(&rev); err != nil {
		return 0, fmt.Errorf("save snapshot %s/%s: next revision: %w", s.Group, s.App, err)
	}
	if _, err := tx.ExecContext(ctx, d.q.insertSnapshot, s.Group, s.App, rev, s.Term, int64(s.LastSeq), int64(len(s.Payload)), s.Payload); err != nil {
		return 0, fmt.Errorf("save snapshot %s/%s: insert: %w", s.Group, s.App, err)
	}
	if _, err := tx.ExecContext(ctx, d.q.trim, s.Group, s.App, rev-int64(keep)); err != nil {
		return 0, fmt.Errorf("save snapshot %s/%s: trim: %w", s.Group, s.App, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("save snapshot %s/%s: commit: %w", s.Group, s.App, err)
	}
	return rev, nil
}

// LatestSnapshot returns the newest revision of app; ok is false when there is none.
func (d *DB) LatestSnapshot(ctx context.Context, group, app string) (Snapshot, bool, error) {
	s := Snapshot{Group: group, App: app}
	var seq, createdMS int64
	err := d.db.QueryRowContext(ctx, d.q.latestSnapshot, group, app).Scan(&s.Revision, &s.Term, &seq, &createdMS, &s.Payload)
	if errors.Is(err, sql.ErrNoRows) {
		return s, false, nil
	}
	if err != nil {
		return s, false, fmt.Errorf("read snapshot %s/%s: %w", group, app, err)
	}
	s.LastSeq = uint64(seq)
	s.CreatedAt = time.UnixMilli(createdMS)
	s.Size = int64(len(s.Payload))
	return s, true, nil
}

// ListSnapshots lists app's kept revisions, newest first, without payloads.
func (d *DB) ListSnapshots(ctx context.Context, group, app string) ([]Snapshot, error) {
	rows, err := d.db.QueryContext(ctx, d.q.listSnapshots, group, app)
	if err != nil {
		return nil, fmt.Errorf("list snapshots %s/%s: %w", group, app, err)
	}
	defer rows.Close()
	var out []Snapshot
	for rows.Next() {
		s := Snapshot{Group: group, App: app}
		var seq, createdMS int64
		if err := rows.Scan(&s.Revision, &s.Term, &seq, &createdMS, &s.Size); err != nil {
			return nil, fmt.Errorf("list snapshots %s/%s: %w", group, app, err)
		}
		s.LastSeq = uint64(seq)
		s.CreatedAt = time.UnixMilli(createdMS)
		out = append(out, s)
	}
	return out, rows.Err()
}
