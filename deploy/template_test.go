package deploy_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/streamha/streamha/deploy"
	"github.com/streamha/streamha/lambdas/ledger"
)

var functionIDs = []string{"HealthMirrorFunction", "AlarmHandlerFunction", "RestarterFunction"}

// The merged view of each function (Globals included), as SAM deploys it.
func TestFunctionsRuntime(t *testing.T) {
	rs, _ := MustResources(t, nil)
	for _, id := range functionIDs {
		f := MustResource(t, rs, id, "AWS::Serverless::Function")
		p := f.Properties
		if str(p, "Runtime") != "provided.al2023" || str(p, "Handler") != "bootstrap" {
			t.Errorf("%s: Runtime %q Handler %q, want provided.al2023 / bootstrap", id, str(p, "Runtime"), str(p, "Handler"))
		}
		if a := deploy.Strings(get(p, "Architectures")); !slices.Equal(a, []string{"arm64"}) {
			t.Errorf("%s: Architectures %v, want [arm64] (deploy/sam.mk builds GOARCH=arm64)", id, a)
		}
		if str(f.Metadata, "BuildMethod") != "makefile" || str(p, "CodeUri") != "." {
			t.Errorf("%s: want Metadata.BuildMethod makefile and CodeUri .", id)
		}
		if len(list(p, "VpcConfig", "SubnetIds")) == 0 || len(list(p, "VpcConfig", "SecurityGroupIds")) == 0 {
			t.Errorf("%s: needs VpcConfig to reach the database", id)
		}
	}
}

func TestLedgerTableMatchesCode(t *testing.T) {
	rs, _ := MustResources(t, nil)
	p := MustResource(t, rs, "LedgerTable", "AWS::DynamoDB::Table").Properties
	var keys []string
	for _, k := range ledger.KeySchema() {
		keys = append(keys, aws.ToString(k.AttributeName)+"/"+string(k.KeyType))
	}
	var got []string
	for _, k := range list(p, "KeySchema") {
		got = append(got, str(k, "AttributeName")+"/"+str(k, "KeyType"))
	}
	if !slices.Equal(got, keys) {
		t.Errorf("KeySchema %v, code has %v", got, keys)
	}
	var defs, gotDefs []string
	for _, d := range ledger.AttributeDefinitions() {
		defs = append(defs, aws.ToString(d.AttributeName)+"/"+string(d.AttributeType))
	}
	for _, d := range list(p, "AttributeDefinitions") {
		gotDefs = append(gotDefs, str(d, "AttributeName")+"/"+str(d, "AttributeType"))
	}
	slices.Sort(defs)
	slices.Sort(gotDefs)
	if !slices.Equal(gotDefs, defs) {
		t.Errorf("AttributeDefinitions %v, code has %v", gotDefs, defs)
	}
	if got, want := str(p, "BillingMode"), string(ledger.CreateTableInput("x").BillingMode); got != want {
		t.Errorf("BillingMode %q, want %q", got, want)
	}
	if got := str(p, "TimeToLiveSpecification", "AttributeName"); got != ledger.TTLAttribute {
		t.Errorf("TTL attribute %q, code uses %q", got, ledger.TTLAttribute)
	}
	if str(p, "TimeToLiveSpecification", "Enabled") != "true" {
		t.Error("TTL must be enabled")
	}
	if str(p, "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled") != "true" {
		t.Error("point-in-time recovery must be enabled")
	}
}

func TestServiceReplacesTasksOneByOne(t *testing.T) {
	rs, _ := MustResources(t, nil)
	p := MustResource(t, rs, "NodeService", "AWS::ECS::Service").Properties
	if str(p, "DesiredCount") != "2" {
		t.Errorf("DesiredCount %q, want 2 (the pair)", str(p, "DesiredCount"))
	}
	dc := get(p, "DeploymentConfiguration")
	if str(dc, "MaximumPercent") != "100" || str(dc, "MinimumHealthyPercent") != "50" {
		t.Errorf("deployment %v: want MaximumPercent 100 and MinimumHealthyPercent 50 (one task at a time, never three nodes)", dc)
	}
	if str(dc, "DeploymentCircuitBreaker", "Enable") != "true" {
		t.Error("deployment circuit breaker must be on")
	}
	if get(p, "LoadBalancers") != nil {
		t.Error("the service must not be attached to the target groups: ECS would stop the passive, which fails /ha/active by design")
	}
	if str(p, "NetworkConfiguration", "AwsvpcConfiguration", "AssignPublicIp") != "DISABLED" {
		t.Error("node tasks must not get public IPs")
	}
}

func TestOutputs(t *testing.T) {
	tmpl, err := deploy.Load(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	outs, _ := tmpl["Outputs"].(map[string]any)
	for _, want := range []string{"LoadBalancerDnsName", "DashboardUrl", "LedgerTableName"} {
		if _, ok := outs[want]; !ok {
			t.Errorf("no output %s", want)
		}
	}
}

// Every `Resource: "*"` must carry a comment saying why AWS requires it.
func TestWildcardResourcesAreExplained(t *testing.T) {
	b, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) != `Resource: "*"` {
			continue
		}
		explained := false
		for j := max(0, i-4); j < i; j++ {
			if strings.HasPrefix(strings.TrimSpace(lines[j]), "#") && strings.Contains(lines[j], "*") {
				explained = true
			}
		}
		if !explained {
			t.Errorf("template.yaml:%d: Resource \"*\" without a comment saying why AWS requires it", i+1)
		}
	}
}
