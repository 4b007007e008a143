// Package clusterdb reads the cluster database (WSO2_CLUSTER_DB) from outside the cluster, for
// the Lambdas: one pooled pgx connection reused across warm invocations, short connect and query
// timeouts, and every age computed by the database's clock (now()), never the Lambda's.
package clusterdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/streamha/streamha/node/cluster"
)

// Node is one registered node with the status it last reported.
type Node struct {
	Group        string
	NodeID       string
	Properties   map[string]string
	Status       cluster.Status
	StatusError  string        // why the status JSON could not be decoded, if it could not
	HeartbeatAge time.Duration // by the database's clock
}

// TaskARN is the ECS task the node registered, "" off ECS.
func (n Node) TaskARN() string { return n.Properties[cluster.PropTaskARN] }

// Snapshot is the newest persisted revision of one app.
type Snapshot struct {
	App      string
	Revision int64
	Term     int64
	Age      time.Duration // by the database's clock
}

// Group is everything the database holds about one cluster group.
type Group struct {
	Name      string
	Nodes     []Node
	Lease     cluster.Lease // Term 0 when the group never had a leader
	Snapshots []Snapshot    // empty when ha_snapshot is absent or has no rows for the group
}

// Options tunes the connection; zero values take the defaults.
type Options struct {
	ConnectTimeout time.Duration // default 3 s
	QueryTimeout   time.Duration // default 5 s, also the server-side statement_timeout
}

// Reader reads cluster state over one pooled connection.
type Reader struct {
	pool         *pgxpool.Pool
	queryTimeout time.Duration
	hasSnapshots *bool // whether ha_snapshot exists in this database; checked once
}

// Open prepares a pool of at most one connection; it does not connect until the first read, so a
// database that is down at cold start is an error of that read, not of Open.
func Open(ctx context.Context, url string, o Options) (*Reader, error) {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 3 * time.Second
	}
	if o.QueryTimeout <= 0 {
		o.QueryTimeout = 5 * time.Second
	}
	if scheme, _, ok := strings.Cut(url, "://"); ok && scheme != "postgres" && scheme != "postgresql" {
		return nil, fmt.Errorf("cluster database URL scheme %q: the functions read PostgreSQL only (postgres://…); the embedded SQLite database is for local runs of the nodes", scheme)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse cluster database URL: %w", err)
	}
	cfg.MaxConns = 1
	cfg.MinConns = 0
	cfg.MaxConnIdleTime = 5 * time.Minute
	cfg.HealthCheckPeriod = time.Minute
	cfg.ConnConfig.ConnectTimeout = o.ConnectTimeout
	cfg.ConnConfig.RuntimeParams["statement_timeout"] = fmt.Sprint(o.QueryTimeout.Milliseconds())
	cfg.ConnConfig.RuntimeParams["application_name"] = "streamha-lambda"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open cluster database pool: %w", err)
	}
	return &Reader{pool: pool, queryTimeout: o.QueryTimeout}, nil
}

// Close releases the connection.
func (r *Reader) Close() { r.pool.Close() }

const (
	qNodes = `SELECT group_id, node_id, properties::text, status::text,
		(extract(epoch from (now() - last_heartbeat)) * 1000)::bigint
		FROM ha_node WHERE cardinality($1::text[]) = 0 OR group_id = ANY($1) ORDER BY group_id, node_id`
	qLeases = `SELECT group_id, COALESCE(holder, ''), term,
		(extract(epoch from (expires_at - now())) * 1000)::bigint
		FROM ha_lease WHERE cardinality($1::text[]) = 0 OR group_id = ANY($1)`
	qSnapshots = `SELECT DISTINCT ON (group_id, app) group_id, app, revision, term,
		(extract(epoch from (now() - created_at)) * 1000)::bigint
		FROM ha_snapshot WHERE cardinality($1::text[]) = 0 OR group_id = ANY($1)
		ORDER BY group_id, app, revision DESC`
	qHasSnapshots = `SELECT to_regclass('ha_snapshot') IS NOT NULL`
)

// Read returns the named groups (every group in the database when none are named), sorted by
// name, in one round trip. Named groups with no rows are returned empty.
func (r *Reader) Read(ctx context.Context, groups ...string) ([]Group, error) {
	ctx, cancel := context.WithTimeout(ctx, r.queryTimeout)
	defer cancel()
	if groups == nil {
		groups = []string{}
	}
	if r.hasSnapshots == nil {
		var has bool
		if err := r.pool.QueryRow(ctx, qHasSnapshots).Scan(&has); err != nil {
			return nil, fmt.Errorf("read cluster database: check ha_snapshot: %w", err)
		}
		r.hasSnapshots = &has
	}
	byName := map[string]*Group{}
	get := func(name string) *Group {
		g, ok := byName[name]
		if !ok {
			g = &Group{Name: name, Lease: cluster.Lease{Group: name}}
			byName[name] = g
		}
		return g
	}
	for _, name := range groups {
		get(name)
	}
	b := &pgx.Batch{}
	b.Queue(qNodes, groups).Query(func(rows pgx.Rows) error { return scanNodes(rows, get) })
	b.Queue(qLeases, groups).Query(func(rows pgx.Rows) error { return scanLeases(rows, get) })
	if *r.hasSnapshots {
		b.Queue(qSnapshots, groups).Query(func(rows pgx.Rows) error { return scanSnapshots(rows, get) })
	}
	if err := r.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("read cluster database: %w", err)
	}
	out := make([]Group, 0, len(byName))
	for _, g := range byName {
		out = append(out, *g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func scanNodes(rows pgx.Rows, get func(string) *Group) error {
	for rows.Next() {
		var n Node
		var props, status string
		var ageMS int64
		if err := rows.Scan(&n.Group, &n.NodeID, &props, &status, &ageMS); err != nil {
			return fmt.Errorf("scan ha_node: %w", err)
		}
		if err := json.Unmarshal([]byte(props), &n.Properties); err != nil {
			n.Properties = map[string]string{} // a node with odd properties is still a node
		}
		if err := json.Unmarshal([]byte(status), &n.Status); err != nil {
			n.StatusError = err.Error()
		}
		n.HeartbeatAge = time.Duration(ageMS) * time.Millisecond
		g := get(n.Group)
		g.Nodes = append(g.Nodes, n)
	}
	return rows.Err()
}

func scanLeases(rows pgx.Rows, get func(string) *Group) error {
	for rows.Next() {
		var name string
		var l cluster.Lease
		var remMS int64
		if err := rows.Scan(&name, &l.Holder, &l.Term, &remMS); err != nil {
			return fmt.Errorf("scan ha_lease: %w", err)
		}
		l.Group = name
		l.Remaining = time.Duration(remMS) * time.Millisecond
		get(name).Lease = l
	}
	return rows.Err()
}

func scanSnapshots(rows pgx.Rows, get func(string) *Group) error {
	for rows.Next() {
		var name string
		var s Snapshot
		var ageMS int64
		if err := rows.Scan(&name, &s.App, &s.Revision, &s.Term, &ageMS); err != nil {
			return fmt.Errorf("scan ha_snapshot: %w", err)
		}
		s.Age = time.Duration(ageMS) * time.Millisecond
		g := get(name)
		g.Snapshots = append(g.Snapshots, s)
	}
	return rows.Err()
}

// NodeByTask finds the node that registered taskARN, with its group's lease; ok is false when no
// node did.
func (r *Reader) NodeByTask(ctx context.Context, taskARN string) (Node, cluster.Lease, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, r.queryTimeout)
	defer cancel()
	var group string
	err := r.pool.QueryRow(ctx, `SELECT group_id FROM ha_node WHERE properties->>'task_arn' = $1 LIMIT 1`, taskARN).Scan(&group)
	if errors.Is(err, pgx.ErrNoRows) {
		return Node{}, cluster.Lease{}, false, nil
	}
	if err != nil {
		return Node{}, cluster.Lease{}, false, fmt.Errorf("find node of task %s: %w", taskARN, err)
	}
	gs, err := r.Read(ctx, group)
	if err != nil {
		return Node{}, cluster.Lease{}, false, err
	}
	for _, n := range gs[0].Nodes {
		if n.TaskARN() == taskARN {
			return n, gs[0].Lease, true, nil
		}
	}
	return Node{}, cluster.Lease{}, false, nil
}

// Unusable stands in for a reader whose URL could not be opened: every read returns why, so a
// function reports the real cause (a malformed URL, a driver it does not have) on each run.
type Unusable struct{ Err error }

// Read returns the error the URL was refused with.
func (u Unusable) Read(context.Context, ...string) ([]Group, error) {
	return nil, fmt.Errorf("cluster database URL unusable: %w", u.Err)
}
