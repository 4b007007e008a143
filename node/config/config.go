// Package config is the node's configuration: one table of keys, each settable from a YAML file,
// a NODE_<KEY> environment variable and a --<key> flag (flags win over the environment, which wins
// over the file, which wins over defaults). Errors name the key and where its value came from.
package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"time"
)

// Config is the node's effective configuration.
type Config struct {
	NodeID               string
	Group                string
	ClusterDB            string
	PersistenceDB        string
	HeartbeatInterval    time.Duration
	Lease                time.Duration
	RenewDeadline        time.Duration
	AppsDir              string
	RESTListen           string
	AdminListen          string
	SyncListen           string
	TCPListen            string
	RESTAdvertise        string
	SyncAdvertise        string
	TCPAdvertise         string
	SyncMode             string
	PersistInterval      time.Duration
	RevisionsToKeep      int
	PassiveQueueMaxBytes int64
	// MaxPendingOutputBytes bounds the outputs held for the sinks (estimated bytes, all apps):
	// past it, ingest waits for the sinks instead of memory growing.
	MaxPendingOutputBytes int64
	// MemoryLimit is the Go runtime's soft memory limit in bytes (0: 80% of the container's
	// cgroup limit, if any, else one that follows the node's bounds and live heap): without a
	// limit, GOGC=400 lets the heap grow to five times the live data.
	MemoryLimit         int64
	AuthToken           string
	AuthTokenFile       string
	DatabridgeListen    string
	DatabridgeTLSListen string
	SourceTLSCertFile   string
	SourceTLSKeyFile    string
	SourceUsers         string
	OutputDir           string
	LogLevel            string
	LogFormat           string

	// Input limits: bounded memory whatever clients send (README "Limits").
	MaxRequestBytes       int64
	MaxEventsPerRequest   int
	TCPMaxFrameBytes      int64
	MaxInflightInputBytes int64
	MaxConnections        int
	RESTReadTimeout       time.Duration

	// Term history bounds (ha_lease_history).
	HistoryRetention  time.Duration
	HistoryMaxRows    int
	ShutdownTimeout   time.Duration
	SwitchoverTimeout time.Duration
	TaskProtection    bool

	tokenKey string   // the key auth_token came from: auth_token or auth_token_file
	warnings []string // non-fatal findings of Load, for the caller to log
}

// MinAuthTokenBytes is the shortest auth_token a node accepts (the sync server enforces the
// same bound, eventsync.MinTokenBytes).
const MinAuthTokenBytes = 16

// MinPersistReserve is the least part of shutdown_timeout kept after the switchover's share for
// the final persist, so a passive that never catches up cannot leave the persist no time.
const MinPersistReserve = 10 * time.Second

// Sync modes: ack answers a client once the passive holds the events; async once the active does.
const (
	SyncAck   = "ack"
	SyncAsync = "async"
)

// Error is a configuration error naming the key and the source of the bad value.
type Error struct {
	Key    string
	Source string // "file node.yaml", "env NODE_LEASE", "flag --lease", "default"
	Err    error
}

func (e *Error) Error() string {
	if e.Source == "" {
		return fmt.Sprintf("config: %s: %v", e.Key, e.Err)
	}
	return fmt.Sprintf("config: %s (from %s): %v", e.Key, e.Source, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Default returns the configuration with every default filled in.
func Default() Config {
	var c Config
	for _, k := range keys {
		if err := k.set(&c, k.def); err != nil {
			panic(fmt.Sprintf("config: bad default for %s: %v", k.name, err))
		}
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		c.NodeID = h
	}
	return c
}

// Validate checks relations between keys; single values were checked when set.
func (c *Config) Validate() error {
	req := func(key, v string) error {
		if strings.TrimSpace(v) == "" {
			return &Error{Key: key, Err: errors.New("must not be empty")}
		}
		return nil
	}
	for _, e := range []error{req("node_id", c.NodeID), req("group", c.Group), req("cluster_db", c.ClusterDB)} {
		if e != nil {
			return e
		}
	}
	if c.RenewDeadline >= c.Lease {
		return &Error{Key: "renew_deadline", Err: fmt.Errorf("%s must be shorter than lease (%s), so a leader stops before its lease can expire", c.RenewDeadline, c.Lease)}
	}
	if c.SwitchoverTimeout+MinPersistReserve > c.ShutdownTimeout {
		return &Error{Key: "switchover_timeout", Err: fmt.Errorf("%s leaves less than %s of shutdown_timeout (%s) for the final persist", c.SwitchoverTimeout, MinPersistReserve, c.ShutdownTimeout)}
	}
	if c.AdminListen != "" && c.AdminListen == c.RESTListen {
		return &Error{Key: "admin_listen", Err: fmt.Errorf("%s is also rest_listen: the admin API needs its own listener", c.AdminListen)}
	}
	if c.SourceTLSCertFile != "" && c.DatabridgeTLSListen != "" && c.DatabridgeTLSListen == c.DatabridgeListen {
		return &Error{Key: "databridge_tls_listen", Err: fmt.Errorf("%s is also databridge_listen: the TLS receiver needs its own port", c.DatabridgeTLSListen)}
	}
	if c.HeartbeatInterval >= c.RenewDeadline {
		return &Error{Key: "heartbeat_interval", Err: fmt.Errorf("%s must be shorter than renew_deadline (%s), or the lease could never be renewed in time", c.HeartbeatInterval, c.RenewDeadline)}
	}
	return nil
}

// CheckAuthToken refuses to run without a shared secret: the sync handshake is always
// authenticated, and the secret is also the bearer token of /ha/switchover and /ha/persist.
func (c *Config) CheckAuthToken() error {
	key := c.tokenKey
	if key == "" {
		key = "auth_token"
	}
	switch {
	case c.AuthToken == "":
		return &Error{Key: "auth_token", Err: fmt.Errorf("not set: the event sync channel is always authenticated; "+
			"give both nodes of the group the same secret of at least %d bytes with auth_token (%s) or auth_token_file (%s), "+
			"e.g. from `openssl rand -hex 32`", MinAuthTokenBytes, EnvName("auth_token"), EnvName("auth_token_file"))}
	case len(c.AuthToken) < MinAuthTokenBytes:
		return &Error{Key: key, Err: fmt.Errorf("the secret is %d bytes, at least %d are needed (e.g. `openssl rand -hex 32`)", len(c.AuthToken), MinAuthTokenBytes)}
	}
	return nil
}

// Warnings are findings of Load that do not stop the node (e.g. a secret file others can read).
func (c *Config) Warnings() []string { return c.warnings }

// resolveTokenFile reads auth_token_file into AuthToken: the whole file, less trailing line
// breaks. Setting both keys is an error, so there is no question which secret is in use.
func (c *Config) resolveTokenFile() error {
	if c.AuthTokenFile == "" {
		return nil
	}
	if c.AuthToken != "" {
		return &Error{Key: "auth_token_file", Err: errors.New("auth_token is set too: set only one of them")}
	}
	f, err := os.Open(c.AuthTokenFile)
	if err != nil {
		return &Error{Key: "auth_token_file", Err: err}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return &Error{Key: "auth_token_file", Err: err}
	}
	if !st.Mode().IsRegular() {
		return &Error{Key: "auth_token_file", Err: fmt.Errorf("%s is not a regular file", c.AuthTokenFile)}
	}
	b, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return &Error{Key: "auth_token_file", Err: fmt.Errorf("read %s: %w", c.AuthTokenFile, err)}
	}
	tok := strings.TrimRight(string(b), "\r\n")
	if tok == "" {
		return &Error{Key: "auth_token_file", Err: fmt.Errorf("%s is empty", c.AuthTokenFile)}
	}
	c.AuthToken, c.tokenKey = tok, "auth_token_file"
	if perm := st.Mode().Perm(); perm&0o004 != 0 {
		c.warnings = append(c.warnings, fmt.Sprintf("auth_token_file %s is readable by every user (mode %04o): chmod 600 it", c.AuthTokenFile, perm))
	}
	return nil
}

// SourceTLS is the TLS configuration of the sources' encrypted ports, from source_tls_cert_file
// and source_tls_key_file (PEM); nil when neither is set. Errors name the key at fault.
func (c *Config) SourceTLS() (*tls.Config, error) {
	switch {
	case c.SourceTLSCertFile == "" && c.SourceTLSKeyFile == "":
		return nil, nil
	case c.SourceTLSCertFile == "":
		return nil, &Error{Key: "source_tls_cert_file", Err: errors.New("is empty, but source_tls_key_file is set: set both or neither")}
	case c.SourceTLSKeyFile == "":
		return nil, &Error{Key: "source_tls_key_file", Err: errors.New("is empty, but source_tls_cert_file is set: set both or neither")}
	}
	certPEM, err := os.ReadFile(c.SourceTLSCertFile)
	if err != nil {
		return nil, &Error{Key: "source_tls_cert_file", Err: err}
	}
	keyPEM, err := os.ReadFile(c.SourceTLSKeyFile)
	if err != nil {
		return nil, &Error{Key: "source_tls_key_file", Err: err}
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, &Error{Key: "source_tls_cert_file", Err: fmt.Errorf("%s with source_tls_key_file %s: not a usable PEM certificate and key pair: %w", c.SourceTLSCertFile, c.SourceTLSKeyFile, err)}
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// PersistenceURL is persistence_db, or cluster_db when unset (one database for both roles).
func (c *Config) PersistenceURL() string {
	if c.PersistenceDB == "" {
		return c.ClusterDB
	}
	return c.PersistenceDB
}

// Advertised returns the address peers should use for a listen address: the advertise key when
// set, else the listen address itself, with an unspecified host (0.0.0.0, as in a container)
// replaced by this host's first non-loopback IPv4 address (an ECS task's own IP in awsvpc
// mode), or its host name when it has none.
func Advertised(advertise, listen string) string {
	if advertise != "" || listen == "" {
		return advertise
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = hostAddress()
	}
	return net.JoinHostPort(host, port)
}

func hostAddress() string {
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil && !n.IP.IsLinkLocalUnicast() {
				return n.IP.String()
			}
		}
	}
	if h, err := os.Hostname(); err == nil {
		return h
	}
	return "localhost"
}

func checkDBURL(v string) error {
	if v == "" {
		return nil
	}
	switch {
	case strings.HasPrefix(v, "sqlite://"):
		if strings.TrimPrefix(v, "sqlite://") == "" {
			return errors.New("sqlite:// needs a file path, e.g. sqlite://data/cluster.db")
		}
		return nil
	case strings.HasPrefix(v, "postgres://"), strings.HasPrefix(v, "postgresql://"):
		if _, err := url.Parse(v); err != nil {
			return fmt.Errorf("not a valid URL: %w", err)
		}
		return nil
	}
	return fmt.Errorf("%q: must start with sqlite:// or postgres://", redact(v))
}

func redact(v string) string {
	if u, err := url.Parse(v); err == nil {
		return u.Redacted()
	}
	return v
}

func checkListen(v string) error {
	if v == "" {
		return nil
	}
	if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
		return fmt.Errorf("%q is not host:port", v)
	}
	return nil
}

// ParseSourceUsers parses source_users, "user:password[,user:password…]", into a map.
func ParseSourceUsers(v string) (map[string]string, error) {
	users := map[string]string{}
	if strings.TrimSpace(v) == "" {
		return users, nil
	}
	for i, e := range strings.Split(v, ",") {
		u, p, ok := strings.Cut(strings.TrimSpace(e), ":")
		switch {
		case !ok || u == "":
			return nil, fmt.Errorf("entry %d is not user:password", i+1)
		case p == "":
			return nil, fmt.Errorf("user %q has an empty password", u)
		}
		if _, dup := users[u]; dup {
			return nil, fmt.Errorf("user %q is listed twice", u)
		}
		users[u] = p
	}
	return users, nil
}

func checkSourceUsers(v string) error {
	_, err := ParseSourceUsers(v)
	return err
}
