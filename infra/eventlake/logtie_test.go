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
	"github.com/eventlake/eventlake/lambdas/summarize/summary"
	"github.com/eventlake/eventlake/local/dynamolocal"
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
// stack uses: one condition, { $.field OP number }, or several joined with
// &&, { ($.a = "text") && ($.b > 0) }, each comparing a field with a number
// or (= and != only) a quoted string; the value is $.field, or a number
// published for every match (constant, when value is empty).
type metricFilter struct {
	conds    []filterCond
	value    string
	constant float64
}

// filterCond is one condition: the field compared with num, or with str
// when isStr.
type filterCond struct {
	field, op string
	num       float64
	str       string
	isStr     bool
}

var (
	numCondRE = regexp.MustCompile(`^\$\.([A-Za-z0-9_]+) (>=|<=|!=|=|>|<) (-?[0-9.]+)$`)
	strCondRE = regexp.MustCompile(`^\$\.([A-Za-z0-9_]+) (!=|=) "([^"*]*)"$`)
)

func parseMetricFilter(pattern, value string) (metricFilter, error) {
	inner, ok := strings.CutPrefix(pattern, "{ ")
	if inner, ok = strings.CutSuffix(inner, " }"); !ok {
		return metricFilter{}, fmt.Errorf("filter pattern %q is not a JSON pattern { ... }", pattern)
	}
	parts := strings.Split(inner, " && ")
	var f metricFilter
	for _, part := range parts {
		if len(parts) > 1 {
			var ok bool
			if part, ok = strings.CutPrefix(part, "("); ok {
				part, ok = strings.CutSuffix(part, ")")
			}
			if !ok {
				return metricFilter{}, fmt.Errorf("filter pattern %q: condition %q is not in parentheses", pattern, part)
			}
		}
		if m := numCondRE.FindStringSubmatch(part); m != nil {
			n, err := strconv.ParseFloat(m[3], 64)
			if err != nil {
				return metricFilter{}, err
			}
			f.conds = append(f.conds, filterCond{field: m[1], op: m[2], num: n})
		} else if m := strCondRE.FindStringSubmatch(part); m != nil {
			f.conds = append(f.conds, filterCond{field: m[1], op: m[2], str: m[3], isStr: true})
		} else {
			return metricFilter{}, fmt.Errorf("filter pattern %q: condition %q is neither $.field OP number nor $.field = \"text\"", pattern, part)
		}
	}
	if v, ok := strings.CutPrefix(value, "$."); ok {
		f.value = v
		return f, nil
	}
	n, err := strconv.ParseFloat(value, 64)
	if err != nil {
		return metricFilter{}, fmt.Errorf("metric value %q is neither $.field nor a number", value)
	}
	f.constant = n
	return f, nil
}

// apply evaluates the filter on one JSON log event as CloudWatch does: a
// missing field, or one of the other type, does not match; a match
// publishes the value.
func (f metricFilter) apply(event map[string]interface{}) (float64, bool) {
	for _, c := range f.conds {
		if !c.matches(event[c.field]) {
			return 0, false
		}
	}
	if f.value == "" {
		return f.constant, true
	}
	v, ok := event[f.value].(float64)
	return v, ok
}

func (c filterCond) matches(v interface{}) bool {
	if c.isStr {
		s, ok := v.(string)
		return ok && (s == c.str) == (c.op == "=")
	}
	n, ok := v.(float64)
	if !ok {
		return false
	}
	return map[string]bool{
		">": n > c.num, ">=": n >= c.num, "<": n < c.num,
		"<=": n <= c.num, "=": n == c.num, "!=": n != c.num,
	}[c.op]
}

// metricFilters parses every metric filter of the template, by metric name.
func (s *synthesized) metricFilters(t *testing.T) map[string]metricFilter {
	t.Helper()
	filters := map[string]metricFilter{}
	for _, r := range s.resources("AWS::Logs::MetricFilter") {
		mt := path(r.Props, "MetricTransformations", 0).(obj)
		f, err := parseMetricFilter(r.Props["FilterPattern"].(string), mt["MetricValue"].(string))
		if err != nil {
			t.Fatal(err)
		}
		filters[mt["MetricName"].(string)] = f
	}
	return filters
}

// summaryLines returns the JSON log lines whose msg is msg, failing the
// test on a line that is not JSON (no metric filter could read it).
func summaryLines(t *testing.T, logs *bytes.Buffer, msg string) []map[string]interface{} {
	t.Helper()
	var lines []map[string]interface{}
	sc := bufio.NewScanner(logs)
	for sc.Scan() {
		var line map[string]interface{}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line is not JSON, so no metric filter could read it: %q", sc.Text())
		}
		if line[slog.MessageKey] == msg {
			lines = append(lines, line)
		}
	}
	return lines
}

// TestMetricFiltersMatchTheRelaysSummaryLine runs the real relay handler
// against a Firehose-compatible endpoint (the real SDK client over HTTP),
// captures its JSON log, and applies the metric filters exactly as the
// synthesized template defines them: the records filter publishes the number
// of events delivered, the failed-put filter fires only when puts failed.
func TestMetricFiltersMatchTheRelaysSummaryLine(t *testing.T) {
	filters := defaultStack(t).metricFilters(t)
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

			summaries := summaryLines(t, &logs, relay.LogMessageSummary)
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

// summaryStreamARN is the events stream of the summary consumer's test
// invocations.
const summaryStreamARN = "arn:aws:dynamodb:us-east-1:123456789012:table/events/stream/2026-11-22T10:00:00.000"

// summaryInsert is an INSERT stream record of an event of user at, with
// sequence number seq; eventID "" makes an image that is not an event.
func summaryInsert(seq, user, eventID string, at time.Time) events.DynamoDBEventRecord {
	image := map[string]events.DynamoDBAttributeValue{
		tracker.FieldUserID:    events.NewStringAttribute(user),
		tracker.FieldEventAt:   events.NewStringAttribute(at.UTC().Format(tracker.TimeLayout)),
		tracker.FieldEventType: events.NewStringAttribute("page_view"),
	}
	if eventID != "" {
		image[tracker.FieldEventID] = events.NewStringAttribute(eventID)
	}
	return events.DynamoDBEventRecord{
		EventName:      "INSERT",
		EventSource:    "aws:dynamodb",
		EventSourceArn: summaryStreamARN,
		AWSRegion:      "us-east-1",
		Change: events.DynamoDBStreamRecord{
			SequenceNumber: seq,
			StreamViewType: "NEW_IMAGE",
			NewImage:       image,
		},
	}
}

// TestMetricFiltersMatchTheSummaryLine runs the real summarize handler
// through its deployed entry point (Invoke, the raw payload) against
// DynamoDB Local, captures its JSON log, and applies the summary consumer's
// metric filters exactly as the synthesized template defines them: an
// aggregating invocation with a malformed record, the final invocation
// that writes, a state over its bound written in the middle of a window
// (whose writes SummaryWrites counts although the invocation is not final),
// and writes to a table that does not exist (unwritten).
func TestMetricFiltersMatchTheSummaryLine(t *testing.T) {
	filters := defaultStack(t).metricFilters(t)
	env := dynamolocal.NewEnv(t, summary.ClientOptions)
	start := time.Date(2026, 11, 22, 10, 4, 0, 0, time.UTC)
	window := events.Window{Start: events.RFC3339EpochTime{Time: start}, End: events.RFC3339EpochTime{Time: start.Add(time.Minute)}}
	at := start.Add(5 * time.Second)
	// The state the first invocation returns, for the final one.
	var state map[string]string

	// any is a published value the test does not pin (but a match must
	// publish the line's own value).
	const any = -1
	for _, tc := range []struct {
		name      string
		table     string
		maxState  int
		final     bool
		records   []events.DynamoDBEventRecord
		want      map[string]float64 // metric -> value published; 0: no match
		keepState bool               // keep the returned state for the next case
		fromState bool               // invoke with the kept state
	}{
		{
			name: "aggregating, one record malformed", table: env.SummaryTable,
			records: []events.DynamoDBEventRecord{
				summaryInsert("100", "u1", "e1", at), summaryInsert("200", "u2", "e2", at), summaryInsert("300", "u3", "", at),
			},
			want:      map[string]float64{MetricSummaryMalformed: 1, MetricSummaryWrites: 0, MetricSummaryUnwritten: 0, MetricSummaryEarlyWrites: 0, MetricSummaryStateBytes: any},
			keepState: true,
		},
		{
			name: "final, two actors written", table: env.SummaryTable, final: true, fromState: true,
			want: map[string]float64{MetricSummaryWrites: 2, MetricSummaryMalformed: 0, MetricSummaryUnwritten: 0, MetricSummaryEarlyWrites: 0},
		},
		{
			name: "state over its bound, written early", table: env.SummaryTable, maxState: 1,
			records: []events.DynamoDBEventRecord{summaryInsert("400", "u4", "e4", at), summaryInsert("500", "u5", "e5", at)},
			want:    map[string]float64{MetricSummaryEarlyWrites: 2, MetricSummaryWrites: 2, MetricSummaryUnwritten: 0, MetricSummaryMalformed: 0},
		},
		{
			name: "no such table", table: "no-such-table", final: true,
			records: []events.DynamoDBEventRecord{summaryInsert("600", "u6", "e6", at)},
			want:    map[string]float64{MetricSummaryUnwritten: 1, MetricSummaryMalformed: 0, MetricSummaryEarlyWrites: 0},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			h, err := summary.New(env.Client, summary.Config{
				SummaryTable:  tc.table,
				Window:        time.Minute,
				MaxStateBytes: tc.maxState,
				BackoffBase:   time.Millisecond,
				BackoffMax:    10 * time.Millisecond,
				Logger:        slog.New(slog.NewJSONHandler(&logs, nil)),
			})
			if err != nil {
				t.Fatal(err)
			}
			var from map[string]string
			if tc.fromState {
				from = state
			}
			ev := events.DynamoDBTimeWindowEvent{
				DynamoDBEvent: events.DynamoDBEvent{Records: tc.records},
				TimeWindowProperties: events.TimeWindowProperties{
					Window: window, State: from, ShardID: "shardId-00000001",
					EventSourceARN: summaryStreamARN, IsFinalInvokeForWindow: tc.final,
				},
			}
			payload, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := h.Invoke(ctx, payload)
			if err != nil {
				t.Fatal(err)
			}
			if tc.keepState {
				var resp events.DynamoDBTimeWindowEventResponse
				if err := json.Unmarshal(out, &resp); err != nil {
					t.Fatal(err)
				}
				state = resp.State
			}

			lines := summaryLines(t, &logs, summary.LogMessageSummary)
			if len(lines) != 1 {
				t.Fatalf("want one summary line per invocation, got %d:\n%s", len(lines), logs.String())
			}
			line := lines[0]
			for metric, want := range tc.want {
				f, ok := filters[metric]
				if !ok {
					t.Fatalf("no metric filter publishes %s", metric)
				}
				got, matched := f.apply(line)
				switch {
				case want == any:
					if own, _ := line[f.value].(float64); !matched || got != own {
						t.Errorf("%s: filter matched %v with value %v, want the line's %s %v (line %v)", metric, matched, got, f.value, own, line)
					}
				case matched != (want > 0) || got != want:
					t.Errorf("%s: filter matched %v with value %v, want %v (line %v)", metric, matched, got, want, line)
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
