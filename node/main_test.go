package main

import (
	"bytes"
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
	if code := run([]string{"check-config", "--cluster_db", db, "--auth_token", "s3cret"}, nil, &out, &errb); code != 0 {
		t.Fatalf("check-config exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "lease: \"1.5s\"") || strings.Contains(out.String(), "s3cret") {
		t.Fatalf("check-config printed %q", out.String())
	}
}
