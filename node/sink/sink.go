// Package sink delivers engine outputs to the destinations named by @sink annotations: log,
// file (JSONL, fsync, dedup on replay) and http (one POST per output, retried with backoff).
//
// A Write that returns nil means every output given is delivered (for the file sink: whole lines,
// synced per its fsync policy). On an error nothing may be counted delivered: the caller keeps
// the outputs and writes them again later; sinks drop what they already wrote by output id.
package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/streamha/streamha/node/engine"
)

// Sink receives a stream's outputs in order. Write may be called again with outputs already
// delivered (a replay after failover, or a retry after an error); sinks that can, drop them by
// output id. Write returns nil only once every output given is delivered.
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
	// RetryInitial and RetryMax are the sink error policy of the output dispatcher: after a
	// failed write it waits RetryInitial, doubled per failure up to RetryMax, and writes the
	// same outputs again, forever; nothing is dropped.
	RetryInitial time.Duration
	RetryMax     time.Duration
	// OpenFile opens a file sink's path for reading and writing, creating it (nil: the OS file
	// system). Tests inject failing files through it.
	OpenFile func(path string) (File, error)
}

// File is what the file sink needs of an open file.
type File interface {
	ReadAt(p []byte, off int64) (int, error)
	WriteAt(p []byte, off int64) (int, error)
	Truncate(size int64) error
	Sync() error
	Stat() (os.FileInfo, error)
	Close() error
}

func openOSFile(path string) (File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
}

// DefaultConfig returns the settings Open uses.
func DefaultConfig() Config {
	return Config{
		Client:         &http.Client{Timeout: 10 * time.Second},
		MaxAttempts:    6,
		InitialBackoff: 100 * time.Millisecond,
		MaxBackoff:     5 * time.Second,
		RetryInitial:   50 * time.Millisecond,
		RetryMax:       5 * time.Second,
	}
}

// options lists the annotation options each sink type accepts (besides type).
var options = map[string][]string{
	"log":  {"prefix"},
	"file": {"path", "fsync"},
	"http": {"url", "method"},
}

// Validate checks a sink annotation without opening anything: a known type, no unknown option,
// required options present and valid. Apps are checked with it when they are loaded.
func Validate(spec engine.SinkSpec) error {
	known, ok := options[spec.Type]
	if !ok {
		return fmt.Errorf("unknown sink type %q (want log, file or http): %w", spec.Type, ErrConfig)
	}
	var unknown []string
	for k := range spec.Options {
		if !slices.Contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("@sink(type='%s'): unknown option %s (want %s): %w", spec.Type,
			strings.Join(unknown, ", "), strings.Join(known, ", "), ErrConfig)
	}
	switch spec.Type {
	case "file":
		if spec.Options["path"] == "" {
			return fmt.Errorf("@sink(type='file'): missing option path: %w", ErrConfig)
		}
		if _, err := parseFsync(spec.Options["fsync"]); err != nil {
			return err
		}
	case "http":
		u := spec.Options["url"]
		if u == "" {
			return fmt.Errorf("@sink(type='http'): missing option url: %w", ErrConfig)
		}
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			return fmt.Errorf("@sink(type='http'): bad url %q (want http:// or https://): %w", u, ErrConfig)
		}
	}
	return nil
}

// Error kinds that Kind reports, for metrics and status.
const (
	KindNoSpace    = "enospc"     // the file system or quota is full
	KindReadOnly   = "erofs"      // read-only file system
	KindIO         = "eio"        // the device failed
	KindPermission = "permission" // the file or directory may not be written (EACCES, EPERM, EBADF)
	KindHTTP4xx    = "http_4xx"
	KindHTTP5xx    = "http_5xx"
	KindConnection = "connection" // network error talking to an http sink
	KindOther      = "other"
)

// Kind classifies a sink error for the sink error metric.
func Kind(err error) string {
	var se *StatusError
	var ne net.Error
	var oe *net.OpError
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return KindNoSpace
	case errors.Is(err, syscall.EROFS):
		return KindReadOnly
	case errors.Is(err, syscall.EIO):
		return KindIO
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EBADF):
		return KindPermission
	case errors.As(err, &se):
		if se.Code >= 500 {
			return KindHTTP5xx
		}
		return KindHTTP4xx
	case errors.As(err, &oe), errors.As(err, &ne):
		return KindConnection
	}
	return KindOther
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
	if err := Validate(spec); err != nil {
		return nil, fmt.Errorf("open sink for %s: %w", stream, err)
	}
	if cfg.OpenFile == nil {
		cfg.OpenFile = openOSFile
	}
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
