package adminclient

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestAnswersAndErrors checks the requests the client sends (method, path, bearer token only on
// the admin calls, the admin base URL when set) and how it reads a node's answers, including the
// error bodies rest.Handler writes.
func TestAnswersAndErrors(t *testing.T) {
	var seen []string
	mux := http.NewServeMux()
	mux.HandleFunc("POST /admin/ha/switchover", func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, "switchover "+r.Header.Get("Authorization"))
		if r.Header.Get("Authorization") != "Bearer good-token-0123456789" {
			w.WriteHeader(401)
			_, _ = w.Write([]byte(`{"error":"missing or wrong bearer token (auth_token)"}`))
			return
		}
		_, _ = w.Write([]byte(`{"switched_over":true,"took_ms":42}`))
	})
	mux.HandleFunc("POST /admin/ha/persist", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-HA-Active", "http://other:9090")
		w.WriteHeader(503)
		_, _ = w.Write([]byte(`{"error":"not active","active":""}`))
	})
	mux.HandleFunc("GET /rest/ha/status", func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, "status "+r.Header.Get("Authorization"))
		_, _ = w.Write([]byte(`{"node_id":"a","role":"active","term":7,"peer":{"synced":true,"lag":3}}`))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ctx := context.Background()
	c := &Client{URL: srv.URL + "/rest", AdminURL: srv.URL + "/admin/", Token: "good-token-0123456789"}
	res, err := c.Switchover(ctx)
	if err != nil || !res.SwitchedOver || res.TookMS != 42 {
		t.Fatalf("switchover = %+v, %v", res, err)
	}
	st, err := c.Status(ctx)
	if err != nil || st.NodeID != "a" || st.Term != 7 || !st.Peer.Synced || st.Peer.Lag != 3 {
		t.Fatalf("status = %+v, %v", st, err)
	}
	err = c.Persist(ctx)
	var e *Error
	if !errors.Is(err, ErrNotActive) || !errors.As(err, &e) || e.Active != "http://other:9090" || e.Message != "not active" {
		t.Fatalf("persist on a passive: %v", err)
	}
	c.Token = "wrong"
	if _, err := c.Switchover(ctx); !errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrNotActive) {
		t.Fatalf("switchover with a wrong token: %v", err)
	}
	want := []string{"switchover Bearer good-token-0123456789", "status ", "switchover Bearer wrong"}
	if len(seen) != len(want) {
		t.Fatalf("requests %q, want %q", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("requests %q, want %q", seen, want)
		}
	}
}
