package ecsmeta_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

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
