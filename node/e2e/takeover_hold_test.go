package e2e

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/streamha/streamha/internal/pgtest"
)

// A client whose active froze (SIGSTOP) times out and tries the passive. The passive must hold
// that request until it has taken over and answer it itself, instead of redirecting the client
// back to the frozen node (which cost the client its own timeout again, per retry).
func TestPassiveHoldsARequestForAFrozenActive(t *testing.T) {
	p := startPair(t, pgtest.Shared(t).NewDatabase(t))
	p.waitAcks(100, 30*time.Second)
	p.stop()
	<-p.done
	old := p.c.Active()
	if old == nil {
		t.Fatal("no active")
	}
	passive := p.c.Nodes[0]
	if passive == old {
		passive = p.c.Nodes[1]
	}
	if err := old.Pause(); err != nil {
		t.Fatal(err)
	}
	defer old.Resume()
	paused := time.Now()
	// What a client does after its request to the frozen node timed out (1 s here).
	time.Sleep(time.Second)
	body := `[{"id":900000001,"symbol":"HOLD","qty":1,"price":1.5}]`
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, passive.URL()+"/events/Orders/OrderStream", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "held-after-freeze")
	hc := &http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	answered := time.Since(paused)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the passive answered %s (X-HA-Active %q) %s after the freeze: %s; want it to hold the request and answer it once it has taken over",
			resp.Status, resp.Header.Get("X-HA-Active"), answered, b)
	}
	if !passive.IsActive() {
		t.Fatalf("the passive answered 200 but is not active")
	}
	t.Logf("held request answered by %s %s after the freeze: %s", passive.ID, answered.Round(time.Millisecond), strings.TrimSpace(string(b)))
	mresp, err := http.Get(passive.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	if !strings.Contains(string(mb), "streamha_takeover_holds_total 1") {
		t.Errorf("streamha_takeover_holds_total is not 1 on %s", passive.ID)
	}
	if err := old.Resume(); err != nil {
		t.Fatal(err)
	}
	if err := p.c.WaitPeerConnected(context.Background(), 30*time.Second); err != nil {
		t.Fatal(err)
	}
}
