package config_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamha/streamha/node/config"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestDefaults(t *testing.T) {
	c, _, err := config.Load("run", nil, envOf(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.HeartbeatInterval != 250*time.Millisecond || c.Lease != 1500*time.Millisecond || c.RenewDeadline != time.Second {
		t.Errorf("timing defaults = %s %s %s", c.HeartbeatInterval, c.Lease, c.RenewDeadline)
	}
	if c.PersistenceURL() != c.ClusterDB || c.SyncMode != "ack" || c.RevisionsToKeep != 3 || c.PersistInterval != 30*time.Second {
		t.Errorf("defaults: %+v", c)
	}
	if c.NodeID == "" {
		t.Error("node_id should default to the host name")
	}
}

func TestPrecedenceFlagEnvFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "node.yaml")
	os.WriteFile(file, []byte("group: from-file\nlease: 3s\nrenew_deadline: 2s\nnode_id: a\n"), 0o644)
	c, _, err := config.Load("run", []string{"--config", file, "--node_id", "from-flag"},
		envOf(map[string]string{"NODE_GROUP": "from-env", "NODE_NODE_ID": "from-env"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Group != "from-env" || c.NodeID != "from-flag" || c.Lease != 3*time.Second {
		t.Errorf("got group %q node %q lease %s", c.Group, c.NodeID, c.Lease)
	}
}

func TestErrorsNameTheKey(t *testing.T) {
	dir := t.TempDir()
	n := 0
	write := func(body string) string {
		n++
		p := filepath.Join(dir, fmt.Sprintf("c%d.yaml", n))
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"bad duration in env", nil, map[string]string{"NODE_LEASE": "soon"}, []string{"lease", "NODE_LEASE", "not a duration"}},
		{"bad flag", []string{"--sync_mode", "maybe"}, nil, []string{"sync_mode", "--sync_mode", "ack, async"}},
		{"deadline not below lease", []string{"--renew_deadline", "2s"}, nil, []string{"renew_deadline", "shorter than lease"}},
		{"interval not below deadline", []string{"--heartbeat_interval", "1s"}, nil, []string{"heartbeat_interval"}},
		{"unknown yaml key", []string{"--config", write("leese: 1s\n")}, nil, []string{"leese", "line 1", "unknown key"}},
		{"bad db url", []string{"--cluster_db", "mysql://x"}, nil, []string{"cluster_db", "sqlite:// or postgres://"}},
		{"bad listen", []string{"--rest_listen", "9090"}, nil, []string{"rest_listen", "host:port"}},
		{"tiny queue", []string{"--passive_queue_max_bytes", "10"}, nil, []string{"passive_queue_max_bytes", "minimum"}},
		{"not yaml", []string{"--config", write("lease: [1\n")}, nil, []string{"not valid YAML"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := config.Load("run", tc.args, envOf(tc.env), io.Discard)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Errorf("error %T is not a *config.Error", err)
			}
		})
	}
}

func TestSizesAndUnknownEnv(t *testing.T) {
	c, _, err := config.Load("run", []string{"--passive_queue_max_bytes", "64MiB"}, envOf(nil), io.Discard)
	if err != nil || c.PassiveQueueMaxBytes != 64<<20 {
		t.Fatalf("64MiB = %d, %v", c.PassiveQueueMaxBytes, err)
	}
	for v, want := range map[string]int64{"160MiB": 160 << 20, "0": 0, "1GiB": 1 << 30} {
		c, _, err := config.Load("run", []string{"--memory_limit", v}, envOf(nil), io.Discard)
		if err != nil || c.MemoryLimit != want {
			t.Fatalf("memory_limit %s = %d, %v", v, c.MemoryLimit, err)
		}
	}
	if _, _, err := config.Load("run", []string{"--memory_limit", "16MiB"}, envOf(nil), io.Discard); err == nil || !strings.Contains(err.Error(), "memory_limit") {
		t.Fatalf("memory_limit 16MiB: err %v, want one naming the key", err)
	}
	bad := config.UnknownEnv([]string{"NODE_LEASE=1s", "NODE_LAESE=2s", "NODE_OPTIONS=x", "PATH=/bin"})
	if len(bad) != 1 || bad[0] != "NODE_LAESE" {
		t.Fatalf("unknown env = %v", bad)
	}
}

func TestAdvertised(t *testing.T) {
	if got := config.Advertised("10.0.0.9:1", "0.0.0.0:9893"); got != "10.0.0.9:1" {
		t.Errorf("explicit advertise ignored: %s", got)
	}
	if got := config.Advertised("", "127.0.0.1:9893"); got != "127.0.0.1:9893" {
		t.Errorf("loopback listen = %s", got)
	}
	got := config.Advertised("", "0.0.0.0:9893")
	if strings.HasPrefix(got, "0.0.0.0") || !strings.HasSuffix(got, ":9893") {
		t.Errorf("unspecified listen advertised as %s", got)
	}
}

// The switchover on SIGTERM gets a bounded share of the shutdown budget: the final persist
// keeps at least MinPersistReserve, and the admin API has a listener of its own.
func TestShutdownBudgetAndAdminListener(t *testing.T) {
	c, _, err := config.Load("run", nil, envOf(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.ShutdownTimeout != 110*time.Second || c.SwitchoverTimeout != 60*time.Second || c.AdminListen != "127.0.0.1:9091" || !c.TaskProtection {
		t.Errorf("defaults: shutdown %s switchover %s admin %q protection %v", c.ShutdownTimeout, c.SwitchoverTimeout, c.AdminListen, c.TaskProtection)
	}
	for _, tc := range []struct {
		env  map[string]string
		key  string
		want bool
	}{
		{map[string]string{"NODE_SHUTDOWN_TIMEOUT": "110s", "NODE_SWITCHOVER_TIMEOUT": "100s"}, "switchover_timeout", true},
		{map[string]string{"NODE_SHUTDOWN_TIMEOUT": "110s", "NODE_SWITCHOVER_TIMEOUT": "101s"}, "switchover_timeout", false},
		{map[string]string{"NODE_SHUTDOWN_TIMEOUT": "60s"}, "switchover_timeout", false},
		{map[string]string{"NODE_ADMIN_LISTEN": "127.0.0.1:9090"}, "admin_listen", false},
		{map[string]string{"NODE_ADMIN_LISTEN": ""}, "admin_listen", true},
		{map[string]string{"NODE_TASK_PROTECTION": "maybe"}, "task_protection", false},
	} {
		_, _, err := config.Load("run", nil, envOf(tc.env), io.Discard)
		if tc.want && err != nil {
			t.Errorf("%v: %v", tc.env, err)
		}
		if !tc.want && (err == nil || !strings.Contains(err.Error(), tc.key)) {
			t.Errorf("%v: error %v, want one naming %s", tc.env, err, tc.key)
		}
	}
}
