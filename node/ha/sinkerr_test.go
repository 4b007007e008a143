package ha_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/ha"
	"github.com/streamha/streamha/node/sink"
)

// fullDisk is a file system for the file sink that can be made full: a write then stores part of
// its bytes and fails with ENOSPC, like a real full disk, and reports each failure on failed.
type fullDisk struct {
	mu       sync.Mutex
	full     bool
	readOnly bool // opening fails with EROFS
	path     string
	failed   chan struct{}
}

type fullDiskFile struct {
	*os.File
	d *fullDisk
}

func (d *fullDisk) open(path string) (sink.File, error) {
	d.mu.Lock()
	ro := d.readOnly
	d.mu.Unlock()
	if ro {
		select {
		case d.failed <- struct{}{}:
		default:
		}
		return nil, &fs.PathError{Op: "open", Path: path, Err: syscall.EROFS}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.path = path
	d.mu.Unlock()
	return &fullDiskFile{f, d}, nil
}

func (d *fullDisk) setFull(full, readOnly bool) {
	d.mu.Lock()
	d.full, d.readOnly = full, readOnly
	d.mu.Unlock()
}

func (f *fullDiskFile) WriteAt(p []byte, off int64) (int, error) {
	f.d.mu.Lock()
	full := f.d.full
	f.d.mu.Unlock()
	if !full {
		return f.File.WriteAt(p, off)
	}
	n, _ := f.File.WriteAt(p[:len(p)/2], off) // a torn line
	select {
	case f.d.failed <- struct{}{}:
	default:
	}
	return n, &fs.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
}

// TestFullDiskKeepsOutputsPending: while the file sink's disk is full, acknowledged events'
// outputs stay pending (not reported delivered), status and metrics show the error, the file
// holds whole lines only; once space is back every output is written exactly once.
func TestFullDiskKeepsOutputsPending(t *testing.T) {
	d := &fullDisk{full: true, failed: make(chan struct{}, 1)}
	sc := sink.DefaultConfig()
	sc.BaseDir = t.TempDir()
	sc.OpenFile = d.open
	sc.RetryInitial, sc.RetryMax = time.Millisecond, 20*time.Millisecond
	url := "sqlite://" + filepath.Join(t.TempDir(), "ha.db")
	a := startNodeSinks(t, url, "a", tok, appSrc, sc)
	waitFor(t, "a active", func() bool { _, ok := a.node.Runner().Serving(); return ok })
	const n = 20
	for i := 1; i <= n; i++ {
		ingestOne(t, a, int64(i))
	}
	// Three failed writes: the sink is retried, and it failed again each time.
	waitFailures(t, d.failed, 3, "the sink was not retried after %d failed writes: outputs reported delivered?")
	st := a.node.Status().Apps["T"]
	if st.Outbox != n || st.DeliveredSeq >= st.LastSeq || st.LastSeq < n {
		t.Fatalf("disk full, yet outputs_pending %d (want %d), delivered_seq %d of last_seq %d", st.Outbox, n, st.DeliveredSeq, st.LastSeq)
	}
	if !strings.Contains(st.SinkError, "O:file") || !strings.Contains(st.SinkError, "no space left on device") ||
		st.SinkErrorKind != sink.KindNoSpace || st.SinkErrorSince.IsZero() {
		t.Fatalf("status lacks the sink error: %q kind %q since %v", st.SinkError, st.SinkErrorKind, st.SinkErrorSince)
	}
	var m bytes.Buffer
	mr, err := http.Get(a.rest.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m.ReadFrom(mr.Body)
	mr.Body.Close()
	if !strings.Contains(m.String(), `streamha_sink_errors_total{app="T",kind="enospc",sink="O:file"}`) {
		t.Fatalf("/metrics lacks the sink error counter:\n%s", grepLines(m.String(), "sink"))
	}
	d.mu.Lock()
	path := d.path
	d.mu.Unlock()
	if ids := fileIDs(t, path); len(ids) != 0 {
		t.Fatalf("the full disk's file holds %v", ids)
	}

	d.setFull(false, false)
	waitFor(t, "every output written after the disk recovered", func() bool {
		st := a.node.Status().Apps["T"]
		return st.Outbox == 0 && st.DeliveredSeq == st.LastSeq && st.SinkError == ""
	})
	ids := fileIDs(t, path)
	var want []string
	for i := 1; i <= n; i++ {
		want = append(want, fmt.Sprintf("T/q1/%d/0", i))
	}
	if strings.Join(ids, " ") != strings.Join(want, " ") {
		t.Fatalf("file holds %v, want %v", ids, want)
	}
}

// fileIDs returns the output ids of a JSON lines file, failing on a torn or bad line.
func fileIDs(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		t.Fatalf("torn last line: %q", b)
	}
	var ids []string
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if l == "" {
			continue
		}
		var rec struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("bad line %q: %v", l, err)
		}
		ids = append(ids, rec.ID)
	}
	return ids
}

func grepLines(s, word string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestReadOnlySinkIsRetried: a file sink that cannot be opened (read-only file system) is a sink
// error like a failed write: outputs pending, status shows it, and they go out once it opens.
func TestReadOnlySinkIsRetried(t *testing.T) {
	d := &fullDisk{readOnly: true, failed: make(chan struct{}, 1)}
	sc := sink.DefaultConfig()
	sc.BaseDir = t.TempDir()
	sc.OpenFile = d.open
	sc.RetryInitial, sc.RetryMax = time.Millisecond, 20*time.Millisecond
	url := "sqlite://" + filepath.Join(t.TempDir(), "ha.db")
	a := startNodeSinks(t, url, "a", tok, appSrc, sc)
	waitFor(t, "a active", func() bool { _, ok := a.node.Runner().Serving(); return ok })
	ingestOne(t, a, 1)
	waitFailures(t, d.failed, 2, "opening the sink was not retried after %d failures")
	waitFor(t, "the open error in the status", func() bool { return a.node.Status().Apps["T"].SinkErrorKind != "" })
	st := a.node.Status().Apps["T"]
	if st.SinkErrorKind != sink.KindReadOnly || !strings.Contains(st.SinkError, "O:file: open") || st.Outbox != 1 || st.DeliveredSeq >= st.LastSeq {
		t.Fatalf("status %+v", st)
	}
	d.setFull(false, false)
	waitFor(t, "the output written once the sink opens", func() bool {
		st := a.node.Status().Apps["T"]
		return st.Outbox == 0 && st.DeliveredSeq == st.LastSeq && st.SinkError == ""
	})
	d.mu.Lock()
	path := d.path
	d.mu.Unlock()
	if ids := fileIDs(t, path); strings.Join(ids, " ") != "T/q1/1/0" {
		t.Fatalf("file holds %v", ids)
	}
}

// ingestOne ingests one event (id, 1) into T.S on a and fails the test on an error.
func ingestOne(t *testing.T, a *inproc, id int64) {
	t.Helper()
	ev := ha.Event{Data: []engine.Value{engine.LongValue(id), engine.DoubleValue(1)}}
	if _, err := a.node.Ingest(context.Background(), "T", "S", []ha.Event{ev}, ""); err != nil {
		t.Fatal(err)
	}
}

// waitFailures waits for n reports on failed, 15 s for each; msg (with %d, the failures seen)
// fails the test when one does not come.
func waitFailures(t *testing.T, failed <-chan struct{}, n int, msg string) {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case <-failed:
		case <-time.After(15 * time.Second):
			t.Fatalf(msg, i)
		}
	}
}
