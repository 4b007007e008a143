package restarter

import (
	"fmt"
	"time"

	"github.com/streamha/streamha/lambdas/elbapi"
	"github.com/streamha/streamha/lambdas/lambdaenv"
	nodeconfig "github.com/streamha/streamha/node/config"
)

// Environment variables specific to the restarter.
const (
	EnvCrashLoopStops  = "CRASH_LOOP_STOPS"          // K: more than K unexpected stops ...
	EnvCrashLoopWindow = "CRASH_LOOP_WINDOW_SECONDS" // ... within W seconds is a crash loop
	EnvGrace           = "RESTART_GRACE_SECONDS"     // how long the service may take to replace a task
	EnvPoll            = "RESTART_POLL_SECONDS"      // how often to look while waiting
	EnvBackoffBase     = "BACKOFF_BASE_SECONDS"      // first wait between forced deployments
	EnvBackoffMax      = "BACKOFF_MAX_SECONDS"       // longest wait
	EnvDefaultGroup    = "CLUSTER_GROUP"             // group of a task the database does not know
	EnvIdempotencyTTL  = "IDEMPOTENCY_TTL_SECONDS"
	EnvTargetGroups    = "TARGET_GROUPS"    // arn=port,arn=port: the load balancer's ip target groups
	EnvService         = "ECS_SERVICE"      // only this service's tasks become targets; "" any
	EnvNodeIDLegacy    = "STREAMHA_NODE_ID" // older spelling of EnvNodeID, still honoured
	EnvNodeGroupLegacy = "STREAMHA_GROUP"   // older spelling of EnvNodeGroup, still honoured
)

// The container environment a task's overrides name its node and group with: the variables the
// node itself reads its node_id and group keys from (NODE_NODE_ID, NODE_GROUP).
var (
	EnvNodeID    = nodeconfig.EnvName("node_id")
	EnvNodeGroup = nodeconfig.EnvName("group")
)

// Config is the restarter's configuration.
type Config struct {
	DBURL           string
	LedgerTable     string
	Namespace       string
	Cluster         string // only events of this ECS cluster are handled; "" handles all
	DryRun          bool
	CrashLoopStops  int
	CrashLoopWindow time.Duration
	Grace           time.Duration
	Poll            time.Duration
	BackoffBase     time.Duration
	BackoffMax      time.Duration
	DefaultGroup    string
	IdemTTL         time.Duration
	TargetGroups    []elbapi.TargetGroup // where a running node task's IP is registered; none: no target upkeep
	Service         string               // ECS service whose tasks are targets; "" any task of Cluster
}

// ConfigFromEnv reads the configuration from the environment.
func ConfigFromEnv(e *lambdaenv.Env) Config {
	tgs, err := elbapi.ParseTargetGroups(e.String(EnvTargetGroups, ""))
	if err != nil && e.Err == nil {
		e.Err = fmt.Errorf("environment %s: %w", EnvTargetGroups, err)
	}
	return Config{
		DBURL:           e.String(lambdaenv.ClusterDBURL, ""),
		LedgerTable:     e.String(lambdaenv.LedgerTable, ""),
		Namespace:       e.String(lambdaenv.MetricsNamespace, lambdaenv.DefaultNamespace),
		Cluster:         e.String(lambdaenv.ECSCluster, ""),
		DryRun:          e.Bool(lambdaenv.DryRun, false),
		CrashLoopStops:  e.Int(EnvCrashLoopStops, 3),
		CrashLoopWindow: e.Seconds(EnvCrashLoopWindow, 10*time.Minute),
		Grace:           e.Seconds(EnvGrace, 60*time.Second),
		Poll:            e.Seconds(EnvPoll, 5*time.Second),
		BackoffBase:     e.Seconds(EnvBackoffBase, time.Minute),
		BackoffMax:      e.Seconds(EnvBackoffMax, 30*time.Minute),
		DefaultGroup:    e.String(EnvDefaultGroup, "default"),
		IdemTTL:         e.Seconds(EnvIdempotencyTTL, time.Hour),
		TargetGroups:    tgs,
		Service:         e.String(EnvService, ""),
	}
}

// Backoff is the wait after the n-th consecutive forced deployment: base·2^(n-1), capped at max.
func (c Config) Backoff(n int) time.Duration {
	d := c.BackoffBase
	for i := 1; i < n && d < c.BackoffMax; i++ {
		d *= 2
	}
	if d > c.BackoffMax {
		d = c.BackoffMax
	}
	return d
}
