package alarmhandler_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/streamha/streamha/lambdas/alarmhandler"
	"github.com/streamha/streamha/lambdas/clusterdb"
	"github.com/streamha/streamha/lambdas/ecsapi"
	"github.com/streamha/streamha/lambdas/ecsapi/ecstest"
	"github.com/streamha/streamha/lambdas/health"
	"github.com/streamha/streamha/lambdas/ledger"
	"github.com/streamha/streamha/node/cluster"
)

type fakeReader struct{ g clusterdb.Group }

func (f fakeReader) Read(_ context.Context, groups ...string) ([]clusterdb.Group, error) {
	g := f.g
	g.Name = groups[0]
	return []clusterdb.Group{g}, nil
}

type memLedger struct {
	mu      sync.Mutex
	actions []ledger.Action
}

func (m *memLedger) PutAction(_ context.Context, a ledger.Action) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.actions = append(m.actions, a)
	return nil
}

func loadEvent(t *testing.T, name string) events.CloudWatchEvent {
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

// splitBrain has a deposed active a (term 4) and the holder b (term 5), and a hung passive-less view.
var splitBrain = clusterdb.Group{
	Lease: cluster.Lease{Holder: "b", Term: 5, Remaining: 10 * time.Second},
	Nodes: []clusterdb.Node{nd("a", "active", 4, time.Second), nd("b", "active", 5, time.Second)},
}

var hungPassive = clusterdb.Group{
	Lease: cluster.Lease{Holder: "a", Term: 5, Remaining: 10 * time.Second},
	Nodes: []clusterdb.Node{nd("a", "active", 5, time.Second), nd("b", "passive", 5, 2*time.Minute)},
}

func TestHandleSampleEvents(t *testing.T) {
	arnA, arnB := "arn:aws:ecs:us-east-1:1:task/si/a", "arn:aws:ecs:us-east-1:1:task/si/b"
	cases := []struct {
		event   string
		group   clusterdb.Group
		dryRun  bool
		stopped []string
		result  string
	}{
		{"alarm-split-brain.json", splitBrain, false, []string{arnA}, "stopped"},
		{"alarm-split-brain.json", splitBrain, true, nil, "dry_run"},
		{"alarm-active-nodes-math.json", splitBrain, false, []string{arnA}, "stopped"},
		{"alarm-heartbeat.json", hungPassive, false, []string{arnB}, "stopped"},
		{"alarm-heartbeat.json", splitBrain, false, nil, "no_action"}, // nobody stale
		{"alarm-ok.json", splitBrain, false, nil, "no_action"},
		{"alarm-insufficient.json", splitBrain, false, nil, "no_action"},
		{"alarm-snapshot-age.json", splitBrain, false, nil, "no_action"},
	}
	for _, c := range cases {
		t.Run(strings.TrimSuffix(c.event, ".json"), func(t *testing.T) {
			srv := ecstest.Start(t)
			srv.PutTask(ecstest.Task{ARN: arnA, LastStatus: "RUNNING"})
			srv.PutTask(ecstest.Task{ARN: arnB, LastStatus: "RUNNING"})
			l := &memLedger{}
			h := &alarmhandler.Handler{
				Config: alarmhandler.Config{Namespace: "StreamHA", Cluster: "si", DryRun: c.dryRun, Health: health.DefaultConfig()},
				Reader: fakeReader{c.group}, ECS: srv.Client(), Ledger: l,
				Log: slog.New(slog.NewJSONHandler(io.Discard, nil)),
			}
			res, err := h.Handle(context.Background(), loadEvent(t, c.event))
			if err != nil {
				t.Fatal(err)
			}
			if got := srv.StoppedTasks(); strings.Join(got, ",") != strings.Join(c.stopped, ",") {
				t.Fatalf("stopped %v, want %v", got, c.stopped)
			}
			for _, call := range srv.Calls("StopTask") {
				reason := call.Body["reason"].(string)
				if !strings.HasPrefix(reason, ecsapi.FenceReasonPrefix) || !strings.Contains(reason, "term 5") || !strings.Contains(reason, res.Alarm) {
					t.Fatalf("reason %q", reason)
				}
			}
			if res.Group != "g1" || len(l.actions) == 0 || l.actions[0].Result != c.result || l.actions[0].Group != "g1" {
				t.Fatalf("result %+v ledger %+v", res, l.actions)
			}
		})
	}
}
