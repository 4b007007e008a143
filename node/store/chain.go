package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/streamha/streamha/schema"
)

// ErrChainMoved refuses a delta revision whose chain is no longer the newest one (another base
// was written, or the newest revision is quarantined): the writer must store a base instead.
var ErrChainMoved = errors.New("snapshot chain moved")

// ErrChainBroken reports a delta revision whose chain cannot be read whole: a revision of it is
// missing or quarantined, or a revision of another chain sits inside it.
var ErrChainBroken = errors.New("snapshot chain broken")

var (
	pgChainTip = `SELECT revision, COALESCE(base_revision, revision), quarantined_at IS NOT NULL FROM ha_snapshot
		WHERE group_id = $1 AND app = $2 ORDER BY revision DESC LIMIT 1`
	sqliteChainTip = `SELECT revision, COALESCE(base_revision, revision), quarantined_at IS NOT NULL FROM ha_snapshot
		WHERE group_id = ?1 AND app = ?2 ORDER BY revision DESC LIMIT 1`
)

// chainTipTx checks, in a delta's commit transaction, that the newest revision is s.Base or a
// delta of it (s.After itself when set), and usable.
func (d *DB) chainTipTx(ctx context.Context, tx *sql.Tx, s Snapshot) error {
	q := pgChainTip
	if d.dialect == schema.SQLite {
		q = sqliteChainTip
	}
	var rev, base int64
	var quarantined bool
	err := tx.QueryRowContext(ctx, q, s.Group, s.App).Scan(&rev, &base, &quarantined)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("save delta %s/%s on base %d: no revision stored: %w", s.Group, s.App, s.Base, ErrChainMoved)
	}
	if err != nil {
		return fmt.Errorf("save delta %s/%s: chain tip: %w", s.Group, s.App, err)
	}
	if base != s.Base || quarantined || (s.After != 0 && rev != s.After) {
		return fmt.Errorf("save delta %s/%s on base %d: the newest revision %d belongs to base %d (quarantined %v): %w",
			s.Group, s.App, s.Base, rev, base, quarantined, ErrChainMoved)
	}
	return nil
}

// RevisionReader reads one stored revision (DB, or a wrapper of it).
type RevisionReader interface {
	ReadSnapshot(ctx context.Context, group, app string, revision int64) (Snapshot, bool, error)
}

// ReadChain reads what restoring revision needs, in order: for a base just itself, for a delta
// its base and every delta of the chain up to it. Each payload is verified against its
// checksum. ErrNoSnapshot if revision does not exist; ErrChainBroken (or ErrChecksum) when a
// revision of the chain is missing, quarantined or corrupt.
func ReadChain(ctx context.Context, r RevisionReader, group, app string, revision int64) ([]Snapshot, error) {
	top, ok, err := r.ReadSnapshot(ctx, group, app, revision)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("read chain %s/%s revision %d: %w", group, app, revision, ErrNoSnapshot)
	}
	if err := top.VerifyErr(); err != nil {
		return nil, err
	}
	if !top.Delta() {
		return []Snapshot{top}, nil
	}
	if top.Base >= revision {
		return nil, fmt.Errorf("read chain %s/%s: delta %d names base %d: %w", group, app, revision, top.Base, ErrChainBroken)
	}
	chain := make([]Snapshot, 0, revision-top.Base+1)
	for rev := top.Base; rev < revision; rev++ {
		s, ok, err := r.ReadSnapshot(ctx, group, app, rev)
		if err != nil {
			return nil, err
		}
		switch {
		case !ok:
			return nil, fmt.Errorf("read chain %s/%s of revision %d: revision %d is gone: %w", group, app, revision, rev, ErrChainBroken)
		case s.Quarantined():
			return nil, fmt.Errorf("read chain %s/%s of revision %d: revision %d is quarantined: %w", group, app, revision, rev, ErrChainBroken)
		case rev == top.Base && s.Delta(), rev != top.Base && s.Base != top.Base:
			return nil, fmt.Errorf("read chain %s/%s of revision %d (base %d): revision %d has base %d: %w", group, app, revision, top.Base, rev, s.Base, ErrChainBroken)
		}
		if err := s.VerifyErr(); err != nil {
			return nil, err
		}
		chain = append(chain, s)
	}
	return append(chain, top), nil
}
