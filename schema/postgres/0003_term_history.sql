-- streamha schema v3 for PostgreSQL: the history of lease terms. Additive only: nodes of the
-- previous version keep working against it (they write no history rows, and the new ha_lease
-- columns stay NULL until a new node takes or gives up the lease).

-- Why the current holder has the lease and who had it before (written with each acquisition),
-- and who gave it up last and why (written with each release, cleared by the next acquisition).
-- The acquisition statement reads them to write its history row, so the row and the lease
-- change are one statement.
ALTER TABLE ha_lease ADD COLUMN IF NOT EXISTS prev_holder    text;
ALTER TABLE ha_lease ADD COLUMN IF NOT EXISTS acquire_reason text;
ALTER TABLE ha_lease ADD COLUMN IF NOT EXISTS released_by    text;
ALTER TABLE ha_lease ADD COLUMN IF NOT EXISTS release_reason text;

-- One row per lease acquisition or release, written in the same statement as the lease change;
-- `at` is the database's clock. event 'acquire': holder took term, prev_holder had the term
-- before, reason is first_election, expiry_takeover, crash_takeover (reserved), or the release
-- reason that freed the lease (switchover, demotion, shutdown; released when unknown). event
-- 'release': holder gave term up for reason switchover, demotion or shutdown. Trimmed by the
-- nodes to history_retention and history_max_rows per group.
CREATE TABLE IF NOT EXISTS ha_lease_history (
    id          bigserial   PRIMARY KEY,
    group_id    text        NOT NULL,
    term        bigint      NOT NULL,
    event       text        NOT NULL CHECK (event IN ('acquire', 'release')),
    holder      text        NOT NULL,
    prev_holder text,
    reason      text        NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS ha_lease_history_group_at ON ha_lease_history (group_id, at);
