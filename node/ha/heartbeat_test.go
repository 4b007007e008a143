package ha_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/streamha/streamha/node/cluster"
	"github.com/streamha/streamha/node/config"
	"github.com/streamha/streamha/node/ha"
	"github.com/streamha/streamha/node/store"
)

// TestHeartbeatDoesNotWaitForAppLock: an app's lock held for three renew deadlines (as a batch
// apply or a full snapshot's capture of millions of keys holds it) neither stops the heartbeat
// nor costs the lease; the heartbeat reports the app as last read. A heartbeat that waited for
// the lock held up the lease renewal's loop: at 10M keys the active demoted itself.
func TestHeartbeatDoesNotWaitForAppLock(t *testing.T) {
	url := "sqlite://" + filepath.Join(t.TempDir(), "ha.db")
	a := startNode(t, url, "a", tok)
	defer a.stop()
	waitFor(t, "a active", func() bool { _, ok := a.node.Runner().Serving(); return ok })
	ingestOne(t, a, 1)
	ingestOne(t, a, 2)
	db, err := store.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	lastSeq := func() (uint64, time.Duration) {
		t.Helper()
		nodes, err := db.Nodes(context.Background(), a.info.Group)
		if err != nil || len(nodes) != 1 {
			t.Fatalf("nodes: %v %v", nodes, err)
		}
		var st cluster.Status
		if err := json.Unmarshal(nodes[0].Status, &st); err != nil {
			t.Fatal(err)
		}
		return st.Apps["T"].LastSeq, nodes[0].HeartbeatAge
	}
	// A heartbeat after the ingests has read the app (and cached it).
	var want uint64
	waitFor(t, "a heartbeat with both inputs", func() bool {
		s, _ := lastSeq()
		want = a.node.Status().Apps["T"].LastSeq
		return s >= 2 && s == want
	})

	term, _ := a.node.Runner().Serving()
	deadline := 3 * config.Default().RenewDeadline
	unlock := ha.LockApp(a.node, "T")
	held := time.Now()
	for time.Since(held) < deadline {
		if _, ok := a.node.Runner().Serving(); !ok {
			unlock()
			t.Fatalf("demoted %v after the app's lock was taken", time.Since(held))
		}
		time.Sleep(20 * time.Millisecond) // polling the role while the lock is held, not synchronising
	}
	seq, age := lastSeq()
	unlock()
	if age > time.Second {
		t.Errorf("heartbeat %v old after %v with the app's lock held: the heartbeat waited for it", age, deadline)
	}
	if seq != want {
		t.Errorf("heartbeat with the lock held reports last_seq %d, want the cached %d", seq, want)
	}
	if now, ok := a.node.Runner().Serving(); !ok || now != term {
		t.Fatalf("serving %v at term %d, want still term %d", ok, now, term)
	}
}
