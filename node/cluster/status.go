package cluster

// Status is what a node reports with each heartbeat, stored as JSON in ha_node.status. The health
// mirror Lambda reads it, so field names are a contract: add fields, never rename them.
type Status struct {
	Role          string               `json:"role"`                 // starting|passive|promoting|active|demoted
	Term          int64                `json:"term"`                 // the term the node serves under, or last saw
	Serving       bool                 `json:"serving"`              // active with its ports open
	Active        string               `json:"active,omitempty"`     // node id of the lease holder as last seen
	PeerConnected bool                 `json:"peer_connected"`       // active: sync link to the passive is up; passive: an active is streaming to it
	Peer          string               `json:"peer,omitempty"`       // node id of the other end of that link
	SyncLagEvents int64                `json:"sync_lag_events"`      // active: inputs sent to the passive but not yet acknowledged
	SyncLagBytes  int64                `json:"sync_lag_bytes"`       // active: their encoded size in bytes
	PeerSynced    bool                 `json:"peer_synced"`          // the passive holds a committed snapshot point and every input after it
	Draining      bool                 `json:"draining,omitempty"`   // active: a planned switchover is under way
	QueueEvents   int64                `json:"queue_events"`         // passive: inputs held in the replay queue
	QueueBytes    int64                `json:"queue_bytes"`          // passive: bytes held in the replay queue
	Apps          map[string]AppStatus `json:"apps,omitempty"`       // per app figures
	Version       string               `json:"version,omitempty"`    // node binary version
	ReportedAtMS  int64                `json:"reported_at_ms"`       // the node's own clock, for humans only: never compared
	Failovers     int64                `json:"failovers,omitempty"`  // takeovers from another node by this process (Runner.Failovers)
	LastError     string               `json:"last_error,omitempty"` // newest coordination error (lease, store), the runner's own
	// DataError is the data path's current trouble (replay gap, failing sinks, failing
	// persists), filled by Config.Status; the runner never writes it, so neither error hides
	// the other from the health mirror.
	DataError string `json:"data_error,omitempty"`
	// HoldsInputs: the node holds acknowledged inputs or state the store may not have (a
	// passive with a non-empty queue or a hot runtime, an active); filled from Config.Holds.
	// A node holding nothing defers its lease contention to a live one that says so.
	HoldsInputs bool `json:"holds_inputs,omitempty"`
	// DeferringTo names the node this one, holding nothing, leaves the lease to for now.
	DeferringTo string `json:"deferring_to,omitempty"`
	// RestoreFailed is set while the node cannot restore its state without loss and stays out
	// of the election (the health mirror publishes it as the RestoreFailed metric).
	RestoreFailed *RestoreFailure `json:"restore_failed,omitempty"`
}

// RestoreFailure is why a node cannot promote.
type RestoreFailure struct {
	App      string `json:"app"`
	Revision int64  `json:"revision"` // newest stored revision of the app
	Error    string `json:"error"`
	SinceMS  int64  `json:"since_ms"` // the node's clock, for humans only
	Attempts int64  `json:"attempts"`
}

// AppStatus is one app's progress as a node reports it.
type AppStatus struct {
	LastSeq             uint64 `json:"last_seq"`              // last input applied (active) or queued (passive)
	LastPersistRevision int64  `json:"last_persist_revision"` // newest snapshot revision written or seen
	LastPersistSeq      uint64 `json:"last_persist_seq"`      // last input that snapshot covers
	LastPersistAtMS     int64  `json:"last_persist_at_ms"`    // when it was written, epoch ms
	// OutputsPending are sink outputs not yet written; DeliveredSeq is the input up to which
	// every output is written (on a passive: as the active last reported). LastSeq minus
	// DeliveredSeq is the sink lag in inputs.
	OutputsPending int    `json:"outputs_pending"`
	DeliveredSeq   uint64 `json:"delivered_seq"`
	SinkError      string `json:"sink_error,omitempty"` // newest failed sink write while the sinks fail
}
