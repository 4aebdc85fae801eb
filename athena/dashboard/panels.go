package dashboard

import (
	"cmp"
	"database/sql"
	"fmt"
	"html/template"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/tracker"
)

// pageView is what the template renders.
type pageView struct {
	Title         string
	Style         template.CSS
	From, To      string
	Inactive      int
	MaxDays       int
	Ranges        []rangeLink
	RefreshURL    string
	Problems      []string
	Panels        []*panel
	Generated     time.Time
	Engine        string
	Scanned, Cost string
	Ran, Reused   int
	CostNote      string
	// MaxAge is the API's maximum age, for people: "5 minutes".
	MaxAge string
}

type rangeLink struct {
	Label, URL string
	Current    bool
}

// panel is one card of the page.
type panel struct {
	ID, Title, Explain string
	Wide               bool
	Legend             []legendItem
	Figures            []figure
	Stats              []stat
	Table              *tableView
	Empty              string
	Error              string
	Foot               string
	Sources            []source
}

type legendItem struct{ Class, Name string }

type stat struct{ Label, Value, Note string }

type tableView struct {
	// Stack shows each row as a card of label-value lines on a narrow
	// screen, for tables whose columns do not fit side by side.
	Stack   bool
	Columns []column
	Rows    [][]cell
	More    string
}

type column struct {
	Name string
	Num  bool
}

type cell struct {
	Text string
	URL  string
	Num  bool
	// Time, when set, is the cell's machine-readable time.
	Time string
	// List marks a long list of evidence, in a smaller type.
	List bool
}

// frame is the page without its panels.
func (h *Handler) frame(q request, now time.Time) pageView {
	today := now.UTC().Truncate(24 * time.Hour)
	p := pageView{Title: h.cfg.Title, Style: template.CSS(styleSource), From: q.from.Format(tracker.DateLayout),
		To: q.to.Format(tracker.DateLayout), Inactive: q.inactive, MaxDays: h.cfg.MaxDays, Generated: now.UTC(),
		RefreshURL: q.link(q.from, q.to, q.inactive, true), MaxAge: ageText(h.cfg.API.MaxAge())}
	for _, d := range []int{7, 30, 90} {
		from := today.AddDate(0, 0, -d+1)
		p.Ranges = append(p.Ranges, rangeLink{Label: fmt.Sprintf("Last %d days", d), URL: q.link(from, today, q.inactive, false),
			Current: q.from.Equal(from) && q.to.Equal(today)})
	}
	return p
}

// build fills the panels from the answers.
func (h *Handler) build(p *pageView, q request, now time.Time, jobs map[string]*job) {
	from, to := q.from.Format(tracker.DateLayout), q.to.Format(tracker.DateLayout)
	span := fmt.Sprintf("between %s and %s", from, to)
	// Wide panels span the grid; the others come in pairs.
	p.Panels = []*panel{
		h.overview(jobs, now, to),
		h.activity(jobs["active_users_by_day"], now, span, "users"),
		h.activity(jobs["active_users_by_day"], now, span, "visitors"),
		h.logins(jobs["logins_by_day"], now, span),
		h.devices(jobs["devices"], now, span),
		h.clicks(jobs["clicks_impressions_by_hour"], now, span),
		h.sessions(jobs["sessions"], now, span),
		h.frequency(jobs["usage_frequency"], now, span),
		h.campaigns(jobs["campaign_conversions"], now, span),
		h.attribution(jobs["signup_attribution"], now, span),
		h.rotting(jobs["rotting_accounts"], now, from, to, q.inactive),
		h.sharing(jobs["account_sharing"], now, span),
	}
	var scanned int64
	var billed float64
	for _, j := range jobs {
		if j.ans == nil {
			continue
		}
		p.Engine = j.ans.Result.Stats.Engine
		if j.ans.Cache == "hit" || j.ans.Result.Stats.Reused {
			p.Reused++
			continue
		}
		p.Ran++
		if b := j.ans.Result.Stats.BytesScanned; b > 0 {
			scanned += b
			billed += athena.Cost(b)
		}
	}
	p.Scanned = athena.FormatBytes(scanned)
	p.Cost = fmt.Sprintf("$%.4f", billed)
	if p.Engine != "athena" {
		p.CostNote = " (what Athena would bill for the bytes DuckDB read here)"
	}
}

// col returns the index of a result column, or -1.
func col(res *athena.Result, name string) int {
	return slices.IndexFunc(res.Columns, func(c athena.Column) bool { return c.Name == name })
}

func value(row []sql.NullString, i int) string {
	if i < 0 || i >= len(row) || !row[i].Valid {
		return ""
	}
	return row[i].String
}

func number(row []sql.NullString, i int) float64 {
	f, _ := strconv.ParseFloat(value(row, i), 64)
	return f
}

// dayLabel writes a day as "Nov 22".
func dayLabel(day string) string {
	t, err := time.Parse(tracker.DateLayout, day)
	if err != nil {
		return day
	}
	return t.Format("Jan 2")
}

// whenText writes an event time as "2026-11-22 10:31 UTC".
func whenText(s string) string {
	t, err := time.Parse(tracker.TimeLayout, s)
	if err != nil {
		if t, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return s
		}
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// figures draws a chart wide and narrow.
func figures(draw func(size) figure, wide size) []figure {
	return []figure{draw(wide), draw(narrowSize)}
}

func (h *Handler) overview(jobs map[string]*job, now time.Time, to string) *panel {
	p := &panel{ID: "overview", Title: "At a glance", Wide: true,
		Explain: "People active in the 1, 7 and 30 days ending " + to + " (UTC), and the last full hour's clicks and impressions, as seed 001's GET /analytics answers them.",
		Sources: []source{h.source(jobs["active_users"], now), h.source(jobs["hourly_clicks_impressions"], now)}}
	if res := answer(p, jobs["active_users"]); res != nil {
		names := map[string]string{"daily": "Daily active users", "weekly": "Weekly active users", "monthly": "Monthly active users"}
		for _, r := range res.Rows {
			p.Stats = append(p.Stats, stat{Label: names[value(r, col(res, "period"))], Value: count(number(r, col(res, "active_users"))),
				Note: "and " + visitors(number(r, col(res, "visitors")))})
		}
	}
	if res := answer(p, jobs["hourly_clicks_impressions"]); res != nil && len(res.Rows) == 1 {
		r := res.Rows[0]
		at, _ := time.Parse(time.RFC3339, jobs["hourly_clicks_impressions"].values.Get("at"))
		hour := at.Add(-time.Hour).Format("Jan 2 15:04") + "–" + at.Format("15:04") + " UTC"
		p.Stats = append(p.Stats,
			stat{Label: "Clicks, last hour", Value: count(number(r, col(res, "clicks"))), Note: hour},
			stat{Label: "Impressions, last hour", Value: count(number(r, col(res, "impressions"))), Note: hour},
			stat{Label: "Users who clicked or saw", Value: count(number(r, col(res, "unique_users"))),
				Note: "and " + visitors(number(r, col(res, "visitors"))) + ", " + hour})
	}
	return p
}

// activity draws active users or visitors per day.
func (h *Handler) activity(j *job, now time.Time, span, who string) *panel {
	p := &panel{ID: "active-" + who, Title: "Active " + who, Sources: []source{h.source(j, now)},
		Explain: "Each day, the " + who + " with an event that day, in the 7 days and in the 30 days ending with it (UTC days; bots never count)."}
	if who == "visitors" {
		p.Explain = "Each day, the anonymous visitors never identified as a user, active that day, in the 7 and in the 30 days ending with it. A visitor who signs up later counts as the user, also on earlier days."
	}
	res := answer(p, j)
	if res == nil {
		return p
	}
	var days, ticks []string
	ss := []series{{Name: "Daily", Class: "s0"}, {Name: "Weekly", Class: "s1"}, {Name: "Monthly", Class: "s2"}}
	total := 0.0
	for _, r := range res.Rows {
		d := value(r, col(res, "day"))
		days = append(days, d)
		ticks = append(ticks, dayLabel(d))
		for i, period := range []string{"daily", "weekly", "monthly"} {
			v := number(r, col(res, period+"_"+who))
			ss[i].Values = append(ss[i].Values, v)
			total += v
		}
	}
	if total == 0 {
		p.Empty = "Nobody was active " + span + ": no " + who + " in the lake for these days (or in the 30 days before them)."
		return p
	}
	for _, s := range ss {
		p.Legend = append(p.Legend, legendItem{s.Class, s.Name})
	}
	p.Figures = figures(func(sz size) figure {
		return lineChart(sz, "Daily, weekly and monthly active "+who+" per day "+span, who, "day (UTC)", days, ticks, ss)
	}, halfSize)
	last := len(res.Rows) - 1
	p.Foot = fmt.Sprintf("On %s: %s daily, %s weekly, %s monthly.", days[last], count(ss[0].Values[last]), count(ss[1].Values[last]), count(ss[2].Values[last]))
	return p
}

func (h *Handler) logins(j *job, now time.Time, span string) *panel {
	p := &panel{ID: "logins", Title: "Logins per day", Sources: []source{h.source(j, now)},
		Explain: "Login events per UTC day, bots' left out; the bar's tooltip gives the day's count."}
	res := answer(p, j)
	if res == nil {
		return p
	}
	var days, ticks []string
	s := series{Name: "Logins", Class: "s0"}
	var total, users float64
	best := -1
	for i, r := range res.Rows {
		d := value(r, col(res, "day"))
		days, ticks = append(days, d), append(ticks, dayLabel(d))
		v := number(r, col(res, "logins"))
		s.Values = append(s.Values, v)
		total += v
		users += number(r, col(res, "users"))
		if best < 0 || v > s.Values[best] {
			best = i
		}
	}
	if total == 0 {
		p.Empty = "No logins " + span + "."
		return p
	}
	p.Figures = figures(func(sz size) figure {
		return barChart(sz, "Logins per day "+span, "logins", "day (UTC)", days, ticks, []series{s}, "logins")
	}, halfSize)
	p.Stats = []stat{{Label: "Logins", Value: count(total), Note: fmt.Sprintf("%.1f a day", total/float64(len(days)))},
		{Label: "Busiest day", Value: count(s.Values[best]), Note: days[best]}}
	return p
}

func (h *Handler) clicks(j *job, now time.Time, span string) *panel {
	p := &panel{ID: "clicks", Title: "Clicks and impressions per hour", Wide: true, Sources: []source{h.source(j, now)},
		Explain: "Clicks and impressions of people (users and visitors; bots' left out) in each UTC hour."}
	res := answer(p, j)
	if res == nil {
		return p
	}
	var hours, ticks []string
	ss := []series{{Name: "Clicks", Class: "s0"}, {Name: "Impressions", Class: "s1"}}
	total := 0.0
	days := len(res.Rows) / 24
	for _, r := range res.Rows {
		hr := value(r, col(res, "hour"))
		hours = append(hours, hr)
		tick := ""
		if t, err := time.Parse(time.RFC3339, hr); err == nil {
			switch {
			case days <= 1 && t.Hour()%6 == 0:
				tick = t.Format("15:04")
			case days > 1 && t.Hour() == 0:
				tick = t.Format("Jan 2")
			}
		}
		ticks = append(ticks, tick)
		for i, c := range []string{"clicks", "impressions"} {
			v := number(r, col(res, c))
			ss[i].Values = append(ss[i].Values, v)
			total += v
		}
	}
	if total == 0 {
		p.Empty = "No clicks or impressions " + span + "."
		return p
	}
	for _, s := range ss {
		p.Legend = append(p.Legend, legendItem{s.Class, s.Name})
	}
	p.Figures = figures(func(sz size) figure {
		return lineChart(sz, "Clicks and impressions per hour "+span, "per hour", "hour (UTC)", hours, ticks, ss)
	}, fullSize)
	var c, i float64
	for k := range ss[0].Values {
		c += ss[0].Values[k]
		i += ss[1].Values[k]
	}
	p.Stats = []stat{{Label: "Clicks", Value: count(c), Note: fmt.Sprintf("%.1f an hour", c/float64(len(hours)))},
		{Label: "Impressions", Value: count(i), Note: fmt.Sprintf("%.1f an hour", i/float64(len(hours)))}}
	return p
}

func (h *Handler) devices(j *job, now time.Time, span string) *panel {
	p := &panel{ID: "devices", Title: "Devices", Sources: []source{h.source(j, now)},
		Explain: "Events per device type, as the tracker classified each user agent when it stored the event; below, the browsers and systems with most events."}
	res := answer(p, j)
	if res == nil {
		return p
	}
	byDevice := map[string]float64{}
	var order []string
	var botEvents, total float64
	t := &tableView{Columns: []column{{"Device", false}, {"Browser", false}, {"OS", false}, {"Events", true}, {"Users", true}, {"Visitors", true}}}
	shown := 0
	for _, r := range res.Rows {
		device, events := value(r, col(res, "device")), number(r, col(res, "events"))
		if device == "bot" {
			botEvents += events
			continue
		}
		total += events
		if _, ok := byDevice[device]; !ok {
			order = append(order, device)
		}
		byDevice[device] += events
		if shown < h.cfg.TableRows {
			shown++
			t.Rows = append(t.Rows, []cell{{Text: device}, {Text: value(r, col(res, "browser"))}, {Text: value(r, col(res, "os"))},
				{Text: count(events), Num: true}, {Text: count(number(r, col(res, "users"))), Num: true},
				{Text: count(number(r, col(res, "visitors"))), Num: true}})
		}
	}
	if total == 0 {
		p.Empty = "No events of people " + span + "."
		return p
	}
	slices.SortStableFunc(order, func(a, b string) int { return cmp.Compare(byDevice[b], byDevice[a]) })
	var rows []hbarRow
	for _, d := range order {
		rows = append(rows, hbarRow{Label: d, Values: []float64{byDevice[d]}, Note: fmt.Sprintf("%.0f%%", 100*byDevice[d]/total)})
	}
	ss := []series{{Name: "Events", Class: "s0"}}
	p.Figures = figures(func(sz size) figure { return hbarChart(sz, "Events per device type "+span, rows, ss) }, halfSize)
	p.Table = t
	if len(res.Rows) > shown {
		t.More = moreRows(len(res.Rows) - shown)
	}
	if botEvents > 0 {
		p.Foot = fmt.Sprintf("Bots (crawlers, scripts): %s events, never counted as users or visitors.", count(botEvents))
	}
	return p
}

// ageText writes a duration for people: "5 minutes", "1 hour", "90 seconds".
func ageText(d time.Duration) string {
	unit := func(n int64, one string) string {
		if n == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %ss", n, one)
	}
	switch {
	case d%time.Hour == 0:
		return unit(int64(d/time.Hour), "hour")
	case d%time.Minute == 0:
		return unit(int64(d/time.Minute), "minute")
	}
	return unit(int64(d/time.Second), "second")
}

func visitors(n float64) string {
	if n == 1 {
		return "1 visitor"
	}
	return count(n) + " visitors"
}

func moreRows(n int) string {
	if n == 1 {
		return "1 more row in the CSV."
	}
	return fmt.Sprintf("%d more rows in the CSV.", n)
}

func (h *Handler) sessions(j *job, now time.Time, span string) *panel {
	p := &panel{ID: "sessions", Title: "Sessions", Sources: []source{h.source(j, now)},
		Explain: "A person's events make one session until 30 minutes pass without one (the Snowplow rule); pages are page views and screens."}
	res := answer(p, j)
	if res == nil {
		return p
	}
	t := &tableView{Stack: true, Columns: []column{{"Who", false}, {"People", true}, {"Sessions", true}, {"Per person", true},
		{"Median length", true}, {"Median pages", true}}}
	var rows []hbarRow
	total := 0.0
	for _, r := range res.Rows {
		who, n := value(r, col(res, "audience")), number(r, col(res, "sessions"))
		total += n
		rows = append(rows, hbarRow{Label: who, Values: []float64{n}, Note: value(r, col(res, "sessions_per_person")) + " per person"})
		t.Rows = append(t.Rows, []cell{{Text: who}, {Text: count(number(r, col(res, "people"))), Num: true}, {Text: count(n), Num: true},
			{Text: orDash(value(r, col(res, "sessions_per_person"))), Num: true},
			{Text: duration(value(r, col(res, "median_duration_s"))), Num: true},
			{Text: orDash(value(r, col(res, "median_pages"))), Num: true}})
	}
	if total == 0 {
		p.Empty = "No sessions " + span + "."
		return p
	}
	ss := []series{{Name: "Sessions", Class: "s0"}}
	p.Figures = figures(func(sz size) figure { return hbarChart(sz, "Sessions of users and visitors "+span, rows, ss) }, halfSize)
	p.Table = t
	return p
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

// duration writes seconds ("754.50") as "12m 35s".
func duration(s string) string {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return "–"
	}
	d := time.Duration(f * float64(time.Second)).Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm %02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	}
	return fmt.Sprintf("%dh %02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

func (h *Handler) frequency(j *job, now time.Time, span string) *panel {
	p := &panel{ID: "frequency", Title: "Usage frequency", Sources: []source{h.source(j, now)},
		Explain: "How many days each active user came back in the range: users per number of active days."}
	res := answer(p, j)
	if res == nil {
		return p
	}
	var labels []string
	s := series{Name: "Users", Class: "s0"}
	for _, r := range res.Rows {
		labels = append(labels, value(r, col(res, "active_days"))+" days")
		s.Values = append(s.Values, number(r, col(res, "users")))
	}
	if len(res.Rows) == 0 || number(res.Rows[0], col(res, "active_users")) == 0 {
		p.Empty = "No active users " + span + "."
		return p
	}
	labels[0] = "1 day"
	p.Figures = figures(func(sz size) figure {
		return barChart(sz, "Users per number of active days "+span, "users", "active days in the range", labels, labels, []series{s}, "users")
	}, halfSize)
	r := res.Rows[0]
	p.Stats = []stat{{Label: "Active users", Value: count(number(r, col(res, "active_users")))},
		{Label: "Average", Value: value(r, col(res, "average_days")), Note: "active days"},
		{Label: "Median", Value: value(r, col(res, "median_days")), Note: "active days"}}
	return p
}

// firstTouch names a signup's first touch: its utm source and medium, else
// the referrer's host, else direct.
func firstTouch(res *athena.Result, r []sql.NullString, prefix string) string {
	src, medium := value(r, col(res, prefix+"utm_source")), value(r, col(res, prefix+"utm_medium"))
	campaign := value(r, col(res, prefix+"utm_campaign"))
	switch {
	case src != "" || medium != "" || campaign != "":
		s := cmp.Or(src, "(not set)") + " / " + cmp.Or(medium, "(not set)")
		if campaign != "" {
			s += " / " + campaign
		}
		return s
	case value(r, col(res, prefix+"referrer")) != "":
		ref := value(r, col(res, prefix+"referrer"))
		if u, err := url.Parse(ref); err == nil && u.Host != "" {
			ref = u.Host
		}
		return ref + " / referral"
	case value(r, col(res, prefix+"touch_at")) == "":
		return "(direct)"
	}
	return "(unknown)"
}

func (h *Handler) attribution(j *job, now time.Time, span string) *panel {
	p := &panel{ID: "attribution", Title: "Signups by first touch", Wide: true, Sources: []source{h.source(j, now)},
		Explain: fmt.Sprintf("Each signup's first touch in the %d days before it (a page view from a campaign or another site), its last touch and the touches between; below, the latest signups.", h.cfg.Lookback)}
	res := answer(p, j)
	if res == nil {
		return p
	}
	if len(res.Rows) == 0 {
		p.Empty = "No signups " + span + "."
		return p
	}
	by := map[string]float64{}
	for _, r := range res.Rows {
		by[firstTouch(res, r, "first_")]++
	}
	keys := make([]string, 0, len(by))
	for k := range by {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(cmp.Compare(by[b], by[a]), strings.Compare(a, b)) })
	var rows []hbarRow
	for i, k := range keys {
		if i == 8 {
			break
		}
		rows = append(rows, hbarRow{Label: k, Values: []float64{by[k]}})
	}
	ss := []series{{Name: "Signups", Class: "s0"}}
	p.Figures = figures(func(sz size) figure { return hbarChart(sz, "Signups by first touch "+span, rows, ss) }, fullSize)
	t := &tableView{Stack: true, Columns: []column{{"User", false}, {"Signed up", false}, {"First touch", false}, {"Last touch", false}, {"Touches", true}}}
	for i := len(res.Rows) - 1; i >= 0 && len(t.Rows) < h.cfg.TableRows; i-- {
		r := res.Rows[i]
		u := value(r, col(res, "user_id"))
		t.Rows = append(t.Rows, []cell{{Text: u, URL: h.userURL(u)}, {Text: whenText(value(r, col(res, "signed_up_at"))), Time: value(r, col(res, "signed_up_at"))},
			{Text: firstTouch(res, r, "first_")}, {Text: firstTouch(res, r, "last_")}, {Text: value(r, col(res, "touches")), Num: true}})
	}
	if n := len(res.Rows) - len(t.Rows); n > 0 {
		t.More = moreRows(n)
	}
	p.Table = t
	p.Stats = []stat{{Label: "Signups", Value: count(float64(len(res.Rows)))}}
	return p
}

func (h *Handler) campaigns(j *job, now time.Time, span string) *panel {
	p := &panel{ID: "campaigns", Title: "Conversions by campaign", Wide: true, Sources: []source{h.source(j, now)},
		Explain: "New visitors by the source, medium and campaign of their first touch, and those who signed up after it (utm parameters, else the referring site; direct without either)."}
	res := answer(p, j)
	if res == nil {
		return p
	}
	if len(res.Rows) == 0 {
		p.Empty = "No new visitors " + span + "."
		return p
	}
	var rows []hbarRow
	t := &tableView{Stack: true, Columns: []column{{"Source", false}, {"Medium", false}, {"Campaign", false}, {"Visitors", true}, {"Signups", true},
		{"Converted", true}, {"Hours to signup", true}, {"Pages before", true}}}
	for i, r := range res.Rows {
		label := value(r, col(res, "source")) + " / " + value(r, col(res, "medium")) + " / " + value(r, col(res, "campaign"))
		v, s := number(r, col(res, "visitors")), number(r, col(res, "signups"))
		if i < 10 {
			rows = append(rows, hbarRow{Label: label, Values: []float64{v, s}, Note: value(r, col(res, "conversion_pct")) + "% converted"})
		}
		if i < h.cfg.TableRows {
			t.Rows = append(t.Rows, []cell{{Text: value(r, col(res, "source"))}, {Text: value(r, col(res, "medium"))}, {Text: value(r, col(res, "campaign"))},
				{Text: count(v), Num: true}, {Text: count(s), Num: true}, {Text: value(r, col(res, "conversion_pct")) + "%", Num: true},
				{Text: orDash(value(r, col(res, "avg_hours_to_signup"))), Num: true}, {Text: orDash(value(r, col(res, "avg_pages_before_signup"))), Num: true}})
		}
	}
	if n := len(res.Rows) - len(t.Rows); n > 0 {
		t.More = moreRows(n)
	}
	ss := []series{{Name: "Visitors", Class: "s0"}, {Name: "Signups", Class: "s1"}}
	for _, s := range ss {
		p.Legend = append(p.Legend, legendItem{s.Class, s.Name})
	}
	p.Figures = figures(func(sz size) figure { return hbarChart(sz, "Visitors and signups by campaign "+span, rows, ss) }, fullSize)
	p.Table = t
	return p
}

func (h *Handler) rotting(j *job, now time.Time, from, to string, inactive int) *panel {
	p := &panel{ID: "rotting", Title: "Rotting accounts", Sources: []source{h.source(j, now)},
		Explain: fmt.Sprintf("Users active between %s and %s whose last event is %d days or more before %s: longest gone first.", from, to, inactive, to)}
	res := answer(p, j)
	if res == nil {
		return p
	}
	if len(res.Rows) == 0 {
		p.Empty = fmt.Sprintf("No rotting accounts: every user active between %s and %s came back in the last %d days.", from, to, inactive)
		return p
	}
	end, _ := time.Parse(tracker.DateLayout, to)
	t := &tableView{Columns: []column{{"User", false}, {"Last seen", false}, {"Days gone", true}, {"Events", true}}}
	for _, r := range res.Rows {
		if len(t.Rows) == h.cfg.TableRows {
			break
		}
		u, last := value(r, col(res, "user_id")), value(r, col(res, "last_seen"))
		gone := ""
		if d, err := time.Parse(tracker.DateLayout, last[:min(10, len(last))]); err == nil {
			gone = strconv.Itoa(int(end.Sub(d).Hours() / 24))
		}
		t.Rows = append(t.Rows, []cell{{Text: u, URL: h.userURL(u)}, {Text: whenText(last), Time: last}, {Text: gone, Num: true},
			{Text: count(number(r, col(res, "actions"))), Num: true}})
	}
	if n := len(res.Rows) - len(t.Rows); n > 0 {
		t.More = moreRows(n)
	}
	p.Table = t
	p.Stats = []stat{{Label: "Rotting accounts", Value: count(float64(len(res.Rows))), Note: fmt.Sprintf("gone %d days or more", inactive)}}
	return p
}

func (h *Handler) sharing(j *job, now time.Time, span string) *panel {
	p := &panel{ID: "sharing", Title: "Accounts that look shared", Sources: []source{h.source(j, now)},
		Explain: fmt.Sprintf("Users seen from more than %d networks (IPv4 /24, IPv6 /48) or more than %d devices; the evidence is the networks and devices with most events.", h.cfg.MaxNetworks, h.cfg.MaxDevices)}
	res := answer(p, j)
	if res == nil {
		return p
	}
	if len(res.Rows) == 0 {
		p.Empty = fmt.Sprintf("No account looks shared %s: no user was seen from more than %d networks or %d devices.", span, h.cfg.MaxNetworks, h.cfg.MaxDevices)
		return p
	}
	t := &tableView{Stack: true, Columns: []column{{"User", false}, {"Networks", true}, {"Devices", true}, {"Events", true}, {"Top networks", false}, {"Top devices", false}}}
	for _, r := range res.Rows {
		if len(t.Rows) == h.cfg.TableRows {
			break
		}
		u := value(r, col(res, "user_id"))
		t.Rows = append(t.Rows, []cell{{Text: u, URL: h.userURL(u)}, {Text: value(r, col(res, "networks")), Num: true},
			{Text: value(r, col(res, "devices")), Num: true}, {Text: count(number(r, col(res, "events"))), Num: true},
			{Text: value(r, col(res, "top_networks")), List: true}, {Text: value(r, col(res, "top_devices")), List: true}})
	}
	if n := len(res.Rows) - len(t.Rows); n > 0 {
		t.More = moreRows(n)
	}
	p.Table = t
	p.Stats = []stat{{Label: "Accounts", Value: count(float64(len(res.Rows))), Note: "look shared"}}
	return p
}
