package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// RestartState is the restarter's memory for one group: how many forced deployments it made in a
// row, when the next one is allowed (exponential backoff), and whether a crash loop halted it.
type RestartState struct {
	Group         string
	Attempts      int
	LastAttemptAt time.Time
	NextAllowedAt time.Time
	Halted        bool
	HaltReason    string
	Version       int64 // optimistic lock: 0 when never stored
}

const restartSK = "RESTART"

// GetRestart reads the group's restart state (zero state when none).
func (l *Ledger) GetRestart(ctx context.Context, group string) (RestartState, error) {
	item, err := l.get(ctx, GroupKey(group), restartSK)
	if err != nil {
		return RestartState{}, fmt.Errorf("get restart state of %s: %w", group, err)
	}
	st := RestartState{Group: group}
	if item == nil {
		return st, nil
	}
	st.Attempts = int(GetN(item, "attempts"))
	if ms := GetN(item, "last_attempt_ms"); ms > 0 {
		st.LastAttemptAt = time.UnixMilli(ms)
	}
	if ms := GetN(item, "next_allowed_ms"); ms > 0 {
		st.NextAllowedAt = time.UnixMilli(ms)
	}
	st.Halted = GetBool(item, "halted")
	st.HaltReason = GetS(item, "halt_reason")
	st.Version = GetN(item, "version")
	return st, nil
}

// PutRestart stores st if nobody stored another version since it was read (ErrConflict
// otherwise), and advances st.Version.
func (l *Ledger) PutRestart(ctx context.Context, st *RestartState) error {
	item := key(GroupKey(st.Group), restartSK)
	item["kind"] = str("restart")
	item["group"] = str(st.Group)
	item["attempts"] = num(st.Attempts)
	item["last_attempt_ms"] = num(st.LastAttemptAt.UnixMilli())
	item["next_allowed_ms"] = num(st.NextAllowedAt.UnixMilli())
	item["halted"] = boolean(st.Halted)
	item["halt_reason"] = str(st.HaltReason)
	item["version"] = num(st.Version + 1)
	item["updated_at"] = str(l.now().UTC().Format(time.RFC3339Nano))
	cond, vals := "attribute_not_exists(pk)", map[string]types.AttributeValue(nil)
	if st.Version > 0 {
		cond, vals = "version = :v", map[string]types.AttributeValue{":v": num(st.Version)}
	}
	if err := l.put(ctx, item, cond, vals); err != nil {
		return fmt.Errorf("put restart state of %s: %w", st.Group, err)
	}
	st.Version++
	return nil
}
