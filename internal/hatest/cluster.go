// Package hatest runs real node processes for end-to-end tests, the demo and the chaos suite: a
// cluster of `node run` processes on loopback ports, a client that follows the active through
// failovers with idempotency keys, and a checker of the outputs.
package hatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/streamha/streamha/internal/freeport"
	"github.com/streamha/streamha/node/adminclient"
)

// Proc is one node process.
type Proc struct {
	ID        string
	Dir       string // working dir: outputs and log
	RESTAddr  string
	AdminAddr string // admin listener: /ha/switchover, /ha/persist
	SyncAddr  string
	TCPAddr   string
	LogPath   string
	bin       string
	token     string
	args      []string
	env       []string
	mu        sync.Mutex
	cmd       *exec.Cmd
	done      chan struct{}
	exitErr   error
	startedAt time.Time
}

// Options describe a cluster of node processes.
type Options struct {
	Bin       string   // path of the built node binary
	Dir       string   // root dir; each node gets Dir/<id>
	ClusterDB string   // sqlite://… or postgres://…
	AppsDir   string   // apps to run
	N         int      // nodes (2 for a pair)
	Extra     []string // more flags for every node
	Env       []string // more environment for every node
	// AuthToken is the pair's shared secret; empty draws a random one. It reaches the nodes
	// through auth_token_file (Dir/auth_token, mode 0600), never on a command line.
	AuthToken string
	// NodeArgs, when set, returns more flags for one node once its addresses are known (flags
	// given later win, so it can override ClusterDB or advertise a proxy's address).
	NodeArgs func(p *Proc) []string
	// NodeEnv, when set, returns more environment for one node, after Env (e.g. the host its
	// apps' sources bind, so two nodes on one machine can share an app file).
	NodeEnv func(p *Proc) []string
}

// Cluster is a set of node processes of one group.
type Cluster struct {
	Nodes []*Proc
	// Token is the shared secret every node was given: the bearer of /ha/switchover and
	// /ha/persist.
	Token string
	opts  Options
}

// NewToken draws a random shared secret (32 hex characters) for one run.
func NewToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// FreeAddr returns a loopback address with a port free right now and not handed out before by
// this process (two nodes of a cluster never get the same port).
func FreeAddr() (string, error) { return freeport.Addr() }

// NewCluster prepares the processes without starting them.
func NewCluster(o Options) (*Cluster, error) {
	c := &Cluster{opts: o, Token: o.AuthToken}
	if c.Token == "" {
		c.Token = NewToken()
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	tokenFile := filepath.Join(o.Dir, "auth_token")
	if err := os.WriteFile(tokenFile, []byte(c.Token+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write the shared secret: %w", err)
	}
	for i := 0; i < o.N; i++ {
		id := fmt.Sprintf("node-%c", 'a'+i)
		p := &Proc{ID: id, Dir: filepath.Join(o.Dir, id), bin: o.Bin, env: o.Env, token: c.Token}
		if err := os.MkdirAll(p.Dir, 0o755); err != nil {
			return nil, err
		}
		var err error
		for _, a := range []*string{&p.RESTAddr, &p.AdminAddr, &p.SyncAddr, &p.TCPAddr} {
			if *a, err = FreeAddr(); err != nil {
				return nil, err
			}
		}
		p.LogPath = filepath.Join(p.Dir, "node.log")
		p.args = append([]string{"run",
			"--node_id", id, "--cluster_db", o.ClusterDB, "--apps_dir", o.AppsDir, "--output_dir", p.Dir,
			"--rest_listen", p.RESTAddr, "--admin_listen", p.AdminAddr, "--sync_listen", p.SyncAddr, "--tcp_listen", p.TCPAddr,
			"--log_format", "text", "--auth_token_file", tokenFile,
		}, o.Extra...)
		if o.NodeArgs != nil {
			p.args = append(p.args, o.NodeArgs(p)...)
		}
		if o.NodeEnv != nil {
			p.env = append(append([]string(nil), o.Env...), o.NodeEnv(p)...)
		}
		c.Nodes = append(c.Nodes, p)
	}
	return c, nil
}

// Start starts every process.
func (c *Cluster) Start() error {
	for _, p := range c.Nodes {
		if err := p.Start(); err != nil {
			return err
		}
	}
	return nil
}

// Close kills whatever still runs.
func (c *Cluster) Close() {
	for _, p := range c.Nodes {
		_ = p.Kill()
	}
}

// Start runs the process (again, after a kill), appending to its log.
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return fmt.Errorf("%s already running", p.ID)
	}
	logf, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Dir = p.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), p.env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", p.ID, err)
	}
	p.cmd, p.done, p.startedAt = cmd, make(chan struct{}), time.Now()
	done := p.done
	go func() {
		err := cmd.Wait()
		logf.Close()
		p.mu.Lock()
		p.exitErr = err
		if p.cmd == cmd {
			p.cmd = nil
		}
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

// PID is the process id, or 0 when it is not running.
func (p *Proc) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Running reports whether the process is alive.
func (p *Proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil
}

func (p *Proc) signal(sig syscall.Signal) (chan struct{}, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return nil, nil
	}
	return p.done, p.cmd.Process.Signal(sig)
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Proc) Kill() error {
	done, err := p.signal(syscall.SIGKILL)
	if done != nil {
		<-done
	}
	return err
}

// Stop sends SIGTERM (a clean shutdown: switchover or persist, release, deregister) and waits.
func (p *Proc) Stop(timeout time.Duration) error {
	done, err := p.signal(syscall.SIGTERM)
	if done == nil || err != nil {
		return err
	}
	select {
	case <-done:
		return nil
	case <-time.After(timeout):
		_ = p.Kill()
		return fmt.Errorf("%s did not stop within %s after SIGTERM", p.ID, timeout)
	}
}

// Admin is a client of p's admin API with the cluster's bearer token.
func (p *Proc) Admin() *adminclient.Client {
	return &adminclient.Client{URL: p.URL(), AdminURL: p.AdminURL(), Token: p.token, HTTP: httpc}
}

// Switchover asks p for a planned switchover (with the cluster's bearer token) and returns an
// error unless it answers 200.
func (p *Proc) Switchover(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	a := p.Admin()
	a.HTTP = &http.Client{Timeout: timeout}
	if _, err := a.Switchover(ctx); err != nil {
		return fmt.Errorf("switchover on %s: %w", p.ID, err)
	}
	return nil
}

// Pause freezes the process (SIGSTOP); Resume thaws it.
func (p *Proc) Pause() error  { _, err := p.signal(syscall.SIGSTOP); return err }
func (p *Proc) Resume() error { _, err := p.signal(syscall.SIGCONT); return err }

// URL is the node's REST base URL.
func (p *Proc) URL() string { return "http://" + p.RESTAddr }

// AdminURL is the base URL of the node's admin API (switchover, persist).
func (p *Proc) AdminURL() string { return "http://" + p.AdminAddr }

var httpc = &http.Client{Timeout: 2 * time.Second}

// Status fetches /ha/status.
func (p *Proc) Status() (map[string]any, error) {
	return p.Admin().StatusMap(context.Background())
}

// IsActive asks /ha/active.
func (p *Proc) IsActive() bool {
	resp, err := httpc.Get(p.URL() + "/ha/active")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Active returns the node serving now, or nil.
func (c *Cluster) Active() *Proc {
	for _, p := range c.Nodes {
		if p.Running() && p.IsActive() {
			return p
		}
	}
	return nil
}

// Peer returns the other node of a pair.
func (c *Cluster) Peer(p *Proc) *Proc {
	for _, q := range c.Nodes {
		if q != p {
			return q
		}
	}
	return nil
}

// ErrTimeout is returned by the Wait helpers.
var ErrTimeout = errors.New("timed out")

// WaitActive waits for a node other than except to serve.
func (c *Cluster) WaitActive(ctx context.Context, timeout time.Duration, except *Proc) (*Proc, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		for _, p := range c.Nodes {
			if p != except && p.Running() && p.IsActive() {
				return p, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no active node within %s: %w", timeout, ErrTimeout)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// WaitPeerConnected waits until the active reports its passive connected and in sync.
func (c *Cluster) WaitPeerConnected(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if a := c.Active(); a != nil {
			if st, err := a.Status(); err == nil {
				if peer, ok := st["peer"].(map[string]any); ok && peer["connected"] == true && peer["synced"] == true {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("passive not connected within %s: %w", timeout, ErrTimeout)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
