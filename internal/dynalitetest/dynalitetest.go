// Package dynalitetest runs a throwaway dynalite (an in-memory DynamoDB implementation from npm,
// pinned in the repo's package.json) for tests that need a real DynamoDB API.
//
// The binary is node_modules/.bin/dynalite under the repository root (run `npm install` there).
// When it or node is missing the test is skipped locally and fails under CI=true, so a broken CI
// setup is loud.
package dynalitetest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/streamha/streamha/internal/freeport"
	"github.com/streamha/streamha/internal/testenv"
)

// Region and the static credentials every client of a test server uses; dynalite checks that a
// request is signed but not by whom.
const (
	Region    = "us-east-1"
	AccessKey = "AKIDDYNALITETEST"
	SecretKey = "dynalite-test-secret"
)

// Server is one running dynalite process.
type Server struct {
	// Endpoint is the base URL, e.g. http://127.0.0.1:41234, for AWS_ENDPOINT_URL_DYNAMODB.
	Endpoint string
	cmd      *exec.Cmd
	exited   chan struct{}
}

// Binary finds node_modules/.bin/dynalite by walking up from the working directory to the
// directory holding package.json, and checks that node is on PATH.
func Binary() (string, error) {
	if _, err := exec.LookPath("node"); err != nil {
		return "", fmt.Errorf("dynalitetest: node not found on PATH: %w", err)
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("dynalitetest: working directory: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "package.json")); err == nil {
			bin := filepath.Join(dir, "node_modules", ".bin", "dynalite")
			if _, err := os.Stat(bin); err != nil {
				return "", fmt.Errorf("dynalitetest: %s missing (run `npm install` in %s): %w", bin, dir, err)
			}
			return bin, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("dynalitetest: no package.json above the working directory")
		}
		dir = parent
	}
}

// Require returns the dynalite binary, skipping the test when it is missing or failing it under CI=true.
func Require(tb testing.TB) string {
	tb.Helper()
	bin, err := Binary()
	testenv.Need(tb, err)
	return bin
}

// Start runs a fresh in-memory dynalite on a free loopback port and stops it when the test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin := Require(tb)
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ { // a free port can be taken before dynalite binds it
		s, err := start(bin)
		if err == nil {
			tb.Cleanup(s.Stop)
			return s
		}
		lastErr = err
	}
	tb.Fatalf("dynalitetest: %v", lastErr)
	return nil
}

func start(bin string) (*Server, error) {
	port, err := freeport.Port()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--host", "127.0.0.1", "--port", strconv.Itoa(port), "--createTableMs", "0")
	cmd.Dir = filepath.Dir(filepath.Dir(filepath.Dir(bin))) // the repository root
	cmd.Stderr = os.Stderr                                  // stdout only announces the port
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	s := &Server{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.exited) }()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return nil, fmt.Errorf("dynalite on port %d exited early", port)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			_ = c.Close()
			return s, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.Stop()
	return nil, fmt.Errorf("dynalite on port %d did not listen within 20s", port)
}

// Stop kills the process and waits for it to exit.
func (s *Server) Stop() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
	}
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
	}
}

// Env is the environment a Lambda process needs to reach this server through the SDK's standard
// configuration (endpoint override, region and static credentials).
func (s *Server) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL_DYNAMODB=" + s.Endpoint,
		"AWS_REGION=" + Region,
		"AWS_ACCESS_KEY_ID=" + AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + SecretKey,
	}
}

// Client returns an SDK client bound to this server.
func (s *Server) Client() *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       Region,
		BaseEndpoint: aws.String(s.Endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, ""),
	})
}

// Ping lists tables, proving the server answers signed requests.
func (s *Server) Ping(ctx context.Context) error {
	if _, err := s.Client().ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
		return fmt.Errorf("dynalite list tables: %w", err)
	}
	return nil
}
