package local_test

// The expected answer of every query, computed in Go from the generated
// events (lakegen.Dataset.Events: each event once, with its arrival day),
// following each query's header comment rather than its SQL.

import (
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/athena/lakegen"
	"github.com/eventlake/eventlake/tracker"
)

type table struct {
	cols []string
	rows [][]sql.NullString
}

func str(s string) sql.NullString { return sql.NullString{String: s, Valid: true} }

func opt(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

func num(n int) sql.NullString { return str(strconv.Itoa(n)) }

func attrText(m map[string]string) sql.NullString {
	if len(m) == 0 {
		return sql.NullString{}
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return str("{" + strings.Join(parts, ", ") + "}")
}

func day(t time.Time) string { return t.UTC().Format(tracker.DateLayout) }

func mustDay(s string) time.Time {
	t, err := time.Parse(tracker.DateLayout, s)
	if err != nil {
		panic(err)
	}
	return t
}

func mustTime(s string) time.Time {
	t, err := athena.ParseTimestamp(s)
	if err != nil {
		panic(err)
	}
	return t
}

func addDays(d string, n int) string { return day(mustDay(d).AddDate(0, 0, n)) }

// inDt reports whether e arrived in [lo, hi].
func inDt(e lakegen.Event, lo, hi string) bool { return e.Dt >= lo && (hi == "" || e.Dt <= hi) }

func expectRecentActivity(events []lakegen.Event, user, since string) table {
	from := mustTime(since)
	var hits []lakegen.Event
	for _, e := range events {
		if e.UserID == user && inDt(e, day(from), "") && !e.Time().Before(from) {
			hits = append(hits, e)
		}
	}
	slices.SortFunc(hits, func(a, b lakegen.Event) int {
		return strings.Compare(b.EventAt+"|"+b.EventID, a.EventAt+"|"+a.EventID)
	})
	t := table{cols: []string{"event_at", "event_type", "event_id", "user_agent", "ip_address", "attributes"}}
	for i, e := range hits {
		if i == 100 {
			break
		}
		t.rows = append(t.rows, []sql.NullString{str(e.EventAt), str(e.EventType), str(e.EventID), opt(e.UserAgent), opt(e.IPAddress), attrText(e.Attributes)})
	}
	return t
}

func expectLoginsPerDay(events []lakegen.Event, today string) table {
	counts := map[string]int{}
	for _, e := range events {
		if e.EventType == "login" && inDt(e, addDays(today, -6), "") {
			counts[e.Day()]++
		}
	}
	t := table{cols: []string{"day", "logins"}}
	for i := -6; i <= 0; i++ {
		d := addDays(today, i)
		t.rows = append(t.rows, []sql.NullString{str(d), num(counts[d])})
	}
	return t
}

func expectHourly(events []lakegen.Event, at string) table {
	end := mustTime(at)
	start := end.Add(-time.Hour)
	users := map[string]bool{}
	clicks, impressions := 0, 0
	for _, e := range events {
		ts := e.Time()
		if (e.EventType != "click" && e.EventType != "impression") || !inDt(e, day(start), day(end.Add(24*time.Hour))) ||
			ts.Before(start) || !ts.Before(end) {
			continue
		}
		users[e.UserID] = true
		if e.EventType == "click" {
			clicks++
		} else {
			impressions++
		}
	}
	return table{
		cols: []string{"unique_users", "clicks", "impressions"},
		rows: [][]sql.NullString{{num(len(users)), num(clicks), num(impressions)}},
	}
}

func expectActiveUsers(events []lakegen.Event, asOf string) table {
	periods := []struct {
		name string
		days int
	}{{"daily", 1}, {"weekly", 7}, {"monthly", 30}}
	t := table{cols: []string{"period", "days", "active_users"}}
	for _, p := range periods {
		users := map[string]bool{}
		for _, e := range events {
			d := e.Day()
			if inDt(e, addDays(asOf, -29), addDays(asOf, 1)) && d <= asOf && d > addDays(asOf, -p.days) {
				users[e.UserID] = true
			}
		}
		t.rows = append(t.rows, []sql.NullString{str(p.name), num(p.days), num(len(users))})
	}
	return t
}

type userStat struct {
	user, last string
	n          int
}

func expectLastSeen(events []lakegen.Event, fromS, toS string) table {
	from, to := mustTime(fromS), mustTime(toS)
	stats := map[string]*userStat{}
	for _, e := range events {
		ts := e.Time()
		if !inDt(e, day(from), day(to.Add(24*time.Hour))) || ts.Before(from) || !ts.Before(to) {
			continue
		}
		s := stats[e.UserID]
		if s == nil {
			s = &userStat{user: e.UserID}
			stats[e.UserID] = s
		}
		s.n++
		s.last = max(s.last, e.EventAt)
	}
	list := slices.Collect(maps.Values(stats))
	slices.SortFunc(list, func(a, b *userStat) int {
		if c := strings.Compare(b.last, a.last); c != 0 {
			return c
		}
		return strings.Compare(a.user, b.user)
	})
	t := table{cols: []string{"user_id", "last_seen", "actions"}}
	for _, s := range list {
		t.rows = append(t.rows, []sql.NullString{str(s.user), str(s.last), num(s.n)})
	}
	return t
}

func expectRotting(events []lakegen.Event, since, asOf string, days int) table {
	stats := map[string]*userStat{}
	for _, e := range events {
		d := e.Day()
		if !inDt(e, since, addDays(asOf, 1)) || d < since || d > asOf {
			continue
		}
		s := stats[e.UserID]
		if s == nil {
			s = &userStat{user: e.UserID}
			stats[e.UserID] = s
		}
		s.n++
		s.last = max(s.last, e.EventAt)
	}
	var list []*userStat
	for _, s := range stats {
		if s.last[:10] <= addDays(asOf, -days) {
			list = append(list, s)
		}
	}
	slices.SortFunc(list, func(a, b *userStat) int {
		if c := strings.Compare(a.last, b.last); c != 0 {
			return c
		}
		return strings.Compare(a.user, b.user)
	})
	t := table{cols: []string{"user_id", "last_seen", "actions"}}
	for _, s := range list {
		t.rows = append(t.rows, []sql.NullString{str(s.user), str(s.last), num(s.n)})
	}
	return t
}

func visitor(e lakegen.Event) string {
	if fp, ok := e.Attributes["fingerprint"]; ok {
		return fp
	}
	return e.UserID
}

func expectAttribution(events []lakegen.Event, from, to string, lookback int) table {
	var signups, views []lakegen.Event
	for _, e := range events {
		switch {
		case e.EventType == "signup" && inDt(e, from, addDays(to, 1)) && e.Day() >= from && e.Day() <= to:
			signups = append(signups, e)
		case e.EventType == "page_view" && inDt(e, addDays(from, -lookback), addDays(to, 1)):
			views = append(views, e)
		}
	}
	slices.SortFunc(signups, func(a, b lakegen.Event) int {
		return strings.Compare(a.EventAt+"|"+a.UserID+"|"+a.EventID, b.EventAt+"|"+b.UserID+"|"+b.EventID)
	})
	t := table{cols: []string{"user_id", "signed_up_at", "first_touch_at", "first_referrer", "first_campaign",
		"last_touch_at", "last_referrer", "last_campaign"}}
	for _, s := range signups {
		st := s.Time()
		var touches []lakegen.Event
		for _, p := range views {
			pt := p.Time()
			if visitor(p) == visitor(s) && pt.Before(st) && !pt.Before(st.AddDate(0, 0, -lookback)) {
				touches = append(touches, p)
			}
		}
		slices.SortFunc(touches, func(a, b lakegen.Event) int {
			return strings.Compare(a.EventAt+"|"+a.EventID, b.EventAt+"|"+b.EventID)
		})
		row := []sql.NullString{str(s.UserID), str(s.EventAt)}
		if len(touches) == 0 {
			row = append(row, make([]sql.NullString, 6)...)
		} else {
			f, l := touches[0], touches[len(touches)-1]
			row = append(row, str(f.EventAt), opt(f.Attributes["referrer"]), opt(f.Attributes["campaign"]),
				str(l.EventAt), opt(l.Attributes["referrer"]), opt(l.Attributes["campaign"]))
		}
		t.rows = append(t.rows, row)
	}
	return t
}

func expectDevices(events []lakegen.Event, from, to string) table {
	type key struct{ device, browser, os string }
	type agg struct {
		events int
		users  map[string]bool
	}
	groups := map[key]*agg{}
	for _, e := range events {
		if !inDt(e, from, addDays(to, 1)) || e.Day() < from || e.Day() > to {
			continue
		}
		a := lakegen.AgentOf(e.UserAgent)
		k := key{a.Device, a.Browser, a.OS}
		g := groups[k]
		if g == nil {
			g = &agg{users: map[string]bool{}}
			groups[k] = g
		}
		g.events++
		g.users[e.UserID] = true
	}
	keys := slices.Collect(maps.Keys(groups))
	slices.SortFunc(keys, func(a, b key) int {
		ga, gb := groups[a], groups[b]
		if ga.events != gb.events {
			return gb.events - ga.events
		}
		if len(ga.users) != len(gb.users) {
			return len(gb.users) - len(ga.users)
		}
		return strings.Compare(fmt.Sprint(a.device, "\x00", a.browser, "\x00", a.os), fmt.Sprint(b.device, "\x00", b.browser, "\x00", b.os))
	})
	t := table{cols: []string{"device", "browser", "os", "events", "users"}}
	for _, k := range keys {
		g := groups[k]
		t.rows = append(t.rows, []sql.NullString{str(k.device), str(k.browser), str(k.os), num(g.events), num(len(g.users))})
	}
	return t
}
