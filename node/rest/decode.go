package rest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/ha"
)

// errBody is a request body that is not a JSON object or array of objects.
var errBody = errors.New("body must be a JSON object or an array of JSON objects")

// DecodeEvents turns a request body, a JSON object or an array of objects keyed by attribute
// name (optional "_ts" epoch ms), into events of def. Errors name the event index and attribute;
// nothing is applied when any event is bad.
func DecodeEvents(def *engine.StreamDef, body []byte) ([]ha.Event, error) {
	b := bytes.TrimSpace(body)
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty body", errBody)
	}
	var raws []json.RawMessage
	switch b[0] {
	case '{':
		raws = []json.RawMessage{b}
	case '[':
		if err := json.Unmarshal(b, &raws); err != nil {
			return nil, fmt.Errorf("malformed JSON: %w", err)
		}
	default:
		return nil, errBody
	}
	if len(raws) == 0 {
		return nil, fmt.Errorf("%w: empty array", errBody)
	}
	out := make([]ha.Event, len(raws))
	for i, raw := range raws {
		vals, ts, hasTS, err := def.DecodeJSON(raw)
		if err != nil {
			if len(raws) == 1 {
				return nil, err
			}
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
		out[i] = ha.Event{TS: ts, HasTS: hasTS, Data: vals}
	}
	return out, nil
}
