package recovery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/eventlake/eventlake/lake"
	"github.com/eventlake/eventlake/lambdas/streamtofirehose/relay"
	"github.com/eventlake/eventlake/local/streamsource"
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
	// Lake is the lake bucket (errors/ and the kept-aside records; markers
	// under recovery/). Reprocess needs it; Redrive and Backfill keep
	// rejected records aside there when it is set.
	Lake lake.Store
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
	relay   *relay.Handler // keeps rejected records aside in Lake
	noAside *relay.Handler // for records already kept aside
	mu      sync.Mutex     // Progress
}

// New checks cfg and builds the relay handlers the tools send through.
func New(cfg Config) (*Tools, error) {
	if cfg.Firehose == nil || cfg.DeliveryStream == "" {
		return nil, errors.New("recovery: Config.Firehose and DeliveryStream are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	}
	rc := cfg.Relay
	rc.DeliveryStreamName, rc.Logger = cfg.DeliveryStream, cfg.Logger
	plain, err := relay.New(cfg.Firehose, rc)
	if err != nil {
		return nil, fmt.Errorf("recovery: %w", err)
	}
	t := &Tools{cfg: cfg, relay: plain, noAside: plain}
	if cfg.Lake != nil {
		rc.KeepAside = lake.Writer{Store: cfg.Lake}
		if t.relay, err = relay.New(cfg.Firehose, rc); err != nil {
			return nil, fmt.Errorf("recovery: %w", err)
		}
	}
	return t, nil
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
	// rejected, for records already kept aside).
	Records, Events, Rejected, KeptAside int
}

func (c *Counts) add(s relay.Stats) {
	c.Records += s.Records
	c.Events += s.Delivered
	c.Rejected += s.Rejected
	c.KeptAside += s.KeptAside
}

// sendItems sends table items (or images) through h as one INSERT record
// each, in invocations of at most 500, and reports an error when an event
// could not be delivered after the relay's retries.
func sendItems(ctx context.Context, h *relay.Handler, items []map[string]events.DynamoDBAttributeValue, c *Counts) error {
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
