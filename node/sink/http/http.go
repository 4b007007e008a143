// Package httpsink is the http sink: @sink(type='http', url='…') POSTs outputs as JSON to a
// receiver, with the output id and the writer's term in headers.
package httpsink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/sink"
)

func init() {
	sink.Register(sink.Type{
		Name: "http",
		Options: []sink.Option{
			{Name: "url", Required: true, Check: checkURL},
			{Name: "method", Default: http.MethodPost},
		},
		Open: func(s sink.Spec) (sink.Sink, error) { return newHTTP(s) },
	})
}

func checkURL(u string) error {
	if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		return errors.New("want http:// or https://")
	}
	return nil
}

// OutputIDHeader carries the output id so that the receiver can drop duplicates.
const OutputIDHeader = "X-Output-Id"

// TermHeader carries the writing active's term (Config.Term). Terms only grow, so a receiver
// that remembers the highest term seen can refuse writes of a node deposed meanwhile (one that
// was frozen between its leadership check and its write, say).
const TermHeader = "X-HA-Term"

// httpSink POSTs each output as a JSON body. 5xx, 408, 429 and network errors are retried
// with exponential backoff up to MaxAttempts, then returned; other 4xx responses are returned at
// once. Either way the output is not delivered: the dispatcher retries it, forever, and nothing
// is dropped. Outputs already posted are not posted again on a retry (by output id).
type httpSink struct {
	url    string
	method string
	cfg    sink.Config
	logger *slog.Logger
	buf    []byte
	high   map[string]sink.Position // highest output posted per "<app>/<query>"
}

func newHTTP(spec sink.Spec) (*httpSink, error) {
	cfg, logger := spec.Config, spec.Logger
	u := spec.Options["url"] // checked by sink.Resolve
	m := spec.Options["method"]
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.MaxAttempts < 1 {
		cfg.MaxAttempts = 1
	}
	return &httpSink{url: u, method: m, cfg: cfg, logger: logger, high: map[string]sink.Position{}}, nil
}

func (s *httpSink) Write(ctx context.Context, outs []*engine.Output) error {
	for _, o := range outs {
		key, p, ok := sink.ParseID(o.ID)
		if ok {
			if h, seen := s.high[key]; seen && !h.Less(p) {
				continue // posted before a failed write of the batch
			}
		}
		if err := s.send(ctx, o); err != nil {
			return err
		}
		if ok {
			s.high[key] = p
		}
	}
	return nil
}

func (s *httpSink) send(ctx context.Context, o *engine.Output) error {
	s.buf = o.AppendJSON(s.buf[:0])
	delay := s.cfg.InitialBackoff
	var last error
	for attempt := 1; attempt <= s.cfg.MaxAttempts; attempt++ {
		if attempt > 1 {
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("http sink %s: output %s: %w", s.url, o.ID, ctx.Err())
			case <-t.C:
			}
			delay = min(delay*2, s.cfg.MaxBackoff)
		}
		status, err := s.post(ctx, o.ID)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return fmt.Errorf("http sink %s: output %s: %w", s.url, o.ID, ctx.Err())
			}
			last = err
		case status >= 200 && status < 300:
			return nil
		case status >= 400 && status < 500 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests:
			// The receiver refuses it: asking again at once will not help. Not dropped: the
			// dispatcher keeps the output and retries with its backoff until it is accepted.
			return fmt.Errorf("http sink %s: output %s refused: %w", s.url, o.ID, &sink.StatusError{Code: status})
		default:
			last = &sink.StatusError{Code: status}
		}
		s.logger.Warn("http sink retry", "id", o.ID, "attempt", attempt, "err", last)
	}
	return fmt.Errorf("http sink %s: output %s: gave up after %d attempts: %w", s.url, o.ID, s.cfg.MaxAttempts, last)
}

func (s *httpSink) post(ctx context.Context, id string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, s.method, s.url, bytes.NewReader(s.buf))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(OutputIDHeader, id)
	if s.cfg.Term > 0 {
		req.Header.Set(TermHeader, strconv.FormatInt(s.cfg.Term, 10))
	}
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}

func (s *httpSink) Close() error { return nil }
