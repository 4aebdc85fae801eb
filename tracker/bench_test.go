package tracker_test

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eventlake/eventlake/local/faultdb"
	"github.com/eventlake/eventlake/tracker"
)

// benchEvent is a typical page view: user agent, IPv4 and two attributes.
func benchEvent(user string) tracker.Event {
	return tracker.Event{
		UserID:     user,
		Type:       "page_view",
		UserAgent:  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36",
		IP:         "203.0.113.42",
		Attributes: map[string]string{"url": "https://shop.example/products/42", "referrer": "https://www.google.com/"},
	}
}

// BenchmarkAsyncPut measures what AsyncWriter.Put costs the caller: the
// validation and the enqueue of a typical page view. The queue holds b.N
// events so that Put never waits for DynamoDB (that is BenchmarkThroughput's
// subject); when the timer stops, Close gives up at once and reports what is
// left as failed (or leaves it in the spool).
//
//   - writing: the writer's workers write to DynamoDB Local meanwhile, on the
//     same CPUs; allocs/op includes their marshalling and HTTP for the events
//     written during the run.
//   - stalled: DynamoDB Local is stalled by faultdb (the workers wait in
//     their first call), so nothing else runs: the caller's cost alone.
//   - stalled/hooks: with Config.DefaultAttributes (two, merged into the
//     event's two: a new map) and a BeforeSend that keeps every event (so
//     it is validated twice).
//   - stalled/spool, stalled/spool-always: with a spool in a temporary
//     directory, SpoolSyncPeriodic (a write(2) per group commit) and
//     SpoolSyncAlways (a write and an fsync per group commit); parallel-x8
//     runs 8 goroutines per CPU, as concurrent requests would.
func BenchmarkAsyncPut(b *testing.B) {
	env := newWriteEnv(b)
	hooks := tracker.Config{
		DefaultAttributes: map[string]string{"app": "shop", "app_version": "2.4.1"},
		BeforeSend:        func(e tracker.Event) (tracker.Event, bool) { return e, e.Type != "internal" },
	}
	for _, v := range []struct {
		mode  string
		cfg   tracker.Config
		spool bool
		sync  tracker.SpoolSync
	}{
		{mode: "writing"},
		{mode: "stalled"},
		{mode: "stalled/hooks", cfg: hooks},
		{mode: "stalled/spool", spool: true},
		{mode: "stalled/spool-always", spool: true, sync: tracker.SpoolSyncAlways},
	} {
		fdb, err := faultdb.New(env.Client, faultdb.Config{})
		if err != nil {
			b.Fatal(err)
		}
		tr := newWriteTracker(b, env, fdb, v.cfg)
		stalled := strings.HasPrefix(v.mode, "stalled")
		// goroutines: 0 for serial Puts, else RunParallel with this
		// parallelism (goroutines per CPU).
		run := func(b *testing.B, goroutines int) {
			cfg := tracker.AsyncConfig{
				QueueSize: b.N + 1,
				OnError:   func(tracker.Event, error) {}, // the abort at the end fails the rest
				Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
				SpoolSync: v.sync,
			}
			if v.spool {
				cfg.SpoolDir = b.TempDir()
			}
			w, err := tr.NewAsyncWriter(cfg)
			if err != nil {
				b.Fatal(err)
			}
			if stalled {
				fdb.Stall()
				defer fdb.Resume()
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			cpu0, cpuOK := processCPU()
			if goroutines > 0 {
				b.SetParallelism(goroutines)
				b.RunParallel(func(pb *testing.PB) {
					e := benchEvent("bench-parallel")
					for pb.Next() {
						if err := w.Put(ctx, e); err != nil {
							b.Error(err)
							return
						}
					}
				})
			} else {
				e := benchEvent("bench-serial")
				for range b.N {
					if err := w.Put(ctx, e); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			if cpu1, ok := processCPU(); ok && cpuOK && stalled {
				// On a shared machine wall time per op includes waiting for
				// a CPU; the process's CPU time per op does not. With the
				// workers stalled, nothing but Put (and the GC) uses it.
				b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
			}
			abort, cancel := context.WithCancel(ctx)
			cancel()
			_ = w.Close(abort)
			if s := w.Stats(); s.Accepted != int64(b.N) || s.Accepted != s.Written+s.Failed+s.Deferred {
				b.Fatalf("stats %+v after %d puts", s, b.N)
			}
		}
		b.Run(v.mode+"/serial", func(b *testing.B) { run(b, 0) })
		b.Run(v.mode+"/parallel", func(b *testing.B) { run(b, 1) })
		if v.spool {
			// Concurrent requests share group commits.
			b.Run(v.mode+"/parallel-x8", func(b *testing.B) { run(b, 8) })
		}
	}
}

// BenchmarkThroughput measures sustained events/s into DynamoDB Local: the
// AsyncWriter with its defaults (BatchWriteItem, 4 workers), the same with
// caller-supplied IDs (conditional PutItems), and sequential synchronous
// Tracker.Put (one conditional PutItem per event), in the same run against
// the same server. Each op is one event, written and
// acknowledged before the timer stops.
func BenchmarkThroughput(b *testing.B) {
	env := newWriteEnv(b)
	tr := newWriteTracker(b, env, nil, tracker.Config{})
	ctx := context.Background()
	warmUp(b, tr)
	b.Run("async", func(b *testing.B) {
		w, err := tr.NewAsyncWriter(tracker.AsyncConfig{FullPolicy: tracker.WaitWhenFull})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		for i := range b.N {
			if err := w.Put(ctx, benchEvent("async-"+strconv.Itoa(i%100))); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(ctx); err != nil {
			b.Fatal(err)
		}
		elapsed := time.Since(start)
		b.StopTimer()
		if s := w.Stats(); s.Written != int64(b.N) {
			b.Fatalf("stats %+v, want %d written", s, b.N)
		}
		b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	})
	b.Run("async-caller-ids", func(b *testing.B) {
		// Every event with an ID of the caller's: one conditional PutItem
		// each, issued concurrently per batch, instead of BatchWriteItem.
		w, err := tr.NewAsyncWriter(tracker.AsyncConfig{FullPolicy: tracker.WaitWhenFull})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		run := strconv.FormatInt(start.UnixNano(), 36)
		for i := range b.N {
			e := benchEvent("async-ids-" + strconv.Itoa(i%100))
			e.ID = run + "-" + strconv.Itoa(i)
			if err := w.Put(ctx, e); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(ctx); err != nil {
			b.Fatal(err)
		}
		elapsed := time.Since(start)
		b.StopTimer()
		if s := w.Stats(); s.Written != int64(b.N) {
			b.Fatalf("stats %+v, want %d written", s, b.N)
		}
		b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	})
	b.Run("sync", func(b *testing.B) {
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		for i := range b.N {
			if err := tr.Put(ctx, benchEvent("sync-"+strconv.Itoa(i%100))); err != nil {
				b.Fatal(err)
			}
		}
		elapsed := time.Since(start)
		b.StopTimer()
		b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	})
}

// warmUp sends both kinds of write through DynamoDB Local before anything
// is timed: its JVM compiles the hot code paths only after thousands of
// requests, and until then writes are several times slower (measured here:
// the AsyncWriter went from about 500 to 1,800 events/s over its first
// 30,000 events, PutItem from 180 to 420/s).
func warmUp(b *testing.B, tr *tracker.Tracker) {
	b.Helper()
	ctx := context.Background()
	w, err := tr.NewAsyncWriter(tracker.AsyncConfig{FullPolicy: tracker.WaitWhenFull})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 15_000 {
		if err := w.Put(ctx, benchEvent("warm-"+strconv.Itoa(i%100))); err != nil {
			b.Fatal(err)
		}
		if i%5 == 0 {
			if err := tr.Put(ctx, benchEvent("warm-sync")); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := w.Close(ctx); err != nil {
		b.Fatal(err)
	}
}
