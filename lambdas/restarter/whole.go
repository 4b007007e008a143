package restarter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/streamha/streamha/lambdas/ecsapi"
	"github.com/streamha/streamha/lambdas/ledger"
)

// makeWhole waits up to the grace period (counted from the stop) for the service to replace the
// task; if it does not, it forces a new deployment unless the backoff says wait. It reports
// whether it forced one.
func (h *Handler) makeWhole(ctx context.Context, log *slog.Logger, d TaskDetail, stoppedAt time.Time, st ledger.RestartState, res *Result) (bool, error) {
	if res.Service == "" {
		res.Restart = "not a service task: nothing replaces it"
		return false, nil
	}
	cluster := d.ClusterARN
	if cluster == "" {
		cluster = h.Config.Cluster
	}
	if cluster == "" {
		cluster = ecsapi.ClusterOfTask(d.TaskARN)
	}
	deadline := stoppedAt.Add(h.Config.Grace)
	if dl, ok := ctx.Deadline(); ok && dl.Add(-3*time.Second).Before(deadline) {
		deadline = dl.Add(-3 * time.Second)
	}
	var svc ecsapi.ServiceHealth
	for {
		var err error
		if svc, err = ecsapi.DescribeService(ctx, h.ECS, cluster, res.Service); err != nil {
			return false, err
		}
		switch {
		case !svc.Found || svc.Status != "ACTIVE":
			res.Restart = "service " + res.Service + " is not active: nothing to restart"
			return false, nil
		case svc.Whole() && !svc.RolledBack:
			res.Restart = fmt.Sprintf("service replacing: %d running, %d pending of %d", svc.Running, svc.Pending, svc.Desired)
			h.resetBackoff(ctx, log, st)
			return false, nil
		case svc.RolledBack:
			// a failed deployment will not heal by waiting
		case h.now().Before(deadline):
			if err := h.sleep(ctx, h.Config.Poll); err != nil {
				return false, err
			}
			continue
		}
		break
	}
	return h.force(ctx, log, cluster, st, svc, res)
}

func (h *Handler) force(ctx context.Context, log *slog.Logger, cluster string, st ledger.RestartState, svc ecsapi.ServiceHealth, res *Result) (bool, error) {
	now := h.now()
	why := fmt.Sprintf("%d running, %d pending of %d, rollout %s %s", svc.Running, svc.Pending, svc.Desired, svc.RolloutState, svc.RolloutReason)
	if now.Before(st.NextAllowedAt) {
		res.Restart = "backoff until " + st.NextAllowedAt.UTC().Format(time.RFC3339) + ": " + why
		log.WarnContext(ctx, "service not whole, forced deployment deferred by backoff", "next_allowed", st.NextAllowedAt, "why", why)
		return false, nil
	}
	prev := st
	st.Attempts++
	st.LastAttemptAt = now
	st.NextAllowedAt = now.Add(h.Config.Backoff(st.Attempts))
	if h.Ledger != nil { // claim the attempt first: of two concurrent invocations only one forces
		if err := h.Ledger.PutRestart(ctx, &st); err != nil {
			if errors.Is(err, ledger.ErrConflict) {
				res.Restart = "another invocation is restarting the service"
				return false, nil
			}
			return false, err
		}
	}
	if h.Config.DryRun {
		res.Restart = "dry_run: would force a new deployment: " + why
		log.WarnContext(ctx, "DRY_RUN: would force a new deployment", "service", res.Service, "why", why)
		return false, nil
	}
	_, err := h.ECS.UpdateService(ctx, &ecs.UpdateServiceInput{
		Cluster: aws.String(cluster), Service: aws.String(res.Service), ForceNewDeployment: true,
	})
	if err != nil {
		if h.Ledger != nil { // give the attempt back so the retry is not held off by backoff
			prev.Version = st.Version
			if perr := h.Ledger.PutRestart(context.WithoutCancel(ctx), &prev); perr != nil {
				log.WarnContext(ctx, "could not give back the restart attempt", "error", perr.Error())
			}
		}
		return false, fmt.Errorf("force new deployment of %s: %w", res.Service, err)
	}
	res.Restart = fmt.Sprintf("forced new deployment (attempt %d, next allowed after %s): %s", st.Attempts, h.Config.Backoff(st.Attempts), why)
	log.WarnContext(ctx, "forced new deployment", "service", res.Service, "attempt", st.Attempts, "why", why)
	return true, nil
}

func (h *Handler) resetBackoff(ctx context.Context, log *slog.Logger, st ledger.RestartState) {
	if h.Ledger == nil || st.Attempts == 0 {
		return
	}
	st.Attempts, st.NextAllowedAt = 0, time.Time{}
	if err := h.Ledger.PutRestart(ctx, &st); err != nil {
		log.WarnContext(ctx, "backoff reset lost to a concurrent invocation", "error", err.Error())
	}
}

func (h *Handler) sleep(ctx context.Context, d time.Duration) error {
	if h.Sleep != nil {
		return h.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
