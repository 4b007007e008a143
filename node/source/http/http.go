// Package httpsource is @source(type='http'): an HTTP endpoint an app declares with
// receiver.url, opened by the active node only. Bodies use Siddhi's JSON formats (see mapper);
// every accepted request goes through the node's ingest path and is answered once safe.
package httpsource

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/ha"
	"github.com/streamha/streamha/node/kafkaconf"
	"github.com/streamha/streamha/node/source/jsonmap"
)

// Options is the option table of @source(type='http'); any other option is an error.
var Options = map[string]string{
	"receiver.url":       "http://0.0.0.0:9763/<app>/<stream> (Siddhi's default); https:// serves TLS with source_tls_cert_file",
	"basic.auth.enabled": "true (default here; Siddhi's is false) or false",
}

// Limits of one request.
const (
	MaxBody           = 16 << 20
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 60 * time.Second
	writeTimeout      = 60 * time.Second // the answer waits for safety (up to the node's ack timeout)
	idleTimeout       = 2 * time.Minute
)

// Endpoint is one http source: where it listens and which stream it feeds.
type Endpoint struct {
	App, Stream string
	Addr, Path  string // listen address (host:port) and URL path
	Auth        bool   // basic.auth.enabled
	TLS         bool   // receiver.url is https://: served with the sources' certificate
	mapper      *jsonmap.Mapper
}

// NewEndpoint checks a @source(type='http') of stream def in app and returns its endpoint.
func NewEndpoint(app string, def *engine.StreamDef, spec engine.SourceSpec) (*Endpoint, error) {
	if err := spec.CheckOptions(Options); err != nil {
		return nil, err
	}
	// ${NAME} references are expanded as in every source's options, so one app file can bind
	// each node of a pair to its own host (the app's fingerprint is of the unexpanded text).
	opts, err := kafkaconf.ExpandAll(spec.Options)
	if err != nil {
		return nil, err
	}
	e := &Endpoint{App: app, Stream: def.Name, Auth: true}
	raw := opts["receiver.url"]
	if raw == "" {
		raw = "http://0.0.0.0:9763/" + app + "/" + def.Name
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("receiver.url %q: %w", raw, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("receiver.url %q: want http://host:port/path or https://host:port/path", raw)
	case u.Port() == "":
		return nil, fmt.Errorf("receiver.url %q: needs a port", raw)
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("receiver.url %q: no query or fragment allowed", raw)
	}
	e.Addr, e.Path, e.TLS = u.Host, u.Path, u.Scheme == "https"
	if e.Path == "" {
		e.Path = "/"
	}
	if v, ok := opts["basic.auth.enabled"]; ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("basic.auth.enabled=%q: want true or false", v)
		}
		e.Auth = b
	}
	if e.mapper, err = jsonmap.New(def, spec.Map, "http"); err != nil {
		return nil, err
	}
	return e, nil
}

// Decode maps a request body to events (exported for tests and benchmarks).
func (e *Endpoint) Decode(body []byte) ([]ha.Event, error) { return e.mapper.Decode(body) }

// Node is what a source needs of the HA node.
type Node interface {
	Ingest(ctx context.Context, app, stream string, events []ha.Event, key string) (ha.Answer, error)
}

// Config is a server's node-level settings.
type Config struct {
	NodeID string
	// Authenticate checks basic auth credentials against the node's source_users.
	Authenticate func(user, password string) bool
	Logger       *slog.Logger
	// TLS, when set, serves the port with TLS (the endpoints' receiver.url is https://).
	TLS *tls.Config
}

// Server serves the http sources that share one listen address.
type Server struct {
	addr string
	cfg  Config
	node Node
	eps  map[string]*Endpoint

	mu  sync.Mutex
	srv *http.Server
	ln  net.Listener
}

// NewServer returns a server for endpoints that all listen on addr (distinct paths).
func NewServer(addr string, eps []*Endpoint, node Node, cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{addr: addr, cfg: cfg, node: node, eps: map[string]*Endpoint{}}
	for _, e := range eps {
		if e.TLS != eps[0].TLS {
			return nil, fmt.Errorf("http sources %s/%s and %s/%s share %s, one with http and one with https", eps[0].App, eps[0].Stream, e.App, e.Stream, addr)
		}
		if e.TLS && cfg.TLS == nil {
			return nil, fmt.Errorf("http source %s/%s: receiver.url is https but no certificate is configured (source_tls_cert_file, source_tls_key_file)", e.App, e.Stream)
		}
		if prev, dup := s.eps[e.Path]; dup {
			return nil, fmt.Errorf("http sources %s/%s and %s/%s both use %s%s", prev.App, prev.Stream, e.App, e.Stream, addr, e.Path)
		}
		s.eps[e.Path] = e
	}
	s.cfg.Logger = cfg.Logger.With("component", "http-source", "addr", addr)
	return s, nil
}

// SetNode sets the node the endpoints feed, before the first Open.
func (s *Server) SetNode(n Node) { s.node = n }

// Addr is the listen address.
func (s *Server) Addr() string { return s.addr }

// Open binds the port and serves until Close. A bind error is returned (the caller retries).
func (s *Server) Open() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("http source: listen %s: %w", s.addr, err)
	}
	srv := &http.Server{
		Handler: s, ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout,
		WriteTimeout: writeTimeout, IdleTimeout: idleTimeout, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelWarn),
	}
	if s.cfg.TLS != nil {
		ln = tls.NewListener(ln, s.cfg.TLS)
	}
	s.srv, s.ln = srv, ln
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.cfg.Logger.Error("http source stopped", "err", err)
		}
	}()
	s.cfg.Logger.Info("http source open", "paths", len(s.eps))
	return nil
}

// Close closes the port at once (new connections are refused) and lets requests under way be
// answered (bounded by the write timeout); idle connections are closed.
func (s *Server) Close() {
	s.mu.Lock()
	srv, ln := s.srv, s.ln
	s.srv, s.ln = nil, nil
	s.mu.Unlock()
	if srv == nil {
		return
	}
	ln.Close()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			srv.Close()
		}
	}()
	s.cfg.Logger.Info("http source closed")
}

// NodeHeader names the node that answered, so clients and tests can tell the nodes apart.
const NodeHeader = "X-HA-Node"

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(NodeHeader, s.cfg.NodeID)
	e, ok := s.eps[r.URL.Path]
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no source at " + r.URL.Path})
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use POST"})
		return
	}
	if e.Auth {
		u, p, ok := r.BasicAuth()
		if !ok || s.cfg.Authenticate == nil || !s.cfg.Authenticate(u, p) {
			w.Header().Set("WWW-Authenticate", `Basic realm="streamha"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or wrong basic auth credentials (source_users)"})
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": fmt.Sprintf("body over %d bytes", MaxBody)})
			return
		}
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "read body: " + err.Error()})
		return
	}
	events, err := e.Decode(body)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	ans, err := s.node.Ingest(r.Context(), e.App, e.Stream, events, r.Header.Get("Idempotency-Key"))
	var na *ha.NotActiveError
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, ans)
	case errors.As(err, &na):
		active := sameSourceOn(na.ActiveURL, s.addr, e.Path, e.TLS)
		if active != "" {
			w.Header().Set("X-HA-Active", active)
		}
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "not active", "active": active})
	case errors.Is(err, ha.ErrNotAcknowledged), errors.Is(err, ha.ErrBacklog):
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
	case errors.Is(err, ha.ErrBadEvent):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
	default:
		s.cfg.Logger.Error("ingest failed", "app", e.App, "stream", e.Stream, "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
	}
}

// sameSourceOn is this source's URL on the active node: its REST host with this port and path.
func sameSourceOn(activeREST, addr, path string, https bool) string {
	u, err := url.Parse(activeREST)
	if err != nil || u.Hostname() == "" {
		return ""
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	scheme := "http://"
	if https {
		scheme = "https://"
	}
	return scheme + net.JoinHostPort(u.Hostname(), port) + path
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
