package lake

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/eventlake/eventlake/internal/backoff"
	"github.com/eventlake/eventlake/tracker"
)

// DynamoDBAPI is the part of the DynamoDB client an erasure uses on the hot
// store. *dynamodb.Client implements it; tests hand in DynamoDB Local's.
type DynamoDBAPI interface {
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
}

// HotStore is the DynamoDB side of an erasure: the events table (partition
// key actor, "u#<user>" or "a#<visitor>") and the summary table (one item
// per actor). It is safe for concurrent use.
//
// Deleting an actor's events costs one Query page (1 MB) per 1 MB of its
// items' keys and one write unit per item deleted; the deletions appear in
// the table's stream as REMOVE records, which the relay's INSERT-only
// filter never passes to the lake.
type HotStore struct {
	db             DynamoDBAPI
	events, sumTbl string
	retry          backoff.Policy
}

// NewHotStore returns the hot store of the two tables.
func NewHotStore(db DynamoDBAPI, eventsTable, summaryTable string) (*HotStore, error) {
	if db == nil || eventsTable == "" || summaryTable == "" {
		return nil, errors.New("lake: NewHotStore needs a client and both table names")
	}
	return &HotStore{db: db, events: eventsTable, sumTbl: summaryTable, retry: backoff.Policy{Jitter: backoff.Full}}, nil
}

// Tables returns the names of the events and summary tables.
func (h *HotStore) Tables() (events, summary string) { return h.events, h.sumTbl }

func actorKey(prefix, id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{tracker.AttrActor: &types.AttributeValueMemberS{Value: prefix + id}}
}

// summaryItem is what an erasure reads of a summary item.
type summaryItem struct {
	AnonymousIDs []string `dynamodbav:"anonymous_ids,stringset,omitempty"`
	UserID       string   `dynamodbav:"user_id,omitempty"`
}

func (h *HotStore) summary(ctx context.Context, prefix, id string) (summaryItem, bool, error) {
	out, err := h.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &h.sumTbl, Key: actorKey(prefix, id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return summaryItem{}, false, fmt.Errorf("read the summary of an actor in %s: %w", h.sumTbl, err)
	}
	if out.Item == nil {
		return summaryItem{}, false, nil
	}
	var it summaryItem
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return summaryItem{}, false, fmt.Errorf("summary item in %s: %w", h.sumTbl, err)
	}
	return it, true, nil
}

// candidates returns the anonymous IDs the hot store saw with userID: on
// its summary item and on its events.
func (h *HotStore) candidates(ctx context.Context, userID string) ([]string, error) {
	seen := map[string]bool{}
	it, _, err := h.summary(ctx, userPrefix, userID)
	if err != nil {
		return nil, err
	}
	for _, a := range it.AnonymousIDs {
		seen[a] = true
	}
	err = h.scanActor(ctx, userPrefix+userID, []string{tracker.AttrActor, tracker.AttrEventKey, tracker.FieldAnonymousID}, func(items []map[string]types.AttributeValue) error {
		for _, item := range items {
			if s, ok := item[tracker.FieldAnonymousID].(*types.AttributeValueMemberS); ok && s.Value != "" {
				seen[s.Value] = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(seen))
	for a := range seen {
		out = append(out, a)
	}
	slices.Sort(out)
	return out, nil
}

// visitorLink returns the user a visitor's summary links it to (the first
// link, as the identities view), and whether the visitor has a summary.
func (h *HotStore) visitorLink(ctx context.Context, anonymousID string) (string, bool, error) {
	it, ok, err := h.summary(ctx, anonymousPrefix, anonymousID)
	return it.UserID, ok, err
}

// scanActor pages through the items of one actor's partition of the events
// table, with the projected attributes.
func (h *HotStore) scanActor(ctx context.Context, actor string, attrs []string, page func([]map[string]types.AttributeValue) error) error {
	proj := expression.NamesList(expression.Name(attrs[0]))
	for _, a := range attrs[1:] {
		proj = proj.AddNames(expression.Name(a))
	}
	ex, err := expression.NewBuilder().
		WithKeyCondition(expression.Key(tracker.AttrActor).Equal(expression.Value(actor))).
		WithProjection(proj).Build()
	if err != nil {
		return err
	}
	in := &dynamodb.QueryInput{
		TableName:                 &h.events,
		KeyConditionExpression:    ex.KeyCondition(),
		ProjectionExpression:      ex.Projection(),
		ExpressionAttributeNames:  ex.Names(),
		ExpressionAttributeValues: ex.Values(),
		ConsistentRead:            aws.Bool(true),
	}
	for {
		out, err := h.db.Query(ctx, in)
		if err != nil {
			return fmt.Errorf("query an actor's events in %s: %w", h.events, err)
		}
		if err := page(out.Items); err != nil {
			return err
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// HotResult counts what an erasure deleted from the hot store.
type HotResult struct {
	EventsDeleted  int `json:"events_deleted"`
	SummaryDeleted int `json:"summary_items_deleted"`
}

// DeleteActor deletes every event of an actor ("u#" + user ID or "a#" +
// anonymous ID, tracker.ActorKey) from the events table, then its summary
// item. A second call finds nothing and deletes nothing.
func (h *HotStore) DeleteActor(ctx context.Context, actor string) (HotResult, error) {
	var res HotResult
	err := h.scanActor(ctx, actor, []string{tracker.AttrActor, tracker.AttrEventKey}, func(items []map[string]types.AttributeValue) error {
		for len(items) > 0 {
			n := min(len(items), 25)
			reqs := make([]types.WriteRequest, n)
			for i, it := range items[:n] {
				reqs[i] = types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: map[string]types.AttributeValue{
					tracker.AttrActor: it[tracker.AttrActor], tracker.AttrEventKey: it[tracker.AttrEventKey]}}}
			}
			if err := h.batchDelete(ctx, reqs); err != nil {
				return err
			}
			res.EventsDeleted += n
			items = items[n:]
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	out, err := h.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:    &h.sumTbl,
		Key:          map[string]types.AttributeValue{tracker.AttrActor: &types.AttributeValueMemberS{Value: actor}},
		ReturnValues: types.ReturnValueAllOld,
	})
	if err != nil {
		return res, fmt.Errorf("delete a summary item from %s: %w", h.sumTbl, err)
	}
	if len(out.Attributes) > 0 {
		res.SummaryDeleted++
	}
	return res, nil
}

// batchDelete writes reqs, retrying unprocessed items with backoff until
// ctx ends.
func (h *HotStore) batchDelete(ctx context.Context, reqs []types.WriteRequest) error {
	for attempt := 1; len(reqs) > 0; attempt++ {
		out, err := h.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{h.events: reqs}})
		if err != nil {
			return fmt.Errorf("delete %d events from %s: %w", len(reqs), h.events, err)
		}
		reqs = out.UnprocessedItems[h.events]
		if len(reqs) > 0 {
			if err := h.retry.Wait(ctx, attempt); err != nil {
				return err
			}
		}
	}
	return nil
}
