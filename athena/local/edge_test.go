package local_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/athena/lakegen"
	"github.com/eventlake/eventlake/athena/local"
	"github.com/eventlake/eventlake/tracker"
)

const (
	chromeUA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36"
	botUA    = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
	scriptUA = "python-requests/2.32.3"
)

// ev is a hand-made event, enriched as the tracker stores it.
func ev(user, anon, typ, at, id, ua string, attrs map[string]string) lakegen.Event {
	t, err := time.Parse(tracker.TimeLayout, at)
	if err != nil {
		panic(err)
	}
	return lakegen.FromTracker(tracker.Event{UserID: user, AnonymousID: anon, Type: typ, At: t, ID: id, UserAgent: ua,
		IP: "81.2.69.10", Attributes: attrs})
}

func page(url, referrer string, utm ...string) map[string]string {
	a := map[string]string{tracker.AttrURL: url}
	if referrer != "" {
		a[tracker.AttrReferrer] = referrer
	}
	if len(utm) == 3 {
		a[tracker.AttrUTMSource], a[tracker.AttrUTMMedium], a[tracker.AttrUTMCampaign] = utm[0], utm[1], utm[2]
	}
	return a
}

// edgeLakes writes events (the first one delivered twice) as a gzip NDJSON
// lake and as a Parquet lake.
func edgeLakes(t *testing.T, events []lakegen.Event) map[athena.Format]string {
	t.Helper()
	dir := t.TempDir()
	ds := &lakegen.Dataset{Events: events, Deliveries: append([]lakegen.Event{events[0]}, events...)}
	jsonRoot, pqRoot := filepath.Join(dir, "json"), filepath.Join(dir, "parquet")
	paths, err := ds.WriteNDJSON(jsonRoot, lakegen.Layout{PerObject: 3})
	if err != nil {
		t.Fatal(err)
	}
	w, err := local.NewParquetWriter()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, p := range paths {
		rel, _ := filepath.Rel(jsonRoot, p)
		out := filepath.Join(pqRoot, strings.TrimSuffix(rel, ".gz")+".parquet")
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := w.Convert(context.Background(), out, p); err != nil {
			t.Fatal(err)
		}
	}
	return map[athena.Format]string{athena.FormatJSON: jsonRoot, athena.FormatParquet: pqRoot}
}

func row(cells ...string) []sql.NullString {
	out := make([]sql.NullString, len(cells))
	for i, c := range cells {
		if c != "NULL" {
			out[i] = str(c)
		}
	}
	return out
}

// TestEdgeCases runs queries on small hand-made histories whose answers
// are written out by hand, on both formats, and checks that the Go model
// of the known-answer tests gives the same answers: the session rule at
// exactly 30 minutes and across midnight, the lookback's edge, touches in
// one millisecond and in the signup's own, an anonymous ID identified as
// two users in the same millisecond (the lower event_id wins), hour
// boundaries, and bots (a crawler, a user's script) counted nowhere.
func TestEdgeCases(t *testing.T) {
	const d = "2026-03-10"
	at := func(s string) string { return d + "T" + s + "Z" }
	sessions := []lakegen.Event{
		ev("u-gap", "anon-gap", "page_view", at("08:00:00.000"), "g1", chromeUA, page("https://app.example.com/", "")),
		ev("u-gap", "anon-gap", "click", at("08:29:59.999"), "g2", chromeUA, nil),
		ev("u-gap", "anon-gap", "page_view", at("08:59:59.999"), "g3", chromeUA, nil), // 30:00.000 later: same session
		ev("u-gap", "anon-gap", "page_view", at("09:30:00.000"), "g4", chromeUA, nil), // 30:00.001 later: a new one
		ev("u-gap", "anon-gap", "page_view", at("23:50:00.000"), "g5", chromeUA, nil), // a new one
		ev("u-gap", "", "page_view", "2026-03-11T00:10:00.000Z", "g6", chromeUA, nil), // across midnight
		ev("", "anon-v", "page_view", at("10:00:00.000"), "v1", chromeUA, page("https://app.example.com/", "")),
		ev("", "anon-v", "click", at("10:05:00.000"), "v2", chromeUA, nil),
		ev("", "anon-v", "page_view", at("10:50:00.000"), "v3", chromeUA, nil),    // 45 minutes later
		ev("", "anon-crawler", "page_view", at("10:20:00.000"), "b1", botUA, nil), // never a person
		ev("u-gap", "", "page_view", at("10:20:00.000"), "b2", scriptUA, nil),     // the user's script
	}
	signup := "2026-03-10T12:00:00.000Z"
	attribution := []lakegen.Event{
		ev("", "anon-s", "page_view", "2026-03-08T11:59:59.999Z", "x", chromeUA, page("https://app.example.com/", "", "too-early", "email", "winter")),
		ev("", "anon-s", "page_view", "2026-03-08T12:00:00.000Z", "a", chromeUA, page("https://app.example.com/", "https://news.ycombinator.com/")),
		ev("", "anon-s", "page_view", "2026-03-09T09:00:00.000Z", "t-b", chromeUA, page("https://app.example.com/", "", "b", "cpc", "spring")),
		ev("", "anon-s", "page_view", "2026-03-09T09:00:00.000Z", "t-a", chromeUA, page("https://app.example.com/", "", "a", "cpc", "spring")),
		ev("", "anon-s", "page_view", at("11:59:00.000"), "internal", chromeUA, page("https://app.example.com/signup", "https://app.example.com/pricing")),
		ev("u-sig", "anon-s", tracker.TypeIdentify, at("11:59:59.000"), "i1", chromeUA, nil),
		ev("", "anon-s", "page_view", signup, "t-same", chromeUA, page("https://app.example.com/", "", "same", "cpc", "spring")),
		ev("u-sig", "anon-s", "signup", signup, "s1", chromeUA, map[string]string{"plan": "free"}),
		ev("", "anon-bot", "page_view", "2026-03-09T10:00:00.000Z", "bot", botUA, page("https://app.example.com/", "https://www.google.com/")),
	}
	hourly := []lakegen.Event{
		ev("u-x", "anon-tie", tracker.TypeIdentify, at("13:00:00.000"), "z-2", chromeUA, nil),
		ev("u-y", "anon-tie", "login", at("13:00:00.000"), "z-1", chromeUA, nil), // same ms, lower ID: the first link
		ev("", "anon-tie", "page_view", at("13:05:00.000"), "z-3", chromeUA, page("https://app.example.com/", "")),
		ev("u-h", "anon-h", "impression", at("14:59:59.999"), "h0", chromeUA, nil),
		ev("u-h", "anon-h", "click", at("15:00:00.000"), "h1", chromeUA, nil),
		ev("", "anon-v2", "click", at("15:10:00.000"), "h2", chromeUA, nil),
		ev("", "anon-tie", "click", at("15:20:00.000"), "h3", chromeUA, nil),
		ev("", "anon-crawler", "impression", at("15:30:00.000"), "h4", botUA, nil),
		ev("u-script", "", "click", at("15:40:00.000"), "h5", scriptUA, nil),
		ev("u-h", "anon-h", "impression", at("16:00:00.000"), "h6", chromeUA, nil),
	}
	sessionCols := []string{"audience", "people", "sessions", "sessions_per_person", "avg_duration_s", "median_duration_s", "avg_pages", "median_pages"}
	attributionCols := []string{"user_id", "signed_up_at", "touches", "first_touch_at", "first_referrer", "first_utm_source", "first_utm_medium",
		"first_utm_campaign", "last_touch_at", "last_referrer", "last_utm_source", "last_utm_medium", "last_utm_campaign"}
	tests := []struct {
		name   string
		events []lakegen.Event
		query  string
		args   []string
		want   table
	}{
		// u-gap: 08:00-08:59:59.999 (2 pages), 09:30 (1), 23:50-00:10 (2);
		// anon-v: 10:00-10:05 (1), 10:50 (1).
		{"sessions over two days", sessions, "sessions", []string{d, "2026-03-11"}, table{sessionCols, [][]sql.NullString{
			row("users", "1", "3", "3.00", "1600.00", "1200.00", "1.67", "2.00"),
			row("visitors", "1", "2", "2.00", "150.00", "150.00", "1.00", "1.00"),
		}}},
		// The window cuts the midnight session at 23:50.
		{"sessions cut by the window", sessions, "sessions", []string{d, d}, table{sessionCols, [][]sql.NullString{
			row("users", "1", "3", "3.00", "1200.00", "0.00", "1.33", "1.00"),
			row("visitors", "1", "2", "2.00", "150.00", "150.00", "1.00", "1.00"),
		}}},
		// Lookback 2 days: from exactly 2026-03-08T12:00:00.000; t-a
		// before t-b in their millisecond; t-same is not before the signup;
		// the internal page view is no touch.
		{"attribution lookback 2", attribution, "signup_attribution", []string{d, d, "2"}, table{attributionCols, [][]sql.NullString{
			row("u-sig", signup, "3", "2026-03-08T12:00:00.000Z", "https://news.ycombinator.com/", "NULL", "NULL", "NULL",
				"2026-03-09T09:00:00.000Z", "NULL", "b", "cpc", "spring"),
		}}},
		{"attribution lookback 3", attribution, "signup_attribution", []string{d, d, "3"}, table{attributionCols, [][]sql.NullString{
			row("u-sig", signup, "4", "2026-03-08T11:59:59.999Z", "NULL", "too-early", "email", "winter",
				"2026-03-09T09:00:00.000Z", "NULL", "b", "cpc", "spring"),
		}}},
		// The visitor first seen at 11:59:59.999 on the 8th signs up two
		// days later after 5 page views, first touch "too-early"; the
		// crawler is no visitor.
		{"conversions", attribution, "campaign_conversions", []string{"2026-03-08", d}, table{
			[]string{"source", "medium", "campaign", "visitors", "signups", "conversion_pct", "avg_hours_to_signup", "fastest_hours",
				"longest_hours", "avg_pages_before_signup"},
			[][]sql.NullString{row("too-early", "email", "winter", "1", "1", "100.00", "48.00", "48.00", "48.00", "5.00")},
		}},
		// [15:00, 16:00): u-h's click at 15:00 and anon-tie's (u-y's, by the
		// first link) click; anon-v2's click; not the crawler's impression,
		// the script's click, or the impressions at 14:59:59.999 and 16:00.
		{"hour", hourly, "hourly_clicks_impressions", []string{d + "T16:00:00Z"}, table{
			[]string{"unique_users", "clicks", "impressions", "visitors"}, [][]sql.NullString{row("2", "3", "0", "1")}}},
		{"hour before", hourly, "hourly_clicks_impressions", []string{d + "T15:00:00.000Z"}, table{
			[]string{"unique_users", "clicks", "impressions", "visitors"}, [][]sql.NullString{row("1", "0", "1", "0")}}},
		{"first link in one millisecond", hourly, "user_recent_activity", []string{"u-y", d}, table{
			[]string{"event_at", "event_type", "event_id", "user_id", "anonymous_id", "device_type", "browser", "os", "is_bot",
				"user_agent", "ip_address", "attributes"},
			[][]sql.NullString{
				row(at("15:20:00.000"), "click", "h3", "NULL", "anon-tie", "desktop", "Chrome", "Windows", "false", chromeUA, "81.2.69.10", "NULL"),
				row(at("13:05:00.000"), "page_view", "z-3", "NULL", "anon-tie", "desktop", "Chrome", "Windows", "false", chromeUA, "81.2.69.10",
					"{url=https://app.example.com/}"),
				row(at("13:00:00.000"), "login", "z-1", "u-y", "anon-tie", "desktop", "Chrome", "Windows", "false", chromeUA, "81.2.69.10", "NULL"),
			}}},
		{"active", sessions, "active_users", []string{d}, table{[]string{"period", "days", "active_users", "visitors"}, [][]sql.NullString{
			row("daily", "1", "1", "1"), row("weekly", "7", "1", "1"), row("monthly", "30", "1", "1"),
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The Go model of the known-answer tests agrees with the hand.
			m := newModel(tt.events)
			var model table
			switch tt.query {
			case "sessions":
				model = expectSessions(m, tt.args[0], tt.args[1])
			case "signup_attribution":
				var lookback int
				fmt.Sscan(tt.args[2], &lookback)
				model = expectAttribution(m, tt.args[0], tt.args[1], lookback)
			case "campaign_conversions":
				model = expectConversions(m, tt.args[0], tt.args[1])
			case "hourly_clicks_impressions":
				model = expectHourly(m, tt.args[0])
			case "user_recent_activity":
				model = expectRecentActivity(m, tt.args[0], tt.args[1])
			case "active_users":
				model = expectActiveUsers(m, tt.args[0])
			}
			if fmt.Sprint(model) != fmt.Sprint(tt.want) {
				t.Errorf("the Go model says\n %v\nthe hand\n %v", model, tt.want)
			}
			for format, root := range edgeLakes(t, tt.events) {
				t.Run(string(format), func(t *testing.T) {
					db := openLake(t, root, format)
					q, err := athena.Lookup(tt.query)
					if err != nil {
						t.Fatal(err)
					}
					args, err := q.Args(tt.args...)
					if err != nil {
						t.Fatal(err)
					}
					res, err := db.Run(context.Background(), q, args)
					if err != nil {
						t.Fatal(err)
					}
					compare(t, res, tt.want)
				})
			}
		})
	}
}
