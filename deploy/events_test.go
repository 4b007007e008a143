package deploy_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/streamha/streamha/deploy"
)

// The samples use stack "streamha-prod" (alarm names "streamha-prod-..."), as the alarm
// handler's own test events do.
func eventRules(t *testing.T) map[string]map[string]any {
	t.Helper()
	tmpl, err := deploy.Load(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	params := map[string]string{}
	for k, v := range requiredParams {
		params[k] = v
	}
	env, err := deploy.NewEnv(tmpl, params)
	if err != nil {
		t.Fatal(err)
	}
	env.Stack = "streamha-prod"
	rs, err := env.Resources()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for _, id := range functionIDs {
		evs, _ := get(rs[id].Properties, "Events").(map[string]any)
		for name, ev := range evs {
			if str(ev, "Type") == "EventBridgeRule" {
				out[id+"."+name], _ = get(ev, "Properties", "Pattern").(map[string]any)
			}
		}
	}
	return out
}

func TestEventRulesMatchTheirEvents(t *testing.T) {
	rules := eventRules(t)
	alarms, tasks := rules["AlarmHandlerFunction.StackAlarms"], rules["RestarterFunction.NodeTaskRunningOrStopped"]
	if alarms == nil || tasks == nil {
		t.Fatalf("missing rules: %v", deploy.SortedKeys(rules))
	}
	for _, tc := range []struct {
		file    string
		pattern map[string]any
		want    bool
	}{
		{"testdata/events/alarm-own-stack.json", alarms, true},
		{"testdata/events/alarm-other-stack.json", alarms, false},
		// Stack "streamha-prod-2" shares the prefix "streamha-prod-": exact names keep it out.
		{"testdata/events/alarm-prefix-stack.json", alarms, false},
		{"testdata/events/alarm-other-region.json", alarms, false},
		{"testdata/events/alarm-insufficient-data.json", alarms, false},
		{"testdata/events/not-an-alarm.json", alarms, false},
		{"testdata/events/task-stopped.json", alarms, false},
		{"testdata/events/task-stopped.json", tasks, true},
		{"testdata/events/task-stopped-other-cluster.json", tasks, false},
		{"testdata/events/task-stopped-other-account.json", tasks, false},
		// RUNNING: the restarter registers the task as a load balancer target (and deregisters it
		// when a RUNNING event already says desiredStatus STOPPED). Later stopping phases are
		// not needed: STOPPED follows.
		{"testdata/events/task-running.json", tasks, true},
		{"testdata/events/task-running-desired-stopped.json", tasks, true},
		{"testdata/events/task-running-other-cluster.json", tasks, false},
		{"testdata/events/task-stopping.json", tasks, false},
		{"testdata/events/task-running.json", alarms, false},
		{"testdata/events/alarm-own-stack.json", tasks, false},
		// The alarm handler's own samples (stack streamha-prod, account 123456789012).
		{"../lambdas/alarmhandler/testdata/alarm-split-brain.json", alarms, true},
		{"../lambdas/alarmhandler/testdata/alarm-heartbeat.json", alarms, true},
		{"../lambdas/alarmhandler/testdata/alarm-ok.json", alarms, true},
		{"../lambdas/alarmhandler/testdata/alarm-insufficient.json", alarms, false},
	} {
		b, err := os.ReadFile(tc.file)
		if os.IsNotExist(err) && filepath.Dir(tc.file) != "testdata/events" {
			t.Logf("%s: gone from lambdas/; skipped", tc.file)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		got, err := deploy.MatchPattern(tc.pattern, b)
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		if got != tc.want {
			t.Errorf("%s: matched %v, want %v", tc.file, got, tc.want)
		}
	}
	// Any restarter sample events that land later must be ECS task events of the sample cluster.
	files, _ := filepath.Glob("../lambdas/restarter/testdata/*.json")
	for _, f := range files {
		b, _ := os.ReadFile(f)
		var ev struct {
			DetailType string `json:"detail-type"`
			Detail     struct {
				LastStatus string `json:"lastStatus"`
			} `json:"detail"`
		}
		if json.Unmarshal(b, &ev) != nil || ev.DetailType != "ECS Task State Change" {
			continue
		}
		got, err := deploy.MatchPattern(tasks, b)
		if err != nil {
			t.Errorf("%s: %v", f, err)
		}
		t.Logf("%s (lastStatus %s): restarter rule matches = %v", f, ev.Detail.LastStatus, got)
	}
}

func TestMatchPattern(t *testing.T) {
	ev := []byte(`{"source":"aws.ecs","detail":{"lastStatus":"STOPPED","code":3,"ok":true,"tags":["a","b"],"name":"streamha-x"}}`)
	for _, tc := range []struct {
		pattern string
		want    bool
	}{
		{`{"source":["aws.ecs"]}`, true},
		{`{"source":["aws.ec2","aws.ecs"]}`, true},
		{`{"source":["aws.ec2"]}`, false},
		{`{"detail":{"lastStatus":["STOPPED"],"name":[{"prefix":"streamha-"}]}}`, true},
		{`{"detail":{"name":[{"prefix":"other-"}]}}`, false},
		{`{"detail":{"lastStatus":[{"anything-but":"RUNNING"}]}}`, true},
		{`{"detail":{"lastStatus":[{"anything-but":["RUNNING","STOPPED"]}]}}`, false},
		{`{"detail":{"name":[{"anything-but":{"prefix":"streamha-"}}]}}`, false},
		{`{"detail":{"code":["3"],"ok":["true"]}}`, true},
		{`{"detail":{"tags":["b"]}}`, true},
		{`{"detail":{"missing":["x"]}}`, false},
		{`{"detail":{"missing":[{"exists":false}],"name":[{"exists":true}]}}`, true},
		{`{"nested":{"x":["y"]}}`, false},
	} {
		var p map[string]any
		if err := json.Unmarshal([]byte(tc.pattern), &p); err != nil {
			t.Fatal(err)
		}
		// YAML gives scalars as strings; mimic that for numbers and booleans.
		got, err := deploy.MatchPattern(p, ev)
		if err != nil {
			t.Fatalf("%s: %v", tc.pattern, err)
		}
		if got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.pattern, got, tc.want)
		}
	}
}
