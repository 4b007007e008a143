// Package daemon assembles a node from its configuration: databases, coordination, and (when
// apps are configured) the HA data path; `node run` calls Run.
package daemon

import (
	"io"
	"log/slog"

	"github.com/streamha/streamha/node/config"
)

// NewLogger builds the slog logger the config asks for.
func NewLogger(c config.Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if c.LogFormat == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(h).With("node", c.NodeID, "group", c.Group)
}
