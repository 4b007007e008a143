-- streamha schema v6 for PostgreSQL: chunked snapshots and the input log. Additive only: nodes of
-- the previous version keep working against it for snapshots they write themselves (inline, as
-- before); they cannot read a chunked revision (its payload column is empty, so it fails its
-- checksum and is never restored silently): upgrade both nodes of a group together.

-- A snapshot larger than one chunk is written as ha_snapshot_chunk rows first, each in its own
-- short transaction, then made visible by its ha_snapshot row (the commit row), which names the
-- upload and the number of chunks; payload is then empty and checksum covers the whole payload.
-- upload_id NULL: the payload is inline (small snapshots, and rows of older nodes).
ALTER TABLE ha_snapshot ADD COLUMN IF NOT EXISTS upload_id text;
ALTER TABLE ha_snapshot ADD COLUMN IF NOT EXISTS chunks    integer;

-- Chunk n (from 0) of an upload. Chunks of an upload no ha_snapshot row names (a writer that
-- died or was fenced mid-write, or a trimmed revision) are deleted by the next successful write.
CREATE TABLE IF NOT EXISTS ha_snapshot_chunk (
    group_id   text        NOT NULL,
    app        text        NOT NULL,
    upload_id  text        NOT NULL,
    n          integer     NOT NULL,
    data       bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, app, upload_id, n)
);

-- The input log: inputs an active acknowledged alone (no passive holding them), appended in seq
-- ranges under the fence so an acknowledgement costs one append instead of a whole snapshot.
-- payload is the node's encoding of inputs first_seq..last_seq; checksum is CRC-32C over it.
-- A promotion replays the newest snapshot plus the rows after it. Rows at or below the oldest
-- kept revision's last_seq are trimmed when a snapshot commits.
CREATE TABLE IF NOT EXISTS ha_input_log (
    group_id   text        NOT NULL,
    app        text        NOT NULL,
    first_seq  bigint      NOT NULL,
    last_seq   bigint      NOT NULL,
    term       bigint      NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    payload    bytea       NOT NULL,
    checksum   text        NOT NULL,
    PRIMARY KEY (group_id, app, first_seq)
);
