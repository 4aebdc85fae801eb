package main

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/athena/local"
	"github.com/eventlake/eventlake/tracker"
)

// legitimatelyEmpty names the queries that may answer no row on
// TestDemo's lake (-events 400 -users 12 -days 30), and why. Every other
// query must answer at least one row there.
var legitimatelyEmpty = map[string]string{
	// Users seen from more than 4 networks or 3 devices in the last 30
	// days: fakedata's shared account is used by five households, each
	// with its own device and network, but 400 events over 30 days give it
	// a handful of sessions, which reach five networks or four devices in
	// about one history in three (the demo's default 10000 events do).
	"account_sharing": "the shared account's few sessions may not reach five networks or four devices",
}

// demoResult is a query's answer with its columns by name.
type demoResult struct {
	t    *testing.T
	name string
	res  *athena.Result
	col  map[string]int
}

func newDemoResult(t *testing.T, name string, res *athena.Result) demoResult {
	r := demoResult{t: t, name: name, res: res, col: map[string]int{}}
	for i, c := range res.Columns {
		r.col[c.Name] = i
	}
	return r
}

// str returns row i's value of column c, "" for NULL.
func (r demoResult) str(i int, c string) string {
	r.t.Helper()
	j, ok := r.col[c]
	if !ok {
		r.t.Fatalf("%s has no column %s (columns %v)", r.name, c, r.res.Columns)
	}
	return r.res.Rows[i][j].String
}

// null reports whether row i's value of column c is NULL.
func (r demoResult) null(i int, c string) bool {
	r.t.Helper()
	j, ok := r.col[c]
	if !ok {
		r.t.Fatalf("%s has no column %s (columns %v)", r.name, c, r.res.Columns)
	}
	return !r.res.Rows[i][j].Valid
}

// int returns row i's value of column c as an integer.
func (r demoResult) int(i int, c string) int64 {
	r.t.Helper()
	n, err := strconv.ParseInt(r.str(i, c), 10, 64)
	if err != nil {
		r.t.Fatalf("%s row %d: %s = %q: %v", r.name, i, c, r.str(i, c), err)
	}
	return n
}

func (r demoResult) dump() string {
	var b strings.Builder
	r.res.WriteTableOptions(&b, athena.TableOptions{MaxRows: 40})
	return b.String()
}

// checkDemoAnswers runs every query of the library on the lake the demo
// wrote, with the arguments the demo chose (queryArgs, for a history of
// days days ending now), and checks that the answers mean something: no
// query but the legitimately empty ones answers nothing, signups have
// touches with their sources and campaigns, campaigns convert, people are
// counted apart from bots, devices are told apart. When out is not empty
// (the demo's report), the arguments must be the ones the demo printed.
func checkDemoAnswers(t *testing.T, ctx context.Context, lake string, days int, now time.Time, out string) {
	db, err := local.Open(ctx, local.Config{Root: lake})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	// The demo's busiest user and latest event, as it found them in the
	// events it put, from the lake that holds each of them once.
	res, err := db.Query(ctx, `SELECT user_id, count(*) FROM events_dedup WHERE user_id IS NOT NULL GROUP BY user_id`)
	if err != nil {
		t.Fatal(err)
	}
	perUser := map[string]int{}
	for _, row := range res.Rows {
		n, _ := strconv.Atoi(row[1].String)
		perUser[row[0].String] = n
	}
	user := busiestUser(perUser)
	res, err = db.Query(ctx, `SELECT max(event_at) FROM events_dedup`)
	if err != nil {
		t.Fatal(err)
	}
	latest, err := time.Parse(tracker.TimeLayout, res.Rows[0][0].String)
	if err != nil {
		t.Fatalf("latest event_at: %v", err)
	}

	queries, err := athena.Queries()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]demoResult{}
	argsOf := map[string][]athena.Arg{}
	for _, q := range queries {
		args, err := queryArgs(q, now, latest, days, user)
		if err != nil {
			t.Fatal(err)
		}
		if out != "" && len(args) > 0 {
			if want := "== " + q.Name + ": " + summary(q.Description) + "\n   " + argsLine(args) + "\n"; !strings.Contains(out, want) {
				t.Errorf("the demo did not run %s with the arguments %s", q.Name, argsLine(args))
			}
		}
		res, err := db.Run(ctx, q, args)
		if err != nil {
			t.Fatalf("%s: %v", q.Name, err)
		}
		r := newDemoResult(t, q.Name, res)
		got[q.Name], argsOf[q.Name] = r, args
		if _, ok := legitimatelyEmpty[q.Name]; !ok && len(res.Rows) == 0 {
			t.Errorf("%s (%s) answered no row on the demo's lake", q.Name, argsLine(args))
		}
	}

	// signup_attribution over the whole history. fakedata plans at least
	// one signup (three accounts, two days); a new user first arrives from
	// a source drawn by conversion weight, four in five a referrer or a
	// campaign, on the landing page of an anonymous visit whose browser the
	// identify (or a later login on it) links to the user. So at least
	// half of the signups have touches with a source; and some touch
	// carries a utm_campaign (none did when the generator and the query
	// disagreed on the attribute's name, issue 11). Both held for the
	// demo's seed and sizes at each of 100 end times spread over weeks.
	sa := got["signup_attribution"]
	if len(sa.res.Rows) == 0 {
		t.Errorf("signup_attribution: no signup in the demo's lake")
	} else {
		touched, campaign := 0, 0
		for i := range sa.res.Rows {
			first := !sa.null(i, "first_touch_at") && (sa.str(i, "first_utm_source") != "" || sa.str(i, "first_referrer") != "")
			last := !sa.null(i, "last_touch_at") && (sa.str(i, "last_utm_source") != "" || sa.str(i, "last_referrer") != "")
			if first && last && sa.int(i, "touches") > 0 {
				touched++
			}
			if sa.str(i, "first_utm_campaign") != "" || sa.str(i, "last_utm_campaign") != "" {
				campaign++
			}
		}
		if 2*touched < len(sa.res.Rows) {
			t.Errorf("signup_attribution: %d of %d signups have a first and last touch with a source:\n%s", touched, len(sa.res.Rows), sa.dump())
		}
		if campaign == 0 {
			t.Errorf("signup_attribution: no signup has a touch with a utm_campaign:\n%s", sa.dump())
		}
	}

	// campaign_conversions: some campaign (utm_campaign, not a referral's
	// or direct '(none)') brought a visitor who signed up.
	cc := got["campaign_conversions"]
	converted := false
	for i := range cc.res.Rows {
		if c := cc.str(i, "campaign"); c != "(none)" && c != "(not set)" && c != "" && cc.int(i, "signups") > 0 {
			converted = true
		}
	}
	if !converted {
		t.Errorf("campaign_conversions: no campaign with a signup:\n%s", cc.dump())
	}

	// active_users: a row per period, users and visitors counted apart,
	// growing with the period; the crawlers' anonymous IDs (fakedata's
	// crawlers take a new one every visit, never identified) are active in
	// the month but never counted as visitors.
	au := got["active_users"]
	if len(au.res.Rows) != 3 {
		t.Errorf("active_users: want daily, weekly and monthly rows:\n%s", au.dump())
	} else {
		for i := 1; i < 3; i++ {
			if au.int(i, "active_users") < au.int(i-1, "active_users") || au.int(i, "visitors") < au.int(i-1, "visitors") {
				t.Errorf("active_users: %s counts fewer than %s:\n%s", au.str(i, "period"), au.str(i-1, "period"), au.dump())
			}
		}
		users, visitors := au.int(2, "active_users"), au.int(2, "visitors")
		if au.str(2, "period") != "monthly" || users == 0 || visitors == 0 {
			t.Errorf("active_users: want monthly users and visitors:\n%s", au.dump())
		}
		if users > int64(len(perUser)) {
			t.Errorf("active_users: %d monthly users, the lake has %d user IDs", users, len(perUser))
		}
		// The anonymous IDs, bots' or not, of events from no user, in
		// the query's 30 days.
		asOf := argsOf["active_users"][0].Text
		res, err := db.Query(ctx, `
SELECT count(DISTINCT e.anonymous_id) FILTER (WHERE NOT e.is_bot),
  count(DISTINCT e.anonymous_id) FILTER (WHERE e.is_bot)
FROM events_dedup e
LEFT JOIN identities i ON i.anonymous_id = e.anonymous_id
WHERE e.dt > strftime(CAST(? AS DATE) - INTERVAL 30 DAY, '%Y-%m-%d') AND e.dt <= ?
  AND e.user_id IS NULL AND i.user_id IS NULL`, asOf, asOf)
		if err != nil {
			t.Fatal(err)
		}
		people, _ := strconv.ParseInt(res.Rows[0][0].String, 10, 64)
		bots, _ := strconv.ParseInt(res.Rows[0][1].String, 10, 64)
		if bots == 0 {
			// The crawlers are a random 7% of the unplanned sessions:
			// about one history in twenty of this size has none in the
			// month (the export script's bot events carry a user ID).
			t.Logf("active_users: no crawler in the last 30 days; the visitors are checked, not that crawlers are left out")
		}
		if visitors != people {
			t.Errorf("active_users: %d monthly visitors, want the %d anonymous IDs of people (%d crawlers' left out):\n%s", visitors, people, bots, au.dump())
		}
	}

	// devices: people's rows first, then the bots' (device bot), never
	// counted as users or visitors; people came on a desktop and on a
	// phone or tablet (fakedata's browsers are of all three kinds).
	dv := got["devices"]
	kinds := map[string]int64{}
	botRows := 0
	for i := range dv.res.Rows {
		d := dv.str(i, "device")
		people := dv.int(i, "users") + dv.int(i, "visitors")
		if d == tracker.DeviceBot {
			botRows++
			if people != 0 {
				t.Errorf("devices: a bot row counts %d people:\n%s", people, dv.dump())
			}
			continue
		}
		if botRows > 0 {
			t.Errorf("devices: a %s row after the bots' rows:\n%s", d, dv.dump())
		}
		kinds[d] += people
	}
	if botRows == 0 {
		t.Errorf("devices: no bot row (crawlers and the export script):\n%s", dv.dump())
	}
	if kinds[tracker.DeviceDesktop] == 0 || kinds[tracker.DeviceMobile]+kinds[tracker.DeviceTablet] == 0 {
		t.Errorf("devices: want people on a desktop and on a phone or tablet:\n%s", dv.dump())
	}
	if t.Failed() {
		for _, q := range queries {
			t.Logf("%s (%s):\n%s", q.Name, argsLine(argsOf[q.Name]), got[q.Name].dump())
		}
	}
}
