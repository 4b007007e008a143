// Package ledger is the DynamoDB table the Lambdas share: the latest view of each cluster group,
// one record per failover, per action taken, per node stop, the restarter's backoff state, and the
// idempotency records. One table, keyed by a partition key naming the group and a sort key naming
// the record, so a group's whole history is one Query.
//
// Key schema (strings): pk = "GROUP#<group>"; sk = "VIEW" | "FAILOVER#<term, 20 digits>" |
// "ACTION#<epoch ms, 13 digits>#<event id>" | "STOP#<epoch ms, 13 digits>#<task id>" | "RESTART".
// Idempotency records use pk = "IDEMPOTENCY#<function>#<sha256>" and sk = "IDEMPOTENCY".
// Records that age out carry the TTL attribute "expiration" (epoch seconds).
package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Attribute names of the key and of the TTL, shared with the idempotency package and the template.
const (
	PartitionKey = "pk"
	SortKey      = "sk"
	TTLAttribute = "expiration"
)

// ErrConflict reports a conditional write that lost to a concurrent writer.
var ErrConflict = errors.New("ledger: conditional write lost to a concurrent writer")

// API is the part of the DynamoDB client the ledger and the idempotency store use; the SDK's
// *dynamodb.Client satisfies it. Dynalite supports every call in it.
type API interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// IAMActions are the DynamoDB actions the ledger and the idempotency store may call.
var IAMActions = []string{"dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query"}

// KeySchema is the table's primary key: pk (HASH) and sk (RANGE), both strings.
func KeySchema() []types.KeySchemaElement {
	return []types.KeySchemaElement{
		{AttributeName: aws.String(PartitionKey), KeyType: types.KeyTypeHash},
		{AttributeName: aws.String(SortKey), KeyType: types.KeyTypeRange},
	}
}

// AttributeDefinitions declares the key attributes' types for CreateTable and the template.
func AttributeDefinitions() []types.AttributeDefinition {
	return []types.AttributeDefinition{
		{AttributeName: aws.String(PartitionKey), AttributeType: types.ScalarAttributeTypeS},
		{AttributeName: aws.String(SortKey), AttributeType: types.ScalarAttributeTypeS},
	}
}

// CreateTableInput is the table as the template declares it (on-demand billing). Enable TTL on
// TTLAttribute separately: the template does it, dynalite cannot.
func CreateTableInput(name string) *dynamodb.CreateTableInput {
	return &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		KeySchema:            KeySchema(),
		AttributeDefinitions: AttributeDefinitions(),
		BillingMode:          types.BillingModePayPerRequest,
	}
}

// Ledger reads and writes the records of one table.
type Ledger struct {
	DB        API
	Table     string
	Retention time.Duration    // how long action and stop records live; 0 means 90 days
	Now       func() time.Time // nil means time.Now
}

// New returns a ledger on table.
func New(db API, table string) *Ledger { return &Ledger{DB: db, Table: table} }

func (l *Ledger) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *Ledger) expiry() types.AttributeValue {
	r := l.Retention
	if r <= 0 {
		r = 90 * 24 * time.Hour
	}
	return num(l.now().Add(r).Unix())
}

// GroupKey is the partition key of a cluster group's records.
func GroupKey(group string) string { return "GROUP#" + group }

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{PartitionKey: str(pk), SortKey: str(sk)}
}

func (l *Ledger) put(ctx context.Context, item map[string]types.AttributeValue, cond string, values map[string]types.AttributeValue) error {
	in := &dynamodb.PutItemInput{TableName: aws.String(l.Table), Item: item}
	if cond != "" {
		in.ConditionExpression = aws.String(cond)
		in.ExpressionAttributeValues = values
	}
	_, err := l.DB.PutItem(ctx, in)
	if IsConditionFailed(err) {
		return ErrConflict
	}
	return err
}

func (l *Ledger) get(ctx context.Context, pk, sk string) (map[string]types.AttributeValue, error) {
	out, err := l.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(l.Table), Key: key(pk, sk), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, err
	}
	return out.Item, nil
}

// query returns every item of pk whose sort key lies in [from, to], following pagination.
func (l *Ledger) query(ctx context.Context, pk, from, to string) ([]map[string]types.AttributeValue, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(l.Table),
		KeyConditionExpression:    aws.String("pk = :pk AND sk BETWEEN :from AND :to"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pk), ":from": str(from), ":to": str(to)},
		ConsistentRead:            aws.Bool(true),
	}
	var items []map[string]types.AttributeValue
	for {
		out, err := l.DB.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("query %s %s..%s: %w", pk, from, to, err)
		}
		items = append(items, out.Items...)
		if len(out.LastEvaluatedKey) == 0 {
			return items, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// IsConditionFailed reports whether err is DynamoDB's ConditionalCheckFailedException.
func IsConditionFailed(err error) bool {
	var cf *types.ConditionalCheckFailedException
	return errors.As(err, &cf)
}

// TableCreator is the CreateTable call of the DynamoDB client, for tests and tools.
type TableCreator interface {
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
}

// CreateTable creates the ledger table as CreateTableInput describes it.
func CreateTable(ctx context.Context, c TableCreator, name string) error {
	if _, err := c.CreateTable(ctx, CreateTableInput(name)); err != nil {
		return fmt.Errorf("create ledger table %s: %w", name, err)
	}
	return nil
}
