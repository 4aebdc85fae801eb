package dashboard_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/athena/api"
	"github.com/eventlake/eventlake/athena/dashboard"
	"github.com/eventlake/eventlake/athena/lakegen"
	"github.com/eventlake/eventlake/athena/local"
	"github.com/eventlake/eventlake/lake"
	"github.com/eventlake/eventlake/lake/duckengine"
)

// The benchmark's history: as athena/local's benchmark, 2,000 accounts and
// their visitors, a million events over 90 days, cut into objects every 15
// minutes as Firehose's longest buffering interval would.
const (
	benchUsers  = 2000
	benchEvents = 1_000_000
)

// recorder wraps a runner and keeps the statistics of every run by query.
type recorder struct {
	athena.Runner
	mu    sync.Mutex
	stats map[string]athena.Stats
}

func (r *recorder) Run(ctx context.Context, q athena.Query, args []athena.Arg) (*athena.Result, error) {
	res, err := r.Runner.Run(ctx, q, args)
	if err == nil {
		r.mu.Lock()
		r.stats[q.Name] = res.Stats
		r.mu.Unlock()
	}
	return res, err
}

func (r *recorder) reset() {
	r.mu.Lock()
	r.stats = map[string]athena.Stats{}
	r.mu.Unlock()
}

// BenchmarkDashboard renders the dashboard over 90 days of a million events
// on DuckDB, in the two storage formats:
//
//   - cold-90d: a new API for every view (an empty cache): the 12 queries
//     run; bytes_read/op is what they read from the lake, queries/op how
//     many ran.
//
//   - warm-90d: every result cached: the page's own cost.
//
//   - refresh-30d, refresh-90d: one full refresh of the default (30-day)
//     and the 90-day view: the bytes the 12 queries read and athena_usd/op,
//     what Athena would bill for them ($5 per TB, 10 MB minimum per
//     query), from the queries' own figures; with -v, each query's. The
//     identities view reads the ID columns of every partition.
//
//   - materialize: the identity links materialized up to yesterday
//     (lake.MaterializeIdentities, as the daily compaction runs it); the
//     bytes and bill of its SELECT (the ID columns of every partition
//     before the watermark, once a day).
//
//   - materialized/refresh-30d, materialized/refresh-90d: the same
//     refreshes with the identities view reading the materialization and
//     the partitions of yesterday and today.
//
// The lake is generated once per run.
func BenchmarkDashboard(b *testing.B) {
	dir := b.TempDir()
	start := time.Now()
	ds := lakegen.Generate(lakegen.Config{End: time.Now().UTC(), Users: benchUsers, Events: benchEvents})
	gz := filepath.Join(dir, "gzip")
	objects, err := ds.WriteNDJSON(gz, lakegen.Layout{Interval: 15 * time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	pq := filepath.Join(dir, "parquet")
	if err := toParquet(gz, pq, objects); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d events (%d deliveries), %s..%s, %d objects per format, built in %s",
		len(ds.Events), len(ds.Deliveries), ds.Start, ds.End, len(objects), time.Since(start).Round(time.Second))
	today := time.Now().UTC().Truncate(24 * time.Hour)
	view90 := fmt.Sprintf("/dashboard?from=%s&to=%s", today.AddDate(0, 0, -89).Format("2006-01-02"), today.Format("2006-01-02"))

	for _, layout := range []struct {
		name   string
		root   string
		format athena.Format
	}{{"gzip-json", gz, athena.FormatJSON}, {"parquet-gzip", pq, athena.FormatParquet}} {
		db, err := local.Open(context.Background(), local.Config{Root: layout.root, Format: layout.format})
		if err != nil {
			b.Fatal(err)
		}
		rec := &recorder{Runner: db, stats: map[string]athena.Stats{}}
		// One view first: it defines the events view and reads each
		// Parquet footer once, as a long-running server would have.
		render(b, rec, view90)
		b.Run(layout.name+"/cold-90d", func(b *testing.B) {
			b.ReportAllocs()
			var bytes, queries int64
			for b.Loop() {
				rec.reset()
				render(b, rec, view90)
				for _, s := range rec.stats {
					bytes += s.BytesScanned
					queries++
				}
			}
			b.ReportMetric(float64(bytes)/float64(b.N), "bytes_read/op")
			b.ReportMetric(float64(queries)/float64(b.N), "queries/op")
		})
		b.Run(layout.name+"/warm-90d", func(b *testing.B) {
			s := newStack(b, api.Config{Runner: rec}, dashboard.Config{})
			s.get(b, view90)
			r := httptest.NewRequest(http.MethodGet, view90, nil)
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				s.mux.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatal(w.Code)
				}
			}
		})
		for _, v := range []struct{ name, target string }{{"refresh-30d", "/dashboard"}, {"refresh-90d", view90}} {
			b.Run(layout.name+"/"+v.name, func(b *testing.B) {
				var bytes int64
				var bill float64
				for b.Loop() {
					rec.reset()
					render(b, rec, v.target)
					for _, s := range rec.stats {
						bytes += s.BytesScanned
						bill += athena.Cost(s.BytesScanned)
					}
				}
				b.ReportMetric(float64(bytes)/float64(b.N), "bytes_read/op")
				b.ReportMetric(bill/float64(b.N), "athena_usd/op")
				b.Logf("%s, one refresh (%s):\n%s", layout.name, v.name, refreshCost(rec.stats))
			})
		}

		watermark := materialize(b, layout.root, layout.format)
		b.Run(layout.name+"/materialize", func(b *testing.B) {
			var bytes int64
			var bill float64
			for b.Loop() {
				// What the materialization's SELECT reads (lake/sql/identities.sql).
				res, err := db.Query(context.Background(), `SELECT count(*) FROM (
  SELECT anonymous_id, row_number() OVER (PARTITION BY anonymous_id ORDER BY event_at, event_id, user_id) AS nth
  FROM events WHERE dt < ? AND anonymous_id IS NOT NULL AND user_id IS NOT NULL) WHERE nth = 1`, watermark)
				if err != nil {
					b.Fatal(err)
				}
				bytes += res.Stats.BytesScanned
				bill += athena.Cost(res.Stats.BytesScanned)
			}
			b.ReportMetric(float64(bytes)/float64(b.N), "bytes_read/op")
			b.ReportMetric(bill/float64(b.N), "athena_usd/op")
		})
		render(b, rec, view90) // the first view over the materialization reads its footer
		for _, v := range []struct{ name, target string }{{"refresh-30d", "/dashboard"}, {"refresh-90d", view90}} {
			b.Run(layout.name+"/materialized/"+v.name, func(b *testing.B) {
				var bytes int64
				var bill float64
				for b.Loop() {
					rec.reset()
					render(b, rec, v.target)
					for _, s := range rec.stats {
						bytes += s.BytesScanned
						bill += athena.Cost(s.BytesScanned)
					}
				}
				if links := db.Links(); links == nil || links.Watermark != watermark {
					b.Fatalf("the refresh read %+v, want the materialization up to %s", links, watermark)
				}
				b.ReportMetric(float64(bytes)/float64(b.N), "bytes_read/op")
				b.ReportMetric(bill/float64(b.N), "athena_usd/op")
				b.Logf("%s, one refresh (%s) with the identity links materialized up to %s:\n%s", layout.name, v.name, watermark, refreshCost(rec.stats))
			})
		}
		db.Close()
	}
}

// materialize writes the lake's identity links up to yesterday as the daily
// compaction does (DuckDB, the lake folder's store) and returns the
// watermark.
func materialize(b *testing.B, root string, format athena.Format) string {
	b.Helper()
	ctx := context.Background()
	st, err := lake.NewFolderStore(root)
	if err != nil {
		b.Fatal(err)
	}
	eng, err := duckengine.New(ctx, st, duckengine.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close()
	l, err := lake.New(st, eng, lake.Config{Format: format, Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	res, err := l.MaterializeIdentities(ctx, lake.IdentitiesOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%s: %s, in %s", root, res, time.Since(start).Round(time.Millisecond))
	return res.Watermark
}

// render shows the page once with an empty cache.
func render(b *testing.B, r athena.Runner, target string) {
	b.Helper()
	s := newStack(b, api.Config{Runner: r}, dashboard.Config{})
	status, _, body := s.get(b, target)
	if status != http.StatusOK || strings.Contains(body, `class="error"`) {
		b.Fatalf("%s: %d", target, status)
	}
}

// refreshCost lists each query's bytes and Athena's bill for them.
func refreshCost(stats map[string]athena.Stats) string {
	names := make([]string, 0, len(stats))
	for n := range stats {
		names = append(names, n)
	}
	sort.Strings(names)
	var sb strings.Builder
	var total int64
	var bill float64
	for _, n := range names {
		s := stats[n]
		total += s.BytesScanned
		bill += athena.Cost(s.BytesScanned)
		fmt.Fprintf(&sb, "  %-28s %12d bytes  %10s  $%.6f  %s\n", n, s.BytesScanned, athena.FormatBytes(s.BytesScanned), athena.Cost(s.BytesScanned), s.Elapsed.Round(time.Millisecond))
	}
	fmt.Fprintf(&sb, "  %-28s %12d bytes  %10s  $%.6f billed (10 MB minimum per query); $%.6f at $5/TB without the minimum",
		fmt.Sprintf("total (%d queries)", len(names)), total, athena.FormatBytes(total), bill, float64(total)/1e12*athena.PricePerTB)
	return sb.String()
}

// toParquet converts every gzip object to a GZIP Parquet object of the same
// name under dst, on two workers, as Firehose's record format conversion
// would have written them.
func toParquet(src, dst string, objects []string) error {
	w, err := local.NewParquetWriter()
	if err != nil {
		return err
	}
	defer w.Close()
	return w.ConvertTree(context.Background(), src, dst, objects, 2)
}
