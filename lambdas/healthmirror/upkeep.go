package healthmirror

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/streamha/streamha/lambdas/elbapi"
	"github.com/streamha/streamha/lambdas/health"
)

// ECS task tags the mirror keeps on every live node task, so the ECS console's task list shows
// which task is active (add the streamha:role column in the console's tag filter or table).
const (
	TagRole = "streamha:role"
	TagTerm = "streamha:term"
)

// TagAPI is the ECS call the mirror makes; *ecs.Client implements it.
type TagAPI interface {
	TagResource(ctx context.Context, in *ecs.TagResourceInput, opts ...func(*ecs.Options)) (*ecs.TagResourceOutput, error)
}

// Upkeep is what the mirror keeps in line with the database on each sample: the load balancer's
// target groups (the restarter registers tasks from events, which can be lost or arrive out of
// order; this repairs that within a minute) and the role tags of the node tasks. Nil parts are
// skipped. Nothing is changed from a view that shows no live node: an unreachable or empty
// database never empties the target groups.
type Upkeep struct {
	Group        string // the cluster group whose nodes are the targets
	ELB          elbapi.ReconcileAPI
	TargetGroups []elbapi.TargetGroup
	ECS          TagAPI
	DryRun       bool

	mu     sync.Mutex
	tagged map[string]string // task ARN -> "role/term" last tagged by this container
}

// UpkeepResult is what one sample changed.
type UpkeepResult struct {
	Targets []elbapi.Change `json:"targets,omitempty"`
	Tagged  []string        `json:"tagged,omitempty"`
	Error   string          `json:"error,omitempty"`
}

// Run reconciles for the verdict of the upkeep's group.
func (u *Upkeep) Run(ctx context.Context, g health.Group, log *slog.Logger) UpkeepResult {
	var res UpkeepResult
	if g.Name != u.Group {
		return res
	}
	var want []string
	for _, n := range g.Nodes {
		// Every live node is a target (the passive too): the NLB's /ha/active check picks the
		// active, and a failover then needs no registration first.
		if n.Live && n.IP != "" && !n.RestoreFailed {
			want = append(want, n.IP)
		}
	}
	if u.ELB != nil && len(u.TargetGroups) > 0 && len(want) > 0 {
		changes, err := elbapi.Reconcile(ctx, u.ELB, u.TargetGroups, want, u.DryRun)
		res.Targets = changes
		for _, c := range changes {
			log.WarnContext(ctx, "target group out of line with the cluster database", "action", c.Action,
				"target_group", c.TargetGroup, "ip", c.IP, "port", c.Port, "dry_run", u.DryRun)
		}
		if err != nil {
			res.Error = err.Error()
			log.ErrorContext(ctx, "target reconciliation failed", "error", err.Error())
		}
	}
	if u.ECS != nil {
		for _, n := range g.Nodes {
			if !n.Live || n.TaskARN == "" {
				continue
			}
			role := n.Role
			if role == "" {
				role = "unknown"
			}
			term := strconv.FormatInt(n.ReportedTerm, 10)
			if u.seen(n.TaskARN, role+"/"+term) {
				continue
			}
			if u.DryRun {
				res.Tagged = append(res.Tagged, "dry_run:"+n.TaskARN)
				continue
			}
			_, err := u.ECS.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(n.TaskARN), Tags: []ecstypes.Tag{
				{Key: aws.String(TagRole), Value: aws.String(role)}, {Key: aws.String(TagTerm), Value: aws.String(term)}}})
			if err != nil {
				msg := fmt.Sprintf("tag %s: %v", n.TaskARN, err)
				if res.Error == "" {
					res.Error = msg
				}
				log.WarnContext(ctx, "cannot tag the node task", "task_arn", n.TaskARN, "error", err.Error())
				continue
			}
			u.remember(n.TaskARN, role+"/"+term)
			res.Tagged = append(res.Tagged, n.TaskARN)
		}
	}
	return res
}

func (u *Upkeep) seen(arn, v string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.tagged[arn] == v
}

func (u *Upkeep) remember(arn, v string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.tagged == nil {
		u.tagged = map[string]string{}
	}
	u.tagged[arn] = v
}
