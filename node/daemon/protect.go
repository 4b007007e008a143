package daemon

import (
	"context"
	"log/slog"
	"time"

	"github.com/streamha/streamha/node/cluster"
	"github.com/streamha/streamha/node/ecsmeta"
	"github.com/streamha/streamha/node/ha"
)

// ProtectionExpiry is how long a protection set by the active lasts unless renewed: a node that
// hangs without dying loses it within this time, and a deployment can then replace it.
const ProtectionExpiry = 10 * time.Minute

// ProtectTask keeps ECS task scale-in protection on while the node is the active (promoting or
// serving) and no deployment successor is in sync, and off otherwise, so a deployment replaces
// the passive first and stops the active once, after the new passive holds the state (one
// planned switchover). self is what the node registered (task_definition, started_at).
// check is how often the guard looks at the node without a role change (0: 5 s). stop ends
// the guard and clears a protection it set.
func ProtectTask(node *ha.Node, self cluster.NodeInfo, p *ecsmeta.Protector, check time.Duration, log *slog.Logger) (stop func()) {
	g := &ecsmeta.Guard{P: p, Check: check, Log: log, Want: func() bool { return wantProtection(node, self) }}
	node.Runner().OnTransition(func(cluster.Transition) { g.Kick() })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); g.Run(ctx) }()
	return func() { cancel(); <-done }
}

func wantProtection(node *ha.Node, self cluster.NodeInfo) bool {
	switch node.Runner().Role() {
	case cluster.Promoting, cluster.Active:
	default:
		return false
	}
	st := node.Status()
	if st.Draining || !st.Peer.Synced || st.Peer.ID == "" {
		return !st.Draining
	}
	for _, nd := range node.Runner().View().Nodes {
		if nd.NodeID == st.Peer.ID && ecsmeta.DeploySuccessor(
			self.Properties[ecsmeta.PropTaskDefinition], self.Properties[cluster.PropStarted],
			nd.Properties[ecsmeta.PropTaskDefinition], nd.Properties[cluster.PropStarted]) {
			return false
		}
	}
	return true
}
