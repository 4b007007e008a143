// Package rest is the node's HTTP face: event ingest, health, readiness and role endpoints for
// load balancers and ECS, status and Prometheus metrics on the public listener; planned
// switchover and on-demand persist on the admin listener, which is never behind the load balancer.
package rest

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/streamha/streamha/internal/acceptor"
	"github.com/streamha/streamha/node/ha"
)

// Paths that load balancers and the deployment template rely on.
const (
	HealthPath = "/health"
	// ActivePath answers 200 only on the serving active, so an NLB routes to it alone.
	ActivePath = "/ha/active"
	StatusPath = "/ha/status"
	// ReadyPath answers 200 on a node that may be stopped without losing a standby: the active,
	// or a passive in sync (the ECS container health check, so a deployment waits for it).
	ReadyPath = "/ha/ready"
	// SwitchoverPath and PersistPath are served by AdminHandler only.
	SwitchoverPath = "/ha/switchover"
	PersistPath    = "/ha/persist"
)

// Fixed parts of the REST server's bounds; the rest are config keys (ha.Limits).
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 2 * time.Minute
	// writeSlack is added to rest_read_timeout for WriteTimeout (counted from the end of the
	// headers): room for the slowest handler, a persist of every app (60 s).
	writeSlack = 75 * time.Second
	// maxHeaderBytes bounds a request's headers: a 1 MB Idempotency-Key gets 431 from net/http
	// before any handler runs; keys over ha.MaxIdempotencyKeyBytes get 400 from ingest.
	maxHeaderBytes = 64 << 10
	// retryAfter is the Retry-After of a 503 for an exhausted input budget, in seconds.
	retryAfter = "1"
)

// NewServer returns the HTTP server for h with the node's limits: header, body and idle
// timeouts, bounded headers, and a connection limit applied by Serve. Serve it with
// srv.Serve(rest.Listener(ln, limits)).
func NewServer(h http.Handler, l ha.Limits, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       l.RESTReadTimeout,
		WriteTimeout:      l.RESTReadTimeout + writeSlack,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// Listener bounds ln to max_connections open connections.
func Listener(ln net.Listener, l ha.Limits) net.Listener {
	return acceptor.LimitListener(ln, l.MaxConnections)
}

// Handler serves the public REST API of node (the listener the load balancer exposes): ingest,
// health, readiness, role, status and metrics. Nothing here changes the node's role.
func Handler(node *ha.Node, token string, gatherer prometheus.Gatherer, log *slog.Logger) http.Handler {
	s := &server{node: node, token: token, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /events/{app}/{stream}", s.events)
	mux.HandleFunc("GET "+HealthPath, s.health)
	mux.HandleFunc("GET "+ReadyPath, s.ready)
	mux.HandleFunc("GET "+ActivePath, s.active)
	mux.HandleFunc("GET "+StatusPath, s.status)
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	return mux
}

// AdminHandler serves the admin API (admin_listen): the mutating endpoints, behind the bearer
// token, plus status and metrics for the operator on the same port.
func AdminHandler(node *ha.Node, token string, gatherer prometheus.Gatherer, log *slog.Logger) http.Handler {
	s := &server{node: node, token: token, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+SwitchoverPath, s.auth(s.switchover))
	mux.HandleFunc("POST "+PersistPath, s.auth(s.persist))
	mux.HandleFunc("GET "+ErrorsPath, s.auth(s.listErrors))
	mux.HandleFunc("POST "+ErrorsReplayPath, s.auth(s.replayErrors))
	mux.HandleFunc("POST "+ErrorsPurgePath, s.auth(s.purgeErrors))
	mux.HandleFunc("GET "+StatusPath, s.status)
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	return mux
}

type server struct {
	node  *ha.Node
	token string
	log   *slog.Logger
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, code int, err error) {
	var na *ha.NotActiveError
	if errors.As(err, &na) {
		if na.ActiveURL != "" {
			w.Header().Set("X-HA-Active", na.ActiveURL)
		}
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "not active", "active": na.ActiveURL})
		return
	}
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

func (s *server) events(w http.ResponseWriter, r *http.Request) {
	app, stream := r.PathValue("app"), r.PathValue("stream")
	a, ok := s.node.App(app)
	if !ok {
		writeErr(w, http.StatusNotFound, errors.New("unknown app "+app))
		return
	}
	def, ok := a.Stream(stream)
	if !ok || !def.Defined {
		writeErr(w, http.StatusNotFound, errors.New("unknown stream "+stream+" in app "+app))
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if err := ha.CheckKey(key); err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	lim := s.node.Limits()
	if r.ContentLength > lim.MaxRequestBytes {
		writeErr(w, http.StatusRequestEntityTooLarge, fmt.Errorf("%w: body of %d bytes, the limit is %d (max_request_bytes)", ha.ErrTooLarge, r.ContentLength, lim.MaxRequestBytes))
		return
	}
	want := lim.MaxRequestBytes
	if r.ContentLength > 0 {
		want = r.ContentLength
	}
	res, err := s.node.ReserveInput(r.Context(), want)
	if err != nil {
		overloaded(w, err)
		return
	}
	defer res.Release()
	body, err := readBody(w, r, lim)
	if err != nil {
		var tooLarge *http.MaxBytesError
		var ne net.Error
		switch {
		case errors.As(err, &tooLarge):
			writeErr(w, http.StatusRequestEntityTooLarge, fmt.Errorf("%w: body over %d bytes (max_request_bytes)", ha.ErrTooLarge, lim.MaxRequestBytes))
		case errors.As(err, &ne) && ne.Timeout():
			writeErr(w, http.StatusRequestTimeout, fmt.Errorf("request body not received within %s (rest_read_timeout)", lim.RESTReadTimeout))
		default:
			writeErr(w, http.StatusBadRequest, fmt.Errorf("read body: %w", err))
		}
		return
	}
	est, err := DecodedSize(def, body, lim.MaxEventsPerRequest)
	if err != nil {
		decodeErr(w, err)
		return
	}
	if err := res.Grow(r.Context(), est); err != nil {
		overloaded(w, err)
		return
	}
	events, err := DecodeEvents(def, body, lim.MaxEventsPerRequest)
	if err != nil {
		decodeErr(w, err)
		return
	}
	pend, err := s.node.Submit(app, stream, events, key)
	// Submit applied (and copied) the events: their memory is no longer pending input.
	res.Release()
	var ans ha.Answer
	if err == nil {
		ans, err = pend.Wait(r.Context())
	}
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, ans)
	case errors.Is(err, ha.ErrOverloaded):
		overloaded(w, err)
	case errors.Is(err, ha.ErrBacklog):
		w.Header().Set("Retry-After", "1") // the sinks are behind: back-pressure, nothing applied
		writeErr(w, http.StatusServiceUnavailable, err)
	case errors.Is(err, ha.ErrNotActive), errors.Is(err, ha.ErrNotAcknowledged):
		writeErr(w, http.StatusServiceUnavailable, err)
	case errors.Is(err, ha.ErrUnknownApp), errors.Is(err, ha.ErrUnknownStream):
		writeErr(w, http.StatusNotFound, err)
	case errors.Is(err, ha.ErrTooLarge):
		writeErr(w, http.StatusRequestEntityTooLarge, err)
	case errors.Is(err, ha.ErrBadEvent), errors.Is(err, ha.ErrBadKey):
		writeErr(w, http.StatusBadRequest, err)
	default:
		s.log.Error("ingest failed", "app", app, "stream", stream, "err", err)
		writeErr(w, http.StatusInternalServerError, err)
	}
}

// readBody reads a request body of at most max_request_bytes, into one buffer of its declared
// length when it has one.
func readBody(w http.ResponseWriter, r *http.Request, lim ha.Limits) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, lim.MaxRequestBytes)
	if r.ContentLength <= 0 {
		return io.ReadAll(body)
	}
	b := make([]byte, r.ContentLength)
	if _, err := io.ReadFull(body, b); err != nil {
		return nil, err
	}
	return b, nil
}

func decodeErr(w http.ResponseWriter, err error) {
	if errors.Is(err, errTooMany) {
		writeErr(w, http.StatusRequestEntityTooLarge, err)
		return
	}
	writeErr(w, http.StatusBadRequest, err)
}

// overloaded answers 503 with Retry-After: the input budget is in use, nothing was applied.
func overloaded(w http.ResponseWriter, err error) {
	w.Header().Set("Retry-After", retryAfter)
	writeErr(w, http.StatusServiceUnavailable, err)
}

func (s *server) health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "role": s.node.Runner().Role().String()})
}

// ready is the readiness probe. A node whose restore failed answers 200 as well: an operator
// decides about it, and replacing its task would discard a queue that may hold the only copy of
// acknowledged inputs.
func (s *server) ready(w http.ResponseWriter, r *http.Request) {
	st := s.node.Status()
	body := map[string]any{"node_id": st.NodeID, "role": st.Role, "synced": st.Peer.Synced}
	ok := false
	switch st.Role {
	case "active", "promoting":
		ok = true
	case "passive":
		ok = st.Peer.Synced || st.RestoreFailed != nil
	}
	body["ready"] = ok
	if !ok {
		writeJSON(w, http.StatusServiceUnavailable, body)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *server) active(w http.ResponseWriter, r *http.Request) {
	st := s.node.Status()
	if st.Serving && !st.Draining {
		writeJSON(w, http.StatusOK, map[string]any{"active": true, "node_id": st.NodeID, "term": st.Term})
		return
	}
	if st.ActiveURL != "" {
		w.Header().Set("X-HA-Active", st.ActiveURL)
	}
	writeJSON(w, http.StatusServiceUnavailable, map[string]any{"active": false, "node_id": st.NodeID, "role": st.Role, "active_url": st.ActiveURL})
}

func (s *server) status(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.node.Status())
}

func (s *server) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// Fail closed: with no token configured (a node refuses to start so) nothing passes.
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || s.token == "" || subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) != 1 {
			w.Header().Set("WWW-Authenticate", "Bearer")
			writeErr(w, http.StatusUnauthorized, errors.New("missing or wrong bearer token (auth_token)"))
			return
		}
		h(w, r)
	}
}

func (s *server) switchover(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	term := s.node.Status().Term
	start := time.Now() // Switchover refuses input from its first steps on
	err := s.node.Switchover(ctx)
	switch {
	case err == nil:
		// took_ms runs until the new active serves (seen on its /ha/active), on this node's
		// clock; handover_ms is this node's part (drain, persist, release). When the new active
		// is not seen serving within 10 s, took_ms is the handover and confirmed is false.
		handover := time.Since(start)
		took, confirmed := handover, false
		if at, ok := s.node.AwaitPeerServing(r.Context(), term); ok {
			took, confirmed = at.Sub(start), true
		}
		s.node.ObserveSwitchover(took)
		writeJSON(w, http.StatusOK, map[string]any{"switched_over": true, "took_ms": took.Milliseconds(),
			"handover_ms": handover.Milliseconds(), "new_active_confirmed": confirmed})
	case errors.Is(err, ha.ErrNotActive):
		writeErr(w, http.StatusServiceUnavailable, err)
	case errors.Is(err, ha.ErrNoPeer), errors.Is(err, ha.ErrBusy):
		writeErr(w, http.StatusConflict, err)
	default:
		writeErr(w, http.StatusInternalServerError, err)
	}
}

func (s *server) persist(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 60*time.Second)
	defer cancel()
	if err := s.node.Persist(ctx); err != nil {
		if errors.Is(err, ha.ErrNotActive) {
			writeErr(w, http.StatusServiceUnavailable, err)
			return
		}
		writeErr(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"persisted": true, "apps": s.node.Status().Apps})
}
