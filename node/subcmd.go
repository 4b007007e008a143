package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/streamha/streamha/node/config"
	"github.com/streamha/streamha/node/daemon"
)

// takeFlags takes a subcommand's own flags out of args and returns the rest (the configuration
// flags: --config, --key value) in order. A name in valued takes a value (--name v or --name=v),
// a name in bools none; set sees each in order (val "" for a bool) and its error stops the parse.
func takeFlags(args, valued, bools []string, set func(name, val string) error) ([]string, error) {
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") {
			rest = append(rest, a)
			continue
		}
		switch {
		case slices.Contains(bools, name):
			if err := set(name, ""); err != nil {
				return nil, err
			}
			continue
		case !slices.Contains(valued, name):
			rest = append(rest, a)
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				return nil, fmt.Errorf("--%s needs a value", name)
			}
			i++
			val = args[i]
		}
		if err := set(name, val); err != nil {
			return nil, err
		}
	}
	return rest, nil
}

// openPersistence loads the configuration, opens the databases and migrates persistence_db:
// the start the commands on persistence_db (errors, snapshot) share. A code of 0 or more means
// stop with that exit code (the error is printed); otherwise the caller closes dbs.
func openPersistence(ctx context.Context, name string, flags []string, stderr io.Writer) (config.Config, *daemon.Databases, int) {
	c, _, code := loadConfig(name, flags, stderr)
	if code >= 0 {
		return c, nil, code
	}
	dbs, err := daemon.OpenDatabases(c)
	if err != nil {
		fmt.Fprintf(stderr, "node %s: %v\n", name, err)
		return c, nil, 2
	}
	if _, err := dbs.Persistence.Migrate(ctx); err != nil {
		dbs.Close()
		fmt.Fprintf(stderr, "node %s: %v\n", name, err)
		return c, nil, 1
	}
	return c, dbs, -1
}

// withPersistence runs fn on persistence_db opened by openPersistence under a five-minute
// timeout, closing the databases after; it returns fn's exit code, or openPersistence's where
// that stops the command.
func withPersistence(name string, flags []string, stderr io.Writer, fn func(ctx context.Context, c config.Config, dbs *daemon.Databases) int) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, dbs, code := openPersistence(ctx, name, flags, stderr)
	if code >= 0 {
		return code
	}
	defer dbs.Close()
	return fn(ctx, c, dbs)
}
