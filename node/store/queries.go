package store

import (
	"strings"

	"github.com/streamha/streamha/node/cluster"
)

// queries holds one dialect's statements. Times are judged by the database's clock: now() on
// PostgreSQL, SQLite's own clock (the shared host clock) in milliseconds on SQLite. Durations are
// passed in and returned as milliseconds.
type queries struct {
	register, heartbeat, deregister, nodes    string
	acquire, renew, release, leader           string
	acquireAfterCrash, recordLock, breakLock  string
	fence, nextRevision, insertSnapshot, trim string
	latestSnapshot, listSnapshots             string
	readSnapshot, snapshotApps                string
	quarantine, unquarantine                  string
	setAcceptLoss, getAcceptLoss, delAccept   string
	// Term history (schema v3). On PostgreSQL acquire and release write their history row (and
	// acquire trims) in the same statement; on SQLite, which has no data-modifying CTEs, they
	// return what the row needs and addHistory and trimHistory follow in the same transaction.
	addHistory, trimHistory, history, historyGroups string
	now                                             string
}

const pgRemaining = `(extract(epoch from (expires_at - now())) * 1000)::bigint`

var pgQueries = &queries{
	register: `INSERT INTO ha_node (group_id, node_id, properties, status, registered_at, last_heartbeat)
		VALUES ($1, $2, $3::jsonb, '{}'::jsonb, now(), now())
		ON CONFLICT (group_id, node_id) DO UPDATE
		SET properties = EXCLUDED.properties, status = '{}'::jsonb, registered_at = now(), last_heartbeat = now()`,
	heartbeat:  `UPDATE ha_node SET last_heartbeat = now(), status = $3::jsonb WHERE group_id = $1 AND node_id = $2`,
	deregister: `DELETE FROM ha_node WHERE group_id = $1 AND node_id = $2`,
	nodes: `SELECT node_id, properties::text, status::text,
		(extract(epoch from (now() - last_heartbeat)) * 1000)::bigint
		FROM ha_node WHERE group_id = $1 ORDER BY node_id`,
	// $4: history retention in ms, $5: rows kept per group. The DELETE sees the table as it was
	// before this statement, so it keeps $5 - 1 old rows besides the new one.
	acquire: `WITH up AS (
		INSERT INTO ha_lease AS l (group_id, holder, term, acquired_at, expires_at, prev_holder, acquire_reason)
		VALUES ($1, $2, 1, now(), now() + $3 * interval '1 millisecond', NULL, '` + cluster.ReasonFirstElection + `')
		ON CONFLICT (group_id) DO UPDATE
		SET holder = EXCLUDED.holder, term = l.term + 1, acquired_at = now(), expires_at = EXCLUDED.expires_at,
		    prev_holder = COALESCE(l.holder, l.released_by),
		    acquire_reason = CASE WHEN l.holder IS NOT NULL THEN '` + cluster.ReasonExpiryTakeover + `'
		                          ELSE COALESCE(l.release_reason, '` + cluster.ReasonReleased + `') END,
		    released_by = NULL, release_reason = NULL
		WHERE l.holder IS NULL OR l.expires_at <= now()
		RETURNING group_id, holder, term, prev_holder, acquire_reason, acquired_at, expires_at
	), hist AS (
		INSERT INTO ha_lease_history (group_id, term, event, holder, prev_holder, reason, at)
		SELECT group_id, term, 'acquire', holder, prev_holder, acquire_reason, acquired_at FROM up
	), trimmed AS (
		DELETE FROM ha_lease_history h WHERE h.group_id = $1 AND EXISTS (SELECT 1 FROM up)
		AND (h.at < now() - $4::bigint * interval '1 millisecond'
		     OR h.id <= (SELECT id FROM ha_lease_history WHERE group_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $5::bigint - 1))
	)
	SELECT term, (extract(epoch from (expires_at - now())) * 1000)::bigint FROM up`,
	renew: `UPDATE ha_lease SET expires_at = now() + $4 * interval '1 millisecond'
		WHERE group_id = $1 AND holder = $2 AND term = $3 AND expires_at > now()
		RETURNING term, ` + pgRemaining,
	release: `WITH rel AS (
		UPDATE ha_lease SET holder = NULL, expires_at = now(), released_by = holder, release_reason = $4::text
		WHERE group_id = $1 AND holder = $2 AND term = $3
		RETURNING group_id, term, released_by, expires_at
	), hist AS (
		INSERT INTO ha_lease_history (group_id, term, event, holder, prev_holder, reason, at)
		SELECT group_id, term, 'release', released_by, NULL, $4::text, expires_at FROM rel
	)
	SELECT term FROM rel`,
	leader: `SELECT COALESCE(holder, ''), term, ` + pgRemaining + ` FROM ha_lease WHERE group_id = $1`,
	// Like acquire, it writes its history row (reason crash_takeover) and trims in the same
	// statement; $6: history retention in ms, $7: rows kept per group. A released lease (holder
	// NULL: a switchover's hand-over) is not a crash: the normal acquire takes it, recorded as
	// the switchover it is.
	acquireAfterCrash: `WITH up AS (
		UPDATE ha_lease SET holder = $2, term = term + 1, acquired_at = now(),
		    expires_at = now() + $4 * interval '1 millisecond', lock_session = $5, lock_term = term + 1,
		    prev_holder = COALESCE(holder, released_by), acquire_reason = '` + cluster.ReasonCrashTakeover + `',
		    released_by = NULL, release_reason = NULL
		WHERE group_id = $1 AND term = $3 AND lock_term = $3 AND holder IS NOT NULL
		RETURNING group_id, holder, term, prev_holder, acquire_reason, acquired_at, expires_at
	), hist AS (
		INSERT INTO ha_lease_history (group_id, term, event, holder, prev_holder, reason, at)
		SELECT group_id, term, 'acquire', holder, prev_holder, acquire_reason, acquired_at FROM up
	), trimmed AS (
		DELETE FROM ha_lease_history h WHERE h.group_id = $1 AND EXISTS (SELECT 1 FROM up)
		AND (h.at < now() - $6::bigint * interval '1 millisecond'
		     OR h.id <= (SELECT id FROM ha_lease_history WHERE group_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $7::bigint - 1))
	)
	SELECT term, (extract(epoch from (expires_at - now())) * 1000)::bigint FROM up`,
	recordLock: `UPDATE ha_lease SET lock_session = $4, lock_term = $3
		WHERE group_id = $1 AND holder = $2 AND term = $3`,
	// Only a backend that the lease row names and that holds the group's advisory lock right now
	// is ended, so a pid reused by an unrelated session is never touched.
	breakLock: `SELECT pg_terminate_backend(k.pid) FROM ha_lease l
		JOIN pg_locks k ON k.pid = l.lock_session AND k.locktype = 'advisory' AND k.granted
			AND k.classid = $4::int::oid AND k.objid = hashtext('streamha:' || $1)::oid AND k.objsubid = 2
		WHERE l.group_id = $1 AND l.holder = $2 AND l.term = $3 AND l.expires_at > now()
			AND k.pid <> pg_backend_pid()`,
	fence: `INSERT INTO ha_fence AS f (group_id, term, updated_at) VALUES ($1, $2, now())
		ON CONFLICT (group_id) DO UPDATE SET term = EXCLUDED.term, updated_at = now()
		WHERE f.term <= EXCLUDED.term
		RETURNING term`,
	nextRevision: `SELECT COALESCE(MAX(revision), 0) + 1 FROM ha_snapshot WHERE group_id = $1 AND app = $2`,
	insertSnapshot: `INSERT INTO ha_snapshot (group_id, app, revision, term, last_seq, created_at, size_bytes, payload, checksum, base_revision)
		VALUES ($1, $2, $3, $4, $5, now(), $6, $7, $8, NULLIF($9::bigint, 0))`,
	// Revisions up to $3, except those a kept revision (above $3) needs: its base and the
	// deltas between (schema v7).
	trim: `DELETE FROM ha_snapshot WHERE group_id = $1 AND app = $2 AND revision <= $3 AND quarantined_at IS NULL
		AND revision < COALESCE((SELECT MIN(COALESCE(base_revision, revision)) FROM ha_snapshot
			WHERE group_id = $1 AND app = $2 AND revision > $3), $3 + 1)`,
	latestSnapshot: `SELECT revision, term, last_seq, (extract(epoch from created_at) * 1000)::bigint, payload, checksum,
		size_bytes, upload_id, chunks, COALESCE(base_revision, 0) FROM ha_snapshot WHERE group_id = $1 AND app = $2 AND quarantined_at IS NULL ORDER BY revision DESC LIMIT 1`,
	listSnapshots: `SELECT revision, term, last_seq, (extract(epoch from created_at) * 1000)::bigint, size_bytes, checksum,
		(extract(epoch from quarantined_at) * 1000)::bigint, COALESCE(quarantine_reason, ''), COALESCE(base_revision, 0)
		FROM ha_snapshot WHERE group_id = $1 AND app = $2 ORDER BY revision DESC`,
	readSnapshot: `SELECT revision, term, last_seq, (extract(epoch from created_at) * 1000)::bigint, payload, checksum,
		(extract(epoch from quarantined_at) * 1000)::bigint, COALESCE(quarantine_reason, ''), size_bytes, upload_id, chunks,
		COALESCE(base_revision, 0) FROM ha_snapshot WHERE group_id = $1 AND app = $2 AND revision = $3`,
	snapshotApps: `SELECT DISTINCT app FROM ha_snapshot WHERE group_id = $1 ORDER BY app`,
	quarantine: `UPDATE ha_snapshot SET quarantined_at = now(), quarantine_reason = $4
		WHERE group_id = $1 AND app = $2 AND revision = $3`,
	unquarantine: `UPDATE ha_snapshot SET quarantined_at = NULL, quarantine_reason = NULL
		WHERE group_id = $1 AND app = $2 AND revision = $3`,
	setAcceptLoss: `INSERT INTO ha_accept_loss (group_id, app, requested_at, reason) VALUES ($1, $2, now(), $3)
		ON CONFLICT (group_id, app) DO UPDATE SET requested_at = now(), reason = EXCLUDED.reason`,
	getAcceptLoss: `SELECT (extract(epoch from requested_at) * 1000)::bigint, reason FROM ha_accept_loss WHERE group_id = $1 AND app = $2`,
	delAccept:     `DELETE FROM ha_accept_loss WHERE group_id = $1 AND app = $2`,
	// $1: group ('' for all), $2: how far back in ms (0: everything). Oldest first.
	history: `SELECT group_id, term, event, holder, COALESCE(prev_holder, ''), reason, (extract(epoch from at) * 1000)::bigint,
		(extract(epoch from (now() - at)) * 1000)::bigint
		FROM ha_lease_history WHERE ($1::text = '' OR group_id = $1::text)
		AND ($2::bigint = 0 OR at >= now() - $2::bigint * interval '1 millisecond')
		ORDER BY id`,
	historyGroups: `SELECT group_id FROM ha_lease UNION SELECT group_id FROM ha_node ORDER BY 1`,
	now:           `SELECT (extract(epoch from now()) * 1000)::bigint`,
}

// sqliteNow is SQLite's clock in epoch milliseconds; it is constant within one statement.
const sqliteNow = `CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)`

var sqliteQueries = func() *queries {
	r := strings.NewReplacer("NOW", sqliteNow)
	q := &queries{
		register: `INSERT INTO ha_node (group_id, node_id, properties, status, registered_at, last_heartbeat)
			VALUES (?1, ?2, ?3, '{}', NOW, NOW)
			ON CONFLICT (group_id, node_id) DO UPDATE
			SET properties = excluded.properties, status = '{}', registered_at = excluded.registered_at,
			    last_heartbeat = excluded.last_heartbeat`,
		heartbeat:  `UPDATE ha_node SET last_heartbeat = NOW, status = ?3 WHERE group_id = ?1 AND node_id = ?2`,
		deregister: `DELETE FROM ha_node WHERE group_id = ?1 AND node_id = ?2`,
		nodes: `SELECT node_id, properties, status, NOW - last_heartbeat
			FROM ha_node WHERE group_id = ?1 ORDER BY node_id`,
		acquire: `INSERT INTO ha_lease (group_id, holder, term, acquired_at, expires_at, acquire_reason)
			VALUES (?1, ?2, 1, NOW, NOW + ?3, '` + cluster.ReasonFirstElection + `')
			ON CONFLICT (group_id) DO UPDATE
			SET holder = excluded.holder, term = ha_lease.term + 1, acquired_at = excluded.acquired_at,
			    expires_at = excluded.expires_at, prev_holder = COALESCE(ha_lease.holder, ha_lease.released_by),
			    acquire_reason = CASE WHEN ha_lease.holder IS NOT NULL THEN '` + cluster.ReasonExpiryTakeover + `'
			                          ELSE COALESCE(ha_lease.release_reason, '` + cluster.ReasonReleased + `') END,
			    released_by = NULL, release_reason = NULL
			WHERE ha_lease.holder IS NULL OR ha_lease.expires_at <= excluded.acquired_at
			RETURNING term, expires_at - NOW, COALESCE(prev_holder, ''), COALESCE(acquire_reason, '` + cluster.ReasonFirstElection + `'), acquired_at`,
		renew: `UPDATE ha_lease SET expires_at = NOW + ?4
			WHERE group_id = ?1 AND holder = ?2 AND term = ?3 AND expires_at > NOW
			RETURNING term, expires_at - NOW`,
		release: `UPDATE ha_lease SET holder = NULL, expires_at = NOW, released_by = holder, release_reason = ?4
			WHERE group_id = ?1 AND holder = ?2 AND term = ?3
			RETURNING term, expires_at`,
		leader: `SELECT COALESCE(holder, ''), term, expires_at - NOW FROM ha_lease WHERE group_id = ?1`,
		acquireAfterCrash: `UPDATE ha_lease SET holder = ?2, term = term + 1, acquired_at = NOW,
			expires_at = NOW + ?4, lock_session = ?5, lock_term = term + 1,
			prev_holder = COALESCE(holder, released_by), acquire_reason = '` + cluster.ReasonCrashTakeover + `',
			released_by = NULL, release_reason = NULL
			WHERE group_id = ?1 AND term = ?3 AND lock_term = ?3 AND holder IS NOT NULL
			RETURNING term, expires_at - NOW, COALESCE(prev_holder, ''), acquire_reason, acquired_at`,
		recordLock: `UPDATE ha_lease SET lock_session = ?4, lock_term = ?3
			WHERE group_id = ?1 AND holder = ?2 AND term = ?3`,
		fence: `INSERT INTO ha_fence (group_id, term, updated_at) VALUES (?1, ?2, NOW)
			ON CONFLICT (group_id) DO UPDATE SET term = excluded.term, updated_at = excluded.updated_at
			WHERE ha_fence.term <= excluded.term
			RETURNING term`,
		nextRevision: `SELECT COALESCE(MAX(revision), 0) + 1 FROM ha_snapshot WHERE group_id = ?1 AND app = ?2`,
		insertSnapshot: `INSERT INTO ha_snapshot (group_id, app, revision, term, last_seq, created_at, size_bytes, payload, checksum, base_revision)
			VALUES (?1, ?2, ?3, ?4, ?5, NOW, ?6, ?7, ?8, NULLIF(?9, 0))`,
		trim: `DELETE FROM ha_snapshot WHERE group_id = ?1 AND app = ?2 AND revision <= ?3 AND quarantined_at IS NULL
			AND revision < COALESCE((SELECT MIN(COALESCE(base_revision, revision)) FROM ha_snapshot
				WHERE group_id = ?1 AND app = ?2 AND revision > ?3), ?3 + 1)`,
		latestSnapshot: `SELECT revision, term, last_seq, created_at, payload, checksum, size_bytes, upload_id, chunks, COALESCE(base_revision, 0)
			FROM ha_snapshot WHERE group_id = ?1 AND app = ?2 AND quarantined_at IS NULL ORDER BY revision DESC LIMIT 1`,
		listSnapshots: `SELECT revision, term, last_seq, created_at, size_bytes, checksum, quarantined_at, COALESCE(quarantine_reason, ''),
			COALESCE(base_revision, 0) FROM ha_snapshot WHERE group_id = ?1 AND app = ?2 ORDER BY revision DESC`,
		readSnapshot: `SELECT revision, term, last_seq, created_at, payload, checksum, quarantined_at, COALESCE(quarantine_reason, ''),
			size_bytes, upload_id, chunks, COALESCE(base_revision, 0) FROM ha_snapshot WHERE group_id = ?1 AND app = ?2 AND revision = ?3`,
		snapshotApps: `SELECT DISTINCT app FROM ha_snapshot WHERE group_id = ?1 ORDER BY app`,
		quarantine: `UPDATE ha_snapshot SET quarantined_at = NOW, quarantine_reason = ?4
			WHERE group_id = ?1 AND app = ?2 AND revision = ?3`,
		unquarantine: `UPDATE ha_snapshot SET quarantined_at = NULL, quarantine_reason = NULL
			WHERE group_id = ?1 AND app = ?2 AND revision = ?3`,
		setAcceptLoss: `INSERT INTO ha_accept_loss (group_id, app, requested_at, reason) VALUES (?1, ?2, NOW, ?3)
			ON CONFLICT (group_id, app) DO UPDATE SET requested_at = excluded.requested_at, reason = excluded.reason`,
		getAcceptLoss: `SELECT requested_at, reason FROM ha_accept_loss WHERE group_id = ?1 AND app = ?2`,
		delAccept:     `DELETE FROM ha_accept_loss WHERE group_id = ?1 AND app = ?2`,
		addHistory: `INSERT INTO ha_lease_history (group_id, term, event, holder, prev_holder, reason, at)
			VALUES (?1, ?2, ?3, ?4, NULLIF(?5, ''), ?6, ?7)`,
		// Runs after addHistory in the same transaction: keeps the newest ?3 rows of the group.
		trimHistory: `DELETE FROM ha_lease_history WHERE group_id = ?1
			AND (at < NOW - ?2 OR id <= COALESCE((SELECT id FROM ha_lease_history WHERE group_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?3), 0))`,
		history: `SELECT group_id, term, event, holder, COALESCE(prev_holder, ''), reason, at, NOW - at
			FROM ha_lease_history WHERE (?1 = '' OR group_id = ?1) AND (?2 = 0 OR at >= NOW - ?2)
			ORDER BY id`,
		historyGroups: `SELECT group_id FROM ha_lease UNION SELECT group_id FROM ha_node ORDER BY 1`,
		now:           `SELECT NOW`,
	}
	for _, p := range []*string{&q.register, &q.heartbeat, &q.nodes, &q.acquire, &q.renew, &q.release,
		&q.leader, &q.acquireAfterCrash, &q.fence, &q.insertSnapshot, &q.quarantine, &q.setAcceptLoss, &q.trimHistory, &q.history, &q.now} {
		*p = r.Replace(*p)
	}
	return q
}()
