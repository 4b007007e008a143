// Package health turns what the cluster database holds about a group into a verdict: which nodes
// are live, which claim to be active, who holds the current term, whether there is a split brain,
// and how old the newest snapshots are. It is pure (no I/O), so the health mirror's metrics and
// the alarm handler's decisions come from the same rules and are tested as tables.
package health

import (
	"fmt"
	"net"
	"net/netip"
	"sort"
	"time"

	"github.com/streamha/streamha/lambdas/clusterdb"
	"github.com/streamha/streamha/node/cluster"
)

// Config holds the thresholds of the verdict.
type Config struct {
	// StaleAfter is the heartbeat age beyond which a node is not live. The nodes heartbeat every
	// few seconds; the default, 15 s, matches the WSO2 detection time with shipped settings.
	StaleAfter time.Duration
}

// DefaultConfig returns the default thresholds.
func DefaultConfig() Config { return Config{StaleAfter: 15 * time.Second} }

// Node is one node's verdict.
type Node struct {
	NodeID       string
	TaskARN      string
	IP           string // the task's private IPv4 address (host of its advertised sync address), "" off awsvpc
	Role         string // as reported
	ReportedTerm int64
	Live         bool // heartbeat fresher than StaleAfter
	ClaimsActive bool // live and reporting role active
	HoldsTerm    bool // it is the lease holder and reports the lease's term
	HeartbeatAge time.Duration
	SyncLag      int64 // events sent to the passive but not acknowledged (active)
	QueueBytes   int64 // bytes in the replay queue (passive)
	// RestoreFailed: the node reports it cannot restore its state without loss and stays out of
	// the election (RestoreError says why).
	RestoreFailed bool
	RestoreError  string
	// LastError is the node's own coordination error (lease, database); DataError its data
	// path's (replay gap, failing sinks or persists). Reported apart: neither hides the other.
	LastError, DataError string
}

// Group is one group's verdict.
type Group struct {
	Name      string
	Term      int64
	Holder    string // lease holder, "" when none
	LeaseHeld bool   // an unexpired lease exists
	Nodes     []Node
	Live      int
	Active    int // live nodes claiming active
	// RestoreFailed counts live nodes reporting that they cannot restore without loss.
	RestoreFailed int
	SplitBrain    bool
	SplitReason   string
	// HolderHeartbeatAge is the lease holder's heartbeat age, or else the oldest heartbeat among
	// nodes claiming active; HasHolderHeartbeat is false when there is neither.
	HolderHeartbeatAge time.Duration
	HasHolderHeartbeat bool
	// SnapshotAge is the age of each app's newest snapshot, from ha_snapshot when the group has
	// rows there, else from the nodes' reports; SnapshotSource says which.
	SnapshotAge    map[string]time.Duration
	SnapshotSource string // "ha_snapshot", "status" or ""
}

// Assess computes g's verdict.
func Assess(g clusterdb.Group, cfg Config) Group {
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = DefaultConfig().StaleAfter
	}
	out := Group{Name: g.Name, Term: g.Lease.Term, Holder: g.Lease.Holder, LeaseHeld: g.Lease.Held()}
	var splitNodes []string
	for _, n := range g.Nodes {
		h := Node{
			NodeID: n.NodeID, TaskARN: n.TaskARN(), IP: nodeIP(n), Role: n.Status.Role, ReportedTerm: n.Status.Term,
			HeartbeatAge: n.HeartbeatAge, SyncLag: n.Status.SyncLagEvents, QueueBytes: n.Status.QueueBytes,
			LastError: n.Status.LastError, DataError: n.Status.DataError,
		}
		h.Live = n.HeartbeatAge <= cfg.StaleAfter
		if f := n.Status.RestoreFailed; f != nil && h.Live {
			h.RestoreFailed = true
			h.RestoreError = fmt.Sprintf("app %s revision %d: %s", f.App, f.Revision, f.Error)
			out.RestoreFailed++
		}
		h.ClaimsActive = h.Live && n.Status.Role == "active"
		h.HoldsTerm = g.Lease.Term > 0 && n.NodeID == g.Lease.Holder && n.Status.Term == g.Lease.Term
		if h.Live {
			out.Live++
		}
		if h.ClaimsActive {
			out.Active++
			if !h.HoldsTerm {
				splitNodes = append(splitNodes, n.NodeID)
			}
		}
		if n.NodeID == g.Lease.Holder && g.Lease.Holder != "" {
			out.HolderHeartbeatAge, out.HasHolderHeartbeat = n.HeartbeatAge, true
		}
		out.Nodes = append(out.Nodes, h)
	}
	if !out.HasHolderHeartbeat {
		for _, n := range g.Nodes {
			if n.Status.Role == "active" && (!out.HasHolderHeartbeat || n.HeartbeatAge > out.HolderHeartbeatAge) {
				out.HolderHeartbeatAge, out.HasHolderHeartbeat = n.HeartbeatAge, true
			}
		}
	}
	switch {
	case out.Active > 1:
		out.SplitBrain = true
		out.SplitReason = fmt.Sprintf("%d live nodes claim active at term %d", out.Active, g.Lease.Term)
	case len(splitNodes) > 0:
		out.SplitBrain = true
		out.SplitReason = fmt.Sprintf("node %s claims active but does not hold term %d (holder %q)", splitNodes[0], g.Lease.Term, g.Lease.Holder)
	}
	out.SnapshotAge, out.SnapshotSource = snapshotAges(g)
	return out
}

// snapshotAges prefers ha_snapshot; otherwise it derives each app's age from the freshest node
// report without comparing clocks: (node's report time - node's persist time), both on the node's
// clock, plus the heartbeat's age on the database's clock.
func snapshotAges(g clusterdb.Group) (map[string]time.Duration, string) {
	if len(g.Snapshots) > 0 {
		ages := make(map[string]time.Duration, len(g.Snapshots))
		for _, s := range g.Snapshots {
			ages[s.App] = s.Age
		}
		return ages, "ha_snapshot"
	}
	ages := map[string]time.Duration{}
	for _, n := range g.Nodes {
		if n.Status.ReportedAtMS == 0 {
			continue
		}
		for app, a := range n.Status.Apps {
			if a.LastPersistAtMS == 0 {
				continue
			}
			age := time.Duration(n.Status.ReportedAtMS-a.LastPersistAtMS)*time.Millisecond + n.HeartbeatAge
			if age < 0 {
				age = 0
			}
			if cur, ok := ages[app]; !ok || age < cur {
				ages[app] = age
			}
		}
	}
	if len(ages) == 0 {
		return nil, ""
	}
	return ages, "status"
}

// Apps lists the keys of SnapshotAge in order.
func (g Group) Apps() []string {
	apps := make([]string, 0, len(g.SnapshotAge))
	for a := range g.SnapshotAge {
		apps = append(apps, a)
	}
	sort.Strings(apps)
	return apps
}

// LiveNodeIDs lists the live nodes.
func (g Group) LiveNodeIDs() []string {
	ids := []string{}
	for _, n := range g.Nodes {
		if n.Live {
			ids = append(ids, n.NodeID)
		}
	}
	return ids
}

// ActiveNodeIDs lists the live nodes claiming active.
func (g Group) ActiveNodeIDs() []string {
	ids := []string{}
	for _, n := range g.Nodes {
		if n.ClaimsActive {
			ids = append(ids, n.NodeID)
		}
	}
	return ids
}

// nodeIP is the IPv4 address the node advertises for event sync (in awsvpc mode its task's
// private IP, the address the load balancer targets), or "".
func nodeIP(n clusterdb.Node) string {
	host, _, err := net.SplitHostPort(n.Properties[cluster.PropSyncAddr])
	if err != nil {
		return ""
	}
	if a, err := netip.ParseAddr(host); err == nil && a.Is4() {
		return a.String()
	}
	return ""
}
