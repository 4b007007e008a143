// Package lambdaenv reads the Lambdas' environment variables with defaults and errors that name
// the variable, so every function parses its configuration the same way and only in main.
package lambdaenv

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
)

// Shared variable names (the SAM template sets them).
const (
	ClusterDBURL = "CLUSTER_DB_URL"
	// ClusterDBURLSecretARN names the Secrets Manager secret holding the URL (read at cold
	// start by lambdas/dbsecret); CLUSTER_DB_URL, when set, wins (local runs).
	ClusterDBURLSecretARN = "CLUSTER_DB_URL_SECRET_ARN"
	LedgerTable           = "LEDGER_TABLE"
	MetricsNamespace      = "METRICS_NAMESPACE"
	ECSCluster            = "ECS_CLUSTER"
	DryRun                = "DRY_RUN"
	ClusterGroups         = "CLUSTER_GROUPS"
	StaleSeconds          = "HEARTBEAT_STALE_SECONDS"
	LogLevel              = "LOG_LEVEL"
)

// DefaultNamespace is the CloudWatch namespace when METRICS_NAMESPACE is unset.
const DefaultNamespace = "StreamHA"

// Env reads variables through Get (os.Getenv when nil) and collects the first parse error.
type Env struct {
	Get func(string) string
	Err error
}

func (e *Env) get(name string) string {
	if e.Get == nil {
		return strings.TrimSpace(os.Getenv(name))
	}
	return strings.TrimSpace(e.Get(name))
}

func (e *Env) fail(name, v string, err error) {
	if e.Err == nil {
		e.Err = fmt.Errorf("environment %s=%q: %w", name, v, err)
	}
}

// String returns the variable or def when unset.
func (e *Env) String(name, def string) string {
	if v := e.get(name); v != "" {
		return v
	}
	return def
}

// Int returns the variable as an integer or def when unset.
func (e *Env) Int(name string, def int) int {
	v := e.get(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		e.fail(name, v, err)
		return def
	}
	return n
}

// Seconds returns the variable, a number of seconds (fractions allowed), as a duration.
func (e *Env) Seconds(name string, def time.Duration) time.Duration {
	v := e.get(name)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 {
		e.fail(name, v, fmt.Errorf("want a non-negative number of seconds: %v", err))
		return def
	}
	return time.Duration(f * float64(time.Second))
}

// Bool returns the variable as a boolean (true/false/1/0/yes/no) or def when unset.
func (e *Env) Bool(name string, def bool) bool {
	v := strings.ToLower(e.get(name))
	switch v {
	case "":
		return def
	case "1", "true", "yes", "on":
		return true
	case "0", "false", "no", "off":
		return false
	}
	e.fail(name, v, fmt.Errorf("want true or false"))
	return def
}

// List returns the comma separated variable without empty items.
func (e *Env) List(name string) []string {
	var out []string
	for _, s := range strings.Split(e.get(name), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Logger returns a JSON slog logger on stderr (stdout carries the EMF lines), at LOG_LEVEL.
func Logger(function string) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(os.Getenv(LogLevel)))
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("function", function)
}

// FunctionName is the deployed function's name (AWS_LAMBDA_FUNCTION_NAME), or def when run
// outside Lambda; it keys the function's idempotency records.
func FunctionName(def string) string {
	if n := os.Getenv("AWS_LAMBDA_FUNCTION_NAME"); n != "" {
		return n
	}
	return def
}

// Exit logs a start-up failure and exits: a function that cannot configure itself must not run.
func Exit(log *slog.Logger, what string, err error) {
	log.Error(what, "error", err.Error())
	os.Exit(1)
}
