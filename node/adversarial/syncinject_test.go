package adversarial

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/streamha/streamha/internal/hatest"
	"github.com/streamha/streamha/node/eventsync"
)

// TestSyncInjectionRefused reproduces issue 12's first attack on node processes: a peer that
// reaches the passive's sync port tries to open a session (no or a wrong secret; the right
// secret with a forged high term, an old term, or in another node's name) to inject inputs or
// pin the passive. Every attempt must be refused, the real session must stay in sync, and after
// a SIGKILL of the active the promoted passive must have lost no acknowledged event.
func TestSyncInjectionRefused(t *testing.T) {
	p := startPair(t)
	st, err := p.active.Admin().Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	term := st.Term
	attempts := []struct {
		name string
		cfg  eventsync.DialConfig
	}{
		{"wrong secret", eventsync.DialConfig{Group: "default", NodeID: p.active.ID, Token: "not-the-secret-0123456789", Term: term}},
		{"forged high term", eventsync.DialConfig{Group: "default", NodeID: p.active.ID, Token: p.c.Token, Term: 1000002}},
		{"older term", eventsync.DialConfig{Group: "default", NodeID: p.active.ID, Token: p.c.Token, Term: term - 1}},
		{"a node that does not hold the term", eventsync.DialConfig{Group: "default", NodeID: "intruder", Token: p.c.Token, Term: term}},
		{"the passive's own name", eventsync.DialConfig{Group: "default", NodeID: p.passive.ID, Token: p.c.Token, Term: term}},
	}
	for _, a := range attempts {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s, err := eventsync.Dial(ctx, p.passive.SyncAddr, p.passive.ID, a.cfg)
		cancel()
		if err == nil {
			s.Close(nil)
			t.Errorf("%s: the passive accepted the session", a.name)
			continue
		}
		t.Logf("%s: refused: %v", a.name, err)
	}
	// The real session was not displaced or reset: the passive is still in sync.
	if err := p.c.WaitPeerConnected(context.Background(), 10*time.Second); err != nil {
		t.Fatalf("after the attempts: %v", err)
	}
	// More acknowledgements after the attempts, so the kill cuts through acknowledged input.
	_, ackedBefore, _, _, _ := p.client.Snapshot()
	waitUntil(t, "acknowledgements after the attempts", func() bool {
		_, acked, _, _, _ := p.client.Snapshot()
		return acked >= ackedBefore+100
	})
	old := p.active
	if err := old.Kill(); err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	if _, err := p.c.WaitActive(context.Background(), 30*time.Second, old); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "an acknowledgement from the new active", func() bool {
		_, ok := p.client.FirstAckAfter(killedAt, old.ID)
		return ok
	})
	p.stop()
	<-p.done
	if err := p.passive.Stop(60 * time.Second); err != nil {
		t.Errorf("clean stop: %v", err)
	}
	hatest.CheckNoLoss(t, p.c, p.client)
	if b, _ := os.ReadFile(p.passive.LogPath); strings.Contains(string(b), "replay gap") {
		t.Fatal("the promoted passive logged a replay gap")
	}
}

// waitUntil polls cond every 10 ms and fails t if it is still false after 30 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
