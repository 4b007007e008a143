package ha_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamha/streamha/node/config"
	"github.com/streamha/streamha/node/sink"
)

// receiver is an http sink's receiver for batches (JSON arrays): it counts each output id it
// accepted, and answers what answer says (0: 200) after gate lets the request through.
type receiver struct {
	mu     sync.Mutex
	got    map[string]int
	sizes  []int // outputs per accepted request, in order of acceptance
	calls  int
	answer func(call int, first string) int
	gate   chan struct{} // when set, every request waits until it is closed
}

func newReceiver(answer func(call int, first string) int) *receiver {
	return &receiver{got: map[string]int{}, answer: answer}
}

// startGatedReceiver starts a receiver whose requests wait until release (idempotent); closeAll
// releases them and closes the server, deferred so that it runs before a node's cleanup.
func startGatedReceiver() (rc *receiver, srv *httptest.Server, release, closeAll func()) {
	rc = newReceiver(func(int, string) int { return 0 })
	rc.gate = make(chan struct{})
	srv = httptest.NewServer(rc)
	released := false
	release = func() {
		if !released {
			released = true
			close(rc.gate)
		}
	}
	return rc, srv, release, func() { release(); srv.Close() }
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	rc.calls++
	call, gate := rc.calls, rc.gate
	rc.mu.Unlock()
	if gate != nil {
		<-gate
	}
	body, _ := io.ReadAll(r.Body)
	var recs []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &recs); err != nil || len(recs) == 0 {
		http.Error(w, "want a JSON array", http.StatusBadRequest)
		return
	}
	if code := rc.answer(call, recs[0].ID); code != 0 {
		w.WriteHeader(code)
		return
	}
	rc.mu.Lock()
	for _, rec := range recs {
		rc.got[rec.ID]++
	}
	rc.sizes = append(rc.sizes, len(recs))
	rc.mu.Unlock()
}

func (rc *receiver) distinct() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.got)
}

func httpApp(url, extra string) string {
	return `@app:name('T')
define stream S (id long, v double, pad string);
@sink(type='http', url='` + url + `', batch.size='100'` + extra + `)
define stream O (id long, v double, pad string);
from S[v > 0] select id, v, pad insert into O;`
}

// events builds a JSON batch of n events from id first on, each with a 200-byte pad.
func events(first, n int) string {
	pad := strings.Repeat("x", 200)
	var b strings.Builder
	b.WriteByte('[')
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d,"v":1,"pad":"%s"}`, first+i, pad)
	}
	b.WriteByte(']')
	return b.String()
}

func quickSinks(t *testing.T) sink.Config {
	sc := sink.DefaultConfig()
	sc.BaseDir = t.TempDir()
	sc.RetryInitial, sc.RetryMax = time.Millisecond, 20*time.Millisecond
	sc.InitialBackoff, sc.MaxBackoff, sc.MaxAttempts = time.Millisecond, 5*time.Millisecond, 2
	return sc
}

// TestSlowSinkBackPressureReachesTheClient: a receiver that does not answer holds the outputs in
// the outbox; once they pass max_pending_output_bytes (1 MiB) ingest answers 503 with
// Retry-After instead of growing the backlog, the pending bytes stay near the bound, and when
// the receiver answers again every acknowledged event's output arrives.
func TestSlowSinkBackPressureReachesTheClient(t *testing.T) {
	rc, srv, release, closeAll := startGatedReceiver()
	defer closeAll() // before the node's cleanup stops it, also when the test fails
	url := "sqlite://" + filepath.Join(t.TempDir(), "ha.db")
	a := startNodeSinks(t, url, "a", tok, httpApp(srv.URL, ""), quickSinks(t), func(c *config.Config) {
		c.MaxPendingOutputBytes = 1 << 20
	})
	waitFor(t, "a active", func() bool { _, ok := a.node.Runner().Serving(); return ok })
	acked, refused := 0, 0
	for batch := 0; batch < 100 && refused == 0; batch++ {
		resp, body := post(t, a.rest.URL+"/events/T/S", "", "", events(acked+1, 500))
		switch resp.StatusCode {
		case http.StatusOK:
			acked += 500
		case http.StatusServiceUnavailable:
			if resp.Header.Get("Retry-After") == "" || !strings.Contains(fmt.Sprint(body["error"]), "max_pending_output_bytes") {
				t.Fatalf("503 without Retry-After or the reason: %v %v", resp.Header, body)
			}
			refused++
		default:
			t.Fatalf("batch %d: status %d %v", batch, resp.StatusCode, body)
		}
	}
	st := a.node.Status().Apps["T"]
	if refused == 0 {
		t.Fatalf("no back-pressure after %d acknowledged events: %d outputs, %d bytes pending", acked, st.Outbox, st.OutboxBytes)
	}
	// The bound is checked before a batch is applied: at most one batch (500 outputs, about
	// 200 KB) over it.
	if st.OutboxBytes > 1<<20+400_000 || st.Outbox != acked {
		t.Fatalf("pending %d outputs, %d bytes; want all %d acknowledged ones, within one batch of 1 MiB", st.Outbox, st.OutboxBytes, acked)
	}
	if len(st.Sinks) != 1 || st.Sinks[0].PendingOutputs != acked || st.Sinks[0].Sink != "O:http" || st.Sinks[0].OnError != "wait" {
		t.Fatalf("sink status %+v, want O:http with %d pending", st.Sinks, acked)
	}
	release()
	waitFor(t, "every acknowledged output delivered", func() bool { return rc.distinct() == acked })
	waitFor(t, "the outbox empty", func() bool {
		st := a.node.Status().Apps["T"]
		return st.Outbox == 0 && st.OutboxBytes == 0 && st.DeliveredSeq == st.LastSeq
	})
	// Room again: ingest is accepted.
	if resp, body := post(t, a.rest.URL+"/events/T/S", "", "", events(acked+1, 10)); resp.StatusCode != http.StatusOK {
		t.Fatalf("after the sink caught up: %d %v", resp.StatusCode, body)
	}
	m := metricsText(t, a.rest.URL)
	if !strings.Contains(m, "streamha_backpressure_waits_total") || strings.Contains(m, "streamha_backpressure_waits_total 0\n") {
		t.Fatalf("back-pressure waits not counted:\n%s", grepLines(m, "backpressure"))
	}
}

// TestFailingReceiverLosesNothing: a receiver that answers 500, then is "down" (refuses with
// 503 for a while), then answers 400 once, then 200: under on.error='wait' every acknowledged
// event's output arrives and none is dropped.
func TestFailingReceiverLosesNothing(t *testing.T) {
	rc := newReceiver(func(call int, first string) int {
		switch {
		case call <= 3:
			return http.StatusInternalServerError
		case call <= 6:
			return http.StatusServiceUnavailable
		case call == 7:
			return http.StatusBadRequest
		}
		return 0
	})
	srv := httptest.NewServer(rc)
	defer srv.Close()
	url := "sqlite://" + filepath.Join(t.TempDir(), "ha.db")
	a := startNodeSinks(t, url, "a", tok, httpApp(srv.URL, ""), quickSinks(t))
	waitFor(t, "a active", func() bool { _, ok := a.node.Runner().Serving(); return ok })
	for i := 0; i < 5; i++ {
		if resp, body := post(t, a.rest.URL+"/events/T/S", "", "", events(i*300+1, 300)); resp.StatusCode != http.StatusOK {
			t.Fatalf("%d %v", resp.StatusCode, body)
		}
	}
	waitFor(t, "all 1500 outputs delivered", func() bool { return rc.distinct() == 1500 })
	waitFor(t, "delivered_seq at last_seq", func() bool {
		st := a.node.Status().Apps["T"]
		return st.Outbox == 0 && st.DeliveredSeq == st.LastSeq && st.SinkError == ""
	})
	m := metricsText(t, a.rest.URL)
	for _, want := range []string{`streamha_sink_errors_total{app="T",kind="http_5xx",sink="O:http"}`, `streamha_sink_errors_total{app="T",kind="http_4xx",sink="O:http"}`,
		`streamha_sink_delivered_outputs_total{app="T",sink="O:http"} 1500`} {
		if !strings.Contains(m, want) {
			t.Fatalf("metrics lack %s:\n%s", want, grepLines(m, "streamha_sink"))
		}
	}
	if strings.Contains(m, "streamha_sink_dropped_outputs_total{") {
		t.Fatalf("outputs dropped under on.error='wait':\n%s", grepLines(m, "dropped"))
	}
}

// TestOnErrorLogDropsOnlyWhatWasRefused: with on.error='log', the batch the receiver refuses
// (400) is dropped and counted, every other output arrives, and the app does not stall.
func TestOnErrorLogDropsOnlyWhatWasRefused(t *testing.T) {
	rc := newReceiver(func(_ int, first string) int {
		if first == "T/q1/101/0" {
			return http.StatusBadRequest
		}
		return 0
	})
	srv := httptest.NewServer(rc)
	defer srv.Close()
	url := "sqlite://" + filepath.Join(t.TempDir(), "ha.db")
	a := startNodeSinks(t, url, "a", tok, httpApp(srv.URL, ", on.error='log'"), quickSinks(t))
	waitFor(t, "a active", func() bool { _, ok := a.node.Runner().Serving(); return ok })
	// One batch of 300: outputs 1..100, 101..200 (refused), 201..300.
	if resp, body := post(t, a.rest.URL+"/events/T/S", "", "", events(1, 300)); resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %v", resp.StatusCode, body)
	}
	waitFor(t, "the outbox empty", func() bool {
		st := a.node.Status().Apps["T"]
		return st.Outbox == 0 && st.DeliveredSeq == st.LastSeq && st.LastSeq > 0
	})
	if n := rc.distinct(); n != 200 {
		t.Fatalf("%d outputs arrived, want the 200 not refused", n)
	}
	for i := 101; i <= 200; i++ {
		if rc.got[fmt.Sprintf("T/q1/%d/0", i)] != 0 {
			t.Fatalf("refused output %d arrived", i)
		}
	}
	st := a.node.Status().Apps["T"]
	if len(st.Sinks) != 1 || st.Sinks[0].Dropped != 100 || st.Sinks[0].Delivered != 200 {
		t.Fatalf("sink status %+v, want 100 dropped, 200 delivered", st.Sinks)
	}
	if m := metricsText(t, a.rest.URL); !strings.Contains(m, `streamha_sink_dropped_outputs_total{app="T",sink="O:http"} 100`) {
		t.Fatalf("drops not counted:\n%s", grepLines(m, "streamha_sink"))
	}
}

func metricsText(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
