package e2e_test

import (
	"context"
	"testing"
	"time"

	"github.com/streamha/streamha/lambdas/alarmhandler"
	"github.com/streamha/streamha/lambdas/clustertest"
	"github.com/streamha/streamha/lambdas/ecsapi"
	"github.com/streamha/streamha/lambdas/ecsapi/ecstest"
	"github.com/streamha/streamha/lambdas/elbapi/elbtest"
	"github.com/streamha/streamha/lambdas/healthmirror"
	"github.com/streamha/streamha/lambdas/restarter"
)

// nsEnv checks that METRICS_NAMESPACE reaches the EMF lines (the alarm samples keep StreamHA).
const nsEnv = "METRICS_NAMESPACE=StreamHAe2e"

func TestHealthMirror(t *testing.T) {
	s := startServices(t)
	db := clustertest.NewDB(t)
	term := db.Pair("g1", "n1", "n2")
	db.SaveSnapshot("g1", "TempMonitor", term)
	p := s.start(t, "healthmirror", db.URL, nsEnv)

	var res healthmirror.Result
	invoke(t, p, "testdata/scheduled.json", &res)
	if !res.Reachable || len(res.Groups) != 1 || res.Groups[0].Term != term || res.Groups[0].Live != 2 {
		t.Fatalf("first run %+v", res)
	}
	lines := emfLines(t, p)
	g1 := map[string]string{"ClusterGroup": "g1"}
	for metric, want := range map[string]float64{"ActiveNodes": 1, "LiveNodes": 2, "SplitBrain": 0, "Term": float64(term), "ClusterDbReachable": 1} {
		if v, ok := value(lines, metric, g1); !ok || v != want {
			t.Errorf("%s = %v (found %v), want %v", metric, v, ok, want)
		}
	}
	if v, ok := value(lines, "PassiveQueueBytes", map[string]string{"ClusterGroup": "g1", "NodeId": "n2"}); !ok || v != 4096 {
		t.Errorf("PassiveQueueBytes of n2 = %v (found %v)", v, ok)
	}

	// Failover: n1 stops heartbeating, its lease expires, n2 takes over.
	db.AgeHeartbeat("g1", "n1", time.Minute)
	db.ExpireLease("g1")
	newTerm := db.Acquire("g1", "n2", time.Minute)
	db.Heartbeat("g1", "n2", clustertest.Active(newTerm))
	invoke(t, p, "testdata/scheduled.json", &res)
	if !res.Groups[0].Failover || res.Groups[0].Holder != "n2" {
		t.Fatalf("failover run %+v", res)
	}
	invoke(t, p, "testdata/scheduled.json", &res)
	if res.Groups[0].Failover {
		t.Fatalf("failover recorded twice: %+v", res)
	}
	fs, err := s.ledger.Failovers(context.Background(), "g1")
	if err != nil || len(fs) != 1 || fs[0].OldActive != "n1" || fs[0].NewActive != "n2" || fs[0].NewTerm != newTerm {
		t.Fatalf("failover records %+v err %v", fs, err)
	}
	if v, _ := value(emfLines(t, p), "Failovers", g1); v != 0 {
		t.Fatalf("last Failovers value %v", v)
	}
}

func TestHealthMirrorDatabaseDown(t *testing.T) {
	s := startServices(t)
	p := s.start(t, "healthmirror", "postgres://postgres@127.0.0.1:1/none?sslmode=disable", "DB_CONNECT_TIMEOUT_SECONDS=1", nsEnv)
	var res healthmirror.Result
	invoke(t, p, "testdata/scheduled.json", &res)
	if res.Reachable {
		t.Fatalf("%+v", res)
	}
	if v, ok := value(emfLines(t, p), "ClusterDbReachable", map[string]string{"ClusterGroup": "g1"}); !ok || v != 0 {
		t.Fatalf("ClusterDbReachable %v found %v", v, ok)
	}
}

// splitBrain seeds n1 deposed but still serving at term 1 and n2 holding term 2.
func splitBrain(db *clustertest.DB) int64 {
	db.Register("g1", "n1")
	db.Register("g1", "n2")
	old := db.Acquire("g1", "n1", time.Minute)
	db.ExpireLease("g1")
	term := db.Acquire("g1", "n2", time.Minute)
	db.Heartbeat("g1", "n1", clustertest.Active(old))
	db.Heartbeat("g1", "n2", clustertest.Active(term))
	return term
}

func TestAlarmHandlerFencesOnce(t *testing.T) {
	s := startServices(t)
	db := clustertest.NewDB(t)
	term := splitBrain(db)
	deposed, holder := clustertest.TaskARN("g1", "n1"), clustertest.TaskARN("g1", "n2")
	s.ecs.PutTask(ecstest.Task{ARN: deposed, LastStatus: "RUNNING"})
	s.ecs.PutTask(ecstest.Task{ARN: holder, LastStatus: "RUNNING"})
	p := s.start(t, "alarmhandler", db.URL)

	var first, second alarmhandler.Result
	invoke(t, p, "alarmhandler/testdata/alarm-split-brain.json", &first)
	invoke(t, p, "alarmhandler/testdata/alarm-split-brain.json", &second) // EventBridge redelivery
	if first.Duplicate || !second.Duplicate || first.Term != term || len(first.Actions) != 1 || first.Actions[0].Result != "stopped" {
		t.Fatalf("first %+v second %+v", first, second)
	}
	stopped := s.ecs.StoppedTasks()
	if len(stopped) != 1 || stopped[0] != deposed {
		t.Fatalf("stopped %v, want only %s", stopped, deposed)
	}
	if task, _ := s.ecs.Task(holder); task.LastStatus != "RUNNING" {
		t.Fatal("the healthy active was stopped")
	}
	reason := s.ecs.Calls("StopTask")[0].Body["reason"].(string)
	if len(reason) > ecsapi.MaxReasonLength || reason[:len(ecsapi.FenceReasonPrefix)] != ecsapi.FenceReasonPrefix {
		t.Fatalf("reason %q", reason)
	}
	checkECSGranted(t, s, alarmhandler.IAMActions)
	acts, err := s.ledger.Actions(context.Background(), "g1")
	if err != nil || len(acts) != 1 || acts[0].NodeID != "n1" || acts[0].Result != "stopped" || acts[0].Term != term || acts[0].Alarm != first.Alarm {
		t.Fatalf("ledger actions %+v err %v", acts, err)
	}

	// OK transitions are recorded, not acted on; a dry run calls nothing.
	var ok alarmhandler.Result
	invoke(t, p, "alarmhandler/testdata/alarm-ok.json", &ok)
	dry := s.start(t, "alarmhandler", db.URL, "DRY_RUN=true")
	var dr alarmhandler.Result
	invoke(t, dry, "alarmhandler/testdata/alarm-active-nodes-math.json", &dr)
	if len(s.ecs.Calls("StopTask")) != 1 || dr.Actions[0].Result != "dry_run" || ok.Actions[0].Kind != "record" {
		t.Fatalf("ok %+v dry %+v calls %v", ok, dr, s.ecs.Calls())
	}
}

func TestRestarterRecordsAndRestartsOnce(t *testing.T) {
	s := startServices(t)
	db := clustertest.NewDB(t)
	db.Pair("g1", "n1", "n2") // the sample's task ARN is n1's
	s.ecs.PutService(ecstest.Service{Name: "streamha-g1", Desired: 2, Running: 1, RolloutState: "COMPLETED"})
	p := s.start(t, "restarter", db.URL, "RESTART_GRACE_SECONDS=1", "RESTART_POLL_SECONDS=0.2", nsEnv)

	var first, second restarter.Result
	invoke(t, p, "restarter/testdata/task-stopped-crash.json", &first)
	invoke(t, p, "restarter/testdata/task-stopped-crash.json", &second)
	if first.NodeID != "n1" || first.NodeSource != "cluster_db" || !first.WasActive || first.Expected || first.Cause != restarter.CauseCrash || !second.Duplicate {
		t.Fatalf("first %+v second %+v", first, second)
	}
	if calls := s.ecs.Calls("UpdateService"); len(calls) != 1 || calls[0].Body["forceNewDeployment"] != true || calls[0].Body["service"] != "streamha-g1" {
		t.Fatalf("UpdateService calls %+v", calls)
	}
	checkECSGranted(t, s, restarter.IAMActions)
	stops, err := s.ledger.Stops(context.Background(), "g1", time.Time{})
	if err != nil || len(stops) != 1 || stops[0].StopCode != "EssentialContainerExited" || stops[0].ExitCodes[0] != 137 || !stops[0].WasActive {
		t.Fatalf("stops %+v err %v", stops, err)
	}
	st, err := s.ledger.GetRestart(context.Background(), "g1")
	if err != nil || st.Attempts != 1 || !st.NextAllowedAt.After(time.Now()) {
		t.Fatalf("restart state %+v err %v", st, err)
	}
	if v, ok := value(emfLines(t, p), "CrashLoop", map[string]string{"ClusterGroup": "g1"}); !ok || v != 0 {
		t.Fatalf("CrashLoop %v found %v", v, ok)
	}
}

// The restarter as deployed: its ELBv2 client comes from the SDK's standard configuration (the
// service-specific endpoint variable points it at the Query-protocol fake), duplicates are
// suppressed by the DynamoDB idempotency store.
func TestRestarterRegistersTargetsOnce(t *testing.T) {
	const httpTG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/streamha-http/0123456789abcdef"
	const tcpTG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/streamha-tcp/fedcba9876543210"
	s := startServices(t)
	elb := elbtest.Start(t, httpTG, tcpTG)
	db := clustertest.NewDB(t)
	db.Pair("g1", "n1", "n2")
	s.ecs.PutService(ecstest.Service{Name: "streamha-g1", Desired: 2, Running: 1, Pending: 1, RolloutState: "COMPLETED"})
	p := s.start(t, "restarter", db.URL, append(elb.Env(), nsEnv, "ECS_SERVICE=streamha-g1",
		"TARGET_GROUPS="+httpTG+"=9090,"+tcpTG+"=9894")...)

	var first, second, stopped restarter.Result
	invoke(t, p, "restarter/testdata/task-running.json", &first)
	invoke(t, p, "restarter/testdata/task-running.json", &second)
	if first.Targets != "registered 10.0.1.23" || !second.Duplicate || len(elb.Calls()) != 2 {
		t.Fatalf("first %+v second %+v calls %+v", first, second, elb.Calls())
	}
	if h, c := elb.Targets(httpTG), elb.Targets(tcpTG); len(h) != 1 || h[0] != "10.0.1.23:9090" || len(c) != 1 || c[0] != "10.0.1.23:9894" {
		t.Fatalf("targets http %v tcp %v", h, c)
	}
	invoke(t, p, "restarter/testdata/task-stopped-crash.json", &stopped)
	if stopped.Targets != "deregistered 10.0.1.23" || len(elb.Targets(httpTG))+len(elb.Targets(tcpTG)) != 0 {
		t.Fatalf("stopped %+v targets %v %v", stopped, elb.Targets(httpTG), elb.Targets(tcpTG))
	}
	granted := map[string]bool{}
	for _, a := range restarter.IAMActions {
		granted[a] = true
	}
	for _, c := range elb.Calls() {
		if !granted["elasticloadbalancing:"+c.Action] {
			t.Errorf("ELB %s called but not in IAMActions", c.Action)
		}
	}
	acts, err := s.ledger.Actions(context.Background(), "g1")
	if err != nil || len(acts) != 2 || acts[0].Kind != restarter.MoveRegister || acts[1].Kind != restarter.MoveDeregister ||
		acts[0].Result != "registered" || acts[1].Result != "deregistered" {
		t.Fatalf("actions %+v err %v", acts, err)
	}
}

// checkECSGranted fails when a function made an ECS call its IAMActions do not list.
func checkECSGranted(t *testing.T, s *services, granted []string) {
	t.Helper()
	ok := map[string]bool{}
	for _, a := range granted {
		ok[a] = true
	}
	for _, c := range s.ecs.Calls() {
		if !ok["ecs:"+c.Op] {
			t.Errorf("ECS %s called but not in IAMActions %v", c.Op, granted)
		}
	}
}
