package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/streamha/streamha/internal/hatest"
	"github.com/streamha/streamha/internal/pgtest"
	"github.com/streamha/streamha/node/store"
	"github.com/streamha/streamha/schema"
)

// nodeBin is the node binary the cluster command tests run their nodes with.
var nodeBin string

func TestMain(m *testing.M) { os.Exit(hatest.MainWithNode(m, &nodeBin, pgtest.Main)) }

// TestSnapshotCommands drives `node snapshot list|verify|quarantine|unquarantine|accept-loss` on
// SQLite and PostgreSQL: a byte flipped in a stored payload is reported bad (verify exits 1), a
// quarantined revision is listed as such and skipped by nodes, and the accept-loss marker is set
// and withdrawn.
func TestSnapshotCommands(t *testing.T) {
	for _, tc := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "ha.db") }},
		{"postgres", func(t *testing.T) string { return pgtest.Shared(t).NewDatabase(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) { testSnapshotCommands(t, tc.url(t)) })
	}
}

func testSnapshotCommands(t *testing.T, url string) {
	node := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(append(args, "--cluster_db", url, "--log_format", "text"), nil, &out, &errb)
		return code, out.String(), errb.String()
	}
	if code, _, errs := node("migrate"); code != 0 {
		t.Fatalf("migrate: %d %s", code, errs)
	}
	ctx := context.Background()
	db, err := store.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, p := range []string{"state one", "state two", "state three"} {
		if _, err := db.SaveSnapshot(ctx, store.Snapshot{Group: "default", App: "T", Term: 1, LastSeq: uint64(len(p)), Payload: []byte(p)}, 5); err != nil {
			t.Fatal(err)
		}
	}
	flip := `UPDATE ha_snapshot SET payload = $1 WHERE app = 'T' AND revision = 3`
	if db.Dialect() == schema.SQLite {
		flip = strings.ReplaceAll(flip, "$1", "?1")
	}
	if _, err := db.SQL().ExecContext(ctx, flip, []byte("state thrEe")); err != nil {
		t.Fatal(err)
	}
	row := func(out string, rev, want string) {
		t.Helper()
		if !regexp.MustCompile(`(?m)^T\s+` + rev + `\s+base\s+\d+\s+1\s+\d+\s+\S+\s+` + want).MatchString(out) {
			t.Fatalf("revision %s: want %q in\n%s", rev, want, out)
		}
	}
	code, out, errs := node("snapshot", "list")
	if code != 0 {
		t.Fatalf("list: %d %s", code, errs)
	}
	row(out, "3", "bad")
	row(out, "2", "ok")
	if code, out, errs = node("snapshot", "verify", "--app", "T"); code != 1 || !strings.Contains(errs, "1 bad") {
		t.Fatalf("verify with a flipped byte: exit %d, stderr %q, stdout %q", code, errs, out)
	}
	if code, _, errs = node("snapshot", "verify", "--app=T", "--revision", "2"); code != 0 {
		t.Fatalf("verify of a good revision: exit %d %s", code, errs)
	}
	if code, _, errs = node("snapshot", "verify", "--app", "T", "--revision", "9"); code != 1 || !strings.Contains(errs, "no such snapshot") {
		t.Fatalf("verify of a missing revision: exit %d %s", code, errs)
	}
	// With the app at hand, verify also decodes: a payload with a right checksum but not an
	// envelope is bad.
	apps := t.TempDir()
	if err := os.WriteFile(filepath.Join(apps, "t.siddhi"), []byte("@app:name('T')\ndefine stream S (a int);\nfrom S select a insert into O;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, _ = node("snapshot", "verify", "--revision", "2", "--app", "T", "--apps_dir", apps); code != 1 || !strings.Contains(out, "bad: snapshot envelope corrupt") {
		t.Fatalf("verify decoding: exit %d\n%s", code, out)
	}

	if code, _, errs = node("snapshot", "quarantine", "--app", "T"); code != 2 || !strings.Contains(errs, "--revision") {
		t.Fatalf("quarantine without a revision: exit %d %s", code, errs)
	}
	if code, _, errs = node("snapshot", "quarantine", "--app", "T", "--revision", "3", "--reason", "torn write"); code != 0 {
		t.Fatalf("quarantine: %d %s", code, errs)
	}
	_, out, _ = node("snapshot", "list", "--app", "T")
	row(out, "3", `bad\s+\S+ torn write`)
	if s, _, _ := db.LatestSnapshot(ctx, "default", "T"); s.Revision != 2 {
		t.Fatalf("nodes would restore revision %d, want 2 with 3 quarantined", s.Revision)
	}
	if code, _, errs = node("snapshot", "unquarantine", "--app", "T", "--revision", "3"); code != 0 {
		t.Fatalf("unquarantine: %d %s", code, errs)
	}
	if s, _, _ := db.LatestSnapshot(ctx, "default", "T"); s.Revision != 3 {
		t.Fatalf("after unquarantine latest is %d", s.Revision)
	}

	if code, _, errs = node("snapshot", "accept-loss", "--app", "T", "--reason", "INC-7"); code != 0 {
		t.Fatalf("accept-loss: %d %s", code, errs)
	}
	if a, ok, _ := db.AcceptLossRequested(ctx, "default", "T"); !ok || a.Reason != "INC-7" {
		t.Fatalf("marker %+v %v", a, ok)
	}
	if code, _, errs = node("snapshot", "accept-loss", "--app", "T", "--cancel"); code != 0 {
		t.Fatalf("accept-loss --cancel: %d %s", code, errs)
	}
	if _, ok, _ := db.AcceptLossRequested(ctx, "default", "T"); ok {
		t.Fatal("marker still set after --cancel")
	}
	if code, _, _ := node("snapshot", "frob"); code != 2 {
		t.Fatalf("unknown subcommand: exit %d", code)
	}
}
