package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// DecodeInput parses one line of the play/ingest format: {"stream":"S","ts":<ms>,"data":{...}}
// or a clock tick {"tick":<ms>}. "ts" may be omitted when data carries "_ts". Seq is left 0.
func (a *App) DecodeInput(line []byte) (Input, error) {
	var raw struct {
		Stream *string          `json:"stream"`
		TS     *json.RawMessage `json:"ts"`
		Tick   *json.RawMessage `json:"tick"`
		Data   json.RawMessage  `json:"data"`
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return Input{}, fmt.Errorf("decode input: %w", err)
	}
	if dec.More() {
		return Input{}, fmt.Errorf("decode input: trailing data after the JSON object")
	}
	long := func(m *json.RawMessage, what string) (int64, error) {
		v, err := decodeJSONValue(*m, TypeLong)
		if err != nil || v.IsNull() {
			return 0, fmt.Errorf("decode input: %s: want epoch milliseconds (integer)", what)
		}
		return v.Long(), nil
	}
	if raw.Tick != nil {
		if raw.Stream != nil || raw.Data != nil || raw.TS != nil {
			return Input{}, fmt.Errorf("decode input: a tick line has only \"tick\"")
		}
		ts, err := long(raw.Tick, "tick")
		return Input{TS: ts}, err
	}
	if raw.Stream == nil {
		return Input{}, fmt.Errorf("decode input: missing \"stream\" (or \"tick\")")
	}
	def, ok := a.byName[*raw.Stream]
	if !ok || !def.Defined {
		return Input{}, fmt.Errorf("decode input: unknown input stream %q", *raw.Stream)
	}
	if raw.Data == nil {
		return Input{}, fmt.Errorf("decode input: missing \"data\"")
	}
	vals, ts, hasTS, err := def.DecodeJSON(raw.Data)
	if err != nil {
		return Input{}, fmt.Errorf("decode input: %w", err)
	}
	if raw.TS != nil {
		if ts, err = long(raw.TS, "ts"); err != nil {
			return Input{}, err
		}
	} else if !hasTS {
		return Input{}, fmt.Errorf("decode input: missing \"ts\"")
	}
	return Input{TS: ts, Stream: def.Name, Data: vals}, nil
}
