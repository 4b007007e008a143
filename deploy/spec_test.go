package deploy_test

import (
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/streamha/streamha/deploy"
)

// specPath is the AWS CloudFormation resource specification as the CDK ships it (npm package
// @aws-cdk/aws-service-spec, pinned in package.json; `make test` installs it). CFN_SPEC_DB
// overrides the path.
func specPath(tb testing.TB) string {
	if p := os.Getenv("CFN_SPEC_DB"); p != "" {
		return p
	}
	p := filepath.Join(repoRoot(tb), "node_modules", "@aws-cdk", "aws-service-spec", "db.json.gz")
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s missing: run `make npm-deps` (npm ci)", p)
		}
		tb.Skipf("%s missing (make npm-deps installs it; set CI=true to make this a failure)", p)
	}
	return p
}

type specProp struct {
	Type struct {
		Type      string `json:"type"`
		Reference *struct {
			Ref string `json:"$ref"`
		} `json:"reference"`
		Element *struct {
			Type      string `json:"type"`
			Reference *struct {
				Ref string `json:"$ref"`
			} `json:"reference"`
		} `json:"element"`
	} `json:"type"`
	Required bool `json:"required"`
}

type specEntity struct {
	ID         string              `json:"$id"`
	CfnType    string              `json:"cloudFormationType"`
	Name       string              `json:"name"`
	Properties map[string]specProp `json:"properties"`
}

type spec struct {
	resources map[string]specEntity // by CloudFormation type
	types     map[string]specEntity // property types by $id
}

func loadSpec(t *testing.T) spec {
	t.Helper()
	f, err := os.Open(specPath(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var db struct {
		Schema struct {
			Resource       struct{ Entities []specEntity } `json:"resource"`
			TypeDefinition struct{ Entities []specEntity } `json:"typeDefinition"`
		} `json:"schema"`
	}
	if err := json.NewDecoder(zr).Decode(&db); err != nil {
		t.Fatalf("decode the spec: %v", err)
	}
	s := spec{resources: map[string]specEntity{}, types: map[string]specEntity{}}
	for _, r := range db.Schema.Resource.Entities {
		s.resources[r.CfnType] = r
	}
	for _, d := range db.Schema.TypeDefinition.Entities {
		s.types[d.ID] = d
	}
	if len(s.resources) < 1000 {
		t.Fatalf("the spec has %d resource types: not the AWS specification", len(s.resources))
	}
	return s
}

// check validates an object's keys (and nested property types) against props.
func (s spec) check(t *testing.T, where string, obj map[string]any, props map[string]specProp) {
	t.Helper()
	for _, name := range deploy.SortedKeys(obj) {
		p, ok := props[name]
		if !ok {
			t.Errorf("%s: unknown property %q (valid: %v)", where, name, deploy.SortedKeys(props))
			continue
		}
		v := obj[name]
		switch {
		case p.Type.Type == "ref" && p.Type.Reference != nil:
			if m, ok := v.(map[string]any); ok {
				s.check(t, where+"."+name, m, s.types[p.Type.Reference.Ref].Properties)
			}
		case (p.Type.Type == "array" || p.Type.Type == "map") && p.Type.Element != nil && p.Type.Element.Type == "ref":
			ref := s.types[p.Type.Element.Reference.Ref].Properties
			switch x := v.(type) {
			case []any:
				for i, e := range x {
					if m, ok := e.(map[string]any); ok {
						s.check(t, where+"."+name+"["+string(rune('0'+i%10))+"]", m, ref)
					}
				}
			case map[string]any:
				if p.Type.Type == "map" {
					for k, e := range x {
						if m, ok := e.(map[string]any); ok {
							s.check(t, where+"."+name+"."+k, m, ref)
						}
					}
				}
			}
		}
	}
	for _, name := range deploy.SortedKeys(props) {
		if _, ok := obj[name]; props[name].Required && !ok {
			t.Errorf("%s: required property %q missing", where, name)
		}
	}
}

// samFunction are the AWS::Serverless::Function properties the template may use (the SAM
// specification; the transform is not in the CloudFormation one).
var samFunction = []string{"Architectures", "CodeUri", "Description", "Environment", "EventInvokeConfig", "Events",
	"FunctionName", "Handler", "MemorySize", "Policies", "Runtime", "Timeout", "VpcConfig"}

// Every resource's properties, nested ones included, against the AWS resource specification:
// a misspelled or invented property, or a missing required one, fails here, not at deploy time.
func TestResourcesMatchTheCloudFormationSpecification(t *testing.T) {
	s := loadSpec(t)
	// Three evaluations cover every conditional resource.
	for _, params := range []map[string]string{nil, {"CertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/x",
		"AlarmEmail": "ops@example.com", "AuroraReader": "true", "DatabaseUrlSecretArn": "", "DatabaseSecurityGroupId": "",
		"DatabridgeEnabled": "true", "SourcePort1": "8006", "SourcePort2": "8007", "SourceUsersSecretArn": sourceUsersArn},
		{"DatabaseUrlSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf", "DatabaseSecurityGroupId": "sg-0123456789abcdef0"}} {
		rs, _ := MustResources(t, params)
		for _, id := range deploy.SortedKeys(rs) {
			r := rs[id]
			if r.Type == "AWS::Serverless::Function" {
				for k := range r.Properties {
					if !slices.Contains(samFunction, k) {
						t.Errorf("%s: %q is not an AWS::Serverless::Function property this template knows", id, k)
					}
				}
				continue
			}
			rt, ok := s.resources[r.Type]
			if !ok {
				t.Errorf("%s: unknown resource type %s", id, r.Type)
				continue
			}
			s.check(t, id, r.Properties, rt.Properties)
		}
	}
}
