// Command node is the streamha daemon: one node of an active/passive stream processing pair.
//
//	node run     [--config node.yaml] [--key value ...]   run the node
//	node migrate [--config node.yaml]                     apply the database schema and exit
//	node check-config [--strict-env] [--config …]         validate the configuration, compile the apps
//	node snapshot list|verify|quarantine|unquarantine|accept-loss [--app A] [--revision R]
//	node cluster list|history|switchover|watch [--group G] [--json]
//	node errors list|replay|purge [--app A] [--id N,…|--all|--before T] [--json]
//	node play APP.siddhi < events.jsonl > outputs.jsonl   run an app offline
//	node version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/streamha/streamha/internal/memtune"
	"github.com/streamha/streamha/node/config"
	"github.com/streamha/streamha/node/daemon"
	"github.com/streamha/streamha/node/source"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `usage: node <command> [flags]

commands:
  run           run the node (see --help for the configuration keys)
  migrate       apply the database schema to cluster_db and persistence_db, then exit
  check-config  validate the configuration (file, NODE_* environment, flags), compile the apps, print it
  snapshot      list, verify or quarantine stored snapshots; accept a loss (see node snapshot help)
  cluster       list the nodes, the term history, planned switchover, watch (see node cluster help)
  errors        list, replay or purge the error store (on.error='store'; see node errors help)
  play          run a stream app offline over a JSONL file of events
  version       print the version
`

func main() {
	// A streaming node allocates fast and keeps little live data besides the passive's queue:
	// at the default GOGC of 100 the collector ran on a third of the CPU in the throughput
	// benchmark. 400 trades some memory for throughput; GOGC in the environment still wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	// That headroom needs a soft memory limit to stay inside the container: see memoryLimit,
	// applied once the configuration is loaded (cmdRun).
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// memoryLimit is the Go runtime's soft memory limit for a node: GOMEMLIMIT (env, set) wins, then
// memory_limit (configured, 0 when unset), then 80% of the container's cgroup limit; false:
// none of them (cmdRun then tunes one, see memtune.Tune, unless GOGC or GOMEMLIMIT is set). With GOGC=400 the heap grows to five times the live data: the limit
// makes the collector work before that passes the container's (or the operator's) bound.
func memoryLimit(env string, configured int64, cgroup func() (int64, bool)) (int64, bool) {
	if env != "" {
		return 0, false
	}
	if configured > 0 {
		return configured, true
	}
	if limit, ok := cgroup(); ok {
		return limit / 10 * 8, true
	}
	return 0, false
}

// cgroupMemoryLimit reads the container's memory limit (cgroup v2), if there is one.
func cgroupMemoryLimit() (int64, bool) {
	b, err := os.ReadFile("/sys/fs/cgroup/memory.max")
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n <= 0 {
		return 0, false // "max": no limit
	}
	return n, true
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(rest, stderr)
	case "migrate":
		return cmdMigrate(rest, stdout, stderr)
	case "check-config":
		return cmdCheckConfig(rest, stdout, stderr)
	case "snapshot":
		return cmdSnapshot(rest, stdout, stderr)
	case "cluster":
		return cmdCluster(rest, stdout, stderr)
	case "errors":
		return cmdErrors(rest, stdout, stderr)
	case "play":
		return cmdPlay(rest, stdin, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "node: unknown command %q\n%s", cmd, usage)
	return 2
}

// loadConfig loads and validates; on error it prints one clear line and returns exit code 2.
func loadConfig(name string, args []string, stderr io.Writer) (config.Config, []string, int) {
	c, rest, err := config.Load(name, args, config.OSEnv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return c, nil, 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "node %s: %v\n", name, err)
		return c, nil, 2
	}
	return c, rest, -1
}

func cmdRun(args []string, stderr io.Writer) int {
	c, _, code := loadConfig("run", args, stderr)
	if code >= 0 {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	log := daemon.NewLogger(c, stderr)
	if limit, ok := memoryLimit(os.Getenv("GOMEMLIMIT"), c.MemoryLimit, cgroupMemoryLimit); ok {
		debug.SetMemoryLimit(limit)
		log.Info("memory limit", "bytes", limit)
	} else if os.Getenv("GOMEMLIMIT") == "" && os.Getenv("GOGC") == "" {
		// A bare host: no limit anywhere, GOGC=400. The limit follows the node's own bounds
		// and its live heap instead (internal/memtune).
		floor := memtune.Floor(c)
		go memtune.Tune(ctx, floor, 250*time.Millisecond, log)
		log.Info("memory limit follows the live heap", "floor_bytes", floor)
	}
	if err := daemon.Run(ctx, c, version, log); err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			fmt.Fprintf(stderr, "node run: %v\n", err)
			return 2
		}
		log.Error("node stopped with an error", "err", err)
		return 1
	}
	return 0
}

func cmdMigrate(args []string, stdout, stderr io.Writer) int {
	c, _, code := loadConfig("migrate", args, stderr)
	if code >= 0 {
		return code
	}
	dbs, err := daemon.OpenDatabases(c)
	if err != nil {
		fmt.Fprintf(stderr, "node migrate: %v\n", err)
		return 2
	}
	defer dbs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := dbs.Migrate(ctx, daemon.NewLogger(c, stderr)); err != nil {
		fmt.Fprintf(stderr, "node migrate: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, "schema is up to date")
	return 0
}

func cmdCheckConfig(args []string, stdout, stderr io.Writer) int {
	strict := false
	var rest []string
	for _, a := range args {
		if a == "--strict-env" || a == "-strict-env" {
			strict = true
			continue
		}
		rest = append(rest, a)
	}
	c, _, code := loadConfig("check-config", rest, stderr)
	if code >= 0 {
		return code
	}
	if err := c.CheckAuthToken(); err != nil {
		fmt.Fprintf(stderr, "node check-config: %v\n", err)
		return 2
	}
	for _, w := range c.Warnings() {
		fmt.Fprintf(stderr, "node check-config: warning: %s\n", w)
	}
	if strict {
		if bad := config.UnknownEnv(os.Environ()); len(bad) > 0 {
			fmt.Fprintf(stderr, "node check-config: unknown NODE_* environment variables: %v\n", bad)
			return 2
		}
	}
	// The apps are compiled too when apps_dir exists here (the configuration may be checked
	// away from the host it is for, e.g. a container's path).
	var names []string
	if _, err := os.Stat(c.AppsDir); c.AppsDir != "" && errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(stderr, "node check-config: apps_dir %s does not exist here; apps not checked\n", c.AppsDir)
	} else {
		apps, err := daemon.LoadApps(c.AppsDir)
		if err != nil {
			fmt.Fprintf(stderr, "node check-config: %v\n", err)
			return 2
		}
		srcCfg, err := source.ConfigFrom(c, nil)
		if err == nil {
			_, err = source.New(apps, srcCfg)
		}
		if err != nil {
			fmt.Fprintf(stderr, "node check-config: %v\n", err)
			return 2
		}
		for _, a := range apps {
			names = append(names, a.Name())
		}
	}
	fmt.Fprint(stdout, c.YAML())
	if len(names) > 0 {
		fmt.Fprintf(stdout, "# apps compiled: %s\n", strings.Join(names, ", "))
	}
	return 0
}
