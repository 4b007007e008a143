package e2e_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamha/streamha/internal/dynalitetest"
	"github.com/streamha/streamha/internal/pgtest"
	"github.com/streamha/streamha/lambdas/ecsapi/ecstest"
	"github.com/streamha/streamha/lambdas/emf"
	"github.com/streamha/streamha/lambdas/ledger"
	"github.com/streamha/streamha/lambdas/rie"
)

const table = "streamha-ledger"

var builds struct {
	once     sync.Once
	dir      string
	emulator string
	fns      map[string]string
	err      error
}

func TestMain(m *testing.M) {
	code := pgtest.Main(m)
	if builds.dir != "" {
		_ = os.RemoveAll(builds.dir)
	}
	os.Exit(code)
}

// binaries builds the emulator and the three bootstraps once per test binary.
func binaries(t testing.TB) (emulator string, fns map[string]string) {
	t.Helper()
	// Cold caches on a loaded 2-core machine once took over 5 minutes to build the four
	// binaries (CGO_ENABLED=0 misses the -race build cache); the bound only stops a hang.
	builds.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
		defer cancel()
		if builds.dir, builds.err = os.MkdirTemp("", "streamha-e2e-"); builds.err != nil {
			return
		}
		if builds.emulator, builds.err = rie.BuildEmulator(ctx, builds.dir); builds.err != nil {
			return
		}
		names := []string{"healthmirror", "alarmhandler", "restarter"}
		paths := make([]string, len(names))
		errs := make([]error, len(names))
		var wg sync.WaitGroup
		for i, fn := range names { // links run in parallel
			wg.Add(1)
			go func() {
				defer wg.Done()
				paths[i], errs[i] = rie.BuildFunction(ctx, builds.dir, fn)
			}()
		}
		wg.Wait()
		builds.fns = map[string]string{}
		for i, fn := range names {
			if errs[i] != nil {
				builds.err = errs[i]
				return
			}
			builds.fns[fn] = paths[i]
		}
	})
	if builds.err != nil {
		t.Fatalf("build: %v", builds.err)
	}
	return builds.emulator, builds.fns
}

// services are the stand-ins one test shares.
type services struct {
	dyn    *dynalitetest.Server
	ecs    *ecstest.Server
	ledger *ledger.Ledger
}

// startServices builds the binaries first (so seeded heartbeats do not age during the build),
// then starts dynalite with the ledger table and the fake ECS.
func startServices(t testing.TB) *services {
	t.Helper()
	binaries(t)
	s := &services{dyn: dynalitetest.Start(t), ecs: ecstest.Start(t)}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := ledger.CreateTable(ctx, s.dyn.Client(), table); err != nil {
		t.Fatal(err)
	}
	s.ledger = ledger.New(s.dyn.Client(), table)
	return s
}

// start runs fn under the emulator with the environment pointing at the stand-ins.
func (s *services) start(t testing.TB, fn, dbURL string, extra ...string) *rie.Process {
	t.Helper()
	emulator, fns := binaries(t)
	env := append(append(s.dyn.Env(), s.ecs.Env()...),
		"AWS_EC2_METADATA_DISABLED=true", "AWS_PROFILE=", "AWS_SESSION_TOKEN=",
		"CLUSTER_DB_URL="+dbURL, "LEDGER_TABLE="+table,
		"ECS_CLUSTER=si", "CLUSTER_GROUPS=g1", "DRY_RUN=false", "LOG_LEVEL=info")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := rie.Start(ctx, emulator, fns[fn], rie.Options{Env: append(env, extra...), Timeout: 30})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", fn, p.Output())
		}
	})
	return p
}

// invoke posts the event file (a path relative to lambdas/) and decodes the response into out.
func invoke(t *testing.T, p *rie.Process, eventFile string, out any) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", eventFile))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	body, err := p.Invoke(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(body), `"errorMessage"`) {
		t.Fatalf("function error: %s", body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatalf("response %s: %v", body, err)
	}
}

// emfLines validates every EMF line the function printed and returns them.
func emfLines(t *testing.T, p *rie.Process) []*emf.Parsed {
	t.Helper()
	var out []*emf.Parsed
	sc := bufio.NewScanner(strings.NewReader(p.Output()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !strings.Contains(string(line), `"_aws"`) {
			continue
		}
		parsed, err := emf.Validate(line)
		if err != nil {
			t.Fatalf("invalid EMF line %s: %v", line, err)
		}
		if parsed.Namespace != "StreamHAe2e" {
			t.Fatalf("namespace %q", parsed.Namespace)
		}
		out = append(out, parsed)
	}
	return out
}

// value finds the last published value of metric for the given dimension values.
func value(lines []*emf.Parsed, metric string, dims map[string]string) (float64, bool) {
	var v float64
	found := false
	for _, p := range lines {
		val, ok := p.Values[metric]
		if !ok {
			continue
		}
		match := true
		for k, want := range dims {
			if p.Root[k] != want {
				match = false
			}
		}
		if match {
			v, found = val, true
		}
	}
	return v, found
}
