package lake_test

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/athena/local"
	"github.com/eventlake/eventlake/lake"
	"github.com/eventlake/eventlake/lake/duckengine"
	"github.com/eventlake/eventlake/lake/laketest"
	"github.com/eventlake/eventlake/tracker"
)

// The benchmark's lake: 90 days ending today, about a million events
// (EVENTLAKE_BENCH_USERS regular users and as many visitors; 2,000 give
// about a million), delivered at least once (3% duplicates) in 288 Parquet
// objects a day, as Firehose's default 5-minute buffer lands them.
const (
	benchDays          = 90
	benchObjectsPerDay = 288
)

var (
	benchOnce   sync.Once
	benchRoot   string
	benchEvents int
	benchErr    error
	// benchBusy is the user active on most days, benchQuiet the user
	// (with events) active on fewest.
	benchBusy, benchQuiet string
)

func benchUsers() int {
	if v, err := strconv.Atoi(os.Getenv("EVENTLAKE_BENCH_USERS")); err == nil && v > 0 {
		return v
	}
	return 2000
}

// benchLake builds the lake once per test binary, in a folder removed by
// TestMain's end (os.TempDir; it is large).
func benchLake(b *testing.B) (string, int) {
	b.Helper()
	benchOnce.Do(func() {
		start := time.Now()
		end := time.Now().UTC().Truncate(24 * time.Hour)
		events := laketest.Generate(laketest.Config{End: end, Days: benchDays, Users: benchUsers(), Visitors: benchUsers()})
		deliveries := laketest.Deliveries(events, 0.03, 5)
		perDay := map[string]int{}
		for _, e := range deliveries {
			perDay[e.Day()]++
		}
		benchRoot, benchErr = os.MkdirTemp("", "eventlake-lake-bench-")
		if benchErr != nil {
			return
		}
		_, benchErr = laketest.WriteLakeDaily(context.Background(), benchRoot, deliveries, benchObjectsPerDay, athena.FormatParquet)
		benchEvents = len(events)
		active := map[string]map[string]bool{}
		for _, e := range events {
			if e.UserID == "" {
				continue
			}
			if active[e.UserID] == nil {
				active[e.UserID] = map[string]bool{}
			}
			active[e.UserID][e.Day()] = true
		}
		for u, ds := range active {
			if benchBusy == "" || len(ds) > len(active[benchBusy]) || len(ds) == len(active[benchBusy]) && u < benchBusy {
				benchBusy = u
			}
			if benchQuiet == "" || len(ds) < len(active[benchQuiet]) || len(ds) == len(active[benchQuiet]) && u < benchQuiet {
				benchQuiet = u
			}
		}
		fmt.Fprintf(os.Stderr, "bench lake: %d events, %d deliveries, %d days, built in %s\n", len(events), len(deliveries), len(perDay), time.Since(start).Round(time.Second))
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchRoot, benchEvents
}

// copyLake copies the lake with hard links (objects are never modified in
// place), so each run starts from the uncompacted lake.
func copyLake(b *testing.B, src string) string {
	b.Helper()
	dst := b.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		return os.Link(p, target)
	})
	if err != nil {
		b.Fatal(err)
	}
	return dst
}

// libraryRun is one run of the whole query library.
type libraryRun struct {
	elapsed    time.Duration
	bytes      int64
	files      int
	perQuery   map[string]time.Duration
	rowsByName map[string]int
}

func runLibrary(b *testing.B, root string, start, end time.Time) libraryRun {
	b.Helper()
	ctx := context.Background()
	db, err := local.Open(ctx, local.Config{Root: root})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	qs, err := athena.Queries()
	if err != nil {
		b.Fatal(err)
	}
	run := libraryRun{perQuery: map[string]time.Duration{}, rowsByName: map[string]int{}}
	for _, q := range qs {
		args, err := q.Args(queryArgs(q, start, end)...)
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		res, err := db.Run(ctx, q, args)
		if err != nil {
			b.Fatalf("%s: %v", q.Name, err)
		}
		d := time.Since(t0)
		run.elapsed += d
		run.perQuery[q.Name] = d
		run.rowsByName[q.Name] = len(res.Rows)
		run.bytes += max(res.Stats.BytesScanned, 0)
		run.files += res.Stats.FilesRead
	}
	return run
}

func lakeSize(b *testing.B, st lake.Store) (objects int, bytes int64) {
	objs, err := st.List(context.Background(), "events/")
	if err != nil {
		b.Fatal(err)
	}
	for _, o := range objs {
		bytes += o.Size
	}
	return len(objs), bytes
}

// BenchmarkLake measures, in one run on one lake of 90 days and about a
// million events: objects per day before and after compaction; the whole
// query library on DuckDB before and after; the compaction itself; and the
// bytes an erasure of one user rewrites (a user active every day, and one
// active on a few days) against the lake's size.
//
//	go test ./lake -run '^$' -bench BenchmarkLake -benchtime 1x -benchmem -timeout 60m
func BenchmarkLake(b *testing.B) {
	src, events := benchLake(b)
	end := time.Now().UTC().Truncate(24 * time.Hour)
	start := end.AddDate(0, 0, -(benchDays - 1))
	var days []string
	for d := start; !d.After(end); d = d.AddDate(0, 0, 1) {
		days = append(days, d.Format(tracker.DateLayout))
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		ctx := context.Background()
		root := copyLake(b, src)
		st, err := lake.NewFolderStore(root)
		if err != nil {
			b.Fatal(err)
		}
		eng, err := duckengine.New(ctx, st, duckengine.Config{})
		if err != nil {
			b.Fatal(err)
		}
		l, err := lake.New(st, eng, lake.Config{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		objsBefore, bytesBefore := lakeSize(b, st)
		before := runLibrary(b, root, start, end)

		t0 := time.Now()
		res, err := l.Compact(ctx, lake.CompactOptions{Days: days})
		if err != nil {
			b.Fatal(err)
		}
		compaction := time.Since(t0)
		objsAfter, bytesAfter := lakeSize(b, st)
		after := runLibrary(b, root, start, end)
		for name, n := range before.rowsByName {
			if after.rowsByName[name] != n {
				b.Errorf("%s: %d rows before compaction, %d after", name, n, after.rowsByName[name])
			}
		}

		// Erasure of one user: the one active on most days, and the one
		// active on fewest.
		forget := func(user string) (days int, read, written int64) {
			fres, err := l.Forget(ctx, lake.ForgetRequest{UserIDs: []string{user}}, lake.ForgetOptions{})
			if err != nil {
				b.Fatal(err)
			}
			for _, d := range fres.Days {
				read += d.InputBytes
				written += d.OutputBytes
			}
			return len(fres.Days), read, written
		}
		daysA, readA, writtenA := forget(benchBusy)
		daysB, readB, writtenB := forget(benchQuiet)
		eng.Close()

		b.ReportMetric(float64(events), "events")
		b.ReportMetric(float64(objsBefore)/benchDays, "objects/day_before")
		b.ReportMetric(float64(objsAfter)/benchDays, "objects/day_after")
		b.ReportMetric(float64(bytesBefore)/(1<<20), "MiB_before")
		b.ReportMetric(float64(bytesAfter)/(1<<20), "MiB_after")
		b.ReportMetric(compaction.Seconds(), "s_compaction")
		b.ReportMetric(before.elapsed.Seconds(), "s_library_before")
		b.ReportMetric(after.elapsed.Seconds(), "s_library_after")
		b.ReportMetric(float64(before.files), "files_library_before")
		b.ReportMetric(float64(after.files), "files_library_after")
		b.ReportMetric(float64(before.bytes)/(1<<20), "MiB_read_library_before")
		b.ReportMetric(float64(after.bytes)/(1<<20), "MiB_read_library_after")
		b.ReportMetric(float64(readA)/float64(bytesAfter), "forget_busiest_user_rewritten/lake")
		b.ReportMetric(float64(readB)/float64(bytesAfter), "forget_quietest_user_rewritten/lake")
		report := func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
		var dups int64
		for _, d := range res.Days {
			dups += d.Duplicates()
		}
		report("lake: %d events, %d days; objects %d -> %d (%.1f -> %.1f a day), %.1f -> %.1f MiB; %d duplicates removed; compaction %s",
			events, benchDays, objsBefore, objsAfter, float64(objsBefore)/benchDays, float64(objsAfter)/benchDays,
			float64(bytesBefore)/(1<<20), float64(bytesAfter)/(1<<20), dups, compaction.Round(time.Millisecond))
		report("query library: %s, %d files, %.1f MiB read before; %s, %d files, %.1f MiB read after (%.1fx faster)",
			before.elapsed.Round(time.Millisecond), before.files, float64(before.bytes)/(1<<20),
			after.elapsed.Round(time.Millisecond), after.files, float64(after.bytes)/(1<<20), before.elapsed.Seconds()/after.elapsed.Seconds())
		names := slices.Sorted(maps.Keys(before.perQuery))
		for _, name := range names {
			report("  %-26s %8s -> %8s", name, before.perQuery[name].Round(time.Millisecond), after.perQuery[name].Round(time.Millisecond))
		}
		report("forget %s (active on most days): %d days rewritten, %.1f MiB read, %.1f MiB written, of a %.1f MiB lake (%.0f%%)",
			benchBusy, daysA, float64(readA)/(1<<20), float64(writtenA)/(1<<20), float64(bytesAfter)/(1<<20), 100*float64(readA)/float64(bytesAfter))
		report("forget %s (active on fewest days): %d days rewritten, %.1f MiB read, %.1f MiB written (%.1f%% of the lake)",
			benchQuiet, daysB, float64(readB)/(1<<20), float64(writtenB)/(1<<20), 100*float64(readB)/float64(bytesAfter))
	}
}

// BenchmarkCompactDay measures the rewrite of one day of 288 objects on
// DuckDB (each iteration on a fresh copy).
func BenchmarkCompactDay(b *testing.B) {
	src, _ := benchLake(b)
	day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -1).Format(tracker.DateLayout)
	b.ReportAllocs()
	var objs int
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		root := copyLake(b, src)
		st, _ := lake.NewFolderStore(root)
		eng, err := duckengine.New(context.Background(), st, duckengine.Config{})
		if err != nil {
			b.Fatal(err)
		}
		l, _ := lake.New(st, eng, lake.Config{Logger: slog.New(slog.DiscardHandler)})
		b.StartTimer()
		res, err := l.Compact(context.Background(), lake.CompactOptions{Days: []string{day}})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		objs = res.Days[0].InputObjects
		eng.Close()
		os.RemoveAll(root)
		b.StartTimer()
	}
	b.ReportMetric(float64(objs), "objects_in")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchRoot != "" {
		os.RemoveAll(benchRoot)
	}
	os.Exit(code)
}

// BenchmarkMaterializeIdentities measures the nightly materialization of
// the identity links on the benchmark's lake (90 days, about a million
// events, as Firehose writes them), in the same run:
//
//   - full: every day before yesterday read (the first run, or one after a
//     day before the current watermark changed);
//   - incremental: the materialization up to the day before built on (its
//     links stand for the days before its watermark), one day read.
//
// bytes_read/op is what DuckDB read for the run's SELECT, Athena's bill's
// measure (from the same SELECT run through the local query runner).
//
//	go test ./lake -run '^$' -bench BenchmarkMaterializeIdentities -benchtime 1x -benchmem -timeout 30m
func BenchmarkMaterializeIdentities(b *testing.B) {
	src, _ := benchLake(b)
	ctx := context.Background()
	root := copyLake(b, src)
	st, err := lake.NewFolderStore(root)
	if err != nil {
		b.Fatal(err)
	}
	eng, err := duckengine.New(ctx, st, duckengine.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close()
	l, err := lake.New(st, eng, lake.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	yesterday, before := today.AddDate(0, 0, -1).Format(tracker.DateLayout), today.AddDate(0, 0, -2).Format(tracker.DateLayout)
	// What each form's SELECT reads (lake/sql/identities.sql), through the
	// local query runner, which reports the bytes.
	bytesOf := func(b *testing.B, sql string, args ...any) int64 {
		b.Helper()
		db, err := local.Open(ctx, local.Config{Root: root, Threads: 2})
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		res, err := db.Query(ctx, sql, args...)
		if err != nil {
			b.Fatal(err)
		}
		return res.Stats.BytesScanned
	}
	const first = `SELECT count(*) FROM (
  SELECT anonymous_id, row_number() OVER (PARTITION BY anonymous_id ORDER BY linked_at, event_id, user_id) AS nth FROM (`
	for _, tc := range []struct {
		name string
		prep func(b *testing.B) // sets the current materialization up
		opts lake.IdentitiesOptions
		sql  func(run string) (string, []any)
	}{
		{"full", func(*testing.B) {}, lake.IdentitiesOptions{Watermark: yesterday, Force: true, Full: true},
			func(string) (string, []any) {
				return first + `SELECT anonymous_id, user_id, event_at AS linked_at, event_id FROM events
    WHERE dt < ? AND anonymous_id IS NOT NULL AND user_id IS NOT NULL)) WHERE nth = 1`, []any{yesterday}
			}},
		{"incremental", func(b *testing.B) {
			if _, err := l.MaterializeIdentities(ctx, lake.IdentitiesOptions{Watermark: before, Force: true, Full: true}); err != nil {
				b.Fatal(err)
			}
		}, lake.IdentitiesOptions{Watermark: yesterday},
			func(run string) (string, []any) {
				return first + `SELECT anonymous_id, user_id, linked_at, event_id FROM identity_links WHERE run = ?
    UNION ALL SELECT anonymous_id, user_id, event_at AS linked_at, event_id FROM events
    WHERE dt >= ? AND dt < ? AND anonymous_id IS NOT NULL AND user_id IS NOT NULL)) WHERE nth = 1`, []any{run, before, yesterday}
			}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var bytes int64
			var res *lake.IdentitiesResult
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				tc.prep(b)
				cur, err := l.Identities(ctx)
				if err != nil {
					b.Fatal(err)
				}
				prevRun := ""
				if cur != nil {
					prevRun = cur.Run
				}
				b.StartTimer()
				res, err = l.MaterializeIdentities(ctx, tc.opts)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if (tc.name == "incremental") != (res.IncrementalFrom != "") {
					b.Fatalf("%s run: %s", tc.name, res)
				}
				sql, args := tc.sql(prevRun)
				bytes += bytesOf(b, sql, args...)
				b.StartTimer()
			}
			b.ReportMetric(float64(bytes)/float64(b.N), "bytes_read/op")
			b.ReportMetric(athena.Cost(bytes/int64(b.N)), "athena_usd/op")
			b.Logf("%s: %s", tc.name, res)
		})
	}
}
