package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/streamha/streamha/node/cluster"
	"github.com/streamha/streamha/node/ha"
	"github.com/streamha/streamha/node/rest"
	"github.com/streamha/streamha/node/store"
)

// TestErrorsCommands drives `node errors list|purge` on the database and `node errors replay`
// against the active found in the cluster database: the passive's 503 is followed to the
// active's X-HA-Active, the request carries the bearer token and the selection, and the
// outcome is printed (exit 1 while rows stay stored).
func TestErrorsCommands(t *testing.T) {
	url := "sqlite://" + filepath.Join(t.TempDir(), "ha.db")
	const secret = "0123456789abcdef0123"
	node := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(append(args, "--cluster_db", url, "--auth_token", secret, "--log_format", "text"), nil, &out, &errb)
		return code, out.String(), errb.String()
	}
	if code, _, errs := node("migrate"); code != 0 {
		t.Fatalf("migrate: %d %s", code, errs)
	}
	ctx := context.Background()
	db, err := store.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var recs []store.ErrorRecord
	for _, ref := range []string{"T/q1/1/0", "T/q1/2/0", "U/q1/7/0"} {
		recs = append(recs, store.ErrorRecord{Kind: store.ErrorSink, App: ref[:1], Stream: "O", Endpoint: "O:http", Ref: ref,
			Payload: []byte(`{"id":"` + ref + `"}`), Error: "status 400", ErrorKind: "http_4xx"})
	}
	if err := db.SaveErrors(ctx, "default", 1, recs); err != nil {
		t.Fatal(err)
	}
	code, out, errs := node("errors", "list")
	if code != 0 || !strings.Contains(out, "3 stored") || !regexpMatch(out, `(?m)^1\s+sink\s+T\s+O:http\s+T/q1/1/0\s+1\s+\S+\s+status 400$`) {
		t.Fatalf("list: %d %q %s", code, out, errs)
	}
	code, out, _ = node("errors", "list", "--app", "U", "--json")
	var views []store.ErrorView
	if err := json.Unmarshal([]byte(out), &views); code != 0 || err != nil || len(views) != 1 || views[0].Ref != "U/q1/7/0" || !strings.Contains(string(views[0].Payload), `"U/q1/7/0"`) {
		t.Fatalf("list --json: %d %v %s", code, err, out)
	}
	for _, bad := range [][]string{{"errors", "replay"}, {"errors", "replay", "--all", "--id", "1"}, {"errors", "purge"},
		{"errors", "purge", "--id", "x"}, {"errors", "purge", "--before", "yesterday"}, {"errors", "frob"}} {
		if code, _, errs := node(bad...); code != 2 || errs == "" {
			t.Fatalf("%v: exit %d, stderr %q; want 2 with a reason", bad, code, errs)
		}
	}

	// Replay: the lease names node "b" whose address answers like a passive (503 to "a").
	var got []rest.ErrorsRequest
	active := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != rest.ErrorsReplayPath || r.Header.Get("Authorization") != "Bearer "+secret {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		var req rest.ErrorsRequest
		json.NewDecoder(r.Body).Decode(&req)
		got = append(got, req)
		res := ha.ReplayResult{Selected: 2, Replayed: 2}
		if req.All {
			res = ha.ReplayResult{Selected: 3, Replayed: 2, Failed: 1, Failures: []ha.ReplayFailure{{ID: 3, App: "U", Ref: "U/q1/7/0", Error: "status 400"}}}
		}
		json.NewEncoder(w).Encode(res)
	}))
	defer active.Close()
	passive := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-HA-Active", active.URL)
		http.Error(w, `{"error":"not active"}`, http.StatusServiceUnavailable)
	}))
	defer passive.Close()
	if code, _, errs := node("errors", "replay", "--all"); code != 1 || !strings.Contains(errs, "no active node") {
		t.Fatalf("replay without an active: %d %s", code, errs)
	}
	if err := db.Register(ctx, cluster.NodeInfo{Group: "default", NodeID: "b", Properties: map[string]string{cluster.PropRESTAddr: passive.URL}}); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := db.Acquire(ctx, "default", "b", time.Minute); !ok || err != nil {
		t.Fatalf("acquire: %v %v", ok, err)
	}
	code, out, errs = node("errors", "replay", "--app", "T", "--id", "1,2")
	if code != 0 || !strings.Contains(out, "2 selected, 2 replayed and removed, 0 still stored") ||
		len(got) != 1 || got[0].App != "T" || len(got[0].IDs) != 2 || got[0].IDs[1] != 2 || got[0].All {
		t.Fatalf("replay --id 1,2: %d %q %s; the active got %+v", code, out, errs, got)
	}
	code, out, _ = node("errors", "replay", "--all")
	if code != 1 || !strings.Contains(out, "1 still stored") || !strings.Contains(out, "3 U/U/q1/7/0: status 400") {
		t.Fatalf("replay --all with a failure: %d %q", code, out)
	}

	if code, out, errs := node("errors", "purge", "--id", "1"); code != 0 || !strings.Contains(out, "1 purged") {
		t.Fatalf("purge --id 1: %d %q %s", code, out, errs)
	}
	if code, out, _ := node("errors", "purge", "--before", "1h"); code != 0 || !strings.Contains(out, "0 purged") {
		t.Fatalf("purge --before 1h (rows are newer): %d %q", code, out)
	}
	if code, out, _ := node("errors", "purge", "--app", "T", "--all"); code != 0 || !strings.Contains(out, "1 purged") {
		t.Fatalf("purge --app T --all: %d %q", code, out)
	}
	if l, _ := db.ListErrors(ctx, "default", store.ErrorFilter{}); len(l) != 1 || l[0].App != "U" {
		t.Fatalf("left: %+v", l)
	}
}

func regexpMatch(s, re string) bool { return regexp.MustCompile(re).MatchString(s) }
