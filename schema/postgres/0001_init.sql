-- streamha schema v1 for PostgreSQL. Applied by `node migrate` and at node start, once per database.
-- Cluster tables (WSO2_CLUSTER_DB role): ha_node, ha_lease. Persistence tables (PERSISTENCE_DB role):
-- ha_fence, ha_snapshot. When both roles share one database, all four live side by side.

-- One row per node of a group: registration properties and the status it reports on each heartbeat.
CREATE TABLE IF NOT EXISTS ha_node (
    group_id       text        NOT NULL,
    node_id        text        NOT NULL,
    properties     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    status         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    registered_at  timestamptz NOT NULL DEFAULT now(),
    last_heartbeat timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, node_id)
);

-- The group's leader lease. The row is never deleted: a release clears holder but keeps term, so
-- the fencing term only ever grows.
CREATE TABLE IF NOT EXISTS ha_lease (
    group_id    text        PRIMARY KEY,
    holder      text,
    term        bigint      NOT NULL CHECK (term > 0),
    acquired_at timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);

-- Highest term seen by the persistence store per group: writes carrying a lower term are refused.
CREATE TABLE IF NOT EXISTS ha_fence (
    group_id   text        PRIMARY KEY,
    term       bigint      NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- App state snapshots, newest revision wins; the node keeps revisions_to_keep per app.
CREATE TABLE IF NOT EXISTS ha_snapshot (
    group_id   text        NOT NULL,
    app        text        NOT NULL,
    revision   bigint      NOT NULL,
    term       bigint      NOT NULL,
    last_seq   bigint      NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    size_bytes bigint      NOT NULL,
    payload    bytea       NOT NULL,
    PRIMARY KEY (group_id, app, revision)
);
