package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/streamha/streamha/node/config"
	"github.com/streamha/streamha/node/daemon"
	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/ha"
	"github.com/streamha/streamha/node/store"
)

const snapshotUsage = `usage: node snapshot <command> [--app A] [--revision R] [--reason TEXT] [--config FILE] [--key value ...]

commands (on the group's persistence_db):
  list                        every stored revision: kind (base, or delta/B: what changed since the revision
                              before, on base B), seq, term, size, time, checksum ok/bad/unverified, quarantine
  verify       [--app A] [--revision R]
                              read each revision back: checksum, and when apps_dir holds the app, decode and
                              restore it as a promotion would (a delta with its base and the deltas before
                              it); exit 1 if any is bad
  quarantine   --app A --revision R [--reason TEXT]
                              set a revision aside: never restored nor trimmed (undo with unquarantine); the
                              deltas after it on the same base cannot be restored either
  unquarantine --app A --revision R
  accept-loss  --app A [--reason TEXT] [--cancel]
                              let the next promotion restore A from the best readable revision even though
                              inputs after it are held by nobody (consumed by that promotion)
`

// snapshotArgs are the subcommand's own flags, taken out before the configuration flags.
type snapshotArgs struct {
	app      string
	revision int64
	reason   string
	cancel   bool
}

func parseSnapshotArgs(args []string) (snapshotArgs, []string, error) {
	var sa snapshotArgs
	rest, err := takeFlags(args, []string{"app", "revision", "reason"}, []string{"cancel"}, func(name, val string) error {
		switch name {
		case "cancel":
			sa.cancel = true
		case "app":
			sa.app = val
		case "reason":
			sa.reason = val
		case "revision":
			r, err := strconv.ParseInt(val, 10, 64)
			if err != nil || r < 1 {
				return fmt.Errorf("--revision %q: want a revision number (1 or more)", val)
			}
			sa.revision = r
		}
		return nil
	})
	return sa, rest, err
}

func cmdSnapshot(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, snapshotUsage)
		return 0
	}
	sub := args[0]
	sa, rest, err := parseSnapshotArgs(args[1:])
	if err != nil {
		fmt.Fprintf(stderr, "node snapshot %s: %v\n", sub, err)
		return 2
	}
	switch sub {
	case "list", "verify":
	case "quarantine", "unquarantine":
		if sa.app == "" || sa.revision == 0 {
			fmt.Fprintf(stderr, "node snapshot %s: --app and --revision are required\n", sub)
			return 2
		}
	case "accept-loss":
		if sa.app == "" {
			fmt.Fprintf(stderr, "node snapshot %s: --app is required\n", sub)
			return 2
		}
	default:
		fmt.Fprintf(stderr, "node snapshot: unknown command %q\n%s", sub, snapshotUsage)
		return 2
	}
	return withPersistence("snapshot "+sub, rest, stderr, func(ctx context.Context, c config.Config, dbs *daemon.Databases) int {
		db := dbs.Persistence
		g := c.Group
		switch sub {
		case "quarantine":
			reason := sa.reason
			if reason == "" {
				reason = "quarantined by an operator"
			}
			if err := db.Quarantine(ctx, g, sa.app, sa.revision, reason); err != nil {
				fmt.Fprintf(stderr, "node snapshot quarantine: %v\n", err)
				return 1
			}
			fmt.Fprintf(stdout, "%s/%s revision %d quarantined: no node restores it; `node snapshot unquarantine` undoes it\n", g, sa.app, sa.revision)
			return 0
		case "unquarantine":
			if err := db.Unquarantine(ctx, g, sa.app, sa.revision); err != nil {
				fmt.Fprintf(stderr, "node snapshot unquarantine: %v\n", err)
				return 1
			}
			fmt.Fprintf(stdout, "%s/%s revision %d usable again\n", g, sa.app, sa.revision)
			return 0
		case "accept-loss":
			if sa.cancel {
				if err := db.ClearAcceptLoss(ctx, g, sa.app); err != nil {
					fmt.Fprintf(stderr, "node snapshot accept-loss: %v\n", err)
					return 1
				}
				fmt.Fprintf(stdout, "%s/%s: accept-loss withdrawn\n", g, sa.app)
				return 0
			}
			if err := db.RequestAcceptLoss(ctx, g, sa.app, sa.reason); err != nil {
				fmt.Fprintf(stderr, "node snapshot accept-loss: %v\n", err)
				return 1
			}
			fmt.Fprintf(stdout, "%s/%s: the next promotion may restore with a gap (it logs the gap at error level and counts it in streamha_replay_gaps); a node backing off picks this up at its next check\n", g, sa.app)
			return 0
		}
		var apps map[string]*engine.App
		if sub == "verify" && c.AppsDir != "" {
			if _, err := os.Stat(c.AppsDir); err == nil {
				list, err := daemon.LoadApps(c.AppsDir)
				if err != nil {
					fmt.Fprintf(stderr, "node snapshot verify: %v\n", err)
					return 2
				}
				apps = map[string]*engine.App{}
				for _, a := range list {
					apps[a.Name()] = a
				}
			} else {
				fmt.Fprintf(stderr, "node snapshot verify: apps_dir %s not found here: checksums only, payloads not decoded\n", c.AppsDir)
			}
		}
		bad, err := listSnapshots(ctx, db, g, sa, apps, sub == "verify", stdout)
		if err != nil {
			fmt.Fprintf(stderr, "node snapshot %s: %v\n", sub, err)
			return 1
		}
		if sub == "verify" && bad > 0 {
			fmt.Fprintf(stderr, "node snapshot verify: %d bad revision(s)\n", bad)
			return 1
		}
		return 0
	})
}

// listSnapshots prints one line per revision, reading each payload back to check it; it returns
// how many are bad (checksum mismatch, or with apps: do not decode or restore).
func listSnapshots(ctx context.Context, db *store.DB, group string, sa snapshotArgs, apps map[string]*engine.App, verify bool, stdout io.Writer) (int, error) {
	names := []string{sa.app}
	if sa.app == "" {
		var err error
		if names, err = db.SnapshotApps(ctx, group); err != nil {
			return 0, err
		}
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	header := "APP\tREVISION\tKIND\tSEQ\tTERM\tSIZE\tCREATED\tCHECKSUM\tQUARANTINED"
	if verify {
		header += "\tRESTORE"
	}
	fmt.Fprintln(tw, header)
	bad, rows := 0, 0
	for _, app := range names {
		list, err := db.ListSnapshots(ctx, group, app)
		if err != nil {
			return 0, err
		}
		for _, meta := range list {
			if sa.revision != 0 && meta.Revision != sa.revision {
				continue
			}
			s, ok, err := db.ReadSnapshot(ctx, group, app, meta.Revision)
			if err != nil {
				return 0, err
			}
			if !ok {
				continue // trimmed meanwhile
			}
			rows++
			check := s.Verify()
			q := "-"
			if s.Quarantined() {
				q = s.QuarantinedAt.UTC().Format(time.RFC3339) + " " + s.QuarantineReason
			}
			kind := "base"
			if s.Delta() {
				kind = fmt.Sprintf("delta/%d", s.Base) // what changed since the revision before, on base s.Base
			}
			line := fmt.Sprintf("%s\t%d\t%s\t%d\t%d\t%d\t%s\t%s\t%s", app, s.Revision, kind, s.LastSeq, s.Term, s.Size,
				s.CreatedAt.UTC().Format(time.RFC3339), check, q)
			if check == store.CheckBad {
				bad++
			}
			if verify {
				res := "not checked (app not in apps_dir)"
				if a, ok := apps[app]; ok {
					res = "ok"
					if err := verifyRevision(ctx, db, a, s); err != nil {
						res = "bad: " + err.Error()
						if check != store.CheckBad {
							bad++
						}
					}
				}
				line += "\t" + res
			}
			fmt.Fprintln(tw, line)
		}
	}
	if err := tw.Flush(); err != nil {
		return 0, err
	}
	if rows == 0 && sa.revision != 0 {
		return 0, fmt.Errorf("%s/%s revision %d: %w", group, sa.app, sa.revision, store.ErrNoSnapshot)
	}
	return bad, nil
}

// verifyRevision restores a revision as a promotion would: a base alone, a delta with its base
// and the deltas before it (each checked against its checksum).
func verifyRevision(ctx context.Context, db *store.DB, a *engine.App, s store.Snapshot) error {
	if !s.Delta() {
		return ha.VerifyPayload(a, s.Payload)
	}
	chain, err := store.ReadChain(ctx, db, s.Group, s.App, s.Revision)
	if err != nil {
		return err
	}
	return ha.VerifyChain(a, chain)
}
