package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Failover is one change of the group's term as the health mirror observed it.
type Failover struct {
	Group     string
	OldTerm   int64
	NewTerm   int64
	OldActive string // lease holder under the old term, as last seen
	NewActive string // lease holder under the new term
	SeenAt    time.Time
}

// FailoverSK is the sort key of the failover record for term: zero-padded so records sort by term.
func FailoverSK(term int64) string { return fmt.Sprintf("FAILOVER#%020d", term) }

// RecordFailover writes f once per new term: two overlapping runs that both see the term move
// record it once. It reports whether this call wrote it.
func (l *Ledger) RecordFailover(ctx context.Context, f Failover) (bool, error) {
	item := key(GroupKey(f.Group), FailoverSK(f.NewTerm))
	item["kind"] = str("failover")
	item["group"] = str(f.Group)
	item["old_term"] = num(f.OldTerm)
	item["new_term"] = num(f.NewTerm)
	item["old_active"] = str(f.OldActive)
	item["new_active"] = str(f.NewActive)
	item["seen_at"] = str(f.SeenAt.UTC().Format(time.RFC3339Nano))
	item["seen_at_ms"] = num(f.SeenAt.UnixMilli())
	err := l.put(ctx, item, "attribute_not_exists(pk)", nil)
	if errors.Is(err, ErrConflict) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("record failover of %s to term %d: %w", f.Group, f.NewTerm, err)
	}
	return true, nil
}

// Failovers lists the group's failover records, oldest term first.
func (l *Ledger) Failovers(ctx context.Context, group string) ([]Failover, error) {
	items, err := l.query(ctx, GroupKey(group), "FAILOVER#", "FAILOVER#~")
	if err != nil {
		return nil, fmt.Errorf("list failovers of %s: %w", group, err)
	}
	out := make([]Failover, 0, len(items))
	for _, it := range items {
		out = append(out, Failover{
			Group: group, OldTerm: GetN(it, "old_term"), NewTerm: GetN(it, "new_term"),
			OldActive: GetS(it, "old_active"), NewActive: GetS(it, "new_active"),
			SeenAt: time.UnixMilli(GetN(it, "seen_at_ms")),
		})
	}
	return out, nil
}
