package tracker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"sync/atomic"
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

	// DefaultAttributes are merged into every event's attributes, under
	// them: a key the event sets itself keeps the event's value. Typical
	// entries name the application, its version or the deployment
	// ("app_version": "2.4.1"). Validate, Put and AsyncWriter.Put apply
	// them before validation, so together with the event's own they must
	// keep to the attribute limits. New validates and copies the map.
	DefaultAttributes map[string]string
	// BeforeSend, when set, sees every valid event before it is written,
	// and returns the event to write and whether to write it: it may
	// change the event (drop an attribute that holds personal data), sample
	// (keep one page view in ten) or drop it (internal traffic, bots).
	//
	// It runs in Put and AsyncWriter.Put on the caller's goroutine, after
	// DefaultAttributes are merged and the event is validated and
	// normalized (so it sees the stored form: UTC millisecond time, the IP
	// after IPPolicy, the cleaned user agent; ID is empty when the tracker
	// will generate one), and before anything is queued or written. The
	// event it returns is validated again, so a hook can never store an
	// invalid event: Put then returns that *ValidationError. A dropped event
	// is no error: Put returns nil, and Stats().Filtered (AsyncStats.Filtered
	// for an AsyncWriter) counts it. Tracker.Validate does not call it.
	//
	// BeforeSend is called concurrently from every goroutine that puts
	// events; it must be safe for concurrent use and fast (it adds to every
	// Put). It must not modify the map in e.Attributes, which belongs to
	// the caller or to DefaultAttributes: to change attributes, return a
	// new map (maps.Clone, then edit).
	BeforeSend func(e Event) (Event, bool)
	// OnSuccess, when set, is called once for every event stored, with the
	// event as stored (ID included): by Put on the caller's goroutine
	// before it returns, by an AsyncWriter on its worker goroutines,
	// possibly concurrently, after DynamoDB acknowledged the write. An
	// identical event put again (a retry, a spool replay) is acknowledged,
	// and reported, again. It must be safe for concurrent use, return
	// quickly, and not call an AsyncWriter's Flush or Close.
	OnSuccess func(e Event)
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
	defaults     map[string]string
	beforeSend   func(Event) (Event, bool)
	onSuccess    func(Event)
	written      atomic.Int64
	filtered     atomic.Int64
	routes       map[string]Route
	lake         *lake // nil when no type takes RouteLake
}

// PutStats counts what Tracker.Put did since New; AsyncWriter.Stats counts
// for an AsyncWriter.
type PutStats struct {
	// Written events were stored (or found stored, identical) by Put.
	Written int64
	// Filtered events were dropped by Config.BeforeSend.
	Filtered int64
}

// Stats returns the counters of Put.
func (t *Tracker) Stats() PutStats {
	return PutStats{Written: t.written.Load(), Filtered: t.filtered.Load()}
}

// New returns a Tracker that writes with db. It fails when db is nil (also
// a nil *dynamodb.Client) or the configuration is invalid (no EventsTable,
// an empty allowlist or an empty or malformed event type in it, invalid
// DefaultAttributes, a negative duration, an unknown IPPolicy, a route for a
// type that is not allowed or a RouteLake without Firehose and
// DeliveryStream). New does no I/O.
func New(db DynamoDB, cfg Config) (*Tracker, error) {
	if db == nil {
		return nil, errors.New("tracker: nil DynamoDB client")
	}
	if v := reflect.ValueOf(db); v.Kind() == reflect.Pointer && v.IsNil() {
		// A nil *dynamodb.Client in the interface would fail at the first
		// write, far from the mistake.
		return nil, fmt.Errorf("tracker: nil DynamoDB client (a nil %T)", db)
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
	} else if len(eventTypes) == 0 {
		return nil, errors.New("tracker: Config.EventTypes is empty, which would refuse every event: nil means DefaultEventTypes()")
	}
	allowed := make(map[string]struct{}, len(eventTypes))
	for _, t := range eventTypes {
		if t == "" || len(t) > MaxEventTypeBytes || !validAttributeKey(t) {
			return nil, fmt.Errorf("tracker: event type %q must be 1-%d letters, digits, '_', '-' or '.' starting with a letter",
				t, MaxEventTypeBytes)
		}
		allowed[t] = struct{}{}
	}
	if len(cfg.DefaultAttributes) > 0 {
		probe := validator{types: map[string]struct{}{"probe": {}}, skew: time.Hour, now: time.Now}
		if _, err := probe.normalize(Event{UserID: "probe", Type: "probe", Attributes: cfg.DefaultAttributes}); err != nil {
			return nil, fmt.Errorf("tracker: Config.DefaultAttributes: %w", err)
		}
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
		ids:        newIDSource(),
		beforeSend: cfg.BeforeSend,
		onSuccess:  cfg.OnSuccess,
		routes:     routes,
		lake:       lake,
	}
	if len(cfg.DefaultAttributes) > 0 {
		t.defaults = maps.Clone(cfg.DefaultAttributes)
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
// stored (DefaultAttributes merged, time defaulted and truncated, IP
// normalized, ID generated). It does not call BeforeSend. The error is a
// *ValidationError that lists every bad field.
func (t *Tracker) Validate(e Event) (Event, error) {
	e.Attributes = t.withDefaults(e.Attributes)
	n, err := t.v.normalize(e)
	if err != nil {
		return Event{}, err
	}
	if n.ID == "" {
		n.ID = t.ids.New(n.At)
	}
	return n, nil
}

// prepare is what Put and AsyncWriter.Put do before writing or queueing: it
// merges DefaultAttributes, validates and normalizes e in place and runs
// BeforeSend, whose result it validates again. It reports false when
// BeforeSend dropped the event. It allocates nothing when no defaults need
// merging and no hook is set.
func (t *Tracker) prepare(e *Event) (bool, error) {
	if t.defaults != nil {
		e.Attributes = t.withDefaults(e.Attributes)
	}
	if err := t.v.normalizeInPlace(e); err != nil {
		return false, err
	}
	if t.beforeSend == nil {
		return true, nil
	}
	out, keep := t.beforeSend(*e)
	if !keep {
		return false, nil
	}
	if err := t.v.normalizeInPlace(&out); err != nil {
		return false, fmt.Errorf("tracker: Config.BeforeSend returned an invalid event: %w", err)
	}
	*e = out
	return true, nil
}

// withDefaults returns attrs with the DefaultAttributes it lacks: attrs
// itself when it has them all, the shared defaults when attrs is empty, else
// a new map.
func (t *Tracker) withDefaults(attrs map[string]string) map[string]string {
	if len(t.defaults) == 0 {
		return attrs
	}
	if len(attrs) == 0 {
		return t.defaults
	}
	missing := false
	for k := range t.defaults {
		if _, ok := attrs[k]; !ok {
			missing = true
			break
		}
	}
	if !missing {
		return attrs
	}
	m := make(map[string]string, len(attrs)+len(t.defaults))
	maps.Copy(m, t.defaults)
	maps.Copy(m, attrs)
	return m
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
// example when the SDK retries after a lost response) succeeds. With
// Config.BeforeSend, an event the hook drops is not written and Put returns
// nil; Config.OnSuccess is called before Put returns nil for a stored event.
//
// An event without an ID gets a fresh UUIDv7 on every call, so a caller that
// retries Put after an error (which may be a timeout after the write
// happened) should set Event.ID, or use Validate once and put its result.
func (t *Tracker) Put(ctx context.Context, e Event) error {
	keep, err := t.prepare(&e)
	if err != nil {
		return err
	}
	if !keep {
		t.filtered.Add(1)
		return nil
	}
	if e.ID == "" {
		e.ID = t.ids.New(e.At)
	}
	if t.lake != nil && t.Route(e.Type) == RouteLake {
		if _, err := t.putLake(ctx, []Event{e}); err != nil {
			return err
		}
	} else if err := t.putNormalized(ctx, e); err != nil {
		return err
	}
	t.written.Add(1)
	if t.onSuccess != nil {
		t.onSuccess(e)
	}
	return nil
}

// putNormalized writes a normalized event with its ID set to DynamoDB with
// a conditional PutItem (see putItem), the error naming the event.
func (t *Tracker) putNormalized(ctx context.Context, n Event) error {
	av, err := t.marshal(n)
	if err != nil {
		return err
	}
	if err := t.putItem(ctx, av); err != nil {
		return fmt.Errorf("put event %s of %s: %w", n.ID, n.actor(), err)
	}
	return nil
}

// putItem writes the item av of a normalized event with a conditional
// PutItem that never overwrites an existing item. It returns nil when the
// item was written or an identical item was already stored (a retry after a
// lost response), ErrDuplicateEvent when a different item holds the key,
// and DynamoDB's error otherwise. Tracker.Put and the AsyncWriter's writes
// of caller-supplied IDs share it.
func (t *Tracker) putItem(ctx context.Context, av map[string]types.AttributeValue) error {
	_, err := t.db.PutItem(ctx, &dynamodb.PutItemInput{
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
		return ErrDuplicateEvent
	}
	return err
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
