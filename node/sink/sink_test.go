package sink_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/sink"
)

func out(id string, v int64) *engine.Output {
	return &engine.Output{ID: id, Stream: "O", TS: v, Attrs: []engine.Attr{{Name: "v", Type: engine.TypeLong}},
		Data: []engine.Value{engine.LongValue(v)}}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestOpenErrors(t *testing.T) {
	for _, spec := range []engine.SinkSpec{
		{Type: "kafka"}, {Type: "file"}, {Type: "http"}, {Type: "http", Options: map[string]string{"url": "ftp://x"}},
	} {
		if _, err := sink.Open(spec, "A", "O", quiet()); !errors.Is(err, sink.ErrConfig) {
			t.Errorf("%+v: %v", spec, err)
		}
	}
}

func TestLogSink(t *testing.T) {
	var buf bytes.Buffer
	s, err := sink.Open(engine.SinkSpec{Type: "log"}, "A", "O", slog.New(slog.NewTextHandler(&buf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	s.Write(context.Background(), []*engine.Output{out("A/q1/1/0", 5)})
	if !strings.Contains(buf.String(), `id=A/q1/1/0`) || !strings.Contains(buf.String(), `stream=O`) {
		t.Fatal(buf.String())
	}
}

func TestFileSinkDedupOnReplay(t *testing.T) {
	dir := t.TempDir()
	cfg := sink.DefaultConfig()
	cfg.BaseDir = dir
	spec := engine.SinkSpec{Type: "file", Options: map[string]string{"path": "sub/out.jsonl"}}
	ctx := context.Background()
	s, err := sink.OpenConfig(spec, "A", "O", quiet(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Write(ctx, []*engine.Output{out("A/q1/1/0", 1), out("A/q1/2/0", 2), out("A/q2/2/0", 20)})
	s.Close()
	path := filepath.Join(dir, "sub/out.jsonl")
	// simulate a torn write at the crash
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"id":"A/q1/3/0","str`)
	f.Close()

	s, err = sink.OpenConfig(spec, "A", "O", quiet(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	// a replay re-emits from seq 2
	s.Write(ctx, []*engine.Output{out("A/q1/2/0", 2), out("A/q2/2/0", 20), out("A/q1/3/0", 3), out("A/q1/3/1", 4)})
	s.Write(ctx, []*engine.Output{out("A/q1/3/1", 4), out("A/q2/3/0", 30)})
	s.Close()
	b, _ := os.ReadFile(path)
	var ids []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		ids = append(ids, l[7:strings.Index(l, `","stream"`)])
	}
	if got := strings.Join(ids, " "); got != "A/q1/1/0 A/q1/2/0 A/q2/2/0 A/q1/3/0 A/q1/3/1 A/q2/3/0" {
		t.Fatalf("ids %s\n%s", got, b)
	}
}

func TestHTTPSinkRetriesAndNeverDrops(t *testing.T) {
	var mu sync.Mutex
	var got []string
	calls, refusals := 0, 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		id := r.Header.Get(sink.OutputIDHeader)
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
			got = append(got, r.Header.Get(sink.TermHeader)+" "+id+" "+string(body))
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
