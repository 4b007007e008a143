package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamha/streamha/internal/hatest"
)

// diskFullApp echoes every event to a file sink; the padding makes a small disk fill quickly.
const diskFullApp = `@app:name('T')
define stream S (id long, pad string);
@sink(type='file', path='out.jsonl')
define stream O (id long, pad string);
from S select id, pad insert into O;
`

// TestFullDiskLosesNothing runs a node whose output_dir is a 64 KiB tmpfs, posts 2,000 events
// (every one acknowledged), and checks that while the disk is full the outputs stay pending and
// /ha/status and /metrics show the error, the file holds whole lines only, and that after the
// tmpfs is grown every output is in the file exactly once. It needs root to mount the tmpfs.
func TestFullDiskLosesNothing(t *testing.T) {
	dir := t.TempDir()
	outDir := filepath.Join(dir, "out")
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", outDir).CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("cannot mount a small tmpfs for the full-disk test: %v: %s", err, out)
		}
		t.Skipf("cannot mount a small tmpfs (needs root): %v: %s", err, out)
	}
	// Registered first, so it runs after the node is killed.
	t.Cleanup(func() {
		if out, err := exec.Command("umount", outDir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", outDir, err, out)
		}
	})
	apps := filepath.Join(dir, "apps")
	if err := os.MkdirAll(apps, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(apps, "t.siddhi"), []byte(diskFullApp), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := hatest.NewCluster(hatest.Options{
		Bin: nodeBin, Dir: dir, N: 1, AppsDir: apps, ClusterDB: "sqlite://" + filepath.Join(dir, "ha.db"),
		Extra:    []string{"--persist_interval", "1s"},
		NodeArgs: func(*hatest.Proc) []string { return []string{"--output_dir", outDir} },
	})
	if err != nil {
		t.Fatal(err)
	}
	hatest.Cleanup(t, c)
	node := c.Nodes[0]
	if err := node.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitActive(context.Background(), 30*time.Second, nil); err != nil {
		t.Fatal(err)
	}

	const events, batch = 2000, 20
	pad := strings.Repeat("x", 100)
	for first := 1; first <= events; first += batch {
		var body bytes.Buffer
		body.WriteByte('[')
		for id := first; id < first+batch; id++ {
			if id > first {
				body.WriteByte(',')
			}
			fmt.Fprintf(&body, `{"id":%d,"pad":%q}`, id, pad)
		}
		body.WriteByte(']')
		resp, err := http.Post(node.URL()+"/events/T/S", "application/json", &body)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("events %d..%d: %d %s", first, first+batch-1, resp.StatusCode, b)
		}
	}

	// The disk is full: the outputs not written wait, and the node says why.
	app := waitApp(t, node, "the sink error in /ha/status", func(a map[string]any) bool {
		return a["last_seq"] == float64(events) && a["sink_error_kind"] == "enospc"
	})
	if app["outputs_pending"].(float64) == 0 || app["delivered_seq"].(float64) >= events ||
		!strings.Contains(app["last_sink_error"].(string), "no space left on device") || app["sink_error_since"] == nil {
		t.Fatalf("disk full, yet /ha/status says %v", app)
	}
	if m := metrics(t, node); !strings.Contains(m, `streamha_sink_errors_total{app="T",kind="enospc",sink="O:file"}`) {
		t.Fatalf("/metrics lacks the sink error counter")
	}
	path := filepath.Join(outDir, "out.jsonl")
	written := outputIDs(t, path)
	if len(written) == 0 || len(written) >= events {
		t.Fatalf("%d outputs in the file of a full 64 KiB disk: the test proves nothing", len(written))
	}
	t.Logf("disk full after %d outputs; %v pending", len(written), app["outputs_pending"])

	// Space is back: every output is written, once, in order, and the error clears.
	if out, err := exec.Command("mount", "-o", "remount,size=4m", outDir).CombinedOutput(); err != nil {
		t.Fatalf("grow the tmpfs: %v: %s", err, out)
	}
	waitApp(t, node, "every output written after the disk recovered", func(a map[string]any) bool {
		return a["outputs_pending"] == float64(0) && a["delivered_seq"] == float64(events) && a["last_sink_error"] == nil
	})
	ids := outputIDs(t, path)
	if len(ids) != events {
		t.Fatalf("%d outputs in the file, want %d", len(ids), events)
	}
	for i, id := range ids {
		if want := fmt.Sprintf("T/q1/%d/0", i+1); id != want {
			t.Fatalf("line %d is %s, want %s", i+1, id, want)
		}
	}
	if err := node.Stop(30 * time.Second); err != nil {
		t.Errorf("clean stop: %v", err)
	}
}

// waitApp polls /ha/status until app T's entry satisfies ok, and returns it.
func waitApp(t *testing.T, p *hatest.Proc, what string, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last map[string]any
	for time.Now().Before(deadline) {
		if st, err := p.Status(); err == nil {
			if apps, _ := st["apps"].(map[string]any); apps != nil {
				if last, _ = apps["T"].(map[string]any); last != nil && ok(last) {
					return last
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; app status %v", what, last)
	return nil
}

func metrics(t *testing.T, p *hatest.Proc) string {
	t.Helper()
	resp, err := http.Get(p.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// outputIDs reads a JSON lines file and returns its ids, failing on a torn or bad line.
func outputIDs(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		t.Fatalf("torn last line in %s: %q", path, tail(b, 200))
	}
	var ids []string
	for n, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if l == "" {
			continue
		}
		var rec struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("line %d of %s is not whole: %q", n+1, path, l)
		}
		ids = append(ids, rec.ID)
	}
	return ids
}
