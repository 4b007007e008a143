-- streamha schema v4 for SQLite: the error store; see the PostgreSQL file for the meaning of
-- each column. Additive only.

CREATE TABLE IF NOT EXISTS ha_error (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id   TEXT    NOT NULL,
    app        TEXT    NOT NULL,
    kind       TEXT    NOT NULL CHECK (kind IN ('sink', 'source')),
    stream     TEXT    NOT NULL DEFAULT '',
    endpoint   TEXT    NOT NULL DEFAULT '',
    ref        TEXT    NOT NULL,
    payload    BLOB    NOT NULL,
    data       BLOB,
    error      TEXT    NOT NULL DEFAULT '',
    error_kind TEXT    NOT NULL DEFAULT '',
    term       INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 1
);

CREATE UNIQUE INDEX IF NOT EXISTS ha_error_ref ON ha_error (group_id, app, kind, endpoint, ref);
CREATE INDEX IF NOT EXISTS ha_error_created ON ha_error (group_id, created_at);
