-- streamha schema v4 for PostgreSQL: the error store (persistence database). Additive only: nodes
-- of the previous version ignore the table.
--
-- One row per output a sink failed to write under @sink(..., on.error='store') (kind 'sink'), or
-- per input record a source could not map (kind 'source'). The active writes a row in a
-- transaction that first checks the group's fence (ha_fence), as snapshots do, so a deposed
-- active cannot add rows; `node errors replay` (POST /ha/errors/replay) sends the outputs again
-- through the active's own sink and deletes each row once its sink accepted it; `node errors
-- purge` deletes rows an operator gave up on.
--   endpoint  the sink ("<stream>:<type>") or source that failed
--   ref       the output id (sink rows) or a source's input reference (e.g. topic/partition/offset)
--   payload   the output as the sink was given it (JSON), or the raw source record
--   data      sink rows: the output in the node's snapshot encoding, to replay it; NULL otherwise
--   error, error_kind  the failure and its kind (enospc, http_4xx, connection, …)
--   term      the writing active's term
CREATE TABLE IF NOT EXISTS ha_error (
    id         bigserial   PRIMARY KEY,
    group_id   text        NOT NULL,
    app        text        NOT NULL,
    kind       text        NOT NULL CHECK (kind IN ('sink', 'source')),
    stream     text        NOT NULL DEFAULT '',
    endpoint   text        NOT NULL DEFAULT '',
    ref        text        NOT NULL,
    payload    bytea       NOT NULL,
    data       bytea,
    error      text        NOT NULL DEFAULT '',
    error_kind text        NOT NULL DEFAULT '',
    term       bigint      NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    attempts   integer     NOT NULL DEFAULT 1
);

-- A failed output stored twice (the last unreported write of a killed active, failing again on
-- the new one) is one row.
CREATE UNIQUE INDEX IF NOT EXISTS ha_error_ref ON ha_error (group_id, app, kind, endpoint, ref);
CREATE INDEX IF NOT EXISTS ha_error_created ON ha_error (group_id, created_at);
