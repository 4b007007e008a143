package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// key describes one configuration key: its name (YAML key and flag name), default, help text,
// and how to parse it into a Config.
type key struct {
	name string
	def  string
	help string
	set  func(c *Config, v string) error
	get  func(c *Config) string
}

func str(p func(*Config) *string, check func(string) error) (func(*Config, string) error, func(*Config) string) {
	return func(c *Config, v string) error {
			if check != nil {
				if err := check(v); err != nil {
					return err
				}
			}
			*p(c) = v
			return nil
		}, func(c *Config) string {
			return *p(c)
		}
}

func dur(p func(*Config) *time.Duration, minimum time.Duration) (func(*Config, string) error, func(*Config) string) {
	return func(c *Config, v string) error {
			d, err := time.ParseDuration(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("%q is not a duration (use e.g. 250ms, 2s, 1m)", v)
			}
			if d < minimum {
				return fmt.Errorf("%s is below the minimum %s", d, minimum)
			}
			*p(c) = d
			return nil
		}, func(c *Config) string {
			return p(c).String()
		}
}

func integer(put func(*Config, int64), get func(*Config) int64, minimum int64) (func(*Config, string) error, func(*Config) string) {
	return func(c *Config, v string) error {
			n, err := parseSize(v)
			if err != nil {
				return err
			}
			if n < minimum {
				return fmt.Errorf("%d is below the minimum %d", n, minimum)
			}
			put(c, n)
			return nil
		}, func(c *Config) string {
			return strconv.FormatInt(get(c), 10)
		}
}

// minMemoryLimit is the smallest memory_limit accepted: below it the collector would run
// continuously on the node's own baseline.
const minMemoryLimit = 32 << 20

func setMemoryLimit(c *Config, v string) error {
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	if n != 0 && n < minMemoryLimit {
		return fmt.Errorf("%d is below the minimum %d (or 0 for the container's limit)", n, minMemoryLimit)
	}
	c.MemoryLimit = n
	return nil
}

// parseSize reads an integer with an optional KiB/MiB/GiB suffix.
func parseSize(v string) (int64, error) {
	s := strings.TrimSpace(v)
	mult := int64(1)
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if strings.HasSuffix(s, suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, suffix)), m
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not an integer (a KiB, MiB or GiB suffix is allowed)", v)
	}
	return n * mult, nil
}

func oneOf(vals ...string) func(string) error {
	return func(v string) error {
		for _, ok := range vals {
			if v == ok {
				return nil
			}
		}
		return fmt.Errorf("%q must be one of %s", v, strings.Join(vals, ", "))
	}
}

func nonEmpty(v string) error {
	if strings.TrimSpace(v) == "" {
		return errors.New("must not be empty")
	}
	return nil
}

var keys = func() []key {
	k := func(name, def, help string, set func(*Config, string) error, get func(*Config) string) key {
		return key{name: name, def: def, help: help, set: set, get: get}
	}
	var ks []key
	add := func(x key) { ks = append(ks, x) }
	s, g := str(func(c *Config) *string { return &c.NodeID }, nil)
	add(k("node_id", "", "Unique id of this node in its group (default: the host name).", s, g))
	s, g = str(func(c *Config) *string { return &c.Group }, nonEmpty)
	add(k("group", "default", "Cluster group: the two nodes of one HA pair share it.", s, g))
	s, g = str(func(c *Config) *string { return &c.ClusterDB }, checkDBURL)
	add(k("cluster_db", "sqlite://streamha.db", "WSO2_CLUSTER_DB: sqlite://PATH (embedded) or postgres://user:pass@host:port/db.", s, g))
	s, g = str(func(c *Config) *string { return &c.PersistenceDB }, checkDBURL)
	add(k("persistence_db", "", "PERSISTENCE_DB for app snapshots; empty means the same database as cluster_db.", s, g))
	s, g = dur(func(c *Config) *time.Duration { return &c.HeartbeatInterval }, 10*time.Millisecond)
	add(k("heartbeat_interval", "250ms", "How often a node heartbeats, renews (active) or tries the lease (passive).", s, g))
	s, g = dur(func(c *Config) *time.Duration { return &c.Lease }, 50*time.Millisecond)
	add(k("lease", "1500ms", "Leader lease length, judged by the database's clock.", s, g))
	s, g = dur(func(c *Config) *time.Duration { return &c.RenewDeadline }, 20*time.Millisecond)
	add(k("renew_deadline", "1000ms", "An active that cannot renew for this long demotes itself; must be < lease.", s, g))
	s, g = str(func(c *Config) *string { return &c.AppsDir }, nil)
	add(k("apps_dir", "apps", "Directory of *.siddhi apps to run.", s, g))
	s, g = str(func(c *Config) *string { return &c.RESTListen }, checkListen)
	add(k("rest_listen", "127.0.0.1:9090", "REST address: ingest, /health, /ha/ready, /ha/active, /ha/status, /metrics.", s, g))
	s, g = str(func(c *Config) *string { return &c.AdminListen }, checkListen)
	add(k("admin_listen", "127.0.0.1:9091", "Admin API address: POST /ha/switchover and /ha/persist (plus /ha/status, /metrics); empty disables it. Keep it off the load balancer.", s, g))
	s, g = str(func(c *Config) *string { return &c.SyncListen }, checkListen)
	add(k("sync_listen", "127.0.0.1:9893", "Event sync server address (the passive receives the active's inputs here).", s, g))
	s, g = str(func(c *Config) *string { return &c.TCPListen }, checkListen)
	add(k("tcp_listen", "127.0.0.1:9894", "Binary TCP ingest address; empty disables it.", s, g))
	s, g = str(func(c *Config) *string { return &c.RESTAdvertise }, nil)
	add(k("rest_advertise", "", "REST base URL others should use (default http://<rest_listen>).", s, g))
	s, g = str(func(c *Config) *string { return &c.SyncAdvertise }, nil)
	add(k("sync_advertise", "", "host:port the active dials to reach this node's sync server (default sync_listen).", s, g))
	s, g = str(func(c *Config) *string { return &c.TCPAdvertise }, nil)
	add(k("tcp_advertise", "", "host:port clients use for TCP ingest (default tcp_listen).", s, g))
	s, g = str(func(c *Config) *string { return &c.SyncMode }, oneOf(SyncAck, SyncAsync))
	add(k("sync_mode", SyncAck, "ack: answer clients once the passive holds the events; async: once the active does.", s, g))
	s, g = dur(func(c *Config) *time.Duration { return &c.PersistInterval }, 100*time.Millisecond)
	add(k("persist_interval", "30s", "How often the active snapshots each app's state.", s, g))
	s, g = integer(func(c *Config, n int64) { c.RevisionsToKeep = int(n) }, func(c *Config) int64 { return int64(c.RevisionsToKeep) }, 1)
	add(k("revisions_to_keep", "3", "Snapshot revisions kept per app.", s, g))
	s, g = integer(func(c *Config, n int64) { c.PassiveQueueMaxBytes = n }, func(c *Config) int64 { return c.PassiveQueueMaxBytes }, 1<<20)
	add(k("passive_queue_max_bytes", "268435456", "Bound of the passive's replay queue in bytes (KiB/MiB/GiB suffixes allowed).", s, g))
	s, g = integer(func(c *Config, n int64) { c.MaxRequestBytes = n }, func(c *Config) int64 { return c.MaxRequestBytes }, 1<<10)
	add(k("max_request_bytes", "4194304", "Largest REST ingest body in bytes; a larger one gets 413, nothing applied.", s, g))
	s, g = integer(func(c *Config, n int64) { c.MaxEventsPerRequest = int(n) }, func(c *Config) int64 { return int64(c.MaxEventsPerRequest) }, 1)
	add(k("max_events_per_request", "10000", "Most events in one REST request or TCP batch; more gets 413 / TCP status 4, nothing applied.", s, g))
	s, g = integer(func(c *Config, n int64) { c.TCPMaxFrameBytes = n }, func(c *Config) int64 { return c.TCPMaxFrameBytes }, 1<<10)
	add(k("tcp_max_frame_bytes", "4194304", "Largest TCP ingest frame in bytes; a larger one gets status 4 and the connection is closed.", s, g))
	s, g = integer(func(c *Config, n int64) { c.MaxInflightInputBytes = n }, func(c *Config) int64 { return c.MaxInflightInputBytes }, 1<<20)
	add(k("max_inflight_input_bytes", "67108864", "Memory budget of input being read, decoded and applied (REST and TCP); past it ingest waits briefly, then answers 503 / TCP status 5.", s, g))
	s, g = integer(func(c *Config, n int64) { c.MaxConnections = int(n) }, func(c *Config) int64 { return int64(c.MaxConnections) }, 1)
	add(k("max_connections", "1024", "Open connections each of the REST and TCP ingest listeners serves at once; more wait in the listen backlog.", s, g))
	s, g = dur(func(c *Config) *time.Duration { return &c.RESTReadTimeout }, 100*time.Millisecond)
	add(k("rest_read_timeout", "30s", "Time a REST client has to send a whole request (headers and body); a slower one is cut off.", s, g))
	s, g = integer(func(c *Config, n int64) { c.MaxPendingOutputBytes = n }, func(c *Config) int64 { return c.MaxPendingOutputBytes }, 1<<20)
	add(k("max_pending_output_bytes", "67108864", "Bound of the outputs waiting for their sinks, in bytes, over all apps; past it ingest waits (KiB/MiB/GiB suffixes allowed).", s, g))
	add(k("memory_limit", "0", "Soft memory limit of the Go runtime in bytes (KiB/MiB/GiB suffixes allowed; at least 32 MiB): the collector works harder as the heap nears it. 0: 80% of the container's cgroup memory limit, if any; without one, max(max_pending_output_bytes + max_inflight_input_bytes + 32 MiB, 1.25 × the live heap), followed as the heap grows. GOMEMLIMIT in the environment wins; GOGC in the environment turns the automatic limit off.", setMemoryLimit, func(c *Config) string { return strconv.FormatInt(c.MemoryLimit, 10) }))
	s, g = str(func(c *Config) *string { return &c.AuthToken }, nil)
	add(k("auth_token", "", "Shared secret (required, at least 16 bytes, the same on both nodes): authenticates the sync handshake and is the bearer token of the admin API (/ha/switchover, /ha/persist).", s, g))
	s, g = str(func(c *Config) *string { return &c.AuthTokenFile }, nil)
	add(k("auth_token_file", "", "File holding auth_token (trailing newline ignored); instead of auth_token.", s, g))
	s, g = str(func(c *Config) *string { return &c.DatabridgeListen }, checkListen)
	add(k("databridge_listen", "127.0.0.1:9611", "WSO2 databridge binary receiver for @source(type='wso2event'), open on the active only; empty disables it.", s, g))
	s, g = str(func(c *Config) *string { return &c.DatabridgeTLSListen }, checkListen)
	add(k("databridge_tls_listen", "127.0.0.1:9711", "TLS port of the databridge receiver (same protocol), open with databridge_listen when source_tls_cert_file and source_tls_key_file are set; empty disables it.", s, g))
	s, g = str(func(c *Config) *string { return &c.SourceTLSCertFile }, nil)
	add(k("source_tls_cert_file", "", "PEM certificate (chain) of the sources' TLS ports: databridge_tls_listen and https receiver.url; set with source_tls_key_file.", s, g))
	s, g = str(func(c *Config) *string { return &c.SourceTLSKeyFile }, nil)
	add(k("source_tls_key_file", "", "PEM private key of source_tls_cert_file; a pair that does not load is a config error at start.", s, g))
	s, g = str(func(c *Config) *string { return &c.SourceUsers }, checkSourceUsers)
	add(k("source_users", "", "Credentials of the apps' sources, user:password[,user:password…]: http basic auth and databridge login.", s, g))
	s, g = str(func(c *Config) *string { return &c.OutputDir }, nil)
	add(k("output_dir", "", "Base directory for relative @sink(type='file') paths (default: apps_dir).", s, g))
	s, g = dur(func(c *Config) *time.Duration { return &c.HistoryRetention }, time.Minute)
	add(k("history_retention", "720h", "Term history rows (ha_lease_history) older than this are trimmed at each lease acquisition (720h = 30 days).", s, g))
	s, g = integer(func(c *Config, n int64) { c.HistoryMaxRows = int(n) }, func(c *Config) int64 { return int64(c.HistoryMaxRows) }, 10)
	add(k("history_max_rows", "10000", "At most this many term history rows are kept per group (the newest).", s, g))
	s, g = str(func(c *Config) *string { return &c.LogLevel }, oneOf("debug", "info", "warn", "error"))
	add(k("log_level", "info", "Log level: debug, info, warn, error.", s, g))
	s, g = str(func(c *Config) *string { return &c.LogFormat }, oneOf("json", "text"))
	add(k("log_format", "json", "Log format on stderr: json or text.", s, g))
	s, g = dur(func(c *Config) *time.Duration { return &c.ShutdownTimeout }, time.Second)
	add(k("shutdown_timeout", "110s", "Budget from SIGTERM to exit: switchover, then the final persist. Keep it under the container's stop timeout (ECS StopTimeout, at most 120s on Fargate).", s, g))
	s, g = dur(func(c *Config) *time.Duration { return &c.SwitchoverTimeout }, time.Second)
	add(k("switchover_timeout", "60s", "Share of shutdown_timeout a switchover on SIGTERM may take; the rest (at least 10s) is kept for the final persist.", s, g))
	s, g = boolean(func(c *Config) *bool { return &c.TaskProtection })
	add(k("task_protection", "true", "On ECS (ECS_AGENT_URI set): the active protects its task from deployments and scale-in, and clears it when it hands over.", s, g))
	return ks
}()

func boolean(p func(*Config) *bool) (func(*Config, string) error, func(*Config) string) {
	return func(c *Config, v string) error {
			b, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("%q is not true or false", v)
			}
			*p(c) = b
			return nil
		}, func(c *Config) string {
			return strconv.FormatBool(*p(c))
		}
}

// Key is one configuration key as documented.
type Key struct {
	Name, Env, Flag, Default, Help string
}

// Keys lists every configuration key, in documentation order.
func Keys() []Key {
	out := make([]Key, len(keys))
	for i, k := range keys {
		out[i] = Key{Name: k.name, Env: EnvName(k.name), Flag: "--" + k.name, Default: k.def, Help: k.help}
	}
	return out
}

// EnvName is the environment variable that sets key.
func EnvName(key string) string { return "NODE_" + strings.ToUpper(key) }

func lookup(name string) (key, bool) {
	for _, k := range keys {
		if k.name == name {
			return k, true
		}
	}
	return key{}, false
}
