package store

import "strings"

// queries holds one dialect's statements. Times are judged by the database's clock: now() on
// PostgreSQL, SQLite's own clock (the shared host clock) in milliseconds on SQLite. Durations are
// passed in and returned as milliseconds.
type queries struct {
	register, heartbeat, deregister, nodes    string
	acquire, renew, release, leader           string
	fence, nextRevision, insertSnapshot, trim string
	latestSnapshot, listSnapshots             string
	readSnapshot, snapshotApps                string
	quarantine, unquarantine                  string
	setAcceptLoss, getAcceptLoss, delAccept   string
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
	acquire: `INSERT INTO ha_lease AS l (group_id, holder, term, acquired_at, expires_at)
		VALUES ($1, $2, 1, now(), now() + $3 * interval '1 millisecond')
		ON CONFLICT (group_id) DO UPDATE
		SET holder = EXCLUDED.holder, term = l.term + 1, acquired_at = now(), expires_at = EXCLUDED.expires_at
		WHERE l.holder IS NULL OR l.expires_at <= now()
		RETURNING term, ` + pgRemaining,
	renew: `UPDATE ha_lease SET expires_at = now() + $4 * interval '1 millisecond'
		WHERE group_id = $1 AND holder = $2 AND term = $3 AND expires_at > now()
		RETURNING term, ` + pgRemaining,
	release: `UPDATE ha_lease SET holder = NULL, expires_at = now()
		WHERE group_id = $1 AND holder = $2 AND term = $3`,
	leader: `SELECT COALESCE(holder, ''), term, ` + pgRemaining + ` FROM ha_lease WHERE group_id = $1`,
	fence: `INSERT INTO ha_fence AS f (group_id, term, updated_at) VALUES ($1, $2, now())
		ON CONFLICT (group_id) DO UPDATE SET term = EXCLUDED.term, updated_at = now()
		WHERE f.term <= EXCLUDED.term
		RETURNING term`,
	nextRevision: `SELECT COALESCE(MAX(revision), 0) + 1 FROM ha_snapshot WHERE group_id = $1 AND app = $2`,
	insertSnapshot: `INSERT INTO ha_snapshot (group_id, app, revision, term, last_seq, created_at, size_bytes, payload, checksum)
		VALUES ($1, $2, $3, $4, $5, now(), $6, $7, $8)`,
	trim: `DELETE FROM ha_snapshot WHERE group_id = $1 AND app = $2 AND revision <= $3 AND quarantined_at IS NULL`,
	latestSnapshot: `SELECT revision, term, last_seq, (extract(epoch from created_at) * 1000)::bigint, payload, checksum
		FROM ha_snapshot WHERE group_id = $1 AND app = $2 AND quarantined_at IS NULL ORDER BY revision DESC LIMIT 1`,
	listSnapshots: `SELECT revision, term, last_seq, (extract(epoch from created_at) * 1000)::bigint, size_bytes, checksum,
		(extract(epoch from quarantined_at) * 1000)::bigint, COALESCE(quarantine_reason, '')
		FROM ha_snapshot WHERE group_id = $1 AND app = $2 ORDER BY revision DESC`,
	readSnapshot: `SELECT revision, term, last_seq, (extract(epoch from created_at) * 1000)::bigint, payload, checksum,
		(extract(epoch from quarantined_at) * 1000)::bigint, COALESCE(quarantine_reason, '')
		FROM ha_snapshot WHERE group_id = $1 AND app = $2 AND revision = $3`,
	snapshotApps: `SELECT DISTINCT app FROM ha_snapshot WHERE group_id = $1 ORDER BY app`,
	quarantine: `UPDATE ha_snapshot SET quarantined_at = now(), quarantine_reason = $4
		WHERE group_id = $1 AND app = $2 AND revision = $3`,
	unquarantine: `UPDATE ha_snapshot SET quarantined_at = NULL, quarantine_reason = NULL
		WHERE group_id = $1 AND app = $2 AND revision = $3`,
	setAcceptLoss: `INSERT INTO ha_accept_loss (group_id, app, requested_at, reason) VALUES ($1, $2, now(), $3)
		ON CONFLICT (group_id, app) DO UPDATE SET requested_at = now(), reason = EXCLUDED.reason`,
	getAcceptLoss: `SELECT (extract(epoch from requested_at) * 1000)::bigint, reason FROM ha_accept_loss WHERE group_id = $1 AND app = $2`,
	delAccept:     `DELETE FROM ha_accept_loss WHERE group_id = $1 AND app = $2`,
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
		acquire: `INSERT INTO ha_lease (group_id, holder, term, acquired_at, expires_at)
			VALUES (?1, ?2, 1, NOW, NOW + ?3)
			ON CONFLICT (group_id) DO UPDATE
			SET holder = excluded.holder, term = ha_lease.term + 1, acquired_at = excluded.acquired_at,
			    expires_at = excluded.expires_at
			WHERE ha_lease.holder IS NULL OR ha_lease.expires_at <= excluded.acquired_at
			RETURNING term, expires_at - NOW`,
		renew: `UPDATE ha_lease SET expires_at = NOW + ?4
			WHERE group_id = ?1 AND holder = ?2 AND term = ?3 AND expires_at > NOW
			RETURNING term, expires_at - NOW`,
		release: `UPDATE ha_lease SET holder = NULL, expires_at = NOW
			WHERE group_id = ?1 AND holder = ?2 AND term = ?3`,
		leader: `SELECT COALESCE(holder, ''), term, expires_at - NOW FROM ha_lease WHERE group_id = ?1`,
		fence: `INSERT INTO ha_fence (group_id, term, updated_at) VALUES (?1, ?2, NOW)
			ON CONFLICT (group_id) DO UPDATE SET term = excluded.term, updated_at = excluded.updated_at
			WHERE ha_fence.term <= excluded.term
			RETURNING term`,
		nextRevision: `SELECT COALESCE(MAX(revision), 0) + 1 FROM ha_snapshot WHERE group_id = ?1 AND app = ?2`,
		insertSnapshot: `INSERT INTO ha_snapshot (group_id, app, revision, term, last_seq, created_at, size_bytes, payload, checksum)
			VALUES (?1, ?2, ?3, ?4, ?5, NOW, ?6, ?7, ?8)`,
		trim: `DELETE FROM ha_snapshot WHERE group_id = ?1 AND app = ?2 AND revision <= ?3 AND quarantined_at IS NULL`,
		latestSnapshot: `SELECT revision, term, last_seq, created_at, payload, checksum
			FROM ha_snapshot WHERE group_id = ?1 AND app = ?2 AND quarantined_at IS NULL ORDER BY revision DESC LIMIT 1`,
		listSnapshots: `SELECT revision, term, last_seq, created_at, size_bytes, checksum, quarantined_at, COALESCE(quarantine_reason, '')
			FROM ha_snapshot WHERE group_id = ?1 AND app = ?2 ORDER BY revision DESC`,
		readSnapshot: `SELECT revision, term, last_seq, created_at, payload, checksum, quarantined_at, COALESCE(quarantine_reason, '')
			FROM ha_snapshot WHERE group_id = ?1 AND app = ?2 AND revision = ?3`,
		snapshotApps: `SELECT DISTINCT app FROM ha_snapshot WHERE group_id = ?1 ORDER BY app`,
		quarantine: `UPDATE ha_snapshot SET quarantined_at = NOW, quarantine_reason = ?4
			WHERE group_id = ?1 AND app = ?2 AND revision = ?3`,
		unquarantine: `UPDATE ha_snapshot SET quarantined_at = NULL, quarantine_reason = NULL
			WHERE group_id = ?1 AND app = ?2 AND revision = ?3`,
		setAcceptLoss: `INSERT INTO ha_accept_loss (group_id, app, requested_at, reason) VALUES (?1, ?2, NOW, ?3)
			ON CONFLICT (group_id, app) DO UPDATE SET requested_at = excluded.requested_at, reason = excluded.reason`,
		getAcceptLoss: `SELECT requested_at, reason FROM ha_accept_loss WHERE group_id = ?1 AND app = ?2`,
		delAccept:     `DELETE FROM ha_accept_loss WHERE group_id = ?1 AND app = ?2`,
	}
	for _, p := range []*string{&q.register, &q.heartbeat, &q.nodes, &q.acquire, &q.renew, &q.release,
		&q.leader, &q.fence, &q.insertSnapshot, &q.quarantine, &q.setAcceptLoss} {
		*p = r.Replace(*p)
	}
	return q
}()
