package ha_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamha/streamha/node/cluster"
	"github.com/streamha/streamha/node/config"
	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/ha"
	"github.com/streamha/streamha/node/rest"
	"github.com/streamha/streamha/node/sink"
	httpsink "github.com/streamha/streamha/node/sink/http"
	"github.com/streamha/streamha/node/store"
	"github.com/streamha/streamha/node/tcpingest"
)

const appSrc = `@app:name('T')
define stream S (id long, v double);
@sink(type='file', path='out.jsonl')
define stream O (id long, v double);
from S[v > 0] select id, v insert into O;`

// tok is the pair's shared secret, random for each run of the tests.
var tok = func() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}()

// inproc is one node running in the test process, with its REST API on an httptest server and
// its TCP ingest on a loopback listener.
type inproc struct {
	node   *ha.Node
	rest   *httptest.Server
	admin  *httptest.Server // the admin listener: switchover, persist
	info   cluster.NodeInfo
	tcp    string
	sync   string
	cancel context.CancelFunc
	done   chan struct{}
}

func startNode(t *testing.T, dbURL, id, token string, tune ...func(*config.Config)) *inproc {
	t.Helper()
	return startNodeApp(t, dbURL, id, token, appSrc, tune...)
}

// startNodeApp is startNode running the app src.
func startNodeApp(t *testing.T, dbURL, id, token, src string, tune ...func(*config.Config)) *inproc {
	t.Helper()
	sc := sink.DefaultConfig()
	sc.BaseDir = t.TempDir()
	return startNodeSinks(t, dbURL, id, token, src, sc, tune...)
}

// startNodeSinks is startNodeApp with the sink settings sc.
func startNodeSinks(t *testing.T, dbURL, id, token, src string, sc sink.Config, tune ...func(*config.Config)) *inproc {
	t.Helper()
	return startNodeFull(t, dbURL, id, token, src, sc, nil, nil, tune...)
}

// startNodeSources is startNodeApp with the node's Sources hook.
func startNodeSources(t *testing.T, dbURL, id, token, src string, sources ha.Sources, tune ...func(*config.Config)) *inproc {
	t.Helper()
	sc := sink.DefaultConfig()
	sc.BaseDir = t.TempDir()
	return startNodeFull(t, dbURL, id, token, src, sc, sources, nil, tune...)
}

// startNodeSnaps is startNodeApp with the node's snapshot store wrapped by wrap.
func startNodeSnaps(t *testing.T, dbURL, id, token, src string, wrap func(ha.SnapshotStore) ha.SnapshotStore, tune ...func(*config.Config)) *inproc {
	t.Helper()
	sc := sink.DefaultConfig()
	sc.BaseDir = t.TempDir()
	return startNodeAll(t, dbURL, id, token, src, sc, nil, nil, wrap, tune...)
}

// startNodeFull starts a node with sink settings sc, the Sources hook sources (nil: none) and
// the extra node properties props.
func startNodeFull(t *testing.T, dbURL, id, token, src string, sc sink.Config, sources ha.Sources, props map[string]string, tune ...func(*config.Config)) *inproc {
	t.Helper()
	return startNodeAll(t, dbURL, id, token, src, sc, sources, props, nil, tune...)
}

// startNodeAll is startNodeFull with, when wrap is set, the snapshot store wrapped by it.
func startNodeAll(t *testing.T, dbURL, id, token, src string, sc sink.Config, sources ha.Sources, props map[string]string, wrap func(ha.SnapshotStore) ha.SnapshotStore, tune ...func(*config.Config)) *inproc {
	t.Helper()
	app, err := engine.Compile("t.siddhi", src)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	syncLn, _ := net.Listen("tcp", "127.0.0.1:0")
	tcpLn, _ := net.Listen("tcp", "127.0.0.1:0")
	c := config.Default()
	c.NodeID, c.AuthToken, c.PersistInterval = id, token, time.Second
	for _, f := range tune {
		f(&c)
	}
	reg := prometheus.NewRegistry()
	p := &inproc{done: make(chan struct{}), tcp: tcpLn.Addr().String(), sync: syncLn.Addr().String()}
	log := slog.New(slog.DiscardHandler)
	// The REST server must exist before registration so the node advertises its URL.
	var n *ha.Node
	p.rest = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest.Handler(n, token, reg, log).ServeHTTP(w, r)
	}))
	t.Cleanup(p.rest.Close)
	p.admin = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest.AdminHandler(n, token, reg, log).ServeHTTP(w, r)
	}))
	t.Cleanup(p.admin.Close)
	p.info = cluster.NodeInfo{Group: c.Group, NodeID: id, Properties: map[string]string{
		cluster.PropSyncAddr: syncLn.Addr().String(), cluster.PropRESTAddr: p.rest.URL, cluster.PropTCPAddr: p.tcp,
	}}
	for k, v := range props {
		p.info.Properties[k] = v
	}
	var snaps ha.SnapshotStore = db
	if wrap != nil {
		snaps = wrap(db)
	}
	n, err = ha.New(ha.Options{
		Config: c, Apps: []*engine.App{app}, Cluster: db, Snapshots: snaps, Logger: log, Registry: reg, Sinks: sc,
		SyncListener: syncLn, Sources: sources, Node: p.info,
	})
	if err != nil {
		t.Fatal(err)
	}
	p.node = n
	tcp := tcpingest.NewServer(n, log)
	go tcp.Serve(tcpLn)
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() { defer close(p.done); n.Run(ctx) }()
	t.Cleanup(func() { tcp.Close(); p.stop() })
	return p
}

func (p *inproc) stop() {
	p.cancel()
	<-p.done
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func post(t *testing.T, url, token, key, body string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp, m
}

func TestPairOverRESTAndTCP(t *testing.T) {
	url := "sqlite://" + filepath.Join(t.TempDir(), "ha.db")
	a := startNode(t, url, "a", tok)
	waitFor(t, "a active", func() bool { _, ok := a.node.Runner().Serving(); return ok })

	// Alone: acknowledged once durable (the input log after a snapshot), and the answer says so.
	resp, m := post(t, a.rest.URL+"/events/T/S", "", "k1", `[{"id":1,"v":1.5},{"id":2,"v":2.5}]`)
	if resp.StatusCode != 200 || m["accepted"] != 2.0 || m["alone"] != true {
		t.Fatalf("alone ingest: %d %v", resp.StatusCode, m)
	}
	if st := a.node.Status(); st.Apps["T"].PersistSeq < 2 && st.Apps["T"].LoggedSeq < 2 {
		t.Fatalf("alone acknowledgement neither persisted nor logged: %+v", st.Apps["T"])
	}
	// The same key again: the first answer, nothing applied.
	resp, m = post(t, a.rest.URL+"/events/T/S", "", "k1", `[{"id":1,"v":1.5},{"id":2,"v":2.5}]`)
	if resp.StatusCode != 200 || m["duplicate"] != true || m["last_seq"] != 2.0 {
		t.Fatalf("retry: %d %v", resp.StatusCode, m)
	}
	// The public listener (behind the load balancer) has no mutating admin endpoint.
	for _, path := range []string{rest.SwitchoverPath, rest.PersistPath} {
		if resp, _ := post(t, a.rest.URL+path, tok, "", ""); resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("public listener serves %s: %d", path, resp.StatusCode)
		}
	}
	// Alone, the active is ready.
	if resp, err := http.Get(a.rest.URL + rest.ReadyPath); err != nil || resp.StatusCode != 200 {
		t.Fatalf("lone active %s: %v %v", rest.ReadyPath, resp, err)
	}
	// Switchover with no passive: refused; without the token: unauthorized.
	if resp, _ := post(t, a.admin.URL+"/ha/switchover", "", "", ""); resp.StatusCode != 401 {
		t.Fatalf("switchover without token: %d", resp.StatusCode)
	}
	if resp, _ := post(t, a.admin.URL+"/ha/switchover", tok, "", ""); resp.StatusCode != 409 {
		t.Fatalf("switchover without passive: %d", resp.StatusCode)
	}
	// Bad input: 400 naming the attribute; unknown stream: 404.
	if resp, m := post(t, a.rest.URL+"/events/T/S", "", "", `{"id":"x"}`); resp.StatusCode != 400 || !strings.Contains(m["error"].(string), "id") {
		t.Fatalf("bad event: %d %v", resp.StatusCode, m)
	}
	if resp, _ := post(t, a.rest.URL+"/events/T/Nope", "", "", `{}`); resp.StatusCode != 404 {
		t.Fatalf("unknown stream: %d", resp.StatusCode)
	}

	b := startNode(t, url, "b", tok)
	waitFor(t, "b synced", func() bool { st := a.node.Status(); return st.Peer.Synced })
	// The passive redirects.
	resp, m = post(t, b.rest.URL+"/events/T/S", "", "", `{"id":3,"v":1}`)
	if resp.StatusCode != 503 || m["active"] != a.rest.URL || resp.Header.Get("X-HA-Active") != a.rest.URL {
		t.Fatalf("passive answer: %d %v %v", resp.StatusCode, m, resp.Header)
	}
	if resp, err := http.Get(b.rest.URL + rest.ActivePath); err != nil || resp.StatusCode != 503 {
		t.Fatalf("passive /ha/active: %v %v", resp, err)
	}
	// The passive is ready once it is in sync (it reports its own view of the session).
	waitFor(t, "b ready", func() bool {
		resp, err := http.Get(b.rest.URL + rest.ReadyPath)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})

	// TCP ingest, pipelined, acknowledged once the passive holds the events.
	conn, err := net.Dial("tcp", a.tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var frames []byte
	for i := 0; i < 5; i++ {
		ev := tcpingest.RawEvent{Values: tcpingest.EncodeEvent([]engine.Value{engine.LongValue(int64(10 + i)), engine.DoubleValue(1)})}
		frames = tcpingest.AppendBatch(frames, &tcpingest.Batch{ID: uint64(i), App: "T", Stream: "S", Events: []tcpingest.RawEvent{ev, ev}})
	}
	frames = tcpingest.AppendBatch(frames, &tcpingest.Batch{ID: 99, App: "T", Stream: "S", Events: []tcpingest.RawEvent{{Values: []byte{9, 9}}}})
	conn.Write(frames)
	var buf []byte
	for i := 0; i < 6; i++ {
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, p, err := tcpingest.ReadFrame(conn, &buf)
		if err != nil {
			t.Fatal(err)
		}
		ack, _ := tcpingest.DecodeAck(p)
		if i < 5 && (ack.ID != uint64(i) || ack.Status != tcpingest.StatusOK || ack.LastSeq-ack.FirstSeq != 1) {
			t.Fatalf("ack %d = %+v", i, ack)
		}
		if i == 5 && (ack.ID != 99 || ack.Status != tcpingest.StatusBadRequest) {
			t.Fatalf("bad batch ack = %+v", ack)
		}
	}

	// A first election is no failover, in /ha/status and the metric alike.
	if f, m := a.node.Status().Failovers, scrape(t, a.rest.URL); f != 0 || !strings.Contains(m, "\nstreamha_failovers_total 0\n") {
		t.Fatalf("after the first election a reports failovers = %d; metric lines: %q", f, grepLines(m, "streamha_failovers_total"))
	}
	// Planned switchover: b serves at once, a redirects to it, and the idempotency key survived.
	// The answer comes once b serves: took_ms spans a refusing input to b accepting it.
	if resp, m := post(t, a.admin.URL+"/ha/switchover", tok, "", ""); resp.StatusCode != 200 ||
		m["new_active_confirmed"] != true || m["took_ms"].(float64) < m["handover_ms"].(float64) {
		t.Fatalf("switchover: %d %v", resp.StatusCode, m)
	}
	if _, ok := b.node.Runner().Serving(); !ok {
		t.Fatal("the switchover answered before the new active served: took_ms misses its part")
	}
	resp, m = post(t, b.rest.URL+"/events/T/S", "", "k1", `[{"id":1,"v":1.5},{"id":2,"v":2.5}]`)
	if resp.StatusCode != 200 || m["duplicate"] != true {
		t.Fatalf("key after switchover: %d %v", resp.StatusCode, m)
	}
	resp, m = post(t, b.rest.URL+"/events/T/S", "", "", `{"id":50,"v":1}`)
	if resp.StatusCode != 200 || m["last_seq"].(float64) <= 12 {
		t.Fatalf("ingest on the new active: %d %v", resp.StatusCode, m)
	}
	metrics := scrape(t, b.rest.URL)
	for _, name := range []string{"streamha_role", "streamha_term", "streamha_ingested_events_total", "streamha_failovers_total"} {
		if !strings.Contains(metrics, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	// The switchover was b's takeover from a: counted once, in /ha/status and the metric alike.
	if f := b.node.Status().Failovers; f != 1 || !strings.Contains(metrics, "\nstreamha_failovers_total 1\n") {
		t.Errorf("after the switchover b reports failovers = %d; metric lines: %q", f, grepLines(metrics, "streamha_failovers_total"))
	}
}

// TestOutputsOfAbandonedRequestGoOut: a client that stops waiting for its answer does not hold
// back the outputs of its (applied) events: they are written once the events are durable,
// without waiting for another input.
func TestOutputsOfAbandonedRequestGoOut(t *testing.T) {
	url := "sqlite://" + filepath.Join(t.TempDir(), "ha.db")
	noTimedPersist := func(c *config.Config) { c.PersistInterval = time.Hour }
	a := startNode(t, url, "a", tok, noTimedPersist)
	waitFor(t, "a active", func() bool { _, ok := a.node.Runner().Serving(); return ok })
	startNode(t, url, "b", tok, noTimedPersist)
	waitFor(t, "b synced", func() bool { return a.node.Status().Peer.Synced })
	gone, cancel := context.WithCancel(context.Background())
	cancel() // the client hung up before the passive acknowledged
	// The passive may acknowledge before Wait looks at the context (then Wait rightly succeeds
	// and nothing was abandoned), so submit until one batch is abandoned while still unsafe.
	abandoned := false
	for i := 0; i < 50 && !abandoned; i++ {
		pend, err := a.node.Submit("T", "S", []ha.Event{{Data: []engine.Value{engine.LongValue(int64(7 + i)), engine.DoubleValue(2)}}}, "")
		if err != nil {
			t.Fatal(err)
		}
		_, err = pend.Wait(gone)
		abandoned = err != nil
	}
	if !abandoned {
		t.Fatal("50 batches were all acknowledged before Wait ran: the abandoned path was never exercised")
	}
	waitFor(t, "the abandoned batch's output written", func() bool {
		st := a.node.Status().Apps["T"]
		return st.LastSeq >= 1 && st.Outbox == 0 && st.DeliveredSeq >= st.LastSeq
	})
}

// TestHTTPSinkCarriesTheTerm: outputs reach an http sink with the writing active's term, and a
// new active writes under a higher one, so a receiver can fence off a deposed writer.
func TestHTTPSinkCarriesTheTerm(t *testing.T) {
	var mu sync.Mutex
	terms := map[string]string{} // output id → X-HA-Term
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		terms[r.Header.Get(httpsink.OutputIDHeader)] = r.Header.Get(httpsink.TermHeader)
		mu.Unlock()
	}))
	defer recv.Close()
	src := strings.Replace(appSrc, "@sink(type='file', path='out.jsonl')", "@sink(type='http', url='"+recv.URL+"')", 1)
	url := "sqlite://" + filepath.Join(t.TempDir(), "ha.db")
	a := startNodeApp(t, url, "a", tok, src)
	waitFor(t, "a active", func() bool { _, ok := a.node.Runner().Serving(); return ok })
	b := startNodeApp(t, url, "b", tok, src)
	waitFor(t, "b synced", func() bool { return a.node.Status().Peer.Synced })
	termOf := func(id string) string {
		mu.Lock()
		defer mu.Unlock()
		return terms[id]
	}
	ans, err := a.node.Ingest(context.Background(), "T", "S", []ha.Event{{Data: []engine.Value{engine.LongValue(1), engine.DoubleValue(1)}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	first := "T/q1/" + strconv.FormatUint(ans.LastSeq, 10) + "/0"
	termA, _ := a.node.Runner().Serving()
	waitFor(t, "output of a", func() bool { return termOf(first) != "" })
	if got := termOf(first); got != strconv.FormatInt(termA, 10) {
		t.Fatalf("output %s sent with term %q, want %d", first, got, termA)
	}
	if err := a.node.Switchover(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b active", func() bool { _, ok := b.node.Runner().Serving(); return ok })
	ans, err = b.node.Ingest(context.Background(), "T", "S", []ha.Event{{Data: []engine.Value{engine.LongValue(2), engine.DoubleValue(1)}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	second := "T/q1/" + strconv.FormatUint(ans.LastSeq, 10) + "/0"
	termB, _ := b.node.Runner().Serving()
	waitFor(t, "output of b", func() bool { return termOf(second) != "" })
	if got := termOf(second); got != strconv.FormatInt(termB, 10) || termB <= termA {
		t.Fatalf("output %s of the new active sent with term %q (its term %d, the old one %d)", second, got, termB, termA)
	}
}

// scrape reads a node's /metrics.
func scrape(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return b.String()
}
