-- streamha schema v3 for SQLite: the history of lease terms; see the PostgreSQL file for the
-- meaning of each column. Additive only.

ALTER TABLE ha_lease ADD COLUMN prev_holder    TEXT;
ALTER TABLE ha_lease ADD COLUMN acquire_reason TEXT;
ALTER TABLE ha_lease ADD COLUMN released_by    TEXT;
ALTER TABLE ha_lease ADD COLUMN release_reason TEXT;

CREATE TABLE IF NOT EXISTS ha_lease_history (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id    TEXT    NOT NULL,
    term        INTEGER NOT NULL,
    event       TEXT    NOT NULL CHECK (event IN ('acquire', 'release')),
    holder      TEXT    NOT NULL,
    prev_holder TEXT,
    reason      TEXT    NOT NULL,
    at          INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ha_lease_history_group_at ON ha_lease_history (group_id, at);
