package ecsmeta_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/streamha/streamha/node/ecsmeta"
)

func TestFetch(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v4/abc/task" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(`{"Cluster":"arn:aws:ecs:us-east-1:1:cluster/c","TaskARN":"arn:aws:ecs:us-east-1:1:task/c/t1","Family":"node","Revision":"3","AvailabilityZone":"us-east-1a","Containers":[{"x":1}]}`))
	}))
	defer srv.Close()
	task, ok, err := ecsmeta.Fetch(context.Background(), srv.URL+"/v4/abc")
	if err != nil || !ok || task.TaskARN != "arn:aws:ecs:us-east-1:1:task/c/t1" || task.AvailabilityZone != "us-east-1a" {
		t.Fatalf("fetch = %+v %v %v", task, ok, err)
	}
	if _, ok, err := ecsmeta.Fetch(context.Background(), ""); ok || err != nil {
		t.Fatalf("off ECS: ok=%v err=%v", ok, err)
	}
	if _, _, err := ecsmeta.Fetch(context.Background(), srv.URL+"/wrong"); err == nil {
		t.Fatal("a 404 was not an error")
	}
}

func TestProtectorReportsTheAgentsRefusals(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		ok     bool
	}{
		{200, `{"protection":{"ProtectionEnabled":true,"TaskArn":"t"}}`, true},
		{200, `{"error":{"Arn":"t","Code":"AccessDeniedException","Message":"not authorized to ecs:UpdateTaskProtection"}}`, false},
		{400, `{"failure":{"Arn":"t","Reason":"TASK_NOT_VALID"}}`, false},
		{500, `oops`, false},
		{200, `{"protection":{"ProtectionEnabled":false}}`, false},
		{200, `{}`, false},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(tc.status)
			w.Write([]byte(tc.body))
		}))
		err := (&ecsmeta.Protector{URI: srv.URL, Expires: time.Minute}).Set(context.Background(), true)
		srv.Close()
		if (err == nil) != tc.ok {
			t.Errorf("%d %s: err = %v", tc.status, tc.body, err)
		}
	}
}

func TestDeploySuccessor(t *testing.T) {
	t0 := "2025-01-01T00:00:00Z"
	t1 := "2025-01-01T00:05:00Z"
	for _, tc := range []struct {
		selfDef, selfAt, peerDef, peerAt string
		want                             bool
	}{
		{"node:1", t0, "node:2", t1, true},  // a deployment's new task
		{"node:2", t0, "node:1", t1, true},  // a rollback's task
		{"node:1", t0, "node:1", t1, false}, // a replacement of the same revision
		{"node:1", t1, "node:2", t0, false}, // the old task, once the new one is active
		{"", t0, "node:2", t1, false},       // not on ECS
		{"node:1", t0, "node:2", "", false},
	} {
		if got := ecsmeta.DeploySuccessor(tc.selfDef, tc.selfAt, tc.peerDef, tc.peerAt); got != tc.want {
			t.Errorf("%+v: got %v", tc, got)
		}
	}
}
