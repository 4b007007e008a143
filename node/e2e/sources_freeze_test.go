package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamha/streamha/internal/databridge"
	"github.com/streamha/streamha/internal/freeport"
	"github.com/streamha/streamha/internal/hatest"
	"github.com/streamha/streamha/internal/pgtest"
)

// sourceLog is what a source client saw: every acknowledgement with the node that gave it and
// when, and the ids it had to send more than once.
type sourceLog struct {
	ackSet
	acks      []sourceAck
	resent    map[int64]bool
	follows   atomic.Int64 // X-HA-Active answers followed
	failovers atomic.Int64 // switches to the other address after an error or no answer
	dups      atomic.Int64 // answers "duplicate":true (a retry of an applied batch)
}

type sourceAck struct {
	node string
	at   time.Time
}

func newSourceLog() *sourceLog {
	return &sourceLog{ackSet: ackSet{ids: map[int64]bool{}}, resent: map[int64]bool{}}
}

func (l *sourceLog) ack(node string, ids []int64) {
	l.mu.Lock()
	l.acks = append(l.acks, sourceAck{node, time.Now()})
	l.mu.Unlock()
	l.add(ids...)
}

func (l *sourceLog) resend(ids []int64) {
	l.mu.Lock()
	for _, id := range ids {
		l.resent[id] = true
	}
	l.mu.Unlock()
}

// count is the acknowledgements node gave after t; firstAfter the first one.
func (l *sourceLog) count(node string, after time.Time) (n int, first time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range l.acks {
		if a.node == node && a.at.After(after) {
			if n == 0 {
				first = a.at
			}
			n++
		}
	}
	return n, first
}

// followHTTP posts batches of two orders, each with its own idempotency key and retried until
// acknowledged, as a client of an http source behind two hosts does: an answer's X-HA-Active is
// followed, and no answer (refused, or none within 2 s) moves it to the other URL.
func followHTTP(ctx context.Context, urls []string, l *sourceLog) {
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{}}
	target := urls[0]
	other := func(u string) string {
		if u == urls[0] {
			return urls[1]
		}
		return urls[0]
	}
	for id := int64(1); ctx.Err() == nil; id++ {
		ids := []int64{2 * id, 2*id + 1}
		for attempt := 0; ctx.Err() == nil; attempt++ {
			if attempt > 0 {
				l.resend(ids)
				time.Sleep(5 * time.Millisecond)
			}
			resp, err := postOrders(ctx, hc, target, id)
			if err != nil {
				target = other(target)
				l.failovers.Add(1)
				continue
			}
			var ans struct {
				Duplicate bool `json:"duplicate"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&ans)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if ans.Duplicate {
					l.dups.Add(1)
				}
				l.ack(resp.Header.Get("X-HA-Node"), ids)
				break
			}
			if a := resp.Header.Get("X-HA-Active"); a != "" {
				target = a
				l.follows.Add(1)
			}
		}
	}
}

// followBridge publishes batches of 10 ticks over the databridge protocol with a failover list
// of both hosts (WSO2's {tcp://a:9611 | tcp://b:9611}): an error, a refused connection or no
// answer within 2 s moves it to the other address, and the batch is sent again there (the
// protocol has no idempotency key, so the repeat may be applied twice: at least once).
func followBridge(ctx context.Context, addrs, nodes []string, l *sourceLog) {
	next := int64(1)
	var pending []int64
	cur := 0
	for ctx.Err() == nil {
		var cl *databridge.Client
		conn, err := net.DialTimeout("tcp", addrs[cur], 2*time.Second)
		if err == nil {
			cl = databridge.NewClient(conn)
			cl.Timeout = 2 * time.Second
			err = cl.Login("pub", "pw")
		}
		for err == nil && ctx.Err() == nil {
			if pending == nil {
				for j := 0; j < 10; j++ {
					pending = append(pending, next)
					next++
				}
			}
			evs := make([]databridge.Event, len(pending))
			for j, id := range pending {
				evs[j] = databridge.Event{StreamID: "Ticks:1.0.0", Payload: []any{id, 0.5}}
			}
			if err = cl.Publish(evs); err != nil {
				l.resend(pending) // not acknowledged: it goes out again on the next connection
				break
			}
			l.ack(nodes[cur], pending)
			pending = nil
		}
		if cl != nil {
			cl.Close()
		}
		if ctx.Err() == nil {
			cur = 1 - cur
			l.failovers.Add(1)
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// TestSourcesFollowTheActiveThroughAFreeze: the pair's sources under load from clients that
// retry what was not acknowledged, the active frozen (SIGSTOP) past its lease, the passive takes
// over, the old node resumed. "two hosts": the nodes stand for two hosts (127.0.0.1 and
// 127.0.0.2, the same source ports on each, one app file with receiver.url's host from
// ${E2E_SOURCE_HOST}), and the clients reach the new active while the old one is still frozen.
// "one address": both nodes declare the same http source address, so the frozen node's
// listening socket keeps the port until it resumes and closes it, and the new active binds it
// then (the databridge ports differ per node there). Checked in
// both: requests queued on the frozen node's ports are refused once it resumes (http: 503 with
// X-HA-Active naming the new active's source, which the client follows, or a reset connection);
// the deposed node acknowledges nothing after its resume; every acknowledged event is in the
// outputs; with the http source's idempotency keys nothing is applied twice, and over
// databridge (no idempotency key: at least once) only events the publisher sent again can be
// applied twice, each repeat under its own input sequence in the output id.
func TestSourcesFollowTheActiveThroughAFreeze(t *testing.T) {
	t.Run("two hosts", func(t *testing.T) { freezeSources(t, true) })
	t.Run("one address", func(t *testing.T) { freezeSources(t, false) })
}

func freezeSources(t *testing.T, twoHosts bool) {
	url := pgtest.Shared(t).NewDatabase(t)
	httpPort, err := freeport.Port()
	if err != nil {
		t.Fatal(err)
	}
	bridgePort, err := freeport.Port()
	if err != nil {
		t.Fatal(err)
	}
	hosts := map[string]string{"node-a": "127.0.0.1", "node-b": "127.0.0.1"}
	if twoHosts {
		hosts["node-b"] = "127.0.0.2"
		ln, err := net.Listen("tcp", hosts["node-b"]+":0")
		if err != nil {
			t.Fatalf("no second loopback address to stand for a second host: %v", err)
		}
		ln.Close()
	}
	app := strings.Replace(fmt.Sprintf(sourcesApp, httpPort), "127.0.0.1", "${E2E_SOURCE_HOST}", 1)
	apps := t.TempDir()
	if err := os.WriteFile(filepath.Join(apps, "src.siddhi"), []byte(app), 0o644); err != nil {
		t.Fatal(err)
	}
	sourceURL := func(id string) string { return fmt.Sprintf("http://%s:%d/orders", hosts[id], httpPort) }
	// On one address the databridge ports differ per node: a publisher cannot tell which node
	// answered on a shared one (the http source says so in X-HA-Node), and the frozen node
	// holding a shared port is shown by the http source already.
	bridgePorts := map[string]int{"node-a": bridgePort, "node-b": bridgePort}
	if !twoHosts {
		if bridgePorts["node-b"], err = freeport.Port(); err != nil {
			t.Fatal(err)
		}
	}
	bridgeAddr := func(id string) string { return fmt.Sprintf("%s:%d", hosts[id], bridgePorts[id]) }
	c := startClusterPair(t, hatest.Options{
		Bin: nodeBin, Dir: t.TempDir(), N: 2, AppsDir: apps, ClusterDB: url,
		Extra: []string{"--persist_interval", "1s", "--source_users", "pub:pw"},
		NodeArgs: func(p *hatest.Proc) []string {
			_, port, _ := net.SplitHostPort(p.RESTAddr)
			// The REST address on the node's own host, so that X-HA-Active (the source's port on
			// the active's REST host) names the right one.
			p.RESTAddr = net.JoinHostPort(hosts[p.ID], port)
			return []string{"--rest_listen", p.RESTAddr, "--databridge_listen", bridgeAddr(p.ID)}
		},
		NodeEnv: func(p *hatest.Proc) []string { return []string{"E2E_SOURCE_HOST=" + hosts[p.ID]} },
	})
	ctx := context.Background()
	ids := []string{c.Nodes[0].ID, c.Nodes[1].ID}

	lctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	orders, ticks := newSourceLog(), newSourceLog()
	wg.Add(2)
	go func() { defer wg.Done(); followHTTP(lctx, []string{sourceURL(ids[0]), sourceURL(ids[1])}, orders) }()
	go func() {
		defer wg.Done()
		followBridge(lctx, []string{bridgeAddr(ids[0]), bridgeAddr(ids[1])}, ids, ticks)
	}()
	// waitFrom waits for n more acknowledgements of each source from node after since.
	waitFrom := func(node string, since time.Time, n int, what string) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			o, _ := orders.count(node, since)
			k, _ := ticks.count(node, since)
			if o >= n && k >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %s acknowledged %d http batches and %d databridge batches, want %d each", what, node, o, k, n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	old := c.Active()
	if old == nil {
		t.Fatal("no active")
	}
	waitFrom(old.ID, time.Time{}, 100, "before the freeze")
	if err := c.WaitPeerConnected(ctx, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	// A publisher that logged in on the active just before it froze, and publishes during the
	// freeze: its batch waits in the frozen node's socket.
	probe, err := databridge.Dial(bridgeAddr(old.ID))
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	probe.Timeout = 60 * time.Second
	if err := probe.Login("pub", "pw"); err != nil {
		t.Fatal(err)
	}

	paused := time.Now()
	if err := old.Pause(); err != nil {
		t.Fatal(err)
	}
	resumedOnce := false
	defer func() {
		if !resumedOnce {
			old.Resume()
		}
	}()
	next, err := c.WaitActive(ctx, 30*time.Second, old)
	if err != nil {
		t.Fatal(err)
	}
	tookOver := time.Now()
	// Requests sent to the frozen node after the takeover: its ports still accept connections
	// (the kernel does), nothing answers until it resumes.
	type probeAnswer struct {
		code         int
		node, active string
		err          error
	}
	httpProbe := make(chan probeAnswer, 1)
	probeIDs := []int64{1_000_000_001, 1_000_000_002}
	probeBody := fmt.Sprintf(`[{"id":%d,"qty":7},{"id":%d,"qty":7}]`, probeIDs[0], probeIDs[1])
	postProbe := func(target string, wrote chan<- struct{}) probeAnswer {
		req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(probeBody))
		if wrote != nil {
			var once sync.Once
			req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
				WroteRequest: func(httptrace.WroteRequestInfo) { once.Do(func() { close(wrote) }) },
			}))
		}
		req.SetBasicAuth("pub", "pw")
		req.Header.Set("Idempotency-Key", "freeze-probe")
		// A new connection each time: on one address a pooled one could lead to either node.
		hc := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := hc.Do(req)
		if err != nil {
			return probeAnswer{err: err}
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return probeAnswer{code: resp.StatusCode, node: resp.Header.Get("X-HA-Node"), active: resp.Header.Get("X-HA-Active")}
	}
	wrote := make(chan struct{})
	go func() { httpProbe <- postProbe(sourceURL(old.ID), wrote) }()
	bridgeProbe := make(chan error, 1)
	bridgeProbeIDs := []any{int64(1_000_000_001), 0.5}
	if err := probe.WriteRaw(databridge.AppendPublish(nil, probe.Session, []databridge.Event{{StreamID: "Ticks:1.0.0", Payload: bridgeProbeIDs}})); err != nil {
		t.Fatalf("publish to the frozen node: %v", err)
	}
	go func() {
		_, err := probe.ReadAnswer()
		bridgeProbe <- err
	}()
	select {
	case <-wrote:
	case a := <-httpProbe:
		t.Fatalf("the http probe to the frozen node ended before it was sent: %+v", a)
	case <-time.After(30 * time.Second):
		t.Fatal("the http probe to the frozen node was not sent within 30 s")
	}
	if twoHosts {
		// The clients reach the new active while the old one is still frozen.
		waitFrom(next.ID, tookOver, 50, "during the freeze")
	} else {
		// The new active cannot bind the http source's port the frozen node holds, and keeps
		// trying.
		deadline := time.Now().Add(30 * time.Second)
		for {
			b, _ := os.ReadFile(next.LogPath)
			if strings.Contains(string(b), fmt.Sprintf("source port not available yet; retrying\" node=%s group=default component=sources addr=127.0.0.1:%d", next.ID, httpPort)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s did not report the frozen node's source ports as not available", next.ID)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	select {
	case a := <-httpProbe:
		t.Fatalf("the frozen node answered the http source probe: %+v", a)
	case err := <-bridgeProbe:
		t.Fatalf("the frozen node answered the databridge probe: %v", err)
	default:
	}
	frozenFor := time.Since(paused)
	resumed := time.Now()
	if err := old.Resume(); err != nil {
		t.Fatal(err)
	}
	resumedOnce = true

	// The queued requests are refused by the deposed node, not acknowledged.
	var first probeAnswer
	select {
	case first = <-httpProbe:
	case <-time.After(60 * time.Second):
		t.Fatal("the resumed node never answered the http probe queued during its freeze")
	}
	if first.err == nil && first.code == http.StatusOK {
		t.Fatalf("the deposed node acknowledged the http probe queued during its freeze (answered by %s)", first.node)
	}
	// Either the resumed node took the queued connection and answered 503 naming the new
	// active's source, or it closed its port with the connection still unaccepted (the kernel
	// resets it): the client then moves to the other host of its list, as on any error.
	want := sourceURL(next.ID)
	follow := first.active
	switch {
	case first.err != nil:
		t.Logf("the http probe queued during the freeze: connection ended (%v); trying the other host", first.err)
		follow = want
	case first.code != http.StatusServiceUnavailable || first.active != want:
		t.Fatalf("the http probe queued on the frozen node got %d (X-HA-Active %q) after the resume, want 503 with X-HA-Active %s",
			first.code, first.active, want)
	default:
		t.Logf("the http probe queued during the freeze: 503 from %s with X-HA-Active %s", first.node, first.active)
	}
	// Sent again until answered (on one address, refused until the new active has the port).
	second := postProbe(follow, nil)
	for retry := time.Now().Add(15 * time.Second); second.err != nil && time.Now().Before(retry); second = postProbe(follow, nil) {
		time.Sleep(20 * time.Millisecond)
	}
	if second.err != nil || second.code != http.StatusOK || second.node != next.ID {
		t.Fatalf("the http probe sent again to %s got %+v, want 200 from %s", follow, second, next.ID)
	}
	select {
	case err := <-bridgeProbe:
		var se *databridge.ServerError
		if err == nil {
			t.Fatal("the deposed node acknowledged the databridge publish queued during its freeze")
		}
		if errors.As(err, &se) {
			t.Logf("the databridge publish queued during the freeze: %s", se)
		} else {
			t.Logf("the databridge publish queued during the freeze: connection ended: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the resumed node never answered the databridge publish queued during its freeze")
	}
	// The deposed node closes its ports (on one address, the new active has them now).
	deadline := time.Now().Add(15 * time.Second)
	for (twoHosts && !refused(fmt.Sprintf("%s:%d", hosts[old.ID], httpPort))) || !refused(bridgeAddr(old.ID)) {
		if time.Now().After(deadline) {
			t.Fatalf("the deposed node %s still has a source port open 15 s after its resume", old.ID)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("the deposed node's source ports refused connections %s after its resume (at most)", time.Since(resumed).Round(time.Millisecond))
	waitFrom(next.ID, resumed, 100, "after the resume")
	for _, l := range []*sourceLog{orders, ticks} {
		if n, at := l.count(old.ID, resumed); n != 0 {
			t.Fatalf("the deposed node %s acknowledged %d batches after its resume, the first %s after it", old.ID, n, at.Sub(resumed))
		}
	}
	st, err := old.Status()
	if err != nil {
		t.Fatal(err)
	}
	if st["serving"] == true {
		t.Fatalf("resumed node still serving: %v", st)
	}
	if err := c.WaitPeerConnected(ctx, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	stop()
	wg.Wait()

	_, firstO := orders.count(next.ID, paused)
	_, firstT := ticks.count(next.ID, paused)
	// Outputs are written once safe; give the last ones time to reach the files.
	orders.add(probeIDs...)
	deadline = time.Now().Add(30 * time.Second)
	for {
		lostO, twiceO := checkOutputs(t, c, "orders.jsonl", &orders.ackSet)
		lostT := countLost(outputSeqs(t, c, "ticks.jsonl"), &ticks.ackSet)
		if lostO+lostT == 0 || time.Now().After(deadline) {
			seqs := outputSeqs(t, c, "ticks.jsonl")
			if seqs[bridgeProbeIDs[0].(int64)] != nil {
				t.Fatal("the databridge publish the deposed node refused after its resume was applied")
			}
			var twiceT, unexplained int
			ticks.mu.Lock()
			for id, s := range seqs {
				if len(s) > 1 {
					twiceT++
					if !ticks.resent[id] {
						unexplained++
					}
				}
			}
			resentT := len(ticks.resent)
			ticks.mu.Unlock()
			t.Logf("frozen %s for %s; new active's first ack after the freeze: http %s, databridge %s",
				old.ID, frozenFor.Round(time.Millisecond), firstO.Sub(paused).Round(time.Millisecond), firstT.Sub(paused).Round(time.Millisecond))
			t.Logf("http: acked=%d lost=%d applied_twice=%d duplicate_answers=%d X-HA-Active_followed=%d failovers=%d",
				len(orders.ids), lostO, twiceO, orders.dups.Load(), orders.follows.Load(), orders.failovers.Load())
			t.Logf("databridge: acked=%d lost=%d sent_again=%d applied_twice=%d (all sent again: %v) failovers=%d",
				len(ticks.ids), lostT, resentT, twiceT, unexplained == 0, ticks.failovers.Load())
			if lostO+lostT != 0 {
				t.Fatal("acknowledged events lost")
			}
			if twiceO != 0 {
				t.Fatal("http source events applied twice despite idempotency keys")
			}
			if unexplained != 0 {
				t.Fatalf("%d databridge events applied twice that the publisher sent once", unexplained)
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}
