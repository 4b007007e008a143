-- streamha schema v2 for PostgreSQL: snapshot checksums, quarantine and the operator's accept-loss
-- marker. Additive only: nodes of the previous version keep working against it (they write no
-- checksum, which reads as "unverified", and do not know about quarantine).

-- checksum: "crc32c:<8 hex digits>" over payload, written with the row; NULL on rows written by an
-- older node. quarantined_at: set by `node snapshot quarantine`; such a revision is never restored
-- nor trimmed, and `node snapshot unquarantine` makes it usable again.
ALTER TABLE ha_snapshot ADD COLUMN IF NOT EXISTS checksum          text;
ALTER TABLE ha_snapshot ADD COLUMN IF NOT EXISTS quarantined_at    timestamptz;
ALTER TABLE ha_snapshot ADD COLUMN IF NOT EXISTS quarantine_reason text;

-- One row per app an operator allowed to be restored with a gap (`node snapshot accept-loss`):
-- the next successful promotion consumes it.
CREATE TABLE IF NOT EXISTS ha_accept_loss (
    group_id     text        NOT NULL,
    app          text        NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT now(),
    reason       text        NOT NULL DEFAULT '',
    PRIMARY KEY (group_id, app)
);
