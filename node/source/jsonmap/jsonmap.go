// Package jsonmap is the @map(type='json') of the sources: Siddhi's JSON event formats (a bare
// object keyed by attribute name, {"event":{…}}, or an array of either) and @attributes with a
// JSONPath subset ($.a.b, $.a[0]), shared by the http and kafka sources.
package jsonmap

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/valyala/fastjson"

	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/ha"
)

// Mapper turns a message body into events of one stream, per the source's @map(type='json').
type Mapper struct {
	def *engine.StreamDef
	// paths[i] are the fastjson keys of attribute i (custom mapping); nil for the default one.
	paths   [][]string
	raw     []string // the paths as written, for error messages
	missing bool     // fail.on.missing.attribute
}

var errBody = errors.New("body must be a JSON object or an array of JSON objects")

// parsePath reads the supported JSONPath subset: $ followed by .name and [N] steps.
func parsePath(p string) ([]string, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(p), "$")
	if !ok {
		return nil, fmt.Errorf("path %q must start with $", p)
	}
	var keys []string
	for rest != "" {
		switch rest[0] {
		case '.':
			rest = rest[1:]
			end := strings.IndexAny(rest, ".[")
			if end < 0 {
				end = len(rest)
			}
			name := rest[:end]
			if name == "" || strings.ContainsAny(name, "]*'\" ") {
				return nil, fmt.Errorf("path %q: bad member name %q (supported: $.a.b and $.a[0])", p, name)
			}
			keys, rest = append(keys, name), rest[end:]
		case '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, fmt.Errorf("path %q: missing ]", p)
			}
			n, err := strconv.Atoi(rest[1:end])
			if err != nil || n < 0 {
				return nil, fmt.Errorf("path %q: %q is not an array index (supported: $.a.b and $.a[0])", p, rest[1:end])
			}
			keys, rest = append(keys, strconv.Itoa(n)), rest[end+1:]
		default:
			return nil, fmt.Errorf("path %q: unexpected %q (supported: $.a.b and $.a[0])", p, rest[:1])
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("path %q selects the whole event, not an attribute", p)
	}
	return keys, nil
}

// New checks the @map of a source of type sourceType (for messages) against the stream.
func New(def *engine.StreamDef, m engine.MapSpec, sourceType string) (*Mapper, error) {
	mp := &Mapper{def: def, missing: true}
	switch m.Type {
	case "", "json":
	default:
		return nil, fmt.Errorf("@map(type='%s') is not supported by %s sources (only 'json')", m.Type, sourceType)
	}
	for _, o := range m.Other {
		return nil, fmt.Errorf("@map takes only @attributes, not @%s", o)
	}
	for k, v := range m.Options {
		switch k {
		case "fail.on.missing.attribute":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("@map option fail.on.missing.attribute=%q: want true or false", v)
			}
			mp.missing = b
		default:
			return nil, fmt.Errorf("unknown @map option %q for type 'json' (supported: fail.on.missing.attribute)", k)
		}
	}
	if len(m.Attributes) == 0 && len(m.Positional) == 0 {
		return mp, nil
	}
	if len(m.Attributes) > 0 && len(m.Positional) > 0 {
		return nil, errors.New("@attributes mixes named and positional paths")
	}
	n := len(def.Attrs)
	mp.paths, mp.raw = make([][]string, n), make([]string, n)
	if len(m.Positional) > 0 {
		if len(m.Positional) != n {
			return nil, fmt.Errorf("@attributes lists %d paths for the %d attributes of %s", len(m.Positional), n, def.Name)
		}
		for i, p := range m.Positional {
			keys, err := parsePath(p)
			if err != nil {
				return nil, fmt.Errorf("@attributes: attribute %s: %w", def.Attrs[i].Name, err)
			}
			mp.paths[i], mp.raw[i] = keys, p
		}
		return mp, nil
	}
	for name, p := range m.Attributes {
		i := def.AttrIndex(name)
		if i < 0 {
			return nil, fmt.Errorf("@attributes: stream %s has no attribute %q", def.Name, name)
		}
		keys, err := parsePath(p)
		if err != nil {
			return nil, fmt.Errorf("@attributes: attribute %s: %w", name, err)
		}
		mp.paths[i], mp.raw[i] = keys, p
	}
	for i, a := range def.Attrs {
		if mp.paths[i] == nil {
			return nil, fmt.Errorf("@attributes does not map attribute %s", a.Name)
		}
	}
	return mp, nil
}

var parsers fastjson.ParserPool

// Count estimates how many events body holds without mapping it: the length of a top-level
// array, else 1. It is a cheap pre-check for batching; Decode is the authority.
func (m *Mapper) Count(body []byte) int {
	p := parsers.Get()
	defer parsers.Put(p)
	v, err := p.ParseBytes(body)
	if err != nil || v.Type() != fastjson.TypeArray {
		return 1
	}
	a, _ := v.Array()
	return max(len(a), 1)
}

// Events parses body with p into its events: the one JSON object, or the elements of a
// non-empty array (the caller checks each is an object). They live until p parses again.
func Events(p *fastjson.Parser, body []byte) ([]*fastjson.Value, error) {
	v, err := p.ParseBytes(body)
	if err != nil {
		if len(body) == 0 {
			return nil, fmt.Errorf("%w: empty body", errBody)
		}
		return nil, fmt.Errorf("malformed JSON: %w", err)
	}
	var objs []*fastjson.Value
	switch v.Type() {
	case fastjson.TypeObject:
		objs = []*fastjson.Value{v}
	case fastjson.TypeArray:
		objs, _ = v.Array()
		if len(objs) == 0 {
			return nil, fmt.Errorf("%w: empty array", errBody)
		}
	default:
		return nil, errBody
	}
	return objs, nil
}

// Decode reads a body: one event or an array of events. With the default mapping an event is
// Siddhi's {"event":{…}} or a bare object keyed by attribute name; with @attributes each path
// is read from the event object. Errors name the event index and the attribute.
func (m *Mapper) Decode(body []byte) ([]ha.Event, error) {
	p := parsers.Get()
	defer parsers.Put(p)
	objs, err := Events(p, body)
	if err != nil {
		return nil, err
	}
	n := len(m.def.Attrs)
	slab := make([]engine.Value, len(objs)*n)
	out := make([]ha.Event, len(objs))
	var scratch []byte
	for i, o := range objs {
		vals := slab[i*n : (i+1)*n : (i+1)*n]
		var err error
		if m.paths == nil {
			err = m.decodeDefault(o, vals, &scratch)
		} else {
			err = m.decodePaths(o, vals, &scratch)
		}
		if err != nil {
			if len(objs) > 1 {
				err = fmt.Errorf("event %d: %w", i, err)
			}
			return nil, err
		}
		out[i] = ha.Event{Data: vals}
	}
	return out, nil
}

func (m *Mapper) decodeDefault(o *fastjson.Value, vals []engine.Value, scratch *[]byte) error {
	obj, err := o.Object()
	if err != nil {
		return fmt.Errorf("stream %s: expected a JSON object, got %s", m.def.Name, o.Type())
	}
	if obj.Len() == 1 && m.def.AttrIndex("event") < 0 {
		if inner := obj.Get("event"); inner != nil {
			if obj, err = inner.Object(); err != nil {
				return fmt.Errorf("stream %s: \"event\" must be a JSON object, got %s", m.def.Name, inner.Type())
			}
		}
	}
	seen := make([]bool, len(vals))
	var ferr error
	obj.Visit(func(key []byte, val *fastjson.Value) {
		if ferr != nil {
			return
		}
		i := m.def.AttrIndex(string(key))
		if i < 0 {
			ferr = fmt.Errorf("stream %s: unknown attribute %q", m.def.Name, key)
			return
		}
		seen[i] = true
		ferr = m.value(i, val, vals, scratch)
	})
	if ferr != nil {
		return ferr
	}
	if m.missing {
		for i, ok := range seen {
			if !ok {
				return fmt.Errorf("stream %s: attribute %s is missing (fail.on.missing.attribute)", m.def.Name, m.def.Attrs[i].Name)
			}
		}
	}
	return nil
}

func (m *Mapper) decodePaths(o *fastjson.Value, vals []engine.Value, scratch *[]byte) error {
	for i, keys := range m.paths {
		val := o.Get(keys...)
		if val == nil {
			if m.missing {
				return fmt.Errorf("stream %s: attribute %s: %s not found (fail.on.missing.attribute)", m.def.Name, m.def.Attrs[i].Name, m.raw[i])
			}
			continue
		}
		if err := m.value(i, val, vals, scratch); err != nil {
			return fmt.Errorf("%w (path %s)", err, m.raw[i])
		}
	}
	return nil
}

func (m *Mapper) value(i int, val *fastjson.Value, vals []engine.Value, scratch *[]byte) error {
	a := m.def.Attrs[i]
	x, err := Value(val, a.Type, scratch)
	if err != nil {
		return fmt.Errorf("stream %s: attribute %s: %w", m.def.Name, a.Name, err)
	}
	vals[i] = x
	return nil
}

// Value decodes one attribute value of type t; a JSON string for a string attribute is taken
// without re-encoding. scratch is a buffer reused across calls.
func Value(val *fastjson.Value, t engine.Type, scratch *[]byte) (engine.Value, error) {
	if t == engine.TypeString && val.Type() == fastjson.TypeString {
		return engine.StringValue(string(val.GetStringBytes())), nil
	}
	*scratch = val.MarshalTo((*scratch)[:0])
	return engine.DecodeJSONValue(*scratch, t)
}
