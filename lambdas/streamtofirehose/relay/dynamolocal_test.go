package relay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/eventlake/eventlake/local/dynamolocal"
	"github.com/eventlake/eventlake/local/firehoselocal"
	"github.com/eventlake/eventlake/tracker"
)

// rawGetRecords keeps the raw JSON of GetRecords answers: the SDK's typed
// stream records lose the S/N type tags that Lambda's events keep.
type rawGetRecords struct {
	mu     sync.Mutex
	bodies [][]byte
}

func (c *rawGetRecords) Do(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil || !strings.HasSuffix(req.Header.Get("X-Amz-Target"), ".GetRecords") {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.bodies = append(c.bodies, body)
	c.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// readStream reads n records from the events table's stream, as the raw
// JSON Lambda's event source would hand over (eventSourceARN filled in).
func readStream(t *testing.T, ctx context.Context, env *dynamolocal.Env, n int) []events.DynamoDBEventRecord {
	t.Helper()
	desc, err := env.Client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &env.EventsTable})
	if err != nil || desc.Table.LatestStreamArn == nil {
		t.Fatalf("describe %s: %v (no stream?)", env.EventsTable, err)
	}
	arn := desc.Table.LatestStreamArn
	raw := &rawGetRecords{}
	sc, err := env.Server.StreamsClient(ctx, func(o *dynamodbstreams.Options) { o.HTTPClient = raw })
	if err != nil {
		t.Fatal(err)
	}
	ds, err := sc.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: arn})
	if err != nil {
		t.Fatalf("describe stream: %v", err)
	}
	var out []events.DynamoDBEventRecord
	for _, shard := range ds.StreamDescription.Shards {
		it, err := sc.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{
			StreamArn: arn, ShardId: shard.ShardId, ShardIteratorType: streamtypes.ShardIteratorTypeTrimHorizon,
		})
		if err != nil {
			t.Fatalf("shard iterator: %v", err)
		}
		iter := it.ShardIterator
		for iter != nil && len(out) < n {
			before := len(raw.bodies)
			res, err := sc.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				t.Fatalf("get records: %v", err)
			}
			iter = res.NextShardIterator
			for _, body := range raw.bodies[before:] {
				var ev events.DynamoDBEvent
				if err := json.Unmarshal(body, &ev); err != nil {
					t.Fatalf("GetRecords JSON does not decode as a Lambda event: %v", err)
				}
				for i := range ev.Records {
					ev.Records[i].EventSourceArn = *arn
				}
				out = append(out, ev.Records...)
			}
			if len(res.Records) == 0 {
				break
			}
		}
	}
	if len(out) != n {
		t.Fatalf("read %d stream records, want %d", len(out), n)
	}
	return out
}

// TestTrackerEventsThroughTheStream ties the Lambda to the tracker: events
// stored by tracker.Put in DynamoDB Local, read back from the table's real
// stream, come out of the handler as lines holding exactly those events.
func TestTrackerEventsThroughTheStream(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	env := dynamolocal.NewEnv(t)
	tr, err := tracker.New(env.Client, tracker.Config{
		EventsTable: env.EventsTable, SummaryTable: env.SummaryTable, Retention: 90 * 24 * time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	want := map[string]tracker.Event{}
	for i := range 30 {
		e := tracker.Event{
			UserID: fmt.Sprintf("user-%d", i%7),
			Type:   tracker.DefaultEventTypes()[i%len(tracker.DefaultEventTypes())],
			At:     now.Add(-time.Duration(i) * time.Minute),
		}
		if i%3 != 0 {
			e.UserAgent = "Mozilla/5.0 (X11; Linux x86_64) \"quoted\" é"
		}
		switch i % 4 {
		case 1:
			e.IP = "203.0.113.9"
		case 2:
			e.IP = "2001:db8::7"
		}
		if i%5 != 0 {
			e.Attributes = map[string]string{"url": fmt.Sprintf("https://app.example.com/p/%d?q=a&b=\"c\"", i), "campaign": "spring\n2026"}
		}
		v, err := tr.Validate(e)
		if err != nil {
			t.Fatalf("validate: %v", err)
		}
		if err := tr.Put(ctx, v); err != nil {
			t.Fatalf("put: %v", err)
		}
		want[v.ID] = v
	}

	recs := readStream(t, ctx, env, len(want))
	hs := newHarness(t, testConfig(), firehoselocal.Options{})
	if resp := hs.invokeRecords(t, ctx, recs); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("failures %v", resp.BatchItemFailures)
	}
	lines := hs.delivered(t)
	if len(lines) != len(want) {
		t.Fatalf("%d lines for %d events", len(lines), len(want))
	}
	for _, l := range lines {
		checkLine(t, l)
		var got struct {
			UserID     string            `json:"user_id"`
			EventAt    string            `json:"event_at"`
			EventID    string            `json:"event_id"`
			EventType  string            `json:"event_type"`
			UserAgent  string            `json:"user_agent"`
			IPAddress  string            `json:"ip_address"`
			Attributes map[string]string `json:"attributes"`
		}
		if err := json.Unmarshal([]byte(l), &got); err != nil {
			t.Fatal(err)
		}
		e, ok := want[got.EventID]
		if !ok {
			t.Fatalf("line %s is no event that was put", l)
		}
		if got.UserID != e.UserID || got.EventAt != e.At.Format(tracker.TimeLayout) || got.EventType != e.Type ||
			got.UserAgent != e.UserAgent || got.IPAddress != e.IP || !maps.Equal(got.Attributes, e.Attributes) {
			t.Errorf("line %s does not hold the event %+v", l, e)
		}
		delete(want, got.EventID)
	}
}
