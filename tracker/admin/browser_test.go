package admin_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/eventlake/eventlake/internal/browsertest"
	"github.com/eventlake/eventlake/tracker"
	"github.com/eventlake/eventlake/tracker/admin"
)

// row is an event row as the browser sees it.
type row struct {
	ID, Time, Rel, Type, IP, Browser, UA, OS, Device, Attrs string
}

const rowsJS = `[...document.querySelectorAll('#events tbody tr[data-event-id]')].map(tr => ({
	ID: tr.dataset.eventId,
	Time: tr.querySelector('time').getAttribute('datetime'),
	Rel: tr.querySelector('.time .rel').textContent,
	Type: tr.querySelector('.type').textContent,
	IP: tr.querySelector('.ip').textContent,
	Browser: tr.querySelector('.browser').firstChild ? tr.querySelector('.browser').firstChild.textContent : '',
	UA: tr.querySelector('.ua') ? tr.querySelector('.ua').textContent : '',
	OS: tr.querySelector('.os').textContent,
	Device: tr.querySelector('.device').textContent,
	Attrs: [...tr.querySelectorAll('.attributes dt')].map(dt => dt.textContent + '=' + dt.nextElementSibling.textContent).join('&'),
}))`

// rows reads the event rows of the page in the tab of ctx.
func rows(t *testing.T, ctx context.Context) []row {
	t.Helper()
	return browsertest.Eval[[]row](t, ctx, rowsJS)
}

// clickAndLoad clicks the element with real mouse events (scrolled into
// view first) and waits for the page it navigates to to load.
func clickAndLoad(t *testing.T, ctx context.Context, selector string) {
	t.Helper()
	browsertest.Run(t, ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(selector))))
}

// setBypassCSP turns the page's Content-Security-Policy off or on for the
// next navigations of the tab.
func setBypassCSP(t *testing.T, ctx context.Context, enabled bool) {
	t.Helper()
	browsertest.Do(t, ctx, chromedp.Func(func(ctx context.Context, tab *chromedp.Target) error {
		_, err := cdp.Call(ctx, tab, page.SetBypassCSP, page.SetBypassCSPParams{Enabled: enabled})
		return err
	}))
}

func ids(rs []row) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

// TestAdminPageInBrowser drives the page in headless Chromium against
// DynamoDB Local: rows, paging by clicking the next link, the type filter
// by submitting the form, script injection through every field an event
// holds (with the page's CSP and with CSP bypassed, so that escaping alone
// is tested), no console errors (a blocked style or payload would log one),
// and screenshots in test-artifacts/.
func TestAdminPageInBrowser(t *testing.T) {
	ctx := browsertest.New(t)
	console := browsertest.RecordConsole(t, ctx)
	f := newAdminFixture(t, admin.Options{})

	// 120 events of alice, one a minute back from now; every 20th a login.
	uas := []string{uaChrome, uaIPhone, uaFirefox, ""}
	events := make([]tracker.Event, 120)
	for i := range events {
		typ := []string{"page_view", "click", "search"}[i%3]
		attrs := map[string]string{"url": fmt.Sprintf("/docs/page-%d", i)}
		if i%20 == 0 {
			typ = "login"
			attrs = map[string]string{"method": "password", "mfa": "totp"}
		}
		events[i] = tracker.Event{UserID: "alice", Type: typ, At: adminNow.Add(-time.Duration(i+1) * time.Minute),
			UserAgent: uas[i%len(uas)], IP: fmt.Sprintf("192.0.2.%d", i+1), Attributes: attrs}
	}
	stored := f.put(t, events...)
	f.touch(t, "alice", 7)
	want := make([]string, len(stored)) // newest first: stored is already in that order
	for i, e := range stored {
		want[i] = e.ID
	}
	base := f.srv.URL + mountPath

	browsertest.Do(t, ctx, chromedp.Navigate(base+"?user=alice"))
	if title := browsertest.Run(t, ctx, chromedp.Title()); title != "Activity of alice" {
		t.Errorf("title %q", title)
	}
	page1 := rows(t, ctx)
	if got := ids(page1); !slices.Equal(got, want[:50]) {
		t.Fatalf("first page shows %d rows %q, want the 50 newest", len(got), got)
	}
	first := page1[0]
	if first.Time != "2026-03-01T11:59:00.000Z" || first.Rel != "a minute ago" || first.Type != "login" || first.IP != "192.0.2.1" ||
		first.Browser != "Chrome 126.0.0.0" || first.OS != "Windows 10" || first.Device != "desktop" || first.UA != uaChrome ||
		first.Attrs != "method=password&mfa=totp" {
		t.Errorf("first row = %+v", first)
	}
	if r := page1[1]; r.Browser != "Safari 17.5" || r.Device != "mobile (iPhone)" || r.Attrs != "url=/docs/page-1" {
		t.Errorf("second row = %+v", r)
	}
	if r := page1[3]; r.Browser != "unknown" || r.UA != "" || r.OS != "" {
		t.Errorf("row without a user agent = %+v", r)
	}
	summary := browsertest.Eval[struct{ Actions, LastSeen string }](t, ctx, `({Actions: document.querySelector('#actions').textContent, LastSeen: document.querySelector('#last-seen time').getAttribute('datetime')})`)
	if summary.Actions != "7" || summary.LastSeen != adminNow.Format(tracker.TimeLayout) {
		t.Errorf("summary = %+v", summary)
	}
	// The stylesheet applies: its CSP hash is right.
	if collapse := browsertest.Eval[string](t, ctx, `getComputedStyle(document.querySelector('#events')).borderCollapse`); collapse != "collapse" {
		t.Errorf("table border-collapse %q: the style was blocked", collapse)
	}
	browsertest.Screenshot(t, ctx, "admin-activity.png")

	// Paging by clicking "Older events".
	clickAndLoad(t, ctx, "#next")
	if got := ids(rows(t, ctx)); !slices.Equal(got, want[50:100]) {
		t.Fatalf("second page shows %q, want events 50-99", got)
	}
	clickAndLoad(t, ctx, "#next")
	if got := ids(rows(t, ctx)); !slices.Equal(got, want[100:]) {
		t.Fatalf("third page shows %q, want events 100-119", got)
	}
	if browsertest.Eval[bool](t, ctx, `document.querySelector('#next') !== null`) {
		t.Error("the last page has a next link")
	}
	clickAndLoad(t, ctx, "#first")
	if got := ids(rows(t, ctx)); !slices.Equal(got, want[:50]) {
		t.Fatalf("the first-page link shows %q", got)
	}

	// The type filter: choose "login" and submit the form with a click.
	browsertest.Do(t, ctx, chromedp.SetValue(chromedp.CSS("select[name=type]"), "login"))
	clickAndLoad(t, ctx, "#filter button[type=submit]")
	search := browsertest.Eval[string](t, ctx, `location.search`)
	if q, _ := url.ParseQuery(strings.TrimPrefix(search, "?")); q.Get("type") != "login" || q.Get("user") != "alice" {
		t.Errorf("filter URL %q", search)
	}
	logins := rows(t, ctx)
	var wantLogins []string
	for _, e := range stored {
		if e.Type == "login" {
			wantLogins = append(wantLogins, e.ID)
		}
	}
	if got := ids(logins); !slices.Equal(got, wantLogins) {
		t.Fatalf("filtered rows %q, want the %d logins", got, len(wantLogins))
	}
	if selected := browsertest.Eval[string](t, ctx, `document.querySelector('select[name=type]').value`); selected != "login" {
		t.Errorf("the filter shows %q after submitting", selected)
	}
	if errs := console.Errors(t); len(errs) != 0 {
		t.Errorf("console errors on the activity pages: %q", errs)
	}

	t.Run("script injection executes nothing", func(t *testing.T) {
		hits := &browsertest.Hits{}
		hitSrv := httptest.NewServer(hits)
		defer hitSrv.Close()
		hit := hitSrv.URL + "/hit/"
		act := func(tag string) string {
			return fmt.Sprintf("window.pwned=1;document.title='pwned';fetch('%s%s');new Image().src='%s%s-img'", hit, tag, hit, tag)
		}
		user := `mallory"><script>` + act("user") + `</script>`
		payloadUA := `<script>` + act("ua") + `</script>"><img src=x onerror="` + act("ua-onerror") + `">`
		attrs := map[string]string{
			"url":      "javascript:" + act("js-url"),
			"referrer": `"><img src=x onerror="` + act("img") + `">`,
			"note":     `</dd></dl></td></tr></tbody></table><script>` + act("breakout") + `</script>`,
			"svg":      `<svg onload="` + act("svg") + `"></svg>`,
			"style":    `</style><script>` + act("style") + `</script>`,
			"link":     `<a href="javascript:` + act("anchor") + `">x</a>`,
			"iframe":   `<iframe src="` + hit + `iframe"></iframe>`,
		}
		f.put(t, tracker.Event{UserID: user, Type: "login", At: adminNow.Add(-time.Minute), UserAgent: payloadUA, Attributes: attrs})
		pageURL := base + "?user=" + url.QueryEscape(user)

		type result struct {
			Title, UA string
			Pwned     bool
			Active    int
			Rows      int
			Attrs     map[string]string
		}
		check := func(t *testing.T, mode string) {
			res := browsertest.Eval[result](t, ctx, `({
				Title: document.title,
				Pwned: window.pwned === 1,
				Active: document.querySelectorAll('script, img, svg, iframe, object, embed, a[href^="javascript:"], [onerror], [onload]').length,
				Rows: document.querySelectorAll('#events tbody tr').length,
				UA: document.querySelector('#events .ua').textContent,
				Attrs: Object.fromEntries([...document.querySelectorAll('.attributes dt')].map(dt => [dt.textContent, dt.nextElementSibling.textContent])),
			})`)
			if res.Title != "Activity of "+user || res.Pwned {
				t.Errorf("%s: title %q, window.pwned %v: a payload ran", mode, res.Title, res.Pwned)
			}
			if res.Active != 0 || res.Rows != 1 {
				t.Errorf("%s: %d active elements and %d rows: markup was injected", mode, res.Active, res.Rows)
			}
			if res.UA != payloadUA {
				t.Errorf("%s: user agent shown as %q, want the text %q", mode, res.UA, payloadUA)
			}
			for k, v := range attrs {
				if res.Attrs[k] != v {
					t.Errorf("%s: attribute %s shown as %q, want the text %q", mode, k, res.Attrs[k], v)
				}
			}
			// The flags above are the deterministic evidence (every payload
			// sets them synchronously); requests to the recorder are a
			// second witness.
			// With the CSP a payload that got into the markup would be
			// blocked and logged; without it, it would run: either way
			// nothing may reach the console.
			if errs := console.Errors(t); len(errs) != 0 {
				t.Errorf("%s: console errors %q", mode, errs)
			}
			browsertest.Do(t, ctx, chromedp.Navigate("about:blank"))
			if h := hits.List(); len(h) != 0 {
				t.Errorf("%s: the page made requests %q", mode, h)
			}
		}

		browsertest.Do(t, ctx, chromedp.Navigate(pageURL))
		browsertest.Screenshot(t, ctx, "admin-injection.png")
		check(t, "with CSP")

		// Without the Content-Security-Policy only escaping stands between
		// the payloads and the page.
		setBypassCSP(t, ctx, true)
		browsertest.Do(t, ctx, chromedp.Navigate(pageURL))
		check(t, "CSP bypassed")

		// Control: with CSP bypassed the same actions in a real inline script
		// do register, so the checks above can fail.
		browsertest.CheckDetection(t, ctx, hits, hitSrv.URL)
		setBypassCSP(t, ctx, false)
	})
}
