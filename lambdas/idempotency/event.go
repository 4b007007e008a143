package idempotency

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-lambda-go/events"
)

// Doer runs fn once per payload; *Store implements it, tests use an in-memory twin.
type Doer interface {
	Do(ctx context.Context, payload []byte, fn func(ctx context.Context) (json.RawMessage, error)) (json.RawMessage, bool, error)
}

// OnceEvent runs fn once per EventBridge event (keyed by detail type and event id, or the
// detail when an event has no id): a duplicate delivery gets the first result back, with dup
// true. With a nil once, fn simply runs.
func OnceEvent[T any](ctx context.Context, once Doer, ev events.CloudWatchEvent, fn func(context.Context) (T, error)) (res T, dup bool, err error) {
	if once == nil {
		res, err = fn(ctx)
		return res, false, err
	}
	key := ev.ID
	if key == "" {
		key = string(ev.Detail)
	}
	raw, dup, err := once.Do(ctx, []byte(ev.DetailType+"|"+key), func(ctx context.Context) (json.RawMessage, error) {
		r, err := fn(ctx)
		if err != nil {
			return nil, err
		}
		return json.Marshal(r)
	})
	if err != nil {
		return res, false, err
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return res, false, fmt.Errorf("decode stored result of event %s: %w", ev.ID, err)
	}
	return res, dup, nil
}
