// Package logsink is the log sink: one slog line per output, @sink(type='log', prefix='…').
package logsink

import (
	"context"
	"log/slog"

	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/sink"
)

func init() {
	sink.Register(sink.Type{
		Name:    "log",
		Options: []sink.Option{{Name: "prefix"}},
		Open: func(s sink.Spec) (sink.Sink, error) {
			return &logSink{logger: s.Logger, prefix: s.Options["prefix"]}, nil
		},
	})
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

// Replay writes outs again (the log sink drops nothing by id).
func (s *logSink) Replay(ctx context.Context, outs []*engine.Output) error { return s.Write(ctx, outs) }

func (s *logSink) Close() error { return nil }
