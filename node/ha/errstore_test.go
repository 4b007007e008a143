package ha_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/streamha/streamha/node/ha"
	"github.com/streamha/streamha/node/rest"
	"github.com/streamha/streamha/node/store"
	"github.com/streamha/streamha/schema"
)

// errorsList reads GET /ha/errors with the bearer token.
func errorsList(t *testing.T, base, query string) rest.ErrorsList {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+rest.ErrorsPath+query, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /ha/errors: %d", resp.StatusCode)
	}
	var l rest.ErrorsList
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		t.Fatal(err)
	}
	return l
}

// storedRefs returns the output ids in the error store, each with how often it is there.
func storedRefs(t *testing.T, base string) map[string]int {
	t.Helper()
	refs := map[string]int{}
	for _, e := range errorsList(t, base, "?limit=100000").Errors {
		refs[e.Ref]++
	}
	return refs
}

// outboxEmpty waits until the app has handled every output (written or stored).
func outboxEmpty(t *testing.T, p *inproc) {
	t.Helper()
	waitFor(t, "every output handled", func() bool {
		st := p.node.Status().Apps["T"]
		return st.Outbox == 0 && st.DeliveredSeq == st.LastSeq && st.LastSeq > 0
	})
}

// TestStoreOnErrorEveryOutputArrivesOrIsStored: with on.error='store', for a receiver that is
// slow, down, answering 500 then 200, or refusing with 400, every acknowledged event's output
// arrives or is in the error store (exactly one of them: none in both, none twice in the
// store); once the receiver works, a replay delivers the stored ones and empties the store.
func TestStoreOnErrorEveryOutputArrivesOrIsStored(t *testing.T) {
	const n = 600
	for _, c := range []struct {
		name string
		// answer is the receiver's status per call while broken (0: 200); wantStored says
		// whether outputs must end up in the store.
		answer     func(call int, first string) int
		down       bool // the receiver's port refuses connections until repaired
		slow       bool // the receiver holds every request until repaired... for the first 3
		wantStored bool
	}{
		{name: "slow", slow: true, answer: func(int, string) int { return 0 }},
		{name: "down", down: true, answer: func(int, string) int { return 0 }, wantStored: true},
		{name: "500 then 200", answer: func() func(int, string) int {
			var seen sync.Map
			return func(_ int, first string) int {
				if _, again := seen.LoadOrStore(first, true); !again { // each request's first attempt
					return http.StatusInternalServerError
				}
				return 0
			}
		}()},
		{name: "400", answer: func(int, string) int { return http.StatusBadRequest }, wantStored: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var broken atomic.Bool
			broken.Store(true)
			rc := newReceiver(func(call int, first string) int {
				if broken.Load() {
					return c.answer(call, first)
				}
				return 0
			})
			if c.slow {
				rc.gate = make(chan struct{})
			}
			srv := httptest.NewUnstartedServer(rc)
			addr := srv.Listener.Addr().String()
			if !c.down {
				srv.Start()
			} else {
				srv.Listener.Close() // connection refused until repaired
			}
			defer func() {
				if rc.gate != nil && broken.Load() {
					close(rc.gate)
				}
				srv.Close()
			}()
			repair := func() {
				broken.Store(false)
				if c.slow {
					close(rc.gate)
				}
				if c.down {
					ln, err := net.Listen("tcp", addr)
					if err != nil {
						t.Fatalf("the receiver's port %s cannot be taken again: %v", addr, err)
					}
					srv.Listener = ln
					srv.Start()
				}
			}
			db := "sqlite://" + filepath.Join(t.TempDir(), "ha.db")
			a := startNodeSinks(t, db, "a", tok, httpApp("http://"+addr, ", on.error='store'"), quickSinks(t))
			waitFor(t, "a active", func() bool { _, ok := a.node.Runner().Serving(); return ok })
			for i := 0; i < n/200; i++ {
				if resp, body := post(t, a.rest.URL+"/events/T/S", "", "", events(i*200+1, 200)); resp.StatusCode != http.StatusOK {
					t.Fatalf("%d %v", resp.StatusCode, body)
				}
			}
			if c.slow {
				waitFor(t, "a request held by the slow receiver", func() bool { rc.mu.Lock(); defer rc.mu.Unlock(); return rc.calls > 0 })
				if st := a.node.Status().Apps["T"]; st.Outbox == 0 {
					t.Fatal("the slow receiver holds a request, yet no output is pending")
				}
				repair()
			}
			outboxEmpty(t, a)
			stored := storedRefs(t, a.admin.URL)
			rc.mu.Lock()
			for i := 1; i <= n; i++ {
				id := fmt.Sprintf("T/q1/%d/0", i)
				if got, st := rc.got[id], stored[id]; got+st != 1 || st > 1 {
					rc.mu.Unlock()
					t.Fatalf("output %s: received %d times, stored %d times; want exactly one of them", id, got, st)
				}
			}
			rc.mu.Unlock()
			if c.wantStored != (len(stored) > 0) {
				t.Fatalf("%d outputs stored, want some: %v", len(stored), c.wantStored)
			}
			// The sink's figures are published after the round that emptied the outbox.
			waitFor(t, fmt.Sprintf("the sink status counting %d stored", len(stored)), func() bool {
				st := a.node.Status().Apps["T"]
				return len(st.Sinks) == 1 && st.Sinks[0].Stored == int64(len(stored)) && st.Sinks[0].OnError == "store"
			})
			if len(stored) == 0 {
				return
			}
			if !c.slow {
				repair()
			}
			resp, body := post(t, a.admin.URL+rest.ErrorsReplayPath, tok, "", `{"all":true}`)
			if resp.StatusCode != http.StatusOK || body["replayed"] != float64(len(stored)) || body["failed"] != float64(0) {
				t.Fatalf("replay: %d %v, want %d replayed", resp.StatusCode, body, len(stored))
			}
			if l := errorsList(t, a.admin.URL, ""); len(l.Errors) != 0 {
				t.Fatalf("after the replay the store holds %d rows", len(l.Errors))
			}
			if d := rc.distinct(); d != n {
				t.Fatalf("after the replay the receiver has %d distinct outputs, want %d", d, n)
			}
		})
	}
}

// TestErrorStoreEndpoints: the /ha/errors endpoints want the bearer token; a replay on the
// passive is refused with 503 and the active's address; a replay that fails again keeps the
// rows (with the new error); purge by id, by time and all; a replayed row is not sent twice.
func TestErrorStoreEndpoints(t *testing.T) {
	var refuse atomic.Bool
	refuse.Store(true)
	rc := newReceiver(func(_ int, first string) int {
		if refuse.Load() {
			return http.StatusBadRequest
		}
		return 0
	})
	srv := httptest.NewServer(rc)
	defer srv.Close()
	db := "sqlite://" + filepath.Join(t.TempDir(), "ha.db")
	app := httpApp(srv.URL, ", on.error='store'")
	a := startNodeSinks(t, db, "a", tok, app, quickSinks(t))
	waitFor(t, "a active", func() bool { _, ok := a.node.Runner().Serving(); return ok })
	b := startNodeSinks(t, db, "b", tok, app, quickSinks(t))
	waitFor(t, "b passive and synced", func() bool { return a.node.Status().Peer.Synced })
	if resp, body := post(t, a.rest.URL+"/events/T/S", "", "", events(1, 300)); resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %v", resp.StatusCode, body)
	}
	outboxEmpty(t, a)

	for _, ep := range []struct{ method, path, body string }{
		{http.MethodGet, rest.ErrorsPath, ""},
		{http.MethodPost, rest.ErrorsReplayPath, `{"all":true}`},
		{http.MethodPost, rest.ErrorsPurgePath, `{"all":true}`},
	} {
		for _, token := range []string{"", "wrong-" + tok} {
			req, _ := http.NewRequest(ep.method, a.admin.URL+ep.path, strings.NewReader(ep.body))
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("%s %s with token %q: %d, want 401", ep.method, ep.path, token, resp.StatusCode)
			}
		}
	}
	l := errorsList(t, a.admin.URL, "?app=T&kind=sink")
	if len(l.Errors) != 300 || l.More {
		t.Fatalf("listed %d rows (more %v), want 300", len(l.Errors), l.More)
	}
	e := l.Errors[0]
	var payload struct {
		ID   string         `json:"id"`
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal(e.Payload, &payload); err != nil || payload.ID != "T/q1/1/0" || payload.Data["id"] != float64(1) ||
		e.Kind != store.ErrorSink || e.Endpoint != "O:http" || e.Stream != "O" || e.ErrorKind != "http_4xx" ||
		!strings.Contains(e.Error, "status 400") || e.Term < 1 || e.Time.IsZero() {
		t.Fatalf("first row %+v (payload %s)", e, e.Payload)
	}
	if p := errorsList(t, b.admin.URL, "?limit=10"); len(p.Errors) != 10 || !p.More {
		t.Fatalf("the passive lists %d rows (more %v), want the first 10 of the shared store", len(p.Errors), p.More)
	}

	// The passive refuses a replay and names the active.
	resp, body := post(t, b.admin.URL+rest.ErrorsReplayPath, tok, "", `{"all":true}`)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("X-HA-Active") != a.rest.URL {
		t.Fatalf("replay on the passive: %d %v, X-HA-Active %q; want 503 naming %s", resp.StatusCode, body, resp.Header.Get("X-HA-Active"), a.rest.URL)
	}
	for _, bad := range []string{``, `{}`, `{"all":true,"ids":[1]}`, `{"before":"2020-01-01T00:00:00Z","all":true}`, `{"nope":1}`} {
		if resp, body := post(t, a.admin.URL+rest.ErrorsReplayPath, tok, "", bad); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("replay %s: %d %v, want 400", bad, resp.StatusCode, body)
		}
	}
	if resp, body := post(t, a.admin.URL+rest.ErrorsReplayPath, tok, "", `{"app":"nope","all":true}`); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("replay of an unknown app: %d %v, want 404", resp.StatusCode, body)
	}

	// Still refused: the replay fails, the rows stay with one more attempt's error.
	ids := []int64{l.Errors[0].ID, l.Errors[1].ID, l.Errors[2].ID}
	resp, body = post(t, a.admin.URL+rest.ErrorsReplayPath, tok, "", fmt.Sprintf(`{"ids":[%d,%d]}`, ids[0], ids[1]))
	if resp.StatusCode != http.StatusOK || body["replayed"] != float64(0) || body["failed"] != float64(2) {
		t.Fatalf("replay into a refusing receiver: %d %v", resp.StatusCode, body)
	}
	if n := len(errorsList(t, a.admin.URL, "").Errors); n != 300 {
		t.Fatalf("a failed replay left %d rows, want 300", n)
	}
	refuse.Store(false)
	resp, body = post(t, a.admin.URL+rest.ErrorsReplayPath, tok, "", fmt.Sprintf(`{"ids":[%d,%d]}`, ids[0], ids[1]))
	if resp.StatusCode != http.StatusOK || body["replayed"] != float64(2) || body["selected"] != float64(2) {
		t.Fatalf("replay of two rows: %d %v", resp.StatusCode, body)
	}
	// Idempotent: the same ids again select nothing and send nothing.
	resp, body = post(t, a.admin.URL+rest.ErrorsReplayPath, tok, "", fmt.Sprintf(`{"ids":[%d,%d]}`, ids[0], ids[1]))
	if resp.StatusCode != http.StatusOK || body["selected"] != float64(0) || rc.got["T/q1/1/0"] != 1 || rc.got["T/q1/2/0"] != 1 {
		t.Fatalf("second replay of the same rows: %d %v, received %d/%d times", resp.StatusCode, body, rc.got["T/q1/1/0"], rc.got["T/q1/2/0"])
	}

	// Purge: one id, nothing before an old time, then the rest of the app.
	if resp, body := post(t, a.admin.URL+rest.ErrorsPurgePath, tok, "", fmt.Sprintf(`{"ids":[%d]}`, ids[2])); resp.StatusCode != http.StatusOK || body["purged"] != float64(1) {
		t.Fatalf("purge one: %d %v", resp.StatusCode, body)
	}
	if resp, body := post(t, a.admin.URL+rest.ErrorsPurgePath, tok, "", `{"before":"2001-01-01T00:00:00Z"}`); resp.StatusCode != http.StatusOK || body["purged"] != float64(0) {
		t.Fatalf("purge before 2001: %d %v", resp.StatusCode, body)
	}
	if resp, body := post(t, a.admin.URL+rest.ErrorsPurgePath, tok, "", `{}`); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("purge without a selection: %d %v, want 400", resp.StatusCode, body)
	}
	if resp, body := post(t, b.admin.URL+rest.ErrorsPurgePath, tok, "", `{"app":"T","all":true}`); resp.StatusCode != http.StatusOK || body["purged"] != float64(297) {
		t.Fatalf("purge the rest on the passive: %d %v, want 297", resp.StatusCode, body)
	}
	if n := len(errorsList(t, a.admin.URL, "").Errors); n != 0 {
		t.Fatalf("%d rows left after purge", n)
	}
	if rc.distinct() != 2 {
		t.Fatalf("the receiver has %d outputs, want the 2 replayed", rc.distinct())
	}
}

// TestStoreErrorIsFenced: a source's record goes to the store under the serving term; a node
// that does not serve stores nothing.
func TestStoreErrorIsFenced(t *testing.T) {
	db := "sqlite://" + filepath.Join(t.TempDir(), "ha.db")
	a := startNode(t, db, "a", tok)
	waitFor(t, "a active", func() bool { _, ok := a.node.Runner().Serving(); return ok })
	b := startNode(t, db, "b", tok)
	waitFor(t, "b registered", func() bool { return len(a.node.Runner().View().Nodes) == 2 })
	rec := store.ErrorRecord{Kind: store.ErrorSource, App: "T", Stream: "S", Endpoint: "kafka", Ref: "orders/0/42",
		Payload: []byte("<x/>"), Error: "not JSON", ErrorKind: "mapping"}
	if err := a.node.StoreError(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if err := b.node.StoreError(context.Background(), rec); err == nil {
		t.Fatal("the passive stored an error record")
	}
	l, err := a.node.ListErrors(context.Background(), store.ErrorFilter{Kind: store.ErrorSource})
	if err != nil || len(l) != 1 || l[0].Ref != "orders/0/42" || l[0].Term < 1 {
		t.Fatalf("source records %+v, %v", l, err)
	}
	_ = ha.ErrNoErrorStore
}

// TestStoreWriteFailureKeepsOutputsPending: outputs count as handled only once the error store
// holds them. While the store cannot be written (its table is gone) they stay pending and
// delivered_seq does not pass them; once it can, they are stored and handled.
func TestStoreWriteFailureKeepsOutputsPending(t *testing.T) {
	rc := newReceiver(func(int, string) int { return http.StatusBadRequest })
	srv := httptest.NewServer(rc)
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "ha.db")
	a := startNodeSinks(t, "sqlite://"+path, "a", tok, httpApp(srv.URL, ", on.error='store'"), quickSinks(t))
	waitFor(t, "a active", func() bool { _, ok := a.node.Runner().Serving(); return ok })
	db, err := store.Open("sqlite://" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.SQL().Exec(`DROP TABLE ha_error`); err != nil {
		t.Fatal(err)
	}
	if resp, body := post(t, a.rest.URL+"/events/T/S", "", "", events(1, 100)); resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %v", resp.StatusCode, body)
	}
	waitFor(t, "the failed store write in the status", func() bool {
		return strings.Contains(a.node.Status().Apps["T"].SinkError, "error store")
	})
	if st := a.node.Status().Apps["T"]; st.Outbox != 100 || st.DeliveredSeq >= st.LastSeq || st.Sinks[0].Stored != 0 {
		t.Fatalf("the store cannot be written, yet outputs_pending %d, delivered_seq %d of %d, stored %d",
			st.Outbox, st.DeliveredSeq, st.LastSeq, st.Sinks[0].Stored)
	}
	ms, err := schema.Migrations(schema.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if strings.Contains(m.Name, "error_store") {
			if _, err := db.SQL().Exec(m.SQL); err != nil {
				t.Fatal(err)
			}
		}
	}
	outboxEmpty(t, a)
	if n := len(storedRefs(t, a.admin.URL)); n != 100 {
		t.Fatalf("%d outputs stored, want 100", n)
	}
}
