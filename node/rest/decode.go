package rest

import (
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"github.com/valyala/fastjson"

	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/ha"
	"github.com/streamha/streamha/node/source/jsonmap"
)

// parsers are reused across requests: fastjson parses a body without allocating per value.
var parsers fastjson.ParserPool

// errTooMany is a body with more events than max_events_per_request.
var errTooMany = errors.New("too many events")

// DecodeEvents turns a request body, a JSON object or an array of objects keyed by attribute
// name (optional "_ts" epoch ms), into events of def. Errors name the event index and attribute;
// nothing is applied when any event is bad. Unknown attributes are errors; so are missing ones
// unless the stream's @source @map says fail.on.missing.attribute='false' (then they are null).
// A body of more than maxEvents events (0: no limit), or with nested arrays or objects, is
// refused by a scan before it is parsed, so its size in memory stays near its length.
func DecodeEvents(def *engine.StreamDef, body []byte, maxEvents int) ([]ha.Event, error) {
	if _, _, err := scanShape(def, body, maxEvents); err != nil {
		return nil, err
	}
	p := parsers.Get()
	defer parsers.Put(p)
	objs, err := jsonmap.Events(p, body)
	if err != nil {
		return nil, err
	}
	n := len(def.Attrs)
	slab := make([]engine.Value, len(objs)*n)
	out := make([]ha.Event, len(objs))
	var scratch []byte
	seen := make([]bool, n)
	for i, o := range objs {
		vals := slab[i*n : (i+1)*n : (i+1)*n]
		ev, err := decodeObject(def, o, vals, &scratch, seen)
		if err != nil {
			if len(objs) == 1 {
				return nil, err
			}
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
		out[i] = ev
	}
	return out, nil
}

func decodeObject(def *engine.StreamDef, o *fastjson.Value, vals []engine.Value, scratch *[]byte, seen []bool) (ha.Event, error) {
	ev := ha.Event{Data: vals}
	clear(seen)
	obj, err := o.Object()
	if err != nil {
		return ev, fmt.Errorf("stream %s: expected a JSON object, got %s", def.Name, o.Type())
	}
	var ferr error
	obj.Visit(func(key []byte, val *fastjson.Value) {
		if ferr != nil {
			return
		}
		if string(key) == "_ts" {
			x, err := engine.DecodeJSONValue(val.MarshalTo((*scratch)[:0]), engine.TypeLong)
			if err != nil {
				ferr = fmt.Errorf("stream %s: _ts: %w", def.Name, err)
			} else if !x.IsNull() {
				ev.TS, ev.HasTS = x.Long(), true
			}
			return
		}
		i := def.AttrIndex(string(key))
		if i < 0 {
			ferr = fmt.Errorf("stream %s: unknown attribute %q", def.Name, key)
			return
		}
		seen[i] = true
		x, err := jsonmap.Value(val, def.Attrs[i].Type, scratch)
		if err != nil {
			ferr = fmt.Errorf("stream %s: attribute %s: %w", def.Name, key, err)
			return
		}
		vals[i] = x
	})
	if ferr == nil && !def.MissingAsNull {
		ferr = missing(def, seen)
	}
	return ev, ferr
}

// missing names the attributes an event lacks, as Siddhi's JSON mapper does by default
// (fail.on.missing.attribute).
func missing(def *engine.StreamDef, seen []bool) error {
	var names []string
	for i, ok := range seen {
		if !ok {
			names = append(names, def.Attrs[i].Name)
		}
	}
	if names == nil {
		return nil
	}
	return fmt.Errorf("stream %s: missing attribute %s (send null for no value, or declare @source(type='http', @map(type='json', fail.on.missing.attribute='false')))", def.Name, strings.Join(names, ", "))
}

// scanShape checks a body's structure without parsing it: at most maxEvents events (0: no
// limit), attribute values that are scalars, and no event with more members than the stream
// has attributes (plus _ts). These bound the parser's memory to a small multiple of what the
// events need, whatever the body holds.
func scanShape(def *engine.StreamDef, body []byte, maxEvents int) (events, members int, err error) {
	depth, top := 0, byte(0)
	objMembers := 0
	maxMembers := len(def.Attrs) + 1
	event := func() error {
		events++
		if maxEvents > 0 && events > maxEvents {
			return fmt.Errorf("%w: more than %d events in one request (max_events_per_request)", errTooMany, maxEvents)
		}
		return nil
	}
	objDepth := 1 // depth of an event object: 1 in a single-object body, 2 in an array
	for i := 0; i < len(body); i++ {
		switch c := body[i]; c {
		case '"':
			for i++; i < len(body) && body[i] != '"'; i++ {
				if body[i] == '\\' {
					i++
				}
			}
		case '[', '{':
			depth++
			if depth == 1 {
				top = c
				if c == '[' {
					objDepth = 2
				}
				// The first event; each ',' at depth 1 of an array starts another, whatever
				// the element is ([1,1,1,...] must not slip past).
				if err := event(); err != nil {
					return 0, 0, err
				}
			}
			if depth == objDepth {
				if c != '{' {
					return 0, 0, fmt.Errorf("stream %s: event %d: expected a JSON object, got an array", def.Name, events-1)
				}
				objMembers = 0
			}
			if depth > objDepth {
				return 0, 0, fmt.Errorf("stream %s: event %d: attribute values must be JSON scalars (nested %c at byte %d)", def.Name, events-1, c, i)
			}
		case ']', '}':
			depth--
		case ':':
			if depth == objDepth {
				members++
				if objMembers++; objMembers > maxMembers {
					return 0, 0, fmt.Errorf("stream %s: event %d has more than %d members; the stream has %d attributes (plus _ts)", def.Name, events-1, maxMembers, len(def.Attrs))
				}
			}
		case ',':
			if depth == 1 && top == '[' {
				if err := event(); err != nil {
					return 0, 0, err
				}
			}
		}
	}
	return events, members, nil
}

// Per-value costs of decoding, for DecodedSize: a parsed JSON value with its object entry, an
// engine value, an event.
const (
	jsonValueBytes = 128
	eventBytes     = int64(unsafe.Sizeof(ha.Event{}))
	valueBytes     = int64(unsafe.Sizeof(engine.Value{}))
)

// DecodedSize estimates the memory DecodeEvents takes for body beyond the body itself, from a
// scan that does not parse it (the same checks as DecodeEvents, so a body it refuses is refused
// here without allocating).
func DecodedSize(def *engine.StreamDef, body []byte, maxEvents int) (int64, error) {
	events, members, err := scanShape(def, body, maxEvents)
	if err != nil {
		return 0, err
	}
	ev := int64(events)
	return int64(members+events)*jsonValueBytes + ev*(eventBytes+int64(len(def.Attrs))*valueBytes), nil
}
