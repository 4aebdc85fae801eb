package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/eventlake/eventlake/collector"
	"github.com/eventlake/eventlake/local/dynamolocal"
	"github.com/eventlake/eventlake/local/fakedata"
	"github.com/eventlake/eventlake/local/pipeline"
	"github.com/eventlake/eventlake/tracker"
)

// Prices (us-east-1) for the cost per million events: DynamoDB on-demand
// writes, Firehose ingestion and record format conversion to Parquet, both
// billed per GB of records rounded up to 5 KB each (see docs/collector.md).
const (
	dollarsPerMillionWRU    = 0.625
	firehoseIngestPerGB     = 0.029
	firehoseConversionPerGB = 0.018
)

// capacityDB asks DynamoDB for the write capacity each PutItem consumed and
// adds it up.
type capacityDB struct {
	*dynamodb.Client
	mu  sync.Mutex
	wru float64
}

func (c *capacityDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	in.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	out, err := c.Client.PutItem(ctx, in, opts...)
	if err == nil && out.ConsumedCapacity != nil && out.ConsumedCapacity.CapacityUnits != nil {
		c.mu.Lock()
		c.wru += *out.ConsumedCapacity.CapacityUnits
		c.mu.Unlock()
	}
	return out, err
}

// BenchmarkRouteCost sends the demo's fake activity (page views, clicks,
// logins, ... about 350 bytes of NDJSON each) through the collector into
// the local stack, once with every type on the hot route and once on the
// lake route, and reports what AWS would bill per million events: the write
// capacity DynamoDB Local reports consumed (hot), and the bytes Firehose
// bills, each record rounded up to 5 KB (the relay's packed records on the
// hot route, the collector's on the lake route). The lake route is measured
// for Segment batches of 100 events and for single-event requests from 32
// concurrent clients (which group-commit into shared records in a
// long-running server; a Lambda sends one record per request).
// EVENTLAKE_COST_EVENTS sets the number of events (default 5,000).
func BenchmarkRouteCost(b *testing.B) {
	n := 5000
	if v, err := strconv.Atoi(os.Getenv("EVENTLAKE_COST_EVENTS")); err == nil && v > 0 {
		n = v
	}
	events, err := fakedata.Generate(fakedata.Config{Users: 200, Events: n, Days: 7, Seed: 3, IDs: true})
	if err != nil {
		b.Fatal(err)
	}
	lineBytes := 0
	for _, e := range events {
		lineBytes += len(tracker.AppendLine(nil, e))
	}
	for _, tc := range []struct {
		name   string
		route  tracker.Route
		single bool
	}{
		{"hot/batch-100", tracker.RouteHot, false},
		{"lake/batch-100", tracker.RouteLake, false},
		{"lake/single-32-clients", tracker.RouteLake, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				wru, billed, records := routeCost(b, events, tc.route, tc.single)
				perM := 1e6 / float64(len(events))
				dynamo := wru * perM / 1e6 * dollarsPerMillionWRU
				firehose := float64(billed) * perM / 1e9 * (firehoseIngestPerGB + firehoseConversionPerGB)
				b.ReportMetric(wru/float64(len(events)), "WRU/event")
				b.ReportMetric(float64(billed)/float64(len(events)), "billed-B/event")
				b.ReportMetric(float64(len(events))/float64(records), "events/record")
				b.ReportMetric(float64(lineBytes)/float64(len(events)), "line-B/event")
				b.ReportMetric(dynamo+firehose, "$/M-events")
			}
		})
	}
}

// routeCost puts events through the collector with every type on route and
// returns the WRU consumed, the Firehose bytes billed and the records sent.
func routeCost(b *testing.B, events []tracker.Event, route tracker.Route, single bool) (float64, int64, int64) {
	env := dynamolocal.NewEnv(b)
	db := &capacityDB{Client: env.Client}
	routes := map[string]tracker.Route{}
	for _, typ := range tracker.DefaultEventTypes() {
		routes[typ] = route
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	p, err := pipeline.Start(ctx, pipeline.Config{
		DynamoDB: env.Server, EventsTable: env.EventsTable, SummaryTable: env.SummaryTable, LakeDir: b.TempDir(), Format: pipeline.FormatJSON,
		WrapDynamoDB: func(*dynamodb.Client) tracker.DynamoDB { return db },
		Tracker:      tracker.Config{Routes: routes},
		Logger:       slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(context.Background())
	keys, _ := collector.NewKeySet(writeKey)
	h, err := collector.New(p, collector.Config{WriteKeys: keys, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	srv := newLoopback(b, h)
	post := func(path string, body []byte) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv+path, bytes.NewReader(body))
		req.SetBasicAuth(writeKey, "")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("%s: %s", path, resp.Status)
		}
	}
	if single {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range 32 {
			wg.Go(func() {
				for i := int(next.Add(1)) - 1; i < len(events); i = int(next.Add(1)) - 1 {
					post("/v1/events", tracker.AppendLine(nil, events[i]))
				}
			})
		}
		wg.Wait()
	} else {
		for i := 0; i < len(events); i += 100 {
			body, err := segmentBody(events[i:min(i+100, len(events))])
			if err != nil {
				b.Fatal(err)
			}
			post("/v1/batch", body)
		}
	}
	counts, err := p.Drain(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	if counts.Events != int64(len(events)) {
		b.Fatalf("%d events in the lake, %d sent", counts.Events, len(events))
	}
	st := p.Firehose.Stats()
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.wru, st.BilledBytes, st.RecordsReceived
}

// segmentBody renders events as a Segment /v1/batch body of track calls
// (page views as page calls) with their IDs as messageIds.
func segmentBody(evs []tracker.Event) ([]byte, error) {
	var msgs []map[string]any
	for _, e := range evs {
		m := map[string]any{"type": "track", "event": e.Type, "messageId": e.ID, "userId": e.UserID, "timestamp": e.At.Format(time.RFC3339Nano),
			"context": map[string]string{"ip": e.IP, "userAgent": e.UserAgent}, "properties": e.Attributes}
		if e.Type == "page_view" {
			m["type"] = "page"
			delete(m, "event")
		}
		msgs = append(msgs, m)
	}
	return json.Marshal(map[string]any{"batch": msgs})
}

// newLoopback serves h on 127.0.0.1 for the benchmark and returns its URL.
func newLoopback(b *testing.B, h http.Handler) string {
	b.Helper()
	srv := &http.Server{Handler: h}
	ln, err := netListen()
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return fmt.Sprintf("http://%s", ln.Addr())
}

func netListen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
