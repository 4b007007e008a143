// Package httpsink is the http sink: @sink(type='http', url='…') sends outputs as JSON to a
// receiver, one per request or batch.size per request (a JSON array), over keep-alive
// connections with up to pipeline.depth requests in flight, the output ids and the writer's
// term in headers.
package httpsink

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/sink"
)

// OutputIDHeader carries the output id (in batch mode: the first output's) so that the receiver
// can drop duplicates.
const OutputIDHeader = "X-Output-Id"

// LastOutputIDHeader carries the id of a batch's last output; CountHeader its output count.
const (
	LastOutputIDHeader = "X-Output-Id-Last"
	CountHeader        = "X-Output-Count"
)

// TermHeader carries the writing active's term (Config.Term). Terms only grow, so a receiver
// that remembers the highest term seen can refuse writes of a node deposed meanwhile (one that
// was frozen between its leadership check and its write, say).
const TermHeader = "X-HA-Term"

func init() {
	sink.Register(sink.Type{
		Name: "http",
		Options: []sink.Option{
			{Name: "url", Required: true, Check: checkURL},
			{Name: "method", Default: http.MethodPost, Check: sink.OneOf(http.MethodPost, http.MethodPut, http.MethodPatch)},
			{Name: "headers", Check: func(v string) error { _, err := parseHeaders(v); return err }},
			{Name: "basic.auth.username"},
			{Name: "basic.auth.password"},
			{Name: "batch.size", Default: "1", Check: sink.IntRange(1, 100_000)},
			{Name: "pipeline.depth", Default: "4", Check: sink.IntRange(1, 64)},
			{Name: "blocking.io", Default: "false", Check: sink.OneOf("true", "false")},
			{Name: "socket.idle.timeout", Default: "10000", Check: sink.IntRange(1, 3_600_000)},
		},
		Check: func(o map[string]string) error {
			if (o["basic.auth.username"] == "") != (o["basic.auth.password"] == "") {
				return errors.New("basic.auth.username and basic.auth.password go together")
			}
			return nil
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

// parseHeaders reads Siddhi's headers option: "'Name:value','Other:value'" (quotes optional).
func parseHeaders(v string) (http.Header, error) {
	h := http.Header{}
	for _, part := range strings.Split(v, ",") {
		part = strings.Trim(strings.TrimSpace(part), "'\"")
		if part == "" {
			continue
		}
		k, val, ok := strings.Cut(part, ":")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("header %q: want 'Name:value'", part)
		}
		h.Add(k, strings.TrimSpace(val))
	}
	return h, nil
}

// httpSink sends outputs in order: batches of batch.size, up to depth requests in flight on
// keep-alive connections. A Write reports the leading outputs whose request, and every request
// before it, succeeded (sink.WriteError): a batch counts as written only when all before it
// were. 5xx, 408, 429 and network errors are retried with exponential backoff up to
// MaxAttempts, then returned; a 4xx is returned at once. Either way the outputs are not
// delivered and the dispatcher's on.error policy decides. Outputs already posted are not posted
// again on a retry (by output id), nor are those of a request that succeeded after a failed one.
type httpSink struct {
	url     string
	method  string
	headers http.Header
	auth    string // Authorization header value, "" = none
	batch   int
	depth   int
	client  *http.Client
	cfg     sink.Config
	logger  *slog.Logger
	high    map[string]sink.Position // highest output posted per "<app>/<query>", in order
	ahead   map[string]bool          // ids posted by a request that succeeded after a failed one
	bufs    sync.Pool                // of *sendBuf
}

func newHTTP(spec sink.Spec) (*httpSink, error) {
	cfg, o := spec.Config, spec.Options // checked by sink.Resolve
	hdr, _ := parseHeaders(o["headers"])
	batch, _ := strconv.Atoi(o["batch.size"])
	depth, _ := strconv.Atoi(o["pipeline.depth"])
	if o["blocking.io"] == "true" {
		depth = 1
	}
	idle, _ := strconv.Atoi(o["socket.idle.timeout"])
	s := &httpSink{url: o["url"], method: o["method"], headers: hdr, batch: max(batch, 1), depth: max(depth, 1),
		client: cfg.Client, cfg: cfg, logger: spec.Logger, high: map[string]sink.Position{}, ahead: map[string]bool{}}
	if u := o["basic.auth.username"]; u != "" {
		s.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+o["basic.auth.password"]))
	}
	if s.client == nil {
		tr := &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: s.depth + 1,
			IdleConnTimeout:     90 * time.Second,
		}
		s.client = &http.Client{Transport: tr, Timeout: time.Duration(idle) * time.Millisecond}
	}
	if s.cfg.MaxAttempts < 1 {
		s.cfg.MaxAttempts = 1
	}
	return s, nil
}

// BatchSize is batch.size (sink.Batcher).
func (s *httpSink) BatchSize() int { return s.batch }

// chunk is one request: outs[first:end] of a Write, of which todo lists the ones to send;
// lasts are the places in todo of the last output of each run of a query (the ones whose
// positions record the request as posted).
type chunk struct {
	first, end int
	todo       []*engine.Output
	lasts      []int
	lastKey    string
	err        error
}

// add appends o, of query key (ok: its id has one), to the request.
func (c *chunk) add(o *engine.Output, i int, key string, ok bool) {
	if ok {
		if len(c.lasts) > 0 && c.lastKey == key && c.lasts[len(c.lasts)-1] == len(c.todo)-1 {
			c.lasts = c.lasts[:len(c.lasts)-1] // the run goes on
		}
		c.lasts = append(c.lasts, len(c.todo))
		c.lastKey = key
	}
	c.todo = append(c.todo, o)
	c.end = i + 1
}

func (s *httpSink) Write(ctx context.Context, outs []*engine.Output) error {
	// Group the outputs not posted before into requests of up to batch.size.
	var chunks []*chunk
	var cur *chunk
	var skipped []int // outputs posted ahead of a failure
	// Outputs of one query come in runs, in order: its position is looked up once per run,
	// and once one output of the run is past it, so are the others.
	var key string
	var high sink.Position
	var have, past bool
	for i, o := range outs {
		k, ok := sink.IDKey(o.ID)
		if ok {
			if !have || k != key {
				key, have = k, true
				var seen bool
				high, seen = s.high[k]
				past = !seen
			}
			if !past {
				if _, p, pok := sink.ParseID(o.ID); pok {
					if !high.Less(p) {
						continue // posted before a failed write of the batch
					}
					past = true
				}
			}
		}
		if len(s.ahead) > 0 && s.ahead[o.ID] {
			skipped = append(skipped, i)
			cur = nil // requests stay contiguous runs of outs
			continue
		}
		if cur == nil || len(cur.todo) == s.batch {
			cur = &chunk{first: i}
			chunks = append(chunks, cur)
		}
		cur.add(o, i, k, ok)
	}
	if len(chunks) == 0 {
		s.commit(outs, skipped, len(outs))
		return nil
	}
	// Send them with up to depth in flight; stop starting new ones once one failed.
	var failed atomic.Bool
	var wg sync.WaitGroup
	sem := make(chan struct{}, s.depth)
	for _, c := range chunks {
		if failed.Load() {
			c.err = errNotSent
			continue
		}
		sem <- struct{}{}
		if failed.Load() {
			<-sem
			c.err = errNotSent
			continue
		}
		wg.Add(1)
		go func(c *chunk) {
			defer func() { <-sem; wg.Done() }()
			if c.err = s.send(ctx, c.todo); c.err != nil {
				failed.Store(true)
			}
		}(c)
	}
	wg.Wait()
	// Acknowledge in order: up to the first request that failed.
	var werr *sink.WriteError
	for _, c := range chunks {
		switch {
		case werr == nil && c.err != nil:
			werr = &sink.WriteError{Written: c.first, Failed: c.end - c.first, Err: c.err}
		case werr == nil:
			for _, j := range c.lasts {
				s.advance(c.todo[j])
			}
		case c.err == nil: // posted after a failed request: not again on the retry
			for _, o := range c.todo {
				s.ahead[o.ID] = true
			}
		}
	}
	if werr == nil {
		s.commit(outs, skipped, len(outs))
		return nil
	}
	s.commit(outs, skipped, werr.Written)
	return werr
}

// Replay posts outs again, batch.size per request, one request at a time, whatever was posted
// before (the error store's replay); what it posts does not move the drop-by-id position. A
// failed request ends it with a sink.WriteError naming the outputs posted before it.
func (s *httpSink) Replay(ctx context.Context, outs []*engine.Output) error {
	for i := 0; i < len(outs); i += s.batch {
		end := min(i+s.batch, len(outs))
		if err := s.send(ctx, outs[i:end]); err != nil {
			return &sink.WriteError{Written: i, Failed: end - i, Err: err}
		}
	}
	return nil
}

// advance records o as posted in order; false when its id has no position.
func (s *httpSink) advance(o *engine.Output) bool {
	key, p, ok := sink.ParseID(o.ID)
	if ok {
		if h, seen := s.high[key]; !seen || h.Less(p) {
			s.high[key] = p
		}
	}
	return ok
}

// commit moves outputs posted ahead of a failure, now inside the written prefix outs[:upTo],
// to the in-order record.
func (s *httpSink) commit(outs []*engine.Output, skipped []int, upTo int) {
	for _, i := range skipped {
		if i < upTo {
			delete(s.ahead, outs[i].ID)
			s.advance(outs[i])
		}
	}
}

var errNotSent = errors.New("not sent: an earlier request failed")

// sendBuf is a request body's buffer with its encoder, pooled: requests in flight each have one.
type sendBuf struct {
	b   []byte
	enc sink.Encoder
}

// send posts one request, retrying transient failures.
func (s *httpSink) send(ctx context.Context, outs []*engine.Output) error {
	bp, _ := s.bufs.Get().(*sendBuf)
	if bp == nil {
		bp = new(sendBuf)
	}
	defer s.bufs.Put(bp)
	body := bp.b[:0]
	if s.batch == 1 {
		body = bp.enc.Append(body, outs[0])
	} else {
		body = append(body, '[')
		for i, o := range outs {
			if i > 0 {
				body = append(body, ',')
			}
			body = bp.enc.Append(body, o)
		}
		body = append(body, ']')
	}
	bp.b = body
	what := "output " + outs[0].ID
	if len(outs) > 1 {
		what = fmt.Sprintf("outputs %s..%s (%d)", outs[0].ID, outs[len(outs)-1].ID, len(outs))
	}
	delay := s.cfg.InitialBackoff
	var last error
	for attempt := 1; attempt <= s.cfg.MaxAttempts; attempt++ {
		if attempt > 1 {
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("http sink %s: %s: %w", s.url, what, ctx.Err())
			case <-t.C:
			}
			delay = min(delay*2, s.cfg.MaxBackoff)
		}
		status, err := s.post(ctx, body, outs)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return fmt.Errorf("http sink %s: %s: %w", s.url, what, ctx.Err())
			}
			last = err
		case status >= 200 && status < 300:
			return nil
		case status >= 400 && status < 500 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests:
			// The receiver refuses it: asking again at once will not help. The dispatcher's
			// on.error policy decides (wait: retried with backoff until accepted).
			return fmt.Errorf("http sink %s: %s refused: %w", s.url, what, &sink.StatusError{Code: status})
		default:
			last = &sink.StatusError{Code: status}
		}
		s.logger.Debug("http sink retry", "what", what, "attempt", attempt, "err", last)
	}
	return fmt.Errorf("http sink %s: %s: gave up after %d attempts: %w", s.url, what, s.cfg.MaxAttempts, last)
}

func (s *httpSink) post(ctx context.Context, body []byte, outs []*engine.Output) (int, error) {
	req, err := http.NewRequestWithContext(ctx, s.method, s.url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	for k, v := range s.headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(OutputIDHeader, outs[0].ID)
	if s.batch > 1 {
		req.Header.Set(LastOutputIDHeader, outs[len(outs)-1].ID)
		req.Header.Set(CountHeader, strconv.Itoa(len(outs)))
	}
	if s.cfg.Term > 0 {
		req.Header.Set(TermHeader, strconv.FormatInt(s.cfg.Term, 10))
	}
	if s.auth != "" {
		req.Header.Set("Authorization", s.auth)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // drained: the connection is reused
	resp.Body.Close()
	return resp.StatusCode, nil
}

func (s *httpSink) Close() error {
	s.client.CloseIdleConnections()
	return nil
}
