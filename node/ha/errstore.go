package ha

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/sink"
	"github.com/streamha/streamha/node/store"
)

// ErrorStore is the error store in the persistence database (store.DB): outputs a sink failed
// to write under on.error='store', and input records a source could not map.
type ErrorStore interface {
	SaveErrors(ctx context.Context, group string, term int64, recs []store.ErrorRecord) error
	ListErrors(ctx context.Context, group string, f store.ErrorFilter) ([]store.ErrorRecord, error)
	DeleteErrors(ctx context.Context, group string, ids []int64) (int64, error)
	PurgeErrors(ctx context.Context, group string, f store.ErrorFilter) (int64, error)
}

// ErrNoErrorStore is returned by the error store calls of a node built without one.
var ErrNoErrorStore = errors.New("this node has no error store")

// replayPage is how many stored outputs one replay round reads and sends.
const replayPage = 2000

// replayReq asks an app's dispatcher to send stored outputs again through its own sinks.
type replayReq struct {
	recs []store.ErrorRecord // sink rows of the app
	outs []*engine.Output    // decoded, parallel to recs (nil: not decodable, see errs)
	errs []string            // per rec: why it was not delivered ("" = delivered)
	done chan struct{}
}

// ReplayFailure is one stored output that a replay did not deliver.
type ReplayFailure struct {
	ID    int64  `json:"id"`
	App   string `json:"app"`
	Ref   string `json:"ref"`
	Error string `json:"error"`
}

// ReplayResult is the answer of POST /ha/errors/replay.
type ReplayResult struct {
	Selected int `json:"selected"` // rows the request named or matched
	Replayed int `json:"replayed"` // delivered by their sink and removed from the store
	Failed   int `json:"failed"`   // still in the store
	// Failures lists the first failures (at most 100), each with its row id.
	Failures []ReplayFailure `json:"failures,omitempty"`
}

// StoreError writes a record to the error store under the serving term (fenced like a
// snapshot: a deposed active stores nothing). Sources call it for input records they cannot
// map; Kind, App and Ref are required. It returns once the record is durable.
func (n *Node) StoreError(ctx context.Context, rec store.ErrorRecord) error {
	if n.errors == nil {
		return ErrNoErrorStore
	}
	term, ok := n.runner.Serving()
	if !ok {
		return n.notActive()
	}
	return n.saveErrors(ctx, term, []store.ErrorRecord{rec})
}

func (n *Node) saveErrors(ctx context.Context, term int64, recs []store.ErrorRecord) error {
	if !n.runner.Leading(term) {
		return fmt.Errorf("store %d errors at term %d: %w", len(recs), term, errNotLeading)
	}
	if err := n.errors.SaveErrors(ctx, n.cfg.Group, term, recs); err != nil {
		return err
	}
	n.m.errorsStored.Add(float64(len(recs)))
	return nil
}

// ListErrors reads the error store (any role: it is the persistence database).
func (n *Node) ListErrors(ctx context.Context, f store.ErrorFilter) ([]store.ErrorRecord, error) {
	if n.errors == nil {
		return nil, ErrNoErrorStore
	}
	return n.errors.ListErrors(ctx, n.cfg.Group, f)
}

// PurgeErrors deletes the rows f selects (an operator gave up on them) and returns how many.
func (n *Node) PurgeErrors(ctx context.Context, f store.ErrorFilter) (int64, error) {
	if n.errors == nil {
		return 0, ErrNoErrorStore
	}
	return n.errors.PurgeErrors(ctx, n.cfg.Group, f)
}

// ReplayErrors sends stored sink outputs again, through the serving active's own sink
// instances (a second instance of a file sink would break its offsets), bypassing their
// drop-by-id; each output its sink accepted is then removed from the store, the others stay
// with their new error. ids nil selects every sink row (of app, when set). Replays are
// serialised, so a row is never sent by two at once; sending one again is harmless (the same
// output id). On a node that does not serve it returns a NotActiveError.
func (n *Node) ReplayErrors(ctx context.Context, app string, ids []int64) (ReplayResult, error) {
	var res ReplayResult
	if n.errors == nil {
		return res, ErrNoErrorStore
	}
	if app != "" {
		if _, ok := n.byName[app]; !ok {
			return res, fmt.Errorf("%w: %s", ErrUnknownApp, app)
		}
	}
	n.replayMu.Lock()
	defer n.replayMu.Unlock()
	if _, ok := n.runner.Serving(); !ok {
		return res, n.notActive()
	}
	f := store.ErrorFilter{App: app, IDs: ids, Limit: replayPage}
	if ids == nil {
		f.Kind = store.ErrorSink
	}
	for {
		recs, err := n.errors.ListErrors(ctx, n.cfg.Group, f)
		if err != nil {
			return res, err
		}
		if len(recs) == 0 {
			return res, nil
		}
		f.AfterID = recs[len(recs)-1].ID
		res.Selected += len(recs)
		byApp := map[string]*replayReq{}
		var order []string
		fail := func(r store.ErrorRecord, msg string) {
			res.Failed++
			if len(res.Failures) < 100 {
				res.Failures = append(res.Failures, ReplayFailure{ID: r.ID, App: r.App, Ref: r.Ref, Error: msg})
			}
		}
		for _, r := range recs {
			a, ok := n.byName[r.App]
			switch {
			case r.Kind != store.ErrorSink:
				fail(r, "a source record is not replayed through a sink: send the input again, then purge it")
				continue
			case !ok:
				fail(r, "app "+r.App+" is not loaded on this node")
				continue
			}
			o, err := decodeStoredOutput(a.app, r.Data)
			if err != nil {
				fail(r, err.Error())
				continue
			}
			req := byApp[r.App]
			if req == nil {
				req = &replayReq{done: make(chan struct{})}
				byApp[r.App] = req
				order = append(order, r.App)
			}
			req.recs = append(req.recs, r)
			req.outs = append(req.outs, o)
		}
		for _, name := range order {
			req := byApp[name]
			req.errs = make([]string, len(req.recs))
			a := n.byName[name]
			select {
			case a.replays <- req:
			case <-ctx.Done():
				return res, ctx.Err()
			}
			select {
			case <-req.done:
			case <-ctx.Done():
				// The dispatcher may still send them; their rows stay, a later replay sends
				// them again under the same ids.
				return res, ctx.Err()
			}
			var sent []int64
			for i, r := range req.recs {
				if req.errs[i] == "" {
					sent = append(sent, r.ID)
				} else {
					fail(r, req.errs[i])
				}
			}
			if len(sent) > 0 {
				if _, err := n.errors.DeleteErrors(ctx, n.cfg.Group, sent); err != nil {
					// Delivered, still stored: a later replay sends them again (same ids).
					return res, fmt.Errorf("replayed %d outputs but could not remove them from the error store: %w", len(sent), err)
				}
				res.Replayed += len(sent)
				n.m.errorsReplayed.Add(float64(len(sent)))
			}
		}
		if len(recs) < replayPage {
			return res, nil
		}
	}
}

// replay serves a replay request in the dispatcher, which owns the sinks: each sink gets its
// stored outputs in store order, through sink.Replay.
func (s *appState) replay(ctx context.Context, req *replayReq, runs []*sinkRun, h dispatchHooks) {
	defer close(req.done)
	for i := range req.recs {
		if req.outs[i] == nil {
			req.errs[i] = "not decodable"
		}
	}
	// Group by sink, keeping order.
	type group struct {
		run *sinkRun
		idx []int
	}
	var groups []*group
	byName := map[string]*group{}
	for i, r := range req.recs {
		g := byName[r.Endpoint]
		if g == nil {
			g = &group{}
			for _, run := range runs {
				if run.name == r.Endpoint {
					g.run = run
				}
			}
			byName[r.Endpoint] = g
			groups = append(groups, g)
		}
		g.idx = append(g.idx, i)
	}
	for _, g := range groups {
		if g.run == nil {
			for _, i := range g.idx {
				req.errs[i] = fmt.Sprintf("app %s has no sink %s now", s.name, req.recs[i].Endpoint)
			}
			continue
		}
		if !h.leading() {
			for _, i := range g.idx {
				req.errs[i] = "not leading"
			}
			continue
		}
		outs := make([]*engine.Output, len(g.idx))
		for k, i := range g.idx {
			outs[k] = req.outs[i]
		}
		err := sink.Replay(ctx, g.run.sk, outs)
		w := len(outs)
		if err != nil {
			w, _ = sink.Progress(err, len(outs))
		}
		for k, i := range g.idx {
			if k >= w {
				req.errs[i] = (&sinkError{g.run.name, err}).Error()
			}
		}
		if w > 0 {
			g.run.stat.Delivered += int64(w)
			h.wrote(g.run.name, w)
		}
		if err != nil {
			h.failed(g.run.name, sink.Kind(err))
			s.log.Warn("replay from the error store failed; the outputs stay stored", "sink", g.run.name,
				"replayed", w, "failed", len(outs)-w, "err", err)
		}
	}
}

// errorRecords builds the error store rows of outputs a sink failed to write.
func (s *appState) errorRecords(r *sinkRun, outs []*engine.Output, err error) []store.ErrorRecord {
	recs := make([]store.ErrorRecord, len(outs))
	msg, kind := err.Error(), sink.Kind(err)
	for i, o := range outs {
		recs[i] = store.ErrorRecord{Kind: store.ErrorSink, App: s.name, Stream: o.Stream, Endpoint: r.name, Ref: o.ID,
			Payload: o.AppendJSON(nil), Data: encodeStoredOutput(o), Error: msg, ErrorKind: kind, Time: time.Now()}
	}
	return recs
}

// storedOutputVersion starts the Data of a stored output.
const storedOutputVersion = 1

// encodeStoredOutput is an output in the error store's Data: the snapshot envelope's encoding of
// one outbox entry, after a version byte.
func encodeStoredOutput(o *engine.Output) []byte {
	return appendOutput([]byte{storedOutputVersion}, o)
}

// decodeStoredOutput reads encodeStoredOutput's bytes back, with app's schema of the stream.
func decodeStoredOutput(app *engine.App, p []byte) (*engine.Output, error) {
	if len(p) == 0 || p[0] != storedOutputVersion {
		return nil, errors.New("stored output: no replay data or an unknown version")
	}
	r := &reader{b: p[1:]}
	o, vals := r.output()
	if r.err != nil {
		return nil, fmt.Errorf("stored output: %w", r.err)
	}
	def, ok := app.Stream(o.Stream)
	if !ok {
		return nil, fmt.Errorf("stored output %s: stream %q is not in app %s now", o.ID, o.Stream, app.Name())
	}
	data, _, err := def.DecodeValues(vals)
	if err != nil {
		return nil, fmt.Errorf("stored output %s: %w (did the stream's attributes change?)", o.ID, err)
	}
	o.Attrs, o.Data = def.Attrs, data
	return o, nil
}

// storeSink names the first sink of a with on.error='store', "" when there is none.
func storeSink(a *engine.App) string {
	for _, st := range a.Streams() {
		for _, spec := range st.Sinks {
			if spec.Options[sink.OnErrorOption] == sink.OnErrorStore {
				return st.Name + ":" + spec.Type
			}
		}
	}
	return ""
}
