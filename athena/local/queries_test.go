package local_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/athena/lakegen"
	"github.com/eventlake/eventlake/athena/local"
)

type queryCase struct {
	query string
	args  []string
	want  func(events []lakegen.Event) table
}

// cases are the query runs checked against Go, with windows placed on the
// dataset's edges: hour and day boundaries, windows crossing midnight, time
// zone offsets, events that arrived late.
func cases(l *testLake, today string) []queryCase {
	end := l.ds.End
	mid := addDays(end, -45)
	c := []queryCase{
		{"logins_per_day", nil, func(ev []lakegen.Event) table { return expectLoginsPerDay(ev, today) }},
	}
	for _, a := range [][]string{
		{"u0001", addDays(end, -30) + "T00:00:00Z"}, // more than 100 events: LIMIT
		{"u0002", addDays(end, -3) + "T12:00:00+02:00"},
		{"s0001", l.ds.Start},
		{"nobody", l.ds.Start},
	} {
		c = append(c, queryCase{"user_recent_activity", a, func(ev []lakegen.Event) table { return expectRecentActivity(ev, a[0], a[1]) }})
	}
	for _, at := range []string{
		mid + "T10:00:00Z",                 // boundary events at 09:59:59.999 and 10:00:00.000
		mid + "T00:00:00Z",                 // the hour crosses midnight
		mid + "T00:30:00.000+01:00",        // 23:30 the day before, in UTC
		addDays(mid, 1) + "T00:00:00.001Z", // includes the midnight click
		end + "T23:59:59.999Z",
	} {
		c = append(c, queryCase{"hourly_clicks_impressions", []string{at}, func(ev []lakegen.Event) table { return expectHourly(ev, at) }})
	}
	// Users who stopped coming back, and their last day: windows that end
	// exactly on it or one day after it check the inclusive edges.
	last := map[string]string{}
	for _, e := range l.ds.Events {
		last[e.UserID] = max(last[e.UserID], e.Day())
	}
	gone1, gone2 := last["r0001"], last["r0002"]
	activeDays := []string{end, mid, addDays(l.ds.Start, 3),
		addDays(gone2, 6), addDays(gone2, 7), addDays(gone1, 29), addDays(gone1, 30), gone2, addDays(gone2, 1)}
	for _, d := range activeDays {
		c = append(c, queryCase{"active_users", []string{d}, func(ev []lakegen.Event) table { return expectActiveUsers(ev, d) }})
	}
	for _, w := range [][2]string{
		{addDays(end, -7) + "T00:00:00Z", end + "T00:00:00Z"},
		{mid + "T23:59:00Z", addDays(mid, 1) + "T00:01:00Z"},
		{l.ds.Start, addDays(end, 1)},
		{mid + "T10:00:00Z", mid + "T23:00:00Z"}, // from included, to excluded
	} {
		c = append(c, queryCase{"user_last_seen", w[:], func(ev []lakegen.Event) table { return expectLastSeen(ev, w[0], w[1]) }})
	}
	for _, r := range []struct {
		since, asOf string
		days        int
	}{{l.ds.Start, end, 14}, {l.ds.Start, end, 30}, {addDays(end, -60), addDays(end, -10), 7},
		{l.ds.Start, end, daysBetween(gone1, end)}, {l.ds.Start, end, daysBetween(gone1, end) + 1},
		{l.ds.Start, end, daysBetween(gone2, end)}, {l.ds.Start, end, daysBetween(gone2, end) + 1}} {
		c = append(c, queryCase{"rotting_accounts", []string{r.since, r.asOf, fmt.Sprint(r.days)},
			func(ev []lakegen.Event) table { return expectRotting(ev, r.since, r.asOf, r.days) }})
	}
	for _, a := range []struct {
		from, to string
		lookback int
	}{{l.ds.Start, end, 30}, {mid, end, 7}, {addDays(end, -60), mid, 90}} {
		c = append(c, queryCase{"signup_attribution", []string{a.from, a.to, fmt.Sprint(a.lookback)},
			func(ev []lakegen.Event) table { return expectAttribution(ev, a.from, a.to, a.lookback) }})
	}
	for _, w := range [][2]string{{addDays(end, -30), end}, {mid, mid}} {
		c = append(c, queryCase{"devices", w[:], func(ev []lakegen.Event) table { return expectDevices(ev, w[0], w[1]) }})
	}
	return c
}

// TestQueriesMatchGo runs every query file, unchanged, on DuckDB over the
// lake in each format and compares the rows with the answer computed in Go.
func TestQueriesMatchGo(t *testing.T) {
	l := getLake(t)
	covered := map[string]bool{}
	for _, lk := range l.lakes() {
		t.Run(lk.name, func(t *testing.T) {
			db := openLake(t, lk.root, lk.format)
			today := currentDate(t, db)
			for _, c := range cases(l, today) {
				covered[c.query] = true
				t.Run(c.query+"/"+strings.Join(c.args, ","), func(t *testing.T) {
					q, err := athena.Lookup(c.query)
					if err != nil {
						t.Fatal(err)
					}
					args, err := q.Args(c.args...)
					if err != nil {
						t.Fatal(err)
					}
					res, err := db.Run(context.Background(), q, args)
					if err != nil {
						t.Fatal(err)
					}
					compare(t, res, c.want(l.ds.Events))
				})
			}
		})
	}
	qs, err := athena.Queries()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if !covered[q.Name] {
			t.Errorf("query %s has no test case", q.Name)
		}
	}
}

func daysBetween(a, b string) int {
	return int(mustDay(b).Sub(mustDay(a)).Hours() / 24)
}

func compare(t *testing.T, res *athena.Result, want table) {
	t.Helper()
	var cols []string
	for _, c := range res.Columns {
		cols = append(cols, c.Name)
	}
	if strings.Join(cols, ",") != strings.Join(want.cols, ",") {
		t.Fatalf("columns %v, want %v", cols, want.cols)
	}
	if len(want.rows) == 0 && len(res.Rows) == 0 {
		return
	}
	n := max(len(res.Rows), len(want.rows))
	bad := 0
	for i := range n {
		var got, exp []sql.NullString
		if i < len(res.Rows) {
			got = res.Rows[i]
		}
		if i < len(want.rows) {
			exp = want.rows[i]
		}
		if fmt.Sprint(got) != fmt.Sprint(exp) {
			if bad++; bad <= 5 {
				t.Errorf("row %d:\n got  %v\n want %v", i, got, exp)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d rows differ (got %d rows, want %d)", bad, n, len(res.Rows), len(want.rows))
	}
}

func currentDate(t *testing.T, db *local.DB) string {
	t.Helper()
	res, err := db.Query(context.Background(), "SELECT date_format(current_date, '%Y-%m-%d')")
	if err != nil {
		t.Fatal(err)
	}
	return res.Rows[0][0].String
}

// TestDatasetCoversEdges guards the dataset itself: the cases above only
// prove something if the history has the edges they are about.
func TestDatasetCoversEdges(t *testing.T) {
	l := getLake(t)
	var late, backfill, dups, noUA, sameMs int
	seen := map[string]int{}
	for _, e := range l.ds.Events {
		switch d := e.Day(); {
		case e.Dt == addDays(d, 1):
			late++
		case e.Dt > addDays(d, 1):
			backfill++
		}
		if e.UserAgent == "" {
			noUA++
		}
		seen[e.UserID+e.EventAt]++
		if seen[e.UserID+e.EventAt] == 2 {
			sameMs++
		}
	}
	dups = len(l.ds.Deliveries) - len(l.ds.Events)
	t.Logf("%d events, %d deliveries, %d late, %d backfilled, %d duplicates, %d without user agent, %d same-ms pairs",
		len(l.ds.Events), len(l.ds.Deliveries), late, backfill, dups, noUA, sameMs)
	if late == 0 || backfill == 0 || dups == 0 || noUA == 0 || sameMs == 0 {
		t.Error("the dataset lacks an edge case")
	}
}

// TestDedupView checks events_dedup: duplicate deliveries in one partition
// collapse to one row; copies that arrived on different days both stay (the
// documented price of letting dt filters prune partitions through the view);
// same event_id for two users stays two events.
func TestDedupView(t *testing.T) {
	root := t.TempDir()
	e := lakegen.Event{UserID: "u1", EventAt: "2026-11-21T23:59:59.900Z", EventID: "e1", EventType: "login"}
	other := e
	other.UserID = "u2"
	ds := &lakegen.Dataset{}
	for _, d := range []struct {
		ev lakegen.Event
		dt string
	}{{e, "2026-11-21"}, {e, "2026-11-21"}, {e, "2026-11-22"}, {other, "2026-11-21"}} {
		d.ev.Dt = d.dt
		ds.Deliveries = append(ds.Deliveries, d.ev)
	}
	if _, err := ds.WriteNDJSON(root, lakegen.Layout{PerObject: 1}); err != nil {
		t.Fatal(err)
	}
	db := openLake(t, root, "")
	res, err := db.Query(context.Background(),
		"SELECT dt, user_id, count(*) AS n FROM events_dedup WHERE dt >= ? GROUP BY dt, user_id ORDER BY dt, user_id", "2026-11-21")
	if err != nil {
		t.Fatal(err)
	}
	compare(t, res, table{cols: []string{"dt", "user_id", "n"}, rows: [][]sql.NullString{
		{str("2026-11-21"), str("u1"), num(1)},
		{str("2026-11-21"), str("u2"), num(1)},
		{str("2026-11-22"), str("u1"), num(1)},
	}})
	raw, err := db.Query(context.Background(), "SELECT count(*) FROM events")
	if err != nil {
		t.Fatal(err)
	}
	if raw.Rows[0][0].String != "4" {
		t.Errorf("events has %s rows, want the 4 deliveries", raw.Rows[0][0].String)
	}
}

// TestPartitionPruning checks that a dt restriction reads only the objects
// of those partitions, through the events_dedup view, with the bytes read
// equal to the sizes of those objects (gzip NDJSON is read whole, once).
func TestPartitionPruning(t *testing.T) {
	l := getLake(t)
	db := openLake(t, l.json, athena.FormatJSON)
	from := addDays(l.ds.End, -6)
	var want int
	var size int64
	for dt, objs := range l.objects {
		if dt >= from {
			want += len(objs)
			for _, o := range objs {
				fi, err := os.Stat(o)
				if err != nil {
					t.Fatal(err)
				}
				size += fi.Size()
			}
		}
	}
	res, err := db.Query(context.Background(), "SELECT count(*) FROM events_dedup WHERE dt >= ? AND event_type = 'login'", from)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stats.FilesRead != want {
		t.Errorf("read %d objects, want the %d of dt >= %s", res.Stats.FilesRead, want, from)
	}
	// rchar also counts the /proc/self/io reads and anything else the
	// process reads meanwhile: allow a little.
	if got := res.Stats.BytesScanned; got < size || got > size+64<<10 {
		t.Errorf("read %d bytes, the objects hold %d", got, size)
	}
	all, err := db.Query(context.Background(), "SELECT count(*) FROM events_dedup")
	if err != nil {
		t.Fatal(err)
	}
	var total int
	for _, objs := range l.objects {
		total += len(objs)
	}
	if all.Stats.FilesRead != total {
		t.Errorf("an unrestricted query read %d objects, want all %d", all.Stats.FilesRead, total)
	}
}

// TestParquetSchema checks the Parquet objects have the Glue table's types.
func TestParquetSchema(t *testing.T) {
	l := getLake(t)
	files, _ := filepath.Glob(filepath.Join(l.parquet, "events", "dt=*", "*.parquet"))
	if len(files) == 0 {
		t.Fatal("no parquet objects")
	}
	db := openEmptyLake(t)
	res, err := db.Query(context.Background(),
		"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(?, hive_partitioning = false))", files[0])
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range res.Rows {
		got = append(got, r[0].String+" "+r[1].String)
	}
	want := "user_id VARCHAR,anonymous_id VARCHAR,event_at VARCHAR,event_id VARCHAR,event_type VARCHAR,user_agent VARCHAR,ip_address VARCHAR," +
		"device_type VARCHAR,browser VARCHAR,os VARCHAR,is_bot BOOLEAN,attributes MAP(VARCHAR, VARCHAR)"
	if strings.Join(got, ",") != want {
		t.Errorf("parquet schema %v\nwant %s", got, want)
	}
}

// TestEmptyLake: before any object lands, queries return no rows (or zero
// counts) instead of failing, and the view picks objects up once they land.
func TestEmptyLake(t *testing.T) {
	root := t.TempDir()
	db := openLake(t, root, "")
	q, err := athena.Lookup("logins_per_day")
	if err != nil {
		t.Fatal(err)
	}
	res, err := db.Run(context.Background(), q, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Rows {
		if r[1].String != "0" {
			t.Errorf("empty lake: %v", r)
		}
	}
	today := currentDate(t, db)
	ds := &lakegen.Dataset{Deliveries: []lakegen.Event{{UserID: "u", EventAt: today + "T08:00:00.000Z", EventID: "e", EventType: "login", Dt: today}}}
	if _, err := ds.WriteNDJSON(root, lakegen.Layout{PerObject: 10}); err != nil {
		t.Fatal(err)
	}
	res, err = db.Run(context.Background(), q, nil)
	if err != nil {
		t.Fatal(err)
	}
	if last := res.Rows[len(res.Rows)-1]; last[0].String != today || last[1].String != "1" {
		t.Errorf("after the first object: %v", last)
	}
}

func openEmptyLake(t *testing.T) *local.DB {
	return openLake(t, t.TempDir(), "")
}
