-- streamha schema v7 for PostgreSQL: incremental snapshots. A revision is a base (the full state,
-- base_revision NULL) or a delta (only what changed since the revision before it, which is the
-- base base_revision or a delta of the same chain). A chain's revisions have consecutive
-- numbers; restoring a delta reads its base and every delta of the chain up to it. Trimming
-- never deletes a base (or delta) that a kept revision needs. Additive only: an older node
-- reads a delta's payload as corrupt (it fails its restore and is never used silently);
-- upgrade both nodes of a group together.
ALTER TABLE ha_snapshot ADD COLUMN IF NOT EXISTS base_revision bigint;
