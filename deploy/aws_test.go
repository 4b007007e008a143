package deploy_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/streamha/streamha/deploy"
	"github.com/streamha/streamha/lambdas/lambdaenv"
	"github.com/streamha/streamha/node/config"
)

// Deployments replace the passive first and switch over once: the active protects its task
// (the task role may do exactly that, on this cluster's tasks), AZ rebalancing never stops it,
// and the no-active and split-brain alarms roll a deployment back.
func TestDeploymentsSwitchOverOnce(t *testing.T) {
	rs, env := MustResources(t, nil)
	svc := MustResource(t, rs, "NodeService", "AWS::ECS::Service").Properties
	if str(svc, "AvailabilityZoneRebalancing") != "DISABLED" {
		t.Error("AvailabilityZoneRebalancing must be DISABLED: a rebalance stops a healthy task, maybe the active")
	}
	al := get(svc, "DeploymentConfiguration", "Alarms")
	names := deploy.Strings(get(al, "AlarmNames"))
	if str(al, "Enable") != "true" || str(al, "Rollback") != "true" ||
		!slices.Contains(names, env.Stack+"-no-active") || !slices.Contains(names, env.Stack+"-split-brain") {
		t.Errorf("deployment alarms %v: want no-active and split-brain, enabled, with rollback", al)
	}
	td := MustResource(t, rs, "NodeTaskDefinition", "AWS::ECS::TaskDefinition").Properties
	if str(td, "TaskRoleArn") != "streamha-test-NodeTaskRole-ABC123.Arn" {
		t.Errorf("TaskRoleArn %q, want NodeTaskRole", str(td, "TaskRoleArn"))
	}
	role := MustResource(t, rs, "NodeTaskRole", "AWS::IAM::Role").Properties
	var actions []string
	for _, s := range statements(get(role, "Policies")) {
		actions = append(actions, s.actions...)
		for _, r := range s.resources {
			if !strings.HasPrefix(r, "arn:aws:ecs:us-east-1:123456789012:task/"+env.Stack+"/") {
				t.Errorf("task role: %v on %s, not scoped to this cluster's tasks", s.actions, r)
			}
		}
	}
	slices.Sort(actions)
	if !slices.Equal(actions, []string{"ecs:GetTaskProtection", "ecs:UpdateTaskProtection"}) {
		t.Errorf("task role actions %v, want exactly the task protection calls", actions)
	}
	c := nodeContainer(t, nil)
	if v := c.env[config.EnvName("task_protection")]; v != "true" {
		t.Errorf("task_protection = %q", v)
	}
}

// The mutating admin API has its own port, open only to the node security group and never
// behind the load balancer; the public listener may offer TLS with an ACM certificate.
func TestAdminAPIIsNotExposed(t *testing.T) {
	rs, env := MustResources(t, nil)
	c := nodeContainer(t, nil)
	admin := portOf(c.env[config.EnvName("admin_listen")])
	if admin == "" || admin == portOf(c.env[config.EnvName("rest_listen")]) {
		t.Fatalf("admin_listen %q must be its own port", c.env[config.EnvName("admin_listen")])
	}
	node := env.Stack + "-NodeSecurityGroup-ABC123"
	for _, r := range ingress(rs, node) {
		if r.port == admin && r.source != node {
			t.Errorf("admin port %s open to %s", admin, r.source)
		}
	}
	for _, id := range ofType(rs, "AWS::ElasticLoadBalancingV2::TargetGroup") {
		if str(rs[id].Properties, "Port") == admin {
			t.Errorf("%s targets the admin port", id)
		}
	}
	for _, r := range ingress(rs, "sg:LoadBalancerSecurityGroup") {
		if r.port == admin {
			t.Error("the load balancer's security group opens the admin port")
		}
	}
	if _, ok := rs["TlsIngestListener"]; ok {
		t.Error("a TLS listener without a certificate")
	}
	rs2, _ := MustResources(t, map[string]string{"CertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/1234abcd-12ab-34cd-56ef-1234567890ab"})
	tls := MustResource(t, rs2, "TlsIngestListener", "AWS::ElasticLoadBalancingV2::Listener").Properties
	if str(tls, "Protocol") != "TLS" || str(tls, "Certificates", "0", "CertificateArn") == "" ||
		!strings.Contains(str(tls, "DefaultActions", "0", "TargetGroupArn"), "HttpIngestTargetGroup") {
		t.Errorf("TLS listener %v: want TLS with the certificate, forwarding to HTTP ingest", tls)
	}
	if !containsRule(ingress(rs2, "sg:LoadBalancerSecurityGroup"), rule{str(tls, "Port"), "cidr:10.0.0.0/8"}) {
		t.Error("the TLS port is not open to the ingest clients")
	}
}

// The functions get the URL secret's ARN, never the URL; every function's asynchronous
// failures and every rule's undeliverable events go to the dead-letter queue.
func TestFunctionsReadTheSecretAndHaveDeadLetters(t *testing.T) {
	rs, _ := MustResources(t, nil)
	secret := "arn:aws:secretsmanager:us-east-1:123456789012:secret:DatabaseUrlSecret-AbCdEf"
	dlq := "arn:aws:sqs:us-east-1:123456789012:streamha-test-EventDeadLetterQueue-ABC123"
	for _, id := range functionIDs {
		p := rs[id].Properties
		vars := get(p, "Environment", "Variables")
		if u := str(rs["DatabaseUrlSecret"].Properties, "SecretString"); !strings.Contains(u, "sslmode=verify-full") {
			t.Errorf("the created URL %q does not verify the server (sslmode=verify-full)", u)
		}
		if str(vars, lambdaenv.ClusterDBURL) != "" {
			t.Errorf("%s: %s set: the password would sit in the environment", id, lambdaenv.ClusterDBURL)
		}
		if str(vars, lambdaenv.ClusterDBURLSecretARN) != secret {
			t.Errorf("%s: %s = %q, want %s", id, lambdaenv.ClusterDBURLSecretARN, str(vars, lambdaenv.ClusterDBURLSecretARN), secret)
		}
		// verify-full needs the RDS CA bundle: deploy/sam.mk puts it beside bootstrap.
		if str(vars, "PGSSLROOTCERT") != "/var/task/rds-global-bundle.pem" {
			t.Errorf("%s: PGSSLROOTCERT %q, want the bundle deploy/sam.mk ships", id, str(vars, "PGSSLROOTCERT"))
		}
		var secrets []string
		for _, s := range statements(get(p, "Policies")) {
			if slices.Contains(s.actions, "secretsmanager:GetSecretValue") {
				secrets = append(secrets, s.resources...)
			}
		}
		if !slices.Equal(secrets, []string{secret}) {
			t.Errorf("%s: GetSecretValue on %v, want only %s", id, secrets, secret)
		}
		if str(p, "EventInvokeConfig", "DestinationConfig", "OnFailure", "Destination") != dlq {
			t.Errorf("%s: no on-failure destination to the dead-letter queue", id)
		}
		evs, _ := get(p, "Events").(map[string]any)
		for name, ev := range evs {
			if str(ev, "Properties", "DeadLetterConfig", "Arn") != dlq {
				t.Errorf("%s.%s: no dead-letter queue", id, name)
			}
		}
	}
}

// What must outlive the stack or an accidental delete.
func TestRetentionAndDeletionProtection(t *testing.T) {
	tmpl, err := deploy.Load(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	for id, r := range tmpl["Resources"].(map[string]any) {
		m := r.(map[string]any)
		switch m["Type"] {
		case "AWS::SecretsManager::Secret", "AWS::Logs::LogGroup", "AWS::DynamoDB::Table":
			if m["DeletionPolicy"] != "Retain" || m["UpdateReplacePolicy"] != "Retain" {
				t.Errorf("%s: DeletionPolicy %v UpdateReplacePolicy %v, want Retain", id, m["DeletionPolicy"], m["UpdateReplacePolicy"])
			}
		}
	}
	rs, _ := MustResources(t, nil)
	if str(rs["LedgerTable"].Properties, "DeletionProtectionEnabled") != "true" {
		t.Error("ledger table without deletion protection")
	}
	if str(rs["DatabaseCluster"].Properties, "DeletionProtection") != "true" {
		t.Error("Aurora cluster without deletion protection")
	}
}

// Parameters refuse malformed values before anything is created, and the rules refuse an
// internet-facing load balancer without its subnets.
func TestParameterConstraintsAndRules(t *testing.T) {
	tmpl, err := deploy.Load(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	params := tmpl["Parameters"].(map[string]any)
	check := func(name, v string, ok bool) {
		t.Helper()
		p := params[name].(map[string]any)
		if pat, has := p["AllowedPattern"]; has {
			if regexp.MustCompile(pat.(string)).MatchString(v) != ok {
				t.Errorf("%s=%q: pattern %s accepts = %v, want %v", name, v, pat, !ok, ok)
			}
			return
		}
		t.Errorf("%s has no AllowedPattern", name)
	}
	for _, d := range []string{"HeartbeatInterval", "Lease", "RenewDeadline", "PersistInterval"} {
		check(d, "6s", true)
		check(d, "500ms", true)
		check(d, "six seconds", false)
		check(d, "6", false)
	}
	check("NodeImage", requiredParams["NodeImage"], true)
	check("NodeImage", "docker.io/library/node:latest", false)
	check("DatabaseUrlSecretArn", "", true)
	check("DatabaseUrlSecretArn", "my-secret", false)
	check("CertificateArn", "arn:aws:acm:us-east-1:123456789012:certificate/abc-123", true)
	check("CertificateArn", "arn:aws:iam::123456789012:server-certificate/x", false)
	check("DatabaseSecurityGroupId", "sg-0123456789abcdef0", true)
	check("DatabaseSecurityGroupId", "default", false)
	for _, n := range []string{"DatabasePort", "AuroraMinCapacity", "AuroraMaxCapacity"} {
		p := params[n].(map[string]any)
		if p["MinValue"] == nil || p["MaxValue"] == nil {
			t.Errorf("%s: want MinValue and MaxValue", n)
		}
	}
	for _, tc := range []struct {
		params map[string]string
		ok     bool
	}{
		{nil, true},
		{map[string]string{"LoadBalancerScheme": "internet-facing"}, false},
		{map[string]string{"LoadBalancerScheme": "internet-facing", "LoadBalancerSubnetIds": "subnet-0public1,subnet-0public2"}, true},
	} {
		p := map[string]string{}
		for k, v := range requiredParams {
			p[k] = v
		}
		for k, v := range tc.params {
			p[k] = v
		}
		env, err := deploy.NewEnv(tmpl, p)
		if err != nil {
			t.Fatal(err)
		}
		if err := env.CheckRules(); (err == nil) != tc.ok {
			t.Errorf("%v: rules say %v", tc.params, err)
		}
	}
}

// The execution role pulls from the image's own repository only.
func TestImagePullScopedToItsRepository(t *testing.T) {
	rs, _ := MustResources(t, nil)
	role := MustResource(t, rs, "NodeExecutionRole", "AWS::IAM::Role").Properties
	for _, s := range statements(get(role, "Policies")) {
		if !slices.Contains(s.actions, "ecr:BatchGetImage") {
			continue
		}
		if !slices.Equal(s.resources, []string{"arn:aws:ecr:us-east-1:123456789012:repository/streamha-node"}) {
			t.Errorf("ECR pull on %v, want the NodeImage repository only", s.resources)
		}
		return
	}
	t.Error("no ECR pull statement")
}
