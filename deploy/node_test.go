package deploy_test

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/streamha/streamha/deploy"
	"github.com/streamha/streamha/node/config"
	"github.com/streamha/streamha/node/rest"
)

// activePath is the node's active-only endpoint, from the node's own REST package.
const activePath = rest.ActivePath

type container struct {
	env, secrets map[string]string
	raw          any
}

func nodeContainer(t *testing.T, params map[string]string) container {
	t.Helper()
	rs, _ := MustResources(t, params)
	td := MustResource(t, rs, "NodeTaskDefinition", "AWS::ECS::TaskDefinition").Properties
	c := get(td, "ContainerDefinitions", "0")
	out := container{env: map[string]string{}, secrets: map[string]string{}, raw: c}
	for _, e := range list(c, "Environment") {
		out.env[str(e, "Name")] = str(e, "Value")
	}
	for _, s := range list(c, "Secrets") {
		out.secrets[str(s, "Name")] = str(s, "ValueFrom")
	}
	return out
}

func TestTaskDefinitionVariablesAreNodeKeys(t *testing.T) {
	c := nodeContainer(t, nil)
	known := map[string]bool{}
	for _, k := range config.Keys() {
		known[k.Env] = true
	}
	for name := range c.env {
		if !known[name] {
			t.Errorf("environment %s is not a node configuration key", name)
		}
	}
	for name := range c.secrets {
		if !known[name] {
			t.Errorf("secret %s is not a node configuration key", name)
		}
	}
	for _, want := range []string{config.EnvName("cluster_db"), config.EnvName("auth_token")} {
		if c.secrets[want] == "" {
			t.Errorf("%s must come from Secrets Manager", want)
		}
	}
	for _, k := range []string{"rest_listen", "sync_listen", "tcp_listen"} {
		host, _, _ := net.SplitHostPort(c.env[config.EnvName(k)])
		if host != "0.0.0.0" {
			t.Errorf("%s = %q: in ECS the node must listen on 0.0.0.0", k, c.env[config.EnvName(k)])
		}
	}
	stop, _ := strconv.Atoi(str(c.raw, "StopTimeout"))
	if stop < 60 || stop > 120 {
		t.Errorf("StopTimeout %d: want 60..120 s (drain, persist, hand over; Fargate allows at most 120)", stop)
	}
	hc := strings.Join(deploy.Strings(get(c.raw, "HealthCheck", "Command")), " ")
	if !strings.HasSuffix(hc, ":9090"+rest.ReadyPath) || strings.Contains(hc, activePath) {
		t.Errorf("container health check %q must probe %s (readiness: active or passive in sync), never %s", hc, rest.ReadyPath, activePath)
	}
	if sp, _ := strconv.Atoi(str(c.raw, "HealthCheck", "StartPeriod")); sp < 300 {
		t.Errorf("health check StartPeriod %d: want 300 s (ECS's maximum) for the first snapshot transfer", sp)
	}
	// The node's shutdown fits the stop timeout, and the switchover leaves the persist its share.
	shutdown, err1 := time.ParseDuration(c.env[config.EnvName("shutdown_timeout")])
	switchover, err2 := time.ParseDuration(c.env[config.EnvName("switchover_timeout")])
	if err1 != nil || err2 != nil {
		t.Fatalf("shutdown_timeout/switchover_timeout must be set: %v %v", err1, err2)
	}
	if shutdown+5*time.Second > time.Duration(stop)*time.Second {
		t.Errorf("shutdown_timeout %s does not fit StopTimeout %d s with 5 s to exit before SIGKILL", shutdown, stop)
	}
	if switchover < 30*time.Second || switchover+config.MinPersistReserve > shutdown {
		t.Errorf("switchover_timeout %s: want >= 30s and at least %s of shutdown_timeout %s left for the final persist", switchover, config.MinPersistReserve, shutdown)
	}
	if str(c.raw, "LogConfiguration", "LogDriver") != "awslogs" {
		t.Error("want the awslogs log driver")
	}
	var ports []string
	for _, p := range list(c.raw, "PortMappings") {
		ports = append(ports, str(p, "ContainerPort"))
	}
	for _, k := range []string{"rest_listen", "admin_listen", "sync_listen", "tcp_listen"} {
		_, port, _ := net.SplitHostPort(c.env[config.EnvName(k)])
		if !contains(ports, port) {
			t.Errorf("%s port %s has no port mapping (%v)", k, port, ports)
		}
	}
}

// The node itself judges the task definition: `node check-config --strict-env` with exactly the
// template's variables (secrets replaced by placeholders of the right shape).
func TestNodeAcceptsTaskDefinitionEnvironment(t *testing.T) {
	goBin := requireTool(t, "go")
	bin := filepath.Join(t.TempDir(), "node")
	build := exec.Command(goBin, "build", "-o", bin, "./node")
	build.Dir = repoRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./node: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		name   string
		params map[string]string
	}{
		{"defaults", nil},
		{"existing database, async, debug", map[string]string{"DatabaseUrlSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf", "SyncMode": "async", "NodeLogLevel": "debug"}},
		{"kafka", map[string]string{"KafkaBootstrapServers": "b-1.msk.example:9094,b-2.msk.example:9094", "KafkaSecurityGroupId": "sg-0123456789abcdef0"}},
		{"app sources", sourceParams},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := nodeContainer(t, tc.params)
			placeholders := map[string]string{
				config.EnvName("cluster_db"):   "postgres://streamha:secret@db.example.internal:5432/streamha?sslmode=require",
				config.EnvName("auth_token"):   strings.Repeat("t", config.MinAuthTokenBytes), // the shortest a node accepts
				config.EnvName("source_users"): "publisher:secret,admin:other",
			}
			environ := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
			for k, v := range c.env {
				environ = append(environ, k+"="+v)
			}
			for k := range c.secrets {
				v, ok := placeholders[k]
				if !ok {
					t.Fatalf("no placeholder for secret %s", k)
				}
				environ = append(environ, k+"="+v)
			}
			cmd := exec.Command(bin, "check-config", "--strict-env")
			cmd.Env = environ
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("node check-config --strict-env rejects the task definition: %v\n%s", err, stderr.String())
			}
			// The effective configuration shows every template value.
			for _, k := range config.Keys() {
				v, ok := c.env[k.Env]
				if !ok {
					continue
				}
				if !strings.Contains(stdout.String(), k.Name+": "+strconv.Quote(v)) {
					t.Errorf("effective %s is not %q:\n%s", k.Name, v, stdout.String())
				}
			}
		})
	}
}

// TestNodeAuthTokenSecret: the secret the stack generates for the nodes is one a node accepts
// (at least config.MinAuthTokenBytes, nothing a shell or env file could mangle), and it is what
// the task definition passes as auth_token; without it a node refuses to start.
func TestNodeAuthTokenSecret(t *testing.T) {
	rs, _ := MustResources(t, nil)
	gen := get(MustResource(t, rs, "NodeAuthTokenSecret", "AWS::SecretsManager::Secret").Properties, "GenerateSecretString")
	n, err := strconv.Atoi(str(gen, "PasswordLength"))
	if err != nil || n < config.MinAuthTokenBytes {
		t.Errorf("NodeAuthTokenSecret PasswordLength %q: want at least %d (config.MinAuthTokenBytes)", str(gen, "PasswordLength"), config.MinAuthTokenBytes)
	}
	if str(gen, "ExcludePunctuation") != "true" {
		t.Error("NodeAuthTokenSecret should exclude punctuation (quotes and $ in an environment file or shell)")
	}
	c := nodeContainer(t, nil)
	if from := c.secrets[config.EnvName("auth_token")]; !strings.Contains(from, "NodeAuthTokenSecret") {
		t.Errorf("%s comes from %q, want the stack's NodeAuthTokenSecret", config.EnvName("auth_token"), from)
	}
	if _, ok := c.env[config.EnvName("auth_token_file")]; ok {
		t.Errorf("the task definition sets %s as well as the secret: a node refuses both", config.EnvName("auth_token_file"))
	}
}

// TestKafkaParameters: the Kafka bootstrap string reaches the nodes as KAFKA_BOOTSTRAP_SERVERS
// (for the apps' ${…} references) only when given.
func TestKafkaParameters(t *testing.T) {
	if v, ok := nodeContainer(t, nil).env["KAFKA_BOOTSTRAP_SERVERS"]; ok {
		t.Fatalf("KAFKA_BOOTSTRAP_SERVERS set without the parameter: %q", v)
	}
	c := nodeContainer(t, map[string]string{"KafkaBootstrapServers": "b-1.msk.example:9094"})
	if v := c.env["KAFKA_BOOTSTRAP_SERVERS"]; v != "b-1.msk.example:9094" {
		t.Fatalf("KAFKA_BOOTSTRAP_SERVERS = %q", v)
	}
}
