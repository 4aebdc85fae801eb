package shop_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/eventlake/eventlake/tracker"
	"github.com/eventlake/eventlake/tracker/trackertest"

	"example.com/adopter/shop"
)

const uaSafari = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"

// browser sends requests to a handler with the cookies it was given, as a
// browser would, without a network.
type browser struct {
	t       *testing.T
	h       http.Handler
	cookies map[string]string
}

func newBrowser(t *testing.T, h http.Handler) *browser {
	return &browser{t: t, h: h, cookies: map[string]string{}}
}

func (b *browser) do(method, target string, form url.Values) *httptest.ResponseRecorder {
	b.t.Helper()
	r := httptest.NewRequest(method, target, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("User-Agent", uaSafari)
	r.RemoteAddr = "198.51.100.23:50412"
	for k, v := range b.cookies {
		r.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	w := httptest.NewRecorder()
	b.h.ServeHTTP(w, r)
	for _, c := range w.Result().Cookies() {
		b.cookies[c.Name] = c.Value
	}
	if w.Code >= 300 {
		b.t.Fatalf("%s %s: %d %s", method, target, w.Code, w.Body)
	}
	return w
}

func newShop(t *testing.T, events tracker.Putter) *shop.Shop {
	t.Helper()
	s, err := shop.New(events, shop.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestJourneyTracked is a unit test with the recorder: no DynamoDB, the
// tracker's own validation with the shop's configuration.
func TestJourneyTracked(t *testing.T) {
	rec, err := trackertest.New(shop.TrackerConfig("", "")) // also checks the configuration
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, newShop(t, rec))
	b.do("GET", "/products/p-1?utm_source=newsletter&utm_campaign=spring", nil)
	vid := b.cookies[shop.VisitorCookie]
	if len(vid) != 24 {
		t.Fatalf("visitor cookie %q", vid)
	}
	b.do("POST", "/cart", url.Values{"product": {"p-1"}})
	b.do("POST", "/signup", url.Values{"email": {"Ada@Example.com "}, "plan": {"pro"}})
	b.do("POST", "/checkout", url.Values{"total": {"49.00"}})

	landing := rec.AssertTracked(t, trackertest.Match{Type: "page_view", AnonymousID: vid, Attributes: map[string]string{
		tracker.AttrPath: "/products/p-1", tracker.AttrUTMSource: "newsletter", tracker.AttrUTMCampaign: "spring",
		"app_version": shop.Version,
	}})
	if landing.UserID != "" || landing.IP != "198.51.100.0" || landing.UserAgent != uaSafari {
		t.Errorf("landing page view as stored: %+v", landing)
	}
	rec.AssertTracked(t, trackertest.Match{Type: shop.TypeAddToCart, AnonymousID: vid, Attributes: map[string]string{"product": "p-1"}})
	rec.AssertTracked(t, trackertest.Match{Type: tracker.TypeIdentify, UserID: "ada@example.com", AnonymousID: vid})
	rec.AssertTracked(t, trackertest.Match{Type: "signup", UserID: "ada@example.com", Attributes: map[string]string{"plan": "pro"}})
	rec.AssertTracked(t, trackertest.Match{Type: "purchase", UserID: "ada@example.com", AnonymousID: vid, Attributes: map[string]string{"total": "49.00"}})
	rec.AssertCount(t, trackertest.Match{}, 5)
	rec.AssertNoRejected(t)
}

// TestTrackingNeverFailsARequest: with the writer's queue full (or an
// outage) every page still answers, and the shop counts what it lost.
func TestTrackingNeverFailsARequest(t *testing.T) {
	rec, err := trackertest.New(shop.TrackerConfig("", ""))
	if err != nil {
		t.Fatal(err)
	}
	rec.FailWith(tracker.ErrQueueFull)
	s := newShop(t, rec)
	b := newBrowser(t, s)
	b.do("GET", "/products/p-2", nil)
	b.do("POST", "/login", url.Values{"email": {"ada@example.com"}})
	if s.NotTracked() != 3 || rec.Len() != 0 {
		t.Errorf("not tracked %d, recorded %d; want 3 and 0", s.NotTracked(), rec.Len())
	}
}

// TestTrackingOff runs the shop with tracker.Discard, as when tracking is
// switched off.
func TestTrackingOff(t *testing.T) {
	s := newShop(t, tracker.Discard{})
	b := newBrowser(t, s)
	b.do("GET", "/products/p-3", nil)
	b.do("POST", "/signup", url.Values{"email": {"grace@example.com"}})
	if s.NotTracked() != 0 {
		t.Errorf("not tracked %d", s.NotTracked())
	}
}

func TestNew(t *testing.T) {
	if _, err := shop.New(nil, shop.Config{}); err == nil {
		t.Error("New accepted a nil Putter")
	}
}
