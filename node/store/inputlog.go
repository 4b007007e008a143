package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/streamha/streamha/node/cluster"
)

// LogRecord is one row of the input log: an app's inputs FirstSeq..LastSeq, appended by an
// active at Term. Payload is the data path's encoding; the store only checksums it.
type LogRecord struct {
	Group, App        string
	FirstSeq, LastSeq uint64
	Term              int64
	Payload           []byte
	Checksum          string // "crc32c:<hex>" over Payload, set by the store
}

// VerifyErr checks Payload against Checksum.
func (r LogRecord) VerifyErr() error {
	if !strings.EqualFold(r.Checksum, Checksum(r.Payload)) {
		return fmt.Errorf("%w: input log %s/%s %d..%d: stored %s, payload has %s", ErrChecksum, r.Group, r.App, r.FirstSeq, r.LastSeq, r.Checksum, Checksum(r.Payload))
	}
	return nil
}

// AppendInputs appends r to the input log in one short transaction that first checks (and
// raises) the group's fence: an active deposed by a newer term is refused (cluster.ErrFenced),
// as its snapshots are. A row already starting at r.FirstSeq is replaced when r's term is not
// older (an append retried with more inputs after an error that hid its commit). Rows of older
// terms that r overlaps stay until trimmed: readers let the newer term win from where its rows
// start.
func (d *DB) AppendInputs(ctx context.Context, r LogRecord) error {
	if r.LastSeq < r.FirstSeq || r.FirstSeq == 0 {
		return fmt.Errorf("append inputs %s/%s: bad range %d..%d", r.Group, r.App, r.FirstSeq, r.LastSeq)
	}
	q := d.cq()
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("append inputs %s/%s: begin: %w", r.Group, r.App, err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	var got int64
	err = tx.QueryRowContext(ctx, d.q.fence, r.Group, r.Term).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("append inputs %s/%s %d..%d at term %d: %w", r.Group, r.App, r.FirstSeq, r.LastSeq, r.Term, cluster.ErrFenced)
	}
	if err != nil {
		return fmt.Errorf("append inputs %s/%s: fence: %w", r.Group, r.App, err)
	}
	if _, err := tx.ExecContext(ctx, q.upsertLog, r.Group, r.App, int64(r.FirstSeq), int64(r.LastSeq), r.Term, r.Payload, Checksum(r.Payload)); err != nil {
		return fmt.Errorf("append inputs %s/%s %d..%d: %w", r.Group, r.App, r.FirstSeq, r.LastSeq, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("append inputs %s/%s: commit: %w", r.Group, r.App, err)
	}
	return nil
}

// InputLog returns app's input log rows holding inputs after seq, in order of FirstSeq. Their
// payloads are not verified: see LogRecord.VerifyErr.
func (d *DB) InputLog(ctx context.Context, group, app string, after uint64) ([]LogRecord, error) {
	rows, err := d.db.QueryContext(ctx, d.cq().readLog, group, app, int64(after))
	if err != nil {
		return nil, fmt.Errorf("read input log %s/%s: %w", group, app, err)
	}
	defer rows.Close()
	var out []LogRecord
	for rows.Next() {
		r := LogRecord{Group: group, App: app}
		var first, last int64
		if err := rows.Scan(&first, &last, &r.Term, &r.Payload, &r.Checksum); err != nil {
			return nil, fmt.Errorf("read input log %s/%s: %w", group, app, err)
		}
		r.FirstSeq, r.LastSeq = uint64(first), uint64(last)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read input log %s/%s: %w", group, app, err)
	}
	return out, nil
}
