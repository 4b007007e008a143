package alarmhandler

import (
	"time"

	"github.com/streamha/streamha/lambdas/health"
	"github.com/streamha/streamha/lambdas/lambdaenv"
)

// EnvIdempotencyTTL is how long (seconds) a handled event suppresses its duplicates.
const EnvIdempotencyTTL = "IDEMPOTENCY_TTL_SECONDS"

// Config is the alarm handler's configuration.
type Config struct {
	DBURL       string
	LedgerTable string
	Namespace   string // only alarms on metrics of this namespace are acted on
	Cluster     string // ECS cluster of the nodes; "" takes it from each task ARN
	DryRun      bool   // log what would be stopped, call nothing in ECS
	Health      health.Config
	IdemTTL     time.Duration
}

// ConfigFromEnv reads the configuration from the environment.
func ConfigFromEnv(e *lambdaenv.Env) Config {
	return Config{
		DBURL:       e.String(lambdaenv.ClusterDBURL, ""),
		LedgerTable: e.String(lambdaenv.LedgerTable, ""),
		Namespace:   e.String(lambdaenv.MetricsNamespace, lambdaenv.DefaultNamespace),
		Cluster:     e.String(lambdaenv.ECSCluster, ""),
		DryRun:      e.Bool(lambdaenv.DryRun, false),
		Health:      health.Config{StaleAfter: e.Seconds(lambdaenv.StaleSeconds, health.DefaultConfig().StaleAfter)},
		IdemTTL:     e.Seconds(EnvIdempotencyTTL, time.Hour),
	}
}
