// Package idempotency makes an action happen once per event although EventBridge delivers
// at least once, in the design of Powertools for AWS Lambda: a DynamoDB record keyed by the
// function and a hash of the event, taken with a conditional PutItem (INPROGRESS), completed with
// the result (COMPLETED), and aged out through a TTL attribute.
package idempotency

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/streamha/streamha/lambdas/ledger"
)

// Record statuses.
const (
	StatusInProgress = "INPROGRESS"
	StatusCompleted  = "COMPLETED"
)

// Attribute names of an idempotency record (the TTL attribute is ledger.TTLAttribute).
const (
	AttrStatus             = "status"
	AttrInProgressExpiry   = "in_progress_expiration" // epoch ms
	AttrData               = "data"
	AttrFunction           = "function"
	idempotencySortKeyName = "IDEMPOTENCY"
)

// ErrInProgress means another invocation is handling the same event right now; returning it
// makes the Lambda fail so EventBridge retries later, when the record is completed or expired.
var ErrInProgress = errors.New("idempotency: the same event is being handled by another invocation")

// Store runs handlers at most once per key.
type Store struct {
	DB       ledger.API
	Table    string
	Function string // namespace of the keys, usually the Lambda function name
	// Expiry is how long a completed record suppresses duplicates; 0 means one hour.
	Expiry time.Duration
	// InProgressExpiry bounds a lock whose holder died; 0 means the context deadline (the
	// Lambda's remaining time) or, without one, 15 minutes.
	InProgressExpiry time.Duration
	Now              func() time.Time // nil means time.Now
}

// Key is the partition key of payload's record: the function and the SHA-256 of the payload.
func Key(function string, payload []byte) string {
	sum := sha256.Sum256(payload)
	return "IDEMPOTENCY#" + function + "#" + hex.EncodeToString(sum[:])
}

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Do runs fn unless a completed record for payload exists, in which case it returns the stored
// result with duplicate true. fn's error releases the lock so a retry may run it again.
func (s *Store) Do(ctx context.Context, payload []byte, fn func(ctx context.Context) (json.RawMessage, error)) (result json.RawMessage, duplicate bool, err error) {
	pk := Key(s.Function, payload)
	for attempt := 0; ; attempt++ {
		err := s.lock(ctx, pk)
		if err == nil {
			break
		}
		if !ledger.IsConditionFailed(err) {
			return nil, false, fmt.Errorf("idempotency lock %s: %w", pk, err)
		}
		data, found, err := s.completed(ctx, pk)
		if err != nil {
			return nil, false, err
		}
		if found {
			return data, true, nil
		}
		if attempt >= 2 { // the record keeps changing under us: let the platform retry
			return nil, false, ErrInProgress
		}
	}
	out, err := fn(ctx)
	if err != nil {
		if derr := s.release(context.WithoutCancel(ctx), pk); derr != nil {
			return nil, false, errors.Join(err, derr)
		}
		return nil, false, err
	}
	if err := s.complete(context.WithoutCancel(ctx), pk, out); err != nil {
		return out, false, err
	}
	return out, false, nil
}

func (s *Store) lock(ctx context.Context, pk string) error {
	now := s.now()
	expiry := s.Expiry
	if expiry <= 0 {
		expiry = time.Hour
	}
	inProgress := now.Add(15 * time.Minute)
	if s.InProgressExpiry > 0 {
		inProgress = now.Add(s.InProgressExpiry)
	} else if dl, ok := ctx.Deadline(); ok {
		inProgress = dl
	}
	_, err := s.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.Table),
		Item: map[string]types.AttributeValue{
			ledger.PartitionKey:  &types.AttributeValueMemberS{Value: pk},
			ledger.SortKey:       &types.AttributeValueMemberS{Value: idempotencySortKeyName},
			AttrStatus:           &types.AttributeValueMemberS{Value: StatusInProgress},
			AttrFunction:         &types.AttributeValueMemberS{Value: s.Function},
			ledger.TTLAttribute:  numAttr(now.Add(expiry).Unix()),
			AttrInProgressExpiry: numAttr(inProgress.UnixMilli()),
			"kind":               &types.AttributeValueMemberS{Value: "idempotency"},
		},
		ConditionExpression: aws.String("attribute_not_exists(#pk) OR #exp < :now OR (#st = :inprogress AND #ipexp < :now_ms)"),
		ExpressionAttributeNames: map[string]string{
			"#pk": ledger.PartitionKey, "#exp": ledger.TTLAttribute, "#st": AttrStatus, "#ipexp": AttrInProgressExpiry,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":now":        numAttr(now.Unix()),
			":now_ms":     numAttr(now.UnixMilli()),
			":inprogress": &types.AttributeValueMemberS{Value: StatusInProgress},
		},
	})
	return err
}

// completed reads the record after a lost lock: found reports a completed, unexpired record.
// An in-progress record yields ErrInProgress; a vanished one (expired and deleted) yields
// found=false with no error so the caller tries to lock again.
func (s *Store) completed(ctx context.Context, pk string) (json.RawMessage, bool, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.Table), Key: keyOf(pk), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, false, fmt.Errorf("idempotency read %s: %w", pk, err)
	}
	if out.Item == nil {
		return nil, false, nil
	}
	switch ledger.GetS(out.Item, AttrStatus) {
	case StatusCompleted:
		if ledger.GetN(out.Item, ledger.TTLAttribute) < s.now().Unix() {
			return nil, false, nil
		}
		return json.RawMessage(ledger.GetS(out.Item, AttrData)), true, nil
	default:
		if ledger.GetN(out.Item, AttrInProgressExpiry) < s.now().UnixMilli() {
			return nil, false, nil
		}
		return nil, false, ErrInProgress
	}
}

func (s *Store) complete(ctx context.Context, pk string, data json.RawMessage) error {
	expiry := s.Expiry
	if expiry <= 0 {
		expiry = time.Hour
	}
	if len(data) == 0 {
		data = json.RawMessage("null")
	}
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.Table),
		Key:                      keyOf(pk),
		UpdateExpression:         aws.String("SET #st = :completed, #data = :data, #exp = :exp REMOVE #ipexp"),
		ExpressionAttributeNames: map[string]string{"#st": AttrStatus, "#data": AttrData, "#exp": ledger.TTLAttribute, "#ipexp": AttrInProgressExpiry},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":completed": &types.AttributeValueMemberS{Value: StatusCompleted},
			":data":      &types.AttributeValueMemberS{Value: string(data)},
			":exp":       numAttr(s.now().Add(expiry).Unix()),
		},
	})
	if err != nil {
		return fmt.Errorf("idempotency complete %s: %w", pk, err)
	}
	return nil
}

func (s *Store) release(ctx context.Context, pk string) error {
	_, err := s.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(s.Table),
		Key:                       keyOf(pk),
		ConditionExpression:       aws.String("#st = :inprogress"),
		ExpressionAttributeNames:  map[string]string{"#st": AttrStatus},
		ExpressionAttributeValues: map[string]types.AttributeValue{":inprogress": &types.AttributeValueMemberS{Value: StatusInProgress}},
	})
	if err != nil && !ledger.IsConditionFailed(err) {
		return fmt.Errorf("idempotency release %s: %w", pk, err)
	}
	return nil
}

func keyOf(pk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		ledger.PartitionKey: &types.AttributeValueMemberS{Value: pk},
		ledger.SortKey:      &types.AttributeValueMemberS{Value: idempotencySortKeyName},
	}
}

func numAttr(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: fmt.Sprint(n)}
}
