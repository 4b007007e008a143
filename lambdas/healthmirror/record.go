package healthmirror

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/streamha/streamha/lambdas/health"
	"github.com/streamha/streamha/lambdas/ledger"
)

// ledgerConcurrency bounds parallel ledger requests of one sample.
const ledgerConcurrency = 4

// recordAll writes every group's view to the ledger concurrently and returns how many failovers
// each recorded (0 or 1).
func (h *Handler) recordAll(ctx context.Context, verdicts []health.Group, seenAt time.Time) []int {
	out := make([]int, len(verdicts))
	if h.Ledger == nil {
		return out
	}
	sem := make(chan struct{}, ledgerConcurrency)
	var wg sync.WaitGroup
	for i := range verdicts {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			out[i] = h.record(ctx, verdicts[i], seenAt)
		}(i)
	}
	wg.Wait()
	return out
}

// record detects a term change against the stored view, records the failover once (a
// conditional write: overlapping invocations cannot record it twice), then stores the new view.
// The view is only replaced once the failover is safely recorded, so a failed write is retried by
// the next run instead of being lost.
func (h *Handler) record(ctx context.Context, v health.Group, seenAt time.Time) int {
	log := h.Log.With("group", v.Name, "term", v.Term)
	prev, had, err := h.Ledger.GetView(ctx, v.Name)
	if err != nil {
		log.ErrorContext(ctx, "ledger read failed", "error", err.Error())
		return 0
	}
	failovers := 0
	if had && prev.Term > 0 && v.Term > prev.Term {
		f := ledger.Failover{Group: v.Name, OldTerm: prev.Term, NewTerm: v.Term, OldActive: prev.Holder, NewActive: v.Holder, SeenAt: seenAt}
		wrote, err := h.Ledger.RecordFailover(ctx, f)
		if err != nil {
			log.ErrorContext(ctx, "failover record failed", "error", err.Error())
			return 0
		}
		if wrote {
			failovers = 1
			log.InfoContext(ctx, "failover recorded", "old_term", prev.Term, "old_active", prev.Holder, "new_active", v.Holder)
		}
	}
	detail, _ := json.Marshal(nodeDetails(v))
	view := ledger.View{Group: v.Name, Term: v.Term, Holder: v.Holder, Active: v.ActiveNodeIDs(), Live: v.LiveNodeIDs(),
		SplitBrain: v.SplitBrain, Reachable: true, SeenAt: seenAt, Detail: string(detail)}
	if _, _, err := h.Ledger.PutView(ctx, view); err != nil && !errors.Is(err, ledger.ErrConflict) {
		log.ErrorContext(ctx, "ledger view write failed", "error", err.Error())
	}
	return failovers
}

// nodeDetail is one node in the view's human-readable detail.
type nodeDetail struct {
	NodeID       string  `json:"node_id"`
	Role         string  `json:"role"`
	Term         int64   `json:"term"`
	Live         bool    `json:"live"`
	HoldsTerm    bool    `json:"holds_term"`
	HeartbeatAge float64 `json:"heartbeat_age_s"`
	TaskARN      string  `json:"task_arn,omitempty"`
	LastError    string  `json:"last_error,omitempty"` // the node's coordination error
	DataError    string  `json:"data_error,omitempty"` // its data path's (sinks, persists, replay gap)
}

func nodeDetails(v health.Group) []nodeDetail {
	out := make([]nodeDetail, 0, len(v.Nodes))
	for _, n := range v.Nodes {
		out = append(out, nodeDetail{NodeID: n.NodeID, Role: n.Role, Term: n.ReportedTerm, Live: n.Live,
			HoldsTerm: n.HoldsTerm, HeartbeatAge: n.HeartbeatAge.Seconds(), TaskARN: n.TaskARN,
			LastError: n.LastError, DataError: n.DataError})
	}
	return out
}
