-- streamha schema v2 for SQLite: snapshot checksums, quarantine and the operator's accept-loss
-- marker; see the PostgreSQL file for the meaning of each column. Additive only.

ALTER TABLE ha_snapshot ADD COLUMN checksum          TEXT;
ALTER TABLE ha_snapshot ADD COLUMN quarantined_at    INTEGER;
ALTER TABLE ha_snapshot ADD COLUMN quarantine_reason TEXT;

CREATE TABLE IF NOT EXISTS ha_accept_loss (
    group_id     TEXT    NOT NULL,
    app          TEXT    NOT NULL,
    requested_at INTEGER NOT NULL,
    reason       TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (group_id, app)
);
