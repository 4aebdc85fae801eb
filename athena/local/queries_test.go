package local_test

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/athena/lakegen"
	"github.com/eventlake/eventlake/athena/local"
	"github.com/eventlake/eventlake/tracker"
)

type queryCase struct {
	query string
	args  []string
	want  func(m *model) table
	// empty marks a case whose answer has no rows on purpose.
	empty bool
}

// roles are the people of the identity edge cases, found in the data.
type roles struct {
	family       string // an anonymous ID identified as two users in turn
	first, other string // its first user and the other one
	twoAnon      string // a user with two anonymous IDs, one browsing before its link
	aliased      string // a user whose app install was linked by an alias event
	script       string // a user with bot events (an export script)
	busiest      string // the user with the most events
	latest       string // the user of the latest event with a user ID, and its day
	latestDay    string
	gone1, gone2 string // users who stopped coming back, and their last days
	last1, last2 string
	converted    string // a user who signed up after anonymous page views
}

func findRoles(ds *lakegen.Dataset) roles {
	var r roles
	m := newModel(ds.Events)
	users := map[string]map[string]bool{} // anonymous ID -> the users it was sent with
	anons := map[string]map[string]bool{} // user -> the anonymous IDs linked to it
	count := map[string]int{}
	last := map[string]string{}
	for _, e := range ds.Events {
		if e.UserID == "" {
			continue
		}
		count[e.UserID]++
		last[e.UserID] = max(last[e.UserID], e.Dt)
		r.latest, r.latestDay = e.UserID, e.Dt
		if e.IsBot && r.script == "" {
			r.script = e.UserID
		}
		if e.EventType == tracker.TypeAlias && r.aliased == "" {
			r.aliased = e.UserID
		}
		if e.AnonymousID != "" {
			if users[e.AnonymousID] == nil {
				users[e.AnonymousID] = map[string]bool{}
			}
			users[e.AnonymousID][e.UserID] = true
		}
	}
	for anon, l := range m.link {
		if anons[l.UserID] == nil {
			anons[l.UserID] = map[string]bool{}
		}
		anons[l.UserID][anon] = true
		if len(users[anon]) > 1 && (r.family == "" || anon < r.family) {
			r.family, r.first = anon, l.UserID
		}
	}
	for u := range users[r.family] {
		if u != r.first {
			r.other = u
		}
	}
	for _, e := range ds.Events {
		l, linked := m.link[e.AnonymousID]
		if e.UserID != "" || !linked || l.EventAt <= e.EventAt {
			continue
		}
		// An anonymous page view before its ID was linked.
		if len(anons[l.UserID]) >= 2 && e.AnonymousID != r.family && r.twoAnon == "" {
			r.twoAnon = l.UserID
		}
	}
	for _, e := range ds.Events {
		if l, ok := m.link[e.AnonymousID]; ok && e.EventType == "signup" && l.EventAt < e.EventAt && r.converted == "" {
			r.converted = e.UserID
		}
	}
	for u, n := range count {
		if n > count[r.busiest] || (n == count[r.busiest] && u < r.busiest) {
			r.busiest = u
		}
	}
	// The two users gone longest, among those last seen more than ten days
	// after the start and ten days before the end.
	for _, u := range slices.Sorted(maps.Keys(last)) {
		d := last[u]
		if d >= addDays(ds.End, -10) || d <= addDays(ds.Start, 10) || u == r.script {
			continue
		}
		switch {
		case r.gone1 == "" || d < r.last1:
			r.gone2, r.last2 = r.gone1, r.last1
			r.gone1, r.last1 = u, d
		case r.gone2 == "" || d < r.last2:
			r.gone2, r.last2 = u, d
		}
	}
	return r
}

// cases are the query runs checked against Go, with windows placed on the
// dataset's edges: single days, windows crossing midnight, time zone
// offsets, exclusive and inclusive bounds on an event's exact time, the
// last day of users who stopped coming back, the identity edge cases' users.
func cases(l *testLake, today string) []queryCase {
	ds := l.ds
	end, start := ds.End, ds.Start
	mid := addDays(end, -45)
	r := findRoles(ds)
	c := []queryCase{
		{"logins_per_day", nil, func(m *model) table { return expectLoginsPerDay(m, today) }, false},
	}
	for _, a := range [][]string{
		{r.busiest, addDays(end, -30) + "T00:00:00Z"},            // more than 100 events: LIMIT
		{r.latest, addDays(r.latestDay, -1) + "T12:00:00+02:00"}, // a time zone offset
		{r.first, start}, // the family computer's anonymous events after the other user's visit
		{r.other, start},
		{r.twoAnon, start},
		{r.aliased, start},
		{r.script, addDays(end, -20)}, // bot events are shown
		{r.converted, start},
	} {
		c = append(c, queryCase{"user_recent_activity", a, func(m *model) table { return expectRecentActivity(m, a[0], a[1]) }, false})
	}
	c = append(c, queryCase{"user_recent_activity", []string{"nobody", start},
		func(m *model) table { return expectRecentActivity(m, "nobody", start) }, true})
	// A click in the middle: the hour ending on it excludes it, the hour
	// starting on it includes it.
	var click lakegen.Event
	for _, e := range ds.Events[len(ds.Events)/2:] {
		if e.EventType == "click" && e.UserID != "" && !e.IsBot {
			click = e
			break
		}
	}
	// An hour with a crawler's impression, which counts for nothing.
	var botImpression lakegen.Event
	for _, e := range ds.Events[len(ds.Events)/2:] {
		if e.EventType == "impression" && e.IsBot {
			botImpression = e
			break
		}
	}
	for _, at := range []string{
		botImpression.Time().Add(30 * time.Minute).Format(tracker.TimeLayout),
		click.EventAt,
		click.Time().Add(time.Hour).Format(tracker.TimeLayout),
		click.Time().Truncate(time.Hour).Add(time.Hour).Format(time.RFC3339),
		mid + "T00:00:00Z",          // the hour crosses midnight
		mid + "T00:30:00.000+01:00", // 23:30 the day before, in UTC
		addDays(end, -1) + "T20:00:00Z",
	} {
		c = append(c, queryCase{"hourly_clicks_impressions", []string{at}, func(m *model) table { return expectHourly(m, at) }, false})
	}
	// The series: windows over the whole history, crossing its start and
	// its end (days without any event: zeros), single days.
	for _, w := range [][2]string{{addDays(end, -29), end}, {addDays(start, -3), addDays(start, 4)}, {mid, mid},
		{addDays(end, -2), addDays(end, 3)}, {r.last1, addDays(r.last1, 8)}} {
		c = append(c, queryCase{"active_users_by_day", w[:], func(m *model) table { return expectActiveUsersByDay(m, w[0], w[1]) }, false})
		c = append(c, queryCase{"logins_by_day", w[:], func(m *model) table { return expectLoginsByDay(m, w[0], w[1]) }, false})
	}
	for _, w := range [][2]string{{addDays(end, -6), end}, {mid, mid}, {addDays(start, -1), start}, {end, addDays(end, 1)}} {
		c = append(c, queryCase{"clicks_impressions_by_hour", w[:], func(m *model) table { return expectClicksByHour(m, w[0], w[1]) }, false})
	}
	for _, d := range []string{end, mid, addDays(start, 3), r.last1, addDays(r.last1, 1), addDays(r.last1, 6), addDays(r.last1, 7),
		addDays(r.last2, 29), addDays(r.last2, 30)} {
		c = append(c, queryCase{"active_users", []string{d}, func(m *model) table { return expectActiveUsers(m, d) }, false})
	}
	for _, w := range [][2]string{
		{addDays(end, -7) + "T00:00:00Z", end + "T00:00:00Z"},
		{mid + "T20:00:00+02:00", addDays(mid, 1) + "T06:00:00Z"},
		{start, addDays(end, 1)},
		{click.EventAt, addDays(click.Dt, 1)}, // from included
		{click.Dt, click.EventAt},             // to excluded
	} {
		c = append(c, queryCase{"user_last_seen", w[:], func(m *model) table { return expectLastSeen(m, w[0], w[1]) }, false})
	}
	// The user gone longest is listed when days reaches back to their last
	// day, not one day further (then nobody is).
	for _, rc := range []struct {
		since, asOf string
		days        int
		empty       bool
	}{{start, end, 14, false}, {start, end, 30, false}, {addDays(end, -60), addDays(end, -10), 7, false},
		{start, end, daysBetween(r.last1, end), false}, {start, end, daysBetween(r.last1, end) + 1, true},
		{start, end, daysBetween(r.last2, end), false}, {start, end, daysBetween(r.last2, end) + 1, false}} {
		c = append(c, queryCase{"rotting_accounts", []string{rc.since, rc.asOf, fmt.Sprint(rc.days)},
			func(m *model) table { return expectRotting(m, rc.since, rc.asOf, rc.days) }, rc.empty})
	}
	for _, w := range [][2]string{{addDays(end, -29), end}, {start, end}, {mid, mid}, {addDays(end, -6), end}} {
		c = append(c, queryCase{"usage_frequency", w[:], func(m *model) table { return expectUsageFrequency(m, w[0], w[1]) }, false})
		c = append(c, queryCase{"sessions", w[:], func(m *model) table { return expectSessions(m, w[0], w[1]) }, false})
		c = append(c, queryCase{"campaign_conversions", w[:], func(m *model) table { return expectConversions(m, w[0], w[1]) }, false})
		c = append(c, queryCase{"devices", w[:], func(m *model) table { return expectDevices(m, w[0], w[1]) }, false})
	}
	// Windows around the signups the history has (it changes with today's
	// date, the generator's weekdays).
	var signups []string
	for _, e := range ds.Events {
		if e.EventType == "signup" {
			signups = append(signups, e.Dt)
		}
	}
	half := signups[len(signups)/2]
	for _, a := range []struct {
		from, to string
		lookback int
	}{{start, end, 30}, {half, end, 7}, {start, half, 90}, {start, end, 1}, {half, half, 3}} {
		c = append(c, queryCase{"signup_attribution", []string{a.from, a.to, fmt.Sprint(a.lookback)},
			func(m *model) table { return expectAttribution(m, a.from, a.to, a.lookback) }, false})
	}
	for _, a := range []struct {
		from, to                string
		maxNetworks, maxDevices int
	}{{addDays(end, -29), end, 4, 3}, {start, end, 6, 4}, {addDays(end, -6), end, 0, 0}} {
		c = append(c, queryCase{"account_sharing", []string{a.from, a.to, fmt.Sprint(a.maxNetworks), fmt.Sprint(a.maxDevices)},
			func(m *model) table { return expectSharing(m, a.from, a.to, a.maxNetworks, a.maxDevices) }, false})
	}
	return c
}

// TestQueriesMatchGo runs every query file, unchanged, on DuckDB over the
// lake in each format and compares the rows with the answer computed in Go.
func TestQueriesMatchGo(t *testing.T) {
	l := getLake(t)
	m := newModel(l.ds.Events)
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
					want := c.want(m)
					if len(want.rows) == 0 && !c.empty {
						t.Error("the case selects nothing: it proves little")
					}
					compare(t, res, want)
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
// prove something if the history has the edges they are about. The
// identity edge cases are planned by fakedata, so they are there by
// construction; this test fails if a change of the generator loses one.
func TestDatasetCoversEdges(t *testing.T) {
	l := getLake(t)
	ds := l.ds
	m := newModel(ds.Events)
	r := findRoles(ds)
	t.Logf("roles: %+v", r)
	for name, v := range map[string]string{"family computer": r.family, "its first user": r.first, "its other user": r.other,
		"user with two anonymous IDs": r.twoAnon, "aliased user": r.aliased, "script user": r.script,
		"converted visitor": r.converted, "gone user 1": r.gone1, "gone user 2": r.gone2} {
		if v == "" {
			t.Errorf("no %s", name)
		}
	}
	var dups, neverIdentified, afterIdentify, crawlerEvents, botUserEvents, sameMs, touches, utm, screens int
	identified := map[string]string{} // anonymous ID -> time of its identify event
	seen := map[string]int{}
	for _, e := range ds.Events {
		switch {
		case e.IsBot && e.UserID == "":
			crawlerEvents++
		case e.IsBot:
			botUserEvents++
		}
		if e.EventType == tracker.TypeIdentify {
			identified[e.AnonymousID] = e.EventAt
		}
		if t0, ok := identified[e.AnonymousID]; ok && e.EventAt > t0 && e.UserID != "" {
			afterIdentify++
		}
		if e.UserID == "" && !e.IsBot && m.user(e) == "" && e.EventType == "page_view" {
			neverIdentified++
		}
		if e.EventType == "page_view" && isTouch(e.Attributes) {
			touches++
			if e.Attributes[tracker.AttrUTMCampaign] != "" {
				utm++
			}
		}
		if e.EventType == "screen" {
			screens++
		}
		seen[e.UserID+e.AnonymousID+e.EventAt]++
		if seen[e.UserID+e.AnonymousID+e.EventAt] == 2 {
			sameMs++
		}
	}
	dups = len(ds.Deliveries) - len(ds.Events)
	t.Logf("%d events, %d deliveries (%d duplicates), %d anonymous page views of never-identified visitors, %d events after identify, "+
		"%d crawler events, %d bot events with a user ID, %d touches (%d with utm), %d screens, %d same-ms pairs",
		len(ds.Events), len(ds.Deliveries), dups, neverIdentified, afterIdentify, crawlerEvents, botUserEvents, touches, utm, screens, sameMs)
	for name, n := range map[string]int{"duplicate deliveries": dups, "never-identified visitors": neverIdentified,
		"events after identify": afterIdentify, "crawler events": crawlerEvents, "bot events with a user ID": botUserEvents,
		"touches": touches, "utm touches": utm, "screens": screens} {
		if n == 0 {
			t.Errorf("no %s", name)
		}
	}
}

// TestIdentities checks the identities view against the first-link rule
// computed in Go, on every lake: every anonymous ID maps to the user of its
// earliest event carrying both IDs, the family computer's to its first user
// although another user signed in on it later, and every bot stays out of
// every count (its events are left out of the Go answers, which the SQL
// matches).
func TestIdentities(t *testing.T) {
	l := getLake(t)
	m := newModel(l.ds.Events)
	r := findRoles(l.ds)
	want := table{cols: []string{"anonymous_id", "user_id", "linked_at"}}
	for _, anon := range slices.Sorted(maps.Keys(m.link)) {
		want.rows = append(want.rows, []sql.NullString{str(anon), str(m.link[anon].UserID), str(m.link[anon].EventAt)})
	}
	for _, lk := range l.lakes() {
		t.Run(lk.name, func(t *testing.T) {
			db := openLake(t, lk.root, lk.format)
			res, err := db.Query(context.Background(), "SELECT anonymous_id, user_id, linked_at FROM identities ORDER BY anonymous_id")
			if err != nil {
				t.Fatal(err)
			}
			compare(t, res, want)
			res, err = db.Query(context.Background(), "SELECT user_id FROM identities WHERE anonymous_id = ?", r.family)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Rows) != 1 || res.Rows[0][0].String != r.first {
				t.Errorf("the family computer %s maps to %v, want its first user %s (not %s)", r.family, res.Rows, r.first, r.other)
			}
		})
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

// TestParquetPruning checks that a dt restriction on a Parquet lake whose
// objects all have the full schema reads only those partitions' objects,
// and at most their bytes (footers and the column chunks used): the runner
// then reads without union_by_name, which would read every object's footer
// at every query.
func TestParquetPruning(t *testing.T) {
	l := getLake(t)
	db := openLake(t, l.parquet, athena.FormatParquet)
	from := addDays(l.ds.End, -6)
	files, err := filepath.Glob(filepath.Join(l.parquet, "events", "dt=*", "*.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	var want int
	var size, total int64
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		total += fi.Size()
		if strings.TrimPrefix(filepath.Base(filepath.Dir(f)), "dt=") >= from {
			want++
			size += fi.Size()
		}
	}
	res, err := db.Query(context.Background(), "SELECT count(*) FROM events_dedup WHERE dt >= ? AND event_type = 'login'", from)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("read %d bytes of %d objects; those objects hold %d bytes, the lake %d in %d", res.Stats.BytesScanned, res.Stats.FilesRead,
		size, total, len(files))
	if res.Stats.FilesRead != want {
		t.Errorf("read %d objects, want the %d of dt >= %s", res.Stats.FilesRead, want, from)
	}
	if got := res.Stats.BytesScanned; got > size {
		t.Errorf("read %d bytes, more than the %d the objects of dt >= %s hold", got, size, from)
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
