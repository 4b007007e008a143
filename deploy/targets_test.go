package deploy_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/streamha/streamha/lambdas/elbapi"
	"github.com/streamha/streamha/lambdas/restarter"
)

// The restarter registers the node tasks in the NLB's target groups (the service is not
// attached to them): its TARGET_GROUPS must name exactly the ingest target groups, each with the
// group's own port, and its ELB permissions must cover exactly those groups.
func TestRestarterRegistersTheNodesInEveryIngestTargetGroup(t *testing.T) {
	for _, tc := range []struct {
		name   string
		params map[string]string
		groups int
	}{{"defaults", nil, 2}, {"app sources", sourceParams, 5}} {
		t.Run(tc.name, func(t *testing.T) { checkRestarterTargets(t, tc.params, tc.groups) })
	}
}

func checkRestarterTargets(t *testing.T, params map[string]string, nGroups int) {
	rs, env := MustResources(t, params)
	fn := MustResource(t, rs, "RestarterFunction", "AWS::Serverless::Function").Properties
	vars := get(fn, "Environment", "Variables")
	groups, err := elbapi.ParseTargetGroups(str(vars, restarter.EnvTargetGroups))
	if err != nil {
		t.Fatalf("%s: %v", restarter.EnvTargetGroups, err)
	}
	var got, want []string
	for _, g := range groups {
		got = append(got, g.String())
	}
	var arns []string
	for _, id := range ofType(rs, "AWS::ElasticLoadBalancingV2::TargetGroup") {
		tg := rs[id].Properties
		if str(tg, "TargetType") != "ip" {
			t.Errorf("%s: TargetType %q, want ip (the restarter registers task IPs)", id, str(tg, "TargetType"))
		}
		arn := fmt.Sprintf("arn:aws:elasticloadbalancing:%s:%s:targetgroup/%s/0123456789abcdef", env.Region, env.Account, id)
		arns = append(arns, arn)
		want = append(want, arn+"="+str(tg, "Port"))
	}
	slices.Sort(got)
	slices.Sort(want)
	if len(want) != nGroups || !slices.Equal(got, want) {
		t.Errorf("%s = %v, want every ingest target group on its port %v", restarter.EnvTargetGroups, got, want)
	}
	svc := MustResource(t, rs, "NodeService", "AWS::ECS::Service").Properties
	if s := str(vars, restarter.EnvService); s == "" || s != str(svc, "ServiceName") {
		t.Errorf("%s = %q, want the node service %q", restarter.EnvService, s, str(svc, "ServiceName"))
	}
	var elbResources []string
	for _, s := range statements(get(fn, "Policies")) {
		for _, a := range s.actions {
			if strings.HasPrefix(a, "elasticloadbalancing:") {
				elbResources = append(elbResources, s.resources...)
			}
		}
	}
	slices.Sort(elbResources)
	elbResources = slices.Compact(elbResources)
	slices.Sort(arns)
	if !slices.Equal(elbResources, arns) {
		t.Errorf("ELB actions on %v, want exactly the target groups %v", elbResources, arns)
	}
}
