package healthmirror

import (
	"github.com/streamha/streamha/lambdas/emf"
	"github.com/streamha/streamha/lambdas/health"
)

// Dimension names.
const (
	DimClusterGroup = "ClusterGroup"
	DimNodeID       = "NodeId"
	DimApp          = "App"
)

// Metric names the health mirror publishes; alarms and dashboards use them.
const (
	MetricActiveNodes        = "ActiveNodes"               // live nodes claiming active
	MetricLiveNodes          = "LiveNodes"                 // nodes with a fresh heartbeat
	MetricRegisteredNodes    = "RegisteredNodes"           // rows in ha_node
	MetricSplitBrain         = "SplitBrain"                // 1 when more than one active, or an active off the current term
	MetricTerm               = "Term"                      // the lease's fencing term
	MetricLeaseHeld          = "LeaseHeld"                 // 1 when an unexpired lease exists
	MetricClusterDBReachable = "ClusterDbReachable"        // 0 when the cluster database did not answer
	MetricFailovers          = "Failovers"                 // term changes recorded by this run
	MetricActiveHeartbeatAge = "ActiveHeartbeatAgeSeconds" // lease holder's heartbeat age: a stale active
	MetricHeartbeatAge       = "HeartbeatAgeSeconds"       // per node
	MetricSyncLagEvents      = "SyncLagEvents"             // per node: unacknowledged sync events (active)
	MetricPassiveQueueBytes  = "PassiveQueueBytes"         // per node: replay queue bytes (passive)
	MetricSnapshotAgeSeconds = "SnapshotAgeSeconds"        // per app: age of the newest snapshot
	MetricRestoreFailed      = "RestoreFailed"             // per node: 1 while it cannot restore its state without loss
)

var (
	groupDims = [][]string{{DimClusterGroup}}
	nodeDims  = [][]string{{DimClusterGroup, DimNodeID}, {DimClusterGroup}}
	appDims   = [][]string{{DimClusterGroup, DimApp}, {DimClusterGroup}}
)

// Metrics lists every metric the health mirror publishes with its unit and dimension sets.
// Per-node and per-app metrics are also published by ClusterGroup alone, so an alarm on the
// group's Maximum needs no node ids.
func Metrics() []emf.MetricSpec {
	return []emf.MetricSpec{
		{Name: MetricActiveNodes, Unit: emf.Count, Dimensions: groupDims},
		{Name: MetricLiveNodes, Unit: emf.Count, Dimensions: groupDims},
		{Name: MetricRegisteredNodes, Unit: emf.Count, Dimensions: groupDims},
		{Name: MetricSplitBrain, Unit: emf.Count, Dimensions: groupDims},
		{Name: MetricTerm, Unit: emf.None, Dimensions: groupDims},
		{Name: MetricLeaseHeld, Unit: emf.Count, Dimensions: groupDims},
		{Name: MetricClusterDBReachable, Unit: emf.Count, Dimensions: groupDims},
		{Name: MetricFailovers, Unit: emf.Count, Dimensions: groupDims},
		{Name: MetricActiveHeartbeatAge, Unit: emf.Seconds, Dimensions: groupDims},
		{Name: MetricHeartbeatAge, Unit: emf.Seconds, Dimensions: nodeDims},
		{Name: MetricSyncLagEvents, Unit: emf.Count, Dimensions: nodeDims},
		{Name: MetricPassiveQueueBytes, Unit: emf.Bytes, Dimensions: nodeDims},
		{Name: MetricRestoreFailed, Unit: emf.Count, Dimensions: nodeDims},
		{Name: MetricSnapshotAgeSeconds, Unit: emf.Seconds, Dimensions: appDims},
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// records renders one group's verdict as EMF records: one for the group, one per node, one per app.
func records(h health.Group, failovers int, res int) []emf.Record {
	m := func(name, unit string, v float64) emf.Metric {
		return emf.Metric{Name: name, Unit: unit, Value: v, Resolution: res}
	}
	group := emf.Record{
		Dimensions:    map[string]string{DimClusterGroup: h.Name},
		DimensionSets: groupDims,
		Metrics: []emf.Metric{
			m(MetricClusterDBReachable, emf.Count, 1),
			m(MetricActiveNodes, emf.Count, float64(h.Active)),
			m(MetricLiveNodes, emf.Count, float64(h.Live)),
			m(MetricRegisteredNodes, emf.Count, float64(len(h.Nodes))),
			m(MetricSplitBrain, emf.Count, b2f(h.SplitBrain)),
			m(MetricTerm, emf.None, float64(h.Term)),
			m(MetricLeaseHeld, emf.Count, b2f(h.LeaseHeld)),
			m(MetricFailovers, emf.Count, float64(failovers)),
		},
		Properties: map[string]any{"holder": h.Holder, "active": h.ActiveNodeIDs(), "live": h.LiveNodeIDs()},
	}
	if h.SplitBrain {
		group.Properties["split_reason"] = h.SplitReason
	}
	if h.HasHolderHeartbeat {
		group.Metrics = append(group.Metrics, m(MetricActiveHeartbeatAge, emf.Seconds, h.HolderHeartbeatAge.Seconds()))
	}
	out := []emf.Record{group}
	for _, n := range h.Nodes {
		out = append(out, emf.Record{
			Dimensions:    map[string]string{DimClusterGroup: h.Name, DimNodeID: n.NodeID},
			DimensionSets: nodeDims,
			Metrics: []emf.Metric{
				m(MetricHeartbeatAge, emf.Seconds, n.HeartbeatAge.Seconds()),
				m(MetricSyncLagEvents, emf.Count, float64(n.SyncLag)),
				m(MetricPassiveQueueBytes, emf.Bytes, float64(n.QueueBytes)),
				m(MetricRestoreFailed, emf.Count, b2f(n.RestoreFailed)),
			},
			Properties: map[string]any{"role": n.Role, "reported_term": n.ReportedTerm, "live": n.Live, "holds_term": n.HoldsTerm},
		})
		if n.RestoreFailed {
			out[len(out)-1].Properties["restore_error"] = n.RestoreError
		}
		if n.LastError != "" {
			out[len(out)-1].Properties["last_error"] = n.LastError
		}
		if n.DataError != "" {
			out[len(out)-1].Properties["data_error"] = n.DataError
		}
	}
	for _, app := range h.Apps() {
		out = append(out, emf.Record{
			Dimensions:    map[string]string{DimClusterGroup: h.Name, DimApp: app},
			DimensionSets: appDims,
			Metrics:       []emf.Metric{m(MetricSnapshotAgeSeconds, emf.Seconds, h.SnapshotAge[app].Seconds())},
			Properties:    map[string]any{"snapshot_source": h.SnapshotSource},
		})
	}
	return out
}

// unreachable is the record published for a group when the database did not answer.
func unreachable(group string, res int) emf.Record {
	return emf.Record{
		Dimensions:    map[string]string{DimClusterGroup: group},
		DimensionSets: groupDims,
		Metrics:       []emf.Metric{{Name: MetricClusterDBReachable, Unit: emf.Count, Value: 0, Resolution: res}},
	}
}
