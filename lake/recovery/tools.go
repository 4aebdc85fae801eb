package recovery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/eventlake/eventlake/lake"
	"github.com/eventlake/eventlake/lambdas/streamtofirehose/relay"
	"github.com/eventlake/eventlake/local/streamsource"
	"github.com/eventlake/eventlake/tracker"
)

// DynamoDBAPI is the part of the DynamoDB client the tools read the events
// table with; *dynamodb.Client satisfies it.
type DynamoDBAPI interface {
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

// Config configures New. Firehose and DeliveryStream are required; each
// tool needs some of the rest (it says which when they are missing).
type Config struct {
	// Firehose and DeliveryStream are where events go, through the relay's
	// code (relay.ClientOptions: the relay retries, not the SDK).
	Firehose       relay.FirehoseAPI
	DeliveryStream string
	// Relay tunes the relay's retries; its DeliveryStreamName, KeepAside and
	// Logger are set by New.
	Relay relay.Config
	// Lake is the lake bucket (required): the suppression list is read
	// from it, Reprocess reads errors/ and the kept-aside records and marks
	// what it did under recovery/, and records the relay rejects are kept
	// aside there.
	Lake lake.Store
	// Suppression is the suppression list the tools honour: the events of
	// actors an erasure forgot are never sent again (Counts.Suppressed).
	// Nil means a lake.SuppressionCache of Lake's list, loaded by New (which
	// fails when it cannot be read); every tool refreshes it when stale.
	Suppression *lake.SuppressionCache
	// Streams reads the events table's stream (Redrive).
	Streams streamsource.StreamsAPI
	// DynamoDB and EventsTable read the events table (Backfill, Redrive's
	// fallback, Reprocess of kept-aside records).
	DynamoDB    DynamoDBAPI
	EventsTable string
	// Progress receives one line per step (nil: none).
	Progress io.Writer
	// Logger receives the relay's logs; default warnings and errors on
	// stderr... nil means discard below error level.
	Logger *slog.Logger
}

// Tools runs the recovery tools. Its methods are safe for concurrent use.
type Tools struct {
	cfg     Config
	list    *lake.SuppressionCache
	relay   *relay.Handler // keeps rejected records aside in Lake
	noAside *relay.Handler // for records already kept aside
	mu      sync.Mutex     // Progress
}

// New checks cfg, loads the suppression list and builds the relay handlers
// the tools send through.
func New(ctx context.Context, cfg Config) (*Tools, error) {
	if cfg.Firehose == nil || cfg.DeliveryStream == "" {
		return nil, errors.New("recovery: Config.Firehose and DeliveryStream are required")
	}
	if cfg.Lake == nil {
		return nil, errors.New("recovery: Config.Lake is required (the suppression list, errors/, kept-aside records)")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	}
	list := cfg.Suppression
	if list == nil {
		var err error
		if list, err = lake.NewSuppressionCache(ctx, cfg.Lake, lake.SuppressionCacheConfig{Logger: cfg.Logger}); err != nil {
			return nil, fmt.Errorf("recovery: %w", err)
		}
	}
	rc := cfg.Relay
	rc.DeliveryStreamName, rc.Logger = cfg.DeliveryStream, cfg.Logger
	plain, err := relay.New(cfg.Firehose, rc)
	if err != nil {
		return nil, fmt.Errorf("recovery: %w", err)
	}
	rc.KeepAside = lake.Writer{Store: cfg.Lake}
	keeping, err := relay.New(cfg.Firehose, rc)
	if err != nil {
		return nil, fmt.Errorf("recovery: %w", err)
	}
	return &Tools{cfg: cfg, list: list, relay: keeping, noAside: plain}, nil
}

// fresh refreshes the suppression list when it is stale; a tool starts
// only with a list loaded.
func (t *Tools) fresh(ctx context.Context) error {
	_ = t.list.MaybeRefresh(ctx) // logged; the last list stays in use
	if !t.list.Loaded() {
		return errors.New("recovery: the suppression list was never loaded; nothing is sent")
	}
	return nil
}

func (t *Tools) progress(format string, args ...any) {
	if t.cfg.Progress == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(t.cfg.Progress, format+"\n", args...)
}

// Counts is what a tool sent.
type Counts struct {
	// Records are the stream records or items read; Events those delivered
	// to Firehose; KeptAside the rejected ones kept aside (or still
	// rejected, for records already kept aside); Suppressed the events of
	// forgotten actors, read and not sent (Config.Suppression).
	Records, Events, Rejected, KeptAside, Suppressed int
}

func (c *Counts) add(s relay.Stats) {
	c.Records += s.Records
	c.Events += s.Delivered
	c.Rejected += s.Rejected
	c.KeptAside += s.KeptAside
}

func (c *Counts) addCounts(o Counts) {
	c.Records += o.Records
	c.Events += o.Events
	c.Rejected += o.Rejected
	c.KeptAside += o.KeptAside
	c.Suppressed += o.Suppressed
}

// imageIDs returns the user and anonymous ID of an image: its user_id and
// anonymous_id strings, else what its actor key names.
func imageIDs(img map[string]events.DynamoDBAttributeValue) (user, anon string) {
	str := func(name string) string {
		if v, ok := img[name]; ok && v.DataType() == events.DataTypeString {
			return v.String()
		}
		return ""
	}
	return actorIDs(str(tracker.FieldUserID), str(tracker.FieldAnonymousID), str(tracker.AttrActor))
}

// actorIDs returns the IDs of an image's actor: user and anon as the image
// has them, or, when it has neither (an image that breaks the schema), the
// one its actor key (tracker.ActorKey) names.
func actorIDs(user, anon, actor string) (string, string) {
	if user == "" && anon == "" {
		if u, ok := strings.CutPrefix(actor, "u#"); ok {
			return u, ""
		}
		if a, ok := strings.CutPrefix(actor, "a#"); ok {
			return "", a
		}
	}
	return user, anon
}

// unsuppressed returns items without the images of forgotten actors,
// counting those in c.Records and c.Suppressed.
func (t *Tools) unsuppressed(items []map[string]events.DynamoDBAttributeValue, c *Counts) []map[string]events.DynamoDBAttributeValue {
	list := t.list.List()
	if list.Len() == 0 {
		return items
	}
	kept := items[:0:0]
	for _, img := range items {
		if list.Suppressed(imageIDs(img)) {
			c.Records++
			c.Suppressed++
			continue
		}
		kept = append(kept, img)
	}
	return kept
}

// sendItems sends table items (or images) through h as one INSERT record
// each, in invocations of at most 500, leaving out those of forgotten
// actors, and reports an error when an event could not be delivered after
// the relay's retries.
func (t *Tools) sendItems(ctx context.Context, h *relay.Handler, items []map[string]events.DynamoDBAttributeValue, c *Counts) error {
	items = t.unsuppressed(items, c)
	for len(items) > 0 {
		n := min(len(items), 500)
		ev := events.DynamoDBEvent{Records: make([]events.DynamoDBEventRecord, n)}
		for i := range n {
			ev.Records[i] = events.DynamoDBEventRecord{
				EventID:   "recovery-" + strconv.Itoa(i),
				EventName: string(events.DynamoDBOperationTypeInsert),
				Change: events.DynamoDBStreamRecord{
					NewImage:       items[i],
					SequenceNumber: strconv.Itoa(i + 1),
					StreamViewType: "NEW_IMAGE",
				},
			}
		}
		resp, st := h.HandleStats(ctx, ev)
		c.add(st)
		if len(resp.BatchItemFailures) > 0 {
			return fmt.Errorf("recovery: %d events could not be delivered to Firehose after every retry", st.FailedEvents)
		}
		items = items[n:]
	}
	return nil
}

// imageOf converts an item of the SDK into the stream's attribute values.
func imageOf(item map[string]types.AttributeValue) map[string]events.DynamoDBAttributeValue {
	out := make(map[string]events.DynamoDBAttributeValue, len(item))
	for k, v := range item {
		out[k] = attrOf(v)
	}
	return out
}

func attrOf(v types.AttributeValue) events.DynamoDBAttributeValue {
	switch x := v.(type) {
	case *types.AttributeValueMemberS:
		return events.NewStringAttribute(x.Value)
	case *types.AttributeValueMemberN:
		return events.NewNumberAttribute(x.Value)
	case *types.AttributeValueMemberB:
		return events.NewBinaryAttribute(x.Value)
	case *types.AttributeValueMemberBOOL:
		return events.NewBooleanAttribute(x.Value)
	case *types.AttributeValueMemberNULL:
		return events.NewNullAttribute()
	case *types.AttributeValueMemberM:
		m := make(map[string]events.DynamoDBAttributeValue, len(x.Value))
		for k, e := range x.Value {
			m[k] = attrOf(e)
		}
		return events.NewMapAttribute(m)
	case *types.AttributeValueMemberL:
		l := make([]events.DynamoDBAttributeValue, len(x.Value))
		for i, e := range x.Value {
			l[i] = attrOf(e)
		}
		return events.NewListAttribute(l)
	case *types.AttributeValueMemberSS:
		return events.NewStringSetAttribute(x.Value)
	case *types.AttributeValueMemberNS:
		return events.NewNumberSetAttribute(x.Value)
	case *types.AttributeValueMemberBS:
		return events.NewBinarySetAttribute(x.Value)
	}
	return events.NewNullAttribute()
}
