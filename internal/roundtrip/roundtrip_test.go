package roundtrip_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/athena/local"
	"github.com/eventlake/eventlake/lambdas/streamtofirehose/relay"
	"github.com/eventlake/eventlake/local/firehoselocal"
	"github.com/eventlake/eventlake/local/lakeparquet"
	"github.com/eventlake/eventlake/tracker"
)

const streamName = "eventlake-events"

// lake is a lake folder behind a relay and a Firehose endpoint, read by
// DuckDB.
type lake struct {
	root  string
	fh    *firehoselocal.Server
	relay *relay.Handler
	db    *local.DB
}

// itemCatcher is the DynamoDB the tracker writes to: it keeps the item of
// every PutItem and answers as DynamoDB does to a first write.
type itemCatcher struct {
	tracker.DynamoDB // nil: any other call panics
	mu               sync.Mutex
	items            []map[string]types.AttributeValue
}

func (c *itemCatcher) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.items = append(c.items, in.Item)
	return &dynamodb.PutItemOutput{}, nil
}

func (c *itemCatcher) take() []map[string]types.AttributeValue {
	c.mu.Lock()
	defer c.mu.Unlock()
	items := c.items
	c.items = nil
	return items
}

// image converts an item as the tracker writes it to a stream record's
// NewImage, as aws-lambda-go represents it.
func image(t *testing.T, av types.AttributeValue) events.DynamoDBAttributeValue {
	switch v := av.(type) {
	case *types.AttributeValueMemberS:
		return events.NewStringAttribute(v.Value)
	case *types.AttributeValueMemberN:
		return events.NewNumberAttribute(v.Value)
	case *types.AttributeValueMemberBOOL:
		return events.NewBooleanAttribute(v.Value)
	case *types.AttributeValueMemberM:
		m := make(map[string]events.DynamoDBAttributeValue, len(v.Value))
		for k, x := range v.Value {
			m[k] = image(t, x)
		}
		return events.NewMapAttribute(m)
	}
	t.Fatalf("the tracker wrote an attribute of type %T", av)
	return events.DynamoDBAttributeValue{}
}

// streamEvent is the Lambda payload of one INSERT record carrying item.
func streamEvent(t *testing.T, item map[string]types.AttributeValue) []byte {
	img := make(map[string]events.DynamoDBAttributeValue, len(item))
	for k, av := range item {
		img[k] = image(t, av)
	}
	payload, err := json.Marshal(events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{{
		EventID: "1", EventName: "INSERT", EventVersion: "1.1", EventSource: "aws:dynamodb", AWSRegion: "us-east-1",
		EventSourceArn: "arn:aws:dynamodb:us-east-1:123456789012:table/events/stream/2026-01-01T00:00:00.000",
		Change: events.DynamoDBStreamRecord{
			Keys:           map[string]events.DynamoDBAttributeValue{tracker.AttrActor: img[tracker.AttrActor], tracker.AttrEventKey: img[tracker.AttrEventKey]},
			NewImage:       img,
			SequenceNumber: "100000000000000000001",
			SizeBytes:      100,
			StreamViewType: "NEW_IMAGE",
		},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return payload
}

// lakeSQL reads back every column of the events view, the attributes as
// JSON text (exact, unlike the map's rendering).
var lakeSQL = fmt.Sprintf(`SELECT %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, CAST(to_json(%s) AS VARCHAR), %s FROM %s`,
	tracker.FieldUserID, tracker.FieldAnonymousID, tracker.FieldEventAt, tracker.FieldEventID, tracker.FieldEventType,
	tracker.FieldUserAgent, tracker.FieldIPAddress, tracker.FieldDeviceType, tracker.FieldBrowser, tracker.FieldOS,
	tracker.FieldIsBot, tracker.FieldAttributes, tracker.PartitionColumn, athena.TableName)

// FuzzEventToLake puts random events through the whole path and reads them
// back with DuckDB: every field equal to the event as Validate returned it
// (and as the tracker classified its user agent), its partition the day of
// its time; or, for an event Validate refuses, a *ValidationError from
// Validate and Put alike and nothing written.
func FuzzEventToLake(f *testing.F) {
	now := time.Date(2026, 11, 22, 10, 4, 5, 0, time.UTC)
	catcher := &itemCatcher{}
	trackers := make([]*tracker.Tracker, 3) // by IP policy
	for i, policy := range []tracker.IPPolicy{tracker.IPKeep, tracker.IPAnonymize, tracker.IPDrop} {
		tr, err := tracker.New(catcher, tracker.Config{EventsTable: "events", Now: func() time.Time { return now },
			IPPolicy: policy, Retention: 30 * 24 * time.Hour})
		if err != nil {
			f.Fatal(err)
		}
		trackers[i] = tr
	}
	quiet := slog.New(slog.DiscardHandler)
	enc, err := lakeparquet.NewEncoder(lakeparquet.Options{TempDir: f.TempDir()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { enc.Close() })
	// Two lakes, each behind its relay and Firehose endpoint: Parquet (as
	// deployed) and gzip NDJSON.
	var lakes []*lake
	for _, format := range []athena.Format{athena.FormatParquet, athena.FormatJSON} {
		l := &lake{root: f.TempDir()}
		fo := firehoselocal.Options{Streams: []string{streamName}, Sink: firehoselocal.FolderSink{Root: l.root},
			ArrivalFromEventAt: true, BufferInterval: time.Hour, Logger: quiet}
		if format == athena.FormatParquet {
			fo.Encoder = enc
		}
		if l.fh, err = firehoselocal.Start(fo); err != nil {
			f.Fatal(err)
		}
		f.Cleanup(func() { l.fh.Close() })
		if l.relay, err = relay.New(l.fh.Client(relay.ClientOptions), relay.Config{DeliveryStreamName: streamName, Logger: quiet}); err != nil {
			f.Fatal(err)
		}
		if l.db, err = local.Open(context.Background(), local.Config{Root: l.root, Format: format, Threads: 1}); err != nil {
			f.Fatal(err)
		}
		f.Cleanup(func() { l.db.Close() })
		lakes = append(lakes, l)
	}

	// user, anonymous ID, type, offset from now in ms (0: now), ID, user
	// agent, IP, IP policy (and, in bit 2, the lake's format), two
	// attributes.
	f.Add("u-1", "", "login", int64(-60_000), "", "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0", "198.51.100.7", uint8(0), "url", "https://example.com/?a=1&b=<2>", "referrer", "")
	f.Add("", "anon\u2029", "page_view", int64(0), "id_1", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "::ffff:10.0.0.1", uint8(1), "utm_source", "news", "b", "\x00\x7f")
	f.Add("ユーザー", "fp", "signup", int64(-86_400_000*400), "order_17", "curl/8\xff", "[2001:db8::1]:443", uint8(2), "campaign", "black-friday", "c", "é\"\\")
	f.Add("42", "v-1", "3", int64(-1), "", "", "", uint8(0), "", "", "", "")
	f.Add("", "", "page_view", int64(0), "", "", "", uint8(0), "k", "v", "k2", "v2")                 // neither ID
	f.Add("u", "", "teleport", int64(0), "#", "", "not-an-ip", uint8(0), "1bad", "\xc3\x28", "", "") // several problems
	f.Add("u", "", "click", int64(-1_700_000_000_000), "", "", "", uint8(0), "k", "v", "", "")       // before 1970
	f.Add("u", "", "click", int64(3_600_000), "", "", "", uint8(0), "", "", "", "")                  // an hour ahead
	f.Add("u", "", "impression", int64(-5), "", "Opera/9.80 (J2ME/MIDP; Opera Mini/9.80 (S60; SymbOS; Opera Mobi/23.348; U; en) Presto/2.5.25 Version/10.54", "2001:db8:85a3::8a2e:370:7334", uint8(1), "k.e-y_1", "{\"json\":[1,2]}", "a", "null")
	f.Add("u-9", "", "search", int64(-7), "", "", "", uint8(0), "q", "line\nbreak\ttab\r\u2028", "nul", "\x00\x7f\x1b[31m")
	f.Add(" padded", "", "search", int64(-7), "", "", "", uint8(0), "", "", "", "") // white space around the ID
	// The same on the gzip NDJSON lake.
	f.Add("u-1", "", "login", int64(-60_000), "", "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0", "198.51.100.7", uint8(4), "url", "https://example.com/?a=1&b=<2>", "referrer", "")
	f.Add("u-9", "", "search", int64(-7), "", "", "", uint8(5), "q", "line\nbreak\ttab\r\u2028", "nul", "\x00\x7f\x1b[31m")
	f.Add("ユーザー", "fp", "signup", int64(-86_400_000*400), "order_17", "curl/8\xff", "[2001:db8::1]:443", uint8(6), "campaign", "black-friday", "c", "é\"\\")

	f.Fuzz(func(t *testing.T, user, anon, typ string, offsetMs int64, id, ua, ip string, policy uint8, k1, v1, k2, v2 string) {
		tr := trackers[int(policy&3)%len(trackers)]
		l := lakes[int(policy>>2)&1]
		if n, err := strconv.Atoi(typ); err == nil && n >= 0 {
			// Reach the allowlist more often than random strings would.
			typ = tracker.DefaultEventTypes()[n%len(tracker.DefaultEventTypes())]
		}
		e := tracker.Event{UserID: user, AnonymousID: anon, Type: typ, ID: id, UserAgent: ua, IP: ip}
		if offsetMs != 0 {
			e.At = now.Add(time.Duration(offsetMs) * time.Millisecond)
		}
		if k1 != "" || v1 != "" || k2 != "" || v2 != "" {
			e.Attributes = map[string]string{k1: v1, k2: v2}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		catcher.take()

		n, verr := tr.Validate(e)
		if verr != nil {
			var ve *tracker.ValidationError
			if !errors.As(verr, &ve) || !errors.Is(verr, tracker.ErrInvalidEvent) || len(ve.Fields) == 0 {
				t.Fatalf("Validate(%+v) = %v: want a *ValidationError naming a field", e, verr)
			}
			err := tr.Put(ctx, e)
			if !errors.As(err, &ve) {
				t.Fatalf("Put of an event Validate refuses = %v, want a *ValidationError", err)
			}
			if items := catcher.take(); len(items) != 0 {
				t.Fatalf("Put of a refused event wrote %d items", len(items))
			}
			return
		}

		// The item the tracker writes, as the stream carries it, through the
		// relay to Firehose, then as Parquet (or gzip NDJSON) into the lake.
		if err := tr.Put(ctx, n); err != nil {
			t.Fatalf("Put of the validated event %+v: %v", n, err)
		}
		items := catcher.take()
		if len(items) != 1 {
			t.Fatalf("Put wrote %d items", len(items))
		}
		resp, err := l.relay.Invoke(ctx, streamEvent(t, items[0]))
		if err != nil {
			t.Fatalf("relay: %v", err)
		}
		var r events.DynamoDBEventResponse
		if err := json.Unmarshal(resp, &r); err != nil || len(r.BatchItemFailures) != 0 {
			t.Fatalf("relay answered %s (%v)", resp, err)
		}
		if err := l.fh.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(filepath.Join(l.root, "events"))
		res, err := l.db.Query(ctx, lakeSQL)
		if err != nil {
			t.Fatalf("read the lake: %v", err)
		}
		if len(res.Rows) != 1 {
			t.Fatalf("the lake holds %d rows, want 1", len(res.Rows))
		}
		got := res.Rows[0]

		c := tracker.Classify(n.UserAgent)
		str := func(s string) string {
			if s == "" {
				return "NULL"
			}
			return fmt.Sprintf("%q", s)
		}
		for i, want := range []struct{ name, value string }{
			{tracker.FieldUserID, str(n.UserID)}, {tracker.FieldAnonymousID, str(n.AnonymousID)},
			{tracker.FieldEventAt, str(n.At.Format(tracker.TimeLayout))}, {tracker.FieldEventID, str(n.ID)},
			{tracker.FieldEventType, str(n.Type)}, {tracker.FieldUserAgent, str(n.UserAgent)},
			{tracker.FieldIPAddress, str(n.IP)}, {tracker.FieldDeviceType, str(c.DeviceType)},
			{tracker.FieldBrowser, str(c.Browser)}, {tracker.FieldOS, str(c.OS)},
			{tracker.FieldIsBot, fmt.Sprintf("%q", fmt.Sprint(c.Bot))},
		} {
			v := "NULL"
			if got[i].Valid {
				v = fmt.Sprintf("%q", got[i].String)
			}
			if v != want.value {
				t.Errorf("%s = %s in the lake, want %s", want.name, v, want.value)
			}
		}
		var attrs map[string]string
		if got[11].Valid {
			if err := json.Unmarshal([]byte(got[11].String), &attrs); err != nil {
				t.Fatalf("attributes %q: %v", got[11].String, err)
			}
		}
		if !maps.Equal(attrs, n.Attributes) || (attrs == nil) != (len(n.Attributes) == 0) {
			t.Errorf("attributes = %q in the lake, want %q", attrs, n.Attributes)
		}
		if dt := n.At.Format(tracker.DateLayout); !got[12].Valid || got[12].String != dt {
			t.Errorf("dt = %v, want %s", got[12], dt)
		}
	})
}
