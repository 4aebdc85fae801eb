package laketest_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventlake/eventlake/local/laketest"
	"github.com/eventlake/eventlake/local/pipeline"
	"github.com/eventlake/eventlake/tracker"
)

// newShop is application code, as a team would write it: an http.Handler
// that tracks what visitors and users do through a tracker.Putter, which is
// the tracker's AsyncWriter in production (tracker.New, then
// NewAsyncWriter), a trackertest.Recorder in unit tests and a laketest.Lake
// in integration tests. Tracking never fails a request.
func newShop(events tracker.Putter, log *slog.Logger) http.Handler {
	track := func(r *http.Request, e tracker.Event) {
		if c, err := r.Cookie("vid"); err == nil {
			e.AnonymousID = c.Value // the visitor's first-party cookie
		}
		if err := events.Put(r.Context(), e.WithRequest(r, tracker.Proxies{})); err != nil {
			log.WarnContext(r.Context(), "event not tracked", "type", e.Type, "error", err)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /pricing", func(w http.ResponseWriter, r *http.Request) {
		if _, err := r.Cookie("vid"); err != nil {
			http.Error(w, "no visitor cookie", http.StatusBadRequest)
			return
		}
		attrs := map[string]string{tracker.AttrPath: r.URL.Path, tracker.AttrURL: r.URL.String()}
		if c := r.URL.Query().Get("utm_campaign"); c != "" {
			attrs[tracker.AttrUTMCampaign] = c
		}
		track(r, tracker.Event{Type: "page_view", Attributes: attrs})
		fmt.Fprintln(w, "pricing")
	})
	mux.HandleFunc("POST /signup", func(w http.ResponseWriter, r *http.Request) {
		user := r.FormValue("email") // ... after creating the account
		track(r, tracker.Event{UserID: user, Type: tracker.TypeIdentify})
		track(r, tracker.Event{UserID: user, Type: "signup", Attributes: map[string]string{"plan": r.FormValue("plan")}})
		w.WriteHeader(http.StatusCreated)
	})
	return mux
}

// browse is a visitor with a browser: a cookie jar holding the visitor
// cookie (none when visitor is empty) and a browser's User-Agent.
func browse(srv *httptest.Server, visitor string) (*http.Client, func(method, path string, form url.Values) error) {
	jar, _ := cookiejar.New(nil)
	if visitor != "" {
		u, _ := url.Parse(srv.URL)
		jar.SetCookies(u, []*http.Cookie{{Name: "vid", Value: visitor}})
	}
	c := &http.Client{Jar: jar, Timeout: time.Minute}
	return c, func(method, path string, form url.Values) error {
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(form.Encode()))
		if err != nil {
			return err
		}
		req.Header.Set("User-Agent", uaChrome)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			return fmt.Errorf("%s %s: %s", method, path, resp.Status)
		}
		return nil
	}
}

// TestShopSignup is an application's integration test: the real handler,
// served by httptest, tracking into the whole local pipeline; then the
// assertions read what reached the lake, as the Athena queries will.
func TestShopSignup(t *testing.T) {
	start := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
	lake := laketest.Start(t, pipeline.Config{
		Tracker: tracker.Config{
			IPPolicy: tracker.IPAnonymize,                // the application's own tracker.Config, with
			Now:      laketest.Clock(start, time.Second), // clicks a second apart, not a microsecond
		},
	})
	srv := httptest.NewServer(newShop(lake, slog.Default()))
	defer srv.Close()

	_, do := browse(srv, "v-7f3a")
	for _, step := range []struct {
		method, path string
		form         url.Values
	}{
		{"GET", "/pricing?utm_campaign=spring", nil},
		{"GET", "/pricing", nil},
		{"POST", "/signup", url.Values{"email": {"ada@example.com"}, "plan": {"pro"}}},
	} {
		if err := do(step.method, step.path, step.form); err != nil {
			t.Fatal(err)
		}
	}

	// The visitor's page views count for the user they became.
	lake.AssertEvents(t, laketest.Match{Person: "ada@example.com"},
		laketest.Match{Type: "page_view", AnonymousID: "v-7f3a", Attributes: map[string]string{tracker.AttrUTMCampaign: "spring"}},
		laketest.Match{Type: "page_view", AnonymousID: "v-7f3a"},
		laketest.Match{Type: tracker.TypeIdentify, UserID: "ada@example.com", AnonymousID: "v-7f3a"},
		laketest.Match{Type: "signup", UserID: "ada@example.com", Attributes: map[string]string{"plan": "pro"}},
	)
	signup := lake.AssertInLake(t, laketest.Match{Type: "signup"})
	if signup.IP != "127.0.0.0" || signup.Client.Browser != "Chrome" || signup.Client.Bot {
		t.Errorf("signup as stored: ip %s, client %+v", signup.IP, signup.Client)
	}
	lake.AssertNoBad(t)
	lake.AssertCounts(t, laketest.Counts{Total: 4, Good: 4})

	// The analysts' question, with the Athena SQL they will run: where did
	// the signup come from?
	from, to := start.Format(tracker.DateLayout), start.Add(time.Minute).Format(tracker.DateLayout)
	rows, err := lake.Query(context.Background(), "signup_attribution", from, to, "30")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0]["user_id"] != "ada@example.com" || rows[0]["touches"] != "1" ||
		rows[0]["first_utm_campaign"] != "spring" || rows[0]["first_touch_at"] != start.Format(tracker.TimeLayout) {
		t.Errorf("signup_attribution = %v, want ada's signup with one touch from the spring campaign", rows)
	}
	if _, err := lake.Query(context.Background(), "signup_attribution", from); err == nil {
		t.Error("Query accepted a missing argument")
	}
}

// An application's handler tracking into the local pipeline; the lake is
// read once everything arrived.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// In a test: lake := laketest.Start(t, pipeline.Config{}), which shares
	// one DynamoDB Local per test binary and stops everything at the end.
	lake, err := laketest.New(ctx, pipeline.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer lake.Close(ctx)

	srv := httptest.NewServer(newShop(lake, slog.New(slog.DiscardHandler)))
	defer srv.Close()
	_, do := browse(srv, "v-1")
	_ = do("GET", "/pricing?utm_campaign=spring", nil)
	_ = do("POST", "/signup", url.Values{"email": {"42"}, "plan": {"free"}})
	_, doWithoutCookie := browse(srv, "")
	_ = doWithoutCookie("POST", "/signup", url.Values{"plan": {"free"}}) // a bug: neither ID

	evs, err := lake.Events(ctx, laketest.Match{Person: "42"})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Events are in time order; identify and signup may share a millisecond.
	slices.SortStableFunc(evs, func(a, b laketest.Event) int { return strings.Compare(a.Type, b.Type) })
	for _, e := range evs {
		fmt.Printf("good: %s user=%q visitor=%q person=%q\n", e.Type, e.UserID, e.AnonymousID, e.Person)
	}
	for _, b := range lake.Bad() {
		fmt.Printf("bad: %s refused: %s %s\n", b.Event.Type, b.Problems[0].Field, b.Problems[0].Problem)
	}
	counts, err := lake.Counts(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("all: %+v\n", counts)
	// Output:
	// good: identify user="42" visitor="v-1" person="42"
	// good: page_view user="" visitor="v-1" person="42"
	// good: signup user="42" visitor="v-1" person="42"
	// bad: identify refused: user_id is empty, and so is anonymous_id: an event needs one of them
	// bad: signup refused: user_id is empty, and so is anonymous_id: an event needs one of them
	// all: {Total:5 Good:3 Bad:2 Filtered:0 Duplicates:0}
}
