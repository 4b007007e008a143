package chaos

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/streamha/streamha/internal/hatest"
)

// FaultResult is what one injected fault cost.
type FaultResult struct {
	Name     string        `json:"name"`
	Node     string        `json:"node,omitempty"`
	At       time.Time     `json:"at"`
	NoActive time.Duration `json:"no_active_ns"` // polled time with no node answering /ha/active 200
	// AckGap is the longest stretch without an acknowledgement from the injection to the
	// recovery (or the harness error); AckGapBound is the most it may be (Config.ackGapBound).
	AckGap      time.Duration `json:"ack_gap_ns"`
	AckGapBound time.Duration `json:"ack_gap_bound_ns"`
	Recovery    time.Duration `json:"recovery_ns"` // until serving again with the passive in sync
	Err         string        `json:"error,omitempty"`
}

// Result is the checker's verdict over a run.
type Result struct {
	Dir            string
	Source         string // SourceHTTP or SourceKafka
	Sent, Acked    int64
	Retries        int64
	Outputs        hatest.Report
	Grants         []Grant
	TermViolations []string // a lease term that did not increase
	StaleAcks      []string // a node acknowledged after another node was granted a newer term
	StaleServing   []string // a node said it served under a term older than one already granted
	// A Kafka-fed run's outputs: an input (one partition offset) applied twice, and outputs of
	// a deposed term read (read_committed) after one of its successor on the same partition.
	AppliedTwice   []string
	DeposedOutputs []string
	SlowFaults     []string // a fault left clients without an acknowledgement past its bound
	Faults         []FaultResult
	Errors         []string // faults the pair did not recover from, harness failures
}

// OK is true when nothing acknowledged was lost, nothing was applied twice, terms increased, no
// node acted on a superseded term and no fault stalled acknowledgements past its bound.
func (r *Result) OK() bool {
	return len(r.Outputs.Lost) == 0 && r.Outputs.DupEvents == 0 && len(r.TermViolations) == 0 &&
		len(r.StaleAcks) == 0 && len(r.StaleServing) == 0 && len(r.SlowFaults) == 0 && len(r.DeposedOutputs) == 0 &&
		len(r.Errors) == 0 && r.Acked > 0
}

// history is what a run recorded, for the checker.
type history struct {
	lease  []LeaseObs
	grants []Grant
	obs    []ActiveObs
	acks   []hatest.AckRecord // node acknowledgements (none in a Kafka-fed run)
	// progress is what the ack gaps are measured on: the acknowledgements, or the output
	// arrivals of a Kafka-fed run.
	progress []hatest.AckRecord
	events   []Event
}

// judge runs the checks on the recorded history into r (cfg with its defaults applied).
func (r *Result) judge(cfg *Config, h history) {
	gi := newGrantIndex(h.grants)
	r.Grants = h.grants
	r.TermViolations = checkTerms(h.lease, h.grants)
	r.StaleAcks = checkStaleAcks(gi, h.acks)
	r.StaleServing = checkStaleServing(gi, h.obs)
	progress := h.progress
	if progress == nil {
		progress = h.acks
	}
	r.Faults = measureFaults(h.events, h.obs, progress)
	for i := range r.Faults {
		r.Faults[i].AckGapBound = cfg.ackGapBound(r.Faults[i].Name)
	}
	r.SlowFaults = checkAckGaps(r.Faults)
}

// checkAckGaps: a fault may leave clients without an acknowledgement for at most its bound.
func checkAckGaps(faults []FaultResult) []string {
	var v []string
	for _, f := range faults {
		if f.AckGapBound > 0 && f.AckGap > f.AckGapBound {
			v = append(v, fmt.Sprintf("%s at %s (node %s): no acknowledgement for %s, bound %s",
				f.Name, f.At.Format("15:04:05.000"), f.Node, f.AckGap.Round(time.Millisecond), f.AckGapBound))
		}
	}
	return v
}

// String is the per-run summary.
func (r *Result) String() string {
	var b strings.Builder
	verdict := "PASS"
	if !r.OK() {
		verdict = "FAIL"
	}
	if r.Source == SourceKafka {
		fmt.Fprintf(&b, "chaos %s (kafka source): produced=%d (committed by the broker)\n", verdict, r.Acked)
		fmt.Fprintf(&b, "  produced records without output:   %d (must be 0)\n", len(r.Outputs.Lost))
		fmt.Fprintf(&b, "  duplicate outputs (same output id): %d of %d lines (re-emissions, identifiable)\n", r.Outputs.DupOutputIDs, r.Outputs.OutputLines)
		fmt.Fprintf(&b, "  input offsets applied twice:        %d (must be 0: exactly once in state)\n", r.Outputs.DupEvents)
		fmt.Fprintf(&b, "  outputs of a deposed term:          %d (must be 0)\n", len(r.DeposedOutputs))
	} else {
		fmt.Fprintf(&b, "chaos %s: sent=%d acked=%d retried_requests=%d\n", verdict, r.Sent, r.Acked, r.Retries)
		fmt.Fprintf(&b, "  acknowledged events lost:          %d (must be 0)\n", len(r.Outputs.Lost))
		fmt.Fprintf(&b, "  duplicate outputs (same output id): %d of %d lines (re-emissions, identifiable)\n", r.Outputs.DupOutputIDs, r.Outputs.OutputLines)
		fmt.Fprintf(&b, "  events applied twice (idempotency): %d (must be 0: exactly once in state)\n", r.Outputs.DupEvents)
	}
	terms := make([]string, 0, len(r.Grants))
	for _, g := range r.Grants {
		terms = append(terms, fmt.Sprintf("%d:%s", g.Term, g.Holder))
	}
	fmt.Fprintf(&b, "  terms granted (in order):           %s\n", strings.Join(terms, " "))
	fmt.Fprintf(&b, "  term violations:                    %d (must be 0)\n", len(r.TermViolations))
	fmt.Fprintf(&b, "  acks under a superseded term:       %d (must be 0)\n", len(r.StaleAcks))
	fmt.Fprintf(&b, "  serving under a superseded term:    %d (must be 0)\n", len(r.StaleServing))
	fmt.Fprintf(&b, "  faults past the ack-gap bound:      %d (must be 0)\n", len(r.SlowFaults))
	for _, v := range head(r.TermViolations, 5) {
		fmt.Fprintf(&b, "    term: %s\n", v)
	}
	for _, v := range head(r.StaleAcks, 5) {
		fmt.Fprintf(&b, "    ack: %s\n", v)
	}
	for _, v := range head(r.StaleServing, 5) {
		fmt.Fprintf(&b, "    serving: %s\n", v)
	}
	for _, v := range head(r.AppliedTwice, 5) {
		fmt.Fprintf(&b, "    twice: %s\n", v)
	}
	for _, v := range head(r.DeposedOutputs, 5) {
		fmt.Fprintf(&b, "    deposed: %s\n", v)
	}
	for _, v := range head(r.SlowFaults, 5) {
		fmt.Fprintf(&b, "    ack gap: %s\n", v)
	}
	fmt.Fprintf(&b, "  %-14s %-7s %12s %12s %12s %12s\n", "fault", "node", "no_active_ms", "ack_gap_ms", "bound_ms", "recovery_ms")
	for _, f := range r.Faults {
		fmt.Fprintf(&b, "  %-14s %-7s %12d %12d %12d %12d %s\n", f.Name, f.Node, f.NoActive.Milliseconds(), f.AckGap.Milliseconds(),
			f.AckGapBound.Milliseconds(), f.Recovery.Milliseconds(), f.Err)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(&b, "  error: %s\n", e)
	}
	if len(r.Outputs.Lost) > 0 {
		fmt.Fprintf(&b, "  lost ids (first 10): %v\n", head(r.Outputs.Lost, 10))
	}
	return b.String()
}

func head[T any](l []T, n int) []T {
	if len(l) > n {
		return l[:n]
	}
	return l
}

// grantIndex answers "who held the lease at time t" from the recorded grants.
type grantIndex []Grant

func newGrantIndex(g []Grant) grantIndex {
	s := append(grantIndex(nil), g...)
	sort.SliceStable(s, func(i, j int) bool { return s[i].AcquiredAt.Before(s[j].AcquiredAt) })
	return s
}

// at is the newest grant acquired at or before t.
func (gi grantIndex) at(t time.Time) (Grant, bool) {
	i := sort.Search(len(gi), func(i int) bool { return gi[i].AcquiredAt.After(t) })
	if i == 0 {
		return Grant{}, false
	}
	return gi[i-1], true
}

// checkTerms: every new grant has a higher term than the one before, in the order observed.
func checkTerms(lease []LeaseObs, grants []Grant) []string {
	var v []string
	for i := 1; i < len(grants); i++ {
		if grants[i].Term <= grants[i-1].Term {
			v = append(v, fmt.Sprintf("grant %d to %s seen after grant %d to %s", grants[i].Term, grants[i].Holder, grants[i-1].Term, grants[i-1].Holder))
		}
	}
	for i := 1; i < len(lease); i++ {
		if lease[i].Term < lease[i-1].Term {
			v = append(v, fmt.Sprintf("ha_lease term went back from %d to %d at %s", lease[i-1].Term, lease[i].Term, lease[i].At.Format(time.RFC3339Nano)))
		}
	}
	return v
}

// checkStaleAcks: a node that acknowledged a request sent at s and answered at r must have held
// the lease at s or been granted it during [s, r]; otherwise it acknowledged under a term that a
// newer grant to another node had already superseded.
func checkStaleAcks(gi grantIndex, acks []hatest.AckRecord) []string {
	var v []string
	for _, a := range acks {
		ok := false
		g, has := gi.at(a.Sent)
		if !has || g.Holder == a.Node {
			ok = true
		}
		for i := sort.Search(len(gi), func(i int) bool { return gi[i].AcquiredAt.After(a.Sent) }); !ok && i < len(gi) && !gi[i].AcquiredAt.After(a.At); i++ {
			ok = gi[i].Holder == a.Node
		}
		if !ok {
			v = append(v, fmt.Sprintf("%s acknowledged ids %d..%d (sent %s, answered %s) while term %d was granted to %s at %s",
				a.Node, a.First, a.First+a.N-1, a.Sent.Format("15:04:05.000"), a.At.Format("15:04:05.000"), g.Term, g.Holder, g.AcquiredAt.Format("15:04:05.000")))
		}
	}
	return v
}

// checkStaleServing: a node answering /ha/active 200 with term T to a poll sent after term T' > T
// was granted served on a superseded term.
func checkStaleServing(gi grantIndex, obs []ActiveObs) []string {
	var v []string
	for _, o := range obs {
		g, has := gi.at(o.Sent)
		if !has {
			continue
		}
		for node, term := range o.Serving {
			if term < g.Term {
				v = append(v, fmt.Sprintf("%s served term %d at %s; term %d was granted to %s at %s",
					node, term, o.Sent.Format("15:04:05.000"), g.Term, g.Holder, g.AcquiredAt.Format("15:04:05.000")))
			}
		}
	}
	return v
}

// measureFaults fills each fault's unavailability from the polls and the acknowledgements
// between its injection and its recovery.
func measureFaults(events []Event, obs []ActiveObs, acks []hatest.AckRecord) []FaultResult {
	var out []FaultResult
	for i, e := range events {
		if e.Kind != "fault" {
			continue
		}
		fr := FaultResult{Name: e.Fault, Node: e.Node, At: e.At}
		end := time.Time{}
		for _, f := range events[i+1:] {
			if f.Fault == e.Fault && (f.Kind == "recovered" || f.Kind == "error") {
				end = f.At
				if f.Kind == "error" {
					fr.Err = f.Detail
				}
				break
			}
		}
		if end.IsZero() {
			end = time.Now()
		}
		fr.Recovery = end.Sub(e.At)
		var downSince time.Time
		for _, o := range obs {
			if o.Sent.Before(e.At) || o.Sent.After(end) {
				continue
			}
			if len(o.Serving) == 0 && downSince.IsZero() {
				downSince = o.Sent
			} else if len(o.Serving) > 0 && !downSince.IsZero() {
				fr.NoActive += o.Sent.Sub(downSince)
				downSince = time.Time{}
			}
		}
		if !downSince.IsZero() {
			fr.NoActive += end.Sub(downSince)
		}
		// The stretch after the last acknowledgement counts too: a fault with none at all
		// until its recovery (or the harness gave up) is not a zero gap.
		last := e.At
		for _, a := range acks {
			if a.At.Before(e.At) {
				continue
			}
			if a.At.After(end) {
				break
			}
			if d := a.At.Sub(last); d > fr.AckGap {
				fr.AckGap = d
			}
			last = a.At
		}
		if d := end.Sub(last); d > fr.AckGap {
			fr.AckGap = d
		}
		out = append(out, fr)
	}
	return out
}
