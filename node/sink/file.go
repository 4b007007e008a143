package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/streamha/streamha/node/engine"
)

// tailSize is how much of an existing file is read at open to learn what was already written.
const tailSize = 4 << 20

type position struct {
	seq   uint64
	index int
}

func (p position) less(o position) bool {
	return p.seq < o.seq || (p.seq == o.seq && p.index < o.index)
}

// fileSink appends outputs as JSONL and fsyncs each Write. It remembers the highest
// (seq, index) written per "<app>/<query>" and drops outputs at or below it: a replay after
// failover re-emits the same ids in the same order.
type fileSink struct {
	f      *os.File
	path   string
	high   map[string]position
	buf    []byte
	logger *slog.Logger
}

// parseID splits "<app>/<query>/<seq>/<index>" into "<app>/<query>" and its position.
func parseID(id string) (string, position, bool) {
	i := strings.LastIndexByte(id, '/')
	if i < 0 {
		return "", position{}, false
	}
	j := strings.LastIndexByte(id[:i], '/')
	if j < 0 {
		return "", position{}, false
	}
	seq, err1 := strconv.ParseUint(id[j+1:i], 10, 64)
	idx, err2 := strconv.Atoi(id[i+1:])
	if err1 != nil || err2 != nil {
		return "", position{}, false
	}
	return id[:j], position{seq, idx}, true
}

func openFile(spec engine.SinkSpec, cfg Config, logger *slog.Logger) (*fileSink, error) {
	path := spec.Options["path"]
	if path == "" {
		return nil, fmt.Errorf("open file sink: missing option path: %w", ErrConfig)
	}
	if !filepath.IsAbs(path) && cfg.BaseDir != "" {
		path = filepath.Join(cfg.BaseDir, path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("open file sink: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open file sink: %w", err)
	}
	s := &fileSink{f: f, path: path, high: map[string]position{}, logger: logger}
	if err := s.scanTail(); err != nil {
		f.Close()
		return nil, fmt.Errorf("open file sink %s: %w", path, err)
	}
	return s, nil
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
	if _, err := s.f.Seek(0, io.SeekEnd); err != nil {
		return err
	}
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
		if key, p, ok := parseID(rec.ID); ok {
			if h, seen := s.high[key]; !seen || h.less(p) {
				s.high[key] = p
			}
		}
	}
	return nil
}

func (s *fileSink) Write(ctx context.Context, outs []*engine.Output) error {
	s.buf = s.buf[:0]
	for _, o := range outs {
		if key, p, ok := parseID(o.ID); ok {
			if h, seen := s.high[key]; seen && !h.less(p) {
				continue // already written before a failover or restart
			}
			s.high[key] = p
		}
		s.buf = o.AppendJSON(s.buf)
		s.buf = append(s.buf, '\n')
	}
	if len(s.buf) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := s.f.Write(s.buf); err != nil {
		return fmt.Errorf("file sink %s: write: %w", s.path, err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("file sink %s: fsync: %w", s.path, err)
	}
	return nil
}

func (s *fileSink) Close() error { return s.f.Close() }
