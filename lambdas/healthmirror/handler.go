// Package healthmirror is the scheduled Lambda that reads the cluster database every minute and
// mirrors the cluster's health into CloudWatch (Embedded Metric Format lines on stdout) and into
// the DynamoDB ledger, recording each failover once.
package healthmirror

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/streamha/streamha/lambdas/clusterdb"
	"github.com/streamha/streamha/lambdas/emf"
	"github.com/streamha/streamha/lambdas/health"
	"github.com/streamha/streamha/lambdas/ledger"
)

// ClusterReader reads the cluster database; *clusterdb.Reader implements it.
type ClusterReader interface {
	Read(ctx context.Context, groups ...string) ([]clusterdb.Group, error)
}

// Ledger is what the mirror writes to the ledger; *ledger.Ledger implements it.
type Ledger interface {
	GetView(ctx context.Context, group string) (ledger.View, bool, error)
	PutView(ctx context.Context, v ledger.View) (ledger.View, bool, error)
	RecordFailover(ctx context.Context, f ledger.Failover) (bool, error)
}

// Handler is the health mirror. Reader may be nil (no database configured: reported unreachable);
// Ledger may be nil (no table configured).
type Handler struct {
	Config  Config
	Reader  ClusterReader
	Ledger  Ledger
	Metrics *emf.Writer
	Log     *slog.Logger
	Upkeep  *Upkeep          // nil: no target reconciliation, no task tags
	Now     func() time.Time // nil means time.Now
	Sleep   func(ctx context.Context, d time.Duration) error

	mu    sync.Mutex
	known map[string]bool // groups seen by this warm container, reported when the database is down
}

// GroupSummary is one group in the invocation's result.
type GroupSummary struct {
	Group      string        `json:"group"`
	Term       int64         `json:"term"`
	Holder     string        `json:"holder"`
	Live       int           `json:"live"`
	Active     int           `json:"active"`
	SplitBrain bool          `json:"split_brain"`
	Failover   bool          `json:"failover"`
	Upkeep     *UpkeepResult `json:"upkeep,omitempty"`
}

// Result is what one invocation returns (visible in tests and in the console).
type Result struct {
	Reachable bool           `json:"reachable"`
	Samples   int            `json:"samples"`
	Groups    []GroupSummary `json:"groups"`
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// Handle runs one scheduled invocation: one sample, or with SampleEvery set, one sample every
// SampleEvery until SampleWindow (or the invocation's deadline) is near. The event is ignored.
func (h *Handler) Handle(ctx context.Context, _ json.RawMessage) (Result, error) {
	if h.Config.SampleEvery <= 0 {
		return h.Sample(ctx, emf.StandardResolution)
	}
	start := h.now()
	end := start.Add(h.Config.SampleWindow)
	if dl, ok := ctx.Deadline(); ok && dl.Add(-2*time.Second).Before(end) {
		end = dl.Add(-2 * time.Second)
	}
	var last Result
	samples := 0
	for i := 0; ; i++ {
		r, err := h.Sample(ctx, emf.HighResolution)
		if err != nil {
			return r, err
		}
		samples++
		last = r
		next := start.Add(time.Duration(i+1) * h.Config.SampleEvery)
		if !next.Before(end) {
			break
		}
		if err := h.sleep(ctx, next.Sub(h.now())); err != nil {
			break
		}
	}
	last.Samples = samples
	return last, nil
}

func (h *Handler) sleep(ctx context.Context, d time.Duration) error {
	if h.Sleep != nil {
		return h.Sleep(ctx, d)
	}
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Sample reads the database once and publishes every group's figures at resolution res. An
// unreachable database is reported (metric and log line), not returned as an error.
func (h *Handler) Sample(ctx context.Context, res int) (Result, error) {
	var groups []clusterdb.Group
	err := errors.New("CLUSTER_DB_URL is not set")
	if h.Reader != nil {
		groups, err = h.Reader.Read(ctx, h.Config.Groups...)
	}
	if err != nil {
		h.Log.ErrorContext(ctx, "cluster database unreachable", "error", err.Error(), "groups", h.knownGroups())
		for _, g := range h.knownGroups() {
			h.write(ctx, unreachable(g, res))
		}
		return Result{Reachable: false, Samples: 1}, nil
	}
	seenAt := h.now()
	verdicts := make([]health.Group, len(groups))
	for i, g := range groups {
		verdicts[i] = health.Assess(g, h.Config.Health)
		h.remember(g.Name)
	}
	failovers := h.recordAll(ctx, verdicts, seenAt)
	res2 := Result{Reachable: true, Samples: 1}
	for i, v := range verdicts {
		for _, r := range records(v, failovers[i], res) {
			h.write(ctx, r)
		}
		sum := GroupSummary{Group: v.Name, Term: v.Term, Holder: v.Holder, Live: v.Live,
			Active: v.Active, SplitBrain: v.SplitBrain, Failover: failovers[i] > 0}
		if h.Upkeep != nil && v.Name == h.Upkeep.Group {
			u := h.Upkeep.Run(ctx, v, h.Log)
			sum.Upkeep = &u
		}
		res2.Groups = append(res2.Groups, sum)
		if v.SplitBrain {
			h.Log.WarnContext(ctx, "split brain", "group", v.Name, "term", v.Term, "reason", v.SplitReason)
		}
	}
	return res2, nil
}

func (h *Handler) write(ctx context.Context, r emf.Record) {
	if err := h.Metrics.Write(r); err != nil {
		h.Log.ErrorContext(ctx, "emf record rejected", "error", err.Error())
	}
}

func (h *Handler) remember(group string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.known == nil {
		h.known = map[string]bool{}
	}
	h.known[group] = true
}

// knownGroups are the configured groups plus every group this container has seen; "*" when none,
// so the unreachable metric is still published somewhere an alarm can watch.
func (h *Handler) knownGroups() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	set := map[string]bool{}
	for _, g := range h.Config.Groups {
		set[g] = true
	}
	for g := range h.known {
		set[g] = true
	}
	if len(set) == 0 {
		return []string{"*"}
	}
	out := make([]string, 0, len(set))
	for g := range set {
		out = append(out, g)
	}
	sort.Strings(out)
	return out
}
