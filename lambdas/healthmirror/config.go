package healthmirror

import (
	"fmt"
	"time"

	"github.com/streamha/streamha/lambdas/elbapi"

	"github.com/streamha/streamha/lambdas/health"
	"github.com/streamha/streamha/lambdas/lambdaenv"
)

// Environment variables specific to the health mirror.
const (
	EnvSampleEvery  = "SAMPLE_EVERY_SECONDS"  // > 0: sample repeatedly within one invocation at 1 s resolution
	EnvSampleWindow = "SAMPLE_WINDOW_SECONDS" // how long one invocation keeps sampling (default 50)
	EnvConnTimeout  = "DB_CONNECT_TIMEOUT_SECONDS"
	EnvQueryTimeout = "DB_QUERY_TIMEOUT_SECONDS"
	EnvTargetGroups = "TARGET_GROUPS" // arn=port,...: reconciled with the live nodes of the one group in CLUSTER_GROUPS
	EnvTagTasks     = "TAG_TASKS"     // true: tag live node tasks with streamha:role and streamha:term
)

// Config is the health mirror's configuration.
type Config struct {
	DBURL          string
	LedgerTable    string   // "" disables the ledger
	Namespace      string   // CloudWatch namespace
	Groups         []string // groups to report even when they have no rows; nil: every group found
	Health         health.Config
	SampleEvery    time.Duration // 0: one sample per invocation at 60 s resolution
	SampleWindow   time.Duration
	ConnectTimeout time.Duration
	QueryTimeout   time.Duration
	TargetGroups   []elbapi.TargetGroup // none: no target reconciliation
	TagTasks       bool
	DryRun         bool
}

// ConfigFromEnv reads the configuration from the environment.
func ConfigFromEnv(e *lambdaenv.Env) Config {
	tgs, err := elbapi.ParseTargetGroups(e.String(EnvTargetGroups, ""))
	if err != nil && e.Err == nil {
		e.Err = fmt.Errorf("environment %s: %w", EnvTargetGroups, err)
	}
	if (len(tgs) > 0 || e.Bool(EnvTagTasks, false)) && len(e.List(lambdaenv.ClusterGroups)) != 1 && e.Err == nil {
		e.Err = fmt.Errorf("environment %s or %s needs %s to name exactly one cluster group (the nodes' group)", EnvTargetGroups, EnvTagTasks, lambdaenv.ClusterGroups)
	}
	return Config{
		TargetGroups:   tgs,
		TagTasks:       e.Bool(EnvTagTasks, false),
		DryRun:         e.Bool(lambdaenv.DryRun, false),
		DBURL:          e.String(lambdaenv.ClusterDBURL, ""),
		LedgerTable:    e.String(lambdaenv.LedgerTable, ""),
		Namespace:      e.String(lambdaenv.MetricsNamespace, lambdaenv.DefaultNamespace),
		Groups:         e.List(lambdaenv.ClusterGroups),
		Health:         health.Config{StaleAfter: e.Seconds(lambdaenv.StaleSeconds, health.DefaultConfig().StaleAfter)},
		SampleEvery:    e.Seconds(EnvSampleEvery, 0),
		SampleWindow:   e.Seconds(EnvSampleWindow, 50*time.Second),
		ConnectTimeout: e.Seconds(EnvConnTimeout, 3*time.Second),
		QueryTimeout:   e.Seconds(EnvQueryTimeout, 5*time.Second),
	}
}
