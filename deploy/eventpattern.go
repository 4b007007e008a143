package deploy

import (
	"encoding/json"
	"fmt"
	"strings"
)

// MatchPattern reports whether an EventBridge event (JSON) matches a rule's event pattern, for
// the subset of the pattern language the template uses: exact values, {"prefix": s},
// {"anything-but": value | [values] | {"prefix": s}} and {"exists": bool}, nested in objects.
// As in EventBridge, an event field that is an array matches when any element does, and a
// pattern field missing from the event fails the match (unless it is {"exists": false}).
func MatchPattern(pattern map[string]any, event []byte) (bool, error) {
	var ev any
	if err := json.Unmarshal(event, &ev); err != nil {
		return false, fmt.Errorf("event: %w", err)
	}
	return matchObject(pattern, ev)
}

func matchObject(pattern map[string]any, ev any) (bool, error) {
	obj, _ := ev.(map[string]any)
	for key, want := range pattern {
		got, present := obj[key]
		switch w := want.(type) {
		case map[string]any:
			if !present {
				return false, nil
			}
			ok, err := matchObject(w, got)
			if err != nil || !ok {
				return false, err
			}
		case []any:
			ok, err := matchField(w, got, present)
			if err != nil || !ok {
				return false, err
			}
		default:
			return false, fmt.Errorf("pattern field %q must be an object or a list, not %T", key, want)
		}
	}
	return true, nil
}

// matchField: any of the alternatives matches the value (or any element of an array value).
func matchField(alts []any, got any, present bool) (bool, error) {
	values := []any{got}
	if l, ok := got.([]any); ok {
		values = l
	}
	for _, alt := range alts {
		if m, ok := alt.(map[string]any); ok {
			if e, ok := m["exists"]; ok && len(m) == 1 {
				if want, _ := e.(bool); want == present {
					return true, nil
				}
				continue
			}
		}
		if !present {
			continue
		}
		for _, v := range values {
			ok, err := matchValue(alt, v)
			if err != nil {
				return false, err
			}
			if ok {
				return true, nil
			}
		}
	}
	return false, nil
}

func matchValue(alt, v any) (bool, error) {
	m, ok := alt.(map[string]any)
	if !ok {
		return same(alt, v), nil
	}
	if len(m) != 1 {
		return false, fmt.Errorf("unsupported pattern %v", m)
	}
	for op, arg := range m {
		switch op {
		case "prefix":
			s, isStr := v.(string)
			return isStr && strings.HasPrefix(s, fmt.Sprint(arg)), nil
		case "anything-but":
			switch a := arg.(type) {
			case []any:
				for _, x := range a {
					if same(x, v) {
						return false, nil
					}
				}
				return true, nil
			case map[string]any:
				ok, err := matchValue(a, v)
				return !ok, err
			default:
				return !same(a, v), nil
			}
		}
		return false, fmt.Errorf("unsupported pattern operator %q", op)
	}
	return false, nil
}

// same compares a pattern literal with an event value; the template's YAML gives every scalar
// as a string, so numbers and booleans compare by their JSON text.
func same(pat, v any) bool {
	if v == nil {
		return pat == nil
	}
	switch x := v.(type) {
	case string:
		return pat == x
	case float64, bool:
		b, _ := json.Marshal(x)
		return fmt.Sprint(pat) == string(b)
	}
	return false
}
