// Package ecsapi is the part of the Amazon ECS API the Lambdas use, behind an interface the SDK's
// *ecs.Client satisfies, plus helpers that read ARNs and task states.
package ecsapi

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// API is the subset of ECS calls the alarm handler and the restarter make.
type API interface {
	StopTask(ctx context.Context, in *ecs.StopTaskInput, opts ...func(*ecs.Options)) (*ecs.StopTaskOutput, error)
	DescribeTasks(ctx context.Context, in *ecs.DescribeTasksInput, opts ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error)
	DescribeServices(ctx context.Context, in *ecs.DescribeServicesInput, opts ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error)
	UpdateService(ctx context.Context, in *ecs.UpdateServiceInput, opts ...func(*ecs.Options)) (*ecs.UpdateServiceOutput, error)
}

// MaxReasonLength is the longest StopTask reason ECS keeps.
const MaxReasonLength = 255

// ClusterOfTask extracts the cluster name from a task ARN of the long format
// (arn:aws:ecs:REGION:ACCOUNT:task/CLUSTER/ID); "" for the old short format.
func ClusterOfTask(taskARN string) string {
	_, res, ok := strings.Cut(taskARN, ":task/")
	if !ok {
		return ""
	}
	cluster, _, ok := strings.Cut(res, "/")
	if !ok {
		return ""
	}
	return cluster
}

// ClusterName reduces a cluster ARN (arn:…:cluster/NAME) to its name; names pass through.
func ClusterName(cluster string) string {
	if _, name, ok := strings.Cut(cluster, ":cluster/"); ok {
		return name
	}
	return cluster
}

// SameCluster reports whether two cluster references (names or ARNs) name the same cluster.
func SameCluster(a, b string) bool { return ClusterName(a) == ClusterName(b) }

// TaskStatus returns the task's lastStatus ("RUNNING", "STOPPED", …), or "MISSING" when ECS no
// longer knows it.
func TaskStatus(ctx context.Context, api API, cluster, taskARN string) (string, error) {
	if cluster == "" {
		cluster = ClusterOfTask(taskARN)
	}
	out, err := api.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: []string{taskARN}})
	if err != nil {
		return "", fmt.Errorf("describe task %s: %w", taskARN, err)
	}
	for _, t := range out.Tasks {
		if aws.ToString(t.TaskArn) == taskARN {
			return aws.ToString(t.LastStatus), nil
		}
	}
	return "MISSING", nil
}

// Truncate shortens a StopTask reason to what ECS keeps.
func Truncate(reason string) string {
	if len(reason) <= MaxReasonLength {
		return reason
	}
	return reason[:MaxReasonLength]
}

// ServiceHealth summarises whether a service is replacing its tasks.
type ServiceHealth struct {
	Name          string
	Found         bool
	Status        string // ACTIVE, DRAINING, INACTIVE
	Desired       int32
	Running       int32
	Pending       int32
	RolloutState  string // of the PRIMARY deployment: IN_PROGRESS, COMPLETED, FAILED
	RolloutReason string
	RolledBack    bool // a circuit breaker rolled the last deployment back
}

// Whole reports whether the service runs (or is starting) as many tasks as it wants.
func (s ServiceHealth) Whole() bool { return s.Running+s.Pending >= s.Desired }

// DescribeService reads one service's counts and primary deployment state.
func DescribeService(ctx context.Context, api API, cluster, service string) (ServiceHealth, error) {
	out, err := api.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{service}})
	if err != nil {
		return ServiceHealth{}, fmt.Errorf("describe service %s: %w", service, err)
	}
	h := ServiceHealth{Name: service}
	for _, s := range out.Services {
		h.Found = true
		h.Status = aws.ToString(s.Status)
		h.Desired, h.Running, h.Pending = s.DesiredCount, s.RunningCount, s.PendingCount
		for _, d := range s.Deployments {
			if aws.ToString(d.Status) == "PRIMARY" {
				h.RolloutState = string(d.RolloutState)
				h.RolloutReason = aws.ToString(d.RolloutStateReason)
			}
		}
		h.RolledBack = h.RolloutState == string(types.DeploymentRolloutStateFailed) ||
			strings.Contains(strings.ToLower(h.RolloutReason), "circuit breaker")
	}
	return h, nil
}

// FenceReasonPrefix starts every StopTask reason the alarm handler writes, so the restarter can
// tell our own fencing from a crash.
const FenceReasonPrefix = "streamha-alarmhandler:"
