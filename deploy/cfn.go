// Package deploy holds what ships the system to AWS besides the code: the SAM template at the
// repository root is checked here against the code (node configuration keys, metric names, the
// ledger's key schema, IAM actions), deploy/sam.mk builds the functions, deploy/healthcheck is
// the container's health probe.
//
// goformation parses the template but resolves Ref only to parameter defaults, GetAtt to nil
// and ignores Globals, so this file also reads the YAML itself (short tags included) and
// evaluates the intrinsic functions the template uses with fake but well-formed resource ids.
package deploy

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Template is a CloudFormation template as plain maps, lists and strings, with every intrinsic
// function in its long form ({"Ref": x}, {"Fn::Sub": ...}).
type Template map[string]any

// Load reads a YAML template, turning short tags (!Ref, !Sub, !GetAtt ...) into long forms.
func Load(path string) (Template, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	v, err := fromNode(doc.Content[0])
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("parse %s: top level is not a mapping", path)
	}
	return m, nil
}

func fromNode(n *yaml.Node) (any, error) {
	var v any
	switch n.Kind {
	case yaml.AliasNode:
		return fromNode(n.Alias)
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			val, err := fromNode(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = val
		}
		v = m
	case yaml.SequenceNode:
		l := []any{}
		for _, c := range n.Content {
			val, err := fromNode(c)
			if err != nil {
				return nil, err
			}
			l = append(l, val)
		}
		v = l
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			v = nil
		} else {
			v = n.Value
		}
	default:
		return nil, fmt.Errorf("line %d: unexpected YAML node", n.Line)
	}
	if !strings.HasPrefix(n.Tag, "!") || strings.HasPrefix(n.Tag, "!!") {
		return v, nil
	}
	tag := strings.TrimPrefix(n.Tag, "!")
	switch tag {
	case "Ref", "Condition":
		return map[string]any{tag: v}, nil
	case "GetAtt":
		if s, ok := v.(string); ok {
			res, attr, _ := strings.Cut(s, ".")
			return map[string]any{"Fn::GetAtt": []any{res, attr}}, nil
		}
	}
	return map[string]any{"Fn::" + tag: v}, nil
}

// Env is what intrinsic functions resolve against: parameter values, pseudo parameters and the
// physical ids the test pretends CloudFormation gave each resource.
type Env struct {
	Stack, Region, Account string
	Params                 map[string]string
	tmpl                   Template
	conds                  map[string]bool
}

// NewEnv resolves parameters to their defaults (overridden by overrides) and evaluates the
// template's conditions.
func NewEnv(t Template, overrides map[string]string) (*Env, error) {
	e := &Env{Stack: "streamha-test", Region: "us-east-1", Account: "123456789012", Params: map[string]string{}, tmpl: t}
	for name, p := range mapOf(t["Parameters"]) {
		if d, ok := mapOf(p)["Default"]; ok {
			e.Params[name] = fmt.Sprint(d)
		}
	}
	for k, v := range overrides {
		e.Params[k] = v
	}
	e.conds = map[string]bool{}
	for name := range mapOf(t["Conditions"]) {
		if _, err := e.Condition(name); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// Condition evaluates a named condition.
func (e *Env) Condition(name string) (bool, error) {
	if v, ok := e.conds[name]; ok {
		return v, nil
	}
	c, ok := mapOf(e.tmpl["Conditions"])[name]
	if !ok {
		return false, fmt.Errorf("no condition %q", name)
	}
	v, err := e.cond(c)
	if err != nil {
		return false, fmt.Errorf("condition %s: %w", name, err)
	}
	e.conds[name] = v
	return v, nil
}

func (e *Env) cond(c any) (bool, error) { return e.boolFn(c, false) }

// boolFn evaluates a boolean function: a template Condition (Condition, Equals, Not, And, Or)
// or, when rule is set, a Rules condition (Equals, Not, And, Or, Contains). The two grammars
// share everything but their one extra function, so one evaluator serves both.
func (e *Env) boolFn(c any, rule bool) (bool, error) {
	what := "condition"
	if rule {
		what = "rule condition"
	}
	m := mapOf(c)
	if len(m) != 1 {
		return false, fmt.Errorf("not a %s: %v", what, c)
	}
	for fn, arg := range m {
		args, _ := arg.([]any)
		switch {
		case fn == "Condition" && !rule:
			return e.Condition(fmt.Sprint(arg))
		case fn == "Fn::Equals":
			a, b, err := e.evalPair(args, "Fn::Equals wants 2 arguments")
			if err != nil {
				return false, err
			}
			return fmt.Sprint(a) == fmt.Sprint(b), nil
		case fn == "Fn::Not":
			if len(args) != 1 {
				return false, fmt.Errorf("Fn::Not wants 1 argument")
			}
			v, err := e.boolFn(args[0], rule)
			return !v, err
		case fn == "Fn::And", fn == "Fn::Or":
			and := fn == "Fn::And"
			for _, a := range args {
				v, err := e.boolFn(a, rule)
				if err != nil {
					return false, err
				}
				if v != and {
					return !and, nil
				}
			}
			return and, nil
		case fn == "Fn::Contains" && rule:
			return e.contains(args)
		}
		return false, fmt.Errorf("unsupported %s function %s", strings.TrimSuffix(what, " condition"), fn)
	}
	return false, nil
}

// noValue marks AWS::NoValue: the enclosing key or list item disappears.
type noValue struct{}

// Resource is one resource after evaluation: conditions applied, intrinsics resolved.
type Resource struct {
	Type       string
	Properties map[string]any
	Metadata   map[string]any
}

// Resources evaluates every resource whose condition holds. Serverless functions get the
// template's Globals.Function merged in (as SAM does: maps merge, function values win).
func (e *Env) Resources() (map[string]Resource, error) {
	out := map[string]Resource{}
	globals := mapOf(mapOf(e.tmpl["Globals"])["Function"])
	for id, r := range mapOf(e.tmpl["Resources"]) {
		rm := mapOf(r)
		if c, ok := rm["Condition"]; ok {
			on, err := e.Condition(fmt.Sprint(c))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", id, err)
			}
			if !on {
				continue
			}
		}
		props := rm["Properties"]
		typ := fmt.Sprint(rm["Type"])
		if typ == "AWS::Serverless::Function" {
			props = mergeGlobals(globals, mapOf(props))
		}
		p, err := e.Eval(props)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", id, err)
		}
		md, err := e.Eval(rm["Metadata"])
		if err != nil {
			return nil, fmt.Errorf("%s metadata: %w", id, err)
		}
		out[id] = Resource{Type: typ, Properties: mapOf(p), Metadata: mapOf(md)}
	}
	return out, nil
}

func mergeGlobals(g, f map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range g {
		out[k] = v
	}
	for k, v := range f {
		gm, gok := out[k].(map[string]any)
		fm, fok := v.(map[string]any)
		if gok && fok && !isIntrinsic(gm) && !isIntrinsic(fm) {
			out[k] = mergeGlobals(gm, fm)
			continue
		}
		out[k] = v
	}
	return out
}

func isIntrinsic(m map[string]any) bool {
	if len(m) != 1 {
		return false
	}
	for k := range m {
		return k == "Ref" || k == "Condition" || strings.HasPrefix(k, "Fn::")
	}
	return false
}

// Eval resolves intrinsic functions in v.
func (e *Env) Eval(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		if isIntrinsic(x) {
			return e.intrinsic(x)
		}
		out := map[string]any{}
		for k, val := range x {
			r, err := e.Eval(val)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			if _, skip := r.(noValue); !skip {
				out[k] = r
			}
		}
		return out, nil
	case []any:
		out := []any{}
		for _, val := range x {
			r, err := e.Eval(val)
			if err != nil {
				return nil, err
			}
			if _, skip := r.(noValue); !skip {
				out = append(out, r)
			}
		}
		return out, nil
	}
	return v, nil
}

func (e *Env) intrinsic(m map[string]any) (any, error) {
	for fn, arg := range m {
		args, _ := arg.([]any)
		switch fn {
		case "Ref":
			return e.ref(fmt.Sprint(arg))
		case "Fn::GetAtt":
			if len(args) != 2 {
				return nil, fmt.Errorf("Fn::GetAtt wants [resource, attribute]")
			}
			return e.getAtt(fmt.Sprint(args[0]), fmt.Sprint(args[1]))
		case "Fn::If":
			if len(args) != 3 {
				return nil, fmt.Errorf("Fn::If wants 3 arguments")
			}
			on, err := e.Condition(fmt.Sprint(args[0]))
			if err != nil {
				return nil, err
			}
			if on {
				return e.Eval(args[1])
			}
			return e.Eval(args[2])
		case "Fn::Join":
			if len(args) != 2 {
				return nil, fmt.Errorf("Fn::Join wants [sep, list]")
			}
			l, err := e.Eval(args[1])
			if err != nil {
				return nil, err
			}
			var parts []string
			for _, p := range asList(l) {
				parts = append(parts, fmt.Sprint(p))
			}
			return strings.Join(parts, fmt.Sprint(args[0])), nil
		case "Fn::Sub":
			return e.sub(arg)
		case "Fn::Split":
			if len(args) != 2 {
				return nil, fmt.Errorf("Fn::Split wants [sep, string]")
			}
			v, err := e.Eval(args[1])
			if err != nil {
				return nil, err
			}
			var out []any
			for _, p := range strings.Split(fmt.Sprint(v), fmt.Sprint(args[0])) {
				out = append(out, p)
			}
			return out, nil
		case "Fn::Select":
			if len(args) != 2 {
				return nil, fmt.Errorf("Fn::Select wants [index, list]")
			}
			l, err := e.Eval(args[1])
			if err != nil {
				return nil, err
			}
			var i int
			fmt.Sscan(fmt.Sprint(args[0]), &i)
			ll := asList(l)
			if i < 0 || i >= len(ll) {
				return nil, fmt.Errorf("Fn::Select index %d out of range", i)
			}
			return ll[i], nil
		case "Condition":
			return e.Condition(fmt.Sprint(arg))
		}
		return nil, fmt.Errorf("unsupported intrinsic %s", fn)
	}
	return nil, nil
}

var subVar = regexp.MustCompile(`\$\{([^}]+)\}`)

func (e *Env) sub(arg any) (any, error) {
	var s string
	vars := map[string]any{}
	switch a := arg.(type) {
	case string:
		s = a
	case []any:
		if len(a) != 2 {
			return nil, fmt.Errorf("Fn::Sub wants a string or [string, map]")
		}
		s = fmt.Sprint(a[0])
		for k, v := range mapOf(a[1]) {
			r, err := e.Eval(v)
			if err != nil {
				return nil, err
			}
			vars[k] = r
		}
	default:
		return nil, fmt.Errorf("Fn::Sub wants a string or [string, map]")
	}
	var ferr error
	out := subVar.ReplaceAllStringFunc(s, func(m string) string {
		name := m[2 : len(m)-1]
		if strings.HasPrefix(name, "!") {
			return "${" + name[1:] + "}"
		}
		if v, ok := vars[name]; ok {
			return fmt.Sprint(v)
		}
		var v any
		var err error
		if res, attr, ok := strings.Cut(name, "."); ok && !strings.HasPrefix(name, "AWS::") {
			v, err = e.getAtt(res, attr)
		} else {
			v, err = e.ref(name)
		}
		if err != nil && ferr == nil {
			ferr = err
		}
		return fmt.Sprint(v)
	})
	return out, ferr
}

func (e *Env) ref(name string) (any, error) {
	switch name {
	case "AWS::StackName":
		return e.Stack, nil
	case "AWS::Region":
		return e.Region, nil
	case "AWS::AccountId":
		return e.Account, nil
	case "AWS::Partition":
		return "aws", nil
	case "AWS::URLSuffix":
		return "amazonaws.com", nil
	case "AWS::NoValue":
		return noValue{}, nil
	}
	if p, ok := mapOf(e.tmpl["Parameters"])[name]; ok {
		v, set := e.Params[name]
		if !set {
			return nil, fmt.Errorf("parameter %s has no default and no override", name)
		}
		if strings.HasPrefix(fmt.Sprint(mapOf(p)["Type"]), "List<") || mapOf(p)["Type"] == "CommaDelimitedList" {
			var l []any
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					l = append(l, s)
				}
			}
			return l, nil
		}
		return v, nil
	}
	r, ok := mapOf(e.tmpl["Resources"])[name]
	if !ok {
		return nil, fmt.Errorf("ref to unknown resource %s", name)
	}
	return e.physical(name, fmt.Sprint(mapOf(r)["Type"]), "")
}

func (e *Env) getAtt(res, attr string) (any, error) {
	r, ok := mapOf(e.tmpl["Resources"])[res]
	if !ok {
		return nil, fmt.Errorf("GetAtt of unknown resource %s", res)
	}
	return e.physical(res, fmt.Sprint(mapOf(r)["Type"]), attr)
}

// physical returns the fake but well-formed value of Ref (attr "") or GetAtt for a resource.
func (e *Env) physical(id, typ, attr string) (any, error) {
	arn := func(service, rest string) string {
		return fmt.Sprintf("arn:aws:%s:%s:%s:%s", service, e.Region, e.Account, rest)
	}
	name := e.Stack + "-" + id + "-ABC123"
	switch typ {
	case "AWS::ECS::Cluster":
		switch attr {
		case "":
			return e.Stack, nil
		case "Arn":
			return arn("ecs", "cluster/"+e.Stack), nil
		}
	case "AWS::ECS::Service":
		switch attr {
		case "", "ServiceArn":
			return arn("ecs", "service/"+e.Stack+"/"+e.Stack+"-node"), nil
		case "Name":
			return e.Stack + "-node", nil
		}
	case "AWS::DynamoDB::Table":
		switch attr {
		case "":
			return name, nil
		case "Arn":
			return arn("dynamodb", "table/"+name), nil
		}
	case "AWS::ElasticLoadBalancingV2::TargetGroup":
		if attr == "" || attr == "TargetGroupArn" {
			return arn("elasticloadbalancing", "targetgroup/"+id+"/0123456789abcdef"), nil
		}
	case "AWS::SecretsManager::Secret":
		if attr == "" || attr == "Id" {
			return arn("secretsmanager", "secret:"+id+"-AbCdEf"), nil
		}
	case "AWS::Logs::LogGroup":
		switch attr {
		case "":
			return "/log-group/" + id, nil
		case "Arn":
			return arn("logs", "log-group:/log-group/"+id+":*"), nil
		}
	case "AWS::CloudWatch::Alarm":
		switch attr {
		case "Arn":
			return arn("cloudwatch", "alarm:"+id), nil
		case "": // Ref is the alarm's name
			if n, ok := mapOf(mapOf(mapOf(e.tmpl["Resources"])[id])["Properties"])["AlarmName"]; ok {
				return e.Eval(n)
			}
		}
	case "AWS::Serverless::Function", "AWS::Lambda::Function":
		if attr == "" { // Ref is the function's name
			if n, ok := mapOf(mapOf(mapOf(e.tmpl["Resources"])[id])["Properties"])["FunctionName"]; ok {
				return e.Eval(n)
			}
		}
	case "AWS::SQS::Queue":
		switch attr {
		case "Arn":
			return arn("sqs", name), nil
		case "QueueName":
			return name, nil
		case "":
			return "https://sqs." + e.Region + ".amazonaws.com/" + e.Account + "/" + name, nil
		}
	}
	if attr == "" {
		return name, nil
	}
	return name + "." + attr, nil
}

func mapOf(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func asList(v any) []any {
	switch x := v.(type) {
	case []any:
		return x
	case nil:
		return nil
	}
	return []any{v}
}

// Strings returns v as a list of strings (a single string is a list of one).
func Strings(v any) []string {
	var out []string
	for _, x := range asList(v) {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

// SortedKeys returns m's keys in order.
func SortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// CheckRules evaluates the template's Rules against the parameters: the first assertion that
// fails is returned as an error carrying its AssertDescription. Supports the rule functions the
// template uses (Equals, Not, And, Or, Contains, Ref).
func (e *Env) CheckRules() error {
	for _, name := range SortedKeys(mapOf(e.tmpl["Rules"])) {
		r := mapOf(mapOf(e.tmpl["Rules"])[name])
		if c, ok := r["RuleCondition"]; ok {
			on, err := e.ruleBool(c)
			if err != nil {
				return fmt.Errorf("rule %s: %w", name, err)
			}
			if !on {
				continue
			}
		}
		for _, a := range asList(r["Assertions"]) {
			ok, err := e.ruleBool(mapOf(a)["Assert"])
			if err != nil {
				return fmt.Errorf("rule %s: %w", name, err)
			}
			if !ok {
				return fmt.Errorf("rule %s: %v", name, mapOf(a)["AssertDescription"])
			}
		}
	}
	return nil
}

func (e *Env) ruleBool(c any) (bool, error) { return e.boolFn(c, true) }

// evalPair evaluates a two-argument function's arguments; usage is the error for another count.
func (e *Env) evalPair(args []any, usage string) (any, any, error) {
	if len(args) != 2 {
		return nil, nil, errors.New(usage)
	}
	a, err := e.Eval(args[0])
	if err != nil {
		return nil, nil, err
	}
	b, err := e.Eval(args[1])
	if err != nil {
		return nil, nil, err
	}
	return a, b, nil
}

// contains is the rule function Fn::Contains: [list, string].
func (e *Env) contains(args []any) (bool, error) {
	l, v, err := e.evalPair(args, "Fn::Contains wants [list, string]")
	if err != nil {
		return false, err
	}
	items := asList(l)
	if len(items) == 0 { // an empty CommaDelimitedList is [""] to CloudFormation
		items = []any{""}
	}
	for _, x := range items {
		if fmt.Sprint(x) == fmt.Sprint(v) {
			return true, nil
		}
	}
	return false, nil
}
