package emf

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
)

// validUnits are the unit names CloudWatch accepts.
var validUnits = map[string]bool{}

func init() {
	for _, u := range []string{"Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes",
		"Gigabytes", "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
		"Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second",
		"Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second",
		"Count/Second", "None"} {
		validUnits[u] = true
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Parsed is a validated EMF line, for tests and tools that read metrics back.
type Parsed struct {
	Namespace  string
	Timestamp  int64
	Dimensions [][]string
	Units      map[string]string
	Resolution map[string]int
	Values     map[string]float64 // first value when a metric holds an array
	Root       map[string]any
}

// Validate checks one log line against the EMF specification's rules (structure, limits, that
// every declared dimension and metric has a member of the right type) and returns what it declares.
func Validate(line []byte) (*Parsed, error) {
	var root map[string]any
	if err := json.Unmarshal(line, &root); err != nil {
		return nil, fmt.Errorf("emf: not a JSON object: %w", err)
	}
	awsRaw, ok := root["_aws"].(map[string]any)
	if !ok {
		return nil, errors.New("emf: missing _aws object")
	}
	ts, ok := awsRaw["Timestamp"].(float64)
	if !ok || ts != float64(int64(ts)) || ts <= 0 {
		return nil, errors.New("emf: _aws.Timestamp must be a positive integer of epoch milliseconds")
	}
	dirs, ok := awsRaw["CloudWatchMetrics"].([]any)
	if !ok || len(dirs) == 0 {
		return nil, errors.New("emf: _aws.CloudWatchMetrics must be a non-empty array")
	}
	p := &Parsed{Timestamp: int64(ts), Units: map[string]string{}, Resolution: map[string]int{},
		Values: map[string]float64{}, Root: root}
	for _, raw := range dirs {
		if err := p.directive(root, raw); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *Parsed) directive(root map[string]any, raw any) error {
	d, ok := raw.(map[string]any)
	if !ok {
		return errors.New("emf: a metric directive is not an object")
	}
	ns, ok := d["Namespace"].(string)
	if !ok || ns == "" || len(ns) > 255 {
		return errors.New("emf: Namespace must be a string of 1 to 255 characters")
	}
	p.Namespace = ns
	sets, ok := d["Dimensions"].([]any)
	if !ok {
		return errors.New("emf: Dimensions must be an array of dimension sets")
	}
	for _, s := range sets {
		keys, ok := s.([]any)
		if !ok || len(keys) > MaxDimensionsPerSet {
			return fmt.Errorf("emf: a dimension set must be an array of at most %d keys", MaxDimensionsPerSet)
		}
		var set []string
		for _, k := range keys {
			name, ok := k.(string)
			if !ok {
				return errors.New("emf: dimension keys must be strings")
			}
			if _, ok := root[name].(string); !ok {
				return fmt.Errorf("emf: dimension %q has no string member", name)
			}
			set = append(set, name)
		}
		p.Dimensions = append(p.Dimensions, set)
	}
	metrics, ok := d["Metrics"].([]any)
	if !ok || len(metrics) > MaxMetricsPerDirective {
		return fmt.Errorf("emf: Metrics must be an array of at most %d definitions", MaxMetricsPerDirective)
	}
	for _, m := range metrics {
		if err := p.metric(root, m); err != nil {
			return err
		}
	}
	return nil
}

func (p *Parsed) metric(root map[string]any, raw any) error {
	m, ok := raw.(map[string]any)
	if !ok {
		return errors.New("emf: a metric definition is not an object")
	}
	name, ok := m["Name"].(string)
	if !ok || name == "" || len(name) > 1024 {
		return errors.New("emf: metric Name must be a string of 1 to 1024 characters")
	}
	unit := None
	if u, present := m["Unit"]; present {
		if unit, ok = u.(string); !ok || !validUnits[unit] {
			return fmt.Errorf("emf: metric %q has invalid unit %v", name, u)
		}
	}
	res := StandardResolution
	if r, present := m["StorageResolution"]; present {
		f, ok := r.(float64)
		if !ok || (f != 1 && f != 60) {
			return fmt.Errorf("emf: metric %q has StorageResolution %v, want 1 or 60", name, r)
		}
		res = int(f)
	}
	switch v := root[name].(type) {
	case float64:
		p.Values[name] = v
	case []any:
		if len(v) == 0 || len(v) > MaxValuesPerMetric {
			return fmt.Errorf("emf: metric %q holds %d values, want 1 to %d", name, len(v), MaxValuesPerMetric)
		}
		for _, x := range v {
			if _, ok := x.(float64); !ok {
				return fmt.Errorf("emf: metric %q holds a non-number", name)
			}
		}
		p.Values[name] = v[0].(float64)
	default:
		return fmt.Errorf("emf: metric %q has no numeric member", name)
	}
	p.Units[name] = unit
	p.Resolution[name] = res
	return nil
}
