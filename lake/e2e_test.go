package lake_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/athena/local"
	"github.com/eventlake/eventlake/lake"
	"github.com/eventlake/eventlake/lake/duckengine"
	"github.com/eventlake/eventlake/lake/laketest"
	"github.com/eventlake/eventlake/local/dynamolocal"
	"github.com/eventlake/eventlake/tracker"
)

// queryArgs picks arguments for every parameter of q, from its kind and
// name, inside a history from start to end (days): "from"/"since" values
// at the start, "at" in the middle, the others at the end; lookbacks of 30
// days, other bigints their minimum.
func queryArgs(q athena.Query, start, end time.Time) []string {
	mid := start.Add(end.Sub(start) / 2).Truncate(24 * time.Hour).Add(12 * time.Hour)
	var out []string
	for _, p := range q.Inputs() {
		n := strings.ToLower(p.Name)
		early := strings.Contains(n, "from") || strings.Contains(n, "since") || strings.Contains(n, "start")
		switch p.Kind {
		case athena.Date:
			d := end
			if early {
				d = start
			}
			out = append(out, d.Format(tracker.DateLayout))
		case athena.Timestamp:
			t := end.Add(24 * time.Hour)
			switch {
			case early:
				t = start
			case n == "at":
				t = mid
			}
			out = append(out, t.Format(time.RFC3339))
		case athena.Varchar:
			out = append(out, "u0001")
		case athena.Bigint:
			// The least a range allows (days without an event, thresholds
			// of networks and devices: 0 lists everyone), or a month of
			// lookback, so that every query answers with rows.
			v := p.Min
			if strings.Contains(n, "lookback") {
				v = 30
			}
			out = append(out, fmt.Sprint(min(max(v, p.Min), p.Max)))
		}
	}
	return out
}

// answers runs every query of the library on the lake folder root and
// returns each one's rows, sorted, as text.
func answers(t *testing.T, root string, start, end time.Time) map[string][]string {
	t.Helper()
	db, err := local.Open(context.Background(), local.Config{Root: root, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	return answersOf(t, db, start, end)
}

// answersOf is answers through a runner (DuckDB, or Athena's).
func answersOf(t *testing.T, db athena.Runner, start, end time.Time) map[string][]string {
	t.Helper()
	ctx := context.Background()
	qs, err := athena.Queries()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, q := range qs {
		args, err := q.Args(queryArgs(q, start, end)...)
		if err != nil {
			t.Fatalf("%s: %v", q.Name, err)
		}
		res, err := db.Run(ctx, q, args)
		if err != nil {
			t.Fatalf("%s: %v", q.Name, err)
		}
		var rows []string
		for _, r := range res.Rows {
			cells := make([]string, len(r))
			for i, c := range r {
				cells[i] = "NULL"
				if c.Valid {
					cells[i] = c.String
				}
			}
			rows = append(rows, strings.Join(cells, " | "))
		}
		slices.Sort(rows)
		out[q.Name] = rows
	}
	return out
}

// sameAnswers fails t where two lakes answer a query differently.
func sameAnswers(t *testing.T, what string, got, want map[string][]string) {
	t.Helper()
	nonEmpty := 0
	for name, w := range want {
		t.Logf("%s: %s: %d rows", what, name, len(w))
		g := got[name]
		if len(w) > 0 {
			nonEmpty++
		}
		if !slices.Equal(g, w) {
			t.Errorf("%s: %s answers differently (%d rows, want %d)\n got %q\nwant %q", what, name, len(g), len(w), head(g), head(w))
		}
	}
	if nonEmpty < len(want) {
		t.Errorf("%s: only %d of %d queries returned rows: the comparison proves little", what, nonEmpty, len(want))
	}
}

func head(rows []string) []string { return rows[:min(len(rows), 8)] }

// referenceLake writes events, with duplicate deliveries, as small gzip
// NDJSON objects into a fresh folder: the answers the lake must give,
// computed without any rewrite.
func referenceLake(t *testing.T, events []laketest.Event) string {
	t.Helper()
	root := t.TempDir()
	if _, err := laketest.WriteLake(context.Background(), root, laketest.Deliveries(events, 0.08, 99), 7, athena.FormatJSON); err != nil {
		t.Fatal(err)
	}
	return root
}

// TestEndToEnd: a lake with duplicates, late objects and two users to
// forget, on DuckDB and DynamoDB Local. After compaction and erasure the
// events table equals events_dedup; the forgotten users and their linked
// visitors are absent from the tables, the summary, the hot store and every
// lake file; every query of the library answers exactly as on a lake that
// never held them, built independently; and a re-run changes nothing.
func TestEndToEnd(t *testing.T) {
	ctx := context.Background()
	end := time.Now().UTC().Truncate(24 * time.Hour) // logins_per_day reads current_date
	const days = 30
	start := end.AddDate(0, 0, -(days - 1))
	w := newWorldAt(end, days, 10)
	linked := w.linked(w.forget)
	var kept []laketest.Event
	for _, e := range w.events {
		if !w.forgotten(e, w.forget, linked) {
			kept = append(kept, e)
		}
	}

	// The lake: everything but a few late events, delivered at least once.
	root := t.TempDir()
	st, err := lake.NewFolderStore(root)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := duckengine.New(ctx, st, duckengine.Config{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	l, err := lake.New(st, eng, lake.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	var onTime, late []laketest.Event
	for i, e := range w.events {
		if i%97 == 5 {
			late = append(late, e)
		} else {
			onTime = append(onTime, e)
		}
	}
	deliveries := laketest.Deliveries(onTime, 0.05, 8)
	if _, err := laketest.WriteLake(ctx, root, deliveries, 9, athena.FormatParquet); err != nil {
		t.Fatal(err)
	}
	var allDays []string
	for d := start; !d.After(end); d = d.AddDate(0, 0, 1) {
		allDays = append(allDays, d.Format(tracker.DateLayout))
	}
	before, _ := l.Days(ctx)
	var objectsBefore int
	for _, d := range before {
		objectsBefore += d.Objects
	}

	// 1. Compaction, then late objects (new events and copies of compacted
	// ones) arrive for some days.
	if _, err := l.Compact(ctx, lake.CompactOptions{Days: allDays}); err != nil {
		t.Fatal(err)
	}
	lateDays := map[string][]laketest.Event{}
	for _, e := range late {
		lateDays[e.Day()] = append(lateDays[e.Day()], e)
	}
	for _, e := range onTime[:len(onTime):len(onTime)] {
		if evs, ok := lateDays[e.Day()]; ok && len(evs) < 3 {
			lateDays[e.Day()] = append(evs, e) // a redelivery of a compacted event
		}
	}
	for day, evs := range lateDays {
		if _, err := laketest.WriteObject(ctx, root, laketest.ObjectKey(day, "late-delivery"), evs, athena.FormatParquet); err != nil {
			t.Fatal(err)
		}
	}
	if len(lateDays) < 5 {
		t.Fatalf("only %d days with late objects", len(lateDays))
	}
	// Compaction changed no answer: the lake with late objects answers as
	// a lake of every event.
	sameAnswers(t, "after compaction, with late objects", answers(t, root, start, end), answers(t, referenceLake(t, w.events), start, end))

	// 2. The erasure, with the hot store.
	env := dynamolocal.NewEnv(t)
	w.seedHot(t, env)
	res, err := l.Forget(ctx, lake.ForgetRequest{UserIDs: w.forget, Request: "gdpr-1"}, lake.ForgetOptions{Hot: newHot(t, env)})
	if err != nil {
		t.Fatal(err)
	}
	// 3. The daily compaction of every day after it.
	if _, err := l.Compact(ctx, lake.CompactOptions{Days: allDays}); err != nil {
		t.Fatal(err)
	}

	count := func(sql string) int64 {
		t.Helper()
		res, err := eng.DB().Query(ctx, sql)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		var n int64
		fmt.Sscan(res.Rows[0][0].String, &n)
		return n
	}
	if got, dedup := count("SELECT count(*) FROM events"), count("SELECT count(*) FROM events_dedup"); got != dedup || got != int64(len(kept)) {
		t.Errorf("events = %d, events_dedup = %d, want both %d", got, dedup, len(kept))
	}
	after, _ := l.Days(ctx)
	var objectsAfter int
	for _, d := range after {
		objectsAfter += d.Objects
		if d.Dirty() || d.Objects != 1 {
			t.Errorf("day %s: %+v", d.Day, d)
		}
	}
	t.Logf("%d events (%d deliveries and %d late ones); objects %d -> %d; erasure: %d linked, %d events removed from %d days, %d hot events deleted",
		len(w.events), len(deliveries), len(late), objectsBefore, objectsAfter, res.Linked, res.RowsRemoved(), len(res.Days), res.Hot.EventsDeleted)

	// The forgotten are nowhere: tables, views, every lake file.
	var anon []string
	for a := range linked {
		anon = append(anon, "'"+a+"'")
	}
	pred := fmt.Sprintf("user_id IN ('u0002', 's0001') OR (user_id IS NULL AND anonymous_id IN (%s))", strings.Join(anon, ", "))
	for _, q := range []string{
		"SELECT count(*) FROM events WHERE " + pred,
		"SELECT count(*) FROM events_dedup WHERE " + pred,
		"SELECT count(*) FROM identities WHERE user_id IN ('u0002', 's0001')",
	} {
		if n := count(q); n != 0 {
			t.Errorf("%s: %d", q, n)
		}
	}
	files, err := st.List(ctx, "events/")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if n := count(fmt.Sprintf("SELECT count(*) FROM read_parquet('%s') WHERE %s", st.URI(f.Key), pred)); n != 0 {
			t.Errorf("%s holds %d events of the forgotten", f.Key, n)
		}
	}
	// Nor do the lake's own documents name them.
	err = filepath.WalkDir(filepath.Join(root, "maintenance"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, id := range []string{`"u0002"`, `"s0001"`, "c-u0002", "v-0001", "hot-cookie"} {
			if strings.Contains(string(body), id) {
				t.Errorf("%s names %s", p, id)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The hot store and the summary.
	hot, sum := hotCounts(t, env)
	for _, a := range actorsOf(w.forget, linked) {
		if hot[a] != 0 || sum[a] {
			t.Errorf("hot store still holds %s: %d events, summary %t", a, hot[a], sum[a])
		}
	}
	// Every other answer is unchanged.
	sameAnswers(t, "after erasure and compaction", answers(t, root, start, end), answers(t, referenceLake(t, kept), start, end))

	// 4. A re-run of both changes nothing.
	objs, _ := st.List(ctx, "events/")
	if _, err := l.Compact(ctx, lake.CompactOptions{Days: allDays}); err != nil {
		t.Fatal(err)
	}
	again, err := l.Forget(ctx, lake.ForgetRequest{UserIDs: w.forget, Request: "gdpr-1"}, lake.ForgetOptions{Hot: newHot(t, env)})
	if err != nil || again.SuppressionAdded != 0 || again.Hot.EventsDeleted != 0 || len(again.Days) != 0 {
		t.Errorf("re-run of the erasure: %+v %v", again, err)
	}
	objs2, _ := st.List(ctx, "events/")
	if fmt.Sprint(objs) != fmt.Sprint(objs2) {
		t.Error("a re-run changed the lake")
	}
	if h, s := hotCounts(t, env); fmt.Sprint(h, s) != fmt.Sprint(hot, sum) {
		t.Error("a re-run changed the hot store")
	}
}
