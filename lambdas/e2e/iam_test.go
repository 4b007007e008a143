package e2e_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/streamha/streamha/lambdas/alarmhandler"
	"github.com/streamha/streamha/lambdas/clusterdb"
	"github.com/streamha/streamha/lambdas/clustertest"
	"github.com/streamha/streamha/lambdas/ecsapi/ecstest"
	"github.com/streamha/streamha/lambdas/emf"
	"github.com/streamha/streamha/lambdas/health"
	"github.com/streamha/streamha/lambdas/healthmirror"
	"github.com/streamha/streamha/lambdas/idempotency"
	"github.com/streamha/streamha/lambdas/ledger"
	"github.com/streamha/streamha/lambdas/restarter"
)

// recorder wraps the DynamoDB client and records which actions were called.
type recorder struct {
	ledger.API
	mu  sync.Mutex
	ops map[string]bool
}

func (r *recorder) note(op string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops["dynamodb:"+op] = true
}

func (r *recorder) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	r.note("PutItem")
	return r.API.PutItem(ctx, in, o...)
}

func (r *recorder) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	r.note("GetItem")
	return r.API.GetItem(ctx, in, o...)
}

func (r *recorder) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	r.note("UpdateItem")
	return r.API.UpdateItem(ctx, in, o...)
}

func (r *recorder) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	r.note("DeleteItem")
	return r.API.DeleteItem(ctx, in, o...)
}

func (r *recorder) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	r.note("Query")
	return r.API.Query(ctx, in, o...)
}

func checkGranted(t *testing.T, fn string, r *recorder, granted []string) {
	t.Helper()
	ok := map[string]bool{}
	for _, a := range granted {
		ok[a] = true
	}
	for op := range r.ops {
		if !ok[op] {
			t.Errorf("%s calls %s, not in its IAMActions %v", fn, op, granted)
		}
	}
}

func sample(t *testing.T, path string) events.CloudWatchEvent {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", path))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.CloudWatchEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// TestDynamoDBCallsAreGranted runs each handler in-process over the real services and checks
// every DynamoDB action it used is listed in its IAMActions (ECS calls are checked in the
// emulator tests).
func TestDynamoDBCallsAreGranted(t *testing.T) {
	s := startServices(t)
	db := clustertest.NewDB(t)
	splitBrain(db)
	s.ecs.PutTask(ecstest.Task{ARN: clustertest.TaskARN("g1", "n1"), LastStatus: "RUNNING"})
	s.ecs.PutService(ecstest.Service{Name: "streamha-g1", Desired: 2, Running: 1})
	ctx := context.Background()
	reader, err := clusterdb.Open(ctx, db.URL, clusterdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	quiet := slog.New(slog.NewJSONHandler(io.Discard, nil))
	newRec := func() *recorder { return &recorder{API: s.dyn.Client(), ops: map[string]bool{}} }

	hm := newRec()
	mirror := &healthmirror.Handler{Config: healthmirror.Config{Namespace: "StreamHA", Health: health.DefaultConfig()},
		Reader: reader, Ledger: ledger.New(hm, table), Metrics: emf.NewWriter("StreamHA", io.Discard), Log: quiet}
	for i := 0; i < 2; i++ {
		if _, err := mirror.Handle(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	checkGranted(t, "healthmirror", hm, healthmirror.IAMActions)

	ah := newRec()
	alarms := &alarmhandler.Handler{Config: alarmhandler.Config{Namespace: "StreamHA", Cluster: "si", Health: health.DefaultConfig()},
		Reader: reader, ECS: s.ecs.Client(), Ledger: ledger.New(ah, table), Log: quiet,
		Once: &idempotency.Store{DB: ah, Table: table, Function: "alarmhandler"}}
	for i := 0; i < 2; i++ {
		if _, err := alarms.Handle(ctx, sample(t, "alarmhandler/testdata/alarm-split-brain.json")); err != nil {
			t.Fatal(err)
		}
	}
	checkGranted(t, "alarmhandler", ah, alarmhandler.IAMActions)

	rs := newRec()
	restart := &restarter.Handler{Config: restarter.Config{Cluster: "si", CrashLoopStops: 3, CrashLoopWindow: time.Hour,
		Grace: 0, Poll: time.Millisecond, BackoffBase: time.Minute, BackoffMax: time.Hour},
		Finder: reader, ECS: s.ecs.Client(), Ledger: ledger.New(rs, table), Log: quiet,
		Metrics: emf.NewWriter("StreamHA", io.Discard), Once: &idempotency.Store{DB: rs, Table: table, Function: "restarter"}}
	for i := 0; i < 2; i++ {
		if _, err := restart.Handle(ctx, sample(t, "restarter/testdata/task-stopped-crash.json")); err != nil {
			t.Fatal(err)
		}
	}
	checkGranted(t, "restarter", rs, restarter.IAMActions)
}
