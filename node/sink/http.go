package sink

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/streamha/streamha/node/engine"
)

// OutputIDHeader carries the output id so that the receiver can drop duplicates.
const OutputIDHeader = "X-Output-Id"

// TermHeader carries the writing active's term (Config.Term). Terms only grow, so a receiver
// that remembers the highest term seen can refuse writes of a node deposed meanwhile (one that
// was frozen between its leadership check and its write, say).
const TermHeader = "X-HA-Term"

// httpSink POSTs each output as a JSON body. 5xx, 408, 429 and network errors are retried
// with exponential backoff up to MaxAttempts; other 4xx responses drop the output with an error log.
type httpSink struct {
	url    string
	method string
	cfg    Config
	logger *slog.Logger
	buf    []byte
}

func newHTTP(spec engine.SinkSpec, cfg Config, logger *slog.Logger) (*httpSink, error) {
	u := spec.Options["url"]
	if u == "" {
		return nil, fmt.Errorf("open http sink: missing option url: %w", ErrConfig)
	}
	if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		return nil, fmt.Errorf("open http sink: bad url %q: %w", u, ErrConfig)
	}
	m := spec.Options["method"]
	if m == "" {
		m = http.MethodPost
	}
	if cfg.Client == nil {
		cfg.Client = http.DefaultClient
	}
	if cfg.MaxAttempts < 1 {
		cfg.MaxAttempts = 1
	}
	return &httpSink{url: u, method: m, cfg: cfg, logger: logger}, nil
}

func (s *httpSink) Write(ctx context.Context, outs []*engine.Output) error {
	for _, o := range outs {
		if err := s.send(ctx, o); err != nil {
			return err
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
			s.logger.Error("http sink dropped an output", "id", o.ID, "status", status, "url", s.url)
			return nil
		default:
			last = fmt.Errorf("status %d", status)
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
