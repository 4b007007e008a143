package deploy_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/streamha/streamha/deploy"
	"github.com/streamha/streamha/lambdas/alarmhandler"
	"github.com/streamha/streamha/lambdas/healthmirror"
	"github.com/streamha/streamha/lambdas/restarter"
)

// codeActions is what each function's code says it calls (its exported IAMActions).
var codeActions = map[string][]string{
	"HealthMirrorFunction": healthmirror.IAMActions,
	"AlarmHandlerFunction": alarmhandler.IAMActions,
	"RestarterFunction":    restarter.IAMActions,
}

// wildcardOnly are actions AWS accepts only on Resource "*" (no resource-level permissions).
var wildcardOnly = []string{"ecr:GetAuthorizationToken", "cloudwatch:PutMetricData", "elasticloadbalancing:DescribeTargetHealth"}

type statement struct {
	actions   []string
	resources []string
}

func statements(policies any) []statement {
	var out []statement
	for _, pol := range list(map[string]any{"p": policies}, "p") {
		doc := pol
		if d := get(pol, "PolicyDocument"); d != nil {
			doc = d
		}
		for _, s := range list(doc, "Statement") {
			if str(s, "Effect") != "Allow" {
				continue
			}
			out = append(out, statement{actions: deploy.Strings(get(s, "Action")), resources: deploy.Strings(get(s, "Resource"))})
		}
	}
	return out
}

func TestFunctionPoliciesGrantExactlyWhatTheCodeCalls(t *testing.T) {
	rs, env := MustResources(t, nil)
	clusterName := env.Stack
	for id, want := range codeActions {
		p := MustResource(t, rs, id, "AWS::Serverless::Function").Properties
		var granted []string
		for _, s := range statements(get(p, "Policies")) {
			for _, a := range s.actions {
				if strings.HasSuffix(a, "*") {
					t.Errorf("%s: wildcard action %s", id, a)
				}
				granted = append(granted, a)
				for _, r := range s.resources {
					switch {
					case r == "*":
						if !contains(wildcardOnly, a) {
							t.Errorf("%s: %s on \"*\": scope it to a resource", id, a)
						}
					case strings.HasPrefix(a, "ecs:"):
						if !hasPrefixAny(r, "arn:aws:ecs:us-east-1:123456789012:task/"+clusterName+"/",
							"arn:aws:ecs:us-east-1:123456789012:service/"+clusterName+"/") {
							t.Errorf("%s: %s on %s: not scoped to this stack's cluster", id, a, r)
						}
					case strings.HasPrefix(a, "elasticloadbalancing:"):
						if !hasPrefixAny(r, "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/HttpIngestTargetGroup/",
							"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/TcpIngestTargetGroup/") {
							t.Errorf("%s: %s on %s: not one of this stack's ingest target groups", id, a, r)
						}
					case strings.HasPrefix(a, "dynamodb:"):
						if !strings.HasPrefix(r, "arn:aws:dynamodb:us-east-1:123456789012:table/") || !strings.Contains(r, "LedgerTable") {
							t.Errorf("%s: %s on %s: not the ledger table", id, a, r)
						}
					}
				}
			}
		}
		slices.Sort(granted)
		granted = slices.Compact(granted)
		w := slices.Clone(want)
		slices.Sort(w)
		for _, a := range w {
			if !contains(granted, a) {
				t.Errorf("%s: the code calls %s but the policy does not grant it", id, a)
			}
		}
		for _, a := range granted {
			if !contains(w, a) {
				t.Errorf("%s: the policy grants %s which the code does not call (least privilege)", id, a)
			}
		}
	}
}

func TestNoECSActionOnWildcardAnywhere(t *testing.T) {
	rs, _ := MustResources(t, nil)
	for _, id := range deploy.SortedKeys(rs) {
		r := rs[id]
		var pols any
		switch r.Type {
		case "AWS::Serverless::Function":
			pols = get(r.Properties, "Policies")
		case "AWS::IAM::Role":
			pols = get(r.Properties, "Policies")
		default:
			continue
		}
		for _, s := range statements(pols) {
			for _, a := range s.actions {
				if a == "*" || a == "ecs:*" {
					t.Errorf("%s: action %q", id, a)
				}
				if strings.HasPrefix(a, "ecs:") && contains(s.resources, "*") {
					t.Errorf("%s: %s on \"*\"", id, a)
				}
				if contains(s.resources, "*") && !contains(wildcardOnly, a) {
					t.Errorf("%s: %s on \"*\" although it supports resource-level permissions", id, a)
				}
			}
		}
	}
}

func TestExecutionRoleReadsOnlyItsSecrets(t *testing.T) {
	for _, tc := range []struct {
		name   string
		params map[string]string
		url    string
	}{
		{"created database", nil, "arn:aws:secretsmanager:us-east-1:123456789012:secret:DatabaseUrlSecret-AbCdEf"},
		{"existing database", map[string]string{"DatabaseUrlSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:mine-XyZ123"},
			"arn:aws:secretsmanager:us-east-1:123456789012:secret:mine-XyZ123"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, _ := MustResources(t, tc.params)
			role := MustResource(t, rs, "NodeExecutionRole", "AWS::IAM::Role").Properties
			var secrets []string
			for _, s := range statements(get(role, "Policies")) {
				if contains(s.actions, "secretsmanager:GetSecretValue") {
					secrets = append(secrets, s.resources...)
				}
			}
			slices.Sort(secrets)
			want := []string{"arn:aws:secretsmanager:us-east-1:123456789012:secret:NodeAuthTokenSecret-AbCdEf", tc.url}
			slices.Sort(want)
			if !slices.Equal(secrets, want) {
				t.Errorf("execution role reads %v, want %v", secrets, want)
			}
			td := MustResource(t, rs, "NodeTaskDefinition", "AWS::ECS::TaskDefinition").Properties
			for _, s := range list(td, "ContainerDefinitions", "0", "Secrets") {
				if str(s, "Name") == "NODE_CLUSTER_DB" && str(s, "ValueFrom") != tc.url {
					t.Errorf("NODE_CLUSTER_DB from %q, want %q", str(s, "ValueFrom"), tc.url)
				}
			}
			_, created := rs["DatabaseCluster"]
			if created != (tc.params == nil) {
				t.Errorf("DatabaseCluster created = %v", created)
			}
		})
	}
}
