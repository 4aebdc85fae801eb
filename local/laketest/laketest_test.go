package laketest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventlake/eventlake/collector"
	"github.com/eventlake/eventlake/local/laketest"
	"github.com/eventlake/eventlake/local/pipeline"
	"github.com/eventlake/eventlake/tracker"
)

const (
	uaChrome    = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
	uaGooglebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
)

// recordingT records what the assertions report, to test their failures.
type recordingT struct {
	errors, fatals []string
}

func (r *recordingT) Helper() {}
func (r *recordingT) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
func (r *recordingT) Fatalf(format string, args ...any) {
	r.fatals = append(r.fatals, fmt.Sprintf(format, args...))
}

func (r *recordingT) check(t *testing.T, what string, want ...string) {
	t.Helper()
	if len(r.fatals) > 0 {
		t.Fatalf("%s: fatal %v", what, r.fatals)
	}
	if len(r.errors) != 1 {
		t.Fatalf("%s: %d failures, want 1: %q", what, len(r.errors), r.errors)
	}
	for _, w := range want {
		if !strings.Contains(r.errors[0], w) {
			t.Errorf("%s: failure %q lacks %q", what, r.errors[0], w)
		}
	}
	r.errors = nil
}

func put(t *testing.T, lake *laketest.Lake, e tracker.Event) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return lake.Put(ctx, e)
}

// TestGoodBadAll puts good, bad and filtered events through a Lake with an
// application's tracker configuration (default attributes, an IP policy, a
// before-send hook), through both Put and PutBatch, and checks what each
// read and assertion reports, failures included.
func TestGoodBadAll(t *testing.T) {
	var reported atomic.Int64
	lake := laketest.Start(t, pipeline.Config{
		Tracker: tracker.Config{
			DefaultAttributes: map[string]string{"app_version": "1.2.3"},
			IPPolicy:          tracker.IPAnonymize,
			BeforeSend: func(e tracker.Event) (tracker.Event, bool) {
				return e, e.Attributes["synthetic"] != "true" // drop synthetic checks
			},
		},
		Async: tracker.AsyncConfig{OnError: func(tracker.Event, error) { reported.Add(1) }},
	})
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
	good := []tracker.Event{
		{AnonymousID: "v1", Type: "page_view", UserAgent: uaChrome, IP: "198.51.100.23:50412", At: at,
			Attributes: map[string]string{tracker.AttrPath: "/pricing", tracker.AttrUTMCampaign: "spring"}},
		{AnonymousID: "v1", UserID: "42", Type: tracker.TypeIdentify, UserAgent: uaChrome, At: at.Add(time.Second)},
		{UserID: "42", Type: "login", UserAgent: uaChrome, At: at.Add(2 * time.Second), ID: "login-1"},
		{AnonymousID: "v2", Type: "page_view", UserAgent: uaChrome, Attributes: map[string]string{tracker.AttrPath: "/"}},
		{AnonymousID: "crawler-1", Type: "page_view", UserAgent: uaGooglebot},
	}
	for i, e := range good {
		if err := put(t, lake, e); err != nil {
			t.Fatalf("good event %d: %v", i, err)
		}
	}
	for _, e := range []tracker.Event{
		{UserID: "42", Type: "teleport"}, // not in the allowlist
		{Type: "page_view"},              // neither ID
		{UserID: "42", Type: "search", Attributes: map[string]string{"synthetic": "true"}}, // filtered
		// The same user, time and ID as the login with other content: the
		// writer accepts it and then reports ErrDuplicateEvent.
		{UserID: "42", Type: "login", At: at.Add(2 * time.Second), ID: "login-1", Attributes: map[string]string{"method": "sso"}},
	} {
		if err := put(t, lake, e); err != nil && !errors.Is(err, tracker.ErrInvalidEvent) {
			t.Fatalf("put %+v: %v", e, err)
		}
	}
	errs := lake.PutBatch(context.Background(), []tracker.Event{
		{UserID: "42", Type: "click", UserAgent: uaChrome, Attributes: map[string]string{"target": "buy"}},
		{UserID: "42", Type: "click", Attributes: map[string]string{"1bad": "x"}},
	})
	if len(errs) != 2 || errs[0] != nil || !errors.Is(errs[1], tracker.ErrInvalidEvent) {
		t.Fatalf("PutBatch = %v, want the second event refused", errs)
	}

	// All: Total = Good + Bad + Filtered.
	lake.AssertCounts(t, laketest.Counts{Total: 11, Good: 6, Bad: 4, Filtered: 1})
	if reported.Load() != 1 {
		t.Errorf("the application's OnError was called %d times, want 1", reported.Load())
	}

	// Good: a person's journey, resolved through the identities view.
	lake.AssertEvents(t, laketest.Match{Person: "42"},
		laketest.Match{Type: "page_view", AnonymousID: "v1", Attributes: map[string]string{tracker.AttrPath: "/pricing"}},
		laketest.Match{Type: tracker.TypeIdentify, UserID: "42", AnonymousID: "v1"},
		laketest.Match{Type: "login", UserID: "42"},
		laketest.Match{Type: "click", UserID: "42", Attributes: map[string]string{"target": "buy"}},
	)
	lake.AssertCount(t, laketest.Match{Type: "page_view"}, 3)
	lake.AssertNotInLake(t, laketest.Match{Type: "search"})
	lake.AssertNotInLake(t, laketest.Match{Attributes: map[string]string{"method": "sso"}})

	// What the lake holds, field by field, as the queries read it.
	landing := lake.AssertInLake(t, laketest.Match{AnonymousID: "v1", Type: "page_view"})
	if landing.Person != "42" || landing.UserID != "" || landing.IP != "198.51.100.0" || !landing.At.Equal(at) ||
		landing.Date != at.Format(tracker.DateLayout) || landing.ID == "" ||
		landing.Attributes["app_version"] != "1.2.3" || landing.Attributes[tracker.AttrUTMCampaign] != "spring" ||
		landing.Client != (tracker.Client{DeviceType: tracker.DeviceDesktop, Browser: "Chrome", OS: "Windows"}) {
		t.Errorf("landing page view in the lake: %v ip=%s at=%v date=%s id=%q client=%+v", landing, landing.IP, landing.At, landing.Date, landing.ID, landing.Client)
	}
	login := lake.AssertInLake(t, laketest.Match{Type: "login"})
	if login.ID != "login-1" || login.Attributes["method"] != "" {
		t.Errorf("login in the lake: %+v (the duplicate must not have replaced it)", login)
	}
	if bot := lake.AssertInLake(t, laketest.Match{AnonymousID: "crawler-1"}); !bot.Client.Bot || bot.Person != "" {
		t.Errorf("crawler in the lake: %+v", bot)
	}
	if v2 := lake.InLake(t, laketest.Match{AnonymousID: "v2"}); len(v2) != 1 || v2[0].Person != "" {
		t.Errorf("unlinked visitor v2: %v", v2)
	}

	// Bad: refused with the problem, or failed after acceptance.
	if b := lake.AssertBad(t, laketest.Match{Type: "teleport", UserID: "42"}, tracker.FieldEventType); len(b.Problems) != 1 {
		t.Errorf("teleport problems: %v", b.Problems)
	}
	lake.AssertBad(t, laketest.Match{Type: "page_view"}, tracker.FieldUserID)
	lake.AssertBad(t, laketest.Match{Type: "click"}, tracker.FieldAttributes)
	dup := lake.AssertBad(t, laketest.Match{Type: "login", Attributes: map[string]string{"method": "sso"}}, "")
	if !errors.Is(dup.Err, tracker.ErrDuplicateEvent) || dup.Problems != nil {
		t.Errorf("duplicate: %v, problems %v", dup.Err, dup.Problems)
	}

	// Failures, as a test would see them.
	var rt recordingT
	lake.AssertInLake(&rt, laketest.Match{Type: "purchase"})
	rt.check(t, "AssertInLake", `no event with purchase is in the lake; the lake holds`, `identify user_id="42" anonymous_id="v1" person="42"`)
	lake.AssertCount(&rt, laketest.Match{Person: "42"}, 3)
	rt.check(t, "AssertCount", `4 event(s) with person="42" are in the lake, want 3`)
	lake.AssertEvents(&rt, laketest.Match{UserID: "42"},
		laketest.Match{Type: "login"}, laketest.Match{Type: "purchase"})
	rt.check(t, "AssertEvents", "the lake's events with user_id=\"42\" differ (- want, + got):",
		"  login\n      = ", "- purchase\n", "+ ", " identify user_id=\"42\"", " click user_id=\"42\"")
	lake.AssertNotInLake(&rt, laketest.Match{Type: "login"})
	rt.check(t, "AssertNotInLake", `1 event(s) with login are in the lake, want none`)
	lake.AssertBad(&rt, laketest.Match{Type: "teleport"}, tracker.FieldUserAgent)
	rt.check(t, "AssertBad", `no event with teleport was refused with a problem with user_agent; bad events:`,
		`"teleport" user_id="42" anonymous_id="": invalid event: event_type`)
	lake.AssertCounts(&rt, laketest.Counts{Total: 11, Good: 7, Bad: 4, Filtered: 1})
	rt.check(t, "AssertCounts", "counts differ: good 6, want 7")
	lake.AssertNoBad(&rt)
	if len(rt.errors) != 4 || !strings.Contains(rt.errors[0], `bad event "teleport"`) {
		t.Errorf("AssertNoBad reported %q", rt.errors)
	}
}

// TestStartJSON runs the harness on a gzip NDJSON lake, with nothing put:
// every read answers at once with an empty lake.
func TestStartJSON(t *testing.T) {
	lake := laketest.Start(t, pipeline.Config{Format: pipeline.FormatJSON, NoSummary: true})
	lake.AssertCounts(t, laketest.Counts{})
	if evs := lake.InLake(t, laketest.Match{}); len(evs) != 0 {
		t.Errorf("empty lake holds %v", evs)
	}
	if err := put(t, lake, tracker.Event{UserID: "1", Type: "login"}); err != nil {
		t.Fatal(err)
	}
	lake.AssertEvents(t, laketest.Match{}, laketest.Match{Type: "login", UserID: "1", Person: "1"})
	if lake.Pipeline().Format() != pipeline.FormatJSON {
		t.Errorf("format %s", lake.Pipeline().Format())
	}
}

// TestCollectorSink serves eventlake's HTTP collector with the Lake as its
// sink, as a test of a browser or mobile front end would: what the
// collector stores reaches the lake, and what the tracker refuses is a bad
// event with its problem.
func TestCollectorSink(t *testing.T) {
	lake := laketest.Start(t, pipeline.Config{NoSummary: true})
	keys, err := collector.NewKeySet("test-write-key")
	if err != nil {
		t.Fatal(err)
	}
	h, err := collector.New(lake, collector.Config{WriteKeys: keys})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	at := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339Nano)
	body := `{"batch":[` +
		`{"type":"track","userId":"42","event":"Order Completed","messageId":"m-1","timestamp":"` + at + `","properties":{"total":"9.90"}},` +
		`{"type":"page","anonymousId":"v-1","messageId":"m-2","timestamp":"` + at + `","properties":{"path":"/pricing"}},` +
		`{"type":"track","userId":"42","event":"Teleported","messageId":"m-3","timestamp":"` + at + `"}]}`
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/batch", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("test-write-key", "")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	lake.AssertEvents(t, laketest.Match{},
		laketest.Match{Type: "purchase", UserID: "42", Attributes: map[string]string{"total": "9.90"}},
		laketest.Match{Type: "page_view", AnonymousID: "v-1", Attributes: map[string]string{tracker.AttrPath: "/pricing"}},
	)
	if lake.AssertInLake(t, laketest.Match{Type: "purchase"}).ID != "m-1" {
		t.Error("the collector's message ID is not the event ID")
	}
	lake.AssertBad(t, laketest.Match{UserID: "42", Type: "teleported"}, tracker.FieldEventType)
	lake.AssertCounts(t, laketest.Counts{Total: 3, Good: 2, Bad: 1})
}
