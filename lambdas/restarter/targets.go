package restarter

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/streamha/streamha/lambdas/elbapi"
	"github.com/streamha/streamha/lambdas/ledger"
)

// What a task state change means for the load balancer's targets.
const (
	MoveRegister   = "register_targets"   // the task runs: its IP goes into every target group
	MoveDeregister = "deregister_targets" // the task stops or is stopping: its IP comes out
)

// targetMove says what the event means for the targets: register a running task, deregister a
// stopped or stopping one, or "" (nothing: target upkeep off, another service's task, or a task
// still starting). The NLB's /ha/active health check, not this, decides which target is served.
func (h *Handler) targetMove(d TaskDetail) string {
	switch {
	case len(h.Config.TargetGroups) == 0 || h.ELB == nil:
		return ""
	case h.Config.Service != "" && d.Service() != h.Config.Service:
		return ""
	case d.LastStatus == "STOPPED" || d.DesiredStatus == "STOPPED":
		return MoveDeregister
	case d.LastStatus == "RUNNING":
		return MoveRegister
	}
	return ""
}

// targets registers or deregisters the task's IP in every target group and records what it
// did in the ledger. An error is returned only when an ELB call failed, so the event is retried.
func (h *Handler) targets(ctx context.Context, ev events.CloudWatchEvent, d TaskDetail, move string, res *Result) error {
	if move == "" {
		return nil
	}
	ip := d.PrivateIPv4()
	res.TargetIP = ip
	groups := make([]string, len(h.Config.TargetGroups))
	for i, g := range h.Config.TargetGroups {
		groups[i] = g.String()
	}
	log := h.Log.With("event_id", ev.ID, "task_arn", d.TaskARN, "group", res.Group, "node_id", res.NodeID,
		"ip", ip, "target_groups", groups, "last_status", d.LastStatus, "desired_status", d.DesiredStatus)
	verb := map[string]string{MoveRegister: "register", MoveDeregister: "deregister"}[move]
	var err error
	outcome := "" // the ledger's result: registered, deregistered, dry_run, no_ip or error
	switch {
	case ip == "":
		outcome = "no_ip"
		res.Targets = "no_ip: the event names no private IPv4 address, nothing to " + verb
		log.ErrorContext(ctx, "cannot "+verb+" targets: no private IPv4 address in the event")
	case h.Config.DryRun:
		outcome = "dry_run"
		res.Targets = "dry_run: would " + verb + " " + ip
		log.WarnContext(ctx, "DRY_RUN: would "+verb+" the task's IP in the target groups")
	case move == MoveRegister:
		if err = elbapi.Register(ctx, h.ELB, h.Config.TargetGroups, ip); err == nil {
			outcome, res.Targets = "registered", "registered "+ip
			log.InfoContext(ctx, "registered the task's IP in the target groups")
		}
	default:
		if err = elbapi.Deregister(ctx, h.ELB, h.Config.TargetGroups, ip); err == nil {
			outcome, res.Targets = "deregistered", "deregistered "+ip
			log.InfoContext(ctx, "deregistered the task's IP from the target groups")
		}
	}
	if err != nil {
		outcome, res.Targets = "error", "error: "+err.Error()
		log.ErrorContext(ctx, verb+" targets failed", "error", err.Error())
	}
	if h.Ledger != nil {
		a := ledger.Action{Group: res.Group, EventID: ev.ID, Kind: move, NodeID: res.NodeID, TaskARN: d.TaskARN,
			State: d.LastStatus + "/" + d.DesiredStatus, DryRun: h.Config.DryRun, At: h.now(),
			Reason: fmt.Sprintf("task %s (desired %s): %s %s", d.LastStatus, d.DesiredStatus, ip, strings.Join(groups, ",")),
			Result: outcome}
		if perr := h.Ledger.PutAction(ctx, a); perr != nil {
			log.WarnContext(ctx, "could not record the target action", "error", perr.Error())
		}
	}
	if err != nil {
		return fmt.Errorf("%s targets of %s: %w", verb, d.TaskARN, err)
	}
	return nil
}
