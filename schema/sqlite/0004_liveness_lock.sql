-- streamha schema v4 for SQLite: crash detection bound to the active's process (an exclusive
-- flock on a file beside the database); see the PostgreSQL file for the meaning of each column.
-- lock_session stays NULL or 0 on SQLite: no session can be ended from another process. Additive.

ALTER TABLE ha_lease ADD COLUMN lock_session INTEGER;
ALTER TABLE ha_lease ADD COLUMN lock_term    INTEGER;
