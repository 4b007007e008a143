package ha_test

import (
	"context"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/streamha/streamha/node/config"
	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/ha"
	"github.com/streamha/streamha/node/store"
	"github.com/streamha/streamha/node/tcpingest"
)

// gatedSnapshots holds the first SaveSnapshot after arm until release, so a test can line
// batches up behind a persist that is under way.
type gatedSnapshots struct {
	ha.SnapshotStore
	mu      sync.Mutex
	armed   bool
	entered chan struct{}
	release chan struct{}
}

func (g *gatedSnapshots) arm() {
	g.mu.Lock()
	g.armed, g.entered, g.release = true, make(chan struct{}), make(chan struct{})
	g.mu.Unlock()
}

func (g *gatedSnapshots) SaveSnapshot(ctx context.Context, s store.Snapshot, keep int) (int64, error) {
	g.mu.Lock()
	armed, entered, release := g.armed, g.entered, g.release
	g.armed = false
	g.mu.Unlock()
	if armed {
		close(entered)
		select {
		case <-release:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	return g.SnapshotStore.SaveSnapshot(ctx, s, keep)
}

// tcpClient speaks the binary ingest protocol to one node.
type tcpClient struct {
	t    *testing.T
	conn net.Conn
	buf  []byte
}

func dialTCP(t *testing.T, addr string) *tcpClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &tcpClient{t: t, conn: c}
}

// send writes one frame per batch id, all in one write (pipelined), each of two events.
func (c *tcpClient) send(key string, ids ...uint64) {
	c.t.Helper()
	var frames []byte
	for _, id := range ids {
		ev := tcpingest.RawEvent{Values: tcpingest.EncodeEvent([]engine.Value{engine.LongValue(int64(id)), engine.DoubleValue(1)})}
		frames = tcpingest.AppendBatch(frames, &tcpingest.Batch{ID: id, App: "T", Stream: "S", Key: key, Events: []tcpingest.RawEvent{ev, ev}})
	}
	if _, err := c.conn.Write(frames); err != nil {
		c.t.Fatal(err)
	}
}

func (c *tcpClient) ack() *tcpingest.Ack {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, p, err := tcpingest.ReadFrame(c.conn, &c.buf)
	if err != nil {
		c.t.Fatal(err)
	}
	a, err := tcpingest.DecodeAck(p)
	if err != nil {
		c.t.Fatal(err)
	}
	return a
}

// expect reads the next ack and checks its batch id and status.
func (c *tcpClient) expect(what string, id uint64, status uint8) {
	c.t.Helper()
	if a := c.ack(); a.ID != id || a.Status != status {
		c.t.Fatalf("%s: ack %+v, want batch %d with status %d", what, a, id, status)
	}
}

// expectHTTP posts one event and checks the answer's alone and duplicate flags.
func expectHTTP(t *testing.T, p *inproc, what, key string, alone, duplicate bool) {
	t.Helper()
	resp, m := post(t, p.rest.URL+"/events/T/S", "", key, `{"id":1,"v":1}`)
	_, hasAlone := m["alone"]
	if resp.StatusCode != 200 || (m["alone"] == true) != alone || (hasAlone && !alone) || (m["duplicate"] == true) != duplicate {
		t.Fatalf("%s: HTTP %d %v, want alone=%v duplicate=%v", what, resp.StatusCode, m, alone, duplicate)
	}
}

// TestAnswersSayAloneAsDocumented checks every case the README documents for HTTP "alone" and
// TCP status 1 ("ok, alone"): set exactly when no passive holds the batch, in ack and async mode,
// with and without a passive, including a batch that a snapshot already covered by the time its
// answer was due (it used to get status 0 with no passive at all); never on a duplicate.
func TestAnswersSayAloneAsDocumented(t *testing.T) {
	noTimedPersist := func(c *config.Config) { c.PersistInterval = time.Hour }
	t.Run("ack", func(t *testing.T) {
		url := "sqlite://" + filepath.Join(t.TempDir(), "ha.db")
		var gate *gatedSnapshots
		a := startNodeSnaps(t, url, "a", tok, appSrc, func(s ha.SnapshotStore) ha.SnapshotStore {
			gate = &gatedSnapshots{SnapshotStore: s}
			return gate
		}, noTimedPersist)
		waitFor(t, "a active", func() bool { _, ok := a.node.Runner().Serving(); return ok })

		// No passive: every answer is alone.
		expectHTTP(t, a, "no passive, HTTP", "k1", true, false)
		tc := dialTCP(t, a.tcp)
		tc.send("", 1)
		tc.expect("no passive, TCP", 1, tcpingest.StatusOKAlone)

		// No passive, a batch covered by a snapshot before its answer is due: a persist is under
		// way (held at the store), batches 2 and 3 are applied behind it; batch 2's wait makes the
		// next persist cover both, so batch 3 is already safe when its turn comes.
		gate.arm()
		persisted := make(chan error, 1)
		go func() { persisted <- a.node.Persist(context.Background()) }()
		<-gate.entered
		before := a.node.Status().Apps["T"].LastSeq
		tc.send("", 2, 3)
		waitFor(t, "batches 2 and 3 applied", func() bool { return a.node.Status().Apps["T"].LastSeq == before+4 })
		close(gate.release)
		if err := <-persisted; err != nil {
			t.Fatal(err)
		}
		tc.expect("no passive, TCP, answered by a later persist", 2, tcpingest.StatusOKAlone)
		tc.expect("no passive, TCP, already covered by a snapshot", 3, tcpingest.StatusOKAlone)

		// Duplicates: never alone, TCP status 2.
		expectHTTP(t, a, "duplicate, HTTP", "k1", false, true)
		tc.send("k2", 4)
		tc.expect("first of a key, TCP", 4, tcpingest.StatusOKAlone)
		tc.send("k2", 5)
		tc.expect("duplicate, TCP", 5, tcpingest.StatusDuplicate)

		// A passive holds the batches: not alone.
		b := startNode(t, url, "b", tok, noTimedPersist)
		waitFor(t, "b synced", func() bool { return a.node.Status().Peer.Synced })
		expectHTTP(t, a, "passive, HTTP", "", false, false)
		tc.send("", 6, 7, 8)
		tc.expect("passive, TCP", 6, tcpingest.StatusOK)
		tc.expect("passive, TCP", 7, tcpingest.StatusOK)
		tc.expect("passive, TCP", 8, tcpingest.StatusOK)

		// The passive is gone: alone again.
		b.stop()
		waitFor(t, "b disconnected", func() bool { return !a.node.Status().Peer.Connected })
		expectHTTP(t, a, "passive gone, HTTP", "", true, false)
		tc.send("", 9)
		tc.expect("passive gone, TCP", 9, tcpingest.StatusOKAlone)
	})
	t.Run("async", func(t *testing.T) {
		url := "sqlite://" + filepath.Join(t.TempDir(), "ha.db")
		async := func(c *config.Config) { c.SyncMode = config.SyncAsync }
		a := startNode(t, url, "a", tok, async, noTimedPersist)
		waitFor(t, "a active", func() bool { _, ok := a.node.Runner().Serving(); return ok })
		tc := dialTCP(t, a.tcp)
		expectHTTP(t, a, "async, no passive, HTTP", "k1", true, false)
		tc.send("", 1)
		tc.expect("async, no passive, TCP", 1, tcpingest.StatusOKAlone)
		expectHTTP(t, a, "async, duplicate, HTTP", "k1", false, true)

		startNode(t, url, "b", tok, async, noTimedPersist)
		waitFor(t, "b synced", func() bool { return a.node.Status().Peer.Synced })
		expectHTTP(t, a, "async, passive, HTTP", "", false, false)
		tc.send("", 2)
		tc.expect("async, passive, TCP", 2, tcpingest.StatusOK)
	})
}
