package config_test

import (
	"crypto/tls"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamha/streamha/internal/testcert"
	"github.com/streamha/streamha/node/config"
)

// TestSourceTLSFiles: a good certificate and key load (TLS 1.2 minimum); a missing half, an
// unreadable file, a key that is not the certificate's, or a non-PEM file is refused at Load,
// naming the key.
func TestSourceTLSFiles(t *testing.T) {
	dir := t.TempDir()
	cert, key, _ := testcert.Write(t, dir)
	other := t.TempDir()
	_, otherKey, _ := testcert.Write(t, other)
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("not pem\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"--cluster_db", "sqlite://x.db"}

	c, _, err := config.Load("run", append(base, "--source_tls_cert_file", cert, "--source_tls_key_file", key), envOf(nil), io.Discard)
	if err != nil {
		t.Fatalf("good pair refused: %v", err)
	}
	tc, err := c.SourceTLS()
	if err != nil || tc == nil || len(tc.Certificates) != 1 || tc.MinVersion != tls.VersionTLS12 {
		t.Fatalf("SourceTLS = %+v, %v", tc, err)
	}
	if c.DatabridgeTLSListen != "127.0.0.1:9711" {
		t.Fatalf("databridge_tls_listen default %q", c.DatabridgeTLSListen)
	}
	if c, _, err := config.Load("run", base, envOf(nil), io.Discard); err != nil {
		t.Fatal(err)
	} else if tc, err := c.SourceTLS(); tc != nil || err != nil {
		t.Fatalf("no files: SourceTLS = %v, %v; want nil, nil", tc, err)
	}

	for _, tc := range []struct {
		name      string
		args      []string
		key, want string
	}{
		{"key only", []string{"--source_tls_key_file", key}, "source_tls_cert_file", "set both"},
		{"cert only", []string{"--source_tls_cert_file", cert}, "source_tls_key_file", "set both"},
		{"missing cert", []string{"--source_tls_cert_file", filepath.Join(dir, "absent.pem"), "--source_tls_key_file", key}, "source_tls_cert_file", "no such file"},
		{"missing key", []string{"--source_tls_cert_file", cert, "--source_tls_key_file", filepath.Join(dir, "absent.pem")}, "source_tls_key_file", "no such file"},
		{"mismatched key", []string{"--source_tls_cert_file", cert, "--source_tls_key_file", otherKey}, "source_tls_cert_file", "not a usable"},
		{"not pem", []string{"--source_tls_cert_file", junk, "--source_tls_key_file", key}, "source_tls_cert_file", "not a usable"},
		{"same port", []string{"--source_tls_cert_file", cert, "--source_tls_key_file", key, "--databridge_tls_listen", "127.0.0.1:9611"}, "databridge_tls_listen", "also databridge_listen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := config.Load("run", append(append([]string{}, base...), tc.args...), envOf(nil), io.Discard)
			var ce *config.Error
			if !errors.As(err, &ce) || ce.Key != tc.key || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a %s error containing %q", err, tc.key, tc.want)
			}
		})
	}
}
