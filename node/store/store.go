// Package store implements the cluster and persistence databases over database/sql, for PostgreSQL
// (through pgx) and for SQLite (modernc.org/sqlite, the embedded default). Each operation is one
// statement or one short transaction whose time checks use the database's clock.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/streamha/streamha/schema"
)

// DB is an open cluster or persistence database.
type DB struct {
	db      *sql.DB
	dialect schema.Dialect
	q       *queries
	display string
	// pgcfg is the parsed PostgreSQL URL, for the liveness lock's dedicated connection;
	// lockPath the SQLite liveness lock file beside the database. One of them is set.
	pgcfg    *pgx.ConnConfig
	lockPath string
	// afterFence, when set (tests only), runs inside SaveSnapshot's transaction right after its
	// fence statement: the point where a frozen writer holds the fence row's lock.
	afterFence func()
	// histKeep and histRows bound the term history (SetHistoryRetention).
	histKeep time.Duration
	histRows int
	// chunkSize is the largest snapshot stored inline and the size of each chunk of a larger
	// one (SetChunkSize; DefaultChunkSize when 0). afterChunk, when set (tests only), runs after
	// each chunk's transaction commits.
	chunkSize  int
	afterChunk func(n int)
}

// ErrBadURL reports a database URL that is neither sqlite:// nor postgres://.
var ErrBadURL = errors.New("database URL must start with sqlite:// or postgres://")

// Open connects to rawURL: `sqlite://PATH` (relative or absolute path; the file is created) or
// `postgres://user:pass@host:port/db?…`. It does not contact the server; Ping does.
func Open(rawURL string) (*DB, error) {
	switch {
	case strings.HasPrefix(rawURL, "sqlite://"):
		p := strings.TrimPrefix(rawURL, "sqlite://")
		p, _, _ = strings.Cut(p, "?")
		if p == "" {
			return nil, fmt.Errorf("open %q: empty sqlite path", rawURL)
		}
		if dir := filepath.Dir(p); dir != "." {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, fmt.Errorf("open %q: %w", rawURL, err)
			}
		}
		dsn := "file:" + p + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
		db, err := sql.Open("sqlite", dsn)
		if err != nil {
			return nil, fmt.Errorf("open %q: %w", rawURL, err)
		}
		db.SetMaxOpenConns(4)
		return &DB{db: db, dialect: schema.SQLite, q: sqliteQueries, display: rawURL, lockPath: p + lockFileSuffix}, nil
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		u, err := url.Parse(rawURL)
		if err != nil {
			return nil, fmt.Errorf("open database: %w", err)
		}
		cfg, err := pgx.ParseConfig(rawURL)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", u.Redacted(), err)
		}
		// A node frozen (SIGSTOP, VM stall) or cut off inside a transaction must not hold its
		// row locks: the server ends such a session, so a promoting node's fence is not stuck
		// behind it. Every transaction of ours is a few statements sent back to back. The URL
		// can override both settings.
		for k, v := range map[string]string{"idle_in_transaction_session_timeout": "1000", "application_name": "streamha"} {
			if _, set := cfg.RuntimeParams[k]; !set {
				cfg.RuntimeParams[k] = v
			}
		}
		db := stdlib.OpenDB(*cfg)
		db.SetMaxOpenConns(8)
		db.SetConnMaxIdleTime(time.Minute)
		return &DB{db: db, dialect: schema.Postgres, q: pgQueries, display: u.Redacted(), pgcfg: cfg.Copy()}, nil
	default:
		return nil, fmt.Errorf("open %q: %w", redact(rawURL), ErrBadURL)
	}
}

func redact(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return s
}

// String is the URL with any password removed, for logs.
func (d *DB) String() string { return d.display }

// Dialect tells which SQL dialect the database speaks.
func (d *DB) Dialect() schema.Dialect { return d.dialect }

// SQL exposes the pool for tools and tests.
func (d *DB) SQL() *sql.DB { return d.db }

// Ping checks that the database answers.
func (d *DB) Ping(ctx context.Context) error {
	if err := d.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping %s: %w", d.display, err)
	}
	return nil
}

// Migrate applies the schema; it returns the versions it applied (none when up to date).
func (d *DB) Migrate(ctx context.Context) ([]int, error) {
	v, err := schema.Apply(ctx, d.db, d.dialect)
	if err != nil {
		return nil, fmt.Errorf("migrate %s: %w", d.display, err)
	}
	return v, nil
}

// Close releases the pool.
func (d *DB) Close() error { return d.db.Close() }
