package summary_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/eventlake/eventlake/lambdas/summarize/summary"
	"github.com/eventlake/eventlake/tracker"
)

// sink stands in for the summary table when only the number of UpdateItem
// calls matters: every write succeeds. (That one write per active actor per
// window is what DynamoDB Local sees is tested in TestWindowWritesOnce... and
// local/pipeline's TestSummaryOneWritePerActorPerWindow.)
type sink struct{ n atomic.Int64 }

func (s *sink) UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	s.n.Add(1)
	return &dynamodb.UpdateItemOutput{}, nil
}

func quietHandler(b *testing.B, db *sink) *summary.Handler {
	b.Helper()
	h, err := summary.New(db, summary.Config{SummaryTable: "summary", Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	return h
}

// batch returns n typical stored events (page views of about 1 KB of stream
// JSON) of actors actors, 1 in 10 carrying both IDs.
func batch(n, actors int, seq int) []stored {
	evs := make([]stored, n)
	for i := range evs {
		a := (i * 7919) % actors
		s := stored{seq: seq + i, id: fmt.Sprintf("0195f3a0-%04x-7000-8000-%012x", i, seq+i), at: t0.Add(time.Duration(i) * time.Millisecond)}
		switch {
		case a%10 == 0:
			s.user, s.anon = fmt.Sprintf("user-%05d", a), fmt.Sprintf("anon-%05d", a)
		case a%2 == 0:
			s.user = fmt.Sprintf("user-%05d", a)
		default:
			s.anon = fmt.Sprintf("anon-%05d", a)
		}
		evs[i] = s
	}
	return evs
}

// BenchmarkAggregate measures an aggregating invocation of 1,000 records
// (no write) whose window already holds the state of 1,000 actors: reading
// the payload, checking and aggregating each record, decoding and encoding
// the state. Per record.
func BenchmarkAggregate(b *testing.B) {
	for _, entry := range []string{"invoke", "handle"} {
		b.Run(entry, func(b *testing.B) {
			db := &sink{}
			h := quietHandler(b, db)
			w := newWindow(t0, time.Minute)
			if _, err := w.invoke(b, h, batch(1000, 1000, 1), false); err != nil {
				b.Fatal(err)
			}
			payload := w.payload(b, batch(1000, 2000, 5000), false)
			var inv lambda.Handler = h
			if entry == "handle" {
				inv = lambda.NewHandler(h.Handle) // the runtime's decoding into events.DynamoDBTimeWindowEvent
			}
			ctx := context.Background()
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			b.ResetTimer()
			var out []byte
			for b.Loop() {
				var err error
				if out, err = inv.Invoke(ctx, payload); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			var resp events.DynamoDBTimeWindowEventResponse
			if err := json.Unmarshal(out, &resp); err != nil {
				b.Fatal(err)
			}
			st, _ := json.Marshal(resp.State)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/record")
			b.ReportMetric(float64(len(st)), "state-bytes")
			b.ReportMetric(float64(len(payload))/1000, "payload-bytes/record")
			if db.n.Load() != 0 {
				b.Fatalf("an aggregating invocation wrote %d summaries", db.n.Load())
			}
		})
	}
}

// hour is an hour of traffic: events in time order, each with its actor.
type hour struct {
	at    []time.Duration // offset in the hour
	actor []int32
}

// traffic generates events of actors over an hour. uniform: every event of
// a random actor at a random time (the worst case for windows: an actor's
// events are spread over the whole hour). sessions: each actor's events
// fall in 1 to 3 sessions of 5 to 20 minutes.
func traffic(model string, events, actors int) hour {
	rng := rand.New(rand.NewPCG(1, 2))
	type ev struct {
		at    time.Duration
		actor int32
	}
	evs := make([]ev, events)
	type session struct{ start, length time.Duration }
	var sessions [][]session
	if model == "sessions" {
		sessions = make([][]session, actors)
		for a := range sessions {
			for range 1 + rng.IntN(3) {
				l := time.Duration(5+rng.IntN(16)) * time.Minute
				sessions[a] = append(sessions[a], session{time.Duration(rng.Int64N(int64(time.Hour - l))), l})
			}
		}
	}
	for i := range evs {
		a := rng.IntN(actors)
		at := time.Duration(rng.Int64N(int64(time.Hour)))
		if sessions != nil {
			s := sessions[a][rng.IntN(len(sessions[a]))]
			at = s.start + time.Duration(rng.Int64N(int64(s.length)))
		}
		evs[i] = ev{at, int32(a)}
	}
	slices.SortFunc(evs, func(x, y ev) int { return int(x.at - y.at) })
	h := hour{at: make([]time.Duration, events), actor: make([]int32, events)}
	for i, e := range evs {
		h.at[i], h.actor[i] = e.at, e.actor
	}
	return h
}

// BenchmarkWritesPerThousandEvents runs an hour of traffic through the
// handler as the event source mapping would (batches of up to 1,000 records
// and one final invocation per window) and counts the summary writes.
// EVENTLAKE_BENCH_EVENTS and EVENTLAKE_BENCH_ACTORS set the traffic (default
// 1,000,000 events of 10,000 actors, the cost table's case).
//
//	go test ./lambdas/summarize/summary -run '^$' -bench BenchmarkWritesPerThousandEvents -benchtime 1x
func BenchmarkWritesPerThousandEvents(b *testing.B) {
	nEvents, actors := envInt("EVENTLAKE_BENCH_EVENTS", 1_000_000), envInt("EVENTLAKE_BENCH_ACTORS", 10_000)
	for _, model := range []string{"uniform", "sessions"} {
		tr := traffic(model, nEvents, actors)
		for _, size := range []time.Duration{time.Minute, 5 * time.Minute} {
			b.Run(fmt.Sprintf("%s/window=%v", model, size), func(b *testing.B) {
				for b.Loop() {
					db := &sink{}
					h := quietHandler(b, db)
					var handlerTime, handlerCPU time.Duration
					invocations := 0
					start := t0.Truncate(time.Hour)
					invoke := func(w *window, evs []stored, final bool) {
						p := w.payload(b, evs, final)
						began, cpu := time.Now(), processCPU()
						out, err := h.Invoke(context.Background(), p)
						handlerTime += time.Since(began)
						handlerCPU += processCPU() - cpu
						invocations++
						if err != nil {
							b.Fatal(err)
						}
						var resp events.DynamoDBTimeWindowEventResponse
						if err := json.Unmarshal(out, &resp); err != nil || len(resp.BatchItemFailures) > 0 {
							b.Fatalf("%s %v", out, err)
						}
						w.state = resp.State
					}
					i := 0
					for ws := time.Duration(0); ws < time.Hour; ws += size {
						w := newWindow(start.Add(ws), size)
						for i < nEvents && tr.at[i] < ws+size {
							n := 0
							evs := make([]stored, 0, 1000)
							for i < nEvents && tr.at[i] < ws+size && n < 1000 {
								a := int(tr.actor[i])
								s := stored{seq: i + 1, id: "e" + strconv.Itoa(i), at: start.Add(tr.at[i])}
								if a%2 == 0 {
									s.user = "user-" + strconv.Itoa(a)
								} else {
									s.anon = "anon-" + strconv.Itoa(a)
								}
								evs = append(evs, s)
								i, n = i+1, n+1
							}
							invoke(w, evs, false)
						}
						invoke(w, nil, true)
					}
					writes := db.n.Load()
					b.ReportMetric(float64(writes)*1000/float64(nEvents), "writes/1k-events")
					b.ReportMetric(float64(writes), "writes")
					b.ReportMetric(float64(invocations), "invocations")
					b.ReportMetric(handlerTime.Seconds(), "handler-s")
					b.ReportMetric(handlerCPU.Seconds(), "handler-cpu-s")
				}
			})
		}
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkFinalInvocation measures a final invocation writing the
// summaries of 2,000 actors to DynamoDB Local (WriteConcurrency 16): the
// wall time per actor written, which in AWS is bound by UpdateItem latency
// instead.
func BenchmarkFinalInvocation(b *testing.B) {
	f := newFixture(b, nil, summary.Config{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	w := newWindow(t0, time.Minute)
	if _, err := w.invoke(b, f.h, batch(2000, 2000, 1), false); err != nil {
		b.Fatal(err)
	}
	state := w.state
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		// A new window each time (another token), so every actor is written.
		ww := newWindow(t0.Add(time.Duration(i+1)*time.Minute), time.Minute)
		ww.state = state
		if _, err := ww.invoke(b, f.h, nil, true); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/2000, "µs/actor")
	b.ReportMetric(float64(f.db.total())/float64(b.N), "writes/op")
}

// dynamoTransport answers every DynamoDB call in memory with an empty
// success ({}), so a benchmark measures the SDK client's CPU for an
// UpdateItem (expression, serialization, signing, response) without a
// server.
type dynamoTransport struct{}

func (dynamoTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	body := []byte("{}")
	return &http.Response{
		StatusCode: http.StatusOK,
		Header: http.Header{"Content-Type": {"application/x-amz-json-1.0"}, "X-Amzn-Requestid": {"bench"},
			"X-Amz-Crc32": {strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10)}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}, nil
}

// BenchmarkFinalInvocationCPU measures the CPU of a final invocation
// writing 2,000 actors through the real SDK client (its work included, the
// network not): per actor written.
func BenchmarkFinalInvocationCPU(b *testing.B) {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		HTTPClient: &http.Client{Transport: dynamoTransport{}}, BaseEndpoint: aws.String("http://dynamodb.invalid")}
	client := dynamodb.NewFromConfig(cfg, summary.ClientOptions)
	h, err := summary.New(client, summary.Config{SummaryTable: "summary", Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Writer: tracker.SummaryWriterConfig{CacheSize: -1}})
	if err != nil {
		b.Fatal(err)
	}
	w := newWindow(t0, time.Minute)
	if _, err := w.invoke(b, h, batch(2000, 2000, 1), false); err != nil {
		b.Fatal(err)
	}
	payload := w.payload(b, nil, true)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	for b.Loop() {
		if _, err := h.Invoke(context.Background(), payload); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((processCPU()-cpu).Microseconds())/float64(b.N)/2200, "cpu-µs/actor")
}
