package daemon

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/streamha/streamha/node/cluster"
	"github.com/streamha/streamha/node/config"
	"github.com/streamha/streamha/node/ecsmeta"
	"github.com/streamha/streamha/node/ha"
	"github.com/streamha/streamha/node/rest"
	"github.com/streamha/streamha/node/sink"
	"github.com/streamha/streamha/node/source"
	"github.com/streamha/streamha/node/tcpingest"
)

// Run runs a node until ctx ends (SIGTERM), then shuts down cleanly: an active hands over to its
// passive or persists, the lease is released and the node deregisters.
func Run(ctx context.Context, c config.Config, version string, log *slog.Logger) error {
	// Before anything else (the database may be retried for a long time): no secret, no node.
	if err := c.CheckAuthToken(); err != nil {
		return err
	}
	for _, w := range c.Warnings() {
		log.Warn(w)
	}
	apps, err := LoadApps(c.AppsDir)
	if err != nil {
		return err
	}
	if len(apps) == 0 {
		log.Warn("no apps to run: coordination only", "apps_dir", c.AppsDir)
	}
	// Open the listeners first: a taken port is a configuration error, reported at once.
	restLn, err := net.Listen("tcp", c.RESTListen)
	if err != nil {
		return &config.Error{Key: "rest_listen", Err: err}
	}
	syncLn, err := net.Listen("tcp", c.SyncListen)
	if err != nil {
		restLn.Close()
		return &config.Error{Key: "sync_listen", Err: err}
	}
	var tcpLn net.Listener
	if c.TCPListen != "" {
		if tcpLn, err = net.Listen("tcp", c.TCPListen); err != nil {
			restLn.Close()
			syncLn.Close()
			return &config.Error{Key: "tcp_listen", Err: err}
		}
	}
	var adminLn net.Listener
	if c.AdminListen != "" {
		if adminLn, err = net.Listen("tcp", c.AdminListen); err != nil {
			restLn.Close()
			syncLn.Close()
			if tcpLn != nil {
				tcpLn.Close()
			}
			return &config.Error{Key: "admin_listen", Err: err}
		}
	}
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
	reg := NewRegistry()
	sinkCfg := sink.DefaultConfig()
	sinkCfg.BaseDir = c.OutputDir
	if sinkCfg.BaseDir == "" {
		sinkCfg.BaseDir = c.AppsDir
	}
	srcCfg, err := source.ConfigFrom(c, log)
	if err != nil {
		return err
	}
	srcCfg.Registry = reg
	sources, err := source.New(apps, srcCfg)
	if err != nil {
		return err
	}
	info := NodeInfo(ctx, c, version, log)
	node, err := ha.New(ha.Options{
		Config: c, Apps: apps, Node: info,
		Cluster: dbs.Cluster, Snapshots: dbs.Persistence, Logger: log, Registry: reg,
		Sinks: sinkCfg, SyncListener: syncLn, Sources: sources,
	})
	if err != nil {
		return err
	}
	sources.SetNode(node)
	srv := rest.NewServer(rest.Handler(node, c.AuthToken, reg, log), node.Limits(), log)
	go func() {
		if err := srv.Serve(rest.Listener(restLn, node.Limits())); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("REST server stopped", "err", err)
		}
	}()
	var admin *http.Server
	if adminLn != nil {
		admin = rest.NewServer(rest.AdminHandler(node, c.AuthToken, reg, log), node.Limits(), log)
		go func() {
			if err := admin.Serve(adminLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("admin server stopped", "err", err)
			}
		}()
	}
	if uri := os.Getenv(ecsmeta.EnvAgentURI); uri != "" && c.TaskProtection {
		stop := ProtectTask(node, info, &ecsmeta.Protector{URI: uri, Expires: ProtectionExpiry}, 0, log)
		defer stop()
	}
	var tcp *tcpingest.Server
	if tcpLn != nil {
		tcp = tcpingest.NewServer(node, log)
		go tcp.Serve(tcpLn)
	}
	log.Info("node started", "version", version, "rest", c.RESTListen, "admin", c.AdminListen, "sync", c.SyncListen, "tcp", c.TCPListen, "apps", len(apps), "sync_mode", c.SyncMode)
	err = node.Run(ctx)
	sources.Close()
	if tcp != nil {
		tcp.Close()
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if admin != nil {
		_ = admin.Shutdown(sctx)
	}
	return err
}

// NewRegistry is the registry a node exports on /metrics, with the Go and process collectors
// (the dashboards' and alerts' process_start_time_seconds comes from the latter).
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
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
		if task.Family != "" {
			props[ecsmeta.PropTaskDefinition] = task.Family + ":" + task.Revision
		}
	}
	if c.AdminListen != "" {
		// node cluster switchover and other operator tools find the admin API here.
		props[cluster.PropAdminAddr] = "http://" + config.Advertised("", c.AdminListen)
	}
	return cluster.NodeInfo{Group: c.Group, NodeID: c.NodeID, Properties: props}
}
