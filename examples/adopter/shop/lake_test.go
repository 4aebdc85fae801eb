package shop_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/eventlake/eventlake/local/laketest"
	"github.com/eventlake/eventlake/local/pipeline"
	"github.com/eventlake/eventlake/tracker"
	"github.com/eventlake/eventlake/tracker/admin"

	"example.com/adopter/shop"
)

const uaGooglebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"

// visit returns a function that sends requests to srv as one browser: a
// cookie jar and a user agent.
func visit(t *testing.T, srv *httptest.Server, userAgent string) func(method, path string, form url.Values) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar, Timeout: time.Minute}
	return func(method, path string, form url.Values) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("User-Agent", userAgent)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			t.Fatalf("%s %s: %s", method, path, resp.Status)
		}
	}
}

// TestLake is the shop's integration test: the real handlers served over
// HTTP, tracking into the whole local pipeline (DynamoDB Local, its stream,
// the relay Lambda's handler, a local Firehose, a Parquet lake); then what
// reached the lake, the Athena query the analysts run, and the admin page.
func TestLake(t *testing.T) {
	start := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
	cfg := shop.TrackerConfig("", "") // the harness names the test's own tables
	cfg.Now = laketest.Clock(start, time.Second)
	lake := laketest.Start(t, pipeline.Config{Tracker: cfg})
	s, err := shop.New(lake, shop.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()

	ada := visit(t, srv, uaSafari)
	ada("GET", "/products/p-1?utm_source=newsletter&utm_campaign=spring", nil)
	ada("POST", "/cart", url.Values{"product": {"p-1"}})
	ada("POST", "/signup", url.Values{"email": {"ada@example.com"}, "plan": {"pro"}})
	ada("POST", "/checkout", url.Values{"total": {"49.00"}})
	browsing := visit(t, srv, uaSafari)
	browsing("GET", "/products/p-2", nil)
	crawler := visit(t, srv, uaGooglebot)
	crawler("GET", "/products/p-1", nil)

	// Good: Ada's journey, her anonymous browsing included.
	lake.AssertEvents(t, laketest.Match{Person: "ada@example.com"},
		laketest.Match{Type: "page_view", Attributes: map[string]string{tracker.AttrUTMCampaign: "spring", "app": "shop"}},
		laketest.Match{Type: shop.TypeAddToCart, Attributes: map[string]string{"product": "p-1"}},
		laketest.Match{Type: tracker.TypeIdentify, UserID: "ada@example.com"},
		laketest.Match{Type: "signup", UserID: "ada@example.com", Attributes: map[string]string{"plan": "pro"}},
		laketest.Match{Type: "purchase", UserID: "ada@example.com", Attributes: map[string]string{"total": "49.00"}},
	)
	lake.AssertCount(t, laketest.Match{Type: "page_view"}, 3)
	bots := 0
	for _, e := range lake.InLake(t, laketest.Match{Type: "page_view"}) {
		if e.Client.Bot {
			bots++
			if e.Person != "" || e.Attributes["product"] != "p-1" {
				t.Errorf("the crawler's page view: %v", e)
			}
		}
	}
	if bots != 1 {
		t.Errorf("%d page views by bots, want the crawler's", bots)
	}
	for _, e := range lake.InLake(t, laketest.Match{}) {
		if e.IP != "127.0.0.0" { // IPAnonymize: the loopback client's last octet zeroed
			t.Errorf("%v: IP %q", e, e.IP)
		}
	}
	// Bad and all: nothing refused, everything arrived.
	lake.AssertNoBad(t)
	lake.AssertCounts(t, laketest.Counts{Total: 7, Good: 7})

	// The analysts' question, with the SQL Athena runs.
	from, to := start.Format(tracker.DateLayout), start.Add(time.Hour).Format(tracker.DateLayout)
	rows, err := lake.Query(context.Background(), "signup_attribution", from, to, "30")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0]["user_id"] != "ada@example.com" || rows[0]["first_utm_source"] != "newsletter" ||
		rows[0]["first_utm_campaign"] != "spring" {
		t.Errorf("signup_attribution = %v, want Ada's signup from the spring newsletter", rows)
	}

	// The admin page, on the same tables.
	h, err := admin.NewHandler(lake.Tracker(), admin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/admin/activity?user=ada@example.com&format=json", nil))
	var page struct {
		Events []struct {
			Type string `json:"event_type"`
		} `json:"events"`
		Summary struct {
			Actions int64 `json:"actions"`
		} `json:"summary"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &page); err != nil || w.Code != http.StatusOK {
		t.Fatalf("admin page: %d %s (%v)", w.Code, w.Body, err)
	}
	if got := fmt.Sprint(len(page.Events), page.Summary.Actions); got != "3 3" {
		t.Errorf("admin page: %d events, %d actions; want Ada's 3 events as a user (identify, signup, purchase)\n%s",
			len(page.Events), page.Summary.Actions, w.Body)
	}
}
