package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/streamha/streamha/node/cluster"
	"github.com/streamha/streamha/schema"
)

// The kinds of error store rows.
const (
	// ErrorSink is an output a sink failed to write under on.error='store'.
	ErrorSink = "sink"
	// ErrorSource is an input record a source received but could not map to an event.
	ErrorSource = "source"
)

// ErrorRecord is one row of the error store (ha_error in the persistence database): what failed,
// where, why and when. Sinks and sources both write them, under the active's term.
type ErrorRecord struct {
	ID     int64  // assigned by the store; replay and purge name rows by it
	Kind   string // ErrorSink or ErrorSource
	App    string
	Stream string
	// Endpoint is the sink ("<stream>:<type>") or the source (its type or name) that failed.
	Endpoint string
	// Ref identifies what failed: the output id for a sink, the input's reference for a source
	// (e.g. "topic/partition/offset"). Storing the same (app, kind, endpoint, ref) again updates
	// the row (error, time, term) and counts an attempt: no duplicates.
	Ref string
	// Payload is the output as the sink was given it (JSON) or the source's raw record.
	Payload []byte
	// Data is what a replay needs besides Payload (sink rows: the output in the node's snapshot
	// encoding); opaque to the store, nil for source rows.
	Data      []byte
	Error     string
	ErrorKind string // sink.Kind of the error (enospc, http_4xx, …) or a source's own kind
	Term      int64  // the writing active's term (set by SaveErrors)
	Time      time.Time
	Attempts  int // how often it was stored (failed again after a failover or replay)
}

// ErrorFilter selects error store rows; zero fields select everything.
type ErrorFilter struct {
	App    string
	Kind   string
	IDs    []int64
	Before time.Time // rows stored before this time
	// AfterID selects rows with a larger id, to page through them.
	AfterID int64
	Limit   int // at most this many rows (0: no limit), oldest first
}

// ErrNoErrorStore reports a database whose schema has no error store yet (not migrated).
var ErrNoErrorStore = errors.New("the error store table ha_error does not exist (run node migrate)")

// SaveErrors stores recs under term in one transaction that first checks (and raises) the
// group's fence, like SaveSnapshot: a deposed active's write fails with cluster.ErrFenced and
// stores nothing. When it returns nil every record is durable.
func (d *DB) SaveErrors(ctx context.Context, group string, term int64, recs []ErrorRecord) error {
	if len(recs) == 0 {
		return nil
	}
	for _, r := range recs {
		if r.Kind != ErrorSink && r.Kind != ErrorSource {
			return fmt.Errorf("save errors: record %q has kind %q (want %s or %s)", r.Ref, r.Kind, ErrorSink, ErrorSource)
		}
		if r.App == "" || r.Ref == "" {
			return fmt.Errorf("save errors: a record needs an app and a ref (got app %q, ref %q)", r.App, r.Ref)
		}
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("save %d errors: begin: %w", len(recs), err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	var got int64
	err = tx.QueryRowContext(ctx, d.q.fence, group, term).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("save errors of %s at term %d: %w", group, term, cluster.ErrFenced)
	}
	if err != nil {
		return fmt.Errorf("save errors of %s: fence: %w", group, err)
	}
	st, err := tx.PrepareContext(ctx, d.errQ().insert)
	if err != nil {
		return fmt.Errorf("save errors of %s: %w", group, d.noTable(err))
	}
	defer st.Close()
	for _, r := range recs {
		payload := r.Payload
		if payload == nil {
			payload = []byte{}
		}
		if _, err := st.ExecContext(ctx, group, r.App, r.Kind, r.Stream, r.Endpoint, r.Ref, payload, r.Data,
			r.Error, r.ErrorKind, term); err != nil {
			return fmt.Errorf("save error %s/%s %s: %w", group, r.App, r.Ref, d.noTable(err))
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("save %d errors of %s: commit: %w", len(recs), group, err)
	}
	return nil
}

// ListErrors returns the rows f selects, oldest first, with payloads.
func (d *DB) ListErrors(ctx context.Context, group string, f ErrorFilter) ([]ErrorRecord, error) {
	where, args := d.errWhere(group, f)
	q := `SELECT id, app, kind, stream, endpoint, ref, payload, data, error, error_kind, term, ` + d.errQ().created +
		`, attempts FROM ha_error WHERE ` + where + ` ORDER BY id`
	if f.Limit > 0 {
		q += ` LIMIT ` + strconv.Itoa(f.Limit)
	}
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list errors of %s: %w", group, d.noTable(err))
	}
	defer rows.Close()
	var out []ErrorRecord
	for rows.Next() {
		var r ErrorRecord
		var ms int64
		if err := rows.Scan(&r.ID, &r.App, &r.Kind, &r.Stream, &r.Endpoint, &r.Ref, &r.Payload, &r.Data,
			&r.Error, &r.ErrorKind, &r.Term, &ms, &r.Attempts); err != nil {
			return nil, fmt.Errorf("list errors of %s: %w", group, err)
		}
		r.Time = time.UnixMilli(ms)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list errors of %s: %w", group, err)
	}
	return out, nil
}

// DeleteErrors removes the rows ids (replayed, or purged by an operator) and returns how many
// existed.
func (d *DB) DeleteErrors(ctx context.Context, group string, ids []int64) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	return d.PurgeErrors(ctx, group, ErrorFilter{IDs: ids})
}

// PurgeErrors removes every row f selects (Limit is ignored) and returns how many.
func (d *DB) PurgeErrors(ctx context.Context, group string, f ErrorFilter) (int64, error) {
	where, args := d.errWhere(group, f)
	res, err := d.db.ExecContext(ctx, `DELETE FROM ha_error WHERE `+where, args...)
	if err != nil {
		return 0, fmt.Errorf("purge errors of %s: %w", group, d.noTable(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("purge errors of %s: %w", group, err)
	}
	return n, nil
}

// errWhere builds the WHERE clause of f in d's placeholder syntax.
func (d *DB) errWhere(group string, f ErrorFilter) (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		ph := "?" + strconv.Itoa(len(args))
		if d.dialect == schema.Postgres {
			ph = "$" + strconv.Itoa(len(args))
		}
		conds = append(conds, strings.ReplaceAll(cond, "?", ph))
	}
	add("group_id = ?", group)
	if f.App != "" {
		add("app = ?", f.App)
	}
	if f.Kind != "" {
		add("kind = ?", f.Kind)
	}
	if !f.Before.IsZero() {
		if d.dialect == schema.Postgres {
			add("created_at < to_timestamp(?::bigint / 1000.0)", f.Before.UnixMilli())
		} else {
			add("created_at < ?", f.Before.UnixMilli())
		}
	}
	if f.AfterID > 0 {
		add("id > ?", f.AfterID)
	}
	if f.IDs != nil {
		if len(f.IDs) == 0 {
			conds = append(conds, "1 = 0")
		}
		var in []string
		for _, id := range f.IDs {
			in = append(in, strconv.FormatInt(id, 10)) // integers: no injection
		}
		if len(in) > 0 {
			conds = append(conds, "id IN ("+strings.Join(in, ",")+")")
		}
	}
	return strings.Join(conds, " AND "), args
}

// noTable turns "no such table" into ErrNoErrorStore, so a database not migrated says so.
func (d *DB) noTable(err error) error {
	s := err.Error()
	if strings.Contains(s, "ha_error") && (strings.Contains(s, "no such table") || strings.Contains(s, "does not exist")) {
		return fmt.Errorf("%w: %v", ErrNoErrorStore, err)
	}
	return err
}

type errQueries struct{ insert, created string }

func (d *DB) errQ() errQueries {
	if d.dialect == schema.Postgres {
		return errQueries{
			insert: `INSERT INTO ha_error AS e (group_id, app, kind, stream, endpoint, ref, payload, data, error, error_kind, term, created_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, now())
				ON CONFLICT (group_id, app, kind, endpoint, ref) DO UPDATE
				SET stream = EXCLUDED.stream, payload = EXCLUDED.payload, data = EXCLUDED.data, error = EXCLUDED.error,
				    error_kind = EXCLUDED.error_kind, term = EXCLUDED.term, created_at = now(), attempts = e.attempts + 1`,
			created: `(extract(epoch from created_at) * 1000)::bigint`,
		}
	}
	return errQueries{
		insert: `INSERT INTO ha_error (group_id, app, kind, stream, endpoint, ref, payload, data, error, error_kind, term, created_at)
			VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ` + sqliteNow + `)
			ON CONFLICT (group_id, app, kind, endpoint, ref) DO UPDATE
			SET stream = excluded.stream, payload = excluded.payload, data = excluded.data, error = excluded.error,
			    error_kind = excluded.error_kind, term = excluded.term, created_at = excluded.created_at,
			    attempts = ha_error.attempts + 1`,
		created: `created_at`,
	}
}

// ErrorView is an error store row as GET /ha/errors and `node errors list --json` show it: the
// payload as JSON when it is JSON, else as a string; the replay data left out.
type ErrorView struct {
	ID        int64           `json:"id"`
	Kind      string          `json:"kind"`
	App       string          `json:"app"`
	Stream    string          `json:"stream,omitempty"`
	Endpoint  string          `json:"endpoint,omitempty"`
	Ref       string          `json:"ref"`
	Payload   json.RawMessage `json:"payload"`
	Error     string          `json:"error"`
	ErrorKind string          `json:"error_kind,omitempty"`
	Term      int64           `json:"term"`
	Time      time.Time       `json:"time"`
	Attempts  int             `json:"attempts"`
}

// View is r as ErrorView.
func (r ErrorRecord) View() ErrorView {
	p := json.RawMessage(r.Payload)
	if !json.Valid(p) {
		p, _ = json.Marshal(string(r.Payload))
	}
	return ErrorView{ID: r.ID, Kind: r.Kind, App: r.App, Stream: r.Stream, Endpoint: r.Endpoint, Ref: r.Ref, Payload: p,
		Error: r.Error, ErrorKind: r.ErrorKind, Term: r.Term, Time: r.Time.UTC(), Attempts: r.Attempts}
}
