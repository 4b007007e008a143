package ha_test

import (
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
)

// TestBatchedSinkRequestsLeaveFull: with more outputs pending than batch.size (100), the
// dispatcher hands the http sink whole batches and keeps the rest for its next round: 150
// outputs, then 150 more while the first request is held, go as three requests of 100 (not
// 100 + 50 per round), and every output arrives once.
func TestBatchedSinkRequestsLeaveFull(t *testing.T) {
	rc, srv, release, closeAll := startGatedReceiver()
	defer closeAll() // before the node's cleanup stops it, also when the test fails
	url := "sqlite://" + filepath.Join(t.TempDir(), "ha.db")
	a := startNodeSinks(t, url, "a", tok, httpApp(srv.URL, ""), quickSinks(t))
	waitFor(t, "a active", func() bool { _, ok := a.node.Runner().Serving(); return ok })
	if resp, body := post(t, a.rest.URL+"/events/T/S", "", "", events(1, 150)); resp.StatusCode != http.StatusOK {
		t.Fatalf("first batch: %d %v", resp.StatusCode, body)
	}
	calls := func() int { rc.mu.Lock(); defer rc.mu.Unlock(); return rc.calls }
	waitFor(t, "the first request at the receiver", func() bool { return calls() >= 1 })
	if resp, body := post(t, a.rest.URL+"/events/T/S", "", "", events(151, 150)); resp.StatusCode != http.StatusOK {
		t.Fatalf("second batch: %d %v", resp.StatusCode, body)
	}
	release()
	waitFor(t, "every output delivered", func() bool { return rc.distinct() == 300 })
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if fmt.Sprint(rc.sizes) != "[100 100 100]" {
		t.Fatalf("outputs per request %v, want [100 100 100]", rc.sizes)
	}
	for id, n := range rc.got {
		if n != 1 {
			t.Fatalf("output %s arrived %d times", id, n)
		}
	}
}
