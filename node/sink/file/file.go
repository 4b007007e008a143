// Package filesink is the file sink: @sink(type='file', path='…', fsync='batch'|'none') appends
// outputs as JSON lines, whole lines only, and drops outputs it already wrote by id.
package filesink

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/sink"
)

func init() {
	sink.Register(sink.Type{
		Name: "file",
		Options: []sink.Option{
			{Name: "path", Required: true},
			{Name: "fsync", Default: "batch", Check: sink.OneOf("batch", "none")},
		},
		Open: func(s sink.Spec) (sink.Sink, error) { return openFile(s) },
	})
}

// tailSize is how much of an existing file is read at open to learn what was already written.
const tailSize = 4 << 20

// fsyncPolicy says when the file sink makes its writes durable before reporting delivery.
type fsyncPolicy int

const (
	// fsyncBatch syncs the file after each write batch, before Write returns: a delivered output
	// survives a crash of the machine. The dispatcher batches what piled up during the previous
	// sync, so a slow disk means bigger batches, not one sync per output.
	fsyncBatch fsyncPolicy = iota
	// fsyncNone never syncs: delivered means handed to the operating system, which survives a
	// crash of the node process but not of the machine (power loss, kernel panic).
	fsyncNone
)

// fileSink appends outputs as JSON lines, whole lines only, synced per its fsync policy. It
// remembers the highest (seq, index) written per "<app>/<query>" and drops outputs at or below
// it: a replay after failover, or a retry after an error, re-emits the same ids in the same order.
type fileSink struct {
	f      sink.File
	path   string
	fsync  fsyncPolicy
	high   map[string]sink.Position
	staged map[string]sink.Position // high of the batch being written, applied once it is delivered
	// size is the offset just past the last complete line written (and synced per the policy):
	// every write goes there. dirty means the file may hold bytes past it (a failed or short
	// write, or a failed sync) that must be cut before the next write.
	size   int64
	dirty  bool
	buf    []byte
	enc    sink.Encoder
	logger *slog.Logger
}

func openFile(spec sink.Spec) (*fileSink, error) {
	cfg, logger := spec.Config, spec.Logger
	path := spec.Options["path"] // checked by sink.Resolve
	policy := fsyncBatch
	if spec.Options["fsync"] == "none" {
		policy = fsyncNone
	}
	if !filepath.IsAbs(path) && cfg.BaseDir != "" {
		path = filepath.Join(cfg.BaseDir, path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("open file sink: %w", err)
	}
	f, err := cfg.OpenFile(path)
	if err != nil {
		return nil, fmt.Errorf("open file sink: %w", err)
	}
	s := &fileSink{f: f, path: path, fsync: policy, high: map[string]sink.Position{}, staged: map[string]sink.Position{}, logger: logger}
	if err := s.scanTail(); err != nil {
		f.Close()
		return nil, fmt.Errorf("open file sink %s: %w", path, err)
	}
	if policy == fsyncBatch {
		// A new file's directory entry must be durable too before its lines count as delivered.
		if err := syncDir(filepath.Dir(path)); err != nil {
			f.Close()
			return nil, fmt.Errorf("open file sink %s: %w", path, err)
		}
	}
	return s, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}

// scanTail reads the end of the file, drops a torn last line and records the ids written.
func (s *fileSink) scanTail() error {
	st, err := s.f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	start := max(size-tailSize, 0)
	tail := make([]byte, size-start)
	if _, err := s.f.ReadAt(tail, start); err != nil && err != io.EOF {
		return err
	}
	end := bytes.LastIndexByte(tail, '\n') + 1
	if end < len(tail) && (end > 0 || start == 0) { // a torn write: cut it, it will be re-emitted
		s.logger.Warn("truncating a partial last line", "path", s.path, "bytes", len(tail)-end)
		if err := s.f.Truncate(start + int64(end)); err != nil {
			return err
		}
		tail = tail[:end]
	}
	s.size = start + int64(len(tail))
	if start > 0 { // the first line may be cut by the window
		if i := bytes.IndexByte(tail, '\n'); i >= 0 {
			tail = tail[i+1:]
		}
	}
	for len(tail) > 0 {
		i := bytes.IndexByte(tail, '\n')
		line := tail[:i]
		tail = tail[i+1:]
		var rec struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(line, &rec) != nil {
			continue
		}
		if key, p, ok := sink.ParseID(rec.ID); ok {
			if h, seen := s.high[key]; !seen || h.Less(p) {
				s.high[key] = p
			}
		}
	}
	return nil
}

// Write appends the outputs not written before as whole lines. On a failed or short write or a
// failed sync it cuts the file back to the last complete line and returns the error: none of the
// batch counts as written, and a retry writes it all again (a sync error may have dropped the
// data from the page cache, so the bytes are not trusted either).
func (s *fileSink) Write(ctx context.Context, outs []*engine.Output) error {
	return s.write(ctx, outs, false)
}

// Replay appends outs as whole lines even if their ids are at or below what the file holds
// (the error store's replay), without moving that position.
func (s *fileSink) Replay(ctx context.Context, outs []*engine.Output) error {
	return s.write(ctx, outs, true)
}

func (s *fileSink) write(ctx context.Context, outs []*engine.Output, replay bool) error {
	s.buf = s.buf[:0]
	clear(s.staged)
	// The outputs of one query come in runs, in order: its position is looked up and staged
	// once per run, and once one output of the run is past it, so are the others (the staged
	// position is the run's last written output's).
	var key, last string
	var h sink.Position
	var have, seen, past bool
	stage := func() {
		if last != "" {
			if _, p, ok := sink.ParseID(last); ok && (!seen || h.Less(p)) {
				h, seen = p, true
			}
		}
		if have && seen {
			s.staged[key] = h
		}
		last = ""
	}
	for _, o := range outs {
		if replay {
			s.buf = s.enc.Append(s.buf, o)
			s.buf = append(s.buf, '\n')
			continue
		}
		if k, ok := sink.IDKey(o.ID); ok {
			if !have || k != key {
				stage()
				key, have = k, true
				if h, seen = s.staged[k]; !seen {
					h, seen = s.high[k]
				}
				past = !seen
			}
			if !past {
				if _, p, pok := sink.ParseID(o.ID); pok {
					if !h.Less(p) {
						continue // already written before a failover, restart or failed write
					}
					past = true
				}
			}
			last = o.ID
		}
		s.buf = s.enc.Append(s.buf, o)
		s.buf = append(s.buf, '\n')
	}
	stage()
	if len(s.buf) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.dirty {
		if err := s.f.Truncate(s.size); err != nil {
			return fmt.Errorf("file sink %s: cut a failed write back to offset %d: %w", s.path, s.size, err)
		}
		s.dirty = false
	}
	n, err := s.f.WriteAt(s.buf, s.size)
	what := "write"
	if err == nil && n < len(s.buf) {
		err = io.ErrShortWrite
	}
	if err == nil && s.fsync == fsyncBatch {
		what = "fsync"
		err = s.f.Sync()
	}
	if err != nil {
		s.dirty = true
		if terr := s.f.Truncate(s.size); terr == nil {
			s.dirty = false
		}
		return fmt.Errorf("file sink %s: %s of %d bytes at offset %d: %w", s.path, what, len(s.buf), s.size, err)
	}
	s.size += int64(len(s.buf))
	for k, p := range s.staged {
		s.high[k] = p
	}
	return nil
}

// Close syncs what fsync='none' left to the operating system and closes the file.
func (s *fileSink) Close() error {
	var err error
	if s.fsync == fsyncNone && !s.dirty {
		err = s.f.Sync()
	}
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	return err
}
