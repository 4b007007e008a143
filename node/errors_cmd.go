package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/streamha/streamha/node/cluster"
	"github.com/streamha/streamha/node/config"
	"github.com/streamha/streamha/node/daemon"
	"github.com/streamha/streamha/node/ha"
	"github.com/streamha/streamha/node/rest"
	"github.com/streamha/streamha/node/store"
)

const errorsUsage = `usage: node errors <command> [--app A] [--config FILE] [--key value ...]

commands (the error store in the group's persistence_db: outputs of sinks with on.error='store'
that failed, and source records that could not be mapped):
  list   [--app A] [--json]        every stored row: id, kind, app, sink or source, output id, error, time
  replay [--app A] (--id N[,N…] | --all)
                                   send stored outputs again through the active's own sinks (POST
                                   /ha/errors/replay on the active's admin listener, found in cluster_db,
                                   with auth_token);
                                   each output its sink accepts is removed from the store
  purge  [--app A] (--id N[,N…] | --before TIME | --all)
                                   delete rows you gave up on (TIME: RFC 3339, or a duration ago like 24h)
`

// errorsArgs are the subcommand's own flags, taken out before the configuration flags.
type errorsArgs struct {
	app    string
	ids    []int64
	all    bool
	json   bool
	before time.Time
}

func parseErrorsArgs(args []string, now time.Time) (errorsArgs, []string, error) {
	var ea errorsArgs
	rest, err := takeFlags(args, []string{"app", "id", "before"}, []string{"all", "json"}, func(name, val string) error {
		switch name {
		case "all":
			ea.all = true
		case "json":
			ea.json = true
		case "app":
			ea.app = val
		case "id":
			for _, p := range strings.Split(val, ",") {
				id, err := strconv.ParseInt(strings.TrimSpace(p), 10, 64)
				if err != nil || id < 1 {
					return fmt.Errorf("--id %q: want row ids (1 or more), comma separated", val)
				}
				ea.ids = append(ea.ids, id)
			}
		case "before":
			if d, err := time.ParseDuration(val); err == nil && d > 0 {
				ea.before = now.Add(-d)
			} else if t, err := time.Parse(time.RFC3339, val); err == nil {
				ea.before = t
			} else {
				return fmt.Errorf("--before %q: want an RFC 3339 time or a duration ago (24h)", val)
			}
		}
		return nil
	})
	return ea, rest, err
}

func cmdErrors(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, errorsUsage)
		return 0
	}
	sub := args[0]
	ea, flags, err := parseErrorsArgs(args[1:], time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "node errors %s: %v\n", sub, err)
		return 2
	}
	switch sub {
	case "list":
	case "replay":
		if ea.all == (len(ea.ids) > 0) || !ea.before.IsZero() {
			fmt.Fprintf(stderr, "node errors replay: give --id or --all\n")
			return 2
		}
	case "purge":
		if !ea.all && len(ea.ids) == 0 && ea.before.IsZero() {
			fmt.Fprintf(stderr, "node errors purge: give --id, --before or --all\n")
			return 2
		}
	default:
		fmt.Fprintf(stderr, "node errors: unknown command %q\n%s", sub, errorsUsage)
		return 2
	}
	return withPersistence("errors "+sub, flags, stderr, func(ctx context.Context, c config.Config, dbs *daemon.Databases) int {
		db := dbs.Persistence
		g := c.Group
		switch sub {
		case "list":
			recs, err := db.ListErrors(ctx, g, store.ErrorFilter{App: ea.app})
			if err != nil {
				fmt.Fprintf(stderr, "node errors list: %v\n", err)
				return 1
			}
			if ea.json {
				views := make([]store.ErrorView, 0, len(recs))
				for _, r := range recs {
					views = append(views, r.View())
				}
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				_ = enc.Encode(views)
				return 0
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tKIND\tAPP\tENDPOINT\tREF\tATTEMPTS\tTIME\tERROR")
			for _, r := range recs {
				msg := r.Error
				if len(msg) > 120 {
					msg = msg[:117] + "..."
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.ID, r.Kind, r.App, r.Endpoint, r.Ref, r.Attempts,
					r.Time.UTC().Format(time.RFC3339), msg)
			}
			tw.Flush()
			fmt.Fprintf(stdout, "%d stored\n", len(recs))
			return 0
		case "purge":
			n, err := db.PurgeErrors(ctx, g, store.ErrorFilter{App: ea.app, IDs: ea.ids, Before: ea.before})
			if err != nil {
				fmt.Fprintf(stderr, "node errors purge: %v\n", err)
				return 1
			}
			fmt.Fprintf(stdout, "%d purged\n", n)
			return 0
		}
		// replay: on the active, which owns the sinks.
		if err := c.CheckAuthToken(); err != nil {
			fmt.Fprintf(stderr, "node errors replay: %v\n", err)
			return 2
		}
		base, err := activeURL(ctx, dbs.Cluster, g)
		if err != nil {
			fmt.Fprintf(stderr, "node errors replay: %v\n", err)
			return 1
		}
		body, _ := json.Marshal(rest.ErrorsRequest{App: ea.app, IDs: ea.ids, All: ea.all})
		var res struct {
			ha.ReplayResult
			Error string `json:"error"`
		}
		for hop := 0; ; hop++ {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+rest.ErrorsReplayPath, bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+c.AuthToken)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				fmt.Fprintf(stderr, "node errors replay: %s: %v\n", base, err)
				return 1
			}
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
			resp.Body.Close()
			if next := resp.Header.Get("X-HA-Active"); resp.StatusCode == http.StatusServiceUnavailable && next != "" && next != base && hop < 2 {
				base = next
				continue
			}
			_ = json.Unmarshal(b, &res)
			if resp.StatusCode != http.StatusOK {
				fmt.Fprintf(stderr, "node errors replay: %s: %d %s\n", base, resp.StatusCode, strings.TrimSpace(string(b)))
				return 1
			}
			break
		}
		fmt.Fprintf(stdout, "%d selected, %d replayed and removed, %d still stored\n", res.Selected, res.Replayed, res.Failed)
		for _, f := range res.Failures {
			fmt.Fprintf(stdout, "  %d %s/%s: %s\n", f.ID, f.App, f.Ref, f.Error)
		}
		if res.Failed > 0 {
			return 1
		}
		return 0
	})
}

// activeURL is the REST address the lease holder registered in the cluster database.
func activeURL(ctx context.Context, db *store.DB, group string) (string, error) {
	l, err := db.Leader(ctx, group)
	if err != nil {
		return "", err
	}
	if l.Holder == "" {
		return "", fmt.Errorf("group %s has no active node (the lease is free): replay needs the active", group)
	}
	nodes, err := db.Nodes(ctx, group)
	if err != nil {
		return "", err
	}
	for _, n := range nodes {
		if n.NodeID == l.Holder {
			// The error endpoints are on the admin listener; an older node served them on REST.
			for _, k := range []string{cluster.PropAdminAddr, cluster.PropRESTAddr} {
				if u := n.Properties[k]; u != "" {
					return strings.TrimSuffix(u, "/"), nil
				}
			}
		}
	}
	return "", fmt.Errorf("the active node %s registered no REST address", l.Holder)
}
