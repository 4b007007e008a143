package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// View is the latest state of a group as the health mirror saw it; the next run compares its term
// to detect failovers.
type View struct {
	Group      string
	Term       int64
	Holder     string   // lease holder, "" when the lease is free or expired
	Active     []string // live nodes reporting role active
	Live       []string // nodes whose heartbeat is fresh
	SplitBrain bool
	Reachable  bool      // whether the cluster database answered
	SeenAt     time.Time // when the mirror read the database
	Detail     string    // JSON of the per-node figures, for humans
}

const viewSK = "VIEW"

// PutView stores v unless a newer term is already stored (an overlapping slower run never rolls
// the view back; ErrConflict then), and returns the view it replaced (ok false when none), all in
// one request.
func (l *Ledger) PutView(ctx context.Context, v View) (prev View, ok bool, err error) {
	item := key(GroupKey(v.Group), viewSK)
	item["kind"] = str("view")
	item["group"] = str(v.Group)
	item["term"] = num(v.Term)
	item["holder"] = str(v.Holder)
	item["active"] = strList(v.Active)
	item["live"] = strList(v.Live)
	item["split_brain"] = boolean(v.SplitBrain)
	item["reachable"] = boolean(v.Reachable)
	item["seen_at"] = str(v.SeenAt.UTC().Format(time.RFC3339Nano))
	item["seen_at_ms"] = num(v.SeenAt.UnixMilli())
	if v.Detail != "" {
		item["detail"] = str(v.Detail)
	}
	out, err := l.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(l.Table),
		Item:                      item,
		ConditionExpression:       aws.String("attribute_not_exists(pk) OR term <= :term"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":term": num(v.Term)},
		ReturnValues:              types.ReturnValueAllOld,
	})
	if IsConditionFailed(err) {
		err = ErrConflict
	}
	if err != nil {
		return View{}, false, fmt.Errorf("put view of %s at term %d: %w", v.Group, v.Term, err)
	}
	if len(out.Attributes) == 0 {
		return View{Group: v.Group}, false, nil
	}
	return viewOf(v.Group, out.Attributes), true, nil
}

// GetView reads the stored view of group; ok is false when none was stored yet.
func (l *Ledger) GetView(ctx context.Context, group string) (View, bool, error) {
	item, err := l.get(ctx, GroupKey(group), viewSK)
	if err != nil {
		return View{}, false, fmt.Errorf("get view of %s: %w", group, err)
	}
	if item == nil {
		return View{Group: group}, false, nil
	}
	return viewOf(group, item), true, nil
}

func viewOf(group string, item map[string]types.AttributeValue) View {
	return View{
		Group:      group,
		Term:       GetN(item, "term"),
		Holder:     GetS(item, "holder"),
		Active:     GetSS(item, "active"),
		Live:       GetSS(item, "live"),
		SplitBrain: GetBool(item, "split_brain"),
		Reachable:  GetBool(item, "reachable"),
		SeenAt:     time.UnixMilli(GetN(item, "seen_at_ms")),
		Detail:     GetS(item, "detail"),
	}
}
