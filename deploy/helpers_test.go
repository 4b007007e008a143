package deploy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/streamha/streamha/deploy"
)

const templatePath = "../template.yaml"

// requiredParams are the parameters without a default, set as `sam deploy --guided` would.
var requiredParams = map[string]string{
	"VpcId":     "vpc-0123456789abcdef0",
	"SubnetIds": "subnet-0aaaaaaaaaaaaaaaa,subnet-0bbbbbbbbbbbbbbbb",
	"NodeImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/streamha-node:test",
}

// MustResources loads the template and evaluates it with the defaults plus overrides.
func MustResources(tb testing.TB, overrides map[string]string) (map[string]deploy.Resource, *deploy.Env) {
	tb.Helper()
	t, err := deploy.Load(templatePath)
	if err != nil {
		tb.Fatal(err)
	}
	params := map[string]string{}
	for k, v := range requiredParams {
		params[k] = v
	}
	for k, v := range overrides {
		params[k] = v
	}
	env, err := deploy.NewEnv(t, params)
	if err != nil {
		tb.Fatal(err)
	}
	rs, err := env.Resources()
	if err != nil {
		tb.Fatal(err)
	}
	return rs, env
}

// MustResource returns one resource of the expected type.
func MustResource(tb testing.TB, rs map[string]deploy.Resource, id, typ string) deploy.Resource {
	tb.Helper()
	r, ok := rs[id]
	if !ok {
		tb.Fatalf("template has no resource %s", id)
	}
	if r.Type != typ {
		tb.Fatalf("%s is %s, want %s", id, r.Type, typ)
	}
	return r
}

// ofType lists the ids of resources of a type, sorted.
func ofType(rs map[string]deploy.Resource, typ string) []string {
	var out []string
	for _, id := range deploy.SortedKeys(rs) {
		if rs[id].Type == typ {
			out = append(out, id)
		}
	}
	return out
}

// get walks a path of map keys and list indexes ("0") through v.
func get(v any, path ...string) any {
	for _, p := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			i := 0
			for _, c := range p {
				i = i*10 + int(c-'0')
			}
			if i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func str(v any, path ...string) string {
	s, _ := get(v, path...).(string)
	return s
}

func list(v any, path ...string) []any {
	l, _ := get(v, path...).([]any)
	return l
}

// requireTool finds a program; missing, the test fails under CI=true and is skipped otherwise.
func requireTool(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s is required by this test and is not on PATH", name)
		}
		tb.Skipf("%s not on PATH (set CI=true to make this a failure)", name)
	}
	return p
}

// repoRoot is the module root (the parent of deploy/).
func repoRoot(tb testing.TB) string {
	tb.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("cannot locate the test source")
	}
	return filepath.Dir(filepath.Dir(file))
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func hasPrefixAny(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
