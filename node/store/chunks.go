package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/streamha/streamha/node/cluster"
	"github.com/streamha/streamha/schema"
)

// DefaultChunkSize is the largest snapshot written inline in its ha_snapshot row, and the size of
// each chunk of a larger one: small enough that no statement or transaction of a snapshot write
// holds SQLite's write lock, or a PostgreSQL session, for long (schema v6).
const DefaultChunkSize = 1 << 20

// chunkDeleteBatch is how many chunks one cleanup transaction deletes.
const chunkDeleteBatch = 16

// On SQLite a chunked write pauses for sqliteYield after each sqliteWriteBurst of chunks; the
// pause is longer than the busy handler's longest sleep (100 ms), so a waiting writer gets in.
const (
	sqliteWriteBurst = 250 * time.Millisecond
	sqliteYield      = 120 * time.Millisecond
)

// SetChunkSize changes the chunk size (tests use small ones); n <= 0 restores DefaultChunkSize.
func (d *DB) SetChunkSize(n int) { d.chunkSize = n }

func (d *DB) chunkLimit() int {
	if d.chunkSize <= 0 {
		return DefaultChunkSize
	}
	return d.chunkSize
}

// chunkQueries are schema v6's statements for chunked snapshots and the input log.
type chunkQueries struct {
	insertChunk, countChunks, readChunk, insertChunked string
	deleteUpload, deleteOrphans, trimLog               string
	upsertLog, readLog                                 string
}

var pgChunkQueries = &chunkQueries{
	insertChunk: `INSERT INTO ha_snapshot_chunk (group_id, app, upload_id, n, data, created_at) VALUES ($1, $2, $3, $4, $5, now())`,
	countChunks: `SELECT COUNT(*), COALESCE(SUM(length(data)), 0) FROM ha_snapshot_chunk WHERE group_id = $1 AND app = $2 AND upload_id = $3`,
	readChunk:   `SELECT data FROM ha_snapshot_chunk WHERE group_id = $1 AND app = $2 AND upload_id = $3 AND n = $4`,
	insertChunked: `INSERT INTO ha_snapshot (group_id, app, revision, term, last_seq, created_at, size_bytes, payload, checksum, upload_id, chunks, base_revision)
		VALUES ($1, $2, $3, $4, $5, now(), $6, ''::bytea, $7, $8, $9, NULLIF($10::bigint, 0))`,
	deleteUpload: `DELETE FROM ha_snapshot_chunk WHERE ctid IN (SELECT ctid FROM ha_snapshot_chunk
		WHERE group_id = $1 AND app = $2 AND upload_id = $3 LIMIT $4)`,
	// Chunks of uploads no revision names: trimmed revisions and abandoned writes (but not the
	// upload $3 being written).
	deleteOrphans: `DELETE FROM ha_snapshot_chunk WHERE ctid IN (SELECT c.ctid FROM ha_snapshot_chunk c
		WHERE c.group_id = $1 AND c.app = $2 AND c.upload_id <> $3
		AND NOT EXISTS (SELECT 1 FROM ha_snapshot s WHERE s.group_id = c.group_id AND s.app = c.app AND s.upload_id = c.upload_id)
		LIMIT $4)`,
	trimLog: `DELETE FROM ha_input_log WHERE group_id = $1 AND app = $2 AND last_seq <=
		(SELECT COALESCE(MIN(last_seq), 0) FROM ha_snapshot WHERE group_id = $1 AND app = $2 AND quarantined_at IS NULL)`,
	upsertLog: `INSERT INTO ha_input_log AS l (group_id, app, first_seq, last_seq, term, created_at, payload, checksum)
		VALUES ($1, $2, $3, $4, $5, now(), $6, $7)
		ON CONFLICT (group_id, app, first_seq) DO UPDATE
		SET last_seq = EXCLUDED.last_seq, term = EXCLUDED.term, created_at = EXCLUDED.created_at,
		    payload = EXCLUDED.payload, checksum = EXCLUDED.checksum
		WHERE l.term <= EXCLUDED.term`,
	readLog: `SELECT first_seq, last_seq, term, payload, checksum FROM ha_input_log
		WHERE group_id = $1 AND app = $2 AND last_seq > $3 ORDER BY first_seq`,
}

var sqliteChunkQueries = func() *chunkQueries {
	r := strings.NewReplacer("NOW", sqliteNow)
	q := &chunkQueries{
		insertChunk: `INSERT INTO ha_snapshot_chunk (group_id, app, upload_id, n, data, created_at) VALUES (?1, ?2, ?3, ?4, ?5, NOW)`,
		countChunks: `SELECT COUNT(*), COALESCE(SUM(length(data)), 0) FROM ha_snapshot_chunk WHERE group_id = ?1 AND app = ?2 AND upload_id = ?3`,
		readChunk:   `SELECT data FROM ha_snapshot_chunk WHERE group_id = ?1 AND app = ?2 AND upload_id = ?3 AND n = ?4`,
		insertChunked: `INSERT INTO ha_snapshot (group_id, app, revision, term, last_seq, created_at, size_bytes, payload, checksum, upload_id, chunks, base_revision)
			VALUES (?1, ?2, ?3, ?4, ?5, NOW, ?6, x'', ?7, ?8, ?9, NULLIF(?10, 0))`,
		deleteUpload: `DELETE FROM ha_snapshot_chunk WHERE rowid IN (SELECT rowid FROM ha_snapshot_chunk
			WHERE group_id = ?1 AND app = ?2 AND upload_id = ?3 LIMIT ?4)`,
		deleteOrphans: `DELETE FROM ha_snapshot_chunk WHERE rowid IN (SELECT c.rowid FROM ha_snapshot_chunk c
			WHERE c.group_id = ?1 AND c.app = ?2 AND c.upload_id <> ?3
			AND NOT EXISTS (SELECT 1 FROM ha_snapshot s WHERE s.group_id = c.group_id AND s.app = c.app AND s.upload_id = c.upload_id)
			LIMIT ?4)`,
		trimLog: `DELETE FROM ha_input_log WHERE group_id = ?1 AND app = ?2 AND last_seq <=
			(SELECT COALESCE(MIN(last_seq), 0) FROM ha_snapshot WHERE group_id = ?1 AND app = ?2 AND quarantined_at IS NULL)`,
		upsertLog: `INSERT INTO ha_input_log (group_id, app, first_seq, last_seq, term, created_at, payload, checksum)
			VALUES (?1, ?2, ?3, ?4, ?5, NOW, ?6, ?7)
			ON CONFLICT (group_id, app, first_seq) DO UPDATE
			SET last_seq = excluded.last_seq, term = excluded.term, created_at = excluded.created_at,
			    payload = excluded.payload, checksum = excluded.checksum
			WHERE ha_input_log.term <= excluded.term`,
		readLog: `SELECT first_seq, last_seq, term, payload, checksum FROM ha_input_log
			WHERE group_id = ?1 AND app = ?2 AND last_seq > ?3 ORDER BY first_seq`,
	}
	for _, p := range []*string{&q.insertChunk, &q.insertChunked, &q.upsertLog} {
		*p = r.Replace(*p)
	}
	return q
}()

func (d *DB) cq() *chunkQueries {
	if d.dialect == schema.Postgres {
		return pgChunkQueries
	}
	return sqliteChunkQueries
}

func newUploadID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// saveChunked writes s's payload as chunks, each insert its own short transaction, then commits
// the revision with one small transaction that checks the fence, checks that every chunk is
// there, inserts the ha_snapshot row naming the upload and trims. Until that commit the
// previous revision stays the newest: a writer that dies or is fenced mid-way leaves only
// orphan chunks, which the next successful write deletes.
func (d *DB) saveChunked(ctx context.Context, s Snapshot, keep int) (rev int64, err error) {
	q := d.cq()
	upload := newUploadID()
	size := d.chunkLimit()
	n := 0
	defer func() {
		if err != nil {
			// Best effort: the next successful write deletes what is left.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			d.deleteChunks(cctx, q.deleteUpload, s.Group, s.App, upload)
			cancel()
		}
	}()
	burst := time.Now()
	for off := 0; off < len(s.Payload); off += size {
		end := min(off+size, len(s.Payload))
		if _, err := d.db.ExecContext(ctx, q.insertChunk, s.Group, s.App, upload, n, s.Payload[off:end]); err != nil {
			return 0, fmt.Errorf("save snapshot %s/%s: chunk %d: %w", s.Group, s.App, n, err)
		}
		n++
		if d.afterChunk != nil {
			d.afterChunk(n)
		}
		if d.dialect == schema.SQLite && time.Since(burst) >= sqliteWriteBurst {
			// SQLite has one writer at a time, and a writer waiting for it polls (its busy
			// handler sleeps up to 100 ms between tries): leave the lock free longer than that
			// after each burst, so the lease renewal and heartbeats (another connection, or the
			// other node) always get in between chunks.
			select {
			case <-ctx.Done():
				return 0, fmt.Errorf("save snapshot %s/%s: %w", s.Group, s.App, ctx.Err())
			case <-time.After(sqliteYield):
			}
			burst = time.Now()
		}
	}
	check := func(tx *sql.Tx) error {
		var have, bytes int64
		if err := tx.QueryRowContext(ctx, q.countChunks, s.Group, s.App, upload).Scan(&have, &bytes); err != nil {
			return fmt.Errorf("save snapshot %s/%s: count chunks: %w", s.Group, s.App, err)
		}
		if have != int64(n) || bytes != int64(len(s.Payload)) {
			return fmt.Errorf("save snapshot %s/%s: %d of %d chunks (%d of %d bytes) stored: deleted by a concurrent writer", s.Group, s.App, have, n, bytes, len(s.Payload))
		}
		return nil
	}
	return d.saveTx(ctx, s, keep, check, func(tx *sql.Tx, rev int64) error {
		_, err := tx.ExecContext(ctx, q.insertChunked, s.Group, s.App, rev, s.Term, int64(s.LastSeq), int64(len(s.Payload)), Checksum(s.Payload), upload, n, s.Base)
		return err
	})
}

// fenceTx checks (and raises) the fence inside a snapshot's commit transaction.
func (d *DB) fenceTx(ctx context.Context, tx *sql.Tx, s Snapshot) error {
	var got int64
	err := tx.QueryRowContext(ctx, d.q.fence, s.Group, s.Term).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("save snapshot %s/%s at term %d: %w", s.Group, s.App, s.Term, cluster.ErrFenced)
	}
	if err != nil {
		return fmt.Errorf("save snapshot %s/%s: fence: %w", s.Group, s.App, err)
	}
	if d.afterFence != nil {
		d.afterFence()
	}
	return nil
}

// cleanupAfterSave deletes the chunks no revision names any more and the input log rows every
// kept revision covers, in short transactions. Failures are left for the next save.
func (d *DB) cleanupAfterSave(ctx context.Context, group, app string) {
	q := d.cq()
	d.deleteChunks(ctx, q.deleteOrphans, group, app, "")
	_, _ = d.db.ExecContext(ctx, q.trimLog, group, app)
}

// deleteChunks runs a batched chunk delete until it deletes less than a batch.
func (d *DB) deleteChunks(ctx context.Context, stmt, group, app, upload string) {
	for ctx.Err() == nil {
		res, err := d.db.ExecContext(ctx, stmt, group, app, upload, chunkDeleteBatch)
		if err != nil {
			return
		}
		if k, err := res.RowsAffected(); err != nil || k < chunkDeleteBatch {
			return
		}
	}
}

// readChunks fills s.Payload from the chunks of upload; ok is false when one is missing (the
// revision was trimmed meanwhile). One short query per chunk: no statement runs long.
func (d *DB) readChunks(ctx context.Context, s *Snapshot, upload string, chunks int64, size int64) (bool, error) {
	q := d.cq()
	buf := make([]byte, 0, size)
	for i := int64(0); i < chunks; i++ {
		var data []byte
		err := d.db.QueryRowContext(ctx, q.readChunk, s.Group, s.App, upload, i).Scan(&data)
		if errors.Is(err, sql.ErrNoRows) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("read snapshot %s/%s revision %d: chunk %d: %w", s.Group, s.App, s.Revision, i, err)
		}
		buf = append(buf, data...)
	}
	s.Payload = buf
	return true, nil
}
