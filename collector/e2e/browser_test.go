package e2e_test

import (
	"html/template"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/collector"
	"github.com/eventlake/eventlake/internal/browsertest"
	"github.com/eventlake/eventlake/tracker"
)

// shopPage loads analytics.js (analytics-next's browser bundle, from npm)
// from the page's own origin, configured the documented way to skip
// Segment's CDN: cdnSettings instead of the settings download, the
// Segment.io integration's apiHost and protocol pointing at the collector,
// and cdnURL for the bundle's lazily loaded chunks. window.sent records
// each call once its delivery is settled.
var shopPage = template.Must(template.New("shop").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Winter boots</title><link rel="icon" href="data:,"></head>
<body>
<h1>Winter boots</h1>
<button id="buy">Add to cart</button>
<script src="/analytics-next/bundles/index.js"></script>
<script>
window.sent = [];
const settle = (kind) => (ctx) => window.sent.push({kind, failed: Boolean(ctx.failedDelivery && ctx.failedDelivery())});
const analytics = window.AnalyticsNext.AnalyticsBrowser.load({
  writeKey: {{.Key}},
  cdnURL: {{.CDN}},
  cdnSettings: {integrations: {"Segment.io": {apiKey: {{.Key}}, apiHost: {{.API}}, protocol: "http"}}},
});
window.analytics = analytics;
analytics.page("Product", {category: "boots"}).then(settle("page"));
document.getElementById("buy").addEventListener("click", () => {
  analytics.track("Product Clicked", {sku: "B-42", price: 129.9, variant: {size: 44}}).then(settle("click"));
});
</script>
</body></html>
`))

// TestAnalyticsJSInBrowser loads a shop page in headless Chromium: analytics.js
// sends a page view, and a click on the button a track call, to the
// collector on another origin (CORS preflight, as the library sends an
// Authorization header); both land in the lake with the browser's
// anonymous ID, its user agent and the page's URL.
func TestAnalyticsJSInBrowser(t *testing.T) {
	dir := jsDir(t)
	bundles := http.FileServer(http.Dir(filepath.Join(dir, "node_modules", "@segment", "analytics-next", "dist", "umd")))
	var page *httptest.Server
	var api atomic.Pointer[string] // the collector's host:port, once started
	page = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rest, ok := strings.CutPrefix(r.URL.Path, "/analytics-next/bundles/"); ok {
			r.URL.Path = "/" + rest
			bundles.ServeHTTP(w, r)
			return
		}
		if r.URL.Path != "/shop/boots" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		shopPage.Execute(w, map[string]string{"Key": writeKey, "CDN": page.URL, "API": *api.Load() + "/v1"})
	}))
	defer page.Close()

	s := startStack(t, collector.Config{AllowedOrigins: []string{page.URL}})
	host := strings.TrimPrefix(s.srv.URL, "http://")
	api.Store(&host)

	ctx := browsertest.New(t)
	console := browsertest.RecordConsole(t, ctx)
	pageURL := page.URL + "/shop/boots?utm_source=newsletter&utm_medium=email&utm_campaign=winter"
	browsertest.Do(t, ctx, chromedp.Navigate(pageURL))
	browsertest.Run(t, ctx, chromedp.Poll[chromedp.Void](`window.sent.length >= 1`))
	browsertest.Do(t, ctx, chromedp.Click(chromedp.CSS("#buy")))
	browsertest.Run(t, ctx, chromedp.Poll[chromedp.Void](`window.sent.length >= 2`))
	sent := browsertest.Run(t, ctx, chromedp.Evaluate[[]map[string]any](`window.sent`))
	for _, s := range sent {
		if s["failed"] != false {
			t.Errorf("analytics.js reports a failed delivery: %v", sent)
		}
	}
	anon := browsertest.Run(t, ctx, chromedp.Evaluate[string](`window.analytics.instance.user().anonymousId()`))
	ua := browsertest.Run(t, ctx, chromedp.Evaluate[string](`navigator.userAgent`))
	if errs := console.Errors(t); len(errs) != 0 {
		t.Errorf("console errors: %q", errs)
	}
	if anon == "" {
		t.Fatal("analytics.js has no anonymous ID")
	}

	s.drain(t)
	got := s.rows(t, "SELECT event_type, user_id, user_agent, attributes['url'], attributes['utm_campaign'], attributes['title'], attributes['sku'], attributes['variant.size'], is_bot FROM "+
		athena.ViewName+" WHERE anonymous_id = '"+anon+"' ORDER BY event_at, event_type")
	if len(got) != 2 {
		t.Fatalf("lake holds %d events of the browser's visitor %s, want the page view and the click: %v", len(got), anon, got)
	}
	bot := "false"
	if tracker.Classify(ua).Bot {
		bot = "true" // flagged, not dropped
	}
	wantPage := []string{"page_view", "NULL", ua, pageURL, "winter", "Winter boots", "NULL", "NULL", bot}
	wantClick := []string{"click", "NULL", ua, pageURL, "winter", "Winter boots", "B-42", "44", bot}
	for i, want := range [][]string{wantPage, wantClick} {
		if strings.Join(got[i], "|") != strings.Join(want, "|") {
			t.Errorf("event %d:\n got %v\nwant %v", i, got[i], want)
		}
	}
	lines := s.rows(t, "SELECT count(*) FROM "+athena.TableName+" WHERE anonymous_id = '"+anon+"'")
	if lines[0][0] != "2" {
		t.Errorf("%s lines of the visitor in the lake, want 2 (exactly once each)", lines[0][0])
	}
}
