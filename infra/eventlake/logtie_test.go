package eventlake

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/eventlake/eventlake/lambdas/streamtofirehose/relay"
	"github.com/eventlake/eventlake/local/firehoselocal"
	"github.com/eventlake/eventlake/tracker"
)

// streamBatch is what the event source mapping hands the relay: two INSERTs
// and a TTL deletion (which the INSERT-only filter would have dropped; the
// relay skips it).
const streamBatch = `{"Records": [
 {"eventID": "1", "eventName": "INSERT", "eventVersion": "1.1", "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
  "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/events/stream/2026-11-22T10:00:00.000",
  "dynamodb": {"SequenceNumber": "100", "SizeBytes": 200, "StreamViewType": "NEW_IMAGE",
   "Keys": {"user_id": {"S": "u1"}, "event_key": {"S": "2026-11-22T10:04:05.123Z#e1"}},
   "NewImage": {"user_id": {"S": "u1"}, "event_key": {"S": "2026-11-22T10:04:05.123Z#e1"},
    "event_at": {"S": "2026-11-22T10:04:05.123Z"}, "event_id": {"S": "e1"}, "event_type": {"S": "login"}}}},
 {"eventID": "2", "eventName": "INSERT", "eventVersion": "1.1", "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
  "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/events/stream/2026-11-22T10:00:00.000",
  "dynamodb": {"SequenceNumber": "200", "SizeBytes": 200, "StreamViewType": "NEW_IMAGE",
   "Keys": {"user_id": {"S": "u2"}, "event_key": {"S": "2026-11-22T10:04:06.000Z#e2"}},
   "NewImage": {"user_id": {"S": "u2"}, "event_key": {"S": "2026-11-22T10:04:06.000Z#e2"},
    "event_at": {"S": "2026-11-22T10:04:06.000Z"}, "event_id": {"S": "e2"}, "event_type": {"S": "page_view"},
    "attributes": {"M": {"url": {"S": "https://example.com/"}}}}}},
 {"eventID": "3", "eventName": "REMOVE", "eventVersion": "1.1", "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
  "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/events/stream/2026-11-22T10:00:00.000",
  "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
  "dynamodb": {"SequenceNumber": "300", "SizeBytes": 50, "StreamViewType": "NEW_IMAGE",
   "Keys": {"user_id": {"S": "u0"}, "event_key": {"S": "2026-01-01T00:00:00.000Z#e0"}}}},
 {"eventID": "4", "eventName": "INSERT", "eventVersion": "1.1", "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
  "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/events/stream/2026-11-22T10:00:00.000",
  "dynamodb": {"SequenceNumber": "400", "SizeBytes": 200, "StreamViewType": "NEW_IMAGE",
   "Keys": {"user_id": {"S": "u3"}, "event_key": {"S": "2026/11/22 10:04#e3"}},
   "NewImage": {"user_id": {"S": "u3"}, "event_key": {"S": "2026/11/22 10:04#e3"},
    "event_at": {"S": "2026/11/22 10:04"}, "event_id": {"S": "e3"}, "event_type": {"S": "login"}}}}
]}`

// metricFilter is the part of CloudWatch's JSON metric filter syntax the
// stack uses: { $.field OP number } with the value $.field.
type metricFilter struct {
	field, op string
	threshold float64
	value     string
}

var filterPatternRE = regexp.MustCompile(`^\{ \$\.([A-Za-z0-9_]+) (>=|<=|!=|=|>|<) (-?[0-9.]+) \}$`)

func parseMetricFilter(pattern, value string) (metricFilter, error) {
	m := filterPatternRE.FindStringSubmatch(pattern)
	if m == nil {
		return metricFilter{}, fmt.Errorf("filter pattern %q is not { $.field OP number }", pattern)
	}
	th, err := strconv.ParseFloat(m[3], 64)
	if err != nil {
		return metricFilter{}, err
	}
	v, ok := strings.CutPrefix(value, "$.")
	if !ok {
		return metricFilter{}, fmt.Errorf("metric value %q is not $.field", value)
	}
	return metricFilter{field: m[1], op: m[2], threshold: th, value: v}, nil
}

// apply evaluates the filter on one JSON log event as CloudWatch does: a
// missing or non-numeric field does not match; a match publishes the value.
func (f metricFilter) apply(event map[string]interface{}) (float64, bool) {
	n, ok := event[f.field].(float64)
	if !ok {
		return 0, false
	}
	match := map[string]bool{
		">": n > f.threshold, ">=": n >= f.threshold, "<": n < f.threshold,
		"<=": n <= f.threshold, "=": n == f.threshold, "!=": n != f.threshold,
	}[f.op]
	if !match {
		return 0, false
	}
	v, ok := event[f.value].(float64)
	return v, ok
}

// TestMetricFiltersMatchTheRelaysSummaryLine runs the real relay handler
// against a Firehose-compatible endpoint (the real SDK client over HTTP),
// captures its JSON log, and applies the metric filters exactly as the
// synthesized template defines them: the records filter publishes the number
// of events delivered, the failed-put filter fires only when puts failed.
func TestMetricFiltersMatchTheRelaysSummaryLine(t *testing.T) {
	s := defaultStack(t)
	filters := map[string]metricFilter{}
	for _, r := range s.resources("AWS::Logs::MetricFilter") {
		mt := path(r.Props, "MetricTransformations", 0).(obj)
		f, err := parseMetricFilter(r.Props["FilterPattern"].(string), mt["MetricValue"].(string))
		if err != nil {
			t.Fatal(err)
		}
		filters[mt["MetricName"].(string)] = f
	}
	var ev events.DynamoDBEvent
	if err := json.Unmarshal([]byte(streamBatch), &ev); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name             string
		faults           firehoselocal.Faults
		records, failed  float64 // published values; 0: the filter does not match
		rejected         float64
		wantItemFailures bool
	}{
		// The fourth record's event_at is not ISO 8601: rejected in both.
		{name: "delivered", records: 2, rejected: 1},
		// Both lines travel in one packed Firehose record, which fails: the
		// metric counts the two events, not the one record.
		{name: "firehose rejects every record", faults: firehoselocal.Faults{RecordFailureRate: 1}, failed: 2, rejected: 1, wantItemFailures: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := firehoselocal.Start(firehoselocal.Options{Streams: []string{"events"}, Faults: tc.faults})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			var logs bytes.Buffer
			h, err := relay.New(srv.Client(relay.ClientOptions), relay.Config{
				DeliveryStreamName: "events",
				Logger:             slog.New(slog.NewJSONHandler(&logs, nil)),
				RetryTimeout:       2 * time.Second,
				BackoffBase:        time.Millisecond,
				BackoffMax:         10 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			// No deadline: Config.RetryTimeout bounds the retries.
			resp, err := h.Handle(context.Background(), ev)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(resp.BatchItemFailures) > 0; got != tc.wantItemFailures {
				t.Errorf("batch item failures %v", resp.BatchItemFailures)
			}

			var summaries []map[string]interface{}
			sc := bufio.NewScanner(&logs)
			for sc.Scan() {
				var line map[string]interface{}
				if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
					t.Fatalf("log line is not JSON, so no metric filter could read it: %q", sc.Text())
				}
				if line["msg"] == relay.LogMessageSummary {
					summaries = append(summaries, line)
				}
			}
			if len(summaries) != 1 {
				t.Fatalf("want one summary line per invocation, got %d:\n%s", len(summaries), logs.String())
			}
			for metric, want := range map[string]float64{MetricRecordsSize: tc.records, MetricFailedEvents: tc.failed, MetricRejectedEvents: tc.rejected} {
				f, ok := filters[metric]
				if !ok {
					t.Fatalf("no metric filter publishes %s", metric)
				}
				got, matched := f.apply(summaries[0])
				if matched != (want > 0) || got != want {
					t.Errorf("%s: filter matched %v with value %v, want %v (summary %v)", metric, matched, got, want, summaries[0])
				}
			}
		})
	}
}

// TestLocalFirehosePartitionsLikeTheDeployedStream ties the local Firehose
// endpoint's event-day configuration (used by local/pipeline) to the
// delivery stream's.
func TestLocalFirehosePartitionsLikeTheDeployedStream(t *testing.T) {
	for _, c := range []struct{ local, deployed string }{
		{firehoselocal.EventDayPrefix, FirehosePrefix},
		{firehoselocal.DefaultErrorPrefix, FirehoseErrorPrefix},
		{firehoselocal.EventDayQuery, PartitionQuery},
		{firehoselocal.EventDayPartitioning().Keys[tracker.PartitionColumn], PartitionQuery},
	} {
		if c.local != c.deployed {
			t.Errorf("firehoselocal has %q, the deployed stream %q", c.local, c.deployed)
		}
	}
	if firehoselocal.DefaultMaxObjectsPerRecord != MaxEventsPerRecord {
		t.Errorf("firehoselocal deaggregates %d objects per record, the deployed stream %d", firehoselocal.DefaultMaxObjectsPerRecord, MaxEventsPerRecord)
	}
}
