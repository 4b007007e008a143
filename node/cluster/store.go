package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Errors returned by a Store. They are sentinels so callers can tell "lost the lease" from "the
// database is unreachable": the first demotes at once, the second only when the deadline passes.
var (
	// ErrLeaseLost means a renewal or release named a term that is no longer the group's current
	// lease (expired, released, or taken by another node).
	ErrLeaseLost = errors.New("lease lost")
	// ErrNotRegistered means a heartbeat found no row for the node (it was deregistered).
	ErrNotRegistered = errors.New("node not registered")
	// ErrFenced means a write carried a term lower than one the store has already seen.
	ErrFenced = errors.New("fenced: a newer term exists")
	// ErrNotRestorable is wrapped by a Promote error meaning the node cannot restore its state
	// without losing acknowledged inputs: the runner stops contending for the lease, with
	// exponential backoff, until Config.Ready says otherwise.
	ErrNotRestorable = errors.New("state cannot be restored without loss")
)

// Reasons recorded in the term history (ha_lease_history.reason). A release carries the reason
// its holder gave; an acquisition carries why the lease was free: first election, the previous
// holder's lease expired, or the reason of the release that freed it.
const (
	ReasonFirstElection  = "first_election"  // acquire: the group never had a lease
	ReasonExpiryTakeover = "expiry_takeover" // acquire: the holder neither renewed nor released (crash, freeze, cut off)
	// ReasonCrashTakeover is reserved for a takeover after the holder's crash was detected
	// (not written yet: every takeover now waits for expiry).
	ReasonCrashTakeover = "crash_takeover"
	ReasonSwitchover    = "switchover" // planned switchover: the holder handed over to its passive
	ReasonDemotion      = "demotion"   // the holder gave the lease up: its promotion failed
	ReasonShutdown      = "shutdown"   // the holder released it on a clean shutdown
	ReasonReleased      = "released"   // acquire after a release whose reason was not recorded (an older node)
)

// NodeInfo is what a node registers about itself in the cluster database.
type NodeInfo struct {
	Group      string
	NodeID     string
	Properties map[string]string
}

// Property keys a node registers; the health mirror and the alarm handler read them.
const (
	PropSyncAddr = "sync_addr" // advertised event-sync address, host:port
	PropRESTAddr = "rest_addr" // advertised REST base URL
	PropTCPAddr  = "tcp_addr"  // advertised binary ingest address, host:port
	PropVersion  = "version"   // node binary version
	PropTaskARN  = "task_arn"  // ECS task ARN from the task metadata endpoint, when on ECS
	PropStarted  = "started_at"
	// PropAdminAddr is the base URL of the admin API (switchover, persist) when a node serves
	// it apart from rest_addr; tools fall back to rest_addr.
	PropAdminAddr = "admin_addr"
)

// Lease is the group's leader lease as the database sees it. Remaining is measured by the
// database's clock, so no two hosts' clocks are ever compared.
type Lease struct {
	Group     string
	Holder    string // "" when released or never taken
	Term      int64
	Remaining time.Duration // <= 0 when expired
}

// Held reports whether some node holds an unexpired lease.
func (l Lease) Held() bool { return l.Holder != "" && l.Remaining > 0 }

// NodeRecord is one registered node as read back from the database.
type NodeRecord struct {
	Group        string
	NodeID       string
	Properties   map[string]string
	Status       json.RawMessage
	HeartbeatAge time.Duration // by the database's clock
}

// Store is the cluster database as the coordinator needs it. Every lease operation is a single
// atomic conditional statement judged by the database's clock.
type Store interface {
	Register(ctx context.Context, n NodeInfo) error
	Heartbeat(ctx context.Context, group, nodeID string, status json.RawMessage) error
	Deregister(ctx context.Context, group, nodeID string) error
	Nodes(ctx context.Context, group string) ([]NodeRecord, error)
	// Acquire takes the lease when it is free or expired, incrementing the term. It reports
	// whether it succeeded and the lease as it now stands.
	Acquire(ctx context.Context, group, nodeID string, lease time.Duration) (Lease, bool, error)
	// Renew extends a lease the caller holds under term; ErrLeaseLost otherwise.
	Renew(ctx context.Context, group, nodeID string, term int64, lease time.Duration) (Lease, error)
	// Release gives the lease up at once, keeping the term; ErrLeaseLost if not held. reason
	// is recorded in the term history, with the release and with the next acquisition.
	Release(ctx context.Context, group, nodeID string, term int64, reason string) error
	Leader(ctx context.Context, group string) (Lease, error)
}
