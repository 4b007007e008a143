package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamha/streamha/node/cluster"
	"github.com/streamha/streamha/node/store"
)

// heartbeatTap is a store whose acquisitions fail (a coordination error the runner reports)
// and whose heartbeats are copied to a channel.
type heartbeatTap struct {
	cluster.Store
	beats chan cluster.Status
}

var errHiccup = errors.New("database hiccup")

func (h *heartbeatTap) Acquire(context.Context, string, string, time.Duration) (cluster.Lease, bool, error) {
	return cluster.Lease{}, false, errHiccup
}

func (h *heartbeatTap) Heartbeat(ctx context.Context, g, id string, st json.RawMessage) error {
	var s cluster.Status
	if err := json.Unmarshal(st, &s); err != nil {
		return err
	}
	// Store first, then tell the test: it reads the row right after it hears of the beat.
	err := h.Store.Heartbeat(ctx, g, id, st)
	if err == nil {
		select {
		case h.beats <- s:
		default:
		}
	}
	return err
}

// TestHeartbeatCarriesBothErrors: the heartbeat status carries the runner's own coordination
// error (LastError) and the data path's (DataError, filled by Config.Status) side by side, and
// both reach the cluster database the health mirror reads. Before, the data path wrote its
// sink and persist errors to LastError and the runner overwrote them with its own.
func TestHeartbeatCarriesBothErrors(t *testing.T) {
	db, err := store.Open("sqlite://" + filepath.Join(t.TempDir(), "ha.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	const dataErr = "app App: sink failing since 2026-01-01T00:00:00Z: connection refused"
	tap := &heartbeatTap{Store: db, beats: make(chan cluster.Status, 1)}
	r, err := cluster.NewRunner(cluster.Config{
		Node:                  cluster.NodeInfo{Group: "g", NodeID: "n0", Properties: map[string]string{}},
		Timing:                fastTiming,
		Store:                 tap,
		DisableCrashDetection: true,
		Logger:                slog.New(slog.DiscardHandler),
		Status:                func(st *cluster.Status) { st.DataError = dataErr },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	defer func() { cancel(); <-done }()

	deadline := time.After(10 * time.Second)
	var last cluster.Status
	for !strings.Contains(last.LastError, errHiccup.Error()) {
		select {
		case last = <-tap.beats:
		case <-deadline:
			t.Fatalf("no heartbeat reported the failed acquisition; last status %+v", last)
		}
	}
	if last.DataError != dataErr {
		t.Fatalf("heartbeat data_error = %q, want the data path's %q (last_error %q)", last.DataError, dataErr, last.LastError)
	}
	// As stored: the health mirror reads the row, not the runner.
	nodes, err := db.Nodes(context.Background(), "g")
	if err != nil || len(nodes) != 1 {
		t.Fatalf("nodes %v, err %v", nodes, err)
	}
	var stored cluster.Status
	if err := json.Unmarshal(nodes[0].Status, &stored); err != nil {
		t.Fatal(err)
	}
	if stored.DataError != dataErr || !strings.Contains(stored.LastError, errHiccup.Error()) {
		t.Fatalf("stored status: last_error %q, data_error %q; want both", stored.LastError, stored.DataError)
	}
}
