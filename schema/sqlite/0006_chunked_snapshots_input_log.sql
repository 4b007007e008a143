-- streamha schema v6 for SQLite: chunked snapshots and the input log; see the PostgreSQL file for
-- the meaning of each column. Additive only.

ALTER TABLE ha_snapshot ADD COLUMN upload_id TEXT;
ALTER TABLE ha_snapshot ADD COLUMN chunks    INTEGER;

CREATE TABLE IF NOT EXISTS ha_snapshot_chunk (
    group_id   TEXT    NOT NULL,
    app        TEXT    NOT NULL,
    upload_id  TEXT    NOT NULL,
    n          INTEGER NOT NULL,
    data       BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (group_id, app, upload_id, n)
);

CREATE TABLE IF NOT EXISTS ha_input_log (
    group_id   TEXT    NOT NULL,
    app        TEXT    NOT NULL,
    first_seq  INTEGER NOT NULL,
    last_seq   INTEGER NOT NULL,
    term       INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    payload    BLOB    NOT NULL,
    checksum   TEXT    NOT NULL,
    PRIMARY KEY (group_id, app, first_seq)
);
