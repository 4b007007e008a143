package daemon

import (
	"context"

	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamha/streamha/node/cluster"
	"github.com/streamha/streamha/node/config"
	"github.com/streamha/streamha/node/ecsmeta"
)

// Run runs a node until ctx ends (SIGTERM), then shuts down cleanly: a held lease is released and
// the node deregisters.
func Run(ctx context.Context, c config.Config, version string, log *slog.Logger) error {
	dbs, err := OpenDatabases(c)
	if err != nil {
		return err
	}
	defer dbs.Close()
	if err := dbs.MigrateWithRetry(ctx, log); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	reg := prometheus.NewRegistry()
	runner, err := cluster.NewRunner(cluster.Config{
		Node:    NodeInfo(ctx, c, version, log),
		Timing:  Timing(c),
		Store:   dbs.Cluster,
		Logger:  log,
		Metrics: cluster.NewMetrics(reg),
	})
	if err != nil {
		return &config.Error{Key: "lease", Err: err}
	}
	return runner.Run(ctx)
}

// Timing maps the configuration onto the elector's timing.
func Timing(c config.Config) cluster.Timing {
	return cluster.Timing{HeartbeatInterval: c.HeartbeatInterval, Lease: c.Lease, RenewDeadline: c.RenewDeadline}
}

// NodeInfo gathers what the node registers: advertised addresses, version and the ECS task ARN.
func NodeInfo(ctx context.Context, c config.Config, version string, log *slog.Logger) cluster.NodeInfo {
	rest := config.Advertised(c.RESTAdvertise, c.RESTListen)
	if rest != "" && !strings.Contains(rest, "://") {
		rest = "http://" + rest
	}
	props := map[string]string{
		cluster.PropSyncAddr: config.Advertised(c.SyncAdvertise, c.SyncListen),
		cluster.PropRESTAddr: rest,
		cluster.PropTCPAddr:  config.Advertised(c.TCPAdvertise, c.TCPListen),
		cluster.PropVersion:  version,
		cluster.PropStarted:  time.Now().UTC().Format(time.RFC3339Nano),
	}
	task, ok, err := ecsmeta.Fetch(ctx, os.Getenv(ecsmeta.EnvURI))
	switch {
	case err != nil:
		log.Warn("cannot read ECS task metadata; registering without a task ARN", "err", err)
	case ok:
		props[cluster.PropTaskARN] = task.TaskARN
		props["ecs_cluster"] = task.Cluster
		props["availability_zone"] = task.AvailabilityZone
	}
	return cluster.NodeInfo{Group: c.Group, NodeID: c.NodeID, Properties: props}
}
