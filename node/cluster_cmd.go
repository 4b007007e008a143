package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/streamha/streamha/node/adminclient"
	"github.com/streamha/streamha/node/cluster"
	"github.com/streamha/streamha/node/config"
	"github.com/streamha/streamha/node/daemon"
	"github.com/streamha/streamha/node/store"
)

const clusterUsage = `usage: node cluster <command> [--group G] [--json] [--config FILE] [--key value ...]

commands (they read cluster_db directly, so they work when no node answers):
  list                        every node: role, term, state, heartbeat age, sync lag, snapshot, sink lag
  history    [--since 1h]     lease acquisitions and releases with their reasons, oldest first
  switchover [--to NODE] [--url URL] [--timeout 30s]
                              ask the active (with auth_token) to hand over to its passive and follow
                              the lease until the new active serves
  watch      [--interval 1s]  list, redrawn every interval until interrupted

--group G limits list and history to one group (default: every group; switchover: the group key).
--json prints JSON for scripts instead of the table.
`

// clusterArgs are the subcommand's own flags, taken out before the configuration flags.
type clusterArgs struct {
	group    string
	json     bool
	since    time.Duration
	to       string
	url      string
	timeout  time.Duration
	interval time.Duration
	count    int // watch: stop after this many redraws (0: until interrupted)
}

func parseClusterArgs(args []string) (clusterArgs, []string, error) {
	ca := clusterArgs{timeout: 30 * time.Second, interval: time.Second}
	valued := []string{"group", "since", "to", "url", "timeout", "interval", "count"}
	rest, err := takeFlags(args, valued, []string{"json"}, func(name, val string) error {
		var err error
		switch name {
		case "json":
			ca.json = true
		case "group":
			ca.group = val
		case "to":
			ca.to = val
		case "url":
			ca.url = val
		case "since":
			ca.since, err = parsePositiveDuration(val)
		case "timeout":
			ca.timeout, err = parsePositiveDuration(val)
		case "interval":
			ca.interval, err = parsePositiveDuration(val)
		case "count":
			ca.count, err = strconv.Atoi(val)
			if err == nil && ca.count < 1 {
				err = errors.New("must be 1 or more")
			}
		}
		if err != nil {
			return fmt.Errorf("--%s %q: %w", name, val, err)
		}
		return nil
	})
	if err == nil && ca.group != "" {
		// Also the configuration's group, for switchover.
		rest = append(rest, "--group", ca.group)
	}
	return ca, rest, err
}

// parsePositiveDuration reads a Go duration, or a number of days with a d suffix (7d).
func parsePositiveDuration(v string) (time.Duration, error) {
	var d time.Duration
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil {
			return 0, errors.New("want a duration such as 90s, 1h or 7d")
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			return 0, errors.New("want a duration such as 90s, 1h or 7d")
		}
	}
	if d <= 0 {
		return 0, errors.New("must be positive")
	}
	return d, nil
}

func cmdCluster(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, clusterUsage)
		return 0
	}
	sub := args[0]
	switch sub {
	case "list", "history", "switchover", "watch":
	default:
		fmt.Fprintf(stderr, "node cluster: unknown command %q\n%s", sub, clusterUsage)
		return 2
	}
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "node cluster %s: %s\n", sub, fmt.Sprintf(format, a...))
		return code
	}
	ca, rest, err := parseClusterArgs(args[1:])
	if err != nil {
		return fail(2, "%v", err)
	}
	c, _, code := loadConfig("cluster "+sub, rest, stderr)
	if code >= 0 {
		return code
	}
	if sub == "switchover" && ca.group == "" {
		ca.group = c.Group
	}
	dbs, err := openClusterDBs(c)
	if err != nil {
		return fail(2, "%v", err)
	}
	defer dbs.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := checkClusterDB(ctx, dbs.Cluster, sub == "history"); err != nil {
		return fail(1, "%v", err)
	}
	switch sub {
	case "list":
		v, err := gatherView(ctx, dbs, c, ca.group)
		if err != nil {
			return fail(1, "%v", err)
		}
		if err := printView(stdout, v, ca.json); err != nil {
			return fail(1, "%v", err)
		}
	case "history":
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		es, err := dbs.Cluster.History(qctx, ca.group, ca.since)
		if err != nil {
			return fail(1, "%v", err)
		}
		if err := printHistory(stdout, es, ca.json); err != nil {
			return fail(1, "%v", err)
		}
	case "watch":
		return watchCluster(ctx, dbs, c, ca, stdout, stderr)
	case "switchover":
		if err := c.CheckAuthToken(); err != nil {
			return fail(2, "the admin API needs the group's secret: %v", err)
		}
		if err := switchover(ctx, dbs, c, ca, stdout); err != nil {
			return fail(1, "%v", err)
		}
	}
	return 0
}

// openClusterDBs opens the databases without creating an embedded one that does not exist:
// reading a mistyped path must not leave an empty database behind.
func openClusterDBs(c config.Config) (*daemon.Databases, error) {
	for key, u := range map[string]string{"cluster_db": c.ClusterDB, "persistence_db": c.PersistenceURL()} {
		if p, ok := strings.CutPrefix(u, "sqlite://"); ok {
			p, _, _ = strings.Cut(p, "?")
			if _, err := os.Stat(p); err != nil {
				return nil, fmt.Errorf("%s %s: %w (give the database the nodes use: --cluster_db or NODE_CLUSTER_DB)", key, u, err)
			}
		}
	}
	return daemon.OpenDatabases(c)
}

// checkClusterDB tells an unreachable database or one without the schema apart from an empty
// group, with a line an operator can act on.
func checkClusterDB(ctx context.Context, db *store.DB, history bool) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := db.Ping(ctx); err != nil {
		return fmt.Errorf("cannot reach cluster_db: %w", err)
	}
	v, err := db.SchemaVersion(ctx)
	if err != nil {
		return fmt.Errorf("cluster_db: %w", err)
	}
	switch {
	case v == 0:
		return fmt.Errorf("cluster_db %s has no streamha schema: is it the database the nodes use? (`node migrate` creates it)", db)
	case history && v < 3:
		return fmt.Errorf("cluster_db %s is at schema version %d: the term history needs version 3 (nodes of this version apply it at start; or run `node migrate`)", db, v)
	}
	return nil
}

// View is the cluster as read from the database, for list and watch (and their JSON).
type View struct {
	ReadAt time.Time   `json:"read_at"` // the cluster database's clock
	Groups []GroupView `json:"groups"`
}

// GroupView is one group: its lease and its registered nodes.
type GroupView struct {
	Group            string    `json:"group"`
	Holder           string    `json:"holder"` // "" when no node holds an unexpired lease
	Term             int64     `json:"term"`
	LeaseRemainingMS int64     `json:"lease_remaining_ms"`
	Nodes            []NodeRow `json:"nodes"`
}

// NodeRow is one node as its last heartbeat and the database describe it.
type NodeRow struct {
	Node           string `json:"node"`
	Group          string `json:"group"`
	Role           string `json:"role"`
	Term           int64  `json:"term"`
	State          string `json:"state"`
	HeartbeatAgeMS int64  `json:"heartbeat_age_ms"`
	// SyncLag is, on a passive, what the active has sent it and it has not acknowledged yet
	// (as the active last reported); -1 when no active streams to it. On an active, -1.
	SyncLagInputs int64 `json:"sync_lag_inputs"`
	SyncLagBytes  int64 `json:"sync_lag_bytes"`
	QueueEvents   int64 `json:"queue_events"`
	QueueBytes    int64 `json:"queue_bytes"`
	// Snapshot is the app with the oldest snapshot the node knows of: its revision and age by
	// the persistence database's clock (-1: unknown, e.g. trimmed or no snapshot yet).
	SnapshotApp      string `json:"snapshot_app,omitempty"`
	SnapshotRevision int64  `json:"snapshot_revision"`
	SnapshotAgeMS    int64  `json:"snapshot_age_ms"`
	// SinkLag: inputs applied whose outputs are not all written, and outputs pending, over
	// all apps; SinkError is set while a sink fails.
	SinkLagInputs  uint64 `json:"sink_lag_inputs"`
	OutputsPending int    `json:"outputs_pending"`
	SinkError      string `json:"sink_error,omitempty"`
	LastError      string `json:"last_error,omitempty"`
	DataError      string `json:"data_error,omitempty"` // the data path's error (sinks, persists, replay gap)
	RESTURL        string `json:"rest_url,omitempty"`
	Version        string `json:"version,omitempty"`
}

// gatherView reads every group (or one) from the cluster database, and snapshot ages from the
// persistence database. A persistence database that cannot be read leaves ages unknown.
func gatherView(ctx context.Context, dbs *daemon.Databases, c config.Config, group string) (View, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var v View
	now, err := dbs.Cluster.Now(ctx)
	if err != nil {
		return v, err
	}
	v.ReadAt = now
	groups := []string{group}
	if group == "" {
		if groups, err = dbs.Cluster.Groups(ctx); err != nil {
			return v, err
		}
	}
	stale := max(c.Lease, 3*c.HeartbeatInterval)
	ages := snapshotAges{db: dbs.Persistence, cache: map[string]map[int64]time.Duration{}}
	for _, g := range groups {
		l, err := dbs.Cluster.Leader(ctx, g)
		if err != nil {
			return v, err
		}
		nodes, err := dbs.Cluster.Nodes(ctx, g)
		if err != nil {
			return v, err
		}
		gv := GroupView{Group: g, Term: l.Term, LeaseRemainingMS: max(0, l.Remaining.Milliseconds()), Nodes: []NodeRow{}}
		if l.Held() {
			gv.Holder = l.Holder
		}
		sts := map[string]cluster.Status{}
		for _, n := range nodes {
			var st cluster.Status
			_ = json.Unmarshal(n.Status, &st) // an empty or foreign status leaves zero values
			sts[n.NodeID] = st
		}
		for _, n := range nodes {
			gv.Nodes = append(gv.Nodes, nodeRow(ctx, g, n, sts, gv.Holder, stale, &ages))
		}
		v.Groups = append(v.Groups, gv)
	}
	return v, nil
}

func nodeRow(ctx context.Context, g string, n cluster.NodeRecord, sts map[string]cluster.Status, holder string, stale time.Duration, ages *snapshotAges) NodeRow {
	st := sts[n.NodeID]
	r := NodeRow{Node: n.NodeID, Group: g, Role: st.Role, Term: st.Term, HeartbeatAgeMS: n.HeartbeatAge.Milliseconds(),
		SyncLagInputs: -1, SyncLagBytes: -1, QueueEvents: st.QueueEvents, QueueBytes: st.QueueBytes,
		SnapshotRevision: -1, SnapshotAgeMS: -1, LastError: st.LastError, DataError: st.DataError,
		RESTURL: n.Properties[cluster.PropRESTAddr], Version: n.Properties[cluster.PropVersion]}
	if r.Role == "" {
		r.Role = "starting"
	}
	if h, ok := sts[holder]; ok && holder != n.NodeID && h.PeerConnected && h.Peer == n.NodeID {
		r.SyncLagInputs, r.SyncLagBytes = h.SyncLagEvents, h.SyncLagBytes
	}
	apps := make([]string, 0, len(st.Apps))
	for name := range st.Apps {
		apps = append(apps, name)
	}
	sort.Strings(apps)
	for _, name := range apps {
		a := st.Apps[name]
		if a.LastSeq > a.DeliveredSeq {
			r.SinkLagInputs += a.LastSeq - a.DeliveredSeq
		}
		r.OutputsPending += a.OutputsPending
		if a.SinkError != "" && r.SinkError == "" {
			r.SinkError = name + ": " + a.SinkError
		}
		// Show the app whose snapshot is the worst: none yet, then of unknown age, then oldest.
		rev, ageMS := a.LastPersistRevision, int64(-1)
		if age, known := ages.age(ctx, g, name, rev); known {
			ageMS = age.Milliseconds()
		}
		if r.SnapshotApp == "" || snapshotWorse(rev, ageMS, r.SnapshotRevision, r.SnapshotAgeMS) {
			r.SnapshotApp, r.SnapshotRevision, r.SnapshotAgeMS = name, max(rev, 0), ageMS
		}
	}
	r.State = nodeState(n, st, holder, stale)
	return r
}

// snapshotWorse orders snapshots for display: none yet, then unknown age, then the oldest.
func snapshotWorse(rev, ageMS, thanRev, thanAgeMS int64) bool {
	rank := func(rev, age int64) (int, int64) {
		switch {
		case rev <= 0:
			return 2, 0
		case age < 0:
			return 1, 0
		}
		return 0, age
	}
	a, aa := rank(rev, ageMS)
	b, ba := rank(thanRev, thanAgeMS)
	return a > b || (a == b && aa > ba)
}

// nodeState sums a node up in a word or two.
func nodeState(n cluster.NodeRecord, st cluster.Status, holder string, stale time.Duration) string {
	switch {
	case n.HeartbeatAge > stale:
		return "no heartbeat"
	case st.RestoreFailed != nil:
		return "restore failed"
	}
	switch st.Role {
	case cluster.Active.String():
		switch {
		case holder != n.NodeID:
			return "lease lost"
		case st.Draining:
			return "switching over"
		case !st.Serving:
			return "not serving"
		case !st.PeerConnected:
			return "serving alone"
		case !st.PeerSynced:
			return "serving, syncing"
		}
		return "serving"
	case cluster.Passive.String():
		switch {
		case st.PeerSynced:
			return "in sync"
		case st.PeerConnected:
			return "syncing"
		case holder == "":
			return "no active"
		}
		return "not connected"
	case "":
		return "starting"
	}
	return st.Role
}

// snapshotAges reads the ages of stored revisions by the persistence database's clock, once per app.
type snapshotAges struct {
	db    *store.DB
	now   time.Time
	err   error
	cache map[string]map[int64]time.Duration
}

func (s *snapshotAges) age(ctx context.Context, group, app string, rev int64) (time.Duration, bool) {
	if s.err != nil || rev <= 0 {
		return 0, false
	}
	if s.now.IsZero() {
		if s.now, s.err = s.db.Now(ctx); s.err != nil {
			return 0, false
		}
	}
	key := group + "\x00" + app
	revs, ok := s.cache[key]
	if !ok {
		list, err := s.db.ListSnapshots(ctx, group, app)
		if err != nil {
			s.err = err
			return 0, false
		}
		revs = map[int64]time.Duration{}
		for _, m := range list {
			revs[m.Revision] = s.now.Sub(m.CreatedAt)
		}
		s.cache[key] = revs
	}
	d, ok := revs[rev]
	return max(d, 0), ok
}

func printView(w io.Writer, v View, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tGROUP\tROLE\tTERM\tSTATE\tHEARTBEAT\tSYNC LAG\tSNAPSHOT\tSINK LAG")
	for _, g := range v.Groups {
		for _, r := range g.Nodes {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s ago\t%s\t%s\t%s\n", r.Node, r.Group, r.Role, r.Term, r.State,
				fmtAge(time.Duration(r.HeartbeatAgeMS)*time.Millisecond), fmtSyncLag(r), fmtSnapshot(r), fmtSinkLag(r))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, g := range v.Groups {
		switch {
		case len(v.Groups) == 0:
		case g.Holder != "":
			fmt.Fprintf(w, "group %s: lease held by %s at term %d (%s left)\n", g.Group, g.Holder, g.Term, fmtAge(time.Duration(g.LeaseRemainingMS)*time.Millisecond))
		case g.Term == 0:
			fmt.Fprintf(w, "group %s: no lease ever taken\n", g.Group)
		default:
			fmt.Fprintf(w, "group %s: NO ACTIVE: lease free since term %d\n", g.Group, g.Term)
		}
	}
	if len(v.Groups) == 0 {
		fmt.Fprintln(w, "no group has registered a node or taken a lease in this database")
	}
	return nil
}

func fmtSyncLag(r NodeRow) string {
	if r.SyncLagInputs < 0 {
		return "-"
	}
	return fmt.Sprintf("%d in / %s", r.SyncLagInputs, fmtBytes(r.SyncLagBytes))
}

func fmtSnapshot(r NodeRow) string {
	switch {
	case r.SnapshotApp == "":
		return "-"
	case r.SnapshotRevision <= 0:
		return "none yet"
	case r.SnapshotAgeMS < 0:
		return fmt.Sprintf("r%d", r.SnapshotRevision)
	}
	return fmt.Sprintf("r%d, %s ago", r.SnapshotRevision, fmtAge(time.Duration(r.SnapshotAgeMS)*time.Millisecond))
}

func fmtSinkLag(r NodeRow) string {
	s := fmt.Sprintf("%d in / %d out", r.SinkLagInputs, r.OutputsPending)
	if r.SinkError != "" {
		s += ", FAILING"
	}
	return s
}

// fmtAge prints a duration the way a person reads an age: 0.4s, 12s, 4m05s, 2h07m, 3d04h.
func fmtAge(d time.Duration) string {
	switch {
	case d < 0:
		d = 0
		fallthrough
	case d < 10*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}

func fmtBytes(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
}

// historyRow is one term event as printed with --json.
type historyRow struct {
	store.TermEvent
	AgeMS int64 `json:"age_ms"`
}

func printHistory(w io.Writer, es []store.TermEvent, asJSON bool) error {
	if asJSON {
		rows := make([]historyRow, len(es))
		for i, e := range es {
			rows[i] = historyRow{TermEvent: e, AgeMS: e.Age.Milliseconds()}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME (UTC)\tAGE\tGROUP\tTERM\tEVENT\tNODE\tPREVIOUS\tREASON")
	for _, e := range es {
		prev := e.Previous
		if prev == "" {
			prev = "-"
		}
		fmt.Fprintf(tw, "%s\t%s ago\t%s\t%d\t%s\t%s\t%s\t%s\n", e.At.UTC().Format("2006-01-02 15:04:05.000"),
			fmtAge(e.Age), e.Group, e.Term, e.Event, e.Holder, prev, e.Reason)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(es) == 0 {
		fmt.Fprintln(w, "no lease acquisitions or releases in that period")
	}
	return nil
}

func watchCluster(ctx context.Context, dbs *daemon.Databases, c config.Config, ca clusterArgs, stdout, stderr io.Writer) int {
	t := time.NewTicker(ca.interval)
	defer t.Stop()
	for i := 1; ; i++ {
		v, err := gatherView(ctx, dbs, c, ca.group)
		if ca.json {
			if err == nil {
				err = printView(stdout, v, true)
			}
		} else {
			fmt.Fprint(stdout, "\x1b[H\x1b[2J") // home and clear: redraw in place
			fmt.Fprintf(stdout, "node cluster watch: every %s, %s (cluster_db clock); Ctrl-C to stop\n\n", ca.interval, time.Now().UTC().Format("15:04:05"))
			if err == nil {
				err = printView(stdout, v, false)
			}
		}
		if err != nil {
			// Keep watching: the database may come back; say so in place of the table.
			fmt.Fprintf(stdout, "cannot read the cluster: %v\n", err)
		}
		if ca.count > 0 && i >= ca.count {
			return 0
		}
		select {
		case <-ctx.Done():
			return 0
		case <-t.C:
		}
	}
}

// switchover asks the group's active to hand over and follows the lease in the database until
// the new active serves, printing each step as it sees it.
func switchover(ctx context.Context, dbs *daemon.Databases, c config.Config, ca clusterArgs, out io.Writer) error {
	v, err := gatherView(ctx, dbs, c, ca.group)
	if err != nil {
		return err
	}
	if len(v.Groups) == 0 {
		return fmt.Errorf("group %s not found", ca.group)
	}
	g := v.Groups[0]
	if g.Holder == "" {
		return fmt.Errorf("group %s has no active (lease free at term %d): nothing to switch over", g.Group, g.Term)
	}
	var active, target *NodeRow
	for i := range g.Nodes {
		r := &g.Nodes[i]
		switch {
		case r.Node == g.Holder:
			active = r
		case ca.to != "" && r.Node == ca.to:
			target = r
		case ca.to == "" && r.SyncLagInputs >= 0:
			target = r
		}
	}
	switch {
	case ca.to == g.Holder:
		return fmt.Errorf("%s is already the active (term %d)", ca.to, g.Term)
	case active == nil:
		return fmt.Errorf("the lease holder %s is not registered", g.Holder)
	case ca.to != "" && target == nil:
		return fmt.Errorf("node %s is not registered in group %s", ca.to, g.Group)
	case target == nil:
		return fmt.Errorf("%s has no passive streaming from it: nobody to hand over to", active.Node)
	case target.State != "in sync":
		return fmt.Errorf("%s is %s, not in sync: the active would refuse (wait until `node cluster list` shows it in sync)", target.Node, target.State)
	}
	node, err := findNode(ctx, dbs.Cluster, g.Group, active.Node)
	if err != nil {
		return err
	}
	client := &adminclient.Client{URL: node.Properties[cluster.PropRESTAddr], AdminURL: node.Properties[cluster.PropAdminAddr], Token: c.AuthToken}
	if ca.url != "" {
		client.AdminURL = ca.url
	}
	if client.URL == "" && client.AdminURL == "" {
		return fmt.Errorf("%s registered no REST address: give its admin URL with --url", active.Node)
	}
	adminURL := client.AdminURL
	if adminURL == "" {
		adminURL = client.URL
	}
	start := time.Now()
	step := func(format string, a ...any) {
		fmt.Fprintf(out, "%6.0f ms  %s\n", float64(time.Since(start).Microseconds())/1000, fmt.Sprintf(format, a...))
	}
	step("group %s: %s (active, term %d) hands over to %s (%s)", g.Group, active.Node, g.Term, target.Node, target.State)
	step("POST %s%s", strings.TrimRight(adminURL, "/"), adminclient.SwitchoverPath)
	ctx, cancel := context.WithTimeout(ctx, ca.timeout)
	defer cancel()
	type answer struct {
		res adminclient.SwitchoverResult
		err error
	}
	done := make(chan answer, 1)
	go func() {
		res, err := client.Switchover(ctx)
		done <- answer{res, err}
	}()
	// Follow the lease while the request runs and after it: print each change once.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	answered, released, taken := false, false, false
	lastProgress := time.Now()
	for {
		select {
		case a := <-done:
			if a.err != nil {
				return fmt.Errorf("switchover refused or failed (the lease is where it was unless shown above): %w", a.err)
			}
			answered = true
			if a.res.NewActiveConfirmed {
				step("%s answered: switchover took %d ms from refusing input to %s serving (handover %d ms)", active.Node, a.res.TookMS, target.Node, a.res.HandoverMS)
			} else {
				step("%s answered: handed over in %d ms (the new active not seen serving yet)", active.Node, a.res.TookMS)
			}
		case <-ctx.Done():
			return fmt.Errorf("no new active serving within %s (see `node cluster list`): %w", ca.timeout, ctx.Err())
		case <-tick.C:
		}
		l, err := dbs.Cluster.Leader(ctx, g.Group)
		if err != nil {
			step("cannot read the lease: %v", err)
			continue
		}
		if !released && (l.Term > g.Term || !l.Held()) {
			step("%s released the lease (term %d)", active.Node, g.Term)
			released = true
		}
		if !taken && l.Term > g.Term && l.Held() {
			taken = true
			step("%s took the lease at term %d", l.Holder, l.Term)
			if l.Holder != target.Node {
				return fmt.Errorf("%s took the lease, not %s", l.Holder, target.Node)
			}
		}
		if taken && answered {
			nd, err := findNode(ctx, dbs.Cluster, g.Group, target.Node)
			if err == nil {
				var st cluster.Status
				_ = json.Unmarshal(nd.Status, &st)
				if st.Serving && st.Term == l.Term {
					step("%s serving at term %d: switchover done", target.Node, l.Term)
					return nil
				}
			}
		}
		if time.Since(lastProgress) >= time.Second {
			lastProgress = time.Now()
			switch {
			case !answered:
				step("waiting for %s to drain, persist and hand over…", active.Node)
			case !taken:
				step("waiting for %s to take the lease…", target.Node)
			default:
				step("waiting for %s to restore and serve…", target.Node)
			}
		}
	}
}

func findNode(ctx context.Context, db *store.DB, group, id string) (cluster.NodeRecord, error) {
	nodes, err := db.Nodes(ctx, group)
	if err != nil {
		return cluster.NodeRecord{}, err
	}
	for _, n := range nodes {
		if n.NodeID == id {
			return n, nil
		}
	}
	return cluster.NodeRecord{}, fmt.Errorf("node %s is not registered in group %s", id, group)
}
