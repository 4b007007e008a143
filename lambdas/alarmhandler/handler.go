// Package alarmhandler is the Lambda behind EventBridge "CloudWatch Alarm State Change" events of
// the stack's alarms. On ALARM it re-reads the cluster and stops the ECS task of a node that must
// not run: one claiming active without holding the current term (fencing), or one whose heartbeat
// is stale while its task still runs (hung). Every decision is written to the ledger, and each
// event is handled once although EventBridge may deliver it twice.
package alarmhandler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/streamha/streamha/lambdas/clusterdb"
	"github.com/streamha/streamha/lambdas/ecsapi"
	"github.com/streamha/streamha/lambdas/health"
	"github.com/streamha/streamha/lambdas/idempotency"
	"github.com/streamha/streamha/lambdas/ledger"
)

// ClusterReader reads the cluster database; *clusterdb.Reader implements it.
type ClusterReader interface {
	Read(ctx context.Context, groups ...string) ([]clusterdb.Group, error)
}

// ActionLog is where decisions are recorded; *ledger.Ledger implements it.
type ActionLog interface {
	PutAction(ctx context.Context, a ledger.Action) error
}

// Handler handles alarm state changes. Ledger and Once may be nil (no table configured); Reader
// may be nil (no database configured: ALARMs then fail and are retried).
type Handler struct {
	Config Config
	Reader ClusterReader
	ECS    ecsapi.API
	Ledger ActionLog
	Once   idempotency.Doer
	Log    *slog.Logger
	Now    func() time.Time
}

// Outcome is one action in the result.
type Outcome struct {
	Kind    string `json:"kind"`
	NodeID  string `json:"node_id,omitempty"`
	TaskARN string `json:"task_arn,omitempty"`
	Result  string `json:"result"`
	Reason  string `json:"reason,omitempty"`
	err     error
}

// Result is what one invocation returns.
type Result struct {
	EventID   string    `json:"event_id"`
	Alarm     string    `json:"alarm"`
	State     string    `json:"state"`
	Metric    string    `json:"metric"`
	Group     string    `json:"group"`
	Term      int64     `json:"term"`
	Actions   []Outcome `json:"actions"`
	Duplicate bool      `json:"duplicate,omitempty"`
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
		h.Log.InfoContext(ctx, "duplicate event: already handled", "event_id", ev.ID, "alarm", r.Alarm)
	}
	return r, nil
}

func (h *Handler) handle(ctx context.Context, ev events.CloudWatchEvent) (Result, error) {
	d, err := ParseDetail(ev.Detail)
	if err != nil {
		return Result{EventID: ev.ID}, err
	}
	res := Result{EventID: ev.ID, Alarm: d.AlarmName, State: d.State.Value}
	subj, ok := d.Subject(h.Config.Namespace)
	res.Metric, res.Group = subj.Metric, subj.Group
	log := h.Log.With("event_id", ev.ID, "alarm", d.AlarmName, "state", d.State.Value, "metric", subj.Metric, "group", subj.Group)
	switch {
	case !ok || subj.Group == "":
		return h.recordOnly(ctx, log, res, "alarm names no metric of namespace "+h.Config.Namespace+" with a ClusterGroup dimension")
	case d.State.Value != StateAlarm:
		return h.recordOnly(ctx, log, res, "transition to "+d.State.Value+" recorded, no action")
	case !Actionable(subj.Metric):
		return h.recordOnly(ctx, log, res, "no automatic action for metric "+subj.Metric)
	}
	if h.Reader == nil {
		return res, errors.New("alarm needs the cluster database but CLUSTER_DB_URL is not set")
	}
	groups, err := h.Reader.Read(ctx, subj.Group)
	if err != nil {
		log.ErrorContext(ctx, "cluster database unreachable: cannot judge the alarm; the event will be retried", "error", err.Error())
		_, _ = h.recordOnly(ctx, log, res, "cluster database unreachable: "+err.Error())
		return res, fmt.Errorf("read group %s: %w", subj.Group, err)
	}
	v := health.Assess(groups[0], h.Config.Health)
	res.Term = v.Term
	targets := Plan(subj.Metric, v)
	if len(targets) == 0 {
		return h.recordOnly(ctx, log, res, "condition no longer holds: no node to stop")
	}
	var failed []error
	for i, t := range targets {
		o := h.act(ctx, log, d, subj, v, t)
		if o.err != nil {
			failed = append(failed, o.err)
		}
		res.Actions = append(res.Actions, o)
		h.put(ctx, log, ledger.Action{Group: subj.Group, EventID: ev.ID, Seq: i, Alarm: d.AlarmName, Metric: subj.Metric,
			State: d.State.Value, Kind: o.Kind, NodeID: t.NodeID, TaskARN: t.TaskARN, Term: v.Term, Reason: o.Reason,
			DryRun: h.Config.DryRun, Result: o.Result, At: h.now()})
	}
	if len(failed) > 0 { // fail the invocation so EventBridge retries; stopping twice is harmless
		return res, fmt.Errorf("alarm %s: %w", d.AlarmName, errors.Join(failed...))
	}
	return res, nil
}

// act stops one target's task, unless it has none, no longer runs, or this is a dry run.
func (h *Handler) act(ctx context.Context, log *slog.Logger, d AlarmDetail, subj Subject, v health.Group, t Target) Outcome {
	reason := ecsapi.Truncate(fmt.Sprintf("%s %s node %s (alarm %s on %s, term %d): %s",
		ecsapi.FenceReasonPrefix, t.Kind, t.NodeID, d.AlarmName, subj.Metric, v.Term, t.Why))
	o := Outcome{Kind: "stop_task", NodeID: t.NodeID, TaskARN: t.TaskARN, Reason: reason}
	log = log.With("node_id", t.NodeID, "task_arn", t.TaskARN, "target", t.Kind)
	if t.TaskARN == "" {
		o.Kind, o.Result = "none", "node registered no task_arn"
		log.WarnContext(ctx, "cannot stop node: no task ARN registered", "why", t.Why)
		return o
	}
	cluster := h.Config.Cluster
	if cluster == "" {
		cluster = ecsapi.ClusterOfTask(t.TaskARN)
	}
	if t.CheckRunning {
		st, err := ecsapi.TaskStatus(ctx, h.ECS, cluster, t.TaskARN)
		if err != nil {
			o.Result, o.err = "error: "+err.Error(), err
			log.ErrorContext(ctx, "describe task failed", "error", err.Error())
			return o
		}
		if st != "RUNNING" {
			o.Kind, o.Result = "none", "task is "+st+": the service handles it"
			log.InfoContext(ctx, "stale node's task no longer runs", "task_status", st)
			return o
		}
	}
	if h.Config.DryRun {
		o.Result = "dry_run"
		log.WarnContext(ctx, "DRY_RUN: would stop task", "reason", reason)
		return o
	}
	_, err := h.ECS.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String(cluster), Task: aws.String(t.TaskARN), Reason: aws.String(reason)})
	if err != nil {
		o.Result, o.err = "error: "+err.Error(), fmt.Errorf("stop task %s: %w", t.TaskARN, err)
		log.ErrorContext(ctx, "stop task failed", "error", err.Error())
		return o
	}
	o.Result = "stopped"
	log.WarnContext(ctx, "stopped task", "reason", reason)
	return o
}

func (h *Handler) recordOnly(ctx context.Context, log *slog.Logger, res Result, why string) (Result, error) {
	log.InfoContext(ctx, "alarm recorded", "why", why)
	group := res.Group
	if group == "" {
		group = "*"
	}
	h.put(ctx, log, ledger.Action{Group: group, EventID: res.EventID, Alarm: res.Alarm, Metric: res.Metric, State: res.State,
		Kind: "record", Term: res.Term, Reason: why, DryRun: h.Config.DryRun, Result: "no_action", At: h.now()})
	res.Actions = append(res.Actions, Outcome{Kind: "record", Result: "no_action", Reason: why})
	return res, nil
}

func (h *Handler) put(ctx context.Context, log *slog.Logger, a ledger.Action) {
	if h.Ledger == nil {
		return
	}
	if err := h.Ledger.PutAction(ctx, a); err != nil {
		log.ErrorContext(ctx, "ledger write failed", "error", err.Error())
	}
}
