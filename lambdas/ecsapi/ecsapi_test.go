package ecsapi_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/streamha/streamha/lambdas/ecsapi"
	"github.com/streamha/streamha/lambdas/ecsapi/ecstest"
)

func TestARNs(t *testing.T) {
	if got := ecsapi.ClusterOfTask("arn:aws:ecs:eu-west-1:123456789012:task/si-cluster/0123abcd"); got != "si-cluster" {
		t.Fatalf("cluster %q", got)
	}
	if !ecsapi.SameCluster("arn:aws:ecs:eu-west-1:123456789012:cluster/si-cluster", "si-cluster") {
		t.Fatal("same cluster not recognised")
	}
}

func TestAgainstFake(t *testing.T) {
	srv := ecstest.Start(t)
	srv.PutTask(ecstest.Task{ARN: "arn:aws:ecs:us-east-1:1:task/c/t1", LastStatus: "RUNNING"})
	srv.PutService(ecstest.Service{Name: "si", Desired: 2, Running: 1, RolloutState: "FAILED", RolloutReason: "ECS deployment circuit breaker: tasks failed to start."})
	srv.FailNext("DescribeTasks", 1) // the SDK retries a 500
	c := srv.Client()
	ctx := context.Background()
	st, err := ecsapi.TaskStatus(ctx, c, "", "arn:aws:ecs:us-east-1:1:task/c/t1")
	if err != nil || st != "RUNNING" {
		t.Fatalf("status %q err %v", st, err)
	}
	if st, _ := ecsapi.TaskStatus(ctx, c, "c", "arn:aws:ecs:us-east-1:1:task/c/none"); st != "MISSING" {
		t.Fatalf("missing task status %q", st)
	}
	if _, err := c.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("c"), Task: aws.String("arn:aws:ecs:us-east-1:1:task/c/t1"), Reason: aws.String("test")}); err != nil {
		t.Fatal(err)
	}
	if got := srv.StoppedTasks(); len(got) != 1 {
		t.Fatalf("stopped %v", got)
	}
	h, err := ecsapi.DescribeService(ctx, c, "c", "si")
	if err != nil || !h.Found || h.Whole() || !h.RolledBack || h.Desired != 2 {
		t.Fatalf("health %+v err %v", h, err)
	}
}
