package ledger

import (
	"context"
	"fmt"
	"time"
)

// Action is what the alarm handler did (or chose not to do) for one alarm event, and why.
type Action struct {
	Group   string
	EventID string // the EventBridge event id
	Seq     int    // position among the event's actions, so one event may act on two nodes
	Alarm   string
	Metric  string
	State   string // ALARM | OK | INSUFFICIENT_DATA
	Kind    string // e.g. stop_task, record, none
	NodeID  string
	TaskARN string
	Term    int64 // the group's current term when deciding
	Reason  string
	DryRun  bool
	Result  string // e.g. stopped, dry_run, already_stopped, error: …
	At      time.Time
}

// ActionSK is the sort key of an action record: time ordered, unique per event and position.
func ActionSK(at time.Time, eventID string, seq int) string {
	return fmt.Sprintf("ACTION#%013d#%s#%02d", at.UnixMilli(), eventID, seq)
}

// PutAction appends a to the group's history; records expire after the retention.
func (l *Ledger) PutAction(ctx context.Context, a Action) error {
	item := key(GroupKey(a.Group), ActionSK(a.At, a.EventID, a.Seq))
	item["kind"] = str("action")
	item["group"] = str(a.Group)
	item["event_id"] = str(a.EventID)
	item["alarm"] = str(a.Alarm)
	item["metric"] = str(a.Metric)
	item["state"] = str(a.State)
	item["action"] = str(a.Kind)
	item["node_id"] = str(a.NodeID)
	item["task_arn"] = str(a.TaskARN)
	item["term"] = num(a.Term)
	item["reason"] = str(a.Reason)
	item["dry_run"] = boolean(a.DryRun)
	item["result"] = str(a.Result)
	item["at"] = str(a.At.UTC().Format(time.RFC3339Nano))
	item[TTLAttribute] = l.expiry()
	if err := l.put(ctx, item, "", nil); err != nil {
		return fmt.Errorf("put action %s for %s: %w", a.Kind, a.Group, err)
	}
	return nil
}

// Actions lists the group's action records, oldest first.
func (l *Ledger) Actions(ctx context.Context, group string) ([]Action, error) {
	items, err := l.query(ctx, GroupKey(group), "ACTION#", "ACTION#~")
	if err != nil {
		return nil, fmt.Errorf("list actions of %s: %w", group, err)
	}
	out := make([]Action, 0, len(items))
	for _, it := range items {
		at, _ := time.Parse(time.RFC3339Nano, GetS(it, "at"))
		out = append(out, Action{
			Group: group, EventID: GetS(it, "event_id"), Alarm: GetS(it, "alarm"), Metric: GetS(it, "metric"),
			State: GetS(it, "state"), Kind: GetS(it, "action"), NodeID: GetS(it, "node_id"),
			TaskARN: GetS(it, "task_arn"), Term: GetN(it, "term"), Reason: GetS(it, "reason"),
			DryRun: GetBool(it, "dry_run"), Result: GetS(it, "result"), At: at,
		})
	}
	return out, nil
}
