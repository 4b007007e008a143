package filesink_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/sink"
	_ "github.com/streamha/streamha/node/sink/file"
)

// fault is one scripted WriteAt outcome: write the first n bytes (all if n < 0), then return err.
type fault struct {
	n   int
	err error
}

// faultyFile is a real file whose writes, syncs and truncates fail as scripted, and which
// records the operations done on it.
type faultyFile struct {
	*os.File
	mu        sync.Mutex
	writes    []fault // consumed one per WriteAt; empty: write normally
	syncs     []error // consumed one per Sync
	truncates []error // consumed one per Truncate
	ops       []string
}

func (f *faultyFile) WriteAt(p []byte, off int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ops = append(f.ops, "write")
	flt := fault{n: -1}
	if len(f.writes) > 0 {
		flt, f.writes = f.writes[0], f.writes[1:]
	}
	if flt.n >= 0 && flt.n < len(p) {
		p = p[:flt.n]
	}
	n, err := f.File.WriteAt(p, off)
	if err != nil {
		return n, err
	}
	return n, flt.err
}

func (f *faultyFile) Sync() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ops = append(f.ops, "sync")
	if len(f.syncs) > 0 {
		err := f.syncs[0]
		f.syncs = f.syncs[1:]
		if err != nil {
			return err
		}
	}
	return f.File.Sync()
}

func (f *faultyFile) Truncate(size int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ops = append(f.ops, "truncate")
	if len(f.truncates) > 0 {
		err := f.truncates[0]
		f.truncates = f.truncates[1:]
		if err != nil {
			return err
		}
	}
	return f.File.Truncate(size)
}

// takeOps returns the operations recorded since the last call.
func (f *faultyFile) takeOps() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := strings.Join(f.ops, " ")
	f.ops = nil
	return s
}

func (f *faultyFile) script(fn func(f *faultyFile)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// openFaulty opens a file sink on dir/out.jsonl through a faultyFile.
func openFaulty(t *testing.T, dir string, opts map[string]string) (sink.Sink, *faultyFile) {
	t.Helper()
	var ff *faultyFile
	cfg := sink.DefaultConfig()
	cfg.BaseDir = dir
	cfg.OpenFile = func(path string) (sink.File, error) {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, err
		}
		ff = &faultyFile{File: f}
		return ff, nil
	}
	o := map[string]string{"path": "out.jsonl"}
	for k, v := range opts {
		o[k] = v
	}
	s, err := sink.OpenConfig(engine.SinkSpec{Type: "file", Options: o}, "A", "O", quiet(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, ff
}

// lines reads the sink's file and checks that every line is a whole JSON object; it returns
// the ids in file order.
func lines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		t.Fatalf("torn last line in %s: %q", path, b)
	}
	var ids []string
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if l == "" {
			continue
		}
		var rec struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec.ID == "" {
			t.Fatalf("bad line %q in %s: %v", l, path, err)
		}
		ids = append(ids, rec.ID)
	}
	return ids
}

func enospc() error { return &fs.PathError{Op: "write", Path: "out.jsonl", Err: syscall.ENOSPC} }

func TestFileSinkFailedWritesLeaveWholeLinesAndLoseNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.jsonl")
	s, ff := openFaulty(t, dir, nil)
	ctx := context.Background()
	if err := s.Write(ctx, []*engine.Output{out("A/q1/1/0", 1), out("A/q1/2/0", 2)}); err != nil {
		t.Fatal(err)
	}
	if ops := ff.takeOps(); ops != "write sync" {
		t.Fatalf("ops %q: want the batch synced before Write returns", ops)
	}
	batch := []*engine.Output{out("A/q1/3/0", 3), out("A/q1/3/1", 4), out("A/q1/4/0", 5)}
	for i, flt := range []fault{
		{n: 10, err: enospc()}, // part of a line, then the disk is full
		{n: 60, err: nil},      // a short write without an error
		{n: 0, err: enospc()},  // nothing at all
	} {
		ff.script(func(f *faultyFile) { f.writes = []fault{flt} })
		err := s.Write(ctx, batch)
		if err == nil {
			t.Fatalf("failure %d: Write returned nil: the batch would be reported delivered", i)
		}
		if flt.err != nil && sink.Kind(err) != sink.KindNoSpace {
			t.Fatalf("failure %d: kind %q of %v", i, sink.Kind(err), err)
		}
		if flt.err == nil && !errors.Is(err, io.ErrShortWrite) {
			t.Fatalf("failure %d: %v, want a short write error", i, err)
		}
		if got := strings.Join(lines(t, path), " "); got != "A/q1/1/0 A/q1/2/0" {
			t.Fatalf("failure %d: file holds %s, want only the complete earlier batch", i, got)
		}
	}
	ff.takeOps()
	// The space is back: the retry writes the whole batch, and the next batch follows it.
	if err := s.Write(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if ops := ff.takeOps(); ops != "write sync" {
		t.Fatalf("retry ops %q", ops)
	}
	if err := s.Write(ctx, []*engine.Output{out("A/q1/4/0", 5), out("A/q1/5/0", 6)}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(lines(t, path), " "); got != "A/q1/1/0 A/q1/2/0 A/q1/3/0 A/q1/3/1 A/q1/4/0 A/q1/5/0" {
		t.Fatalf("file holds %s", got)
	}
}

func TestFileSinkFailedSyncWritesTheBatchAgain(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.jsonl")
	s, ff := openFaulty(t, dir, nil)
	ctx := context.Background()
	if err := s.Write(ctx, []*engine.Output{out("A/q1/1/0", 1)}); err != nil {
		t.Fatal(err)
	}
	ff.takeOps()
	ff.script(func(f *faultyFile) { f.syncs = []error{&fs.PathError{Op: "sync", Path: path, Err: syscall.EIO}} })
	batch := []*engine.Output{out("A/q1/2/0", 2)}
	err := s.Write(ctx, batch)
	if sink.Kind(err) != sink.KindIO {
		t.Fatalf("err %v (kind %q), want an EIO error", err, sink.Kind(err))
	}
	// After a failed fsync the written bytes are not trusted: they are cut and written again.
	if got := strings.Join(lines(t, path), " "); got != "A/q1/1/0" {
		t.Fatalf("after the failed sync the file holds %s", got)
	}
	ff.takeOps()
	if err := s.Write(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if ops := ff.takeOps(); ops != "write sync" {
		t.Fatalf("retry ops %q: want the batch written and synced again", ops)
	}
	if got := strings.Join(lines(t, path), " "); got != "A/q1/1/0 A/q1/2/0" {
		t.Fatalf("file holds %s", got)
	}
}

func TestFileSinkCutsATornTailBeforeWritingAgain(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.jsonl")
	s, ff := openFaulty(t, dir, nil)
	ctx := context.Background()
	if err := s.Write(ctx, []*engine.Output{out("A/q1/1/0", 1)}); err != nil {
		t.Fatal(err)
	}
	erofs := &fs.PathError{Op: "truncate", Path: path, Err: syscall.EROFS}
	// The write tears a line and the file system turns read-only: the cut fails too.
	ff.script(func(f *faultyFile) {
		f.writes = []fault{{n: 7, err: &fs.PathError{Op: "write", Path: path, Err: syscall.EROFS}}}
		f.truncates = []error{erofs, erofs}
	})
	batch := []*engine.Output{out("A/q1/2/0", 2), out("A/q1/3/0", 3)}
	if err := s.Write(ctx, batch); sink.Kind(err) != sink.KindReadOnly {
		t.Fatalf("err %v", err)
	}
	ff.takeOps()
	// Still read-only: the retry must not append after the torn bytes.
	if err := s.Write(ctx, batch); sink.Kind(err) != sink.KindReadOnly {
		t.Fatalf("err %v", err)
	}
	if ops := ff.takeOps(); ops != "truncate" {
		t.Fatalf("ops %q: want only the attempt to cut the torn tail", ops)
	}
	if err := s.Write(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if ops := ff.takeOps(); ops != "truncate write sync" {
		t.Fatalf("ops %q", ops)
	}
	if got := strings.Join(lines(t, path), " "); got != "A/q1/1/0 A/q1/2/0 A/q1/3/0" {
		t.Fatalf("file holds %s", got)
	}
}

func TestFileSinkFsyncNone(t *testing.T) {
	dir := t.TempDir()
	s, ff := openFaulty(t, dir, map[string]string{"fsync": "none"})
	if err := s.Write(context.Background(), []*engine.Output{out("A/q1/1/0", 1)}); err != nil {
		t.Fatal(err)
	}
	if ops := ff.takeOps(); ops != "write" {
		t.Fatalf("ops %q: fsync='none' must not sync per write", ops)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if ops := ff.takeOps(); ops != "sync" {
		t.Fatalf("close ops %q", ops)
	}
}

func out(id string, v int64) *engine.Output {
	return &engine.Output{ID: id, Stream: "O", TS: v, Attrs: []engine.Attr{{Name: "v", Type: engine.TypeLong}},
		Data: []engine.Value{engine.LongValue(v)}}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestFileSinkDedupOnReplay(t *testing.T) {
	dir := t.TempDir()
	cfg := sink.DefaultConfig()
	cfg.BaseDir = dir
	spec := engine.SinkSpec{Type: "file", Options: map[string]string{"path": "sub/out.jsonl"}}
	ctx := context.Background()
	s, err := sink.OpenConfig(spec, "A", "O", quiet(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Write(ctx, []*engine.Output{out("A/q1/1/0", 1), out("A/q1/2/0", 2), out("A/q2/2/0", 20)})
	s.Close()
	path := filepath.Join(dir, "sub/out.jsonl")
	// simulate a torn write at the crash
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"id":"A/q1/3/0","str`)
	f.Close()

	s, err = sink.OpenConfig(spec, "A", "O", quiet(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	// a replay re-emits from seq 2
	s.Write(ctx, []*engine.Output{out("A/q1/2/0", 2), out("A/q2/2/0", 20), out("A/q1/3/0", 3), out("A/q1/3/1", 4)})
	s.Write(ctx, []*engine.Output{out("A/q1/3/1", 4), out("A/q2/3/0", 30)})
	s.Close()
	b, _ := os.ReadFile(path)
	var ids []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		ids = append(ids, l[7:strings.Index(l, `","stream"`)])
	}
	if got := strings.Join(ids, " "); got != "A/q1/1/0 A/q1/2/0 A/q2/2/0 A/q1/3/0 A/q1/3/1 A/q2/3/0" {
		t.Fatalf("ids %s\n%s", got, b)
	}
}

// TestFileSinkReplayBypassesDropByID: the error store's replay appends outputs older than what
// the file holds (Write drops them by id) and does not move the position Write drops from.
func TestFileSinkReplayBypassesDropByID(t *testing.T) {
	dir := t.TempDir()
	s, _ := openFaulty(t, dir, nil)
	ctx := context.Background()
	if err := s.Write(ctx, []*engine.Output{out("A/q1/1/0", 1), out("A/q1/3/0", 3)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, []*engine.Output{out("A/q1/2/0", 2)}); err != nil {
		t.Fatal(err)
	}
	if err := sink.Replay(ctx, s, []*engine.Output{out("A/q1/2/0", 2)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, []*engine.Output{out("A/q1/3/0", 3), out("A/q1/4/0", 4)}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(lines(t, filepath.Join(dir, "out.jsonl")), " "); got != "A/q1/1/0 A/q1/3/0 A/q1/2/0 A/q1/4/0" {
		t.Fatalf("ids %s", got)
	}
}

// TestFileSinkInterleavedQueriesDropPerRun: outputs of two queries in alternating runs, written
// again in part by the next writes (retries): each line once, in order, so every query's
// position is its last written output's even when the runs interleave.
func TestFileSinkInterleavedQueriesDropPerRun(t *testing.T) {
	dir := t.TempDir()
	cfg := sink.DefaultConfig()
	cfg.BaseDir = dir
	s, err := sink.OpenConfig(engine.SinkSpec{Type: "file", Options: map[string]string{"path": "out.jsonl"}}, "A", "O", quiet(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var l []*engine.Output
	var want []string
	seq := 0
	for r := 0; r < 40; r++ { // runs of 7 outputs of q1 and 3 of q2, over inputs in order
		for i := 0; i < 7; i++ {
			seq++
			l = append(l, out(fmt.Sprintf("A/q1/%d/%d", seq, i%2), int64(len(l))))
		}
		for i := 0; i < 3; i++ {
			l = append(l, out(fmt.Sprintf("A/q2/%d/%d", seq, i), int64(len(l))))
		}
	}
	for _, o := range l {
		want = append(want, o.ID)
	}
	ctx := context.Background()
	for _, w := range [][2]int{{0, 195}, {150, 300}, {296, 400}, {0, 400}} {
		if err := s.Write(ctx, l[w[0]:w[1]]); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "out.jsonl"))
	var ids []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		ids = append(ids, line[7:strings.Index(line, `","stream"`)])
	}
	if got := strings.Join(ids, " "); got != strings.Join(want, " ") {
		t.Fatalf("lines %d, want %d:\n%s", len(ids), len(want), got)
	}
}
