// Package rest is the node's HTTP face: event ingest, health, readiness and role endpoints for
// load balancers and ECS, status and Prometheus metrics on the public listener; planned
// switchover and on-demand persist on the admin listener, which is never behind the load balancer.
package rest

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

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

// maxBody bounds an ingest request.
const maxBody = 32 << 20

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
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeErr(w, http.StatusRequestEntityTooLarge, err)
		return
	}
	events, err := DecodeEvents(def, body)
	if err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	ans, err := s.node.Ingest(r.Context(), app, stream, events, r.Header.Get("Idempotency-Key"))
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, ans)
	case errors.Is(err, ha.ErrNotActive), errors.Is(err, ha.ErrNotAcknowledged), errors.Is(err, ha.ErrBacklog):
		writeErr(w, http.StatusServiceUnavailable, err)
	case errors.Is(err, ha.ErrUnknownApp), errors.Is(err, ha.ErrUnknownStream):
		writeErr(w, http.StatusNotFound, err)
	case errors.Is(err, ha.ErrBadEvent):
		writeErr(w, http.StatusBadRequest, err)
	default:
		s.log.Error("ingest failed", "app", app, "stream", stream, "err", err)
		writeErr(w, http.StatusInternalServerError, err)
	}
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
	start := time.Now()
	err := s.node.Switchover(ctx)
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, map[string]any{"switched_over": true, "took_ms": time.Since(start).Milliseconds()})
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
