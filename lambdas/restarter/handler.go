// Package restarter is the Lambda behind EventBridge "ECS Task State Change" events of the node
// tasks. It keeps the load balancer's target groups in step with the tasks: a task that reaches
// RUNNING has its IP registered in every target group, one that stops (or is being stopped) has
// it deregistered; the target groups' /ha/active health check then keeps traffic on the active.
// It records every stop in the ledger (which node, whether it was the active, why), and makes
// sure the pair becomes whole again: when the service does not replace the task it forces a new
// deployment, with exponential backoff kept in DynamoDB, and it stops doing so and raises
// CrashLoop when the group keeps crashing.
package restarter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/streamha/streamha/lambdas/clusterdb"
	"github.com/streamha/streamha/lambdas/ecsapi"
	"github.com/streamha/streamha/lambdas/elbapi"
	"github.com/streamha/streamha/lambdas/emf"
	"github.com/streamha/streamha/lambdas/idempotency"
	"github.com/streamha/streamha/lambdas/ledger"
	"github.com/streamha/streamha/node/cluster"
)

// NodeFinder looks a task up in the cluster database; *clusterdb.Reader implements it.
type NodeFinder interface {
	NodeByTask(ctx context.Context, taskARN string) (clusterdb.Node, cluster.Lease, bool, error)
}

// Ledger is what the restarter reads and writes; *ledger.Ledger implements it.
type Ledger interface {
	PutStop(ctx context.Context, s ledger.Stop) error
	Stops(ctx context.Context, group string, since time.Time) ([]ledger.Stop, error)
	GetRestart(ctx context.Context, group string) (ledger.RestartState, error)
	PutRestart(ctx context.Context, st *ledger.RestartState) error
	PutAction(ctx context.Context, a ledger.Action) error
}

// Handler handles task state change events. Finder, ELB, Ledger and Once may be nil (no ELB:
// no target upkeep).
type Handler struct {
	Config  Config
	Finder  NodeFinder
	ECS     ecsapi.API
	ELB     elbapi.API
	Ledger  Ledger
	Once    idempotency.Doer
	Metrics *emf.Writer
	Log     *slog.Logger
	Now     func() time.Time
	Sleep   func(ctx context.Context, d time.Duration) error
}

// Result is what one invocation returns.
type Result struct {
	EventID    string `json:"event_id"`
	Ignored    string `json:"ignored,omitempty"` // why the event was not for us
	TaskARN    string `json:"task_arn"`
	Group      string `json:"group"`
	NodeID     string `json:"node_id"`
	NodeSource string `json:"node_source"` // cluster_db, task_env, container_name
	WasActive  bool   `json:"was_active"`
	Expected   bool   `json:"expected"`
	Cause      string `json:"cause"`
	CrashLoop  bool   `json:"crash_loop"`
	Service    string `json:"service,omitempty"`
	Restart    string `json:"restart"` // what was done to make the pair whole
	Duplicate  bool   `json:"duplicate,omitempty"`
	TargetIP   string `json:"target_ip,omitempty"`
	Targets    string `json:"targets,omitempty"` // what was done with the load balancer targets
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// Handle processes one event, once per event id.
func (h *Handler) Handle(ctx context.Context, ev events.CloudWatchEvent) (Result, error) {
	r, dup, err := idempotency.OnceEvent(ctx, h.Once, ev, func(ctx context.Context) (Result, error) { return h.handle(ctx, ev) })
	if err != nil {
		return Result{EventID: ev.ID}, err
	}
	if dup {
		r.Duplicate = true
		h.Log.InfoContext(ctx, "duplicate event: already handled", "event_id", ev.ID, "task_arn", r.TaskARN)
	}
	return r, nil
}

func (h *Handler) handle(ctx context.Context, ev events.CloudWatchEvent) (Result, error) {
	d, err := ParseDetail(ev.Detail)
	if err != nil {
		return Result{EventID: ev.ID}, err
	}
	res := Result{EventID: ev.ID, TaskARN: d.TaskARN, Service: d.Service()}
	if h.Config.Cluster != "" && !ecsapi.SameCluster(d.ClusterARN, h.Config.Cluster) {
		res.Ignored = "cluster " + d.ClusterARN
		return res, nil
	}
	move := h.targetMove(d)
	if d.LastStatus != "STOPPED" && move == "" {
		res.Ignored = "lastStatus " + d.LastStatus
		return res, nil
	}
	h.identify(ctx, d, &res)
	// Deregister first: the stop handling below may wait a minute for the service.
	terr := h.targets(ctx, ev, d, move, &res)
	if d.LastStatus != "STOPPED" {
		return res, terr
	}
	res.Expected, res.Cause = Classify(d)
	log := h.Log.With("event_id", ev.ID, "task_arn", d.TaskARN, "group", res.Group, "node_id", res.NodeID)
	stoppedAt := d.StoppedTime(ev.Time)
	if stoppedAt.IsZero() {
		stoppedAt = h.now()
	}
	stop := ledger.Stop{Group: res.Group, TaskARN: d.TaskARN, NodeID: res.NodeID, WasActive: res.WasActive,
		StopCode: d.StopCode, Reason: d.StoppedReason, ExitCodes: d.ExitCodes(), Expected: res.Expected,
		Cause: res.Cause, StoppedAt: stoppedAt, EventID: ev.ID}
	log.InfoContext(ctx, "node task stopped", "stop_code", d.StopCode, "reason", d.StoppedReason,
		"exit_codes", stop.ExitCodes, "expected", res.Expected, "cause", res.Cause, "was_active", res.WasActive)
	if h.Ledger != nil {
		if err := h.Ledger.PutStop(ctx, stop); err != nil {
			return res, errors.Join(fmt.Errorf("record stop: %w", err), terr)
		}
	}
	st, err := h.crashLoop(ctx, log, &res)
	if err != nil {
		return res, errors.Join(err, terr)
	}
	forced := false
	if !res.CrashLoop {
		forced, err = h.makeWhole(ctx, log, d, stoppedAt, st, &res)
	}
	if h.Metrics != nil {
		if werr := h.Metrics.Write(record(res.Group, res.CrashLoop, !res.Expected, forced)); werr != nil {
			log.ErrorContext(ctx, "emf record rejected", "error", werr.Error())
		}
	}
	return res, errors.Join(err, terr)
}

// identify names the node and group: from the cluster database when it knows the task, else
// from the task's environment overrides, else from the container name and the default group.
func (h *Handler) identify(ctx context.Context, d TaskDetail, res *Result) {
	if h.Finder != nil {
		n, lease, ok, err := h.Finder.NodeByTask(ctx, d.TaskARN)
		if err != nil {
			h.Log.WarnContext(ctx, "cluster database unreachable: naming the node from the event", "error", err.Error())
		}
		if ok {
			res.Group, res.NodeID, res.NodeSource = n.Group, n.NodeID, "cluster_db"
			res.WasActive = (lease.Holder == n.NodeID && lease.Term > 0) || n.Status.Role == "active"
			return
		}
	}
	res.Group = d.Env(EnvNodeGroup, EnvNodeGroupLegacy)
	if res.Group == "" {
		res.Group = h.Config.DefaultGroup
	}
	if id := d.Env(EnvNodeID, EnvNodeIDLegacy); id != "" {
		res.NodeID, res.NodeSource = id, "task_env"
		return
	}
	if len(d.Containers) > 0 {
		res.NodeID, res.NodeSource = d.Containers[0].Name, "container_name"
	}
}

// crashLoop counts the group's recent unexpected stops; above the threshold it halts automatic
// restarts (kept in the restart state), and it lifts the halt once the window has quieted.
func (h *Handler) crashLoop(ctx context.Context, log *slog.Logger, res *Result) (ledger.RestartState, error) {
	st := ledger.RestartState{Group: res.Group}
	if h.Ledger == nil {
		return st, nil
	}
	stops, err := h.Ledger.Stops(ctx, res.Group, h.now().Add(-h.Config.CrashLoopWindow))
	if err != nil {
		return st, fmt.Errorf("count recent stops: %w", err)
	}
	n := 0
	for _, s := range stops {
		if CountsTowardCrashLoop(s.Expected, s.Cause) {
			n++
		}
	}
	if st, err = h.Ledger.GetRestart(ctx, res.Group); err != nil {
		return st, err
	}
	res.CrashLoop = n > h.Config.CrashLoopStops
	if res.CrashLoop == st.Halted {
		return st, nil
	}
	st.Halted = res.CrashLoop
	st.HaltReason = ""
	if res.CrashLoop {
		st.HaltReason = fmt.Sprintf("%d unexpected stops within %s", n, h.Config.CrashLoopWindow)
		log.ErrorContext(ctx, "crash loop: automatic restarts halted; a human must look", "unexpected_stops", n, "window", h.Config.CrashLoopWindow.String())
	} else {
		log.InfoContext(ctx, "crash loop over: automatic restarts resumed")
	}
	if err := h.Ledger.PutRestart(ctx, &st); err != nil {
		log.WarnContext(ctx, "restart state write lost to a concurrent invocation", "error", err.Error())
	}
	return st, nil
}
