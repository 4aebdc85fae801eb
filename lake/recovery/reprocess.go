package recovery

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/eventlake/eventlake/lake"
	"github.com/eventlake/eventlake/lambdas/streamtofirehose/relay"
	"github.com/eventlake/eventlake/tracker"
)

// Prefixes of the lake the tools read and write.
const (
	// ErrorsPrefix holds Firehose's error output
	// (errors/<error-output-type>/dt=<day>/...) and, under
	// relay.KeepAsidePrefix, the relay's kept-aside records.
	ErrorsPrefix = "errors/"
	// DonePrefix holds one marker per reprocessed object:
	// DonePrefix + the object's key + ".json".
	DonePrefix = "recovery/reprocessed/"
)

// ReprocessOptions selects what Reprocess resubmits. The zero value means
// both Firehose's error output and the relay's kept-aside records.
type ReprocessOptions struct {
	// Firehose and Relay select the sources; neither set means both.
	Firehose, Relay bool
	// FromTable makes Reprocess read a kept-aside record's item from the
	// events table by its key (actor, event_key) when the table still has
	// it, so that an item fixed in the table is what is sent; otherwise the
	// kept image is sent (after a fix of the relay).
	FromTable bool
	// DryRun lists what would be resubmitted and sends nothing.
	DryRun bool
}

// ReprocessSummary is what Reprocess did.
type ReprocessSummary struct {
	// Objects counts the objects found; Done those resubmitted whole (and
	// marked); Skipped those marked done by an earlier run; Pending those
	// that still hold records that cannot go (left unmarked).
	Objects, Done, Skipped, Pending int
	Counts
	// StillRejected counts records that still break the schema.
	StillRejected int
}

// Reprocess resubmits, once their cause is fixed, Firehose's error records
// (under errors/, each record's rawData: the events it could not partition
// or convert) and the relay's kept-aside records (under errors/relay/:
// images that broke the schema), through the relay's validation and
// encoding, to Firehose, leaving out the events of actors an erasure forgot
// (Suppressed). An object all of whose events went is marked done
// (DonePrefix), so a second run skips it; an object with records that still
// break the schema stays unmarked and those records are counted in
// StillRejected (Firehose's: kept aside by the relay from now on). Objects
// are never deleted (the lake's lifecycle expires errors/).
func (t *Tools) Reprocess(ctx context.Context, opts ReprocessOptions) (ReprocessSummary, error) {
	if t.cfg.Lake == nil {
		return ReprocessSummary{}, errors.New("recovery: reprocess needs Config.Lake")
	}
	if opts.FromTable && (t.cfg.DynamoDB == nil || t.cfg.EventsTable == "") {
		return ReprocessSummary{}, errors.New("recovery: reprocess -from-table needs Config.DynamoDB and EventsTable")
	}
	if !opts.Firehose && !opts.Relay {
		opts.Firehose, opts.Relay = true, true
	}
	if err := t.fresh(ctx); err != nil {
		return ReprocessSummary{}, err
	}
	var sum ReprocessSummary
	objs, err := t.cfg.Lake.List(ctx, ErrorsPrefix)
	if err != nil {
		return sum, err
	}
	marks, err := t.cfg.Lake.List(ctx, DonePrefix)
	if err != nil {
		return sum, err
	}
	done := map[string]bool{}
	for _, m := range marks {
		done[strings.TrimSuffix(strings.TrimPrefix(m.Key, DonePrefix), ".json")] = true
	}
	var errs []error
	for _, o := range objs {
		kept := strings.HasPrefix(o.Key, relay.KeepAsidePrefix)
		if kept && !opts.Relay || !kept && !opts.Firehose {
			continue
		}
		sum.Objects++
		if done[o.Key] {
			sum.Skipped++
			continue
		}
		var c Counts
		var still int
		if kept {
			c, still, err = t.reprocessKept(ctx, o.Key, opts)
		} else {
			c, still, err = t.reprocessFirehose(ctx, o.Key, opts)
		}
		sum.Counts.addCounts(c)
		sum.StillRejected += still
		switch {
		case err != nil:
			errs = append(errs, err)
			sum.Pending++
			t.progress("reprocess: %s: %v", t.cfg.Lake.URI(o.Key), err)
		case opts.DryRun:
			t.progress("reprocess: %s: %d records, %d would be sent, %d still break the schema (dry run)", o.Key, c.Records, c.Records-still, still)
		case still > 0:
			sum.Pending++
			t.progress("reprocess: %s: %d events sent, %d records still break the schema; not marked done", o.Key, c.Events, still)
		default:
			marker, _ := json.Marshal(map[string]any{"key": o.Key, "reprocessed_at": time.Now().UTC(), "records": c.Records, "events_sent": c.Events,
				"kept_aside": c.KeptAside, "suppressed": c.Suppressed})
			if _, err := t.cfg.Lake.Put(ctx, DonePrefix+o.Key+".json", marker, lake.Condition{}); err != nil {
				errs = append(errs, err)
				sum.Pending++
				continue
			}
			sum.Done++
			t.progress("reprocess: %s: %d events sent, %d kept aside, %d of forgotten actors left out; marked done", o.Key, c.Events, c.KeptAside, c.Suppressed)
		}
	}
	t.progress("reprocess: %d objects: %d done, %d done before, %d pending; %d records, %d events sent, %d still break the schema, %d of forgotten actors left out",
		sum.Objects, sum.Done, sum.Skipped, sum.Pending, sum.Records, sum.Events, sum.StillRejected, sum.Suppressed)
	if len(errs) > 0 {
		return sum, fmt.Errorf("recovery: reprocess: %w", errors.Join(errs...))
	}
	return sum, nil
}

// read returns an object's content, decompressed when it is gzip.
func (t *Tools) read(ctx context.Context, key string) ([]byte, error) {
	rc, _, err := t.cfg.Lake.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	br := bufio.NewReader(rc)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("recovery: %s: %w", key, err)
		}
		defer zr.Close()
		r = zr
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("recovery: read %s: %w", key, err)
	}
	return b, nil
}

// firehoseErrorRecord is the part of a Firehose error record reprocessing
// needs: the data that failed.
type firehoseErrorRecord struct {
	RawData []byte `json:"rawData"`
}

// reprocessFirehose resubmits the events of one Firehose error object.
func (t *Tools) reprocessFirehose(ctx context.Context, key string, opts ReprocessOptions) (Counts, int, error) {
	var c Counts
	body, err := t.read(ctx, key)
	if err != nil {
		return c, 0, err
	}
	var images []map[string]events.DynamoDBAttributeValue
	still := 0
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		var r firehoseErrorRecord
		err := dec.Decode(&r)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return c, still, fmt.Errorf("%s is not Firehose error records: %w", key, err)
		}
		// The raw data is one event or a packed record of several.
		lines := json.NewDecoder(bytes.NewReader(r.RawData))
		for {
			var line map[string]any
			err := lines.Decode(&line)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				still++ // not JSON objects: nothing can send it
				break
			}
			images = append(images, imageOfLine(line))
		}
	}
	images = t.unsuppressed(images, &c)
	if opts.DryRun {
		c.Records += len(images) + still
		return c, still, nil
	}
	err = t.sendItems(ctx, t.relay, images, &c)
	return c, still, err
}

// imageOfLine turns an NDJSON event line back into the image the relay
// encodes: strings as S, booleans as BOOL, numbers as N, objects (the
// attributes) as M, nulls left out.
func imageOfLine(line map[string]any) map[string]events.DynamoDBAttributeValue {
	img := make(map[string]events.DynamoDBAttributeValue, len(line))
	for k, v := range line {
		if av, ok := valueOf(v); ok {
			img[k] = av
		}
	}
	return img
}

func valueOf(v any) (events.DynamoDBAttributeValue, bool) {
	switch x := v.(type) {
	case string:
		return events.NewStringAttribute(x), true
	case bool:
		return events.NewBooleanAttribute(x), true
	case float64:
		return events.NewNumberAttribute(fmt.Sprint(x)), true
	case map[string]any:
		m := make(map[string]events.DynamoDBAttributeValue, len(x))
		for k, e := range x {
			if av, ok := valueOf(e); ok {
				m[k] = av
			} else {
				m[k] = events.NewNullAttribute()
			}
		}
		return events.NewMapAttribute(m), true
	case []any:
		l := make([]events.DynamoDBAttributeValue, 0, len(x))
		for _, e := range x {
			if av, ok := valueOf(e); ok {
				l = append(l, av)
			}
		}
		return events.NewListAttribute(l), true
	}
	return events.DynamoDBAttributeValue{}, false
}

// reprocessKept resubmits the records of one kept-aside object: each
// record's item from the table (FromTable) or its kept image, through the
// relay without keeping aside again; records that still break the schema
// are counted and stay where they are.
func (t *Tools) reprocessKept(ctx context.Context, key string, opts ReprocessOptions) (Counts, int, error) {
	var c Counts
	body, err := t.read(ctx, key)
	if err != nil {
		return c, 0, err
	}
	var images []map[string]events.DynamoDBAttributeValue
	still := 0
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		var r relay.KeptAsideRecord
		err := dec.Decode(&r)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return c, still, fmt.Errorf("%s is not kept-aside records: %w", key, err)
		}
		var img map[string]events.DynamoDBAttributeValue
		if len(r.NewImage) > 0 {
			if err := json.Unmarshal(r.NewImage, &img); err != nil {
				img = nil
			}
		}
		if opts.FromTable && img != nil {
			if item, err := t.item(ctx, img); err != nil {
				return c, still, err
			} else if item != nil {
				img = item
			}
		}
		if img == nil {
			still++
			continue
		}
		images = append(images, img)
	}
	images = t.unsuppressed(images, &c)
	if opts.DryRun {
		for _, img := range images {
			if _, err := relay.AppendLine(nil, img); err != nil {
				still++
			}
		}
		c.Records += len(images)
		return c, still, nil
	}
	err = t.sendItems(ctx, t.noAside, images, &c)
	return c, still + c.Rejected, err
}

// item reads the table's current item for an image's key (nil when the
// image has no key or the item is gone).
func (t *Tools) item(ctx context.Context, img map[string]events.DynamoDBAttributeValue) (map[string]events.DynamoDBAttributeValue, error) {
	actor, ok1 := img[tracker.AttrActor]
	ek, ok2 := img[tracker.AttrEventKey]
	if !ok1 || !ok2 || actor.DataType() != events.DataTypeString || ek.DataType() != events.DataTypeString {
		return nil, nil
	}
	out, err := t.cfg.DynamoDB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(t.cfg.EventsTable),
		ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{
			tracker.AttrActor:    &types.AttributeValueMemberS{Value: actor.String()},
			tracker.AttrEventKey: &types.AttributeValueMemberS{Value: ek.String()},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("recovery: read the item of a kept-aside record: %w", err)
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	return imageOf(out.Item), nil
}
