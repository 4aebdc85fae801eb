package relay_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/eventlake/eventlake/lambdas/streamtofirehose/relay"
	"github.com/eventlake/eventlake/local/firehoselocal"
	"github.com/eventlake/eventlake/tracker"
)

var update = flag.Bool("update", false, "rewrite the golden NDJSON files in testdata/golden")

// TestGolden sends AWS-shaped stream events from testdata through both
// entry points (Invoke on the raw payload; Handle behind the Lambda
// runtime's JSON decoding) and the real SDK client, and compares the
// delivered NDJSON with testdata/golden: both must give the same bytes.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, file := range files {
		for _, entry := range []string{"Invoke", "Handle"} {
			name := strings.TrimSuffix(filepath.Base(file), ".json")
			t.Run(name+"/"+entry, func(t *testing.T) { golden(t, file, name, entry == "Handle") })
		}
	}
}

// golden runs one testdata file through Invoke or (typed) Handle.
func golden(t *testing.T, file, name string, typed bool) {
	payload, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		t.Fatalf("%s does not decode as a DynamoDB event: %v", file, err)
	}
	hs := newHarness(t, testConfig(), firehoselocal.Options{})
	if typed {
		hs.typed()
	}
	resp := hs.invoke(t, context.Background(), payload)
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("batch item failures %v", resp.BatchItemFailures)
	}
	lines := hs.delivered(t)
	got := strings.Join(lines, "\n")
	if len(lines) > 0 {
		got += "\n"
	}
	golden := filepath.Join("testdata", "golden", name+".ndjson")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("delivered NDJSON differs from %s:\n got: %s\nwant: %s", golden, got, want)
	}
	for _, l := range lines {
		checkLine(t, l)
	}

	inserts := 0
	for _, r := range ev.Records {
		if r.EventName == "INSERT" {
			inserts++
		}
	}
	s := hs.lastSummary(t)
	if num(s, relay.LogFieldBatchSize) != len(ev.Records) || num(s, relay.LogFieldRecordsSize) != len(lines) ||
		num(s, relay.LogFieldSkipped) != len(ev.Records)-len(lines) ||
		num(s, relay.LogFieldNotInsert) != len(ev.Records)-inserts || num(s, relay.LogFieldFailedEvents) != 0 {
		t.Errorf("summary %v for %d records, %d inserts, %d lines", s, len(ev.Records), inserts, len(lines))
	}
	checkNoIPs(t, hs.logs.String())
}

// TestSkippedRecordsAreLogged checks the malformed sample: each bad image
// is logged with its sequence number and the field at fault, the good
// event is delivered.
func TestSkippedRecordsAreLogged(t *testing.T) {
	payload, err := os.ReadFile("testdata/malformed.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		t.Fatal(err)
	}
	hs := newHarness(t, testConfig(), firehoselocal.Options{})
	if resp := hs.invoke(t, context.Background(), payload); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("failures %v", resp.BatchItemFailures)
	}
	if lines := hs.delivered(t); len(lines) != 1 || !strings.Contains(lines[0], `"event_type":"logout"`) {
		t.Fatalf("delivered %q, want the one valid event", lines)
	}
	wantFields := []string{"user_id", "attributes", "event_at", "", "event_type", "event_id"}
	var warned []map[string]any
	for _, e := range hs.logs.entries(t) {
		if e["level"] == "WARN" && e[relay.LogFieldSequenceNumber] != nil {
			warned = append(warned, e)
		}
	}
	if len(warned) != len(wantFields) {
		t.Fatalf("%d skipped records logged, want %d: %v", len(warned), len(wantFields), warned)
	}
	for i, e := range warned {
		if e[relay.LogFieldSequenceNumber] != ev.Records[i].Change.SequenceNumber || e[relay.LogFieldStreamEventID] != ev.Records[i].EventID {
			t.Errorf("log %d names %v/%v, want record %d's sequence number and event ID", i, e[relay.LogFieldSequenceNumber], e[relay.LogFieldStreamEventID], i)
		}
		msg, _ := e["error"].(string)
		if wantFields[i] != "" && !strings.Contains(msg, wantFields[i]+":") {
			t.Errorf("log %d error %q does not name %s", i, msg, wantFields[i])
		}
	}
	s := hs.lastSummary(t)
	if num(s, relay.LogFieldMalformed) != 6 || num(s, relay.LogFieldSkipped) != 6 || num(s, relay.LogFieldRecordsSize) != 1 {
		t.Errorf("summary %v", s)
	}
}

// TestSummaryLine checks the summary's fields, so the CloudWatch metric
// filter { $.records_size > 0 } with value $.records_size works.
func TestSummaryLine(t *testing.T) {
	hs := newHarness(t, testConfig(), firehoselocal.Options{})
	recs := typicalRecords(0, 40)
	recs[3].EventName = "MODIFY"
	recs[7].EventName = "REMOVE"
	recs[7].Change.NewImage = nil
	hs.invokeRecords(t, context.Background(), recs)
	hs.invokeRecords(t, context.Background(), nil)
	sums := hs.summaries(t)
	if len(sums) != 2 {
		t.Fatalf("%d summary lines for 2 invocations", len(sums))
	}
	s := sums[0]
	for key, want := range map[string]int{
		relay.LogFieldBatchSize: 40, relay.LogFieldRecordsSize: 38, relay.LogFieldFailedEvents: 0, relay.LogFieldFailedRecords: 0, relay.LogFieldRejected: 0, relay.LogFieldKeptAside: 0,
		relay.LogFieldSkipped: 2, relay.LogFieldNotInsert: 2, relay.LogFieldMalformed: 0, relay.LogFieldOversize: 0,
		relay.LogFieldFirehoseRecords: 1, relay.LogFieldPutCalls: 1, relay.LogFieldRetries: 0, relay.LogFieldLines: 38,
	} {
		if got, ok := s[key].(float64); !ok || int(got) != want {
			t.Errorf("%s = %v, want %d (a JSON number)", key, s[key], want)
		}
	}
	if s["level"] != "INFO" {
		t.Errorf("level %v", s["level"])
	}
	if num(sums[1], relay.LogFieldBatchSize) != 0 || num(sums[1], relay.LogFieldRecordsSize) != 0 {
		t.Errorf("empty batch summary %v", sums[1])
	}
	checkNoIPs(t, hs.logs.String())
}

func TestEdgeCases(t *testing.T) {
	ctx := context.Background()

	t.Run("empty batch", func(t *testing.T) {
		hs := newHarness(t, testConfig(), firehoselocal.Options{})
		resp := hs.invoke(t, ctx, []byte(`{"Records":[]}`))
		if len(resp.BatchItemFailures) != 0 || len(hs.delivered(t)) != 0 || hs.srv.Stats().Calls != 0 {
			t.Errorf("an empty batch did something: %+v %+v", resp, hs.srv.Stats())
		}
	})

	t.Run("only REMOVE records", func(t *testing.T) {
		hs := newHarness(t, testConfig(), firehoselocal.Options{})
		payload, err := os.ReadFile("testdata/remove-only.json")
		if err != nil {
			t.Fatal(err)
		}
		resp := hs.invoke(t, ctx, payload)
		if len(resp.BatchItemFailures) != 0 || hs.srv.Stats().Calls != 0 {
			t.Errorf("REMOVE records were sent: %+v", hs.srv.Stats())
		}
		if s := hs.lastSummary(t); num(s, relay.LogFieldSkipped) != 3 || num(s, relay.LogFieldNotInsert) != 3 {
			t.Errorf("summary %v", s)
		}
	})

	t.Run("image missing user_id", func(t *testing.T) {
		hs := newHarness(t, testConfig(), firehoselocal.Options{})
		recs := typicalRecords(0, 3)
		delete(recs[1].Change.NewImage, tracker.FieldUserID)
		resp := hs.invokeRecords(t, ctx, recs)
		lines := hs.delivered(t)
		if len(resp.BatchItemFailures) != 0 || !slices.Equal(eventIDs(t, lines), []string{recordID(recs[0]), recordID(recs[2])}) {
			t.Errorf("failures %v, delivered %v", resp.BatchItemFailures, lines)
		}
	})

	t.Run("huge attribute", func(t *testing.T) {
		// A 350 KB attribute value (DynamoDB's item limit is 400 KB) makes
		// a line far larger than the packing size: it travels alone.
		cfg := testConfig()
		cfg.RecordMaxBytes = 64 << 10
		hs := newHarness(t, cfg, firehoselocal.Options{})
		recs := typicalRecords(0, 5)
		huge := strings.Repeat("é\"\n", 350<<10/4)
		recs[2].Change.NewImage[tracker.FieldAttributes] = events.NewMapAttribute(map[string]events.DynamoDBAttributeValue{
			"blob": events.NewStringAttribute(huge),
		})
		resp := hs.invokeRecords(t, ctx, recs)
		lines := hs.delivered(t)
		if len(resp.BatchItemFailures) != 0 || len(lines) != 5 {
			t.Fatalf("failures %v, %d lines", resp.BatchItemFailures, len(lines))
		}
		m := checkLine(t, lines[2])
		if got := m[tracker.FieldAttributes].(map[string]any)["blob"]; got != huge {
			t.Errorf("the huge attribute did not survive the round trip")
		}
		if st := hs.srv.Stats(); st.RecordsReceived != 3 || st.LargestRecord <= int64(cfg.RecordMaxBytes) {
			t.Errorf("stats %+v: want the huge line alone in a record between two packed ones", st)
		}
	})

	t.Run("event larger than a Firehose record", func(t *testing.T) {
		hs := newHarness(t, testConfig(), firehoselocal.Options{})
		recs := typicalRecords(0, 4)
		// 390 KB of control characters: each escapes to six bytes, so the
		// line is 2.3 MB, over Firehose's 1,000 KiB record limit.
		recs[1].Change.NewImage[tracker.FieldAttributes] = events.NewMapAttribute(map[string]events.DynamoDBAttributeValue{
			"raw": events.NewStringAttribute(strings.Repeat("\x01", 390<<10)),
		})
		resp := hs.invokeRecords(t, ctx, recs)
		lines := hs.delivered(t)
		if len(resp.BatchItemFailures) != 0 {
			t.Fatalf("an oversize event became a batch item failure, which would block the shard: %v", resp.BatchItemFailures)
		}
		if want := []string{recordID(recs[0]), recordID(recs[2]), recordID(recs[3])}; !slices.Equal(eventIDs(t, lines), want) {
			t.Errorf("delivered %v, want %v", eventIDs(t, lines), want)
		}
		s := hs.lastSummary(t)
		if num(s, relay.LogFieldOversize) != 1 || num(s, relay.LogFieldSkipped) != 1 {
			t.Errorf("summary %v", s)
		}
		reported := false
		for _, e := range hs.logs.entries(t) {
			if e["level"] == "ERROR" && e[relay.LogFieldSequenceNumber] == recs[1].Change.SequenceNumber {
				reported = true
			}
		}
		if !reported {
			t.Errorf("the oversize event was not logged as an error with its sequence number:\n%s", hs.logs.String()[:min(2000, len(hs.logs.String()))])
		}
	})

	t.Run("10,000 records in one batch", func(t *testing.T) {
		cfg := testConfig()
		cfg.RecordMaxBytes = 4 << 10 // about 11 lines per record: over 500 records, two calls
		hs := newHarness(t, cfg, firehoselocal.Options{})
		recs := typicalRecords(0, 10000)
		resp := hs.invokeRecords(t, ctx, recs)
		lines := hs.delivered(t)
		if len(resp.BatchItemFailures) != 0 || len(lines) != len(recs) {
			t.Fatalf("failures %v, %d lines", resp.BatchItemFailures, len(lines))
		}
		ids := eventIDs(t, lines)
		for i, r := range recs {
			if ids[i] != recordID(r) {
				t.Fatalf("line %d is event %s, want %s: order lost", i, ids[i], recordID(r))
			}
		}
		st := hs.srv.Stats()
		if st.Calls < 2 || st.LargestCallRecords > relay.MaxBatchRecords || st.LargestCallBytes > relay.MaxBatchBytes || st.LargestRecord > int64(cfg.RecordMaxBytes) {
			t.Errorf("stats %+v break the packing or the call limits", st)
		}
		s := hs.lastSummary(t)
		if num(s, relay.LogFieldRecordsSize) != 10000 || num(s, relay.LogFieldPutCalls) != int(st.Calls) {
			t.Errorf("summary %v", s)
		}
	})
}

// runLikeLambda invokes the handler as Lambda's event source mapping does:
// after a batch item failure it retries from the reported sequence number.
// After each invocation it checks that every INSERT before the reported
// record was delivered and, when exact, that the reported record is the
// earliest one whose line was not delivered by that invocation.
// It returns the number of invocations and of reported failures.
func runLikeLambda(t *testing.T, hs *harness, recs []events.DynamoDBEventRecord, budget time.Duration, exact bool, maxInvocations int) (int, int) {
	t.Helper()
	failures := 0
	for inv := 1; ; inv++ {
		before := len(hs.delivered(t))
		ctx, cancel := context.WithTimeout(context.Background(), budget)
		resp := hs.invokeRecords(t, ctx, recs)
		cancel()
		all := hs.delivered(t)
		delivered := map[string]bool{}
		for _, id := range eventIDs(t, all) {
			delivered[id] = true
		}
		fresh := map[string]bool{}
		for _, id := range eventIDs(t, all[before:]) {
			fresh[id] = true
		}
		if len(resp.BatchItemFailures) == 0 {
			for _, r := range recs {
				if !delivered[recordID(r)] {
					t.Fatalf("invocation %d reported success but event %s was not delivered", inv, recordID(r))
				}
			}
			return inv, failures
		}
		failures++
		if len(resp.BatchItemFailures) != 1 {
			t.Fatalf("%d batch item failures, want the earliest only", len(resp.BatchItemFailures))
		}
		k := indexOfSeq(recs, resp.BatchItemFailures[0].ItemIdentifier)
		if k < 0 {
			t.Fatalf("the failure %q is not a sequence number of the batch", resp.BatchItemFailures[0].ItemIdentifier)
		}
		for _, r := range recs[:k] {
			if !delivered[recordID(r)] {
				t.Fatalf("invocation %d reported record %d but the earlier event %s was never delivered", inv, k, recordID(r))
			}
		}
		if exact {
			first := slices.IndexFunc(recs, func(r events.DynamoDBEventRecord) bool { return !fresh[recordID(r)] })
			if first != k {
				t.Fatalf("invocation %d reported record %d; the earliest undelivered is %d", inv, k, first)
			}
		}
		if inv == maxInvocations {
			return inv, failures
		}
		recs = recs[k:]
	}
}

func TestFaults(t *testing.T) {
	for _, tc := range []struct {
		name   string
		faults firehoselocal.Faults // persisting faults
		clears firehoselocal.Faults // faults that clear after a few calls
		cfg    func(*relay.Config)
		exact  bool
	}{
		{"partial failures", firehoselocal.Faults{RecordFailureRate: 0.3}, firehoselocal.Faults{RecordFailureRate: 0.5, ClearAfter: 4}, nil, true},
		{"throttling", firehoselocal.Faults{ThrottleRate: 0.5}, firehoselocal.Faults{ThrottleRate: 1, ClearAfter: 6}, nil, true},
		{"5xx", firehoselocal.Faults{ServerErrorRate: 0.5}, firehoselocal.Faults{ServerErrorRate: 1, ClearAfter: 6}, nil, true},
		{"everything at once", firehoselocal.Faults{RecordFailureRate: 0.2, ThrottleRate: 0.2, ServerErrorRate: 0.2},
			firehoselocal.Faults{RecordFailureRate: 0.3, ThrottleRate: 0.3, ServerErrorRate: 0.4, ClearAfter: 8}, nil, true},
		// The client gives up on slow calls that the endpoint still
		// accepts: duplicates, so only the weaker invariant holds.
		{"slow responses", firehoselocal.Faults{Delay: 150 * time.Millisecond, DelayRate: 0.5},
			firehoselocal.Faults{Delay: 150 * time.Millisecond, ClearAfter: 3},
			func(c *relay.Config) { c.CallTimeout = 50 * time.Millisecond }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.RecordMaxBytes = 2 << 10 // about six lines per record
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			t.Run("faults that persist", func(t *testing.T) {
				// Each invocation has time for one attempt per call only
				// (the first backoff outlasts the retry budget), so faults
				// end invocations early; each reports the right record.
				cfg := cfg
				cfg.SafetyMargin = 1500 * time.Millisecond
				cfg.BackoffBase, cfg.BackoffMax = 600*time.Millisecond, 600*time.Millisecond
				hs := newHarness(t, cfg, firehoselocal.Options{Faults: tc.faults, Seed: 3})
				_, failures := runLikeLambda(t, hs, typicalRecords(0, 300), 2*time.Second, tc.exact, 4)
				if tc.faults.RecordFailureRate > 0 && failures == 0 {
					t.Error("no invocation reported a failure: the test did not exercise the failure path")
				}
				t.Logf("%d invocations reported a failure", failures)
			})
			t.Run("faults that clear", func(t *testing.T) {
				hs := newHarness(t, cfg, firehoselocal.Options{Faults: tc.clears, Seed: 4})
				recs := typicalRecords(0, 300)
				if n, _ := runLikeLambda(t, hs, recs, time.Minute, tc.exact, 100); n != 1 {
					t.Errorf("%d invocations; faults that clear within the invocation's time need one", n)
				}
				ids := eventIDs(t, hs.delivered(t))
				got := map[string]bool{}
				for _, id := range ids {
					got[id] = true
				}
				if len(got) != len(recs) {
					t.Errorf("%d distinct events delivered, want %d", len(got), len(recs))
				}
				if s := hs.lastSummary(t); num(s, relay.LogFieldRetries) == 0 || num(s, relay.LogFieldRecordsSize) < len(recs) {
					t.Errorf("summary %v: want retries and every line delivered", s)
				}
			})
		})
	}
}

func TestGivesUpBeforeTheDeadline(t *testing.T) {
	cfg := testConfig()
	cfg.SafetyMargin = time.Second
	hs := newHarness(t, cfg, firehoselocal.Options{Faults: firehoselocal.Faults{ThrottleRate: 1}})
	recs := typicalRecords(0, 20)
	recs[0].EventName = "MODIFY"
	deadline := time.Now().Add(3 * time.Second)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	resp := hs.invokeRecords(t, ctx, recs)
	if time.Now().After(deadline) {
		t.Errorf("the handler returned after the invocation's deadline")
	}
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != recs[1].Change.SequenceNumber {
		t.Fatalf("failures %v, want the first INSERT's sequence number %s", resp.BatchItemFailures, recs[1].Change.SequenceNumber)
	}
	s := hs.lastSummary(t)
	// 19 events packed into one Firehose record: the lost events are 19,
	// not the one record.
	if num(s, relay.LogFieldFailedEvents) != 19 {
		t.Errorf("failed_events = %d, want the 19 undelivered events (one record)", num(s, relay.LogFieldFailedEvents))
	}
	if num(s, relay.LogFieldRetries) == 0 || num(s, relay.LogFieldFailedRecords) != 1 || s[relay.LogFieldFailedSequenceNumber] != recs[1].Change.SequenceNumber ||
		!strings.Contains(s["error"].(string), "ServiceUnavailableException") && !strings.Contains(s["error"].(string), "timeout") || s["level"] != "WARN" {
		t.Errorf("summary %v", s)
	}
}

func TestPermanentErrorsAreNotRetried(t *testing.T) {
	cfg := testConfig()
	cfg.DeliveryStreamName = "no-such-stream"
	hs := newHarness(t, cfg, firehoselocal.Options{})
	recs := typicalRecords(0, 5)
	resp := hs.invokeRecords(t, context.Background(), recs)
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != recs[0].Change.SequenceNumber {
		t.Fatalf("failures %v", resp.BatchItemFailures)
	}
	if st := hs.srv.Stats(); st.Calls != 1 {
		t.Errorf("%d calls: ResourceNotFoundException was retried", st.Calls)
	}
	if s := hs.lastSummary(t); !strings.Contains(s["error"].(string), "ResourceNotFoundException") {
		t.Errorf("summary %v", s)
	}
}

func TestCancelledContext(t *testing.T) {
	hs := newHarness(t, testConfig(), firehoselocal.Options{Faults: firehoselocal.Faults{ThrottleRate: 1}})
	recs := typicalRecords(0, 3)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	resp := hs.invokeRecords(t, ctx, recs)
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != recs[0].Change.SequenceNumber {
		t.Fatalf("failures %v", resp.BatchItemFailures)
	}
}

func TestNewAndConfigFromEnv(t *testing.T) {
	srv, err := firehoselocal.Start(firehoselocal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	client := srv.Client()
	for _, tc := range []struct {
		name string
		cfg  relay.Config
	}{
		{"no stream", relay.Config{}},
		{"record too large", relay.Config{DeliveryStreamName: "s", RecordMaxBytes: relay.MaxRecordBytes + 1}},
		{"negative", relay.Config{DeliveryStreamName: "s", CallTimeout: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := relay.New(client, tc.cfg); err == nil {
				t.Error("New accepted a bad Config")
			}
		})
	}
	if _, err := relay.New(nil, relay.Config{DeliveryStreamName: "s"}); err == nil {
		t.Error("New accepted a nil client")
	}

	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cfg, err := relay.ConfigFromEnv(env(map[string]string{
		relay.EnvDeliveryStreamName: "stream", relay.EnvRecordMaxBytes: "65536", relay.EnvCallTimeout: "3s",
		relay.EnvSafetyMargin: "750ms", relay.EnvBackoffBase: "20ms", relay.EnvBackoffMax: "2s",
	}))
	want := relay.Config{DeliveryStreamName: "stream", RecordMaxBytes: 65536, CallTimeout: 3 * time.Second,
		SafetyMargin: 750 * time.Millisecond, BackoffBase: 20 * time.Millisecond, BackoffMax: 2 * time.Second}
	if err != nil || !reflect.DeepEqual(cfg, want) {
		t.Errorf("ConfigFromEnv = %+v, %v; want %+v", cfg, err, want)
	}
	for _, bad := range []map[string]string{
		{},
		{relay.EnvDeliveryStreamName: "s", relay.EnvRecordMaxBytes: "big"},
		{relay.EnvDeliveryStreamName: "s", relay.EnvCallTimeout: "10"},
		{relay.EnvDeliveryStreamName: "s", relay.EnvBackoffMax: "-1s"},
	} {
		_, err := relay.ConfigFromEnv(env(bad))
		named := false
		for k := range bad {
			if err != nil && strings.Contains(err.Error(), k) && k != relay.EnvDeliveryStreamName {
				named = true
			}
		}
		if err == nil || (len(bad) > 1 && !named) || (len(bad) == 0 && !strings.Contains(err.Error(), relay.EnvDeliveryStreamName)) {
			t.Errorf("ConfigFromEnv(%v) = %v, want an error naming the variable", bad, err)
		}
	}
}

func TestImageErrors(t *testing.T) {
	_, err := relay.AppendLine(nil, map[string]events.DynamoDBAttributeValue{})
	var ie *relay.ImageError
	if !errors.As(err, &ie) || !errors.Is(err, relay.ErrNotEvent) || ie.Field != tracker.FieldEventAt {
		t.Errorf("err = %v, want an *ImageError naming %s", err, tracker.FieldEventAt)
	}
	// Neither user_id nor anonymous_id.
	noID := typicalRecord(0).Change.NewImage
	delete(noID, tracker.FieldUserID)
	if _, err := relay.AppendLine(nil, noID); !errors.As(err, &ie) || ie.Field != tracker.FieldUserID || !strings.Contains(err.Error(), tracker.FieldAnonymousID) {
		t.Errorf("image without IDs: err = %v, want an *ImageError naming user_id and anonymous_id", err)
	}
	// is_bot of another type than BOOL.
	badBool := typicalRecord(0).Change.NewImage
	badBool[tracker.FieldIsBot] = events.NewStringAttribute("false")
	if _, err := relay.AppendLine(nil, badBool); !errors.As(err, &ie) || ie.Field != tracker.FieldIsBot {
		t.Errorf("is_bot as S: err = %v, want an *ImageError naming is_bot", err)
	}
	// A zero attribute value (only possible from Go) is an error, not a panic.
	img := typicalRecord(0).Change.NewImage
	img[tracker.FieldUserAgent] = events.DynamoDBAttributeValue{}
	dst := []byte("kept")
	out, err := relay.AppendLine(dst, img)
	if !errors.Is(err, relay.ErrNotEvent) || string(out) != "kept" {
		t.Errorf("AppendLine = %q, %v", out, err)
	}
}

// TestTypicalEventSize keeps the benchmarks' "typical event" honest: about
// 350 bytes of NDJSON.
func TestTypicalEventSize(t *testing.T) {
	total := 0
	for i := range 1000 {
		line, err := relay.AppendLine(nil, typicalRecord(i).Change.NewImage)
		if err != nil {
			t.Fatal(err)
		}
		total += len(line)
	}
	if avg := total / 1000; avg < 330 || avg > 370 {
		t.Errorf("a typical line is %d bytes on average, want about 350", avg)
	}
}

// TestInvokeRejectsWhatIsNotAStreamEvent: a payload that is not a JSON
// object with a Records array fails the invocation (Lambda retries it), as
// the runtime's decoding error does for Handle; nothing is sent.
func TestInvokeRejectsWhatIsNotAStreamEvent(t *testing.T) {
	hs := newHarness(t, testConfig(), firehoselocal.Options{})
	for _, p := range []string{`[]`, `{"Records":{}}`, `{"Records":[{"eventName":"INSERT"`, `{"Records":[]}{}`} {
		if out, err := hs.lambda.Invoke(context.Background(), []byte(p)); err == nil {
			t.Errorf("Invoke(%s) = %s, want an error", p, out)
		}
	}
	if st := hs.srv.Stats(); st.Calls != 0 {
		t.Errorf("%d Firehose calls for invalid payloads", st.Calls)
	}
	if lines := hs.delivered(t); len(lines) != 0 {
		t.Errorf("delivered %q", lines)
	}
}
