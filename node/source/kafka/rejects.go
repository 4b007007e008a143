package kafkasource

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
	"unicode/utf8"
)

// FileRejects appends rejected records to a JSON-lines file, synced before Store returns: one
// line per record with app, stream, topic, partition, offset, key and value (text when UTF-8,
// else base64 with "value_b64"), the mapping error and the time.
type FileRejects struct {
	Path string
	mu   sync.Mutex
}

type rejectLine struct {
	Time      time.Time `json:"time"`
	App       string    `json:"app"`
	Stream    string    `json:"stream"`
	Topic     string    `json:"topic"`
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
	Key       string    `json:"key,omitempty"`
	KeyB64    string    `json:"key_b64,omitempty"`
	Value     string    `json:"value,omitempty"`
	ValueB64  string    `json:"value_b64,omitempty"`
	Error     string    `json:"error"`
}

func text(b []byte) (string, string) {
	if utf8.Valid(b) {
		return string(b), ""
	}
	return "", base64.StdEncoding.EncodeToString(b)
}

// Store appends rs and syncs the file.
func (f *FileRejects) Store(_ context.Context, rs []Rejected) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(f.Path), 0o755); err != nil {
		return fmt.Errorf("rejected records: %w", err)
	}
	fh, err := os.OpenFile(f.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("rejected records: %w", err)
	}
	var buf []byte
	for _, r := range rs {
		l := rejectLine{Time: r.Time.UTC(), App: r.App, Stream: r.Stream, Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Error: r.Err}
		l.Key, l.KeyB64 = text(r.Key)
		l.Value, l.ValueB64 = text(r.Value)
		b, err := json.Marshal(l)
		if err != nil {
			fh.Close()
			return fmt.Errorf("rejected records: %w", err)
		}
		buf = append(append(buf, b...), '\n')
	}
	if _, err := fh.Write(buf); err != nil {
		fh.Close()
		return fmt.Errorf("rejected records: write %s: %w", f.Path, err)
	}
	if err := fh.Sync(); err != nil {
		fh.Close()
		return fmt.Errorf("rejected records: sync %s: %w", f.Path, err)
	}
	return fh.Close()
}
