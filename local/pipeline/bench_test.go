package pipeline_test

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/local/dynamolocal"
	"github.com/eventlake/eventlake/local/pipeline"
	"github.com/eventlake/eventlake/tracker"
)

// benchTimeout bounds one measurement.
const benchTimeout = 30 * time.Minute

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

// BenchmarkPipeline measures, in the same run, the events per second from
// the first Put to the last event being queryable in the lake
// (events_dedup counts every event), beside the rate at which DynamoDB Local
// alone accepts the same events with BatchWriteItem (the tracker's
// AsyncWriter, same configuration, into the same events table with its
// stream, with nothing reading the stream). ratio-% is the first over the
// second; the target is at least 70.
//
// Each measurement gets a fresh DynamoDB Local holding only its tables, as
// the demo has, after the same JIT warm-up (DynamoDB Local's write speed
// depends on the tables and stream records it already holds, so sharing one
// server would favour whichever side runs first).
//
// The summary consumer reads the same stream and writes the summary table
// in the same DynamoDB Local, which shares the machine's cores with
// everything else; deployed, DynamoDB's capacity is not shared CPU. The
// no-summary runs measure the path to the lake alone (the target's), the
// others the whole local stack as `make demo` runs it.
func BenchmarkPipeline(b *testing.B) {
	n := benchEvents(b)
	evs, _ := genEvents(42, n, 1000, 90)
	for _, format := range []athena.Format{pipeline.FormatParquet, pipeline.FormatJSON} {
		for _, noSummary := range []bool{true, false} {
			name := string(format)
			if noSummary {
				name += "/no-summary"
			} else {
				name += "/with-summary"
			}
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				var storeRate, pipeRate float64
				for b.Loop() {
					storeRate = storeOnly(b, evs)
					pipeRate = throughPipeline(b, evs, format, noSummary)
				}
				b.ReportMetric(storeRate, "dynamodb-events/s")
				b.ReportMetric(pipeRate, "pipeline-events/s")
				b.ReportMetric(100*pipeRate/storeRate, "ratio-%")
			})
		}
	}
}

// freshDynamoDB starts a DynamoDB Local for one measurement and warms up its
// write path with warmItems events into a table of its own (no stream).
func freshDynamoDB(b *testing.B) *dynamolocal.Server {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), benchTimeout)
	defer cancel()
	srv, err := dynamolocal.Start(ctx, dynamolocal.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Stop)
	db, err := srv.Client(ctx)
	if err != nil {
		b.Fatal(err)
	}
	warm := tracker.EventsTableDef()
	warm.StreamNewImage = false
	if err := dynamolocal.CreateTable(ctx, db, warm, "warmup"); err != nil {
		b.Fatal(err)
	}
	tr, err := tracker.New(db, tracker.Config{EventsTable: "warmup"})
	if err != nil {
		b.Fatal(err)
	}
	w, err := tr.NewAsyncWriter(tracker.AsyncConfig{FullPolicy: tracker.WaitWhenFull})
	if err != nil {
		b.Fatal(err)
	}
	evs, _ := genEvents(7, warmItems, 1000, 90)
	putAllWith(ctx, b, w.Put, evs)
	if err := w.Close(ctx); err != nil {
		b.Fatal(err)
	}
	return srv
}

// warmItems is the number of events written to warm DynamoDB Local up.
const warmItems = 20_000

// storeOnly puts evs into DynamoDB Local with the AsyncWriter and returns
// events/s from the first Put until Close returns (every event stored).
func storeOnly(b *testing.B, evs []tracker.Event) float64 {
	b.Helper()
	b.StopTimer()
	srv := freshDynamoDB(b)
	ctx, cancel := context.WithTimeout(context.Background(), benchTimeout)
	defer cancel()
	db, err := srv.Client(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if err := dynamolocal.CreateTables(ctx, db, dynamolocal.EventsTableName, dynamolocal.SummaryTableName); err != nil {
		b.Fatal(err)
	}
	tr, err := tracker.New(db, tracker.Config{EventsTable: dynamolocal.EventsTableName, SummaryTable: dynamolocal.SummaryTableName})
	if err != nil {
		b.Fatal(err)
	}
	w, err := tr.NewAsyncWriter(tracker.AsyncConfig{FullPolicy: tracker.WaitWhenFull})
	if err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
	began := time.Now()
	cpu0, ddb0 := goCPU(), childCPU()
	putAllWith(ctx, b, w.Put, evs)
	if err := w.Close(ctx); err != nil {
		b.Fatal(err)
	}
	took := time.Since(began)
	b.Logf("DynamoDB Local alone: %d events in %v; CPU: Go %v, DynamoDB Local %v", len(evs), took.Round(time.Millisecond),
		(goCPU() - cpu0).Round(time.Millisecond), childCPU()-ddb0)
	b.StopTimer()
	defer b.StartTimer()
	if st := w.Stats(); st.Written != int64(len(evs)) {
		b.Fatalf("wrote %d of %d events", st.Written, len(evs))
	}
	srv.Stop()
	return float64(len(evs)) / took.Seconds()
}

// throughPipeline puts evs through a pipeline and returns events/s from the
// first Put until the lake's deduplicated view counts every event.
func throughPipeline(b *testing.B, evs []tracker.Event, format athena.Format, noSummary bool) float64 {
	b.Helper()
	b.StopTimer()
	srv := freshDynamoDB(b)
	ctx, cancel := context.WithTimeout(context.Background(), benchTimeout)
	defer cancel()
	p, err := pipeline.Start(ctx, pipeline.Config{DynamoDB: srv, LakeDir: b.TempDir(), Format: format, Backfill: true, NoSummary: noSummary})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(context.Background())
	b.StartTimer()
	began := time.Now()
	cpu0, ddb0 := goCPU(), childCPU()
	putAllWith(ctx, b, p.Put, evs)
	counts, err := p.Drain(ctx, nil)
	took := time.Since(began)
	cpu, ddb := goCPU()-cpu0, childCPU()-ddb0
	b.StopTimer()
	defer b.StartTimer()
	if err != nil {
		b.Fatal(err)
	}
	if counts.Events != int64(len(evs)) {
		b.Fatalf("lake has %d events, want %d", counts.Events, len(evs))
	}
	fs := p.Firehose.Stats()
	b.Logf("pipeline (%s, summary consumer %v): %d events in %v; CPU: Go %v, DynamoDB Local %v; %d invocations, %d Firehose calls, %d objects, %d rows in the lake",
		format, !noSummary, len(evs), took.Round(time.Millisecond), cpu.Round(time.Millisecond), ddb, p.Source.Stats().Invocations,
		fs.Calls, fs.ObjectsDelivered, counts.Lines)
	return float64(len(evs)) / took.Seconds()
}

// goCPU is the CPU time this process has used (DynamoDB Local's is not
// included).
func goCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// childCPU is the CPU time used so far by this process's running children
// (DynamoDB Local), from /proc; zero where there is no /proc.
func childCPU() time.Duration {
	var total time.Duration
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || i+2 > len(b) {
			continue
		}
		f := strings.Fields(string(b[i+2:])) // state ppid ... utime(12) stime(13)
		if len(f) < 13 || f[1] != strconv.Itoa(os.Getpid()) {
			continue
		}
		ut, _ := strconv.Atoi(f[11])
		st, _ := strconv.Atoi(f[12])
		total += time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ is 100 on Linux
	}
	return total
}
