package ledger

import (
	"context"
	"fmt"
	"time"
)

// Stop is one node task that stopped, as the restarter recorded it.
type Stop struct {
	Group     string
	TaskARN   string
	NodeID    string
	WasActive bool
	StopCode  string
	Reason    string // ECS stoppedReason
	ExitCodes []int
	Expected  bool   // a deployment, scale-in or our own fencing
	Cause     string // short classification, e.g. deployment, scale_in, fenced, crash
	StoppedAt time.Time
	EventID   string
}

// StopSK is the sort key of a stop record: a redelivered event maps to the same key.
func StopSK(at time.Time, taskARN string) string {
	return fmt.Sprintf("STOP#%013d#%s", at.UnixMilli(), taskID(taskARN))
}

func taskID(arn string) string {
	for i := len(arn) - 1; i >= 0; i-- {
		if arn[i] == '/' {
			return arn[i+1:]
		}
	}
	return arn
}

// PutStop records s; writing the same stop twice leaves one record.
func (l *Ledger) PutStop(ctx context.Context, s Stop) error {
	item := key(GroupKey(s.Group), StopSK(s.StoppedAt, s.TaskARN))
	item["kind"] = str("stop")
	item["group"] = str(s.Group)
	item["task_arn"] = str(s.TaskARN)
	item["node_id"] = str(s.NodeID)
	item["was_active"] = boolean(s.WasActive)
	item["stop_code"] = str(s.StopCode)
	item["reason"] = str(s.Reason)
	item["exit_codes"] = numList(s.ExitCodes)
	item["expected"] = boolean(s.Expected)
	item["cause"] = str(s.Cause)
	item["stopped_at"] = str(s.StoppedAt.UTC().Format(time.RFC3339Nano))
	item["stopped_at_ms"] = num(s.StoppedAt.UnixMilli())
	item["event_id"] = str(s.EventID)
	item[TTLAttribute] = l.expiry()
	if err := l.put(ctx, item, "", nil); err != nil {
		return fmt.Errorf("put stop of %s in %s: %w", s.TaskARN, s.Group, err)
	}
	return nil
}

// Stops lists the group's stop records at or after since, oldest first.
func (l *Ledger) Stops(ctx context.Context, group string, since time.Time) ([]Stop, error) {
	from := fmt.Sprintf("STOP#%013d", max(since.UnixMilli(), 0))
	items, err := l.query(ctx, GroupKey(group), from, "STOP#~")
	if err != nil {
		return nil, fmt.Errorf("list stops of %s: %w", group, err)
	}
	out := make([]Stop, 0, len(items))
	for _, it := range items {
		out = append(out, Stop{
			Group: group, TaskARN: GetS(it, "task_arn"), NodeID: GetS(it, "node_id"),
			WasActive: GetBool(it, "was_active"), StopCode: GetS(it, "stop_code"), Reason: GetS(it, "reason"),
			ExitCodes: GetNs(it, "exit_codes"), Expected: GetBool(it, "expected"), Cause: GetS(it, "cause"),
			StoppedAt: time.UnixMilli(GetN(it, "stopped_at_ms")), EventID: GetS(it, "event_id"),
		})
	}
	return out, nil
}
