package config_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamha/streamha/node/config"
)

// TestAuthTokenIsRequired: a configuration without a secret, or with one shorter than
// MinAuthTokenBytes, fails CheckAuthToken with an error naming the key it came from.
func TestAuthTokenIsRequired(t *testing.T) {
	short := filepath.Join(t.TempDir(), "short")
	if err := os.WriteFile(short, []byte("tooshort\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		key  string
		want string
	}{
		{"none", nil, nil, "auth_token", "not set"},
		{"short flag", []string{"--auth_token", "s3cret"}, nil, "auth_token", "6 bytes, at least 16"},
		{"short env", nil, map[string]string{"NODE_AUTH_TOKEN": "s3cret"}, "auth_token", "6 bytes"},
		{"short file", []string{"--auth_token_file", short}, nil, "auth_token_file", "8 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := config.Load("run", tc.args, envOf(tc.env), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			err = c.CheckAuthToken()
			var ce *config.Error
			if err == nil || !errors.As(err, &ce) || ce.Key != tc.key || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("CheckAuthToken = %v, want a *config.Error for %s mentioning %q", err, tc.key, tc.want)
			}
		})
	}
	c, _, err := config.Load("run", []string{"--auth_token", "0123456789abcdef"}, envOf(nil), io.Discard)
	if err != nil || c.CheckAuthToken() != nil {
		t.Fatalf("a 16-byte secret: %v / %v", err, c.CheckAuthToken())
	}
}

// TestAuthTokenFile: the secret is read from auth_token_file without its trailing newline; a
// file others can read is a warning; a missing or empty file and setting both keys are errors.
func TestAuthTokenFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // the umask may have narrowed it
			t.Fatal(err)
		}
		return p
	}
	const secret = "a-secret-from-a-file-0123"
	private := write("private", secret+"\r\n", 0o600)
	c, _, err := config.Load("run", []string{"--auth_token_file", private}, envOf(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.AuthToken != secret || len(c.Warnings()) != 0 || c.CheckAuthToken() != nil {
		t.Fatalf("token %q, warnings %v", c.AuthToken, c.Warnings())
	}
	if y := c.YAML(); strings.Contains(y, secret) {
		t.Fatalf("the secret is printed: %s", y)
	}
	// From the environment, as a container would set it.
	c, _, err = config.Load("run", nil, envOf(map[string]string{"NODE_AUTH_TOKEN_FILE": private}), io.Discard)
	if err != nil || c.AuthToken != secret {
		t.Fatalf("from NODE_AUTH_TOKEN_FILE: %q %v", c.AuthToken, err)
	}
	open := write("open", secret+"\n", 0o644)
	c, _, err = config.Load("run", []string{"--auth_token_file", open}, envOf(nil), io.Discard)
	if err != nil || c.AuthToken != secret {
		t.Fatalf("world-readable file: %q %v", c.AuthToken, err)
	}
	if w := c.Warnings(); len(w) != 1 || !strings.Contains(w[0], "readable by every user") || !strings.Contains(w[0], open) {
		t.Fatalf("warnings for a world-readable secret file = %v", w)
	}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"missing file", []string{"--auth_token_file", filepath.Join(dir, "absent")}, nil, "no such file"},
		{"empty file", []string{"--auth_token_file", write("empty", "\n", 0o600)}, nil, "is empty"},
		{"a directory", []string{"--auth_token_file", dir}, nil, "not a regular file"},
		{"both keys", []string{"--auth_token_file", private}, map[string]string{"NODE_AUTH_TOKEN": secret}, "set only one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := config.Load("run", tc.args, envOf(tc.env), io.Discard)
			var ce *config.Error
			if err == nil || !errors.As(err, &ce) || ce.Key != "auth_token_file" || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load = %v, want a *config.Error for auth_token_file mentioning %q", err, tc.want)
			}
		})
	}
}
