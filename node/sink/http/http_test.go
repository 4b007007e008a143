package httpsink_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/sink"
	httpsink "github.com/streamha/streamha/node/sink/http"
)

func out(id string, v int64) *engine.Output {
	return &engine.Output{ID: id, Stream: "O", TS: v, Attrs: []engine.Attr{{Name: "v", Type: engine.TypeLong}},
		Data: []engine.Value{engine.LongValue(v)}}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestHTTPSinkRetriesAndNeverDrops(t *testing.T) {
	var mu sync.Mutex
	var got []string
	calls, refusals := 0, 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		id := r.Header.Get(httpsink.OutputIDHeader)
		body, _ := io.ReadAll(r.Body)
		switch {
		case id == "A/q1/1/0" && calls <= 2:
			w.WriteHeader(http.StatusServiceUnavailable)
		case id == "A/q1/2/0" && refusals < 2:
			refusals++
			w.WriteHeader(http.StatusBadRequest)
		case id == "A/q1/3/0" && calls <= 8:
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			got = append(got, r.Header.Get(httpsink.TermHeader)+" "+id+" "+string(body))
		}
	}))
	defer srv.Close()
	cfg := sink.DefaultConfig()
	cfg.InitialBackoff, cfg.MaxBackoff = time.Millisecond, 4*time.Millisecond
	cfg.Term = 7
	// blocking.io: one request at a time, so they arrive in order.
	s, err := sink.OpenConfig(engine.SinkSpec{Type: "http", Options: map[string]string{"url": srv.URL, "blocking.io": "true"}}, "A", "O", quiet(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	batch := []*engine.Output{out("A/q1/1/0", 1), out("A/q1/2/0", 2), out("A/q1/3/0", 3)}
	// A refused output (4xx) is an error, returned at once: the dispatcher keeps it and retries.
	for i := 0; i < 2; i++ {
		err := s.Write(context.Background(), batch)
		if sink.Kind(err) != sink.KindHTTP4xx || !strings.Contains(err.Error(), "A/q1/2/0 refused: status 400") {
			t.Fatalf("write %d: %v, want the 400 for A/q1/2/0", i, err)
		}
	}
	if err := s.Write(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	// Each output reached the receiver once: a retry does not post again what was accepted.
	want := `7 A/q1/1/0 {"id":"A/q1/1/0","stream":"O","ts":1,"data":{"v":1}}|7 A/q1/2/0 {"id":"A/q1/2/0","stream":"O","ts":2,"data":{"v":2}}|7 A/q1/3/0 {"id":"A/q1/3/0","stream":"O","ts":3,"data":{"v":3}}`
	if strings.Join(got, "|") != want {
		t.Fatalf("got %v", got)
	}
}

func TestHTTPSinkGivesUpAndHonoursContext(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer srv.Close()
	cfg := sink.DefaultConfig()
	cfg.InitialBackoff, cfg.MaxBackoff, cfg.MaxAttempts = time.Millisecond, time.Millisecond, 3
	spec := engine.SinkSpec{Type: "http", Options: map[string]string{"url": srv.URL}}
	s, _ := sink.OpenConfig(spec, "A", "O", quiet(), cfg)
	if err := s.Write(context.Background(), []*engine.Output{out("A/q1/1/0", 1)}); err == nil || !strings.Contains(err.Error(), "gave up after 3 attempts") || sink.Kind(err) != sink.KindHTTP5xx {
		t.Fatalf("err %v", err)
	}
	cfg.InitialBackoff, cfg.MaxAttempts = time.Hour, 5
	s, _ = sink.OpenConfig(spec, "A", "O", quiet(), cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Write(ctx, []*engine.Output{out("A/q1/1/0", 1)}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v", err)
	}
}

// batchReceiver records the ids of every accepted batch and fails the requests fail picks.
type batchReceiver struct {
	mu        sync.Mutex
	got       map[string]int // id -> times received
	order     []string       // ids in arrival order
	requests  int
	inFlight  int
	maxIn     int
	fail      func(first string) int // status for the batch starting at first; 0 = 200
	release   chan struct{}          // when set, each request waits for it...
	holdUntil int                    // ...until this many are in flight
}

func (b *batchReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	b.requests++
	b.inFlight++
	b.maxIn = max(b.maxIn, b.inFlight)
	release := b.release
	if release != nil && b.inFlight == b.holdUntil {
		close(release) // the pipeline is full: let them all go
		b.release = nil
	}
	b.mu.Unlock()
	defer func() { b.mu.Lock(); b.inFlight--; b.mu.Unlock() }()
	if release != nil {
		<-release
	}
	var recs []struct {
		ID string `json:"id"`
	}
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &recs); err != nil || len(recs) == 0 {
		http.Error(w, "want a JSON array", http.StatusBadRequest)
		return
	}
	if r.Header.Get(httpsink.OutputIDHeader) != recs[0].ID || r.Header.Get(httpsink.LastOutputIDHeader) != recs[len(recs)-1].ID ||
		r.Header.Get(httpsink.CountHeader) != strconv.Itoa(len(recs)) || r.Header.Get(httpsink.TermHeader) != "3" ||
		r.Header.Get("X-Tenant") != "t1" || r.Header.Get("Authorization") != "Basic dTpw" {
		http.Error(w, "bad headers", http.StatusBadRequest)
		return
	}
	if code := b.fail(recs[0].ID); code != 0 {
		w.WriteHeader(code)
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, rec := range recs {
		b.got[rec.ID]++
		b.order = append(b.order, rec.ID)
	}
}

func outs(n int) []*engine.Output {
	var l []*engine.Output
	for i := 1; i <= n; i++ {
		l = append(l, out(fmt.Sprintf("A/q1/%d/0", i), int64(i)))
	}
	return l
}

func openBatched(t *testing.T, url string, extra map[string]string) sink.Sink {
	t.Helper()
	cfg := sink.DefaultConfig()
	cfg.InitialBackoff, cfg.MaxBackoff, cfg.MaxAttempts, cfg.Term = time.Millisecond, time.Millisecond, 2, 3
	o := map[string]string{"url": url, "batch.size": "100", "headers": "'X-Tenant:t1'", "basic.auth.username": "u", "basic.auth.password": "p"}
	for k, v := range extra {
		o[k] = v
	}
	s, err := sink.OpenConfig(engine.SinkSpec{Type: "http", Options: o}, "A", "O", quiet(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestHTTPSinkBatchesArePipelinedAndAcknowledgedInOrder: 1,000 outputs go as 10 JSON arrays with
// up to pipeline.depth requests in flight; when one request fails, the Write reports exactly the
// outputs before it as written, and the retry sends the failed batch and the unsent ones, not
// the batches that already succeeded after it.
func TestHTTPSinkBatchesArePipelinedAndAcknowledgedInOrder(t *testing.T) {
	rcv := &batchReceiver{got: map[string]int{}, fail: func(string) int { return 0 }, release: make(chan struct{}), holdUntil: 4}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	s := openBatched(t, srv.URL, nil)
	// The first requests are held until 4 are in flight at once: the pipeline is really used.
	if err := s.Write(context.Background(), outs(1000)); err != nil {
		t.Fatal(err)
	}
	if len(rcv.got) != 1000 || rcv.requests != 10 || rcv.maxIn != 4 {
		t.Fatalf("received %d distinct outputs in %d requests, max %d in flight; want 1000 in 10, 4", len(rcv.got), rcv.requests, rcv.maxIn)
	}

	// A receiver refusing the batch starting at output 1101 (a 400) fails the Write there.
	rcv2 := &batchReceiver{got: map[string]int{}}
	var refuse atomic.Bool
	refuse.Store(true)
	rcv2.fail = func(first string) int {
		if first == "A/q1/1101/0" && refuse.Load() {
			return http.StatusBadRequest
		}
		return 0
	}
	srv2 := httptest.NewServer(rcv2)
	defer srv2.Close()
	s2 := openBatched(t, srv2.URL, map[string]string{"pipeline.depth": "3"})
	batch := outs(1500)[1000:] // outputs 1001..1500
	err := s2.Write(context.Background(), batch)
	w, f := sink.Progress(err, len(batch))
	if sink.Kind(err) != sink.KindHTTP4xx || w != 100 || f != 100 {
		t.Fatalf("err %v: written %d failed %d, want the 400 after 100 written, 100 failed", err, w, f)
	}
	for i := 1001; i <= 1100; i++ {
		if rcv2.got[fmt.Sprintf("A/q1/%d/0", i)] != 1 {
			t.Fatalf("output %d of the written prefix not received once", i)
		}
	}
	refuse.Store(false)
	if err := s2.Write(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	for i := 1001; i <= 1500; i++ {
		if n := rcv2.got[fmt.Sprintf("A/q1/%d/0", i)]; n != 1 {
			t.Fatalf("output %d received %d times, want once", i, n)
		}
	}
}

// BenchmarkHTTPSink measures the sink alone against a local receiver that decodes every JSON
// array it gets: outputs/s for one output per request (serial, the old sink) and batches of
// 500 with 4 in flight. go test -run x -bench HTTPSink ./node/sink/http
func BenchmarkHTTPSink(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v any
		if err := json.NewDecoder(r.Body).Decode(&v); err != nil {
			w.WriteHeader(http.StatusBadRequest)
		}
	}))
	defer srv.Close()
	for _, c := range []struct {
		name string
		opts map[string]string
	}{
		{"single-serial", map[string]string{"blocking.io": "true", "batch.size": "1"}},
		{"batch500-depth4", map[string]string{"batch.size": "500"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			o := map[string]string{"url": srv.URL}
			for k, v := range c.opts {
				o[k] = v
			}
			s, err := sink.OpenConfig(engine.SinkSpec{Type: "http", Options: o}, "A", "O", quiet(), sink.DefaultConfig())
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			const round = 16384
			b.ResetTimer()
			seq := 0
			for done := 0; done < b.N; done += round {
				l := make([]*engine.Output, 0, round)
				for i := 0; i < round; i++ {
					seq++
					l = append(l, out(fmt.Sprintf("A/q1/%d/0", seq), int64(seq)))
				}
				if err := s.Write(context.Background(), l); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(seq)/b.Elapsed().Seconds(), "outputs/s")
		})
	}
}

// TestHTTPSinkReplayBypassesDropByID: the error store's replay posts outputs the sink already
// posted (Write drops them by id), batch.size per request, and a refused request ends it with
// the outputs before it reported written.
func TestHTTPSinkReplayBypassesDropByID(t *testing.T) {
	rcv := &batchReceiver{got: map[string]int{}, fail: func(first string) int {
		if first == "A/q1/401/0" {
			return http.StatusBadRequest
		}
		return 0
	}}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	s := openBatched(t, srv.URL, nil)
	ctx := context.Background()
	if err := s.Write(ctx, outs(200)); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, outs(200)[50:150]); err != nil || rcv.requests != 2 {
		t.Fatalf("a second Write of posted outputs: %v, %d requests (want none sent)", err, rcv.requests)
	}
	if err := sink.Replay(ctx, s, outs(200)[50:150]); err != nil {
		t.Fatal(err)
	}
	if rcv.requests != 3 || rcv.got["A/q1/51/0"] != 2 || rcv.got["A/q1/150/0"] != 2 || rcv.got["A/q1/151/0"] != 1 {
		t.Fatalf("after the replay: %d requests, counts 51:%d 150:%d 151:%d", rcv.requests,
			rcv.got["A/q1/51/0"], rcv.got["A/q1/150/0"], rcv.got["A/q1/151/0"])
	}
	err := sink.Replay(ctx, s, outs(500)[300:])
	if w, f := sink.Progress(err, 200); sink.Kind(err) != sink.KindHTTP4xx || w != 100 || f != 100 {
		t.Fatalf("replay into a refusal: %v (written %d, failed %d), want the 400 after 100", err, w, f)
	}
}

// TestHTTPSinkInterleavedQueriesAreRecordedPerRun: outputs of two queries in alternating runs,
// batches cutting across the runs, a 400 on one batch with batches after it in flight: the
// written prefix, the retry and a later write with part of it again (a replay after failover)
// deliver each output once, so every query's position was recorded at the last output of its
// runs in each acknowledged batch.
func TestHTTPSinkInterleavedQueriesAreRecordedPerRun(t *testing.T) {
	rcv := &batchReceiver{got: map[string]int{}}
	var refuse atomic.Bool
	refuse.Store(true)
	var l []*engine.Output
	seq := 0
	for r := 0; r < 40; r++ { // runs of 7 outputs of q1 and 3 of q2, over inputs in order
		for i := 0; i < 7; i++ {
			seq++
			l = append(l, out(fmt.Sprintf("A/q1/%d/%d", seq, i%2), int64(len(l))))
		}
		for i := 0; i < 3; i++ {
			l = append(l, out(fmt.Sprintf("A/q2/%d/%d", seq, i), int64(len(l))))
		}
	}
	failAt := l[300].ID
	rcv.fail = func(first string) int {
		if first == failAt && refuse.Load() {
			return http.StatusBadRequest
		}
		return 0
	}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	s := openBatched(t, srv.URL, map[string]string{"pipeline.depth": "3"})
	if err := s.Write(context.Background(), l[:200]); err != nil {
		t.Fatal(err)
	}
	// Written again from 150 (a retry): 150..199 are dropped, requests start at 200, the one
	// starting at 300 is refused while the one after it goes through.
	err := s.Write(context.Background(), l[150:])
	if w, f := sink.Progress(err, len(l)-150); sink.Kind(err) != sink.KindHTTP4xx || w != 150 || f != 100 {
		t.Fatalf("err %v: written %d failed %d, want the 400 after 150 written, 100 failed", err, w, f)
	}
	refuse.Store(false)
	if err := s.Write(context.Background(), l[300:]); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(context.Background(), l[250:]); err != nil { // all posted before: nothing again
		t.Fatal(err)
	}
	for _, o := range l {
		if n := rcv.got[o.ID]; n != 1 {
			t.Fatalf("output %s received %d times, want once", o.ID, n)
		}
	}
	if len(rcv.got) != len(l) {
		t.Fatalf("received %d distinct outputs, want %d", len(rcv.got), len(l))
	}
}
