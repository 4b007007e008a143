package restarter_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/streamha/streamha/lambdas/restarter"
)

func loadEvent(t testing.TB, name string) events.CloudWatchEvent {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.CloudWatchEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestClassifySamples(t *testing.T) {
	cases := map[string]struct {
		expected bool
		cause    string
	}{
		"task-stopped-crash.json":           {false, restarter.CauseCrash},
		"task-stopped-fenced.json":          {true, restarter.CauseFenced},
		"task-stopped-deployment.json":      {true, restarter.CauseDeployment},
		"task-stopped-failed-to-start.json": {false, restarter.CauseFailedToStart},
		"task-stopped-spot.json":            {false, restarter.CausePlatform},
	}
	for name, want := range cases {
		d, err := restarter.ParseDetail(loadEvent(t, name).Detail)
		if err != nil {
			t.Fatal(err)
		}
		if exp, cause := restarter.Classify(d); exp != want.expected || cause != want.cause {
			t.Errorf("%s: expected=%v cause=%s, want %v %s", name, exp, cause, want.expected, want.cause)
		}
	}
	extra := map[string]restarter.TaskDetail{
		"unhealthy": {StopCode: "ServiceSchedulerInitiated", StoppedReason: "Task failed ELB health checks in (target-group arn:aws:elasticloadbalancing:…)"},
		"exited 0":  {StopCode: "EssentialContainerExited", Containers: []restarter.Container{{ExitCode: new(int)}}},
		"user":      {StopCode: "UserInitiated", StoppedReason: "stopped by operator"},
	}
	wantCause := map[string]string{"unhealthy": restarter.CauseUnhealthy, "exited 0": restarter.CauseExited, "user": restarter.CauseUser}
	for name, d := range extra {
		if _, cause := restarter.Classify(d); cause != wantCause[name] {
			t.Errorf("%s: cause %s", name, cause)
		}
	}
}

func TestBackoffDoublesAndCaps(t *testing.T) {
	c := restarter.Config{BackoffBase: 60e9, BackoffMax: 600e9}
	got := []int64{}
	for n := 1; n <= 6; n++ {
		got = append(got, int64(c.Backoff(n).Seconds()))
	}
	want := []int64{60, 120, 240, 480, 600, 600}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("backoff %v, want %v", got, want)
		}
	}
}
