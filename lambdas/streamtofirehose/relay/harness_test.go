package relay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/eventlake/eventlake/lambdas/streamtofirehose/relay"
	"github.com/eventlake/eventlake/local/firehoselocal"
	"github.com/eventlake/eventlake/tracker"
)

const streamName = "eventlake-events"

// logBuffer collects the handler's JSON logs.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// entries returns the log lines, decoded.
func (l *logBuffer) entries(t testing.TB) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	dec := json.NewDecoder(bytes.NewReader(l.buf.Bytes()))
	for {
		var m map[string]any
		if err := dec.Decode(&m); err == io.EOF {
			return out
		} else if err != nil {
			t.Fatalf("a log line is not JSON: %v", err)
		}
		out = append(out, m)
	}
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// harness is a Handler wired to a Firehose-compatible endpoint through the
// real SDK client, invoked through aws-lambda-go's handler: Invoke on the
// raw payload, as lambda.Start(h) runs it, or Handle after the runtime's
// JSON decoding (typed).
type harness struct {
	srv     *firehoselocal.Server
	handler *relay.Handler
	lambda  lambda.Handler
	logs    *logBuffer
}

// testConfig keeps retries quick.
func testConfig() relay.Config {
	return relay.Config{
		DeliveryStreamName: streamName,
		BackoffBase:        time.Millisecond,
		BackoffMax:         20 * time.Millisecond,
		SafetyMargin:       200 * time.Millisecond,
		RetryTimeout:       20 * time.Second,
	}
}

func newHarness(t testing.TB, cfg relay.Config, opts firehoselocal.Options) *harness {
	t.Helper()
	if opts.Streams == nil {
		opts.Streams = []string{streamName}
	}
	if opts.BufferInterval == 0 {
		opts.BufferInterval = time.Hour // tests flush explicitly
	}
	srv, err := firehoselocal.Start(opts)
	if err != nil {
		t.Fatalf("start firehoselocal: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	logs := &logBuffer{}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	}
	h, err := relay.New(srv.Client(relay.ClientOptions), cfg)
	if err != nil {
		t.Fatalf("relay.New: %v", err)
	}
	return &harness{srv: srv, handler: h, lambda: lambda.NewHandler(h), logs: logs}
}

// typed makes the harness invoke Handle behind the runtime's decoding into
// events.DynamoDBEvent instead of Invoke (the deployed entry point).
func (hs *harness) typed() *harness {
	hs.lambda = lambda.NewHandler(hs.handler.Handle)
	return hs
}

// invoke sends a payload through the Lambda runtime's JSON decoding, as
// Lambda would, and returns the decoded response.
func (hs *harness) invoke(t testing.TB, ctx context.Context, payload []byte) events.DynamoDBEventResponse {
	t.Helper()
	out, err := hs.lambda.Invoke(ctx, payload)
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	var resp events.DynamoDBEventResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("response %s: %v", out, err)
	}
	return resp
}

func (hs *harness) invokeRecords(t testing.TB, ctx context.Context, recs []events.DynamoDBEventRecord) events.DynamoDBEventResponse {
	t.Helper()
	payload, err := json.Marshal(events.DynamoDBEvent{Records: recs})
	if err != nil {
		t.Fatal(err)
	}
	return hs.invoke(t, ctx, payload)
}

// delivered flushes the endpoint and returns every delivered line.
func (hs *harness) delivered(t testing.TB) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := hs.srv.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	var out []string
	for _, l := range hs.srv.MemorySink().Lines() {
		out = append(out, string(l))
	}
	return out
}

// summaries returns the summary log lines.
func (hs *harness) summaries(t testing.TB) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, e := range hs.logs.entries(t) {
		if e["msg"] == relay.LogMessageSummary {
			out = append(out, e)
		}
	}
	return out
}

// lastSummary returns the last summary line's numeric fields.
func (hs *harness) lastSummary(t testing.TB) map[string]any {
	t.Helper()
	s := hs.summaries(t)
	if len(s) == 0 {
		t.Fatal("no summary line logged")
	}
	return s[len(s)-1]
}

func num(m map[string]any, key string) int {
	f, _ := m[key].(float64)
	return int(f)
}

// checkLine checks that line is one event of the schema: a JSON object
// whose keys are tracker.EventFields() names in column order, with every
// required field present and non-empty, string values, and attributes a
// map of strings (or nulls).
func checkLine(t testing.TB, line string) map[string]any {
	t.Helper()
	order := map[string]int{}
	for i, f := range tracker.EventFields() {
		order[f.Name] = i
	}
	dec := json.NewDecoder(strings.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("line %q is not a JSON object", line)
	}
	last := -1
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		key := tok.(string)
		idx, ok := order[key]
		if !ok {
			t.Fatalf("line %q has key %q, which is not in tracker.EventFields()", line, key)
		}
		if idx <= last {
			t.Fatalf("line %q: key %q is out of column order or repeated", line, key)
		}
		last = idx
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if tracker.EventFields()[idx].DynamoType == "M" {
			m, ok := v.(map[string]any)
			if !ok || len(m) == 0 {
				t.Fatalf("line %q: %s is %T, want a non-empty object", line, key, v)
			}
			for k, e := range m {
				if _, ok := e.(string); !ok && e != nil {
					t.Fatalf("line %q: %s.%s is %T, want a string or null", line, key, k, e)
				}
			}
		} else if tracker.EventFields()[idx].DynamoType == "BOOL" {
			if _, ok := v.(bool); !ok {
				t.Fatalf("line %q: %s is %v, want true or false", line, key, v)
			}
		} else if s, ok := v.(string); !ok || s == "" {
			t.Fatalf("line %q: %s is %v, want a non-empty string", line, key, v)
		}
	}
	if _, err := dec.Token(); err != nil {
		t.Fatalf("line %q: %v", line, err)
	}
	if dec.More() {
		t.Fatalf("line %q holds more than one JSON value", line)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("line %q: %v", line, err)
	}
	for _, f := range tracker.EventFields() {
		if _, ok := m[f.Name]; f.Required && !ok {
			t.Fatalf("line %q lacks the required field %s", line, f.Name)
		}
	}
	return m
}

// checkNoIPs fails if any log token is an IP address.
func checkNoIPs(t testing.TB, logs string) {
	t.Helper()
	for _, tok := range strings.FieldsFunc(logs, func(r rune) bool { return strings.ContainsRune(" \t\n\"',;=()[]{}/<>-", r) }) {
		tok = strings.TrimRight(tok, ".:")
		if _, err := netip.ParseAddr(tok); err == nil {
			t.Fatalf("the logs hold the IP address %s:\n%s", tok, logs)
		}
		if _, err := netip.ParseAddrPort(tok); err == nil {
			t.Fatalf("the logs hold the address %s:\n%s", tok, logs)
		}
	}
}

// typicalRecord returns stream record i of a typical workload: a page view
// of about 350 bytes as NDJSON, as tracker.Put stores it.
func typicalRecord(i int) events.DynamoDBEventRecord {
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC).Add(time.Duration(i) * 1234 * time.Millisecond).Format(tracker.TimeLayout)
	id := fmt.Sprintf("01936c2e-%04x-7c1d-9e4f-%012x", i%0x10000, i)
	user := fmt.Sprintf("user-%05d", i%977)
	img := map[string]events.DynamoDBAttributeValue{
		tracker.FieldUserID:    events.NewStringAttribute(user),
		tracker.AttrEventKey:   events.NewStringAttribute(at + "#" + id),
		tracker.FieldEventAt:   events.NewStringAttribute(at),
		tracker.FieldEventID:   events.NewStringAttribute(id),
		tracker.FieldEventType: events.NewStringAttribute("page_view"),
		tracker.FieldUserAgent: events.NewStringAttribute("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"),
		tracker.FieldIPAddress: events.NewStringAttribute(fmt.Sprintf("203.0.113.%d", i%250)),
		tracker.FieldAttributes: events.NewMapAttribute(map[string]events.DynamoDBAttributeValue{
			"url": events.NewStringAttribute(fmt.Sprintf("https://app.example.com/p/%d", i%5000)),
		}),
		tracker.AttrExpiresAt: events.NewNumberAttribute("1803723845"),
	}
	return events.DynamoDBEventRecord{
		EventID:      fmt.Sprintf("%032x", i+1),
		EventName:    "INSERT",
		EventVersion: "1.1",
		EventSource:  "aws:dynamodb",
		AWSRegion:    "eu-west-1",
		Change: events.DynamoDBStreamRecord{
			ApproximateCreationDateTime: events.SecondsEpochTime{Time: time.Unix(1795341845+int64(i), 0)},
			Keys: map[string]events.DynamoDBAttributeValue{
				tracker.FieldUserID:  img[tracker.FieldUserID],
				tracker.AttrEventKey: img[tracker.AttrEventKey],
			},
			NewImage:       img,
			SequenceNumber: fmt.Sprintf("1111%020d", 18523413300+i*100),
			SizeBytes:      360,
			StreamViewType: "NEW_IMAGE",
		},
		EventSourceArn: "arn:aws:dynamodb:eu-west-1:123456789012:table/eventlake-events/stream/2026-11-01T08:15:30.123",
	}
}

func typicalRecords(from, n int) []events.DynamoDBEventRecord {
	recs := make([]events.DynamoDBEventRecord, n)
	for i := range recs {
		recs[i] = typicalRecord(from + i)
	}
	return recs
}

// eventIDs returns the event_id of each line.
func eventIDs(t testing.TB, lines []string) []string {
	t.Helper()
	ids := make([]string, len(lines))
	for i, l := range lines {
		var v struct {
			ID string `json:"event_id"`
		}
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		ids[i] = v.ID
	}
	return ids
}

func recordID(r events.DynamoDBEventRecord) string {
	return r.Change.NewImage[tracker.FieldEventID].String()
}

func indexOfSeq(recs []events.DynamoDBEventRecord, seq string) int {
	return slices.IndexFunc(recs, func(r events.DynamoDBEventRecord) bool { return r.Change.SequenceNumber == seq })
}
