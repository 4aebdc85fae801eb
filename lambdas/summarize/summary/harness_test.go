package summary_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/eventlake/eventlake/lambdas/summarize/summary"
	"github.com/eventlake/eventlake/local/dynamolocal"
	"github.com/eventlake/eventlake/tracker"
)

const testARN = "arn:aws:dynamodb:ddblocal:000000000000:table/events/stream/2026-03-01T00:00:00.000"

// stored is an event as the stream carries it.
type stored struct {
	seq               int
	user, anon, id    string
	at                time.Time
	name              string // eventName; "" means INSERT
	noImage, badImage bool
}

func (s stored) record() events.DynamoDBEventRecord {
	str := events.NewStringAttribute
	img := map[string]events.DynamoDBAttributeValue{
		tracker.AttrActor:      str(tracker.ActorKey(s.user, s.anon)),
		tracker.AttrEventKey:   str(tracker.EventKey(s.at, s.id)),
		tracker.FieldEventAt:   str(s.at.UTC().Format(tracker.TimeLayout)),
		tracker.FieldEventID:   str(s.id),
		tracker.FieldEventType: str("page_view"),
		tracker.FieldIsBot:     events.NewBooleanAttribute(false),
		tracker.FieldAttributes: events.NewMapAttribute(map[string]events.DynamoDBAttributeValue{
			"path": str("/pricing"), "utm_source": str("news"),
		}),
		tracker.FieldUserAgent: str("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"),
	}
	if s.user != "" {
		img[tracker.FieldUserID] = str(s.user)
	}
	if s.anon != "" {
		img[tracker.FieldAnonymousID] = str(s.anon)
	}
	if s.badImage {
		delete(img, tracker.FieldEventAt)
	}
	name := s.name
	if name == "" {
		name = "INSERT"
	}
	r := events.DynamoDBEventRecord{
		AWSRegion: "ddblocal", EventID: fmt.Sprintf("ev-%d", s.seq), EventName: name, EventSource: "aws:dynamodb",
		EventVersion: "1.1", EventSourceArn: testARN,
		Change: events.DynamoDBStreamRecord{
			Keys: map[string]events.DynamoDBAttributeValue{
				tracker.AttrActor: img[tracker.AttrActor], tracker.AttrEventKey: img[tracker.AttrEventKey],
			},
			SequenceNumber: fmt.Sprintf("%021d", s.seq), SizeBytes: 400, StreamViewType: "NEW_IMAGE",
		},
	}
	if !s.noImage && name != "REMOVE" {
		r.Change.NewImage = img
	}
	return r
}

// window is one tumbling window being driven by hand, as Lambda drives it.
type window struct {
	start, end time.Time
	state      map[string]string
	shard      string
}

func newWindow(start time.Time, size time.Duration) *window {
	return &window{start: start, end: start.Add(size), shard: "shardId-00000001-0000"}
}

func (w *window) payload(t testing.TB, evs []stored, final bool) []byte {
	t.Helper()
	e := events.DynamoDBTimeWindowEvent{
		DynamoDBEvent: events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{}},
		TimeWindowProperties: events.TimeWindowProperties{
			Window: events.Window{Start: events.RFC3339EpochTime{Time: w.start}, End: events.RFC3339EpochTime{Time: w.end}},
			State:  w.state, ShardID: w.shard, EventSourceARN: testARN, IsFinalInvokeForWindow: final,
		},
	}
	for _, s := range evs {
		e.Records = append(e.Records, s.record())
	}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// invoke sends one batch (final: the window's last invocation) and keeps the
// state of a successful answer.
func (w *window) invoke(t testing.TB, h *summary.Handler, evs []stored, final bool) (events.DynamoDBTimeWindowEventResponse, error) {
	t.Helper()
	out, err := h.Invoke(context.Background(), w.payload(t, evs, final))
	if err != nil {
		return events.DynamoDBTimeWindowEventResponse{}, err
	}
	var resp events.DynamoDBTimeWindowEventResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("response %s: %v", out, err)
	}
	if !bytes.Contains(out, []byte(`"state":{`)) {
		t.Fatalf("response %s has no state object: Lambda would count the invocation as failed", out)
	}
	if len(resp.BatchItemFailures) == 0 {
		w.state = resp.State
	}
	return resp, nil
}

// counting wraps the DynamoDB client and counts UpdateItem calls per actor.
type counting struct {
	tracker.SummaryUpdater
	mu    sync.Mutex
	calls map[string]int
}

func (c *counting) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c.mu.Lock()
	if c.calls == nil {
		c.calls = map[string]int{}
	}
	if k, ok := in.Key[tracker.AttrActor].(*types.AttributeValueMemberS); ok {
		c.calls[k.Value]++
	}
	c.mu.Unlock()
	return c.SummaryUpdater.UpdateItem(ctx, in, opts...)
}

func (c *counting) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.calls {
		n += v
	}
	return n
}

func (c *counting) reset() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.calls
	c.calls = nil
	return m
}

// logBuffer collects the handler's JSON log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// summaries returns the invocation lines.
func (l *logBuffer) summaries(t testing.TB) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(l.b.Bytes()), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("log line %s: %v", line, err)
		}
		if m["msg"] == summary.LogMessageSummary {
			out = append(out, m)
		}
	}
	return out
}

type fixture struct {
	env  *dynamolocal.Env
	tr   *tracker.Tracker
	db   *counting
	h    *summary.Handler
	logs *logBuffer
}

// newFixture makes a handler writing a new summary table through wrap(the
// client) (nil: the client itself).
func newFixture(t testing.TB, wrap func(*dynamodb.Client) tracker.SummaryUpdater, cfg summary.Config) *fixture {
	t.Helper()
	env := dynamolocal.NewEnv(t)
	var db tracker.SummaryUpdater = env.Client
	if wrap != nil {
		db = wrap(env.Client)
	}
	f := &fixture{env: env, db: &counting{SummaryUpdater: db}, logs: &logBuffer{}}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(f.logs, nil))
	}
	cfg.SummaryTable = env.SummaryTable
	var err error
	if f.h, err = summary.New(f.db, cfg); err != nil {
		t.Fatal(err)
	}
	if f.tr, err = tracker.New(env.Client, tracker.Config{EventsTable: env.EventsTable, SummaryTable: env.SummaryTable}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) user(t testing.TB, id string) tracker.UserSummary {
	t.Helper()
	s, err := f.tr.Summary(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (f *fixture) visitor(t testing.TB, id string) tracker.UserSummary {
	t.Helper()
	s, err := f.tr.VisitorSummary(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
