// Package sink delivers engine outputs to the destinations named by @sink annotations: log,
// file (JSONL, fsync, dedup on replay) and http (one POST per output, retried with backoff).
package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/streamha/streamha/node/engine"
)

// Sink receives a stream's outputs in order. Write may be called again with outputs already
// delivered (a replay after failover); sinks that can, drop them by output id.
type Sink interface {
	Write(ctx context.Context, outs []*engine.Output) error
	Close() error
}

// ErrConfig reports an unknown sink type or a missing/invalid option.
var ErrConfig = errors.New("sink config")

// Config holds the node-level settings sinks need beyond their annotation options.
type Config struct {
	BaseDir        string        // relative file paths are resolved against it ("" = working dir)
	Client         *http.Client  // HTTP client for http sinks
	MaxAttempts    int           // attempts per output for http sinks
	InitialBackoff time.Duration // first retry delay, doubled per attempt
	MaxBackoff     time.Duration // cap on the retry delay
	// Term is the writing active's lease term, sent by http sinks as TermHeader: a fencing
	// token, so a receiver can refuse outputs of a deposed active (0: not sent).
	Term int64
}

// DefaultConfig returns the settings Open uses.
func DefaultConfig() Config {
	return Config{
		Client:         &http.Client{Timeout: 10 * time.Second},
		MaxAttempts:    6,
		InitialBackoff: 100 * time.Millisecond,
		MaxBackoff:     5 * time.Second,
	}
}

// Open creates the sink described by spec for stream of app, with DefaultConfig.
func Open(spec engine.SinkSpec, app string, stream string, logger *slog.Logger) (Sink, error) {
	return OpenConfig(spec, app, stream, logger, DefaultConfig())
}

// OpenConfig is Open with explicit node-level settings (base dir, HTTP client, backoff).
func OpenConfig(spec engine.SinkSpec, app, stream string, logger *slog.Logger, cfg Config) (Sink, error) {
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("app", app, "stream", stream, "sink", spec.Type)
	switch spec.Type {
	case "log":
		return &logSink{logger: logger, prefix: spec.Options["prefix"]}, nil
	case "file":
		return openFile(spec, cfg, logger)
	case "http":
		return newHTTP(spec, cfg, logger)
	}
	return nil, fmt.Errorf("open sink for %s: unknown sink type %q (want log, file or http): %w", stream, spec.Type, ErrConfig)
}

// logSink writes one slog line per output.
type logSink struct {
	logger *slog.Logger
	prefix string
	buf    []byte
}

func (s *logSink) Write(ctx context.Context, outs []*engine.Output) error {
	for _, o := range outs {
		s.buf = o.AppendJSON(s.buf[:0])
		s.logger.InfoContext(ctx, s.prefix+"output", "id", o.ID, "event", string(s.buf))
	}
	return nil
}

func (s *logSink) Close() error { return nil }
