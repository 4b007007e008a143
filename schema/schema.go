// Package schema holds the versioned DDL of the cluster and persistence databases, for PostgreSQL
// and SQLite, and applies it idempotently. Nodes apply it at start; `node migrate` on demand.
package schema

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// Dialect names a SQL dialect; it is also the directory holding that dialect's migrations.
type Dialect string

// The supported dialects.
const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// Migration is one numbered DDL file.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations lists a dialect's migrations in version order.
func Migrations(d Dialect) ([]Migration, error) {
	entries, err := fs.ReadDir(files, string(d))
	if err != nil {
		return nil, fmt.Errorf("schema: unknown dialect %q: %w", d, err)
	}
	var out []Migration
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("schema: migration %s/%s: name must start with a number and '_'", d, name)
		}
		b, err := files.ReadFile(path.Join(string(d), name))
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: name, SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i := 1; i < len(out); i++ {
		if out[i].Version == out[i-1].Version {
			// Two branches that each added "the next" migration: one would never be applied.
			return nil, fmt.Errorf("schema: migrations %s/%s and %s/%s share version %d", d, out[i-1].Name, d, out[i].Name, out[i].Version)
		}
	}
	return out, nil
}

// Latest is the newest schema version for d.
func Latest(d Dialect) int {
	ms, _ := Migrations(d)
	if len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].Version
}

// Apply brings db up to the newest version and returns the versions it applied. It is safe to run
// from several nodes at once: PostgreSQL serialises on an advisory lock, SQLite on its write lock
// (the store opens SQLite with immediate transactions).
func Apply(ctx context.Context, db *sql.DB, d Dialect) ([]int, error) {
	ms, err := Migrations(d)
	if err != nil {
		return nil, err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("schema: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	if d == Postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7368246501)`); err != nil {
			return nil, fmt.Errorf("schema: lock: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS ha_schema_version (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TEXT NOT NULL)`); err != nil {
		return nil, fmt.Errorf("schema: version table: %w", err)
	}
	current := 0
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM ha_schema_version`).Scan(&current); err != nil {
		return nil, fmt.Errorf("schema: read version: %w", err)
	}
	if latest := ms[len(ms)-1].Version; current > latest {
		return nil, fmt.Errorf("schema: database is at version %d, newer than this binary's %d: upgrade the node", current, latest)
	}
	var applied []int
	for _, m := range ms {
		if m.Version <= current {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return nil, fmt.Errorf("schema: apply %s: %w", m.Name, err)
		}
		now := `CURRENT_TIMESTAMP`
		q := `INSERT INTO ha_schema_version (version, name, applied_at) VALUES ($1, $2, ` + now + `)`
		if d == SQLite {
			q = `INSERT INTO ha_schema_version (version, name, applied_at) VALUES (?, ?, ` + now + `)`
		}
		if _, err := tx.ExecContext(ctx, q, m.Version, m.Name); err != nil {
			return nil, fmt.Errorf("schema: record %s: %w", m.Name, err)
		}
		applied = append(applied, m.Version)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("schema: commit: %w", err)
	}
	return applied, nil
}
