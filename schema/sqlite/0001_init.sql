-- streamha schema v1 for SQLite (the embedded default). Same tables as the PostgreSQL schema; times
-- are INTEGER milliseconds since the Unix epoch read from SQLite's clock, which is the host's clock
-- shared by every node using the file.

CREATE TABLE IF NOT EXISTS ha_node (
    group_id       TEXT    NOT NULL,
    node_id        TEXT    NOT NULL,
    properties     TEXT    NOT NULL DEFAULT '{}',
    status         TEXT    NOT NULL DEFAULT '{}',
    registered_at  INTEGER NOT NULL,
    last_heartbeat INTEGER NOT NULL,
    PRIMARY KEY (group_id, node_id)
);

CREATE TABLE IF NOT EXISTS ha_lease (
    group_id    TEXT    PRIMARY KEY,
    holder      TEXT,
    term        INTEGER NOT NULL CHECK (term > 0),
    acquired_at INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS ha_fence (
    group_id   TEXT    PRIMARY KEY,
    term       INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS ha_snapshot (
    group_id   TEXT    NOT NULL,
    app        TEXT    NOT NULL,
    revision   INTEGER NOT NULL,
    term       INTEGER NOT NULL,
    last_seq   INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    size_bytes INTEGER NOT NULL,
    payload    BLOB    NOT NULL,
    PRIMARY KEY (group_id, app, revision)
);
