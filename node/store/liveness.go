package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"

	"github.com/streamha/streamha/node/cluster"
	"github.com/streamha/streamha/schema"
)

// lockFileSuffix begins the names of the SQLite liveness lock files, one per group, beside the
// database and never one of SQLite's own files (-wal, -shm, -journal).
const lockFileSuffix = "-streamha"

// lockFile is the group's lock file: its name keeps the group's plain characters, for operators,
// and a hash of the whole name, so two groups never share one.
func lockFile(prefix, group string) string {
	plain := strings.Map(func(r rune) rune {
		if r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_') {
			return r
		}
		return -1
	}, group)
	if len(plain) > 40 {
		plain = plain[:40]
	}
	return fmt.Sprintf("%s-%s-%08x.lock", prefix, plain, crc32.ChecksumIEEE([]byte(group)))
}

// livenessClass is the first key of the two-int advisory lock; the second is
// hashtext('streamha:' || group). Schema migrations use a one-bigint key, which never collides.
const livenessClass = 1936224353

var _ cluster.CrashDetector = (*DB)(nil)

// LivenessLock returns this node's handle on the group's liveness lock: on PostgreSQL a
// session-level advisory lock on a connection of its own, on SQLite an flock on a file beside
// the database.
func (d *DB) LivenessLock(group string) (cluster.LivenessLock, error) {
	switch {
	case d.pgcfg != nil:
		return &pgLock{cfg: d.pgcfg, group: group}, nil
	case d.lockPath != "":
		return &fileLock{path: lockFile(d.lockPath, group)}, nil
	}
	return nil, fmt.Errorf("liveness lock of %s: %s has no lock", group, d.display)
}

// AcquireAfterCrash takes over a lease whose holder's liveness lock the caller holds, only while
// the lease is still at term seen and its holder recorded the lock under it.
func (d *DB) AcquireAfterCrash(ctx context.Context, group, nodeID string, seen int64, lease time.Duration, session int64) (cluster.Lease, bool, error) {
	keep, rows := d.historyLimits()
	var term, remMS int64
	var err error
	if d.dialect == schema.Postgres {
		err = d.db.QueryRowContext(ctx, d.q.acquireAfterCrash, group, nodeID, seen, lease.Milliseconds(), session,
			keep.Milliseconds(), rows).Scan(&term, &remMS)
	} else {
		term, remMS, err = d.acquireAfterCrashSQLite(ctx, group, nodeID, seen, lease, session, keep, rows)
	}
	switch {
	case err == nil:
		return cluster.Lease{Group: group, Holder: nodeID, Term: term, Remaining: time.Duration(remMS) * time.Millisecond}, true, nil
	case errors.Is(err, sql.ErrNoRows):
		l, err := d.Leader(ctx, group)
		return l, false, err
	default:
		return cluster.Lease{}, false, fmt.Errorf("take over lease of %s after term %d: %w", group, seen, err)
	}
}

// acquireAfterCrashSQLite is AcquireAfterCrash with its history row in the same transaction
// (SQLite has no data-modifying CTEs).
func (d *DB) acquireAfterCrashSQLite(ctx context.Context, group, nodeID string, seen int64, lease time.Duration, session int64, keep time.Duration, rows int) (term, remMS int64, err error) {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	var prev, reason string
	var at int64
	if err := tx.QueryRowContext(ctx, d.q.acquireAfterCrash, group, nodeID, seen, lease.Milliseconds(), session).Scan(&term, &remMS, &prev, &reason, &at); err != nil {
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

// RecordLock records in the lease row that nodeID, holding it at term, holds the liveness lock.
func (d *DB) RecordLock(ctx context.Context, group, nodeID string, term, session int64) error {
	res, err := d.db.ExecContext(ctx, d.q.recordLock, group, nodeID, term, session)
	if err != nil {
		return fmt.Errorf("record liveness lock of %s at term %d: %w", group, term, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("record liveness lock of %s at term %d: %w", group, term, cluster.ErrLeaseLost)
	}
	return nil
}

// BreakLock terminates the recorded lock session when it still holds the lock (PostgreSQL only;
// the caller's role must be the same as the old holder's, or have pg_signal_backend).
func (d *DB) BreakLock(ctx context.Context, group, nodeID string, term int64) (bool, error) {
	if d.q.breakLock == "" {
		return false, nil
	}
	rows, err := d.db.QueryContext(ctx, d.q.breakLock, group, nodeID, term, livenessClass)
	if err != nil {
		return false, fmt.Errorf("end the lingering lock session of %s: %w", group, err)
	}
	defer rows.Close()
	ended := false
	for rows.Next() {
		var ok bool
		if err := rows.Scan(&ok); err != nil {
			return false, fmt.Errorf("end the lingering lock session of %s: %w", group, err)
		}
		ended = ended || ok
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("end the lingering lock session of %s: %w", group, err)
	}
	return ended, nil
}

// pgLock is a session-level advisory lock on a dedicated connection. While held, a goroutine
// blocks reading that connection, so a session ended by the server or a cut link is seen at once.
type pgLock struct {
	cfg   *pgx.ConnConfig
	group string

	mu      sync.Mutex
	conn    *pgx.Conn     // kept while not held too: a passive tries on every heartbeat
	pid     int64         // backend pid of conn
	lost    chan struct{} // non-nil while held
	watched chan struct{} // closed when the watcher has returned
}

func (l *pgLock) TryLock(ctx context.Context) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost != nil {
		select {
		case <-l.lost:
			l.dropLocked()
		default:
			return true, nil
		}
	}
	if l.conn == nil {
		c, err := pgx.ConnectConfig(ctx, l.cfg)
		if err != nil {
			return false, fmt.Errorf("liveness lock of %s: connect: %w", l.group, err)
		}
		l.conn = c
	}
	var got bool
	err := l.conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1::int, hashtext('streamha:' || $2::text)), pg_backend_pid()`,
		livenessClass, l.group).Scan(&got, &l.pid)
	if err != nil {
		l.dropLocked()
		return false, fmt.Errorf("liveness lock of %s: %w", l.group, err)
	}
	if !got {
		return false, nil
	}
	lost, watched := make(chan struct{}), make(chan struct{})
	l.lost, l.watched = lost, watched
	pc := l.conn.PgConn()
	go func() {
		defer close(watched)
		// No LISTEN was issued, so this returns only when the connection fails or closes.
		for pc.WaitForNotification(context.Background()) == nil {
		}
		close(lost)
	}()
	return true, nil
}

func (l *pgLock) Lost() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lost
}

func (l *pgLock) Session() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pid
}

// Unlock closes the dedicated connection's socket: the server ends the session and frees the
// lock as soon as the close reaches it. Nothing here can block on a stalled link.
func (l *pgLock) Unlock() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost != nil {
		l.dropLocked()
	}
}

// dropLocked discards the connection: its socket is closed at once, the watcher (if any) then
// returns and the rest is cleaned up in the background.
func (l *pgLock) dropLocked() {
	c, watched := l.conn, l.watched
	l.conn, l.pid, l.lost, l.watched = nil, 0, nil, nil
	if c == nil {
		return
	}
	_ = c.PgConn().Conn().Close()
	go func() {
		if watched != nil {
			<-watched
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = c.Close(ctx)
	}()
}

func (l *pgLock) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dropLocked()
	return nil
}

// fileLock is an exclusive flock on a file beside the SQLite database. flock belongs to the open
// file, so two nodes in one process exclude each other as two processes do, and the kernel
// frees it when the process dies.
type fileLock struct {
	path string

	mu   sync.Mutex
	f    *os.File
	lost chan struct{}
}

func (l *fileLock) TryLock(context.Context) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost != nil {
		return true, nil
	}
	if l.f == nil {
		f, err := os.OpenFile(l.path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return false, fmt.Errorf("liveness lock: %w", err)
		}
		l.f = f
	}
	err := syscall.Flock(int(l.f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	switch {
	case errors.Is(err, syscall.EWOULDBLOCK):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("liveness lock %s: %w", l.path, err)
	}
	l.lost = make(chan struct{})
	return true, nil
}

func (l *fileLock) Lost() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lost
}

// Session is 0: no other process can end this one's hold on the file.
func (l *fileLock) Session() int64 { return 0 }

// Unlock closes the file, which frees the lock.
func (l *fileLock) Unlock() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost == nil {
		return
	}
	l.f.Close()
	l.f = nil
	close(l.lost)
	l.lost = nil
}

func (l *fileLock) Close() error {
	l.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
	return nil
}
