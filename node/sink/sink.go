// Package sink is what the output dispatcher knows of sinks: the Sink interface, the registry of
// sink types with their option tables, validation of @sink annotations, and error kinds. The
// types themselves live in subpackages (node/sink/file, node/sink/http, node/sink/log) that
// register in init; node/sink/all imports them all.
//
// A Write that returns nil means every output given is delivered (for the file sink: whole lines,
// synced per its fsync policy). On an error nothing after the outputs it reports written may be
// counted delivered: the caller keeps them and writes them again later; sinks drop what they
// already wrote by output id.
package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
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

// Batcher is a sink that sends outputs in batches of up to BatchSize (an http sink's
// batch.size): while more outputs are pending than that, the dispatcher hands it whole batches
// and keeps the rest for its next write, which follows at once, so that batches leave full.
type Batcher interface {
	BatchSize() int
}

// Replayer is a sink that can write outputs again whatever it wrote before: the error store's
// replay sends outputs older than the position from which Write drops re-emitted ids. Replay
// does not move that position. It returns nil once every output is delivered, or a WriteError
// (or plain error) like Write.
type Replayer interface {
	Replay(ctx context.Context, outs []*engine.Output) error
}

// Replay writes outs through sk's Replay, or its Write when it has none.
func Replay(ctx context.Context, sk Sink, outs []*engine.Output) error {
	if r, ok := sk.(Replayer); ok {
		return r.Replay(ctx, outs)
	}
	return sk.Write(ctx, outs)
}

// WriteError is a Write that delivered some outputs only: the first Written of those given are
// delivered, the next Failed (one refused request's outputs, say) failed with Err, and the ones
// after them are not delivered either. A plain error from Write means none was delivered.
type WriteError struct {
	Written, Failed int
	Err             error
}

func (e *WriteError) Error() string { return e.Err.Error() }
func (e *WriteError) Unwrap() error { return e.Err }

// Progress reads a failed Write of n outputs: how many leading outputs were delivered and how
// many after them the error concerns (at least one).
func Progress(err error, n int) (written, failed int) {
	var we *WriteError
	if !errors.As(err, &we) || we.Written < 0 || we.Written >= n {
		return 0, n
	}
	failed = we.Failed
	if failed <= 0 || we.Written+failed > n {
		failed = n - we.Written
	}
	return we.Written, failed
}

// ErrConfig reports an unknown sink type or a missing/invalid option.
var ErrConfig = errors.New("sink config")

// Config holds the node-level settings sinks need beyond their annotation options.
type Config struct {
	BaseDir string // relative file paths are resolved against it ("" = working dir)
	// Client, when set, is the HTTP client of every http sink (tests); nil: each http sink
	// builds its own keep-alive client from its options.
	Client         *http.Client
	MaxAttempts    int           // attempts per request for http sinks
	InitialBackoff time.Duration // first retry delay, doubled per attempt
	MaxBackoff     time.Duration // cap on the retry delay
	// Term is the writing active's lease term, sent by http sinks as X-HA-Term: a fencing
	// token, so a receiver can refuse outputs of a deposed active (0: not sent).
	Term int64
	// Group is the node's cluster group: sinks that need an identity stable across the pair's
	// failovers (a kafka sink's transactional id) but distinct between pairs derive it from it.
	Group string
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

// OpenOSFile opens path on the OS file system the way the file sink wants it.
func OpenOSFile(path string) (File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
}

// DefaultConfig returns the settings Open uses.
func DefaultConfig() Config {
	return Config{
		MaxAttempts:    6,
		InitialBackoff: 100 * time.Millisecond,
		MaxBackoff:     5 * time.Second,
		RetryInitial:   50 * time.Millisecond,
		RetryMax:       5 * time.Second,
	}
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

// StatusError is a non-2xx answer of an http sink's receiver.
type StatusError struct{ Code int }

func (e *StatusError) Error() string { return fmt.Sprintf("status %d", e.Code) }

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

// OpenConfig is Open with explicit node-level settings (base dir, HTTP client, backoff). The
// options are validated against the type's table and completed with its defaults first.
func OpenConfig(spec engine.SinkSpec, app, stream string, logger *slog.Logger, cfg Config) (Sink, error) {
	if logger == nil {
		logger = slog.Default()
	}
	opts, err := Resolve(spec)
	if err != nil {
		return nil, fmt.Errorf("open sink for %s: %w", stream, err)
	}
	if cfg.OpenFile == nil {
		cfg.OpenFile = OpenOSFile
	}
	t, _ := lookup(spec.Type)
	return t.Open(Spec{App: app, Stream: stream, Options: opts, Config: cfg,
		Logger: logger.With("app", app, "stream", stream, "sink", spec.Type)})
}
