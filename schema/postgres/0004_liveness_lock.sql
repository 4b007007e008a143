-- streamha schema v4 for PostgreSQL: crash detection bound to the active's database session.
-- Additive only: nodes of the previous version ignore both columns and keep working (they never
-- take the lease after a crash, they wait for its expiry).

-- lock_session: backend pid of the session that holds the group's liveness lock (a session-level
-- advisory lock the active keeps on a dedicated connection), as last recorded by a lease holder.
-- A node that took the lease by expiry terminates that backend when it still holds the lock (a
-- session lingering on the server after its client was partitioned). lock_term: the term under
-- which the holder recorded it holds the lock; a passive that gets the lock may take over an
-- unexpired lease only at that term (its holder's session is gone, so its process or link died).
ALTER TABLE ha_lease ADD COLUMN IF NOT EXISTS lock_session bigint;
ALTER TABLE ha_lease ADD COLUMN IF NOT EXISTS lock_term    bigint;
