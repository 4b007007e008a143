// Package rie builds the Lambda functions as they are deployed (a `bootstrap` binary built with
// -tags lambda.norpc) and runs them under the AWS Lambda Runtime Interface Emulator, so tests and
// `make invoke` exercise the real runtime loop, environment handling and event decoding.
package rie

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/streamha/streamha/internal/freeport"
)

// EmulatorPackage is the emulator's main package, pinned by go.mod's tool directive.
const EmulatorPackage = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"

// FunctionPackage is the main package of a function (healthmirror, alarmhandler, restarter).
func FunctionPackage(fn string) string { return "github.com/streamha/streamha/lambdas/cmd/" + fn }

// Build compiles pkg into dir/name with the Lambda build tags (GOOS and GOARCH of this host, so
// it runs here). The go command runs in the module, found from the working directory.
func Build(ctx context.Context, dir, name, pkg string) (string, error) {
	out := filepath.Join(dir, name)
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w: %s", pkg, err, b)
	}
	return out, nil
}

// BuildFunction builds fn's bootstrap into dir/fn/bootstrap.
func BuildFunction(ctx context.Context, dir, fn string) (string, error) {
	d := filepath.Join(dir, fn)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return "", fmt.Errorf("build %s: %w", fn, err)
	}
	return Build(ctx, d, "bootstrap", FunctionPackage(fn))
}

// BuildEmulator builds aws-lambda-rie into dir.
func BuildEmulator(ctx context.Context, dir string) (string, error) {
	return Build(ctx, dir, "aws-lambda-rie", EmulatorPackage)
}

// Process is one emulator running one function.
type Process struct {
	URL    string // invocation endpoint
	cmd    *exec.Cmd
	out    *lockedBuffer
	exited chan struct{}
}

// lockedBuffer collects the emulator's output while tests read it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	tee io.Writer
}

// Write appends p and copies it to the tee, if any.
func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tee != nil {
		_, _ = b.tee.Write(p)
	}
	return b.buf.Write(p)
}

// String is everything written so far.
func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Options tune Start.
type Options struct {
	Env     []string  // added to this process's environment (later entries win)
	Timeout int       // function timeout in seconds (AWS_LAMBDA_FUNCTION_TIMEOUT); 0 means 60
	Tee     io.Writer // also copy the function's and emulator's output here
}

// Start runs bootstrap under the emulator on free loopback ports and waits until it accepts
// invocations. Stop it with Stop.
func Start(ctx context.Context, emulator, bootstrap string, o Options) (*Process, error) {
	apiPort, err := freeport.Port()
	if err != nil {
		return nil, err
	}
	riePort, err := freeport.Port()
	if err != nil {
		return nil, err
	}
	if o.Timeout == 0 {
		o.Timeout = 60
	}
	cmd := exec.Command(emulator,
		"--runtime-api-address", "127.0.0.1:"+strconv.Itoa(apiPort),
		"--runtime-interface-emulator-address", "127.0.0.1:"+strconv.Itoa(riePort),
		bootstrap)
	cmd.Dir = filepath.Dir(bootstrap)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // Stop ends the function with the emulator
	cmd.Env = append(append(os.Environ(),
		"AWS_LAMBDA_FUNCTION_NAME="+filepath.Base(filepath.Dir(bootstrap)),
		"AWS_LAMBDA_FUNCTION_TIMEOUT="+strconv.Itoa(o.Timeout),
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
	), o.Env...)
	out := &lockedBuffer{tee: o.Tee}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", emulator, err)
	}
	p := &Process{URL: fmt.Sprintf("http://127.0.0.1:%d/2015-03-31/functions/function/invocations", riePort),
		cmd: cmd, out: out, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return nil, fmt.Errorf("emulator exited early: %s", out.String())
		case <-ctx.Done():
			p.Stop()
			return nil, ctx.Err()
		default:
		}
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", riePort), 200*time.Millisecond); err == nil {
			_ = c.Close()
			return p, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.Stop()
	return nil, errors.New("emulator did not listen within 15s: " + out.String())
}

// Invoke posts event and returns the function's response body. A function error comes back as
// a body with errorMessage/errorType, as from the Lambda API. It returns once the emulator has
// printed the invocation's END line (bounded), so Output then holds everything the function
// printed for it: the response can arrive before the output pipe is drained.
func (p *Process) Invoke(ctx context.Context, event []byte) ([]byte, error) {
	ends := strings.Count(p.out.String(), endLine)
	defer p.waitOutput(ends)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URL, bytes.NewReader(event))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("invoke: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("invoke: read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("invoke: HTTP %d: %s", resp.StatusCode, body)
	}
	return body, nil
}

// endLine starts the line the emulator prints after each invocation, behind the function's own
// output on the same pipe.
const endLine = "END RequestId:"

// waitOutput waits up to 5 s until more than before END lines were printed.
func (p *Process) waitOutput(before int) {
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(p.out.String(), endLine) <= before && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
}

// Output is everything the emulator and the function printed so far (EMF lines and logs).
func (p *Process) Output() string { return p.out.String() }

// Stop ends the emulator and its function.
func (p *Process) Stop() {
	if p.cmd.Process != nil {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
	}
}
