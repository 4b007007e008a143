package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
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
	// Checksum is "crc32c:<hex>" over Payload as written; "" for rows an older node wrote.
	Checksum string
	// QuarantinedAt is when an operator set the revision aside (never restored nor trimmed).
	QuarantinedAt    time.Time
	QuarantineReason string
	// Base is 0 for a base revision (the full state); for a delta revision (what changed since
	// the revision before it) the base revision of its chain (schema v7).
	Base int64
	// After is, when saving a delta, the revision it applies on: the save is refused with
	// ErrChainMoved unless that is the newest stored revision. Not stored.
	After int64
}

// Delta reports whether the revision is a delta, restored from its chain (ReadChain).
func (s Snapshot) Delta() bool { return s.Base != 0 }

// Quarantined reports whether an operator set the revision aside.
func (s Snapshot) Quarantined() bool { return !s.QuarantinedAt.IsZero() }

// Check is the outcome of verifying a snapshot's payload against its stored checksum.
type Check string

// Check outcomes.
const (
	CheckOK         Check = "ok"
	CheckBad        Check = "bad"        // the payload is not what was written
	CheckUnverified Check = "unverified" // written without a checksum (older node)
)

// ErrChecksum reports a snapshot payload that does not match its stored checksum.
var ErrChecksum = errors.New("snapshot checksum mismatch")

// ErrNoSnapshot reports a revision that does not exist.
var ErrNoSnapshot = errors.New("no such snapshot revision")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Checksum is the checksum stored with a payload: CRC-32C, hardware-accelerated, enough to catch
// torn or corrupted writes (it is not a defence against deliberate tampering).
func Checksum(payload []byte) string {
	return fmt.Sprintf("crc32c:%08x", crc32.Checksum(payload, castagnoli))
}

// Verify checks Payload against Checksum.
func (s Snapshot) Verify() Check {
	if s.Checksum == "" {
		return CheckUnverified
	}
	if !strings.EqualFold(s.Checksum, Checksum(s.Payload)) {
		return CheckBad
	}
	return CheckOK
}

// VerifyErr is Verify as an error: nil when the payload matches or cannot be checked.
func (s Snapshot) VerifyErr() error {
	if s.Verify() == CheckBad {
		return fmt.Errorf("%w: %s/%s revision %d: stored %s, payload has %s", ErrChecksum, s.Group, s.App, s.Revision, s.Checksum, Checksum(s.Payload))
	}
	return nil
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

// SaveSnapshot stores a new revision under term and drops revisions beyond keep (but never one
// a kept delta's chain needs); it returns the new revision. A delta (s.Base set) is refused
// with ErrChainMoved unless the newest revision belongs to the chain of base s.Base. A payload up to the chunk size is one transaction that first checks (and raises)
// the fence; a larger one is written as chunks in short transactions and made visible by a small
// commit transaction (saveChunked), so no statement or transaction of it runs long.
func (d *DB) SaveSnapshot(ctx context.Context, s Snapshot, keep int) (int64, error) {
	if keep < 1 {
		keep = 1
	}
	var rev int64
	var err error
	if len(s.Payload) > d.chunkLimit() {
		rev, err = d.saveChunked(ctx, s, keep)
	} else {
		rev, err = d.saveInline(ctx, s, keep)
	}
	if err != nil {
		return 0, err
	}
	d.cleanupAfterSave(ctx, s.Group, s.App)
	return rev, nil
}

// saveInline stores a small payload in its ha_snapshot row, in one transaction.
func (d *DB) saveInline(ctx context.Context, s Snapshot, keep int) (int64, error) {
	return d.saveTx(ctx, s, keep, nil, func(tx *sql.Tx, rev int64) error {
		_, err := tx.ExecContext(ctx, d.q.insertSnapshot, s.Group, s.App, rev, s.Term, int64(s.LastSeq), int64(len(s.Payload)), s.Payload, Checksum(s.Payload), s.Base)
		return err
	})
}

// saveTx is the transaction that commits a revision of s: the fence check, check (when not
// nil), the next revision number, insert of its row, the trim to keep revisions, the commit.
func (d *DB) saveTx(ctx context.Context, s Snapshot, keep int, check func(*sql.Tx) error, insert func(*sql.Tx, int64) error) (int64, error) {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("save snapshot %s/%s: begin: %w", s.Group, s.App, err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	if err := d.fenceTx(ctx, tx, s); err != nil {
		return 0, err
	}
	if s.Base != 0 {
		if err := d.chainTipTx(ctx, tx, s); err != nil {
			return 0, err
		}
	}
	if check != nil {
		if err := check(tx); err != nil {
			return 0, err
		}
	}
	var rev int64
	if err := tx.QueryRowContext(ctx, d.q.nextRevision, s.Group, s.App).Scan(&rev); err != nil {
		return 0, fmt.Errorf("save snapshot %s/%s: next revision: %w", s.Group, s.App, err)
	}
	if err := insert(tx, rev); err != nil {
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

// snapshotRow holds the columns of a snapshot read that fillSnapshot turns into fields.
type snapshotRow struct {
	seq, createdMS, size int64
	sum, upload          sql.NullString
	chunks               sql.NullInt64
}

// fillSnapshot sets s's fields from r and reads a chunked payload; ok is false when its chunks
// are gone (the revision was trimmed meanwhile).
func (d *DB) fillSnapshot(ctx context.Context, s *Snapshot, r snapshotRow) (bool, error) {
	s.LastSeq = uint64(r.seq)
	s.CreatedAt = time.UnixMilli(r.createdMS)
	s.Checksum = r.sum.String
	if r.upload.Valid {
		ok, err := d.readChunks(ctx, s, r.upload.String, r.chunks.Int64, r.size)
		if err != nil || !ok {
			return false, err
		}
	}
	s.Size = int64(len(s.Payload))
	return true, nil
}

// LatestSnapshot returns the newest revision of app that is not quarantined; ok is false when
// there is none. The payload is not verified: see Snapshot.Verify.
func (d *DB) LatestSnapshot(ctx context.Context, group, app string) (Snapshot, bool, error) {
	s := Snapshot{Group: group, App: app}
	var r snapshotRow
	err := d.db.QueryRowContext(ctx, d.q.latestSnapshot, group, app).Scan(&s.Revision, &s.Term, &r.seq, &r.createdMS, &s.Payload, &r.sum, &r.size, &r.upload, &r.chunks, &s.Base)
	if errors.Is(err, sql.ErrNoRows) {
		return s, false, nil
	}
	if err != nil {
		return s, false, fmt.Errorf("read snapshot %s/%s: %w", group, app, err)
	}
	ok, err := d.fillSnapshot(ctx, &s, r)
	return s, ok, err
}

// ReadSnapshot returns one revision of app with its payload, quarantined or not; ok is false when
// it does not exist. The payload is not verified: see Snapshot.Verify.
func (d *DB) ReadSnapshot(ctx context.Context, group, app string, revision int64) (Snapshot, bool, error) {
	s := Snapshot{Group: group, App: app}
	var r snapshotRow
	var reason sql.NullString
	var qMS sql.NullInt64
	err := d.db.QueryRowContext(ctx, d.q.readSnapshot, group, app, revision).Scan(&s.Revision, &s.Term, &r.seq, &r.createdMS, &s.Payload, &r.sum, &qMS, &reason, &r.size, &r.upload, &r.chunks, &s.Base)
	if errors.Is(err, sql.ErrNoRows) {
		return s, false, nil
	}
	if err != nil {
		return s, false, fmt.Errorf("read snapshot %s/%s revision %d: %w", group, app, revision, err)
	}
	if ok, err := d.fillSnapshot(ctx, &s, r); err != nil || !ok {
		return s, false, err
	}
	if qMS.Valid {
		s.QuarantinedAt, s.QuarantineReason = time.UnixMilli(qMS.Int64), reason.String
	}
	return s, true, nil
}

// SnapshotApps lists the apps of group that have at least one stored revision.
func (d *DB) SnapshotApps(ctx context.Context, group string) ([]string, error) {
	rows, err := d.db.QueryContext(ctx, d.q.snapshotApps, group)
	if err != nil {
		return nil, fmt.Errorf("list snapshot apps of %s: %w", group, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, fmt.Errorf("list snapshot apps of %s: %w", group, err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Quarantine sets a revision aside so no node restores it (nor trims it); reason is kept for the
// listing. Unquarantine undoes it. ErrNoSnapshot if the revision does not exist.
func (d *DB) Quarantine(ctx context.Context, group, app string, revision int64, reason string) error {
	return d.updateRevision(ctx, "quarantine", d.q.quarantine, group, app, revision, reason)
}

// Unquarantine makes a quarantined revision usable again.
func (d *DB) Unquarantine(ctx context.Context, group, app string, revision int64) error {
	return d.updateRevision(ctx, "unquarantine", d.q.unquarantine, group, app, revision)
}

func (d *DB) updateRevision(ctx context.Context, what, q, group, app string, revision int64, extra ...any) error {
	res, err := d.db.ExecContext(ctx, q, append([]any{group, app, revision}, extra...)...)
	if err != nil {
		return fmt.Errorf("%s %s/%s revision %d: %w", what, group, app, revision, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("%s %s/%s revision %d: %w", what, group, app, revision, ErrNoSnapshot)
	}
	return nil
}

// AcceptLoss is an operator's standing permission to restore app with a gap.
type AcceptLoss struct {
	RequestedAt time.Time
	Reason      string
}

// RequestAcceptLoss lets the next promotion restore app from the best revision it can read even
// if inputs after it are held by nobody; that promotion consumes the permission.
func (d *DB) RequestAcceptLoss(ctx context.Context, group, app, reason string) error {
	if _, err := d.db.ExecContext(ctx, d.q.setAcceptLoss, group, app, reason); err != nil {
		return fmt.Errorf("accept loss for %s/%s: %w", group, app, err)
	}
	return nil
}

// AcceptLossRequested returns app's pending permission to restore with a gap, if any.
func (d *DB) AcceptLossRequested(ctx context.Context, group, app string) (AcceptLoss, bool, error) {
	var a AcceptLoss
	var ms int64
	err := d.db.QueryRowContext(ctx, d.q.getAcceptLoss, group, app).Scan(&ms, &a.Reason)
	if errors.Is(err, sql.ErrNoRows) {
		return a, false, nil
	}
	if err != nil {
		return a, false, fmt.Errorf("read accept-loss of %s/%s: %w", group, app, err)
	}
	a.RequestedAt = time.UnixMilli(ms)
	return a, true, nil
}

// ClearAcceptLoss removes app's permission (consumed by a promotion, or withdrawn).
func (d *DB) ClearAcceptLoss(ctx context.Context, group, app string) error {
	if _, err := d.db.ExecContext(ctx, d.q.delAccept, group, app); err != nil {
		return fmt.Errorf("clear accept-loss of %s/%s: %w", group, app, err)
	}
	return nil
}

// ListSnapshots lists app's stored revisions, quarantined ones included, newest first, without
// payloads.
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
		var sum sql.NullString
		var qMS sql.NullInt64
		if err := rows.Scan(&s.Revision, &s.Term, &seq, &createdMS, &s.Size, &sum, &qMS, &s.QuarantineReason, &s.Base); err != nil {
			return nil, fmt.Errorf("list snapshots %s/%s: %w", group, app, err)
		}
		s.LastSeq = uint64(seq)
		s.CreatedAt = time.UnixMilli(createdMS)
		s.Checksum = sum.String
		if qMS.Valid {
			s.QuarantinedAt = time.UnixMilli(qMS.Int64)
		} else {
			s.QuarantineReason = ""
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
