package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/streamha/streamha/node/ha"
	"github.com/streamha/streamha/node/store"
)

// Paths of the error store's endpoints (bearer auth_token, like /ha/switchover).
const (
	ErrorsPath       = "/ha/errors"
	ErrorsReplayPath = "/ha/errors/replay"
	ErrorsPurgePath  = "/ha/errors/purge"
)

// maxErrorsBody bounds the JSON body of a replay or purge request.
const maxErrorsBody = 1 << 20

// defaultErrorsLimit is how many rows GET /ha/errors returns without ?limit.
const defaultErrorsLimit = 1000

// ErrorsRequest is the body of POST /ha/errors/replay and /ha/errors/purge: which rows. All
// selects every row (of App when set); otherwise IDs and/or Before (purge only) must be given.
type ErrorsRequest struct {
	App    string    `json:"app,omitempty"`
	IDs    []int64   `json:"ids,omitempty"`
	All    bool      `json:"all,omitempty"`
	Before time.Time `json:"before,omitzero"`
}

// ErrorsList is the answer of GET /ha/errors.
type ErrorsList struct {
	Errors []store.ErrorView `json:"errors"`
	// More is true when the limit cut the list: page on with ?after=<last id>.
	More bool `json:"more"`
}

// PurgeResult is the answer of POST /ha/errors/purge.
type PurgeResult struct {
	Purged int64 `json:"purged"`
}

// listErrors is GET /ha/errors?app=&kind=&before=&after=&limit=: the stored rows, oldest first.
func (s *server) listErrors(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.ErrorFilter{App: q.Get("app"), Kind: q.Get("kind"), Limit: defaultErrorsLimit}
	if f.Kind != "" && f.Kind != store.ErrorSink && f.Kind != store.ErrorSource {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("kind %q: want %s or %s", f.Kind, store.ErrorSink, store.ErrorSource))
		return
	}
	for _, p := range []struct {
		name string
		dst  *int64
	}{{"after", &f.AfterID}} {
		if v := q.Get(p.name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				writeErr(w, http.StatusBadRequest, fmt.Errorf("%s %q: want a row id", p.name, v))
				return
			}
			*p.dst = n
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100_000 {
			writeErr(w, http.StatusBadRequest, fmt.Errorf("limit %q: want 1 to 100000", v))
			return
		}
		f.Limit = n
	}
	if v := q.Get("before"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			writeErr(w, http.StatusBadRequest, fmt.Errorf("before %q: want an RFC 3339 time", v))
			return
		}
		f.Before = t
	}
	limit := f.Limit
	f.Limit++ // one more tells whether there are more
	recs, err := s.node.ListErrors(r.Context(), f)
	if err != nil {
		writeErr(w, http.StatusInternalServerError, err)
		return
	}
	out := ErrorsList{Errors: []store.ErrorView{}}
	if len(recs) > limit {
		recs, out.More = recs[:limit], true
	}
	for _, rec := range recs {
		out.Errors = append(out.Errors, rec.View())
	}
	writeJSON(w, http.StatusOK, out)
}

func readErrorsRequest(w http.ResponseWriter, r *http.Request) (ErrorsRequest, error) {
	var req ErrorsRequest
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxErrorsBody))
	if err != nil {
		return req, fmt.Errorf("read body: %w", err)
	}
	if len(body) == 0 {
		return req, errors.New(`empty body: want {"ids":[…]} or {"all":true}, optionally with "app"`)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, fmt.Errorf("bad body: %w", err)
	}
	if req.All && len(req.IDs) > 0 {
		return req, errors.New(`give "ids" or "all", not both`)
	}
	return req, nil
}

// replayErrors is POST /ha/errors/replay: only the serving active replays (through its own sinks).
func (s *server) replayErrors(w http.ResponseWriter, r *http.Request) {
	req, err := readErrorsRequest(w, r)
	if err == nil && !req.All && len(req.IDs) == 0 {
		err = errors.New(`say which rows: {"ids":[…]} or {"all":true}`)
	}
	if err == nil && !req.Before.IsZero() {
		err = errors.New(`"before" is for purge; replay takes "ids" or "all"`)
	}
	if err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 60*time.Second)
	defer cancel()
	res, err := s.node.ReplayErrors(ctx, req.App, req.IDs)
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, res)
	case errors.Is(err, ha.ErrNotActive):
		writeErr(w, http.StatusServiceUnavailable, err)
	case errors.Is(err, ha.ErrUnknownApp):
		writeErr(w, http.StatusNotFound, err)
	default:
		writeJSON(w, http.StatusInternalServerError, map[string]any{"error": err.Error(), "result": res})
	}
}

// purgeErrors is POST /ha/errors/purge: delete rows an operator gave up on (any node).
func (s *server) purgeErrors(w http.ResponseWriter, r *http.Request) {
	req, err := readErrorsRequest(w, r)
	if err == nil && !req.All && len(req.IDs) == 0 && req.Before.IsZero() {
		err = errors.New(`say which rows: {"ids":[…]}, {"before":"<RFC 3339 time>"} or {"all":true}`)
	}
	if err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	f := store.ErrorFilter{App: req.App, IDs: req.IDs, Before: req.Before}
	n, err := s.node.PurgeErrors(r.Context(), f)
	if err != nil {
		writeErr(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, PurgeResult{Purged: n})
}
