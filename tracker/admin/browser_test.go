package admin_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

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

func (c *cdp) rows() []row {
	c.t.Helper()
	var rs []row
	c.eval(rowsJS, &rs)
	return rs
}

func ids(rs []row) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

// hitRecorder counts every request a page makes to it.
type hitRecorder struct {
	mu   sync.Mutex
	hits []string
}

func (h *hitRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.hits = append(h.hits, r.URL.String())
	h.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// The control page: an inline script that does what the payloads try.
	if r.URL.Path == "/control" {
		fmt.Fprintf(w, `<!doctype html><title>control</title><script>window.pwned = 1; document.title = 'pwned'; fetch('/hit/control');</script>`)
	}
}

func (h *hitRecorder) list() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.hits)
}

// TestAdminPageInBrowser drives the page in headless Chromium against
// DynamoDB Local: rows, paging by clicking the next link, the type filter
// by submitting the form, script injection through every field an event
// holds (with the page's CSP and with CSP bypassed, so that escaping alone
// is tested), and a screenshot in test-artifacts/.
func TestAdminPageInBrowser(t *testing.T) {
	c := startChromium(t)
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

	c.navigate(base + "?user=alice")
	var title string
	c.eval(`document.title`, &title)
	if title != "Activity of alice" {
		t.Errorf("title %q", title)
	}
	page1 := c.rows()
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
	var summary struct{ Actions, LastSeen string }
	c.eval(`({Actions: document.querySelector('#actions').textContent, LastSeen: document.querySelector('#last-seen time').getAttribute('datetime')})`, &summary)
	if summary.Actions != "7" || summary.LastSeen != adminNow.Format(tracker.TimeLayout) {
		t.Errorf("summary = %+v", summary)
	}
	// The stylesheet applies: its CSP hash is right.
	var collapse string
	c.eval(`getComputedStyle(document.querySelector('#events')).borderCollapse`, &collapse)
	if collapse != "collapse" {
		t.Errorf("table border-collapse %q: the style was blocked", collapse)
	}
	c.screenshot(artifactPath(t, "admin-activity.png"))

	// Paging by clicking "Older events".
	c.click("#next", true)
	if got := ids(c.rows()); !slices.Equal(got, want[50:100]) {
		t.Fatalf("second page shows %q, want events 50-99", got)
	}
	c.click("#next", true)
	if got := ids(c.rows()); !slices.Equal(got, want[100:]) {
		t.Fatalf("third page shows %q, want events 100-119", got)
	}
	var hasNext bool
	c.eval(`document.querySelector('#next') !== null`, &hasNext)
	if hasNext {
		t.Error("the last page has a next link")
	}
	c.click("#first", true)
	if got := ids(c.rows()); !slices.Equal(got, want[:50]) {
		t.Fatalf("the first-page link shows %q", got)
	}

	// The type filter: choose "login" and submit the form with a click.
	c.eval(`document.querySelector('select[name=type]').value = 'login'`, nil)
	c.click("#filter button[type=submit]", true)
	var search string
	c.eval(`location.search`, &search)
	if q, _ := url.ParseQuery(strings.TrimPrefix(search, "?")); q.Get("type") != "login" || q.Get("user") != "alice" {
		t.Errorf("filter URL %q", search)
	}
	logins := c.rows()
	var wantLogins []string
	for _, e := range stored {
		if e.Type == "login" {
			wantLogins = append(wantLogins, e.ID)
		}
	}
	if got := ids(logins); !slices.Equal(got, wantLogins) {
		t.Fatalf("filtered rows %q, want the %d logins", got, len(wantLogins))
	}
	var selected string
	c.eval(`document.querySelector('select[name=type]').value`, &selected)
	if selected != "login" {
		t.Errorf("the filter shows %q after submitting", selected)
	}

	t.Run("script injection executes nothing", func(t *testing.T) {
		hits := &hitRecorder{}
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
		page := base + "?user=" + url.QueryEscape(user)

		check := func(t *testing.T, mode string) {
			var res struct {
				Title, UA string
				Pwned     bool
				Active    int
				Rows      int
				Attrs     map[string]string
			}
			c.eval(`({
				Title: document.title,
				Pwned: window.pwned === 1,
				Active: document.querySelectorAll('script, img, svg, iframe, object, embed, a[href^="javascript:"], [onerror], [onload]').length,
				Rows: document.querySelectorAll('#events tbody tr').length,
				UA: document.querySelector('#events .ua').textContent,
				Attrs: Object.fromEntries([...document.querySelectorAll('.attributes dt')].map(dt => [dt.textContent, dt.nextElementSibling.textContent])),
			})`, &res)
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
			c.navigate("about:blank")
			if h := hits.list(); len(h) != 0 {
				t.Errorf("%s: the page made requests %q", mode, h)
			}
		}

		c.navigate(page)
		c.screenshot(artifactPath(t, "admin-injection.png"))
		check(t, "with CSP")

		// Without the Content-Security-Policy only escaping stands between
		// the payloads and the page.
		c.call("Page.setBypassCSP", map[string]any{"enabled": true}, nil)
		c.navigate(page)
		check(t, "CSP bypassed")

		// Control: with CSP bypassed the same actions in a real inline script
		// do register, so the checks above can fail.
		c.navigate(hitSrv.URL + "/control")
		var pwned bool
		c.eval(`window.pwned === 1 && document.title === 'pwned'`, &pwned)
		c.navigate("about:blank")
		if h := hits.list(); !pwned || !slices.ContainsFunc(h, func(s string) bool { return strings.HasSuffix(s, "/hit/control") }) {
			t.Errorf("control page: pwned %v, hits %q; the detection does not work", pwned, h)
		}
		c.call("Page.setBypassCSP", map[string]any{"enabled": false}, nil)
	})
}
