package firehoselocal_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/smithy-go"

	"github.com/eventlake/eventlake/local/firehoselocal"
)

const stream = "events"

// start starts a server for one test and closes it at the end.
func start(t *testing.T, opts firehoselocal.Options) *firehoselocal.Server {
	t.Helper()
	if opts.Streams == nil {
		opts.Streams = []string{stream}
	}
	srv, err := firehoselocal.Start(opts)
	if err != nil {
		t.Fatalf("start firehoselocal: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// client returns a real SDK client without SDK retries, so every fault is
// seen by the test.
func client(srv *firehoselocal.Server) *firehose.Client {
	return srv.Client(func(o *firehose.Options) { o.RetryMaxAttempts = 1 })
}

func records(lines ...string) []types.Record {
	recs := make([]types.Record, len(lines))
	for i, l := range lines {
		recs[i] = types.Record{Data: []byte(l)}
	}
	return recs
}

func putBatch(ctx context.Context, c *firehose.Client, recs []types.Record) (*firehose.PutRecordBatchOutput, error) {
	return c.PutRecordBatch(ctx, &firehose.PutRecordBatchInput{DeliveryStreamName: aws.String(stream), Records: recs})
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func httpStatus(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func flush(t *testing.T, srv *firehoselocal.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
}

func TestPutRecordBatchDeliversInOrder(t *testing.T) {
	ctx := context.Background()
	srv := start(t, firehoselocal.Options{})
	c := client(srv)
	out, err := putBatch(ctx, c, records("a\n", "b\nc\n", "d\n"))
	if err != nil {
		t.Fatalf("PutRecordBatch: %v", err)
	}
	if aws.ToInt32(out.FailedPutCount) != 0 || len(out.RequestResponses) != 3 {
		t.Fatalf("FailedPutCount %d, %d responses; want 0 and 3", aws.ToInt32(out.FailedPutCount), len(out.RequestResponses))
	}
	ids := map[string]bool{}
	for i, r := range out.RequestResponses {
		if aws.ToString(r.RecordId) == "" || r.ErrorCode != nil {
			t.Errorf("response %d = %+v, want a RecordId and no error", i, r)
		}
		ids[aws.ToString(r.RecordId)] = true
	}
	if len(ids) != 3 {
		t.Errorf("record IDs are not unique: %v", ids)
	}
	if _, err := c.PutRecord(ctx, &firehose.PutRecordInput{DeliveryStreamName: aws.String(stream), Record: &types.Record{Data: []byte("e\n")}}); err != nil {
		t.Fatalf("PutRecord: %v", err)
	}
	flush(t, srv)
	var got []string
	for _, l := range srv.MemorySink().Lines() {
		got = append(got, string(l))
	}
	if want := []string{"a", "b", "c", "d", "e"}; !reflect.DeepEqual(got, want) {
		t.Errorf("delivered lines %q, want %q", got, want)
	}
	st := srv.Stats()
	if st.Calls != 2 || st.RecordsReceived != 4 || st.LinesDelivered != 5 || st.ObjectsDelivered != 1 || st.BilledBytes != 4*firehoselocal.BillingIncrement {
		t.Errorf("stats %+v", st)
	}
}

// TestWireShapes checks the raw JSON the endpoint writes, beyond what the
// SDK's lenient decoder would notice.
func TestWireShapes(t *testing.T) {
	srv := start(t, firehoselocal.Options{Faults: firehoselocal.Faults{RecordFailureRate: 0.5}, Seed: 7})
	post := func(target, body string, signed bool) (int, http.Header, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, srv.URL(), strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", target)
		if signed {
			req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/firehose/aws4_request, SignedHeaders=host, Signature=00")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatalf("%s: response is not JSON: %v", target, err)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
			t.Errorf("%s: Content-Type %q", target, ct)
		}
		if resp.Header.Get("x-amzn-RequestId") == "" {
			t.Errorf("%s: no x-amzn-RequestId", target)
		}
		return resp.StatusCode, resp.Header, m
	}
	var sb strings.Builder
	sb.WriteString(`{"DeliveryStreamName":"events","Records":[`)
	for i := range 40 {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`{"Data":"eyJhIjoxfQo="}`) // {"a":1}\n
	}
	sb.WriteString(`]}`)
	status, _, m := post("Firehose_20150804.PutRecordBatch", sb.String(), true)
	if status != 200 {
		t.Fatalf("PutRecordBatch status %d: %v", status, m)
	}
	keys := func(m map[string]any) []string {
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		return ks
	}
	if len(m) != 3 || m["FailedPutCount"] == nil || m["Encrypted"] != false || m["RequestResponses"] == nil {
		t.Fatalf("PutRecordBatch body keys %v, want FailedPutCount, Encrypted, RequestResponses", keys(m))
	}
	failed := 0
	for i, e := range m["RequestResponses"].([]any) {
		entry := e.(map[string]any)
		switch {
		case entry["RecordId"] != nil && len(entry) == 1:
		case entry["ErrorCode"] == "ServiceUnavailableException" && entry["ErrorMessage"] != nil && len(entry) == 2:
			failed++
		default:
			t.Errorf("entry %d = %v, want RecordId alone or ErrorCode and ErrorMessage", i, entry)
		}
	}
	if failed == 0 || float64(failed) != m["FailedPutCount"].(float64) {
		t.Errorf("%d failed entries, FailedPutCount %v; want equal and > 0", failed, m["FailedPutCount"])
	}

	for _, tc := range []struct {
		name, target, body string
		signed             bool
		status             int
		code               string
	}{
		{"unsigned", "Firehose_20150804.PutRecordBatch", `{}`, false, 400, "MissingAuthenticationTokenException"},
		{"unknown operation", "Firehose_20150804.StartDeliveryStreamEncryption", `{}`, true, 400, "UnknownOperationException"},
		{"foreign target", "DynamoDB_20120810.PutItem", `{}`, true, 400, "UnknownOperationException"},
		{"bad base64", "Firehose_20150804.PutRecordBatch", `{"DeliveryStreamName":"events","Records":[{"Data":"!!"}]}`, true, 400, "SerializationException"},
		{"no stream name", "Firehose_20150804.PutRecordBatch", `{"Records":[{"Data":""}]}`, true, 400, "InvalidArgumentException"},
		{"null data", "Firehose_20150804.PutRecordBatch", `{"DeliveryStreamName":"events","Records":[{}]}`, true, 400, "InvalidArgumentException"},
		{"unknown stream", "Firehose_20150804.PutRecord", `{"DeliveryStreamName":"nope","Record":{"Data":""}}`, true, 400, "ResourceNotFoundException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, h, m := post(tc.target, tc.body, tc.signed)
			if status != tc.status || m["__type"] != tc.code || m["message"] == nil || h.Get("X-Amzn-ErrorType") != tc.code {
				t.Errorf("status %d body %v ErrorType %q; want %d and __type %s with a message", status, m, h.Get("X-Amzn-ErrorType"), tc.status, tc.code)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	ctx := context.Background()
	srv := start(t, firehoselocal.Options{})
	c := client(srv)
	n := func(count, size int) []types.Record {
		recs := make([]types.Record, count)
		for i := range recs {
			recs[i] = types.Record{Data: bytes.Repeat([]byte{'x'}, size)}
		}
		return recs
	}
	for _, tc := range []struct {
		name    string
		recs    []types.Record
		wantErr string
	}{
		{"500 records", n(500, 10), ""},
		{"501 records", n(501, 10), "InvalidArgumentException"},
		{"no records", []types.Record{}, "InvalidArgumentException"},
		{"record of 1,000 KiB", n(1, firehoselocal.MaxRecordBytes), ""},
		{"record over 1,000 KiB", n(1, firehoselocal.MaxRecordBytes+1), "InvalidArgumentException"},
		{"4 records of 1,000 KiB (under 4 MiB)", n(4, firehoselocal.MaxRecordBytes), ""},
		{"exactly 4 MiB", append(n(4, firehoselocal.MaxRecordBytes), n(1, firehoselocal.MaxBatchBytes-4*firehoselocal.MaxRecordBytes)...), ""},
		{"over 4 MiB", append(n(4, firehoselocal.MaxRecordBytes), n(1, firehoselocal.MaxBatchBytes-4*firehoselocal.MaxRecordBytes+1)...), "InvalidArgumentException"},
		{"empty record", n(1, 0), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := srv.Stats()
			out, err := putBatch(ctx, c, tc.recs)
			after := srv.Stats()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("PutRecordBatch: %v", err)
				}
				if aws.ToInt32(out.FailedPutCount) != 0 || len(out.RequestResponses) != len(tc.recs) {
					t.Errorf("FailedPutCount %d, %d responses", aws.ToInt32(out.FailedPutCount), len(out.RequestResponses))
				}
				if got := after.RecordsReceived - before.RecordsReceived; got != int64(len(tc.recs)) {
					t.Errorf("%d records received, want %d", got, len(tc.recs))
				}
				return
			}
			if apiCode(err) != tc.wantErr || httpStatus(err) != 400 {
				t.Fatalf("err = %v (code %q, status %d), want %s with HTTP 400", err, apiCode(err), httpStatus(err), tc.wantErr)
			}
			var iae *types.InvalidArgumentException
			if !errors.As(err, &iae) || iae.ErrorMessage() == "" {
				t.Errorf("err %T does not unwrap to *types.InvalidArgumentException with a message", err)
			}
			if after.RecordsReceived != before.RecordsReceived {
				t.Errorf("a refused call kept %d records", after.RecordsReceived-before.RecordsReceived)
			}
		})
	}
	_, err := c.PutRecordBatch(ctx, &firehose.PutRecordBatchInput{DeliveryStreamName: aws.String("missing"), Records: records("x")})
	var rnf *types.ResourceNotFoundException
	if !errors.As(err, &rnf) {
		t.Errorf("unknown stream: err = %v, want ResourceNotFoundException", err)
	}
}

func TestFaults(t *testing.T) {
	ctx := context.Background()

	t.Run("partial failures", func(t *testing.T) {
		srv := start(t, firehoselocal.Options{Faults: firehoselocal.Faults{RecordFailureRate: 0.3}, Seed: 1})
		c := client(srv)
		lines := make([]string, 200)
		for i := range lines {
			lines[i] = fmt.Sprintf("%d\n", i)
		}
		out, err := putBatch(ctx, c, records(lines...))
		if err != nil {
			t.Fatal(err)
		}
		failed := int(aws.ToInt32(out.FailedPutCount))
		if failed == 0 || failed == len(lines) {
			t.Fatalf("FailedPutCount %d of %d, want some", failed, len(lines))
		}
		var accepted []string
		for i, r := range out.RequestResponses {
			switch {
			case aws.ToString(r.ErrorCode) == "ServiceUnavailableException" && r.ErrorMessage != nil && r.RecordId == nil:
				failed--
			case r.RecordId != nil && r.ErrorCode == nil:
				accepted = append(accepted, strings.TrimSpace(lines[i]))
			default:
				t.Fatalf("response %d = %+v", i, r)
			}
		}
		if failed != 0 {
			t.Errorf("FailedPutCount does not match the failed entries")
		}
		flush(t, srv)
		var got []string
		for _, l := range srv.MemorySink().Lines() {
			got = append(got, string(l))
		}
		if !reflect.DeepEqual(got, accepted) {
			t.Errorf("delivered %d lines, want exactly the %d accepted ones in order", len(got), len(accepted))
		}
	})

	t.Run("throttling", func(t *testing.T) {
		srv := start(t, firehoselocal.Options{Faults: firehoselocal.Faults{ThrottleRate: 1}})
		_, err := putBatch(ctx, client(srv), records("a\n"))
		var sue *types.ServiceUnavailableException
		if !errors.As(err, &sue) || httpStatus(err) != 503 {
			t.Fatalf("err = %v (status %d), want ServiceUnavailableException with HTTP 503", err, httpStatus(err))
		}
		if st := srv.Stats(); st.Throttled != 1 || st.RecordsReceived != 0 {
			t.Errorf("stats %+v", st)
		}
	})

	t.Run("server errors", func(t *testing.T) {
		srv := start(t, firehoselocal.Options{Faults: firehoselocal.Faults{ServerErrorRate: 1}})
		_, err := putBatch(ctx, client(srv), records("a\n"))
		if apiCode(err) != "InternalFailure" || httpStatus(err) != 500 {
			t.Fatalf("err = %v, want InternalFailure with HTTP 500", err)
		}
	})

	t.Run("faults clear up", func(t *testing.T) {
		srv := start(t, firehoselocal.Options{Faults: firehoselocal.Faults{ThrottleRate: 1, ClearAfter: 3}})
		c := client(srv)
		for i := range 5 {
			_, err := putBatch(ctx, c, records("a\n"))
			if (err != nil) != (i < 3) {
				t.Errorf("call %d: err = %v; want errors on the first 3 calls only", i, err)
			}
		}
		if err := srv.SetFaults(firehoselocal.Faults{ServerErrorRate: 1, ClearAfter: 1}); err != nil {
			t.Fatal(err)
		}
		if _, err := putBatch(ctx, c, records("a\n")); apiCode(err) != "InternalFailure" {
			t.Errorf("after SetFaults: err = %v, want InternalFailure", err)
		}
		if _, err := putBatch(ctx, c, records("a\n")); err != nil {
			t.Errorf("after the fault cleared: %v", err)
		}
		if err := srv.SetFaults(firehoselocal.Faults{ThrottleRate: 2}); err == nil {
			t.Error("SetFaults accepted a rate of 2")
		}
	})

	t.Run("seeded", func(t *testing.T) {
		pattern := func() string {
			srv := start(t, firehoselocal.Options{Faults: firehoselocal.Faults{RecordFailureRate: 0.5}, Seed: 42})
			out, err := putBatch(ctx, client(srv), records(strings.Split(strings.Repeat("x,", 64), ",")[:64]...))
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for _, r := range out.RequestResponses {
				b.WriteByte("ok"[min(1, len(aws.ToString(r.ErrorCode)))])
			}
			return b.String()
		}
		if a, b := pattern(), pattern(); a != b {
			t.Errorf("same seed, different faults:\n%s\n%s", a, b)
		}
	})

	// The test decides when the delay ends (SetDelayClock) and when the
	// caller gives up, so nothing depends on how fast the machine is.
	t.Run("slow responses", func(t *testing.T) {
		srv := start(t, firehoselocal.Options{Faults: firehoselocal.Faults{Delay: time.Hour}})
		release := make(chan time.Time)
		firehoselocal.SetDelayClock(srv, func(time.Duration) <-chan time.Time { return release })
		callCtx, giveUp := context.WithCancel(ctx)
		defer giveUp()
		errc := make(chan error, 1)
		go func() {
			_, err := putBatch(callCtx, client(srv), records("late\n"))
			errc <- err
		}()
		waitFor(t, "the call to be held", func() bool { return srv.Stats().Delayed == 1 })
		giveUp()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("the caller gave up during the delay; its call returned %v", err)
		}
		if n := srv.Stats().RecordsReceived; n != 0 {
			t.Fatalf("%d records accepted before the delay ended", n)
		}
		// The server still accepts the records once the delay is over.
		close(release)
		waitFor(t, "the slow call's record", func() bool { return srv.Stats().RecordsReceived == 1 })
		flush(t, srv)
		if lines := srv.MemorySink().Lines(); len(lines) != 1 || string(lines[0]) != "late" {
			t.Errorf("delivered %q", lines)
		}
		if st := srv.Stats(); st.Delayed != 1 {
			t.Errorf("Delayed = %d", st.Delayed)
		}
	})
}

// waitFor polls cond until it holds; the deadline only stops a broken test.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestBufferingHints(t *testing.T) {
	ctx := context.Background()
	waitObjects := func(t *testing.T, srv *firehoselocal.Server, n int64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for srv.Stats().ObjectsDelivered < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d objects delivered, want %d", srv.Stats().ObjectsDelivered, n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	t.Run("size", func(t *testing.T) {
		srv := start(t, firehoselocal.Options{BufferSize: 1000, BufferInterval: time.Hour})
		c := client(srv)
		if _, err := putBatch(ctx, c, records(strings.Repeat("x", 499)+"\n")); err != nil {
			t.Fatal(err)
		}
		if got := srv.Stats().ObjectsDelivered; got != 0 {
			t.Fatalf("%d objects delivered below the buffer size", got)
		}
		if _, err := putBatch(ctx, c, records(strings.Repeat("y", 499)+"\n", "z\n")); err != nil {
			t.Fatal(err)
		}
		waitObjects(t, srv, 1)
		if objs := srv.MemorySink().Objects(); len(objs) != 1 || objs[0].Records != 3 || objs[0].Lines != 3 {
			t.Errorf("objects %+v", objs)
		}
	})
	t.Run("interval", func(t *testing.T) {
		srv := start(t, firehoselocal.Options{BufferInterval: 20 * time.Millisecond})
		if _, err := putBatch(ctx, client(srv), records("a\n")); err != nil {
			t.Fatal(err)
		}
		waitObjects(t, srv, 1)
	})
	t.Run("close delivers", func(t *testing.T) {
		srv, err := firehoselocal.Start(firehoselocal.Options{BufferInterval: time.Hour, Streams: []string{stream}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := putBatch(ctx, client(srv), records("a\n", "b\n")); err != nil {
			t.Fatal(err)
		}
		if err := srv.Close(); err != nil {
			t.Fatal(err)
		}
		if got := len(srv.MemorySink().Lines()); got != 2 {
			t.Errorf("%d lines after Close, want 2", got)
		}
	})
}

var keyRE = regexp.MustCompile(`^events/dt=(\d{4}-\d{2}-\d{2})/events-1-(\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2})-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.gz$`)

// readLake returns the folder's objects: key -> gunzipped content.
func readLake(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return fmt.Errorf("%s is not gzip: %w", rel, err)
		}
		data, err := io.ReadAll(zr)
		if err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		out[filepath.ToSlash(rel)] = string(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestFolderLayout(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	arrival := time.Date(2026, 11, 22, 10, 4, 5, 123e6, time.UTC)
	srv := start(t, firehoselocal.Options{
		Sink: firehoselocal.FolderSink{Root: root},
		Now:  func() time.Time { return arrival },
	})
	if _, err := putBatch(ctx, client(srv), records(`{"event_at":"2020-01-01T00:00:00.000Z"}`+"\n", "b\n")); err != nil {
		t.Fatal(err)
	}
	flush(t, srv)
	lake := readLake(t, root)
	if len(lake) != 1 {
		t.Fatalf("lake holds %v, want one object", lake)
	}
	for key, data := range lake {
		m := keyRE.FindStringSubmatch(key)
		if m == nil || m[1] != "2026-11-22" || m[2] != "2026-11-22-10-04-05" {
			t.Errorf("key %q does not match %s with the arrival time", key, keyRE)
		}
		if want := `{"event_at":"2020-01-01T00:00:00.000Z"}` + "\nb\n"; data != want {
			t.Errorf("object holds %q, want %q", data, want)
		}
	}
}

func TestArrivalFromEventAt(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	arrival := time.Date(2026, 11, 22, 10, 4, 5, 0, time.UTC)
	srv := start(t, firehoselocal.Options{
		Sink:               firehoselocal.FolderSink{Root: root},
		Now:                func() time.Time { return arrival },
		ArrivalFromEventAt: true,
	})
	line := func(at string) string {
		return `{"user_id":"u","event_at":"` + at + `","event_id":"` + at + `"}` + "\n"
	}
	// Lines of three days, packed several per record and out of order,
	// plus one without an event_at.
	recs := records(
		line("2026-09-01T23:59:59.999Z")+line("2026-09-02T00:00:00.000Z"),
		line("2026-09-01T08:00:00.000Z")+`{"no":"time"}`+"\n",
		line("2026-10-15T12:30:00.000Z"),
	)
	if _, err := putBatch(ctx, client(srv), recs); err != nil {
		t.Fatal(err)
	}
	flush(t, srv)
	want := map[string]struct{ stamp, data string }{
		"2026-09-01": {"2026-09-01-08-00-00", line("2026-09-01T23:59:59.999Z") + line("2026-09-01T08:00:00.000Z")},
		"2026-09-02": {"2026-09-02-00-00-00", line("2026-09-02T00:00:00.000Z")},
		"2026-10-15": {"2026-10-15-12-30-00", line("2026-10-15T12:30:00.000Z")},
		"2026-11-22": {"2026-11-22-10-04-05", `{"no":"time"}` + "\n"},
	}
	lake := readLake(t, root)
	if len(lake) != len(want) {
		t.Fatalf("lake holds %d objects, want %d: %v", len(lake), len(want), lake)
	}
	for key, data := range lake {
		m := keyRE.FindStringSubmatch(key)
		if m == nil {
			t.Errorf("key %q does not match %s", key, keyRE)
			continue
		}
		w, ok := want[m[1]]
		if !ok || m[2] != w.stamp || data != w.data {
			t.Errorf("object %s holds %q; want name stamp %s and %q", key, data, w.stamp, w.data)
		}
	}
	if st := srv.Stats(); st.LinesDelivered != 5 || st.ObjectsDelivered != 4 {
		t.Errorf("stats %+v", st)
	}
}

// flakySink fails its first failures deliveries.
type flakySink struct {
	failures atomic.Int32
	mem      *firehoselocal.MemorySink
}

func (f *flakySink) Deliver(ctx context.Context, obj firehoselocal.Object) error {
	if f.failures.Add(-1) >= 0 {
		return errors.New("disk full")
	}
	return f.mem.Deliver(ctx, obj)
}

func TestDeliveryRetry(t *testing.T) {
	ctx := context.Background()
	sink := &flakySink{mem: firehoselocal.NewMemorySink()}
	sink.failures.Store(2)
	srv := start(t, firehoselocal.Options{Sink: sink, BufferInterval: time.Hour, Logger: discardLogger()})
	if _, err := putBatch(ctx, client(srv), records("a\n", "b\n")); err != nil {
		t.Fatal(err)
	}
	if err := srv.Flush(ctx); err == nil {
		t.Fatal("Flush hid two failed deliveries")
	}
	flush(t, srv)
	if got := len(sink.mem.Lines()); got != 2 {
		t.Errorf("%d lines delivered after the sink recovered, want 2", got)
	}
	if st := srv.Stats(); st.DeliveryErrors != 2 || st.ObjectsDelivered != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestControlPlane(t *testing.T) {
	ctx := context.Background()
	srv := start(t, firehoselocal.Options{BufferSize: 3 << 20, BufferInterval: 2 * time.Second})
	c := client(srv)
	d, err := c.DescribeDeliveryStream(ctx, &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String(stream)})
	if err != nil {
		t.Fatalf("DescribeDeliveryStream: %v", err)
	}
	desc := d.DeliveryStreamDescription
	if aws.ToString(desc.DeliveryStreamName) != stream || desc.DeliveryStreamStatus != types.DeliveryStreamStatusActive ||
		aws.ToString(desc.DeliveryStreamARN) != srv.StreamARN(stream) || desc.CreateTimestamp == nil || len(desc.Destinations) != 1 {
		t.Fatalf("description %+v", desc)
	}
	s3 := desc.Destinations[0].ExtendedS3DestinationDescription
	if s3 == nil || aws.ToString(s3.Prefix) != firehoselocal.DefaultPrefix || aws.ToInt32(s3.BufferingHints.SizeInMBs) != 3 ||
		aws.ToInt32(s3.BufferingHints.IntervalInSeconds) != 2 || s3.CompressionFormat != types.CompressionFormatGzip {
		t.Errorf("S3 destination %+v", s3)
	}

	created, err := c.CreateDeliveryStream(ctx, &firehose.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String("hourly"),
		ExtendedS3DestinationConfiguration: &types.ExtendedS3DestinationConfiguration{
			BucketARN: aws.String("arn:aws:s3:::lake"), RoleARN: aws.String("arn:aws:iam::123456789012:role/r"),
			Prefix: aws.String("raw/!{timestamp:yyyy/MM/dd/HH}/"),
		},
	})
	if err != nil {
		t.Fatalf("CreateDeliveryStream: %v", err)
	}
	if aws.ToString(created.DeliveryStreamARN) != srv.StreamARN("hourly") {
		t.Errorf("ARN %q", aws.ToString(created.DeliveryStreamARN))
	}
	_, err = c.CreateDeliveryStream(ctx, &firehose.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("hourly")})
	var inUse *types.ResourceInUseException
	if !errors.As(err, &inUse) {
		t.Errorf("second create: err = %v, want ResourceInUseException", err)
	}
	list, err := c.ListDeliveryStreams(ctx, &firehose.ListDeliveryStreamsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{stream, "hourly"}; !reflect.DeepEqual(list.DeliveryStreamNames, want) || aws.ToBool(list.HasMoreDeliveryStreams) {
		t.Errorf("streams %v, want %v", list.DeliveryStreamNames, want)
	}
	if _, err := c.PutRecord(ctx, &firehose.PutRecordInput{DeliveryStreamName: aws.String("hourly"), Record: &types.Record{Data: []byte("x\n")}}); err != nil {
		t.Fatal(err)
	}
	flush(t, srv)
	objs := srv.MemorySink().Objects()
	if len(objs) != 1 || !regexp.MustCompile(`^raw/\d{4}/\d{2}/\d{2}/\d{2}/hourly-1-`).MatchString(objs[0].Key) {
		t.Errorf("objects %+v, want one under the created stream's prefix", objs)
	}
	_, err = c.DescribeDeliveryStream(ctx, &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("missing")})
	var rnf *types.ResourceNotFoundException
	if !errors.As(err, &rnf) {
		t.Errorf("describe missing: err = %v", err)
	}
}

func TestAnyStreamWhenNoneConfigured(t *testing.T) {
	srv, err := firehoselocal.Start(firehoselocal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	_, err = client(srv).PutRecord(context.Background(), &firehose.PutRecordInput{DeliveryStreamName: aws.String("anything"), Record: &types.Record{Data: []byte("x\n")}})
	if err != nil {
		t.Fatalf("PutRecord to a new stream: %v", err)
	}
}

func TestOptionsErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts firehoselocal.Options
	}{
		{"bad prefix namespace", firehoselocal.Options{Prefix: "x/!{firehose:random-string}/"}},
		{"bad timestamp pattern", firehoselocal.Options{Prefix: "x/!{timestamp:YYYY-ww}/"}},
		{"unterminated", firehoselocal.Options{Prefix: "x/!{timestamp:yyyy"}},
		{"bad stream", firehoselocal.Options{Streams: []string{"no spaces"}}},
		{"negative size", firehoselocal.Options{BufferSize: -1}},
		{"bad rate", firehoselocal.Options{Faults: firehoselocal.Faults{RecordFailureRate: -0.1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if srv, err := firehoselocal.New(tc.opts); err == nil {
				srv.Close()
				t.Error("New accepted invalid options")
			}
		})
	}
}
