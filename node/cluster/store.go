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
	// ReasonCrashTakeover: takeover after crash detection, before the lease expired: the
	// holder's liveness lock was free (its process or database session had died).
	ReasonCrashTakeover = "crash_takeover"
	ReasonSwitchover    = "switchover" // planned switchover: the holder handed over to its passive
	ReasonDemotion      = "demotion"   // the holder gave the lease up: its promotion failed, or its liveness lock's session ended
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

// LivenessLock is the active's liveness token: an exclusive lock bound to a database session
// (PostgreSQL: a session-level advisory lock on a dedicated connection) or to the process
// (SQLite: a flock beside the database file). The kernel or the database frees it the moment the
// holder's process dies or its session ends, long before the lease expires. It only accelerates
// detection: the lease stays the authority.
type LivenessLock interface {
	// TryLock takes the lock without waiting and reports whether this node now holds it (true
	// also when it already did). A false answer with a nil error means another session holds it.
	TryLock(ctx context.Context) (bool, error)
	// Lost is closed when the session that holds the lock ends for any reason, Unlock included;
	// a new channel is made by each successful TryLock. Nil when the lock is not held.
	Lost() <-chan struct{}
	// Session identifies the holding session to the database: the PostgreSQL backend pid, 0
	// when the database has no sessions another node could end (SQLite).
	Session() int64
	// Unlock frees the lock without blocking (the release reaches the database a moment later).
	Unlock()
	// Close frees the lock and every resource of it.
	Close() error
}

// CrashDetector is implemented by a Store whose database can tell, through a LivenessLock, that
// the active's session is gone, so a passive may take the lease before it expires.
type CrashDetector interface {
	// LivenessLock returns this node's handle on the group's liveness lock (not yet taken).
	LivenessLock(group string) (LivenessLock, error)
	// AcquireAfterCrash takes the lease, expired or not, from a holder whose liveness lock the
	// caller now holds: only while the lease is still at term seen and its holder recorded it
	// held the lock under that term (RecordLock). The term increments and session is recorded.
	// So it cannot race a renewal, a release or another acquisition that moved the term on.
	AcquireAfterCrash(ctx context.Context, group, nodeID string, seen int64, lease time.Duration, session int64) (Lease, bool, error)
	// RecordLock records that nodeID, holding the lease at term, holds the liveness lock on
	// session; ErrLeaseLost when it no longer holds that lease.
	RecordLock(ctx context.Context, group, nodeID string, term, session int64) error
	// BreakLock ends the session recorded in the lease row when it still holds the liveness
	// lock, on behalf of nodeID holding the lease at term (unexpired): the session of a
	// deposed active that lingers on the server after its client was cut off. It reports
	// whether it ended one; databases without sessions report false.
	BreakLock(ctx context.Context, group, nodeID string, term int64) (bool, error)
}
