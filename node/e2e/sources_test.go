package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/streamha/streamha/internal/databridge"
	"github.com/streamha/streamha/internal/freeport"
	"github.com/streamha/streamha/internal/hatest"
	"github.com/streamha/streamha/internal/pgtest"
)

const sourcesApp = `@app:name('Src')
@source(type='http', receiver.url='http://127.0.0.1:%d/orders')
define stream Orders (id long, qty int);
@source(type='wso2event')
define stream Ticks (id long, v double);
@sink(type='file', path='orders.jsonl')
define stream OrdersOut (id long, qty int);
@sink(type='file', path='ticks.jsonl')
define stream TicksOut (id long, v double);
from Orders select id, qty insert into OrdersOut;
from Ticks select id, v insert into TicksOut;
`

// ackSet is the ids a loader saw acknowledged.
type ackSet struct {
	mu  sync.Mutex
	ids map[int64]bool
	n   atomic.Int64
}

func (a *ackSet) add(ids ...int64) {
	a.mu.Lock()
	for _, id := range ids {
		a.ids[id] = true
	}
	a.mu.Unlock()
	a.n.Add(int64(len(ids)))
}

// TestSourcesFollowTheActive: an app with an http source on one stream and a wso2event source
// on another, a pair of nodes, the active SIGKILLed under load on both, twice. The sources' ports
// open on the new active only once it serves (the passive's databridge port refuses), and every
// acknowledged event is in the outputs, none applied twice.
func TestSourcesFollowTheActive(t *testing.T) {
	url := pgtest.Shared(t).NewDatabase(t)
	httpPort, err := freeport.Port()
	if err != nil {
		t.Fatal(err)
	}
	apps := t.TempDir()
	if err := os.WriteFile(filepath.Join(apps, "src.siddhi"), []byte(fmt.Sprintf(sourcesApp, httpPort)), 0o644); err != nil {
		t.Fatal(err)
	}
	bridges := map[string]string{}
	c := startClusterPair(t, hatest.Options{
		Bin: nodeBin, Dir: t.TempDir(), N: 2, AppsDir: apps, ClusterDB: url,
		Extra: []string{"--persist_interval", "1s", "--source_users", "pub:pw"},
		NodeArgs: func(p *hatest.Proc) []string {
			a, err := freeport.Addr()
			if err != nil {
				t.Fatal(err)
			}
			bridges[p.ID] = a
			return []string{"--databridge_listen", a}
		},
	})
	ctx := context.Background()

	lctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	orders := &ackSet{ids: map[int64]bool{}}
	ticks := &ackSet{ids: map[int64]bool{}}
	wg.Add(2)
	go func() { defer wg.Done(); loadHTTP(lctx, fmt.Sprintf("http://127.0.0.1:%d/orders", httpPort), orders) }()
	go func() {
		defer wg.Done()
		loadBridge(lctx, []string{bridges[c.Nodes[0].ID], bridges[c.Nodes[1].ID]}, ticks)
	}()
	waitBoth := func(more int64) {
		t.Helper()
		o, k := orders.n.Load()+more, ticks.n.Load()+more
		deadline := time.Now().Add(60 * time.Second)
		for orders.n.Load() < o || ticks.n.Load() < k {
			if time.Now().After(deadline) {
				t.Fatalf("load stalled: orders %d/%d ticks %d/%d acknowledged", orders.n.Load(), o, ticks.n.Load(), k)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for round := 0; round < 2; round++ {
		waitBoth(200)
		old := c.Active()
		if old == nil {
			t.Fatalf("round %d: no active", round)
		}
		next := c.Peer(old)
		if !refused(bridges[next.ID]) {
			t.Fatalf("round %d: the passive %s's databridge port accepts connections", round, next.ID)
		}
		// Watch the passive's port: the first time it accepts, its node must already be active.
		opened := make(chan string, 1)
		go func() {
			for refusedOrDone(lctx, bridges[next.ID]) {
			}
			st, err := next.Status()
			role := fmt.Sprint(st["role"])
			if err != nil {
				role = err.Error()
			}
			opened <- role
		}()
		if err := old.Kill(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.WaitActive(ctx, 30*time.Second, old); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		select {
		case role := <-opened:
			if role != "active" {
				t.Fatalf("round %d: %s's databridge port opened while it was %s", round, next.ID, role)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: %s's databridge port never opened", round, next.ID)
		}
		waitBoth(200)
		if err := old.Start(); err != nil {
			t.Fatal(err)
		}
		if err := c.WaitPeerConnected(ctx, 30*time.Second); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	stop()
	wg.Wait()
	// Outputs are written once safe; give the last ones time to reach the files.
	deadline := time.Now().Add(30 * time.Second)
	for {
		lostO, twiceO := checkOutputs(t, c, "orders.jsonl", orders)
		lostT, twiceT := checkOutputs(t, c, "ticks.jsonl", ticks)
		if lostO+lostT == 0 || time.Now().After(deadline) {
			t.Logf("orders acked=%d lost=%d applied_twice=%d; ticks acked=%d lost=%d applied_twice=%d",
				len(orders.ids), lostO, twiceO, len(ticks.ids), lostT, twiceT)
			if lostO+lostT+twiceO+twiceT != 0 {
				t.Fatal("acknowledged events lost or applied twice")
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func refused(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		// Dialing a closed loopback port in the ephemeral range can connect the socket to
		// itself (TCP simultaneous open): that is no listener.
		self := c.LocalAddr().String() == c.RemoteAddr().String()
		c.Close()
		return self
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

func refusedOrDone(ctx context.Context, addr string) bool {
	if ctx.Err() != nil {
		return false
	}
	if refused(addr) {
		time.Sleep(5 * time.Millisecond)
		return true
	}
	return false
}

// loadHTTP posts one order at a time with an idempotency key, retrying each until acknowledged.
func loadHTTP(ctx context.Context, url string, acked *ackSet) {
	hc := &http.Client{Timeout: 15 * time.Second}
	for id := int64(1); ctx.Err() == nil; id++ {
		for ctx.Err() == nil {
			resp, err := postOrders(ctx, hc, url, id)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					acked.add(2*id, 2*id+1)
					break
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// postOrders posts orders 2*id and 2*id+1 to the http source at url as user pub, under
// idempotency key o-<id>: the one request of the e2e source clients, so a retry is the same.
func postOrders(ctx context.Context, hc *http.Client, url string, id int64) (*http.Response, error) {
	body := fmt.Sprintf(`[{"id":%d,"qty":1},{"id":%d,"qty":2}]`, 2*id, 2*id+1)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth("pub", "pw")
	req.Header.Set("Idempotency-Key", fmt.Sprintf("o-%d", id))
	return hc.Do(req)
}

// loadBridge publishes batches of 10 ticks through whichever node accepts, as a WSO2 publisher
// with a failover list does. A batch without an OK answer is not sent again (the protocol has
// no idempotency key): it may or may not be applied, and is not counted as acknowledged.
func loadBridge(ctx context.Context, addrs []string, acked *ackSet) {
	next := int64(1)
	for i := 0; ctx.Err() == nil; i++ {
		cl, err := databridge.Dial(addrs[i%len(addrs)])
		if err != nil {
			time.Sleep(5 * time.Millisecond)
			continue
		}
		if err := cl.Login("pub", "pw"); err != nil {
			cl.Close()
			continue
		}
		for ctx.Err() == nil {
			evs := make([]databridge.Event, 10)
			ids := make([]int64, 10)
			for j := range evs {
				ids[j] = next
				evs[j] = databridge.Event{StreamID: "Ticks:1.0.0", Payload: []any{next, 0.5}}
				next++
			}
			if err := cl.Publish(evs); err != nil {
				break
			}
			acked.add(ids...)
		}
		cl.Close()
	}
}

// checkOutputs reads file from both nodes' output dirs: acknowledged ids missing (lost), and
// ids applied under two input sequences (applied twice).
func checkOutputs(t *testing.T, c *hatest.Cluster, file string, acked *ackSet) (lost, twice int) {
	seqs := outputSeqs(t, c, file)
	for _, s := range seqs {
		if len(s) > 1 {
			twice++
		}
	}
	return countLost(seqs, acked), twice
}

// outputSeqs reads file from both nodes' output dirs: for each event id, the input sequences
// (from the output ids, app/query/seq/index) it was applied under.
func outputSeqs(t *testing.T, c *hatest.Cluster, file string) map[int64]map[string]bool {
	seqs := map[int64]map[string]bool{}
	for _, p := range c.Nodes {
		f, err := os.Open(filepath.Join(p.Dir, file))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var o struct {
				ID   string `json:"id"`
				Data struct {
					ID int64 `json:"id"`
				} `json:"data"`
			}
			if json.Unmarshal(sc.Bytes(), &o) != nil {
				continue // a line cut by the kill
			}
			parts := strings.Split(o.ID, "/") // app/query/seq/index
			if len(parts) != 4 {
				t.Fatalf("output id %q", o.ID)
			}
			if seqs[o.Data.ID] == nil {
				seqs[o.Data.ID] = map[string]bool{}
			}
			seqs[o.Data.ID][parts[2]] = true
		}
		f.Close()
	}
	return seqs
}

// countLost is the acknowledged ids with no output.
func countLost(seqs map[int64]map[string]bool, acked *ackSet) (lost int) {
	acked.mu.Lock()
	defer acked.mu.Unlock()
	for id := range acked.ids {
		if seqs[id] == nil {
			lost++
		}
	}
	return lost
}
