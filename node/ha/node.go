// Package ha is the node's HA data path: ingest on the active, event sync to the passive, state
// persistence with queue trimming, promotion (restore, replay, then open), demotion and planned
// switchover. It is driven by the cluster.Runner's role changes.
package ha

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamha/streamha/node/cluster"
	"github.com/streamha/streamha/node/config"
	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/eventsync"
	"github.com/streamha/streamha/node/sink"
	"github.com/streamha/streamha/node/store"
)

// SnapshotStore is the persistence database as the data path needs it.
type SnapshotStore interface {
	Fence(ctx context.Context, group string, term int64) error
	SaveSnapshot(ctx context.Context, s store.Snapshot, keep int) (int64, error)
	LatestSnapshot(ctx context.Context, group, app string) (store.Snapshot, bool, error)
	ListSnapshots(ctx context.Context, group, app string) ([]store.Snapshot, error)
	ReadSnapshot(ctx context.Context, group, app string, revision int64) (store.Snapshot, bool, error)
	AcceptLossRequested(ctx context.Context, group, app string) (store.AcceptLoss, bool, error)
	ClearAcceptLoss(ctx context.Context, group, app string) error
}

// Options builds a Node.
type Options struct {
	Config    config.Config
	Apps      []*engine.App
	Node      cluster.NodeInfo
	Cluster   cluster.Store
	Snapshots SnapshotStore
	// Errors is the error store (on.error='store', sources' unmappable records); nil: Snapshots
	// when it is one (store.DB is), else none, and an app with on.error='store' is refused.
	Errors   ErrorStore
	Logger   *slog.Logger
	Registry prometheus.Registerer
	Sinks    sink.Config
	// SyncListener, when set, is used instead of listening on Config.SyncListen (tests).
	SyncListener net.Listener
	// RestoreBackoff and RestoreBackoffMax bound the wait between attempts when no snapshot
	// revision restores without loss (default 1 s doubling to 1 min; tests shorten them).
	RestoreBackoff, RestoreBackoffMax time.Duration
	// Sources, when set, are the ports the apps declare (@source): opened only once the node
	// is active and serving (after its promotion), closed at once when it stops serving.
	Sources Sources
	// Clock, when set, is the data path's time source for its decisions (tests); nil: the
	// process clock. A cluster.Clock satisfies it.
	Clock Clock
}

// Clock is the data path's source of time for its decisions.
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Sources are the listeners an active opens for its apps' @source annotations. Open must not
// block (a port that cannot be bound yet is retried in the background); Close closes the
// listeners before it returns, so the port refuses connections, and lets requests already
// submitted be answered. Close may be called when nothing is open.
type Sources interface {
	Open(term int64)
	Close()
}

// Node is one HA node's data path.
type Node struct {
	cfg       config.Config
	opts      Options
	log       *slog.Logger
	runner    *cluster.Runner
	server    *eventsync.Server
	apps      []*appState
	byName    map[string]*appState
	m         *metrics
	limits    Limits
	budget    *budget       // max_inflight_input_bytes
	outBudget *outputBudget // max_pending_output_bytes over all apps
	errors    ErrorStore    // nil: none
	replayMu  sync.Mutex    // one error store replay at a time

	timing Timing
	clock  Clock

	mu           sync.Mutex
	sess         Peer
	activeCancel context.CancelFunc
	activeCtx    context.Context // the serving term's context; nil when not serving
	stopDispatch func()          // stops the serving term's dispatchers (a switchover)
	// Goroutines node/ha starts, so that a demotion or a stop waits for them: activeWork is
	// the serving term's (dispatchers, tickers, persister, connector, releases when durable),
	// promoWork a promotion under way, bg the node's life (appliers).
	activeWork tracker
	promoWork  tracker
	bg         tracker
	handedOver atomic.Bool  // the switchover released the lease: the state is kept (retainOnStop)
	handoverTo atomic.Value // string: the peer of the last switchover
	lastPromo  atomic.Pointer[PromotionReport]

	draining atomic.Bool
	// roleChanged is closed and replaced at every role change, so a request held for a
	// takeover (holdForServing) wakes when this node starts serving.
	roleChanged atomic.Pointer[chan struct{}]
	// handoverUntil (unix ns, 0: none) is when the takeover announced by a switchover's
	// handover gives up: until then requests here wait for this node to serve.
	handoverUntil atomic.Int64
	retainedTerm  atomic.Int64 // term whose state the apps still hold after losing the lease
	inflight      atomic.Int64 // batches submitted and not yet answered
	gaps          atomic.Int64
	lastGap       atomic.Value // string
	restoreFail   atomic.Pointer[RestoreFailure]
	dialErr       atomic.Value // string: the active's last failed sync dial, "" once connected
}

// New builds a node; Run starts it.
func New(o Options) (*Node, error) {
	// The sync channel is always authenticated: no secret, no node.
	if err := o.Config.CheckAuthToken(); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	n := &Node{cfg: o.Config, opts: o, log: o.Logger, byName: map[string]*appState{}, limits: limitsOf(o.Config), outBudget: newOutputBudget(o.Config.MaxPendingOutputBytes)}
	n.timing, n.clock = TimingOf(o.Config), o.Clock
	if n.clock == nil {
		n.clock = systemClock{}
	}
	n.budget = newBudget(n.limits.MaxInflightInputBytes, n.timing.InputBudgetWait)
	n.errors = o.Errors
	if es, ok := o.Snapshots.(ErrorStore); ok && n.errors == nil {
		n.errors = es
	}
	for _, a := range o.Apps {
		if _, dup := n.byName[a.Name()]; dup {
			return nil, &config.Error{Key: "apps_dir", Err: fmt.Errorf("two apps are named %q", a.Name())}
		}
		if n.errors == nil {
			if s := storeSink(a); s != "" {
				return nil, &config.Error{Key: "apps_dir", Err: fmt.Errorf("app %s: sink %s has on.error='store' but the node has no error store", a.Name(), s)}
			}
		}
		st := newAppState(a, o.Logger, n.outBudget)
		n.apps = append(n.apps, st)
		n.byName[a.Name()] = st
	}
	sort.Slice(n.apps, func(i, j int) bool { return n.apps[i].name < n.apps[j].name })
	n.m = newMetrics(o.Registry, n)
	n.budget.refused = n.m.overloaded.Inc
	srv, err := eventsync.NewServer(eventsync.ServerConfig{
		Group: o.Config.Group, NodeID: o.Config.NodeID, Token: o.Config.AuthToken,
		MaxQueueBytes: o.Config.PassiveQueueMaxBytes, Logger: o.Logger,
		VerifyHolder: n.verifyHolder, Accept: n.acceptSession, OnHandover: n.onHandover, Applied: n.appliedPositions,
		// A dropped session may be the active's death: check its liveness lock at once.
		OnSessionEnd: func(int64, string) { n.runner.SuspectLeaderGone() },
	})
	if err != nil {
		return nil, &config.Error{Key: "auth_token", Err: err}
	}
	n.server = srv
	r, err := cluster.NewRunner(cluster.Config{
		Node: o.Node, Store: o.Cluster, Logger: o.Logger, Metrics: cluster.NewMetrics(o.Registry),
		Timing:  cluster.Timing{HeartbeatInterval: o.Config.HeartbeatInterval, Lease: o.Config.Lease, RenewDeadline: o.Config.RenewDeadline},
		Promote: n.promote,
		Status:  n.fillStatus,
		Ready:   n.checkRestorable,
		Holds:   n.holdsInputs,

		RestoreBackoff: o.RestoreBackoff, RestoreBackoffMax: o.RestoreBackoffMax,
	})
	if err != nil {
		return nil, &config.Error{Key: "lease", Err: err}
	}
	r.OnTransition(n.onTransition)
	n.runner = r
	if n.opts.Sources == nil {
		n.opts.Sources = noSources{}
	}
	return n, nil
}

// Runner exposes the coordination state (role, term, view of the group).
func (n *Node) Runner() *cluster.Runner { return n.runner }

// Run serves until ctx ends, then leaves cleanly: an active hands over to its passive (or
// persists when alone), releases the lease and deregisters.
func (n *Node) Run(ctx context.Context) error {
	ln := n.opts.SyncListener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", n.cfg.SyncListen); err != nil {
			return &config.Error{Key: "sync_listen", Err: err}
		}
	}
	go func() {
		if err := n.server.Serve(ln); err != nil {
			n.log.Error("sync server stopped", "err", err)
		}
	}()
	defer n.server.Close()
	actx, stopAppliers := context.WithCancel(context.Background())
	defer n.bg.closeAndWait()
	defer stopAppliers()
	for _, a := range n.apps {
		a := a
		n.bg.Go(func() { n.applier(actx, a) })
	}
	rctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.runner.Run(rctx) }()
	select {
	case err := <-done:
		cancel()
		return err
	case <-ctx.Done():
	}
	n.leave()
	cancel()
	return <-done
}

// leave is the clean shutdown of SIGTERM: switch over to the passive when there is one, else
// persist, so that nothing acknowledged depends on this process any more. The whole shutdown
// has shutdown_timeout (kept under the container's stop timeout); the switchover gets at most
// switchover_timeout of it, so a passive that never catches up still leaves the final persist
// a live context rather than one that expires just before SIGKILL.
func (n *Node) leave() {
	total, share := n.shutdownBudget()
	ctx, cancel := context.WithTimeout(context.Background(), total)
	defer cancel()
	// From here on the node never takes the lease; a promotion under way finishes first, so a
	// node that became active while being stopped leaves like any active (nothing it replayed
	// is dropped).
	n.runner.Leave(ctx)
	if _, ok := n.runner.Serving(); !ok {
		n.log.Info("leaving as passive: deregistering")
		return
	}
	swCtx, swCancel := context.WithTimeout(ctx, share)
	err := n.Switchover(swCtx)
	swCancel()
	if err != nil {
		n.log.Warn("no switchover on shutdown; persisting instead", "reason", err)
		if term, ok := n.runner.Serving(); ok {
			n.draining.Store(true)
			n.opts.Sources.Close()
			n.waitInflight(ctx)
			n.persistAll(ctx, term, true)
			n.flushOutputs(ctx)
		}
	}
}

// shutdownBudget is the whole shutdown's time and the switchover's share of it. A zero
// configuration (an Options built without config.Default) falls back to lease x 20 and half.
func (n *Node) shutdownBudget() (total, switchover time.Duration) {
	total, switchover = n.cfg.ShutdownTimeout, n.cfg.SwitchoverTimeout
	if total <= 0 {
		total = n.timing.LeaveTimeout
	}
	if switchover <= 0 || switchover >= total {
		switchover = total / 2
	}
	return total, switchover
}

// flushOutputs waits (bounded by ctx) until the sinks have written every releasable output, so
// a node leaving with no peer to take over does not leave them only in its snapshot.
func (n *Node) flushOutputs(ctx context.Context) {
	for ctx.Err() == nil {
		pending := 0
		for _, a := range n.apps {
			a.mu.Lock()
			for _, o := range a.outbox {
				if o.Seq > a.safe {
					break
				}
				pending++
			}
			a.mu.Unlock()
			a.poke()
		}
		if pending == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	n.log.Warn("left with outputs not yet written; they are in the snapshot and are written by the next active")
}

// waitInflight waits until every submitted batch has been answered (or ctx ends). New batches
// are refused while draining, so the count only falls.
func (n *Node) waitInflight(ctx context.Context) {
	for n.inflight.Load() > 0 && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
}

// verifyHolder is the passive's check of a sync session's claimed term: one read of the lease
// row must name `from` as the holder of exactly term. A peer that knows the secret but not the
// lease (a forged high term, an old term, another node's) is refused before the server changes
// anything; an expired lease still held under that term passes, its holder is about to demote.
func (n *Node) verifyHolder(ctx context.Context, term int64, from string) error {
	l, err := n.opts.Cluster.Leader(ctx, n.cfg.Group)
	if err != nil {
		return fmt.Errorf("cannot read the lease: %w", err)
	}
	switch {
	case term > l.Term:
		return fmt.Errorf("the cluster database's lease is at term %d, not %d", l.Term, term)
	case term < l.Term:
		return fmt.Errorf("term %d is superseded: the lease is at term %d", term, l.Term)
	case l.Holder != from:
		holder := l.Holder
		if holder == "" {
			holder = "nobody (released)"
		}
		return fmt.Errorf("term %d is held by %s, not %s", term, holder, from)
	}
	return nil
}

func (n *Node) acceptSession(term int64, from string) error {
	if r := n.runner.Role(); r != cluster.Passive {
		return fmt.Errorf("node %s is %s, not passive", n.cfg.NodeID, r)
	}
	if l := n.runner.View().Lease; term < l.Term {
		return fmt.Errorf("stale term %d: the lease is at term %d", term, l.Term)
	}
	if !n.keptFor(term, from) {
		n.dropRetained()
	}
	// Another node serves: this node's own restore failure, if any, no longer matters.
	n.clearRestoreFailure()
	n.runner.ClearRestoreFailure()
	return nil
}

// dropRetained forgets state kept from a lost term: another node serves now.
func (n *Node) dropRetained() {
	if n.retainedTerm.Swap(0) == 0 {
		return
	}
	for _, a := range n.apps {
		a.mu.Lock()
		if a.rt != nil && a.term != 0 {
			a.deactivateLocked()
		}
		a.mu.Unlock()
	}
}

// keptFor reports whether the state this node kept is the one a session of term from `from`
// continues: this node handed over to `from`, which took the very next term. The state is then
// kept until the new active's snapshot point supersedes it (a crash of the new active before
// its first snapshot must not leave the handed-over inputs in its memory alone).
func (n *Node) keptFor(term int64, from string) bool {
	kept := n.retainedTerm.Load()
	if kept == 0 || term != kept+1 {
		return false
	}
	for _, a := range n.apps {
		a.mu.Lock()
		ok := a.rt == nil || (a.kept.HandedOver && a.kept.Peer == from)
		a.mu.Unlock()
		if !ok {
			return false
		}
	}
	return true
}

// appliedPositions is what the passive reports with its acknowledgements: per hot app, the last
// input its runtime applied.
func (n *Node) appliedPositions() []eventsync.AppSeq {
	var out []eventsync.AppSeq
	for _, a := range n.apps {
		if a.hot.Load() {
			out = append(out, eventsync.AppSeq{App: a.name, Seq: a.hotApplied.Load()})
		}
	}
	return out
}

func (n *Node) onTransition(tr cluster.Transition) {
	n.m.role(tr)
	defer n.signalRoleChange()
	switch tr.To {
	case cluster.Active:
		// Promotion is complete (restored, replayed, serving): now the apps' own ports open.
		n.opts.Sources.Open(tr.Term)
	case cluster.Demoted, cluster.Stopped:
		n.opts.Sources.Close()
		n.stopActive(tr)
	}
}

type noSources struct{}

func (noSources) Open(int64) {}
func (noSources) Close()     {}

// stopActive stops serving at once: no more input, outputs or sync; the engine state is dropped
// and the node rejoins as a passive with an empty queue.
func (n *Node) stopActive(tr cluster.Transition) {
	// A promotion under way was cancelled by the runner: let it end first, so it cannot start
	// serving after this.
	n.promoWork.closeAndWait()
	n.promoWork.reopen()
	n.mu.Lock()
	cancel, sess := n.activeCancel, n.sess
	n.activeCancel, n.sess, n.activeCtx, n.stopDispatch = nil, nil, nil, nil
	n.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	n.activeWork.closeAndWait()
	n.activeWork.reopen()
	if sess != nil {
		// The dispatchers have stopped: tell the passive how far they wrote, so a promotion
		// there does not emit again what the last write before the demotion delivered.
		for _, a := range n.apps {
			a.mu.Lock()
			upTo := a.deliveredLocked()
			a.mu.Unlock()
			if upTo > 0 {
				sess.Delivered(a.name, upTo)
			}
		}
		sess.Close(nil)
	}
	// A node that lost its lease (not one handing over) keeps its state: if it wins the very next
	// term, nobody else served in between and that state is the newest there is (the passive's
	// queue may be gone by then). Any other outcome drops it.
	handedOver := n.handedOver.Swap(false)
	retain := retainOnStop(tr.From, tr.To, n.draining.Load(), handedOver)
	peer, _ := n.handoverTo.Load().(string)
	for _, a := range n.apps {
		a.mu.Lock()
		switch {
		case retain && a.rt != nil:
			a.kept = keptState{HandedOver: handedOver, Peer: peer}
		case tr.From == cluster.Promoting && a.isHotLocked():
			// A failed promotion leaves a passive runtime as it was: it still follows the
			// queue that was put back.
		default:
			a.deactivateLocked()
		}
		a.mu.Unlock()
	}
	if retain {
		n.retainedTerm.Store(tr.Term)
		if handedOver {
			n.log.Info("keeping the handed-over state until the new active's first snapshot", "term", tr.Term, "to", peer)
		} else {
			n.log.Info("keeping state in case this node wins the next term", "term", tr.Term)
		}
	} else {
		n.retainedTerm.Store(0)
	}
	if tr.From != cluster.Promoting {
		// After a failed promotion the queue was put back: it may hold the only copy of
		// acknowledged inputs, for the next attempt.
		n.server.Reset()
	}
	n.draining.Store(false)
	// Passive again: the appliers may follow the next active's queue.
	for _, a := range n.apps {
		a.mu.Lock()
		a.passive = true
		a.mu.Unlock()
	}
	if tr.From == cluster.Active || tr.From == cluster.Promoting {
		n.log.Warn("stopped serving", "term", tr.Term, "reason", tr.Reason)
	}
}

func (n *Node) session() Peer {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.sess == nil || n.sess.Closed() {
		return nil
	}
	return n.sess
}

// App returns the named app's definition.
func (n *Node) App(name string) (*engine.App, bool) {
	a, ok := n.byName[name]
	if !ok {
		return nil, false
	}
	return a.app, true
}

// ErrNotActive is returned to clients of a node that does not serve; ActiveURL says where to go.
var ErrNotActive = errors.New("not active")

// NotActiveError carries the REST URL of the node that serves, when known.
type NotActiveError struct{ ActiveURL string }

func (e *NotActiveError) Error() string { return "not active" }

// Is makes errors.Is(err, ErrNotActive) hold.
func (e *NotActiveError) Is(target error) bool { return target == ErrNotActive }

// notActive builds the redirect error: the lease holder's REST address, or during a switchover
// the peer taking over.
func (n *Node) notActive() error {
	v := n.runner.View()
	target := v.Lease.Holder
	if target == n.cfg.NodeID || target == "" || n.draining.Load() {
		target = ""
		for _, nd := range v.Nodes {
			if nd.NodeID != n.cfg.NodeID && nd.HeartbeatAge < n.cfg.Lease {
				target = nd.NodeID
			}
		}
	}
	for _, nd := range v.Nodes {
		if nd.NodeID == target {
			return &NotActiveError{ActiveURL: nd.Properties[cluster.PropRESTAddr]}
		}
	}
	return &NotActiveError{}
}
