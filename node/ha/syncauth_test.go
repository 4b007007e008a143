package ha_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamha/streamha/node/cluster"
	"github.com/streamha/streamha/node/config"
	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/eventsync"
	"github.com/streamha/streamha/node/ha"
	"github.com/streamha/streamha/node/store"
)

// TestNodeRefusesToStartWithoutSecret: a node without a shared secret, or with a short one,
// is a configuration error naming auth_token (exit 2 in `node run`).
func TestNodeRefusesToStartWithoutSecret(t *testing.T) {
	db, err := store.Open("sqlite://" + filepath.Join(t.TempDir(), "ha.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, token := range []string{"", "short-secret"} {
		c := config.Default()
		c.NodeID, c.AuthToken = "a", token
		n, err := ha.New(ha.Options{Config: c, Cluster: db, Snapshots: db, Logger: slog.New(slog.DiscardHandler),
			Node: cluster.NodeInfo{Group: c.Group, NodeID: "a"}})
		var ce *config.Error
		if err == nil || !errors.As(err, &ce) || ce.Key != "auth_token" {
			t.Fatalf("ha.New with auth_token %q = %v, %v; want a configuration error naming auth_token", token, n, err)
		}
	}
}

// TestWrongSecretRefused: two nodes with different secrets never form a pair; both say why in
// /ha/status, and the active acknowledges alone (from a snapshot), never from the passive.
func TestWrongSecretRefused(t *testing.T) {
	url := "sqlite://" + filepath.Join(t.TempDir(), "ha.db")
	a := startNode(t, url, "a", tok)
	waitFor(t, "a active", func() bool { _, ok := a.node.Runner().Serving(); return ok })
	b := startNode(t, url, "b", "another-secret-of-the-right-length")
	waitFor(t, "the passive refusing the active", func() bool {
		return strings.Contains(b.node.Status().Peer.LastError, "authentication failed")
	})
	waitFor(t, "the active reporting the refusal", func() bool {
		return strings.Contains(a.node.Status().Peer.LastError, "authentication failed")
	})
	if st := a.node.Status(); st.Peer.Connected {
		t.Fatalf("active connected to a passive with another secret: %+v", st.Peer)
	}
	ans, err := a.node.Ingest(context.Background(), "T", "S", []ha.Event{{Data: []engine.Value{engine.LongValue(1), engine.DoubleValue(1)}}}, "")
	if err != nil || !ans.Alone {
		t.Fatalf("ingest with a refused passive: %+v %v; want acknowledged alone", ans, err)
	}
	if st := b.node.Status(); st.Queue.Events != 0 {
		t.Fatalf("the refused passive queued %d events", st.Queue.Events)
	}
}

// TestForgedTermRefusedQueueUntouched: a peer that knows the secret but does not hold the term
// it claims, per the cluster database's lease row, is refused by the passive: its queue keeps
// the inputs it acknowledged, the real active stays connected, and the next input is held by
// the passive again. Before the holder check a forged high term reset the queue (a replay gap
// after the next failover) and kept the real active out until a restart.
func TestForgedTermRefusedQueueUntouched(t *testing.T) {
	url := "sqlite://" + filepath.Join(t.TempDir(), "ha.db")
	noTimedPersist := func(c *config.Config) { c.PersistInterval = time.Hour } // the queue keeps what it gets
	a := startNode(t, url, "a", tok, noTimedPersist)
	waitFor(t, "a active", func() bool { _, ok := a.node.Runner().Serving(); return ok })
	b := startNode(t, url, "b", tok, noTimedPersist)
	waitFor(t, "b synced", func() bool { return a.node.Status().Peer.Synced })
	term, _ := a.node.Runner().Serving()
	ingest := func(id int64) ha.Answer {
		t.Helper()
		ans, err := a.node.Ingest(context.Background(), "T", "S", []ha.Event{{Data: []engine.Value{engine.LongValue(id), engine.DoubleValue(1)}}}, "")
		if err != nil || ans.Alone {
			t.Fatalf("ingest %d: %+v %v; want held by the passive", id, ans, err)
		}
		return ans
	}
	first := ingest(1)
	held := b.node.Status()
	if held.Queue.Events < 1 || held.Apps["T"].LastSeq != first.LastSeq {
		t.Fatalf("passive does not hold the acknowledged input: %+v", held)
	}

	for _, tc := range []struct {
		name string
		from string
		term int64
	}{
		{"forged high term in the active's name", "a", 1000002},
		{"forged high term from a stranger", "intruder", 1000002},
		{"the next term, not granted", "intruder", term + 1},
		{"the current term, held by another node", "intruder", term},
		{"an old term", "a", term - 1},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := eventsync.Dial(ctx, b.sync, "b", eventsync.DialConfig{Group: "default", NodeID: tc.from, Token: tok, Term: tc.term,
			Logger: slog.New(slog.DiscardHandler)})
		cancel()
		if !errors.Is(err, eventsync.ErrRefused) {
			t.Fatalf("%s: %v, want refused", tc.name, err)
		}
		st := b.node.Status()
		if st.Queue.Events != held.Queue.Events || st.Apps["T"].LastSeq != first.LastSeq || !st.Peer.Connected || st.Peer.ID != "a" {
			t.Fatalf("%s: the passive's state changed: queue %+v, app %+v, peer %+v", tc.name, st.Queue, st.Apps["T"], st.Peer)
		}
		if !a.node.Status().Peer.Connected {
			t.Fatalf("%s: the real active lost its passive", tc.name)
		}
	}
	second := ingest(2)
	if st := b.node.Status(); st.Apps["T"].LastSeq != second.LastSeq || st.Queue.Events != held.Queue.Events+1 {
		t.Fatalf("after the refusals the passive holds up to %d (%d events), want %d (%d events)",
			st.Apps["T"].LastSeq, st.Queue.Events, second.LastSeq, held.Queue.Events+1)
	}
}
