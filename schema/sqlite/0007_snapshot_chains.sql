-- streamha schema v7 for SQLite: incremental snapshots (base and delta revisions); see the
-- PostgreSQL file for the meaning of the column. Additive only.
ALTER TABLE ha_snapshot ADD COLUMN base_revision INTEGER;
