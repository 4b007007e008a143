package rest

import (
	"errors"
	"fmt"

	"github.com/valyala/fastjson"

	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/ha"
)

// errBody is a request body that is not a JSON object or array of objects.
var errBody = errors.New("body must be a JSON object or an array of JSON objects")

// parsers are reused across requests: fastjson parses a body without allocating per value.
var parsers fastjson.ParserPool

// DecodeEvents turns a request body, a JSON object or an array of objects keyed by attribute
// name (optional "_ts" epoch ms), into events of def. Errors name the event index and attribute;
// nothing is applied when any event is bad. Values follow engine.StreamDef.DecodeJSON's rules:
// unknown attributes are errors, missing ones are null.
func DecodeEvents(def *engine.StreamDef, body []byte) ([]ha.Event, error) {
	p := parsers.Get()
	defer parsers.Put(p)
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
	n := len(def.Attrs)
	slab := make([]engine.Value, len(objs)*n)
	out := make([]ha.Event, len(objs))
	var scratch []byte
	for i, o := range objs {
		vals := slab[i*n : (i+1)*n : (i+1)*n]
		ev, err := decodeObject(def, o, vals, &scratch)
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

func decodeObject(def *engine.StreamDef, o *fastjson.Value, vals []engine.Value, scratch *[]byte) (ha.Event, error) {
	ev := ha.Event{Data: vals}
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
		t := def.Attrs[i].Type
		if t == engine.TypeString && val.Type() == fastjson.TypeString {
			vals[i] = engine.StringValue(string(val.GetStringBytes()))
			return
		}
		*scratch = val.MarshalTo((*scratch)[:0])
		x, err := engine.DecodeJSONValue(*scratch, t)
		if err != nil {
			ferr = fmt.Errorf("stream %s: attribute %s: %w", def.Name, key, err)
			return
		}
		vals[i] = x
	})
	return ev, ferr
}
