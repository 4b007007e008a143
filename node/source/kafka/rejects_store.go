package kafkasource

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/streamha/streamha/node/ha"
	"github.com/streamha/streamha/node/store"
)

// ErrorStorer is the node's error store (ha.Node.StoreError).
type ErrorStorer interface {
	StoreError(ctx context.Context, rec store.ErrorRecord) error
}

// StoreRejects stores rejected records in the node's error store (ha_error in PERSISTENCE_DB,
// kind "source", endpoint "kafka", ref "<topic>/<partition>/<offset>": storing one again after a
// failover updates its row, no duplicate), where `node errors list|purge` and /ha/errors see
// them. A node without an error store falls back to Fallback.
type StoreRejects struct {
	Node     ErrorStorer
	Fallback Rejects
}

// Ref is a rejected record's reference in the error store.
func Ref(r Rejected) string {
	return r.Topic + "/" + strconv.FormatInt(int64(r.Partition), 10) + "/" + strconv.FormatInt(r.Offset, 10)
}

// Store stores rs, each once durable.
func (s *StoreRejects) Store(ctx context.Context, rs []Rejected) error {
	for i, r := range rs {
		err := s.Node.StoreError(ctx, store.ErrorRecord{Kind: store.ErrorSource, App: r.App, Stream: r.Stream,
			Endpoint: "kafka", Ref: Ref(r), Payload: r.Value, Error: r.Err, ErrorKind: "unmappable", Time: r.Time})
		if errors.Is(err, ha.ErrNoErrorStore) && s.Fallback != nil {
			return s.Fallback.Store(ctx, rs[i:])
		}
		if err != nil {
			return fmt.Errorf("error store: %s: %w", Ref(r), err)
		}
	}
	return nil
}
