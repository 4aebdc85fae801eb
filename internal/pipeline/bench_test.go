package pipeline_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/internal/dynamolocal"
	"github.com/eventlake/eventlake/internal/pipeline"
	"github.com/eventlake/eventlake/tracker"
)

// benchEvents is the number of events of BenchmarkPipeline;
// EVENTLAKE_BENCH_EVENTS overrides it.
func benchEvents(b *testing.B) int {
	n := 100_000
	if s := os.Getenv("EVENTLAKE_BENCH_EVENTS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			b.Fatalf("EVENTLAKE_BENCH_EVENTS=%q: want a positive number", s)
		}
		n = v
	}
	return n
}

// BenchmarkPipeline measures, in the same run and the same DynamoDB Local,
// the events per second from the first Put to the last event being
// queryable in the lake (events_dedup counts every event), beside the rate
// at which DynamoDB Local alone accepts the same events with BatchWriteItem
// (the tracker's AsyncWriter, same configuration, into a table with the same
// stream but nothing reading it). ratio-% is the first over the second.
func BenchmarkPipeline(b *testing.B) {
	n := benchEvents(b)
	evs, _ := genEvents(42, n, 1000, 90)
	for _, format := range []athena.Format{pipeline.FormatParquet, pipeline.FormatJSON} {
		b.Run(string(format), func(b *testing.B) {
			b.ReportAllocs()
			var storeRate, pipeRate float64
			for b.Loop() {
				storeRate = storeOnly(b, evs)
				pipeRate = throughPipeline(b, evs, format)
			}
			b.ReportMetric(storeRate, "dynamodb-events/s")
			b.ReportMetric(pipeRate, "pipeline-events/s")
			b.ReportMetric(100*pipeRate/storeRate, "ratio-%")
		})
	}
}

// storeOnly puts evs into DynamoDB Local with the AsyncWriter and returns
// events/s from the first Put until Flush returns.
func storeOnly(b *testing.B, evs []tracker.Event) float64 {
	b.Helper()
	env := dynamolocal.NewEnv(b)
	tr, err := tracker.New(env.Client, tracker.Config{EventsTable: env.EventsTable, SummaryTable: env.SummaryTable})
	if err != nil {
		b.Fatal(err)
	}
	w, err := tr.NewAsyncWriter(tracker.AsyncConfig{})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	began := time.Now()
	putAllWith(b, func(ctx context.Context, e tracker.Event) error { return w.Put(ctx, e) }, evs)
	if err := w.Close(ctx); err != nil {
		b.Fatal(err)
	}
	took := time.Since(began)
	if st := w.Stats(); st.Written != int64(len(evs)) {
		b.Fatalf("wrote %d of %d events", st.Written, len(evs))
	}
	return float64(len(evs)) / took.Seconds()
}

// throughPipeline puts evs through a pipeline and returns events/s from the
// first Put until the lake's deduplicated view counts every event.
func throughPipeline(b *testing.B, evs []tracker.Event, format athena.Format) float64 {
	b.Helper()
	p := start(b, pipeline.Config{Format: format, Backfill: true})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	began := time.Now()
	putAllWith(b, p.Put, evs)
	counts, err := p.Drain(ctx, nil)
	took := time.Since(began)
	if err != nil {
		b.Fatal(err)
	}
	if counts.Events != int64(len(evs)) {
		b.Fatalf("lake has %d events, want %d", counts.Events, len(evs))
	}
	return float64(len(evs)) / took.Seconds()
}
