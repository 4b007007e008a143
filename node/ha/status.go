package ha

import (
	"strings"
	"time"

	"github.com/streamha/streamha/node/cluster"
)

// Status is GET /ha/status: everything an operator needs to see about this node at a glance.
type Status struct {
	NodeID    string               `json:"node_id"`
	Group     string               `json:"group"`
	Role      string               `json:"role"`
	Term      int64                `json:"term"`
	Serving   bool                 `json:"serving"`
	Draining  bool                 `json:"draining,omitempty"`
	Active    string               `json:"active"`
	ActiveURL string               `json:"active_url,omitempty"`
	SyncMode  string               `json:"sync_mode"`
	Peer      PeerStatus           `json:"peer"`
	Queue     QueueStatus          `json:"queue"`
	Apps      map[string]AppStatus `json:"apps"`
	// Failovers counts this process's takeovers from another node (cluster.Runner.Failovers):
	// 0 after a first election; streamha_failovers_total counts the same.
	Failovers int64  `json:"failovers"`
	Gaps      int64  `json:"replay_gaps"`
	LastGap   string `json:"last_gap,omitempty"`
	// PersistFailing is true while the active cannot store a snapshot of some app (see the
	// apps' last_persist_error): it keeps serving and its lease, acknowledging through the
	// input log (or the passive); its restore point ages meanwhile.
	PersistFailing bool `json:"persist_failing,omitempty"`
	// RestoreFailed says why this node cannot promote (no snapshot revision restores without
	// loss) and stays out of the election; nil otherwise.
	RestoreFailed *RestoreFailure `json:"restore_failed,omitempty"`
	// Hot, on a passive: every app keeps a runtime in step with the active, so a promotion
	// restores and replays nothing. A cold passive (joined late and not yet warmed from the
	// active's snapshot point, or its runtime failed) promotes by restore and replay.
	Hot *bool `json:"hot,omitempty"`
	// LastPromotion is this node's last promotion: per app its path and the inputs replayed.
	LastPromotion *PromotionReport `json:"last_promotion,omitempty"`
}

// PeerStatus is the other node as this one sees it.
type PeerStatus struct {
	ID        string `json:"id,omitempty"`
	Connected bool   `json:"connected"`
	// Synced is true once the passive protects every app: it holds a committed snapshot point and
	// the inputs after it. Until then an active's failure can lose what was acknowledged alone.
	Synced bool  `json:"synced"`
	Lag    int64 `json:"lag"`
	// LagBytes is the encoded size of the inputs counted in Lag (on the active).
	LagBytes int64 `json:"lag_bytes"`
	// LastError is why the last sync session was refused or failed: on the active its last
	// failed dial, on the passive the last handshake it refused (a wrong secret, a term the
	// claimant does not hold). Empty once a session is up again.
	LastError string `json:"last_error,omitempty"`
}

// QueueStatus is the passive's replay queue (zero on the active).
type QueueStatus struct {
	Events   int64 `json:"events"`
	Bytes    int64 `json:"bytes"`
	MaxBytes int64 `json:"max_bytes"`
}

// AppStatus is one app's position.
type AppStatus struct {
	LastSeq      uint64    `json:"last_seq"`
	PersistRev   int64     `json:"last_persist_revision"`
	PersistSeq   uint64    `json:"last_persist_seq"`
	PersistAt    time.Time `json:"last_persist_at,omitzero"`
	PersistError string    `json:"last_persist_error,omitempty"`
	// PersistFailingSince is when persists of the app began to fail (zero while they work).
	PersistFailingSince time.Time `json:"persist_failing_since,omitzero"`
	Outbox              int       `json:"outputs_pending"`
	// DeliveredSeq: every sink output of inputs up to here is written (on a passive: as the
	// active last reported; a promotion does not emit those again).
	DeliveredSeq uint64 `json:"delivered_seq"`
	// SinkError is the newest failed open or write of a sink ("<stream>:<type>: error"), while
	// the sinks fail; SinkErrorSince is when they began to fail. Outputs stay pending meanwhile.
	SinkError      string    `json:"last_sink_error,omitempty"`
	SinkErrorKind  string    `json:"sink_error_kind,omitempty"`
	SinkErrorSince time.Time `json:"sink_error_since,omitzero"`
	// OutboxBytes estimates the memory of the pending outputs; Sinks shows each sink's lag.
	OutboxBytes int64        `json:"outputs_pending_bytes"`
	Sinks       []SinkStatus `json:"sinks,omitempty"`
	// Hot and AppliedSeq, on a passive: the app's runtime follows the queue and has applied
	// inputs up to AppliedSeq (the queue's last_seq minus the apply lag).
	Hot        bool   `json:"hot,omitempty"`
	AppliedSeq uint64 `json:"applied_seq,omitempty"`
	// Positions are the offsets of the last records applied per source partition (e.g.
	// kafka:<stream>/<topic>/<partition>), on the active: where a promotion resumes them.
	Positions map[string]int64 `json:"source_positions,omitempty"`
	// LoggedSeq: on an active with no passive (ack mode), inputs up to here are durable in the
	// input log after the snapshot; InputLogError is its last failed append.
	LoggedSeq     uint64 `json:"input_log_seq,omitempty"`
	InputLogError string `json:"input_log_error,omitempty"`
	// ChainBase and ChainDeltas: on the active, the base revision its next delta continues and
	// the deltas stored on it (absent: the next persist writes a base).
	ChainBase   int64 `json:"chain_base,omitempty"`
	ChainDeltas int   `json:"chain_deltas,omitempty"`
}

// Status reports the node's current state.
func (n *Node) Status() Status { return n.status(true) }

// status is Status; with wait false it never waits for an app's lock (held while the engine
// applies a batch or captures a snapshot, which at millions of keys takes seconds) and reports
// that app as it was last read instead. The heartbeat uses that: it runs in the lease
// renewal's loop, and a heartbeat held behind a full snapshot's capture once cost the lease.
func (n *Node) status(wait bool) Status {
	r := n.runner
	v := r.View()
	term, serving := r.Serving()
	st := Status{
		NodeID: n.cfg.NodeID, Group: n.cfg.Group, Role: r.Role().String(), Term: term, Serving: serving,
		Draining: n.draining.Load(), SyncMode: n.cfg.SyncMode, Apps: map[string]AppStatus{},
		Failovers: r.Failovers(), Gaps: n.gaps.Load(), RestoreFailed: n.RestoreFailure(),
		LastPromotion: n.LastPromotion(),
	}
	if r.Role() == cluster.Passive {
		hot := n.Hot()
		st.Hot = &hot
	}
	if v.Lease.Held() {
		st.Active = v.Lease.Holder
	}
	for _, nd := range v.Nodes {
		if nd.NodeID == st.Active {
			st.ActiveURL = nd.Properties[cluster.PropRESTAddr]
		}
	}
	if g, ok := n.lastGap.Load().(string); ok {
		st.LastGap = g
	}
	if sess := n.session(); sess != nil {
		st.Peer = PeerStatus{ID: sess.PeerID(), Connected: true, Lag: sess.Lag(), LagBytes: sess.LagBytes(), Synced: n.synced(sess)}
	} else if ss := n.server.Stats(); ss.Connected {
		// On the passive: in sync once the active reported a committed snapshot for every app.
		synced := true
		for _, a := range n.apps {
			synced = synced && ss.Apps[a.name].Revision > 0
		}
		st.Peer = PeerStatus{ID: ss.Peer, Connected: true, Synced: synced}
	} else if id, _ := n.findPeer(); id != "" {
		st.Peer.ID = id
	}
	ss := n.server.Stats()
	if e, _ := n.dialErr.Load().(string); e != "" && st.Serving {
		st.Peer.LastError = e
	} else if !st.Serving {
		st.Peer.LastError = ss.LastError
	}
	st.Queue = QueueStatus{Events: ss.Events, Bytes: ss.Bytes, MaxBytes: ss.Max}
	for _, a := range n.apps {
		if !wait && !a.mu.TryLock() {
			var as AppStatus
			if last := a.lastStatus.Load(); last != nil {
				as = *last
			}
			st.PersistFailing = st.PersistFailing || !as.PersistFailingSince.IsZero()
			st.Apps[a.name] = as
			continue
		} else if wait {
			a.mu.Lock()
		}
		as := AppStatus{PersistRev: a.persistedRev, PersistSeq: a.persistedSeq, PersistAt: a.persistedAt, PersistError: a.persistErr, Outbox: len(a.outbox)}
		if a.rt != nil && a.term != 0 && !a.passive {
			as.LastSeq = a.rt.LastSeq()
			as.ChainBase, as.ChainDeltas = a.chain.base, a.chain.deltas
		}
		if a.hot.Load() && a.isHotLocked() {
			as.Hot, as.AppliedSeq = true, a.hotApplied.Load()
		}
		if !a.passive {
			as.DeliveredSeq = a.deliveredLocked()
		}
		as.SinkError, as.SinkErrorKind, as.SinkErrorSince = a.sinkErr, a.sinkErrKind, a.sinkErrSince
		as.OutboxBytes, as.Sinks = a.outBytes, a.sinkLagLocked()
		if a.idem != nil && len(a.idem.pos) > 0 {
			as.Positions = make(map[string]int64, len(a.idem.pos))
			for k, v := range a.idem.pos {
				as.Positions[k] = v
			}
		}
		if l := &a.ilog; l.on && !l.broken && a.persistedSeq >= l.base {
			as.LoggedSeq = l.logged
		}
		as.InputLogError = a.ilog.err
		as.PersistFailingSince = a.persistFail
		st.PersistFailing = st.PersistFailing || !a.persistFail.IsZero()
		a.mu.Unlock()
		if q, ok := ss.Apps[a.name]; ok && as.LastSeq == 0 {
			as.LastSeq, as.PersistSeq, as.PersistRev, as.DeliveredSeq = q.Last, q.Persisted, q.Revision, q.Delivered
		}
		last := as // its maps are fresh and never written after this
		a.lastStatus.Store(&last)
		st.Apps[a.name] = as
	}
	return st
}

// Hot reports whether this node is a passive whose every app keeps a runtime in step with the
// active's inputs (see hot.go).
func (n *Node) Hot() bool {
	if n.runner.Role() != cluster.Passive {
		return false
	}
	for _, a := range n.apps {
		if !a.hot.Load() {
			return false
		}
	}
	return len(n.apps) > 0
}

// applyLag is how many held inputs the passive's runtimes have not applied, all apps.
func (n *Node) applyLag() int64 {
	if n.runner.Role() != cluster.Passive {
		return 0
	}
	ss := n.server.Stats()
	var lag int64
	for _, a := range n.apps {
		if last, applied := ss.Apps[a.name].Last, a.hotApplied.Load(); a.hot.Load() && last > applied {
			lag += int64(last - applied)
		}
	}
	return lag
}

// synced reports whether every app's snapshot point on sess is committed.
func (n *Node) synced(sess Peer) bool {
	for _, a := range n.apps {
		seq, ok := sess.StartSeq(a.name)
		a.mu.Lock()
		done := a.persistedSeq >= seq
		a.mu.Unlock()
		if !ok || !done {
			return false
		}
	}
	return true
}

// fillStatus adds the data path's figures to the heartbeat status the health mirror reads.
// It never waits for an app's lock (see status).
func (n *Node) fillStatus(cs *cluster.Status) {
	st := n.status(false)
	cs.PeerConnected = st.Peer.Connected
	if st.Peer.Connected {
		cs.Peer = st.Peer.ID
	}
	cs.SyncLagEvents, cs.SyncLagBytes = st.Peer.Lag, st.Peer.LagBytes
	cs.PeerSynced, cs.Draining = st.Peer.Synced, st.Draining
	cs.QueueEvents, cs.QueueBytes = st.Queue.Events, st.Queue.Bytes
	cs.Apps = map[string]cluster.AppStatus{}
	for name, a := range st.Apps {
		as := cluster.AppStatus{LastSeq: a.LastSeq, LastPersistRevision: a.PersistRev, LastPersistSeq: a.PersistSeq,
			OutputsPending: a.Outbox, DeliveredSeq: a.DeliveredSeq, SinkError: a.SinkError}
		if !a.PersistAt.IsZero() {
			as.LastPersistAtMS = a.PersistAt.UnixMilli()
		}
		cs.Apps[name] = as
	}
	cs.DataError = dataError(n.apps, st)
	if f := st.RestoreFailed; f != nil {
		cs.RestoreFailed = &cluster.RestoreFailure{App: f.App, Revision: f.Revision, Error: f.Error, SinceMS: f.Since.UnixMilli(), Attempts: f.Attempts}
	}
}

// maxDataError bounds the data path's error text in the heartbeat status (a row per node,
// rewritten every heartbeat).
const maxDataError = 2048

// dataError merges the data path's current troubles for the health mirror: a replay gap, then
// per app (in name order) failing sinks and failing persists, each with when it began. The
// runner reports its own coordination error apart (cluster.Status.LastError).
func dataError(apps []*appState, st Status) string {
	var parts []string
	if st.LastGap != "" {
		parts = append(parts, "replay gap: "+st.LastGap)
	}
	for _, app := range apps {
		a := st.Apps[app.name]
		if a.SinkError != "" {
			parts = append(parts, "app "+app.name+": sink failing since "+a.SinkErrorSince.UTC().Format(time.RFC3339)+": "+a.SinkError)
		}
		if !a.PersistFailingSince.IsZero() {
			parts = append(parts, "app "+app.name+": persist failing since "+a.PersistFailingSince.UTC().Format(time.RFC3339)+": "+a.PersistError)
		}
	}
	s := strings.Join(parts, "; ")
	if len(s) > maxDataError {
		s = s[:maxDataError-3] + "..."
	}
	return s
}

// holdsInputs reports whether this node holds acknowledged inputs or state the store may not
// have: the active, or a passive whose queue is not empty. A hot runtime's inputs beyond the
// store are in the queue too (it trims only at committed snapshots), so an empty queue means
// the store has everything. A node that holds nothing leaves the lease to one that does
// (cluster.Config.Holds).
func (n *Node) holdsInputs() bool {
	if n.runner.Role() == cluster.Active {
		return true
	}
	return n.server.Stats().Events > 0
}
