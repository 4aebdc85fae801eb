package firehoselocal_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"

	"github.com/eventlake/eventlake/local/firehoselocal"
)

// eventlakePartitioning is the deployed stream's configuration
// (infra/eventlake: FirehosePrefix, PartitionQuery, FirehoseErrorPrefix).
func eventlakePartitioning(opts firehoselocal.Options) firehoselocal.Options {
	opts.Prefix = firehoselocal.EventDayPrefix
	opts.ErrorPrefix = firehoselocal.DefaultErrorPrefix
	opts.Partitioning = firehoselocal.EventDayPartitioning()
	return opts
}

// clock is a settable arrival clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

func event(id, at string) string {
	return fmt.Sprintf(`{"user_id":"u1","event_at":%q,"event_id":%q,"event_type":"login"}`, at, id)
}

// objectsByPrefix returns the delivered objects' lines by the folder of
// their key, the object's bytes decompressed.
func objectsByPrefix(t *testing.T, srv *firehoselocal.Server) map[string][]string {
	t.Helper()
	if err := srv.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, o := range srv.MemorySink().Objects() {
		dir := o.Key[:strings.LastIndexByte(o.Key, '/')+1]
		body := o.Body
		if strings.HasSuffix(o.Key, ".gz") {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("%s: %v", o.Key, err)
			}
			body, _ = io.ReadAll(zr)
		}
		for _, l := range strings.Split(strings.TrimSuffix(string(body), "\n"), "\n") {
			out[dir] = append(out[dir], l)
		}
	}
	return out
}

// TestDynamicPartitioning sends packed records as the relay does: each event
// lands under the day of its event_at, whenever it arrives; what has no
// usable day, and records that are not JSON objects, go to the error
// prefix with the data that failed.
func TestDynamicPartitioning(t *testing.T) {
	clk := &clock{t: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	srv := start(t, eventlakePartitioning(firehoselocal.Options{Now: clk.now, BufferInterval: time.Hour}))
	c := client(srv)
	ctx := context.Background()
	packed := strings.Join([]string{
		event("a", "2026-11-30T11:59:00.000Z"),
		event("b", "2026-11-23T08:00:00.000Z"),                                       // a week late
		`{"user_id":"u1","event_id":"c","event_type":"login"}`,                       // no event_at
		`{"user_id":"u1","event_at":1795341845,"event_id":"d","event_type":"login"}`, // a number
		event("e", ""),
		event("f", "2026-11-22T23:59:59.999Z"),
	}, "\n") + "\n"
	concatenated := event("g", "2026-11-23T00:00:00.000Z") + event("h", "2026-11-30T00:00:00.000Z")
	tooMany := strings.Repeat(event("i", "2026-11-30T01:00:00.000Z")+"\n", 501)
	out, err := putBatch(ctx, c, records(packed, concatenated, "not json\n", `[{"a":1}]`, tooMany))
	if err != nil || aws.ToInt32(out.FailedPutCount) != 0 {
		t.Fatalf("put: %v %v", err, out)
	}
	got := objectsByPrefix(t, srv)
	ids := func(lines []string) string {
		var out []string
		for _, l := range lines {
			i := strings.Index(l, `"event_id":"`)
			out = append(out, l[i+12:i+13])
		}
		sort.Strings(out)
		return strings.Join(out, "")
	}
	for dir, want := range map[string]string{
		"events/dt=2026-11-30/": "ah",
		"events/dt=2026-11-23/": "bg",
		"events/dt=2026-11-22/": "f",
	} {
		if g := ids(got[dir]); g != want {
			t.Errorf("%s holds %q, want %q", dir, g, want)
		}
	}
	errs := got["errors/processing-failed/dt=2026-11-30/"]
	if len(errs) != 6 {
		t.Fatalf("%d error records, want 6 (3 events without a day, 3 bad records): %v", len(errs), got)
	}
	recs, err := firehoselocal.DecodeErrorRecords([]byte(strings.Join(errs, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]int{}
	for _, r := range recs {
		codes[r.ErrorCode]++
		if r.ArrivalTimestamp != clk.now().UnixMilli() || len(r.RawData) == 0 || r.ErrorMessage == "" {
			t.Errorf("error record %+v", r)
		}
	}
	want := map[string]int{firehoselocal.ErrorCodeMetadataExtractionFailed: 3, firehoselocal.ErrorCodeDeaggregationFailed: 2, firehoselocal.ErrorCodeTooManyObjects: 1}
	if fmt.Sprint(codes) != fmt.Sprint(want) {
		t.Errorf("error codes %v, want %v", codes, want)
	}
	if string(recs[0].RawData) != `{"user_id":"u1","event_id":"c","event_type":"login"}` {
		t.Errorf("raw data %q, want the event that failed", recs[0].RawData)
	}
	if s := srv.Stats(); s.ErrorRecords != 6 || s.LinesDelivered != 5+6 {
		t.Errorf("stats %+v", s)
	}
}

// TestDuplicateAcrossMidnightOfArrival: two copies of one event, the first
// arriving before midnight and the second after (a retry), land in the same
// partition, the event's day, so the dedup view removes one exactly.
func TestDuplicateAcrossMidnightOfArrival(t *testing.T) {
	clk := &clock{t: time.Date(2026, 11, 30, 23, 59, 59, 0, time.UTC)}
	srv := start(t, eventlakePartitioning(firehoselocal.Options{Now: clk.now, BufferInterval: time.Hour}))
	c := client(srv)
	ev := event("x", "2026-11-30T23:59:58.500Z") + "\n"
	if _, err := putBatch(context.Background(), c, records(ev)); err != nil {
		t.Fatal(err)
	}
	if err := srv.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	clk.set(time.Date(2026, 12, 1, 0, 0, 2, 0, time.UTC))
	if _, err := putBatch(context.Background(), c, records(ev)); err != nil {
		t.Fatal(err)
	}
	got := objectsByPrefix(t, srv)
	if len(got) != 1 || len(got["events/dt=2026-11-30/"]) != 2 {
		t.Errorf("objects %v: want both copies under dt=2026-11-30", got)
	}
	var names []string
	for _, o := range srv.MemorySink().Objects() {
		names = append(names, o.Key[strings.LastIndexByte(o.Key, '/')+1:])
	}
	if len(names) != 2 || !strings.Contains(names[0], "-2026-11-30-23-59-59-") || !strings.Contains(names[1], "-2026-12-01-00-00-02-") {
		t.Errorf("object names %v: want each named by its arrival, as Firehose does", names)
	}
}

func TestConversionFailures(t *testing.T) {
	clk := &clock{t: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	srv := start(t, eventlakePartitioning(firehoselocal.Options{Now: clk.now, BufferInterval: time.Hour,
		Encoder: firehoselocal.Uncompressed{}, Faults: firehoselocal.Faults{ConversionFailureRate: 1}}))
	if _, err := putBatch(context.Background(), client(srv), records(event("a", "2026-11-29T10:00:00.000Z")+"\n"+event("b", "2026-11-29T10:00:01.000Z"))); err != nil {
		t.Fatal(err)
	}
	got := objectsByPrefix(t, srv)
	errs := got["errors/format-conversion-failed/dt=2026-11-30/"]
	if len(got) != 1 || len(errs) != 2 {
		t.Fatalf("objects %v", got)
	}
	recs, _ := firehoselocal.DecodeErrorRecords([]byte(strings.Join(errs, "\n")))
	if recs[0].LastErrorCode != firehoselocal.ErrorCodeMalformedData || string(recs[1].RawData) != event("b", "2026-11-29T10:00:01.000Z") {
		t.Errorf("error records %+v", recs)
	}
	if err := srv.SetFaults(firehoselocal.Faults{}); err != nil {
		t.Fatal(err)
	}
}

func TestPartitioningConfiguration(t *testing.T) {
	dp := &firehoselocal.Partitioning{Keys: map[string]string{"dt": ".event_at[0:10]"}}
	for _, tc := range []struct {
		name string
		opts firehoselocal.Options
	}{
		{"key without partitioning", firehoselocal.Options{Prefix: "events/dt=!{partitionKeyFromQuery:dt}/"}},
		{"partitioning without a key in the prefix", firehoselocal.Options{Prefix: "events/", Partitioning: dp}},
		{"unknown key", firehoselocal.Options{Prefix: "events/x=!{partitionKeyFromQuery:x}/", Partitioning: dp}},
		{"error type in the data prefix", firehoselocal.Options{Prefix: "events/!{firehose:error-output-type}/dt=!{partitionKeyFromQuery:dt}/", Partitioning: dp}},
		{"key in the error prefix", firehoselocal.Options{Prefix: "events/dt=!{partitionKeyFromQuery:dt}/", ErrorPrefix: "e/!{partitionKeyFromQuery:dt}/", Partitioning: dp}},
		{"unsupported query", firehoselocal.Options{Prefix: "events/dt=!{partitionKeyFromQuery:dt}/", Partitioning: &firehoselocal.Partitioning{Keys: map[string]string{"dt": ".event_at | split(\"T\")"}}}},
		{"folder-unsafe error prefix", firehoselocal.Options{Prefix: "events/dt=!{partitionKeyFromQuery:dt}/", ErrorPrefix: "../e/", Partitioning: dp, Sink: firehoselocal.FolderSink{Root: t.TempDir()}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if srv, err := firehoselocal.New(tc.opts); err == nil {
				srv.Close()
				t.Errorf("New accepted %+v", tc.opts)
			}
		})
	}
	srv := start(t, eventlakePartitioning(firehoselocal.Options{}))
	out, err := client(srv).DescribeDeliveryStream(context.Background(), &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	d := out.DeliveryStreamDescription.Destinations[0].ExtendedS3DestinationDescription
	if aws.ToString(d.Prefix) != "events/dt=!{partitionKeyFromQuery:dt}/" || aws.ToString(d.ErrorOutputPrefix) != firehoselocal.DefaultErrorPrefix ||
		d.DynamicPartitioningConfiguration == nil || !aws.ToBool(d.DynamicPartitioningConfiguration.Enabled) {
		t.Errorf("description %+v", d)
	}
}

// TestPartitionValueTheFolderCannotStore: an event_at whose first ten
// characters would leave the lake folder goes to the error prefix instead of
// blocking delivery.
func TestPartitionValueTheFolderCannotStore(t *testing.T) {
	sink := firehoselocal.FolderSink{Root: t.TempDir()}
	srv := start(t, eventlakePartitioning(firehoselocal.Options{Sink: sink, BufferInterval: time.Hour}))
	if _, err := putBatch(context.Background(), client(srv), records(event("a", "../../../etc")+"\n"+event("b", "2026-11-29T10:00:01.000Z"))); err != nil {
		t.Fatal(err)
	}
	if err := srv.Flush(context.Background()); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if s := srv.Stats(); s.ErrorRecords != 1 || s.DeliveryErrors != 0 || s.ObjectsDelivered != 2 {
		t.Errorf("stats %+v", s)
	}
}
