package alarmhandler

import (
	"fmt"

	"github.com/streamha/streamha/lambdas/health"
)

// Kinds of target.
const (
	KindFence = "fence" // claims active without holding the current term: stop it
	KindHung  = "hung"  // heartbeat stale: stop it if its task still runs
)

// Target is a node the handler means to stop, and why.
type Target struct {
	NodeID       string
	TaskARN      string
	Kind         string
	Why          string
	CheckRunning bool // stop only if DescribeTasks says RUNNING
}

// Which metrics lead to which checks. Alarms on any other metric are recorded, not acted on.
var (
	fenceMetrics = map[string]bool{"SplitBrain": true, "ActiveNodes": true, "ActiveHeartbeatAgeSeconds": true}
	hungMetrics  = map[string]bool{"HeartbeatAgeSeconds": true, "ActiveHeartbeatAgeSeconds": true, "LiveNodes": true}
)

// Actionable reports whether an ALARM on metric can lead to stopping tasks.
func Actionable(metric string) bool { return fenceMetrics[metric] || hungMetrics[metric] }

// Plan picks the nodes to stop for an ALARM on metric, from the group's current verdict (read
// after the alarm fired, so a cluster that healed in between is left alone):
//   - fence (split brain, active count, stale active): every node reporting active that is not the
//     lease holder of the current term;
//   - hung (heartbeat ages, live count, stale active): every node whose heartbeat is stale, if its
//     ECS task still runs.
//
// The lease holder of the current term that heartbeats is never a target.
func Plan(metric string, g health.Group) []Target {
	var out []Target
	seen := map[string]bool{}
	add := func(t Target) {
		if !seen[t.NodeID] {
			seen[t.NodeID] = true
			out = append(out, t)
		}
	}
	for _, n := range g.Nodes {
		if n.HoldsTerm && n.Live {
			continue // the healthy active: never
		}
		if fenceMetrics[metric] && g.Term > 0 && n.Role == "active" && n.NodeID != g.Holder {
			add(Target{NodeID: n.NodeID, TaskARN: n.TaskARN, Kind: KindFence,
				Why: fmt.Sprintf("reports active at term %d but term %d belongs to %q", n.ReportedTerm, g.Term, g.Holder)})
		}
		if hungMetrics[metric] && !n.Live {
			add(Target{NodeID: n.NodeID, TaskARN: n.TaskARN, Kind: KindHung, CheckRunning: true,
				Why: fmt.Sprintf("heartbeat %.0fs old", n.HeartbeatAge.Seconds())})
		}
	}
	return out
}
