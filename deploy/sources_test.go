package deploy_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/streamha/streamha/lambdas/elbapi"
	"github.com/streamha/streamha/lambdas/restarter"
	"github.com/streamha/streamha/node/config"
)

const sourceUsersArn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:source-users-AbCdEf"

// sourceParams turns on every optional app source: the databridge receiver and two
// receiver.url ports, with source_users from a secret.
var sourceParams = map[string]string{
	"DatabridgeEnabled": "true", "SourcePort1": "8006", "SourcePort2": "8007", "SourceUsersSecretArn": sourceUsersArn,
}

// sourcePorts are the ports sourceParams opens.
var sourcePorts = []string{"9611", "8006", "8007"}

// TestAppSourcePorts: each app source port is open from clients to the NLB and from the NLB to
// the nodes, has a listener forwarding to a target group on that port (health: the active
// only), a container port mapping, and both functions keep the nodes registered in that group
// (TARGET_GROUPS and the ELB permissions); the databridge listens on 0.0.0.0:9611 and
// source_users comes from the given secret, which the execution role may read. With the
// defaults none of it exists and the node keys keep their defaults.
func TestAppSourcePorts(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		rs, env := MustResources(t, nil)
		for _, p := range sourcePorts {
			for _, r := range append(ingress(rs, "sg:LoadBalancerSecurityGroup"), ingress(rs, env.Stack+"-NodeSecurityGroup-ABC123")...) {
				if r.port == p {
					t.Errorf("port %s open (%s) without its parameter", p, r.source)
				}
			}
		}
		for _, id := range []string{"DatabridgeTargetGroup", "DatabridgeListener", "SourcePort1TargetGroup", "SourcePort1Listener", "SourcePort2TargetGroup", "SourcePort2Listener"} {
			if _, ok := rs[id]; ok {
				t.Errorf("%s exists without its parameter", id)
			}
		}
		c := nodeContainer(t, nil)
		if v, ok := c.env[config.EnvName("databridge_listen")]; ok {
			t.Errorf("%s = %q without DatabridgeEnabled", config.EnvName("databridge_listen"), v)
		}
		if v, ok := c.secrets[config.EnvName("source_users")]; ok {
			t.Errorf("%s from %q without SourceUsersSecretArn", config.EnvName("source_users"), v)
		}
		if n := len(list(c.raw, "PortMappings")); n != 4 {
			t.Errorf("%d port mappings, want the node's 4", n)
		}
	})
	t.Run("sources", func(t *testing.T) {
		rs, env := MustResources(t, sourceParams)
		node := env.Stack + "-NodeSecurityGroup-ABC123"
		lbSG := env.Stack + "-LoadBalancerSecurityGroup-ABC123"
		c := nodeContainer(t, sourceParams)
		var mapped []string
		for _, m := range list(c.raw, "PortMappings") {
			mapped = append(mapped, str(m, "ContainerPort"))
		}
		tgPort := map[string]string{}
		for _, id := range ofType(rs, "AWS::ElasticLoadBalancingV2::TargetGroup") {
			tgPort["arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/"+id+"/0123456789abcdef"] = str(rs[id].Properties, "Port")
		}
		listeners := map[string]string{} // port → target group port
		for _, id := range ofType(rs, "AWS::ElasticLoadBalancingV2::Listener") {
			p := rs[id].Properties
			listeners[str(p, "Port")] = tgPort[str(p, "DefaultActions", "0", "TargetGroupArn")]
		}
		registered := map[string]map[string]bool{} // function → registered target group ports
		for _, fn := range []string{"RestarterFunction", "HealthMirrorFunction"} {
			vars := get(MustResource(t, rs, fn, "AWS::Serverless::Function").Properties, "Environment", "Variables")
			groups, err := elbapi.ParseTargetGroups(str(vars, restarter.EnvTargetGroups))
			if err != nil {
				t.Fatalf("%s %s: %v", fn, restarter.EnvTargetGroups, err)
			}
			registered[fn] = map[string]bool{}
			for _, g := range groups {
				if tgPort[g.ARN] != "" {
					registered[fn][tgPort[g.ARN]] = true
				}
			}
		}
		for _, p := range sourcePorts {
			if !containsRule(ingress(rs, "sg:LoadBalancerSecurityGroup"), rule{p, "cidr:" + env.Params["IngestAllowedCidr"]}) {
				t.Errorf("port %s: clients cannot reach the NLB", p)
			}
			if !containsRule(ingress(rs, node), rule{p, lbSG}) {
				t.Errorf("port %s: the NLB cannot reach the nodes (%v)", p, ingress(rs, node))
			}
			if listeners[p] != p {
				t.Errorf("port %s: listener forwards to a target group on port %q, want %s", p, listeners[p], p)
			}
			if !slices.Contains(mapped, p) {
				t.Errorf("port %s: no container port mapping (%v)", p, mapped)
			}
			for fn, ports := range registered {
				if !ports[p] {
					t.Errorf("port %s: %s does not register the nodes in its target group", p, fn)
				}
			}
		}
		if v := c.env[config.EnvName("databridge_listen")]; v != "0.0.0.0:9611" {
			t.Errorf("%s = %q, want 0.0.0.0:9611", config.EnvName("databridge_listen"), v)
		}
		if v := c.secrets[config.EnvName("source_users")]; v != sourceUsersArn {
			t.Errorf("%s from %q, want %s", config.EnvName("source_users"), v, sourceUsersArn)
		}
		role := MustResource(t, rs, "NodeExecutionRole", "AWS::IAM::Role").Properties
		var secrets []string
		for _, s := range statements(get(role, "Policies")) {
			if contains(s.actions, "secretsmanager:GetSecretValue") {
				secrets = append(secrets, s.resources...)
			}
		}
		if !slices.Contains(secrets, sourceUsersArn) {
			t.Errorf("the execution role cannot read the source_users secret: %v", secrets)
		}
	})
}

// TestSourcePortRules: a source port that takes one of the node's or the NLB's own ports, or
// both source ports alike, is refused before anything is created.
func TestSourcePortRules(t *testing.T) {
	for _, tc := range []struct {
		params map[string]string
		refuse string
	}{
		{map[string]string{"SourcePort1": "8006", "SourcePort2": "8007"}, ""},
		{map[string]string{"SourcePort1": "8006"}, ""},
		{map[string]string{"SourcePort1": "9090"}, "SourcePort1"},
		{map[string]string{"SourcePort2": "9611"}, "SourcePort2"},
		{map[string]string{"SourcePort1": "8006", "SourcePort2": "8006"}, "differ"},
	} {
		_, env := MustResources(t, tc.params)
		err := env.CheckRules()
		switch {
		case tc.refuse == "" && err != nil:
			t.Errorf("%v refused: %v", tc.params, err)
		case tc.refuse != "" && (err == nil || !strings.Contains(err.Error(), tc.refuse)):
			t.Errorf("%v: got %v, want a refusal naming %s", tc.params, err, tc.refuse)
		}
	}
}
