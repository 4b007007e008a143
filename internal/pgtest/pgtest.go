// Package pgtest runs throwaway PostgreSQL servers for tests: initdb into a temp dir, pg_ctl on a free
// loopback port, and Stop/Start so tests can take the database away and bring it back.
//
// Servers come from the Debian package's binaries (/usr/lib/postgresql/<v>/bin). When they are
// missing the test is skipped locally and fails under CI (CI=true), so a broken CI setup is loud.
package pgtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/streamha/streamha/internal/freeport"
	"github.com/streamha/streamha/internal/testenv"
)

// Server is one throwaway PostgreSQL cluster owned by a test.
type Server struct {
	binDir  string
	dir     string // parent temp dir, removed on Close
	dataDir string
	logFile string
	Port    int
	runAs   string // "postgres" when we are root, else ""
	dbSeq   atomic.Int64
	mu      sync.Mutex
	running bool
}

// BinDir finds the newest installed PostgreSQL bin directory holding initdb and pg_ctl.
func BinDir() (string, error) {
	if d := os.Getenv("PG_BIN_DIR"); d != "" {
		return d, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		if p, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p), nil
		}
		return "", fmt.Errorf("pgtest: initdb not found (install the Debian package postgresql, or set PG_BIN_DIR)")
	}
	sort.Slice(matches, func(i, j int) bool {
		return versionOf(matches[i]) > versionOf(matches[j])
	})
	return filepath.Dir(matches[0]), nil
}

func versionOf(initdb string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return v
}

// Require skips the test when PostgreSQL is not installed, or fails it under CI=true.
func Require(tb testing.TB) string {
	tb.Helper()
	bin, err := BinDir()
	testenv.Need(tb, err)
	return bin
}

// Start initialises and starts a new server; it is stopped and removed when the test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin := Require(tb)
	s, err := New(bin)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// New creates and starts a server outside of a test's lifetime (for TestMain and harnesses).
// The caller must Close it.
func New(binDir string) (*Server, error) {
	s := &Server{binDir: binDir}
	if os.Geteuid() == 0 {
		s.runAs = "postgres"
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	s.dir = dir
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	s.dataDir = filepath.Join(dir, "data")
	s.logFile = filepath.Join(dir, "postgres.log")
	if s.runAs != "" {
		u, err := user.Lookup(s.runAs)
		if err != nil {
			return nil, fmt.Errorf("look up user %s: %w", s.runAs, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, fmt.Errorf("chown temp dir: %w", err)
		}
	}
	if out, err := s.run("initdb", "-D", s.dataDir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"); err != nil {
		s.Close()
		return nil, fmt.Errorf("initdb: %w: %s", err, out)
	}
	port, err := freeport.Port()
	if err != nil {
		s.Close()
		return nil, err
	}
	s.Port = port
	if err := s.start(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Server) run(tool string, args ...string) (string, error) {
	path := filepath.Join(s.binDir, tool)
	var cmd *exec.Cmd
	if s.runAs != "" {
		cmd = exec.Command("runuser", append([]string{"-u", s.runAs, "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = s.dir
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func (s *Server) start() error {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200", s.Port, s.dir)
	if out, err := s.run("pg_ctl", "-D", s.dataDir, "-l", s.logFile, "-o", opts, "-w", "-t", "60", "start"); err != nil {
		return fmt.Errorf("pg_ctl start: %w: %s (log %s)", err, out, s.logFile)
	}
	s.running = true
	return nil
}

// Stop shuts the server down immediately (mode fast): clients see their connections drop.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		return nil
	}
	if out, err := s.run("pg_ctl", "-D", s.dataDir, "-m", "fast", "-w", "-t", "60", "stop"); err != nil {
		return fmt.Errorf("pg_ctl stop: %w: %s", err, out)
	}
	s.running = false
	return nil
}

// Restart starts a stopped server again on the same port with the same data.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return nil
	}
	return s.start()
}

// Close stops the server and removes its files.
func (s *Server) Close() {
	_ = s.Stop()
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}

// URL is the connection URL of database name on this server.
func (s *Server) URL(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, name)
}

// NewDatabase creates a fresh empty database and returns its URL, so tests sharing a server stay
// isolated.
func (s *Server) NewDatabase(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("t%d_%d", os.Getpid(), s.dbSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		tb.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	return s.URL(name)
}

var shared struct {
	once sync.Once
	s    *Server
	err  error
}

// Shared returns one server for the whole test binary, started on first use; tests that stop or
// restart the server must use Start instead. The package's TestMain must call Main so it is removed.
func Shared(tb testing.TB) *Server {
	tb.Helper()
	bin := Require(tb)
	shared.once.Do(func() { shared.s, shared.err = New(bin) })
	if shared.err != nil {
		tb.Fatalf("pgtest: shared server: %v", shared.err)
	}
	return shared.s
}

// Main runs the tests and then removes the shared server; use it as the body of TestMain.
func Main(m *testing.M) int {
	code := m.Run()
	if shared.s != nil {
		shared.s.Close()
	}
	return code
}
