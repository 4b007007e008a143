package httpsink_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
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
	s, err := sink.OpenConfig(engine.SinkSpec{Type: "http", Options: map[string]string{"url": srv.URL}}, "A", "O", quiet(), cfg)
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
