package tracker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DynamoDB is the part of the DynamoDB API the tracker uses. The real
// *dynamodb.Client satisfies it; tests hand in DynamoDB Local's client or a
// wrapper around it that injects faults.
type DynamoDB interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// Config configures a Tracker. EventsTable is required; the zero value of
// every other field means its default.
type Config struct {
	// EventsTable is the events table's name (required: the deployed stack
	// names its tables, so there is no default to fall back on; see
	// EventsTableDef for its keys).
	EventsTable string
	// SummaryTable is the per-user summary table's name. It is needed by
	// the Summary reads and the Summarizer; empty means they fail with an
	// error saying so.
	SummaryTable string
	// EventTypes is the allowlist of event types; nil means
	// DefaultEventTypes().
	EventTypes []string
	// MaxFutureSkew is how far in the future an event may be; zero means
	// DefaultMaxFutureSkew.
	MaxFutureSkew time.Duration
	// MaxAge, when positive, rejects events older than now minus MaxAge.
	MaxAge time.Duration
	// Retention, when positive, sets expires_at (DynamoDB TTL) to the event
	// time plus Retention, so the table prunes itself; the lake keeps history.
	Retention time.Duration
	// IPPolicy keeps, anonymizes or drops IP addresses at write time.
	IPPolicy IPPolicy
	// Routes maps event types to routes: RouteHot (DynamoDB, then the
	// stream to the lake) or RouteLake (straight to Firehose, never in
	// DynamoDB). A type it does not name takes RouteHot; every type it
	// names must be allowed. Put, PutBatch and the AsyncWriter all honour
	// it. A RouteLake entry needs Firehose and DeliveryStream.
	Routes map[string]Route
	// Firehose is the client the lake route sends with (create it with
	// LakeClientOptions), and DeliveryStream the delivery stream the relay
	// writes to (the stack's delivery stream name). Unused without a
	// RouteLake entry in Routes.
	Firehose       Firehose
	DeliveryStream string
	// Now returns the current time; nil means time.Now. For tests.
	Now func() time.Time
}

// Tracker validates events and writes them to DynamoDB. It is safe for
// concurrent use. Create one per process with New and share it.
type Tracker struct {
	db           DynamoDB
	eventsTable  string
	summaryTable string
	retention    time.Duration
	v            validator
	ids          *idSource
	condition    expression.Expression
	routes       map[string]Route
	lake         *lake // nil when no type takes RouteLake
}

// New returns a Tracker that writes with db. It fails when the configuration
// is invalid (an empty or malformed event type in the allowlist, a negative
// duration, an unknown IPPolicy, a route for a type that is not allowed or
// a RouteLake without Firehose and DeliveryStream). New does no I/O.
func New(db DynamoDB, cfg Config) (*Tracker, error) {
	if db == nil {
		return nil, errors.New("tracker: nil DynamoDB client")
	}
	if cfg.EventsTable == "" {
		return nil, errors.New("tracker: Config.EventsTable is empty: set the events table's name (the stack's EventsTableName output)")
	}
	if cfg.MaxFutureSkew < 0 || cfg.Retention < 0 || cfg.MaxAge < 0 {
		return nil, errors.New("tracker: negative duration in Config")
	}
	if cfg.IPPolicy < IPKeep || cfg.IPPolicy > IPDrop {
		return nil, fmt.Errorf("tracker: unknown IPPolicy %d", cfg.IPPolicy)
	}
	eventTypes := cfg.EventTypes
	if eventTypes == nil {
		eventTypes = defaultEventTypes
	}
	allowed := make(map[string]struct{}, len(eventTypes))
	for _, t := range eventTypes {
		if t == "" || len(t) > MaxEventTypeBytes || !validAttributeKey(t) {
			return nil, fmt.Errorf("tracker: event type %q must be 1-%d letters, digits, '_', '-' or '.' starting with a letter",
				t, MaxEventTypeBytes)
		}
		allowed[t] = struct{}{}
	}
	routes, lake, err := newRoutes(cfg, allowed)
	if err != nil {
		return nil, err
	}
	t := &Tracker{
		db:           db,
		eventsTable:  cfg.EventsTable,
		summaryTable: cfg.SummaryTable,
		retention:    cfg.Retention,
		v: validator{
			types:  allowed,
			skew:   cfg.MaxFutureSkew,
			ip:     cfg.IPPolicy,
			now:    cfg.Now,
			maxAge: cfg.MaxAge,
		},
		ids:    newIDSource(),
		routes: routes,
		lake:   lake,
	}
	if t.v.skew == 0 {
		t.v.skew = DefaultMaxFutureSkew
	}
	if t.v.now == nil {
		t.v.now = time.Now
	}
	cond, err := expression.NewBuilder().
		WithCondition(expression.AttributeNotExists(expression.Name(AttrActor))).
		Build()
	if err != nil {
		return nil, fmt.Errorf("tracker: build condition: %w", err)
	}
	t.condition = cond
	return t, nil
}

// EventsTableName returns the name of the events table.
func (t *Tracker) EventsTableName() string { return t.eventsTable }

// SummaryTableName returns the name of the per-user summary table.
func (t *Tracker) SummaryTableName() string { return t.summaryTable }

// Validate checks e without writing it and returns the event as it would be
// stored (time defaulted and truncated, IP normalized, ID generated). The
// error is a *ValidationError that lists every bad field.
func (t *Tracker) Validate(e Event) (Event, error) {
	n, err := t.v.normalize(e)
	if err != nil {
		return Event{}, err
	}
	if n.ID == "" {
		n.ID = t.ids.New(n.At)
	}
	return n, nil
}

// item is the DynamoDB item of an event.
type item struct {
	Actor       string            `dynamodbav:"actor"`
	EventKey    string            `dynamodbav:"event_key"`
	UserID      string            `dynamodbav:"user_id,omitempty"`
	AnonymousID string            `dynamodbav:"anonymous_id,omitempty"`
	EventAt     string            `dynamodbav:"event_at"`
	EventID     string            `dynamodbav:"event_id"`
	EventType   string            `dynamodbav:"event_type"`
	UserAgent   string            `dynamodbav:"user_agent,omitempty"`
	IPAddress   string            `dynamodbav:"ip_address,omitempty"`
	DeviceType  string            `dynamodbav:"device_type,omitempty"`
	Browser     string            `dynamodbav:"browser,omitempty"`
	OS          string            `dynamodbav:"os,omitempty"`
	IsBot       bool              `dynamodbav:"is_bot"`
	Attributes  map[string]string `dynamodbav:"attributes,omitempty"`
	ExpiresAt   int64             `dynamodbav:"expires_at,omitempty"`
}

// marshal returns the item of a normalized event with its ID set, enriched
// with the classification of its user agent.
func (t *Tracker) marshal(e Event) (map[string]types.AttributeValue, error) {
	at := e.At.Format(TimeLayout)
	c := Classify(e.UserAgent)
	it := item{
		Actor:       ActorKey(e.UserID, e.AnonymousID),
		EventKey:    at + "#" + e.ID,
		UserID:      e.UserID,
		AnonymousID: e.AnonymousID,
		EventAt:     at,
		EventID:     e.ID,
		EventType:   e.Type,
		UserAgent:   e.UserAgent,
		IPAddress:   e.IP,
		DeviceType:  c.DeviceType,
		Browser:     c.Browser,
		OS:          c.OS,
		IsBot:       c.Bot,
		Attributes:  e.Attributes,
	}
	if t.retention > 0 {
		it.ExpiresAt = e.At.Add(t.retention).Unix()
	}
	av, err := attributevalue.MarshalMap(it)
	if err != nil {
		return nil, fmt.Errorf("marshal event %s: %w", e.ID, err)
	}
	return av, nil
}

// Put validates e and writes it synchronously with a conditional PutItem, so
// an existing event is never overwritten; an event whose type takes
// RouteLake is sent to Firehose instead, and Put returns once Firehose
// acknowledged it (Firehose has no conditions: sending an event twice puts
// two lines with its ID in the lake, which the events_dedup view removes). It returns a *ValidationError
// (errors.Is(err, ErrInvalidEvent)) without writing anything when e is
// invalid, and ErrDuplicateEvent when a different event with the same user,
// time and ID is already stored. Writing the identical event twice (for
// example when the SDK retries after a lost response) succeeds.
//
// An event without an ID gets a fresh UUIDv7 on every call, so a caller that
// retries Put after an error (which may be a timeout after the write
// happened) should set Event.ID, or use Validate once and put its result.
func (t *Tracker) Put(ctx context.Context, e Event) error {
	n, err := t.Validate(e)
	if err != nil {
		return err
	}
	if t.lake != nil && t.Route(n.Type) == RouteLake {
		_, err := t.putLake(ctx, []Event{n})
		return err
	}
	return t.putNormalized(ctx, n)
}

// putNormalized writes a normalized event with its ID set to DynamoDB with
// a conditional PutItem (see Put).
func (t *Tracker) putNormalized(ctx context.Context, n Event) error {
	av, err := t.marshal(n)
	if err != nil {
		return err
	}
	_, err = t.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           aws.String(t.eventsTable),
		Item:                                av,
		ConditionExpression:                 t.condition.Condition(),
		ExpressionAttributeNames:            t.condition.Names(),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		if sameItem(ccf.Item, av) {
			return nil
		}
		return fmt.Errorf("put event %s of %s: %w", n.ID, n.actor(), ErrDuplicateEvent)
	}
	if err != nil {
		return fmt.Errorf("put event %s of %s: %w", n.ID, n.actor(), err)
	}
	return nil
}

// sameItem reports whether two event items hold the same values.
func sameItem(a, b map[string]types.AttributeValue) bool {
	if len(a) != len(b) {
		return false
	}
	var x, y item
	if attributevalue.UnmarshalMap(a, &x) != nil || attributevalue.UnmarshalMap(b, &y) != nil {
		return false
	}
	return x.Actor == y.Actor && x.EventKey == y.EventKey && x.UserID == y.UserID && x.AnonymousID == y.AnonymousID &&
		x.EventType == y.EventType && x.UserAgent == y.UserAgent && x.IPAddress == y.IPAddress &&
		x.ExpiresAt == y.ExpiresAt && maps.Equal(x.Attributes, y.Attributes)
}

// actor names the event's user or visitor for error messages: user "42" or
// anonymous visitor "f00".
func (e Event) actor() string {
	if e.UserID != "" {
		return fmt.Sprintf("user %q", e.UserID)
	}
	return fmt.Sprintf("anonymous visitor %q", e.AnonymousID)
}
