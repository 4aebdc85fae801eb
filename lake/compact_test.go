package lake_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/lake"
	"github.com/eventlake/eventlake/lake/duckengine"
	"github.com/eventlake/eventlake/lake/laketest"
)

// testEnd is the last day of the generated histories.
var testEnd = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)

// localLake is a lake folder with its store, DuckDB engine and Lake.
type localLake struct {
	root   string
	store  *lake.FolderStore
	engine *duckengine.Engine
	lake   *lake.Lake
}

func newLocalLake(t testing.TB, cfg lake.Config) *localLake {
	t.Helper()
	root := t.TempDir()
	st, err := lake.NewFolderStore(root)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := duckengine.New(context.Background(), st, duckengine.Config{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return testEnd.Add(36 * time.Hour) }
	}
	l, err := lake.New(st, eng, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &localLake{root: root, store: st, engine: eng, lake: l}
}

// count runs a one-number query on the local lake's events views.
func (ll *localLake) count(t testing.TB, sql string) int64 {
	t.Helper()
	res, err := ll.engine.DB().Query(context.Background(), sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	n, err := strconv.ParseInt(res.Rows[0][0].String, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func keysOf(objs []lake.Object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.Key)
	}
	return out
}

func TestCompactLocal(t *testing.T) {
	for _, format := range []athena.Format{athena.FormatParquet, athena.FormatJSON} {
		t.Run(string(format), func(t *testing.T) {
			ctx := context.Background()
			ll := newLocalLake(t, lake.Config{Format: format})
			events := laketest.Generate(laketest.Config{End: testEnd, Days: 4, Users: 4, Visitors: 4})
			deliveries := laketest.Deliveries(events, 0.05, 7)
			if len(deliveries) <= len(events) {
				t.Fatal("no duplicates generated")
			}
			keys, err := laketest.WriteLake(ctx, ll.root, deliveries, 15, format)
			if err != nil {
				t.Fatal(err)
			}
			if got := ll.count(t, "SELECT count(*) FROM events"); got != int64(len(deliveries)) {
				t.Fatalf("before: events = %d, want %d deliveries", got, len(deliveries))
			}
			days, err := ll.lake.Days(ctx)
			if err != nil || len(days) != 4 || !days[0].Dirty() {
				t.Fatalf("days %+v %v", days, err)
			}

			res, err := ll.lake.Compact(ctx, lake.CompactOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Days) != 4 {
				t.Fatalf("compacted %d days, want 4: %+v", len(res.Days), res)
			}
			var dups int64
			for _, d := range res.Days {
				dups += d.Duplicates()
				if d.OutputObjects != 1 || d.InputObjects < 1 || d.Rows.Written != d.Rows.Distinct {
					t.Errorf("day %+v", d)
				}
			}
			if dups != int64(len(deliveries)-len(events)) {
				t.Errorf("%d duplicates removed, want %d", dups, len(deliveries)-len(events))
			}
			// The table itself counts exactly now.
			if got := ll.count(t, "SELECT count(*) FROM events"); got != int64(len(events)) {
				t.Errorf("after: events = %d, want %d", got, len(events))
			}
			if got := ll.count(t, "SELECT count(*) FROM events_dedup"); got != int64(len(events)) {
				t.Errorf("after: events_dedup = %d, want %d", got, len(events))
			}
			// One file per day, of the right format, sorted by user, visitor, time.
			objs, _ := ll.store.List(ctx, "events/")
			if len(objs) != 4 {
				t.Fatalf("objects after: %v", keysOf(objs))
			}
			for _, o := range objs {
				if !strings.Contains(o.Key, "/compacted-") || !strings.HasSuffix(o.Key, map[athena.Format]string{athena.FormatParquet: ".parquet", athena.FormatJSON: ".gz"}[format]) {
					t.Errorf("object %s", o.Key)
				}
			}
			for _, o := range objs {
				checkSorted(t, ll, o.Key)
			}
			// Every day has a manifest that names what it replaced.
			for _, d := range res.Days {
				ms, err := ll.lake.Manifests(ctx, d.Day)
				if err != nil || len(ms) != 1 || ms[0].State != lake.StateDone || len(ms[0].Inputs) != d.InputObjects || len(ms[0].Outputs) != 1 {
					t.Errorf("manifests of %s: %+v %v", d.Day, ms, err)
				}
				for _, in := range ms[0].Inputs {
					if !slices.Contains(keys, in.Key) {
						t.Errorf("manifest of %s names %s, which the lake never had", d.Day, in.Key)
					}
				}
			}
			if st, _ := ll.store.List(ctx, "maintenance/staging/"); len(st) != 0 {
				t.Errorf("staging left: %v", keysOf(st))
			}
			if st, _ := ll.store.List(ctx, "maintenance/locks/"); len(st) != 0 {
				t.Errorf("locks left: %v", keysOf(st))
			}

			// A re-run changes nothing.
			again, err := ll.lake.Compact(ctx, lake.CompactOptions{})
			if err != nil || len(again.Days) != 0 {
				t.Errorf("re-run: %+v %v", again, err)
			}
			forced, err := ll.lake.Compact(ctx, lake.CompactOptions{Days: []string{res.Days[0].Day}})
			if err != nil || len(forced.Days) != 1 || forced.Days[0].Skipped != "clean" {
				t.Errorf("re-run of a clean day: %+v %v", forced, err)
			}
			objs2, _ := ll.store.List(ctx, "events/")
			if fmt.Sprint(objs2) != fmt.Sprint(objs) {
				t.Errorf("a re-run changed the lake:\n%v\n%v", objs, objs2)
			}

			// A late object (a new event and a copy of a compacted one)
			// makes its day dirty again, and only that day.
			day := res.Days[1].Day
			var dayEvents []laketest.Event
			for _, e := range events {
				if e.Day() == day {
					dayEvents = append(dayEvents, e)
				}
			}
			late := laketest.Event{UserID: "late-user", EventAt: day + "T23:59:59.999Z", EventID: "late-1", EventType: "login"}
			if _, err := laketest.WriteObject(ctx, ll.root, laketest.ObjectKey(day, "late-object"), []laketest.Event{late, dayEvents[0]}, format); err != nil {
				t.Fatal(err)
			}
			if got := ll.count(t, "SELECT count(*) FROM events"); got != int64(len(events)+2) {
				t.Errorf("with the late object: events = %d, want %d", got, len(events)+2)
			}
			if got := ll.count(t, "SELECT count(*) FROM events_dedup"); got != int64(len(events)+1) {
				t.Errorf("with the late object: events_dedup = %d, want %d", got, len(events)+1)
			}
			late2, err := ll.lake.Compact(ctx, lake.CompactOptions{})
			if err != nil || len(late2.Days) != 1 || late2.Days[0].Day != day || late2.Days[0].InputObjects != 2 || late2.Days[0].Duplicates() != 1 {
				t.Fatalf("compaction after a late object: %+v %v", late2, err)
			}
			if got := ll.count(t, "SELECT count(*) FROM events"); got != int64(len(events)+1) {
				t.Errorf("after: events = %d, want %d", got, len(events)+1)
			}
			if ms, _ := ll.lake.Manifests(ctx, day); len(ms) != 2 {
				t.Errorf("manifests of %s: %d, want 2", day, len(ms))
			}
		})
	}
}

// TestCompactTargetSize: a day larger than the target is cut into files of
// contiguous users.
func TestCompactTargetSize(t *testing.T) {
	ctx := context.Background()
	ll := newLocalLake(t, lake.Config{})
	events := laketest.Generate(laketest.Config{End: testEnd, Days: 1, Users: 30, Visitors: 30, Sessions: 4})
	if _, err := laketest.WriteLake(ctx, ll.root, events, 40, athena.FormatParquet); err != nil {
		t.Fatal(err)
	}
	days, _ := ll.lake.Days(ctx)
	target := days[0].Bytes / 3
	ll2, err := lake.New(ll.store, ll.engine, lake.Config{TargetFileBytes: target, Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return testEnd.Add(36 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	res, err := ll2.Compact(ctx, lake.CompactOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Days) != 1 || res.Days[0].OutputObjects < 3 || res.Days[0].OutputObjects > 4 {
		t.Fatalf("%+v: want 3 or 4 files (ceil of the input over the target)", res.Days)
	}
	// Files hold disjoint, ordered ranges of users.
	r, err := ll.engine.DB().Query(ctx, `SELECT filename, min(coalesce(user_id, '~' || anonymous_id)), max(coalesce(user_id, '~' || anonymous_id)), count(*)
		FROM read_parquet('`+ll.root+`/events/*/*.parquet', filename = true) GROUP BY filename ORDER BY 2`)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for i, row := range r.Rows {
		n, _ := strconv.Atoi(row[3].String)
		total += n
		if i > 0 && row[1].String < r.Rows[i-1][2].String {
			t.Errorf("file %s starts at %s, before the previous file ends (%s)", row[0].String, row[1].String, r.Rows[i-1][2].String)
		}
	}
	if total != len(events) {
		t.Errorf("%d rows in the files, want %d", total, len(events))
	}
}

// checkSorted reads a compacted file in its stored order and fails unless
// its rows are sorted by user (nulls last), visitor (nulls last), time, ID.
func checkSorted(t *testing.T, ll *localLake, key string) {
	t.Helper()
	reader := "read_parquet"
	if strings.HasSuffix(key, ".gz") {
		reader = "read_json_auto"
	}
	res, err := ll.engine.DB().Query(context.Background(), fmt.Sprintf(
		"SELECT user_id, anonymous_id, event_at, event_id FROM %s('%s')", reader, ll.store.URI(key)))
	if err != nil {
		t.Fatal(err)
	}
	less := func(a, b sql.NullString) int {
		switch {
		case a.Valid && !b.Valid:
			return -1
		case !a.Valid && b.Valid:
			return 1
		}
		return strings.Compare(a.String, b.String)
	}
	for i := 1; i < len(res.Rows); i++ {
		p, r := res.Rows[i-1], res.Rows[i]
		c := 0
		for j := 0; j < 4 && c == 0; j++ {
			c = less(p[j], r[j])
		}
		if c > 0 {
			t.Errorf("%s: row %d %v comes after %v", key, i, r, p)
			return
		}
	}
}

// TestCompactInPasses: a day with more objects than one rewrite reads is
// compacted in passes of one run, the compacted files first; the counts
// are the day's.
func TestCompactInPasses(t *testing.T) {
	ctx := context.Background()
	ll := newLocalLake(t, lake.Config{})
	lake.SetMaxInputs(ll.lake, 4)
	events := laketest.Generate(laketest.Config{End: testEnd, Days: 1, Users: 12, Visitors: 12, Sessions: 3})
	deliveries := laketest.Deliveries(events, 0.1, 3)
	keys, err := laketest.WriteLake(ctx, ll.root, deliveries, 3, athena.FormatParquet)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) < 9 {
		t.Fatalf("%d objects: want enough for three passes", len(keys))
	}
	res, err := ll.lake.Compact(ctx, lake.CompactOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d := res.Days[0]
	if d.Passes < 3 || d.InputObjects != len(keys) || d.OutputObjects != 1 || d.Rows.Written != int64(len(events)) ||
		d.Duplicates() != int64(len(deliveries)-len(events)) || d.Rows.Input != int64(len(deliveries)) {
		t.Errorf("%d objects, %d deliveries, %d events: %+v", len(keys), len(deliveries), len(events), d)
	}
	if got := ll.count(t, "SELECT count(*) FROM events"); got != int64(len(events)) {
		t.Errorf("events = %d, want %d", got, len(events))
	}
	if ms, _ := ll.lake.Manifests(ctx, d.Day); len(ms) != d.Passes {
		t.Errorf("%d manifests for %d passes", len(ms), d.Passes)
	}
}
