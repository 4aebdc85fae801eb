package relay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"

	"github.com/eventlake/eventlake/lambdas/streamtofirehose/relay"
	"github.com/eventlake/eventlake/local/firehoselocal"
)

// decodedBatch returns n typical records as the Lambda runtime hands them
// to the handler: decoded from the JSON Lambda sends.
func decodedBatch(tb testing.TB, from, n int) events.DynamoDBEvent {
	payload, err := json.Marshal(events.DynamoDBEvent{Records: typicalRecords(from, n)})
	if err != nil {
		tb.Fatal(err)
	}
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		tb.Fatal(err)
	}
	return ev
}

// acceptAll answers every PutRecordBatch with success without doing
// anything: it isolates the handler's own CPU time in the benchmark.
type acceptAll struct{ out firehose.PutRecordBatchOutput }

func (a *acceptAll) PutRecordBatch(_ context.Context, in *firehose.PutRecordBatchInput, _ ...func(*firehose.Options)) (*firehose.PutRecordBatchOutput, error) {
	for len(a.out.RequestResponses) < len(in.Records) {
		a.out.RequestResponses = append(a.out.RequestResponses, types.PutRecordBatchResponseEntry{RecordId: aws.String("id")})
	}
	a.out.FailedPutCount = aws.Int32(0)
	out := a.out
	out.RequestResponses = out.RequestResponses[:len(in.Records)]
	return &out, nil
}

// firehoseTransport answers PutRecordBatch over the SDK's HTTP layer in
// memory, with the service's success shape, so a benchmark measures the SDK
// client's CPU (serialization, signing, response parsing) without a server.
type firehoseTransport struct {
	mu      sync.Mutex
	body    bytes.Buffer
	answers map[int][]byte
}

func (f *firehoseTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.body.Reset()
	if _, err := f.body.ReadFrom(req.Body); err != nil {
		return nil, err
	}
	req.Body.Close()
	n := bytes.Count(f.body.Bytes(), []byte(`"Data"`))
	answer, ok := f.answers[n]
	if !ok {
		var b strings.Builder
		b.WriteString(`{"Encrypted":false,"FailedPutCount":0,"RequestResponses":[`)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"RecordId":"%056d"}`, i)
		}
		b.WriteString(`]}`)
		answer = []byte(b.String())
		if f.answers == nil {
			f.answers = map[int][]byte{}
		}
		f.answers[n] = answer
	}
	return &http.Response{
		StatusCode:    http.StatusOK,
		Header:        http.Header{"Content-Type": {"application/x-amz-json-1.1"}, "X-Amzn-Requestid": {"bench"}},
		Body:          io.NopCloser(bytes.NewReader(answer)),
		ContentLength: int64(len(answer)),
		Request:       req,
	}, nil
}

// BenchmarkHandler measures the handler for a batch of 100 typical events
// (about 350 bytes of NDJSON each), reporting ns, CPU ns and allocations
// per stream record:
//   - invoke: what lambda.Start(h) runs in the deployed function, Invoke on
//     the payload's bytes as Lambda sends them (reading the event, encoding,
//     packing, retry bookkeeping, the summary log, the response JSON), with
//     a client that accepts everything;
//   - runtime: the same through Handle, behind aws-lambda-go's decoding of
//     the payload into events.DynamoDBEvent (what Invoke avoids);
//   - handler: Handle alone on an already decoded event;
//   - sdk: invoke plus the real SDK client's work for the PutRecordBatch
//     call, over an in-memory HTTP transport;
//   - firehoselocal: invoke with the real SDK over loopback HTTP to
//     firehoselocal; the server's work in this process is counted too.
func BenchmarkHandler(b *testing.B) {
	ev := decodedBatch(b, 0, 100)
	payload, err := json.Marshal(ev)
	if err != nil {
		b.Fatal(err)
	}
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	measure := func(b *testing.B, call func() error) {
		if err := call(); err != nil { // warm the pools
			b.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		cpu := processCPU()
		b.ReportAllocs()
		for b.Loop() {
			if err := call(); err != nil {
				b.Fatal(err)
			}
		}
		cpu = processCPU() - cpu
		runtime.ReadMemStats(&after)
		records := float64(b.N * len(ev.Records))
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/records, "ns/record")
		b.ReportMetric(float64(cpu.Nanoseconds())/records, "cpu-ns/record")
		b.ReportMetric(float64(after.Mallocs-before.Mallocs)/records, "allocs/record")
	}
	newHandler := func(b *testing.B, client relay.FirehoseAPI) *relay.Handler {
		h, err := relay.New(client, relay.Config{DeliveryStreamName: streamName, Logger: logger})
		if err != nil {
			b.Fatal(err)
		}
		return h
	}
	ctx := context.Background()
	invoke := func(h lambda.Handler) func() error {
		return func() error {
			out, err := h.Invoke(ctx, payload)
			if err == nil && !bytes.Equal(out, []byte(`{"batchItemFailures":null}`)) {
				err = fmt.Errorf("response %s", out)
			}
			return err
		}
	}
	b.Run("invoke", func(b *testing.B) { measure(b, invoke(newHandler(b, &acceptAll{}))) })
	b.Run("runtime", func(b *testing.B) { measure(b, invoke(lambda.NewHandler(newHandler(b, &acceptAll{}).Handle))) })
	b.Run("handler", func(b *testing.B) {
		h := newHandler(b, &acceptAll{})
		measure(b, func() error {
			if resp, _ := h.Handle(ctx, ev); len(resp.BatchItemFailures) != 0 {
				return fmt.Errorf("failures %v", resp.BatchItemFailures)
			}
			return nil
		})
	})
	b.Run("sdk", func(b *testing.B) {
		srv, err := firehoselocal.New(firehoselocal.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer srv.Close()
		cfg := srv.AWSConfig()
		cfg.BaseEndpoint = aws.String("http://firehose.invalid")
		cfg.HTTPClient = &http.Client{Transport: &firehoseTransport{}}
		measure(b, invoke(newHandler(b, firehose.NewFromConfig(cfg, relay.ClientOptions))))
	})
	b.Run("firehoselocal", func(b *testing.B) {
		srv, err := firehoselocal.Start(firehoselocal.Options{Streams: []string{streamName}, Sink: discardSink{}, Encoder: firehoselocal.Uncompressed{}})
		if err != nil {
			b.Fatal(err)
		}
		defer srv.Close()
		measure(b, invoke(newHandler(b, srv.Client(relay.ClientOptions))))
	})
}

// BenchmarkAppendLine measures the image encoder alone for one typical
// event.
func BenchmarkAppendLine(b *testing.B) {
	img := decodedBatch(b, 0, 1).Records[0].Change.NewImage
	buf, err := relay.AppendLine(nil, img)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = relay.AppendLine(buf[:0], img)
	}
}

type discardSink struct{}

func (discardSink) Deliver(context.Context, firehoselocal.Object) error { return nil }

// BenchmarkBilledBytes relays one million typical events in batches of 100
// (Lambda's default batch size for DynamoDB streams) through the real SDK
// client to firehoselocal, and reports what Firehose would bill (each
// record rounded up to 5 KB), from the PutRecordBatch calls the endpoint
// received: with packing, and with one Firehose record per event.
func BenchmarkBilledBytes(b *testing.B) {
	const total, batch = 1_000_000, 100
	batches := make([]events.DynamoDBEvent, 50)
	for i := range batches {
		batches[i] = decodedBatch(b, i*batch, batch)
	}
	results := map[string]firehoselocal.Stats{}
	for _, tc := range []struct {
		name      string
		recordMax int
	}{
		{"packed", 0},
		{"one-record-per-event", 1}, // every line is longer than 1 byte: one record each
	} {
		b.Run(tc.name, func(b *testing.B) {
			var st firehoselocal.Stats
			for b.Loop() {
				srv, err := firehoselocal.Start(firehoselocal.Options{
					Streams: []string{streamName}, Sink: discardSink{}, Encoder: firehoselocal.Uncompressed{},
				})
				if err != nil {
					b.Fatal(err)
				}
				h, err := relay.New(srv.Client(relay.ClientOptions), relay.Config{
					DeliveryStreamName: streamName, RecordMaxBytes: tc.recordMax,
					Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
				})
				if err != nil {
					b.Fatal(err)
				}
				for i := 0; i < total/batch; i++ {
					if resp, _ := h.Handle(context.Background(), batches[i%len(batches)]); len(resp.BatchItemFailures) != 0 {
						b.Fatalf("failures %v", resp.BatchItemFailures)
					}
				}
				if err := srv.Close(); err != nil { // delivers what is buffered
					b.Fatal(err)
				}
				st = srv.Stats()
				// A retried call whose first attempt did reach the endpoint
				// (the SDK occasionally fails to read a 200 answer) adds
				// duplicates: at least once.
				if st.LinesDelivered < total {
					b.Fatalf("%d lines delivered, want %d", st.LinesDelivered, total)
				}
			}
			results[tc.name] = st
			b.ReportMetric(float64(st.BilledBytes), "billed-bytes/1M-events")
			b.ReportMetric(float64(st.BytesReceived), "data-bytes/1M-events")
			b.ReportMetric(float64(st.RecordsReceived), "firehose-records/1M-events")
			b.ReportMetric(float64(st.Calls), "put-calls/1M-events")
			b.ReportMetric(float64(st.LinesDelivered-total), "duplicate-lines")
		})
	}
	if p, o := results["packed"], results["one-record-per-event"]; p.BilledBytes > 0 && o.BilledBytes > 0 {
		b.Logf("one record per event bills %.1fx the bytes of packing (%d vs %d)",
			float64(o.BilledBytes)/float64(p.BilledBytes), o.BilledBytes, p.BilledBytes)
	}
}

// BenchmarkBootstrapSize runs `make lambdas` at the repository root and
// reports the size of the arm64 bootstrap it builds.
func BenchmarkBootstrapSize(b *testing.B) {
	root, err := filepath.Abs("../../..")
	if err != nil {
		b.Fatal(err)
	}
	var size int64
	for b.Loop() {
		cmd := exec.Command("make", "-s", "lambdas")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("make lambdas: %v\n%s", err, out)
		}
		fi, err := os.Stat(filepath.Join(root, "build", "lambdas", "streamtofirehose", "bootstrap"))
		if err != nil {
			b.Fatal(err)
		}
		size = fi.Size()
	}
	b.ReportMetric(float64(size), "bytes")
	b.ReportMetric(float64(size)/(1<<20), "MiB")
}
