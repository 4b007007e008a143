package deploy_test

import (
	"net"
	"testing"

	"github.com/streamha/streamha/deploy"
	"github.com/streamha/streamha/node/config"
)

func TestLoadBalancerRoutesToTheActiveOnly(t *testing.T) {
	rs, _ := MustResources(t, nil)
	c := nodeContainer(t, nil)
	_, restPort, _ := net.SplitHostPort(c.env[config.EnvName("rest_listen")])
	tgPort := map[string]string{}
	for _, id := range ofType(rs, "AWS::ElasticLoadBalancingV2::TargetGroup") {
		p := rs[id].Properties
		tgPort["arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/"+id+"/0123456789abcdef"] = str(p, "Port")
		if str(p, "HealthCheckPath") != activePath || str(p, "HealthCheckProtocol") != "HTTP" {
			t.Errorf("%s: health check %s %s, want HTTP %s", id, str(p, "HealthCheckProtocol"), str(p, "HealthCheckPath"), activePath)
		}
		if hp := str(p, "HealthCheckPort"); hp != restPort {
			t.Errorf("%s: health check port %s, the node's REST port is %s", id, hp, restPort)
		}
		if str(p, "Matcher", "HttpCode") != "200" {
			t.Errorf("%s: only 200 may count as healthy (the passive answers 503)", id)
		}
		if str(p, "TargetType") != "ip" {
			t.Errorf("%s: awsvpc tasks need TargetType ip", id)
		}
	}
	want := map[string]string{ // listener port -> node listen key
		portOf(c.env[config.EnvName("rest_listen")]): "rest_listen",
		portOf(c.env[config.EnvName("tcp_listen")]):  "tcp_listen",
	}
	for _, id := range ofType(rs, "AWS::ElasticLoadBalancingV2::Listener") {
		p := rs[id].Properties
		port := str(p, "Port")
		key, ok := want[port]
		if !ok {
			t.Errorf("%s: listener port %s is neither HTTP nor TCP ingest", id, port)
			continue
		}
		delete(want, port)
		tg := str(p, "DefaultActions", "0", "TargetGroupArn")
		if tgPort[tg] != portOf(c.env[config.EnvName(key)]) {
			t.Errorf("%s: forwards to a target group on port %s, want the node's %s", id, tgPort[tg], key)
		}
	}
	for port, key := range want {
		t.Errorf("no listener for %s (port %s)", key, port)
	}
}

func portOf(hostport string) string {
	_, p, _ := net.SplitHostPort(hostport)
	return p
}

type rule struct{ port, source string }

// ingress collects (port, source security group) pairs opened in group, inline or standalone.
func ingress(rs map[string]deploy.Resource, group string) []rule {
	var out []rule
	add := func(r any) {
		src := str(r, "SourceSecurityGroupId")
		if src == "" {
			src = "cidr:" + str(r, "CidrIp")
		}
		out = append(out, rule{str(r, "FromPort"), src})
	}
	for _, id := range deploy.SortedKeys(rs) {
		r := rs[id]
		switch {
		case r.Type == "AWS::EC2::SecurityGroup" && "sg:"+id == group:
			for _, in := range list(r.Properties, "SecurityGroupIngress") {
				add(in)
			}
		case r.Type == "AWS::EC2::SecurityGroupIngress" && (str(r.Properties, "GroupId") == group || "sg:"+str(r.Properties, "GroupId") == group):
			add(r.Properties)
		}
	}
	return out
}

func TestSecurityGroups(t *testing.T) {
	rs, env := MustResources(t, nil)
	sg := func(id string) string { return env.Stack + "-" + id + "-ABC123" }
	node, fn := sg("NodeSecurityGroup"), sg("FunctionSecurityGroup")
	for _, r := range ingress(rs, node) {
		if r.port == "9893" && r.source != node {
			t.Errorf("event sync port open to %s: only the nodes may reach it", r.source)
		}
	}
	if !containsRule(ingress(rs, node), rule{"9893", node}) {
		t.Error("the nodes cannot reach each other's sync port 9893")
	}
	if len(ingress(rs, fn)) != 0 {
		t.Errorf("functions accept inbound traffic: %v", ingress(rs, fn))
	}
	check := func(name string, rules []rule) {
		t.Helper()
		var sources []string
		for _, r := range rules {
			if r.port != env.Params["DatabasePort"] {
				t.Errorf("%s: port %s open", name, r.port)
			}
			sources = append(sources, r.source)
		}
		if len(sources) != 2 || !contains(sources, node) || !contains(sources, fn) {
			t.Errorf("%s: database port open to %v, want exactly the nodes and the functions", name, sources)
		}
	}
	check("created database", ingress(rs, "sg:DatabaseSecurityGroup"))

	rs2, _ := MustResources(t, map[string]string{
		"DatabaseUrlSecretArn":    "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf",
		"DatabaseSecurityGroupId": "sg-0existing",
	})
	if _, ok := rs2["DatabaseSecurityGroup"]; ok {
		t.Error("DatabaseSecurityGroup created although the database exists")
	}
	check("existing database", ingress(rs2, "sg-0existing"))
}

func containsRule(rs []rule, r rule) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}
