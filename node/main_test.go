package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInvalidConfigExitsTwoNamingTheKey(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"run", "--lease", "forever"}, nil, &out, &errb)
	if code != 2 || !strings.Contains(errb.String(), "lease") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	if code := run([]string{"frobnicate"}, nil, &out, &errb); code != 2 {
		t.Fatalf("unknown command exit %d", code)
	}
}

func TestMigrateAndCheckConfig(t *testing.T) {
	db := "sqlite://" + filepath.Join(t.TempDir(), "x.db")
	var out, errb bytes.Buffer
	if code := run([]string{"migrate", "--cluster_db", db, "--log_format", "text"}, nil, &out, &errb); code != 0 {
		t.Fatalf("migrate exit %d: %s", code, errb.String())
	}
	out.Reset()
	if code := run([]string{"check-config", "--cluster_db", db, "--auth_token", "s3cret-s3cret-s3cret"}, nil, &out, &errb); code != 0 {
		t.Fatalf("check-config exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "lease: \"1.5s\"") || strings.Contains(out.String(), "s3cret-s3cret-s3cret") {
		t.Fatalf("check-config printed %q", out.String())
	}
}

func TestCheckConfigCompilesTheApps(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "good.siddhi"), []byte("@app:name('Good')\ndefine stream S (a int);\nfrom S select a insert into O;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"check-config", "--apps_dir", dir, "--auth_token", testSecret}, nil, &out, &errb); code != 0 || !strings.Contains(out.String(), "# apps compiled: Good") {
		t.Fatalf("good app: exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.siddhi"), []byte("@app:name('Bad')\ndefine stream S (a int);\nfrom S select b insert into O;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errb.Reset()
	if code := run([]string{"check-config", "--apps_dir", dir, "--auth_token", testSecret}, nil, &out, &errb); code != 2 || !strings.Contains(errb.String(), "bad.siddhi:3:15") {
		t.Fatalf("bad app: exit %d, stderr %q", code, errb.String())
	}
	errb.Reset()
	if code := run([]string{"check-config", "--apps_dir", filepath.Join(dir, "absent"), "--auth_token", testSecret}, nil, &out, &errb); code != 0 || !strings.Contains(errb.String(), "apps not checked") {
		t.Fatalf("missing apps_dir: exit %d, stderr %q", code, errb.String())
	}
}

func TestCheckConfigRefusesUnknownSinkOptions(t *testing.T) {
	dir := t.TempDir()
	src := "@app:name('Typo')\ndefine stream S (a int);\n@sink(type='file', path='o.jsonl', fsyn='batch')\ndefine stream O (a int);\nfrom S select a insert into O;\n"
	if err := os.WriteFile(filepath.Join(dir, "typo.siddhi"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"check-config", "--apps_dir", dir, "--auth_token", testSecret}, nil, &out, &errb); code != 2 ||
		!strings.Contains(errb.String(), "typo.siddhi: stream O: @sink(type='file'): unknown option fsyn (want path, fsync, on.error)") {
		t.Fatalf("unknown sink option: exit %d, stderr %q", code, errb.String())
	}
}

// testSecret is a valid auth_token for commands that are not about the secret.
const testSecret = "main-test-secret-0123"

// TestRunRefusesWithoutSecret: `node run` and `node check-config` without a shared secret (or
// with a short one) exit 2 naming the key, before any listener or database is touched (the
// database here does not exist and would be retried for ever).
func TestRunRefusesWithoutSecret(t *testing.T) {
	base := []string{"--cluster_db", "postgres://nobody@127.0.0.1:1/none", "--rest_listen", "127.0.0.1:0",
		"--sync_listen", "127.0.0.1:0", "--tcp_listen", "127.0.0.1:0", "--apps_dir", t.TempDir()}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{append([]string{"run"}, base...), "auth_token: not set"},
		{append([]string{"run", "--auth_token", "s3cret"}, base...), "auth_token: the secret is 6 bytes"},
		{append([]string{"check-config"}, base...), "auth_token: not set"},
		// An unusable certificate pair for the sources' TLS ports, at start and in check-config.
		{append([]string{"run", "--auth_token", testSecret, "--source_tls_cert_file", filepath.Join(t.TempDir(), "absent.pem"), "--source_tls_key_file", "k.pem"}, base...), "source_tls_cert_file"},
		{append([]string{"check-config", "--auth_token", testSecret, "--source_tls_cert_file", "c.pem"}, base...), "source_tls_key_file: is empty"},
	} {
		var out, errb bytes.Buffer
		if code := run(tc.args, nil, &out, &errb); code != 2 || !strings.Contains(errb.String(), tc.want) {
			t.Fatalf("%v: exit %d, stderr %q; want exit 2 mentioning %q", tc.args, code, errb.String(), tc.want)
		}
	}
	// A secret file readable by everyone is accepted with a warning.
	f := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(f, []byte(testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(f, 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run(append([]string{"check-config", "--auth_token_file", f}, base...), nil, &out, &errb); code != 0 || !strings.Contains(errb.String(), "warning: auth_token_file") {
		t.Fatalf("check-config with a world-readable secret file: exit %d, stderr %q", code, errb.String())
	}
}

func TestMemoryLimit(t *testing.T) {
	cg := func(n int64) func() (int64, bool) { return func() (int64, bool) { return n, n > 0 } }
	for _, c := range []struct {
		name       string
		env        string
		configured int64
		cgroup     int64
		want       int64
		ok         bool
	}{
		{"memory_limit without a container limit", "", 160 << 20, 0, 160 << 20, true},
		{"memory_limit over the container's", "", 160 << 20, 1 << 30, 160 << 20, true},
		{"the container's 80% by default", "", 0, 1000 << 20, 800 << 20, true},
		{"GOMEMLIMIT wins", "100MiB", 160 << 20, 1 << 30, 0, false},
		{"nothing", "", 0, 0, 0, false},
	} {
		got, ok := memoryLimit(c.env, c.configured, cg(c.cgroup))
		if got != c.want || ok != c.ok {
			t.Errorf("%s: memoryLimit = %d, %v; want %d, %v", c.name, got, ok, c.want, c.ok)
		}
	}
}
