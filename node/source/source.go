// Package source opens the ports the apps declare with @source annotations, on the active node
// only: the http sources (node/source/http) and WSO2's databridge binary receiver
// (node/source/wso2event); and it runs their Kafka consumers (node/source/kafka) there. The engine only records the annotations; Check validates their
// option tables when the apps load, and Manager implements ha.Sources.
package source

import (
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamha/streamha/node/config"
	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/ha"
	httpsource "github.com/streamha/streamha/node/source/http"
	kafkasource "github.com/streamha/streamha/node/source/kafka"
	"github.com/streamha/streamha/node/source/wso2event"
)

// Types lists the supported source types.
var Types = []string{"http", "kafka", "wso2event"}

// plan is every source of a set of apps, checked.
type plan struct {
	http      map[string][]*httpsource.Endpoint // by listen address
	streams   []*wso2event.Stream
	kafka     []*kafkasource.Source
	needsAuth []string // sources that authenticate, for the source_users check
}

// Check validates every @source of app (type, option table, @map, attribute mapping); errors
// give file:line:col of the annotation and name the bad option.
func Check(file string, app *engine.App) error {
	_, err := build([]*engine.App{app}, file)
	return err
}

func build(apps []*engine.App, file string) (*plan, error) {
	p := &plan{http: map[string][]*httpsource.Endpoint{}}
	for _, a := range apps {
		for _, def := range a.Streams() {
			for _, spec := range def.Sources {
				at := fmt.Sprintf("%s:%d:%d: stream %s: @source(type='%s')", file, spec.Line, spec.Col, def.Name, spec.Type)
				if file == "" {
					at = fmt.Sprintf("app %s, stream %s: @source(type='%s')", a.Name(), def.Name, spec.Type)
				}
				switch spec.Type {
				case "http":
					e, err := httpsource.NewEndpoint(a.Name(), def, spec)
					if err != nil {
						return nil, fmt.Errorf("%s: %w", at, err)
					}
					p.http[e.Addr] = append(p.http[e.Addr], e)
					if e.Auth {
						p.needsAuth = append(p.needsAuth, fmt.Sprintf("%s/%s (http)", a.Name(), def.Name))
					}
				case "kafka":
					ks, err := kafkasource.Check(a.Name(), def, spec)
					if err != nil {
						return nil, fmt.Errorf("%s: %w", at, err)
					}
					for _, o := range p.kafka {
						if o.Overlaps(ks) {
							return nil, fmt.Errorf("%s: reads a partition another kafka source of stream %s reads too", at, def.Name)
						}
					}
					p.kafka = append(p.kafka, ks)
				case "wso2event":
					st, err := wso2event.NewStream(a.Name(), def, spec)
					if err != nil {
						return nil, fmt.Errorf("%s: %w", at, err)
					}
					p.streams = append(p.streams, st)
					p.needsAuth = append(p.needsAuth, fmt.Sprintf("%s/%s (wso2event)", a.Name(), def.Name))
				default:
					return nil, fmt.Errorf("%s: unknown source type (supported: http, kafka, wso2event)", at)
				}
			}
		}
	}
	return p, nil
}

// Manager opens and closes the apps' sources with the node's role (ha.Sources).
type Manager struct {
	log        *slog.Logger
	http       []*httpsource.Server
	bridge     *wso2event.Server
	bridgeAddr string
	bridgeTLS  string // databridge_tls_listen when a certificate is configured, else ""
	tls        *tls.Config
	kafka      []*kafkasource.Consumer
	rejects    *kafkasource.StoreRejects
	retry      time.Duration

	mu    sync.Mutex
	open  bool
	stop  chan struct{} // closed by Close: ends the bind retries of the current Open
	wg    sync.WaitGroup
	bound map[string]bool // listen addresses currently bound, for Bound
}

// Config is the node-level configuration of the sources.
type Config struct {
	NodeID string
	// Users are the credentials of source_users (user → password).
	Users map[string]string
	// DatabridgeListen is databridge_listen ("" disables the receiver).
	DatabridgeListen string
	// DatabridgeTLSListen is databridge_tls_listen: the receiver's TLS port, open when TLS is set.
	DatabridgeTLSListen string
	// TLS is the sources' certificate (source_tls_cert_file, source_tls_key_file); nil: no TLS.
	TLS *tls.Config
	// RejectsPath is the JSON-lines file where kafka sources store the records that do not
	// map to their stream when the node has no error store (ConfigFrom:
	// <output_dir>/kafka-rejected.jsonl); normally they go to the error store.
	RejectsPath string
	// Registry, when set, gets the kafka sources' record counters.
	Registry prometheus.Registerer
	// MaxBatchEvents is max_events_per_request: kafka sources submit batches under it.
	MaxBatchEvents int
	Logger         *slog.Logger
}

// ConfigFrom takes the sources' settings from the node configuration.
func ConfigFrom(c config.Config, log *slog.Logger) (Config, error) {
	users, err := config.ParseSourceUsers(c.SourceUsers)
	if err != nil {
		return Config{}, &config.Error{Key: "source_users", Err: err}
	}
	out := c.OutputDir
	if out == "" {
		out = c.AppsDir
	}
	tc, err := c.SourceTLS()
	if err != nil {
		return Config{}, err
	}
	return Config{NodeID: c.NodeID, Users: users, DatabridgeListen: c.DatabridgeListen, Logger: log,
		DatabridgeTLSListen: c.DatabridgeTLSListen, TLS: tc,
		RejectsPath: filepath.Join(out, "kafka-rejected.jsonl"), MaxBatchEvents: c.MaxEventsPerRequest}, nil
}

// Node is the HA node the sources feed.
type Node interface {
	httpsource.Node
	wso2event.Node
	kafkasource.Node
	kafkasource.ErrorStorer
}

// New checks the sources of apps against the node configuration (credentials present when a
// source authenticates, no port or stream id used twice) and returns their manager; node may be
// set later with SetNode, before the first Open.
func New(apps []*engine.App, cfg Config) (*Manager, error) {
	p, err := build(apps, "")
	if err != nil {
		return nil, &config.Error{Key: "apps_dir", Err: err}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if len(p.needsAuth) > 0 && len(cfg.Users) == 0 {
		return nil, &config.Error{Key: "source_users", Err: fmt.Errorf("is empty, but these sources authenticate publishers: %v (set user:password pairs, or basic.auth.enabled='false' on an http source)", p.needsAuth)}
	}
	if len(p.streams) > 0 && cfg.DatabridgeListen == "" {
		return nil, &config.Error{Key: "databridge_listen", Err: errors.New("is empty, but an app has @source(type='wso2event')")}
	}
	users := cfg.Users
	auth := func(u, pw string) bool {
		want, ok := users[u]
		// Compare anyway so that an unknown user takes as long as a wrong password.
		eq := subtle.ConstantTimeCompare([]byte(pw), []byte(want)) == 1
		return ok && eq
	}
	m := &Manager{log: cfg.Logger.With("component", "sources"), retry: 250 * time.Millisecond, bound: map[string]bool{}, tls: cfg.TLS}
	bridgeTLS := ""
	if cfg.TLS != nil && len(p.streams) > 0 {
		bridgeTLS = cfg.DatabridgeTLSListen
		if bridgeTLS == cfg.DatabridgeListen {
			return nil, &config.Error{Key: "databridge_tls_listen", Err: fmt.Errorf("%s is also databridge_listen: the TLS receiver needs its own port", bridgeTLS)}
		}
	}
	addrs := make([]string, 0, len(p.http))
	for a := range p.http {
		addrs = append(addrs, a)
	}
	sort.Strings(addrs)
	for _, a := range addrs {
		if a == cfg.DatabridgeListen && len(p.streams) > 0 {
			return nil, &config.Error{Key: "databridge_listen", Err: fmt.Errorf("%s is also an http source's receiver.url port", a)}
		}
		if a == bridgeTLS {
			return nil, &config.Error{Key: "databridge_tls_listen", Err: fmt.Errorf("%s is also an http source's receiver.url port", a)}
		}
		hc := httpsource.Config{NodeID: cfg.NodeID, Authenticate: auth, Logger: cfg.Logger}
		if p.http[a][0].TLS {
			if cfg.TLS == nil {
				e := p.http[a][0]
				return nil, &config.Error{Key: "source_tls_cert_file", Err: fmt.Errorf("is empty, but http source %s/%s has an https receiver.url (%s)", e.App, e.Stream, a)}
			}
			hc.TLS = cfg.TLS
		}
		s, err := httpsource.NewServer(a, p.http[a], nil, hc)
		if err != nil {
			return nil, &config.Error{Key: "apps_dir", Err: err}
		}
		m.http = append(m.http, s)
	}
	if len(p.streams) > 0 {
		b, err := wso2event.NewServer(p.streams, nil, wso2event.Config{Authenticate: auth, Logger: cfg.Logger})
		if err != nil {
			return nil, &config.Error{Key: "apps_dir", Err: err}
		}
		m.bridge, m.bridgeAddr, m.bridgeTLS = b, cfg.DatabridgeListen, bridgeTLS
	}
	if len(p.kafka) > 0 {
		if cfg.RejectsPath == "" {
			return nil, &config.Error{Key: "output_dir", Err: errors.New("no place for the kafka sources' rejected records")}
		}
		consumed := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "streamha_source_records_total",
			Help: "Records read by the kafka sources."}, []string{"app", "stream"})
		rejected := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "streamha_source_rejected_total",
			Help: "Records of the kafka sources that do not map to their stream: not applied, stored in the rejected records file."}, []string{"app", "stream"})
		if cfg.Registry != nil {
			cfg.Registry.MustRegister(consumed, rejected)
		}
		m.rejects = &kafkasource.StoreRejects{Fallback: &kafkasource.FileRejects{Path: cfg.RejectsPath}}
		kc := kafkasource.Config{NodeID: cfg.NodeID, Logger: cfg.Logger, Rejects: m.rejects,
			MaxBatchEvents: cfg.MaxBatchEvents,
			OnRecords: func(app, stream string, c, r int) {
				consumed.WithLabelValues(app, stream).Add(float64(c))
				rejected.WithLabelValues(app, stream).Add(float64(r))
			}}
		for _, ks := range p.kafka {
			m.kafka = append(m.kafka, kafkasource.NewConsumer(ks, nil, kc))
		}
	}
	return m, nil
}

// SetNode sets the node every source feeds; call it before the node runs.
func (m *Manager) SetNode(n Node) {
	for _, s := range m.http {
		s.SetNode(n)
	}
	if m.bridge != nil {
		m.bridge.SetNode(n)
	}
	for _, k := range m.kafka {
		k.SetNode(n)
	}
	if m.rejects != nil {
		m.rejects.Node = n
	}
}

// Empty reports whether there is no source at all.
func (m *Manager) Empty() bool { return len(m.http) == 0 && m.bridge == nil && len(m.kafka) == 0 }

// Open binds every source's port and serves; a port that cannot be bound (still held by a
// process that is going away) is retried in the background until Close.
func (m *Manager) Open(term int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.open || m.Empty() {
		return
	}
	m.open = true
	stop := make(chan struct{})
	m.stop = stop
	for _, s := range m.http {
		m.keepTrying(s.Addr(), stop, s.Open)
	}
	if m.bridge != nil {
		m.keepTrying(m.bridgeAddr, stop, func() error {
			ln, err := net.Listen("tcp", m.bridgeAddr)
			if err != nil {
				return fmt.Errorf("databridge: listen %s: %w", m.bridgeAddr, err)
			}
			m.bridge.Start(ln)
			m.log.Info("databridge receiver open", "addr", m.bridgeAddr)
			return nil
		})
		if m.bridgeTLS != "" {
			m.keepTrying(m.bridgeTLS, stop, func() error {
				ln, err := net.Listen("tcp", m.bridgeTLS)
				if err != nil {
					return fmt.Errorf("databridge TLS: listen %s: %w", m.bridgeTLS, err)
				}
				m.bridge.Start(tls.NewListener(ln, m.tls))
				m.log.Info("databridge TLS receiver open", "addr", m.bridgeTLS)
				return nil
			})
		}
	}
	for _, k := range m.kafka {
		k.Start(term)
	}
	m.log.Info("sources opening", "term", term)
}

// keepTrying runs open now and, while it fails, again every retry until stop. m.mu is held.
func (m *Manager) keepTrying(addr string, stop chan struct{}, open func() error) {
	err := open()
	if err == nil {
		m.bound[addr] = true
		return
	}
	m.log.Error("source port not available yet; retrying", "addr", addr, "err", err)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t := time.NewTicker(m.retry)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			m.mu.Lock()
			select {
			case <-stop:
				m.mu.Unlock()
				return
			default:
			}
			err := open()
			if err == nil {
				m.bound[addr] = true
			}
			m.mu.Unlock()
			if err == nil {
				m.log.Info("source port bound after retrying", "addr", addr)
				return
			}
		}
	}()
}

// Close closes every source's port at once; requests under way are still answered.
func (m *Manager) Close() {
	m.mu.Lock()
	if !m.open {
		m.mu.Unlock()
		return
	}
	m.open = false
	close(m.stop)
	for _, s := range m.http {
		s.Close()
	}
	if m.bridge != nil {
		m.bridge.Close()
	}
	m.bound = map[string]bool{}
	m.mu.Unlock()
	// Outside m.mu: a consumer's Stop waits for its batch in flight to be submitted.
	for _, k := range m.kafka {
		k.Stop()
	}
	m.wg.Wait()
	m.log.Info("sources closed")
}

// Bound lists the listen addresses bound now (for status and tests).
func (m *Manager) Bound() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.bound))
	for a := range m.bound {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

var _ ha.Sources = (*Manager)(nil)
