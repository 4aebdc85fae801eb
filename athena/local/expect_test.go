package local_test

// The expected answer of every query, computed in Go from the generated
// events (lakegen.Dataset.Events: each event once, as the pipeline lands
// it), following each query's header comment and docs/athena.md rather than
// its SQL: the identity rule (the first link wins), who counts as a person,
// the touch rule, the session rule, the rounding.

import (
	"cmp"
	"database/sql"
	"fmt"
	"maps"
	"net/netip"
	"net/url"
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

var null = sql.NullString{}

func attrText(m map[string]string) sql.NullString {
	if len(m) == 0 {
		return null
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return str("{" + strings.Join(parts, ", ") + "}")
}

// hundredths returns num/den rounded half up to two decimals, as the
// queries' decimals render ("3.50"); num and den are not negative.
func hundredths(num, den int64) sql.NullString {
	h := (200*num + den) / (2 * den)
	return str(fmt.Sprintf("%d.%02d", h/100, h%100))
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

// inDt reports whether e lies in the partitions [lo, hi] (hi "" for none).
func inDt(e lakegen.Event, lo, hi string) bool { return e.Dt >= lo && (hi == "" || e.Dt <= hi) }

// model is the history with the identity rule applied.
type model struct {
	events []lakegen.Event
	// link maps each anonymous ID to the user of its earliest event (by
	// event_at, then event_id, then user_id) that carries both IDs: the
	// first link wins.
	link map[string]lakegen.Event
	// firstLink is each user's earliest link time.
	firstLink map[string]string
}

// linkOrder orders two links of an anonymous ID: by event_at, then
// event_id, then user_id.
func linkOrder(a, b lakegen.Event) int {
	return cmp.Or(strings.Compare(a.EventAt, b.EventAt), strings.Compare(a.EventID, b.EventID), strings.Compare(a.UserID, b.UserID))
}

func newModel(events []lakegen.Event) *model {
	m := &model{events: events, link: map[string]lakegen.Event{}, firstLink: map[string]string{}}
	for _, e := range events {
		if e.UserID == "" || e.AnonymousID == "" {
			continue
		}
		if old, ok := m.link[e.AnonymousID]; !ok || linkOrder(e, old) < 0 {
			m.link[e.AnonymousID] = e
		}
	}
	for _, l := range m.link {
		if t, ok := m.firstLink[l.UserID]; !ok || l.EventAt < t {
			m.firstLink[l.UserID] = l.EventAt
		}
	}
	return m
}

// user is the person an event belongs to when that person is a user: its
// own user ID, else the user its anonymous ID became; "" for a visitor.
func (m *model) user(e lakegen.Event) string {
	if e.UserID != "" {
		return e.UserID
	}
	return m.link[e.AnonymousID].UserID
}

// visitor is the anonymous ID of an event of a never-identified visitor.
func (m *model) visitor(e lakegen.Event) string {
	if m.user(e) == "" {
		return e.AnonymousID
	}
	return ""
}

func expectRecentActivity(m *model, user, since string) table {
	from := mustTime(since)
	var hits []lakegen.Event
	for _, e := range m.events {
		if m.user(e) == user && inDt(e, day(from), "") && !e.Time().Before(from) {
			hits = append(hits, e)
		}
	}
	slices.SortFunc(hits, func(a, b lakegen.Event) int {
		return strings.Compare(b.EventAt+"|"+b.EventID, a.EventAt+"|"+a.EventID)
	})
	t := table{cols: []string{"event_at", "event_type", "event_id", "user_id", "anonymous_id", "device_type", "browser", "os",
		"is_bot", "user_agent", "ip_address", "attributes"}}
	for i, e := range hits {
		if i == 100 {
			break
		}
		t.rows = append(t.rows, []sql.NullString{str(e.EventAt), str(e.EventType), str(e.EventID), opt(e.UserID), opt(e.AnonymousID),
			opt(e.DeviceType), opt(e.Browser), opt(e.OS), str(strconv.FormatBool(e.IsBot)), opt(e.UserAgent), opt(e.IPAddress),
			attrText(e.Attributes)})
	}
	return t
}

func expectLoginsPerDay(m *model, today string) table {
	counts := map[string]int{}
	for _, e := range m.events {
		if e.EventType == "login" && !e.IsBot {
			counts[e.Dt]++
		}
	}
	t := table{cols: []string{"day", "logins"}}
	for i := -6; i <= 0; i++ {
		d := addDays(today, i)
		t.rows = append(t.rows, []sql.NullString{str(d), num(counts[d])})
	}
	return t
}

func expectHourly(m *model, at string) table {
	end := mustTime(at)
	start := end.Add(-time.Hour)
	users, visitors := map[string]bool{}, map[string]bool{}
	clicks, impressions := 0, 0
	for _, e := range m.events {
		ts := e.Time()
		if (e.EventType != "click" && e.EventType != "impression") || e.IsBot || ts.Before(start) || !ts.Before(end) {
			continue
		}
		if u := m.user(e); u != "" {
			users[u] = true
		} else {
			visitors[e.AnonymousID] = true
		}
		if e.EventType == "click" {
			clicks++
		} else {
			impressions++
		}
	}
	return table{
		cols: []string{"unique_users", "clicks", "impressions", "visitors"},
		rows: [][]sql.NullString{{num(len(users)), num(clicks), num(impressions), num(len(visitors))}},
	}
}

func expectActiveUsers(m *model, asOf string) table {
	periods := []struct {
		name string
		days int
	}{{"daily", 1}, {"weekly", 7}, {"monthly", 30}}
	t := table{cols: []string{"period", "days", "active_users", "visitors"}}
	for _, p := range periods {
		users, visitors := map[string]bool{}, map[string]bool{}
		for _, e := range m.events {
			if e.IsBot || e.Dt > asOf || e.Dt <= addDays(asOf, -p.days) {
				continue
			}
			if u := m.user(e); u != "" {
				users[u] = true
			} else {
				visitors[e.AnonymousID] = true
			}
		}
		t.rows = append(t.rows, []sql.NullString{str(p.name), num(p.days), num(len(users)), num(len(visitors))})
	}
	return t
}

type userStat struct {
	user, last string
	n          int
}

// lastSeen gathers, per user, the last event time and the number of events
// of the non-bot events that pass keep.
func lastSeen(m *model, keep func(lakegen.Event) bool) []*userStat {
	stats := map[string]*userStat{}
	for _, e := range m.events {
		u := m.user(e)
		if u == "" || e.IsBot || !keep(e) {
			continue
		}
		s := stats[u]
		if s == nil {
			s = &userStat{user: u}
			stats[u] = s
		}
		s.n++
		s.last = max(s.last, e.EventAt)
	}
	return slices.Collect(maps.Values(stats))
}

func expectLastSeen(m *model, fromS, toS string) table {
	from, to := mustTime(fromS), mustTime(toS)
	list := lastSeen(m, func(e lakegen.Event) bool { ts := e.Time(); return !ts.Before(from) && ts.Before(to) })
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

func expectRotting(m *model, since, asOf string, days int) table {
	var list []*userStat
	for _, s := range lastSeen(m, func(e lakegen.Event) bool { return inDt(e, since, asOf) }) {
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

// median is the median of sorted values (the mean of the two
// middle ones for an even count) divided by div, in hundredths rounded half
// up.
func median(sorted []int64, div int64) sql.NullString {
	n := len(sorted)
	lo, hi := sorted[(n-1)/2], sorted[n/2]
	if lo == hi {
		return hundredths(lo, div)
	}
	return hundredths(lo+hi, 2*div)
}

func expectUsageFrequency(m *model, from, to string) table {
	days := map[string]map[string]bool{}
	for _, e := range m.events {
		u := m.user(e)
		if u == "" || e.IsBot || !inDt(e, from, to) {
			continue
		}
		if days[u] == nil {
			days[u] = map[string]bool{}
		}
		days[u][e.Dt] = true
	}
	var counts []int64
	var sum int64
	for _, d := range days {
		counts = append(counts, int64(len(d)))
		sum += int64(len(d))
	}
	slices.Sort(counts)
	n := int64(len(counts))
	t := table{cols: []string{"active_days", "min_days", "max_days", "users", "share_pct", "active_users", "average_days", "median_days"}}
	for _, b := range []struct {
		label    string
		min, max int64 // max 0: no upper bound
	}{{"1", 1, 1}, {"2-3", 2, 3}, {"4-7", 4, 7}, {"8-14", 8, 14}, {"15+", 15, 0}} {
		var users int64
		for _, c := range counts {
			if c >= b.min && (b.max == 0 || c <= b.max) {
				users++
			}
		}
		row := []sql.NullString{str(b.label), str(fmt.Sprint(b.min)), null, str(fmt.Sprint(users))}
		if b.max > 0 {
			row[2] = str(fmt.Sprint(b.max))
		}
		if n == 0 {
			row = append(row, null, num(0), null, null)
		} else {
			row = append(row, hundredths(100*users, n), str(fmt.Sprint(n)), hundredths(sum, n), median(counts, 1))
		}
		t.rows = append(t.rows, row)
	}
	return t
}

// sessionGap is the inactivity that ends a session.
const sessionGap = 30 * time.Minute

func expectSessions(m *model, from, to string) table {
	type key struct{ audience, person string }
	byPerson := map[key][]lakegen.Event{}
	for _, e := range m.events {
		if e.IsBot || !inDt(e, from, to) {
			continue
		}
		k := key{"users", m.user(e)}
		if k.person == "" {
			k = key{"visitors", e.AnonymousID}
		}
		byPerson[k] = append(byPerson[k], e)
	}
	type agg struct {
		people           int64
		durations, pages []int64
		durationSum      int64
	}
	aggs := map[string]*agg{"users": {}, "visitors": {}}
	for k, evs := range byPerson {
		a := aggs[k.audience]
		a.people++
		slices.SortFunc(evs, func(x, y lakegen.Event) int { return strings.Compare(x.EventAt+"|"+x.EventID, y.EventAt+"|"+y.EventID) })
		start, last, pages := evs[0].Time(), evs[0].Time(), int64(0)
		flush := func() {
			d := last.Sub(start).Milliseconds()
			a.durations = append(a.durations, d)
			a.pages = append(a.pages, pages)
			a.durationSum += d
		}
		for i, e := range evs {
			ts := e.Time()
			if i > 0 && ts.Sub(last) > sessionGap {
				flush()
				start, pages = ts, 0
			}
			last = ts
			if e.EventType == "page_view" || e.EventType == "screen" {
				pages++
			}
		}
		flush()
	}
	t := table{cols: []string{"audience", "people", "sessions", "sessions_per_person", "avg_duration_s", "median_duration_s", "avg_pages", "median_pages"}}
	for _, audience := range []string{"users", "visitors"} {
		a := aggs[audience]
		n := int64(len(a.durations))
		row := []sql.NullString{str(audience), str(fmt.Sprint(a.people)), str(fmt.Sprint(n))}
		if n == 0 {
			row = append(row, null, null, null, null, null)
			t.rows = append(t.rows, row)
			continue
		}
		var pageSum int64
		for _, p := range a.pages {
			pageSum += p
		}
		slices.Sort(a.durations)
		slices.Sort(a.pages)
		row = append(row, hundredths(n, a.people), hundredths(a.durationSum, 1000*n), median(a.durations, 1000),
			hundredths(pageSum, n), median(a.pages, 1))
		t.rows = append(t.rows, row)
	}
	return t
}

// host is the host of a URL as url_extract_host gives it for the URLs the
// generator writes, and whether there is a URL at all (false: NULL).
func host(raw string, present bool) (string, bool) {
	if !present {
		return "", false
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", false
	}
	return u.Hostname(), true
}

// isTouch reports whether a page view brought its visitor from outside:
// utm parameters, or a referrer whose host is not empty and differs from
// the page's (any referrer host counts when the page has no url).
func isTouch(a map[string]string) bool {
	for _, k := range []string{tracker.AttrUTMSource, tracker.AttrUTMMedium, tracker.AttrUTMCampaign} {
		if _, ok := a[k]; ok {
			return true
		}
	}
	ref, ok := a[tracker.AttrReferrer]
	rh, rok := host(ref, ok)
	if !rok || rh == "" {
		return false
	}
	u, ok := a[tracker.AttrURL]
	uh, uok := host(u, ok)
	return !uok || rh != uh
}

func byTime(a, b lakegen.Event) int {
	return strings.Compare(a.EventAt+"|"+a.EventID, b.EventAt+"|"+b.EventID)
}

func expectAttribution(m *model, from, to string, lookback int) table {
	var signups, touches []lakegen.Event
	for _, e := range m.events {
		switch {
		case e.IsBot:
		case e.EventType == "signup" && e.UserID != "" && inDt(e, from, to):
			signups = append(signups, e)
		case e.EventType == "page_view" && m.user(e) != "" && inDt(e, addDays(from, -lookback), to) && isTouch(e.Attributes):
			touches = append(touches, e)
		}
	}
	slices.SortFunc(signups, func(a, b lakegen.Event) int {
		return strings.Compare(a.EventAt+"|"+a.UserID+"|"+a.EventID, b.EventAt+"|"+b.UserID+"|"+b.EventID)
	})
	t := table{cols: []string{"user_id", "signed_up_at", "touches",
		"first_touch_at", "first_referrer", "first_utm_source", "first_utm_medium", "first_utm_campaign",
		"last_touch_at", "last_referrer", "last_utm_source", "last_utm_medium", "last_utm_campaign"}}
	touch := func(e lakegen.Event) []sql.NullString {
		a := e.Attributes
		return []sql.NullString{str(e.EventAt), opt(a["referrer"]), opt(a["utm_source"]), opt(a["utm_medium"]), opt(a["utm_campaign"])}
	}
	for _, s := range signups {
		earliest := s.Time().AddDate(0, 0, -lookback)
		var mine []lakegen.Event
		for _, p := range touches {
			if m.user(p) == s.UserID && p.EventAt < s.EventAt && !p.Time().Before(earliest) {
				mine = append(mine, p)
			}
		}
		slices.SortFunc(mine, byTime)
		row := []sql.NullString{str(s.UserID), str(s.EventAt), num(len(mine))}
		if len(mine) == 0 {
			row = append(row, make([]sql.NullString, 10)...)
		} else {
			row = append(append(row, touch(mine[0])...), touch(mine[len(mine)-1])...)
		}
		t.rows = append(t.rows, row)
	}
	return t
}

func expectConversions(m *model, from, to string) table {
	type visitor struct {
		user, firstSeen, signedUp string
		views                     []lakegen.Event
	}
	people := map[string]*visitor{}
	signups := map[string]string{}
	for _, e := range m.events {
		if e.IsBot || !inDt(e, from, to) {
			continue
		}
		switch e.EventType {
		case "page_view":
			u := m.user(e)
			key := "u#" + u
			if u == "" {
				key = "a#" + e.AnonymousID
			}
			v := people[key]
			if v == nil {
				v = &visitor{user: u, firstSeen: e.EventAt}
				people[key] = v
			}
			v.firstSeen = min(v.firstSeen, e.EventAt)
			v.views = append(v.views, e)
		case "signup":
			if s, ok := signups[e.UserID]; e.UserID != "" && (!ok || e.EventAt < s) {
				signups[e.UserID] = e.EventAt
			}
		}
	}
	type group struct {
		source, medium, campaign string
		visitors, signups        int64
		ms                       []int64
		pages                    int64
	}
	groups := map[[3]string]*group{}
	for _, v := range people {
		if v.user != "" {
			if l, ok := m.firstLink[v.user]; !ok || l <= v.firstSeen {
				continue // identified before they were first seen
			}
			if s, ok := signups[v.user]; ok && s >= v.firstSeen {
				v.signedUp = s
			}
		}
		slices.SortFunc(v.views, byTime)
		k := [3]string{"(direct)", "(none)", "(none)"}
		for _, e := range v.views {
			if v.signedUp != "" && e.EventAt >= v.signedUp {
				break
			}
			if !isTouch(e.Attributes) {
				continue
			}
			a := e.Attributes
			_, s := a[tracker.AttrUTMSource]
			_, md := a[tracker.AttrUTMMedium]
			_, c := a[tracker.AttrUTMCampaign]
			if s || md || c {
				k = [3]string{cmpOr(a[tracker.AttrUTMSource], "(not set)"), cmpOr(a[tracker.AttrUTMMedium], "(not set)"), cmpOr(a[tracker.AttrUTMCampaign], "(not set)")}
			} else {
				h, _ := host(a[tracker.AttrReferrer], true)
				k = [3]string{h, "referral", "(none)"}
			}
			break
		}
		g := groups[k]
		if g == nil {
			g = &group{source: k[0], medium: k[1], campaign: k[2]}
			groups[k] = g
		}
		g.visitors++
		if v.signedUp != "" {
			g.signups++
			g.ms = append(g.ms, mustTime(v.signedUp).Sub(mustTime(v.firstSeen)).Milliseconds())
			for _, e := range v.views {
				if e.EventAt < v.signedUp {
					g.pages++
				}
			}
		}
	}
	list := slices.Collect(maps.Values(groups))
	slices.SortFunc(list, func(a, b *group) int {
		if a.visitors != b.visitors {
			return int(b.visitors - a.visitors)
		}
		if a.signups != b.signups {
			return int(b.signups - a.signups)
		}
		return strings.Compare(a.source+"\x00"+a.medium+"\x00"+a.campaign, b.source+"\x00"+b.medium+"\x00"+b.campaign)
	})
	t := table{cols: []string{"source", "medium", "campaign", "visitors", "signups", "conversion_pct", "avg_hours_to_signup",
		"fastest_hours", "longest_hours", "avg_pages_before_signup"}}
	const hour = 3_600_000
	for _, g := range list {
		row := []sql.NullString{str(g.source), str(g.medium), str(g.campaign), str(fmt.Sprint(g.visitors)), str(fmt.Sprint(g.signups)),
			hundredths(100*g.signups, g.visitors)}
		if g.signups == 0 {
			row = append(row, null, null, null, null)
		} else {
			var sum int64
			for _, ms := range g.ms {
				sum += ms
			}
			row = append(row, hundredths(sum, hour*g.signups), hundredths(slices.Min(g.ms), hour), hundredths(slices.Max(g.ms), hour),
				hundredths(g.pages, g.signups))
		}
		t.rows = append(t.rows, row)
	}
	return t
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// network is an address's /24 (IPv4) or /48 (IPv6), written as the query
// writes it: the first three octets or groups.
func network(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		panic(err)
	}
	if a.Is4() {
		b := a.As4()
		return fmt.Sprintf("%d.%d.%d.0/24", b[0], b[1], b[2])
	}
	b := a.As16()
	return fmt.Sprintf("%x:%x:%x::/48", uint16(b[0])<<8|uint16(b[1]), uint16(b[2])<<8|uint16(b[3]), uint16(b[4])<<8|uint16(b[5]))
}

func expectSharing(m *model, from, to string, maxNetworks, maxDevices int) table {
	type agg struct {
		user              string
		networks, devices map[string]int
		events            int
	}
	users := map[string]*agg{}
	for _, e := range m.events {
		u := m.user(e)
		if u == "" || e.IsBot || !inDt(e, from, to) {
			continue
		}
		a := users[u]
		if a == nil {
			a = &agg{user: u, networks: map[string]int{}, devices: map[string]int{}}
			users[u] = a
		}
		a.events++
		if e.IPAddress != "" {
			a.networks[network(e.IPAddress)]++
		}
		a.devices[cmpOr(e.DeviceType, "unknown")+" "+cmpOr(e.Browser, "unknown")+" "+cmpOr(e.OS, "unknown")]++
	}
	top := func(counts map[string]int) sql.NullString {
		items := slices.Collect(maps.Keys(counts))
		slices.SortFunc(items, func(a, b string) int {
			if counts[a] != counts[b] {
				return counts[b] - counts[a]
			}
			return strings.Compare(a, b)
		})
		var parts []string
		for i, it := range items {
			if i == 10 {
				break
			}
			parts = append(parts, fmt.Sprintf("%s (%d)", it, counts[it]))
		}
		return opt(strings.Join(parts, ", "))
	}
	var flagged []*agg
	for _, a := range users {
		if len(a.networks) > maxNetworks || len(a.devices) > maxDevices {
			flagged = append(flagged, a)
		}
	}
	slices.SortFunc(flagged, func(a, b *agg) int {
		if len(a.networks) != len(b.networks) {
			return len(b.networks) - len(a.networks)
		}
		if len(a.devices) != len(b.devices) {
			return len(b.devices) - len(a.devices)
		}
		return strings.Compare(a.user, b.user)
	})
	t := table{cols: []string{"user_id", "networks", "devices", "events", "top_networks", "top_devices"}}
	for _, a := range flagged {
		t.rows = append(t.rows, []sql.NullString{str(a.user), num(len(a.networks)), num(len(a.devices)), num(a.events),
			top(a.networks), top(a.devices)})
	}
	return t
}

func expectDevices(m *model, from, to string) table {
	type key struct {
		bot                 bool
		device, browser, os string
	}
	type agg struct {
		events          int
		users, visitors map[string]bool
	}
	groups := map[key]*agg{}
	for _, e := range m.events {
		if !inDt(e, from, to) {
			continue
		}
		k := key{e.IsBot, cmpOr(e.DeviceType, "unknown"), cmpOr(e.Browser, "unknown"), cmpOr(e.OS, "unknown")}
		g := groups[k]
		if g == nil {
			g = &agg{users: map[string]bool{}, visitors: map[string]bool{}}
			groups[k] = g
		}
		g.events++
		if e.IsBot {
			continue
		}
		if u := m.user(e); u != "" {
			g.users[u] = true
		} else {
			g.visitors[e.AnonymousID] = true
		}
	}
	keys := slices.Collect(maps.Keys(groups))
	slices.SortFunc(keys, func(a, b key) int {
		ga, gb := groups[a], groups[b]
		switch {
		case a.bot != b.bot:
			if a.bot {
				return 1
			}
			return -1
		case ga.events != gb.events:
			return gb.events - ga.events
		case len(ga.users) != len(gb.users):
			return len(gb.users) - len(ga.users)
		case len(ga.visitors) != len(gb.visitors):
			return len(gb.visitors) - len(ga.visitors)
		}
		return strings.Compare(a.device+"\x00"+a.browser+"\x00"+a.os, b.device+"\x00"+b.browser+"\x00"+b.os)
	})
	t := table{cols: []string{"device", "browser", "os", "events", "users", "visitors"}}
	for _, k := range keys {
		g := groups[k]
		t.rows = append(t.rows, []sql.NullString{str(k.device), str(k.browser), str(k.os), num(g.events), num(len(g.users)), num(len(g.visitors))})
	}
	return t
}

// dayRange lists the days from..to, inclusive.
func dayRange(from, to string) []string {
	var out []string
	for d := from; d <= to; d = addDays(d, 1) {
		out = append(out, d)
	}
	return out
}

func expectActiveUsersByDay(m *model, from, to string) table {
	t := table{cols: []string{"day", "daily_users", "weekly_users", "monthly_users", "daily_visitors", "weekly_visitors", "monthly_visitors"}}
	for _, d := range dayRange(from, to) {
		// The same people active_users counts as of d, period by period.
		a := expectActiveUsers(m, d)
		row := []sql.NullString{str(d)}
		for _, col := range []int{2, 3} { // active_users, then visitors
			for _, period := range a.rows {
				row = append(row, period[col])
			}
		}
		t.rows = append(t.rows, row)
	}
	return t
}

func expectLoginsByDay(m *model, from, to string) table {
	logins := map[string]int{}
	users := map[string]map[string]bool{}
	for _, e := range m.events {
		if e.EventType != "login" || e.IsBot {
			continue
		}
		logins[e.Dt]++
		if e.UserID != "" {
			if users[e.Dt] == nil {
				users[e.Dt] = map[string]bool{}
			}
			users[e.Dt][e.UserID] = true
		}
	}
	t := table{cols: []string{"day", "logins", "users"}}
	for _, d := range dayRange(from, to) {
		t.rows = append(t.rows, []sql.NullString{str(d), num(logins[d]), num(len(users[d]))})
	}
	return t
}

func expectClicksByHour(m *model, from, to string) table {
	t := table{cols: []string{"hour", "unique_users", "clicks", "impressions", "visitors"}}
	for _, d := range dayRange(from, to) {
		for h := range 24 {
			start := mustDay(d).Add(time.Duration(h) * time.Hour)
			// The same counts hourly_clicks_impressions gives for the hour
			// ending at start + 1 hour.
			one := expectHourly(m, start.Add(time.Hour).Format(time.RFC3339))
			t.rows = append(t.rows, append([]sql.NullString{str(start.Format(time.RFC3339))}, one.rows[0]...))
		}
	}
	return t
}
