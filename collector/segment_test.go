package collector_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/eventlake/eventlake/collector"
	"github.com/eventlake/eventlake/tracker"
)

const browserUA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

func TestSegmentCalls(t *testing.T) {
	ctx := `"context":{"ip":"198.51.100.7","userAgent":"` + browserUA + `","page":{"url":"https://shop.example/p/42?utm_source=news","path":"/p/42","referrer":"https://search.example/","title":"Shoes"},"campaign":{"source":"news","medium":"email","name":"winter","term":"boots","content":"hero"},"library":{"name":"analytics.js","version":"npm:next-1.84.3"}}`
	for _, tc := range []struct {
		name, path, body string
		want             tracker.Event
	}{
		{"track", "/v1/track", `{"userId":"42","event":"Order Completed","messageId":"m-1","timestamp":"2026-11-22T10:00:00.250Z","properties":{"revenue":19.5,"currency":"EUR"},` + ctx + `}`,
			tracker.Event{UserID: "42", Type: "purchase", ID: "m-1", At: time.Date(2026, 11, 22, 10, 0, 0, 250e6, time.UTC), IP: "198.51.100.7", UserAgent: browserUA,
				Attributes: map[string]string{"url": "https://shop.example/p/42?utm_source=news", "path": "/p/42", "referrer": "https://search.example/", "title": "Shoes",
					"utm_source": "news", "utm_medium": "email", "utm_campaign": "winter", "utm_term": "boots", "utm_content": "hero", "revenue": "19.5", "currency": "EUR"}}},
		{"track by one-letter path", "/v1/t", `{"anonymousId":"a-1","event":"click","messageId":"m-2","timestamp":"2026-11-22T10:00:00Z"}`,
			tracker.Event{AnonymousID: "a-1", Type: "click", ID: "m-2", At: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), IP: "192.0.2.1"}},
		{"page", "/v1/page", `{"anonymousId":"a-1","name":"Home","category":"Docs","messageId":"m-3","timestamp":"2026-11-22T10:00:00Z","properties":{"url":"https://shop.example/"}}`,
			tracker.Event{AnonymousID: "a-1", Type: "page_view", ID: "m-3", At: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), IP: "192.0.2.1",
				Attributes: map[string]string{"name": "Home", "category": "Docs", "url": "https://shop.example/"}}},
		{"screen", "/v1/screen", `{"userId":7,"name":"Checkout","messageId":"m-4","timestamp":"2026-11-22T10:00:00Z","properties":{"step":2}}`,
			tracker.Event{UserID: "7", Type: "screen", ID: "m-4", At: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), IP: "192.0.2.1",
				Attributes: map[string]string{"name": "Checkout", "step": "2"}}},
		{"identify links the visitor", "/v1/identify", `{"userId":"42","anonymousId":"a-1","messageId":"m-5","timestamp":"2026-11-22T10:00:00Z","traits":{"plan":"pro","address":{"city":"Lyon"}}}`,
			tracker.Event{UserID: "42", AnonymousID: "a-1", Type: "identify", ID: "m-5", At: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), IP: "192.0.2.1",
				Attributes: map[string]string{"plan": "pro", "address.city": "Lyon"}}},
		{"alias stores previousId as anonymous_id", "/v1/alias", `{"userId":"42","previousId":"old-7","messageId":"m-6","timestamp":"2026-11-22T10:00:00Z"}`,
			tracker.Event{UserID: "42", AnonymousID: "old-7", Type: "alias", ID: "m-6", At: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), IP: "192.0.2.1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := newMemSink(t)
			h := newHandler(t, sink, collector.Config{})
			status, resp, _ := do(t, h, request{path: tc.path, body: tc.body, key: testKey})
			if status != http.StatusOK || !resp.Success || resp.Accepted != 1 {
				t.Fatalf("status %d %+v", status, resp)
			}
			got := sink.stored()
			if len(got) != 1 {
				t.Fatalf("stored %d events", len(got))
			}
			want, err := sink.tr.Validate(tc.want)
			if err != nil {
				t.Fatal(err)
			}
			assertEvent(t, got[0], want)
		})
	}
}

func assertEvent(t *testing.T, got, want tracker.Event) {
	t.Helper()
	if got.UserID != want.UserID || got.AnonymousID != want.AnonymousID || got.Type != want.Type || got.ID != want.ID ||
		!got.At.Equal(want.At) || got.IP != want.IP || got.UserAgent != want.UserAgent || fmt.Sprint(got.Attributes) != fmt.Sprint(want.Attributes) {
		t.Errorf("stored\n%+v\nwant\n%+v", got, want)
	}
}

func TestSegmentBatchKeepsTheGoodEvents(t *testing.T) {
	sink := newMemSink(t)
	h := newHandler(t, sink, collector.Config{})
	body := `{"batch":[
		{"type":"track","userId":"1","event":"Signed Up","messageId":"b-0"},
		{"type":"track","userId":"1","event":"Teleported","messageId":"b-1"},
		{"type":"page","messageId":"b-2"},
		{"type":"identify","userId":{"id":1},"messageId":"b-3"},
		{"type":"group","userId":"1","groupId":"g"},
		{"type":"page","anonymousId":"a","messageId":"b-5","timestamp":"yesterday"},
		{"type":"alias","userId":"1","messageId":"b-6"},
		{"type":"screen","anonymousId":"a","messageId":"b-7","name":"Home"}
	],"sentAt":"2026-11-22T10:04:05Z"}`
	status, resp, _ := do(t, h, request{path: "/v1/batch", body: body, key: testKey})
	if status != http.StatusBadRequest || resp.Success || resp.Accepted != 2 || resp.Rejected != 6 {
		t.Fatalf("status %d %+v", status, resp)
	}
	want := map[int]string{1: "event", 2: "userId", 3: "userId", 4: "type", 5: "timestamp", 6: "previousId"}
	got := map[int]string{}
	for _, p := range resp.Errors {
		if _, dup := got[p.Index]; !dup {
			got[p.Index] = p.Field
		}
		if p.Reason == "" {
			t.Errorf("problem without a reason: %+v", p)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("problems %+v, want fields by index %v", resp.Errors, want)
	}
	stored := sink.stored()
	if len(stored) != 2 || stored[0].ID != "b-0" || stored[0].Type != "signup" || stored[1].ID != "b-7" {
		t.Errorf("stored %+v", stored)
	}
	if !strings.Contains(resp.Errors[0].Reason, "teleported") {
		t.Errorf("unknown type reason %q should name the normalized type", resp.Errors[0].Reason)
	}
}

func TestClockSkewCorrection(t *testing.T) {
	ts := "2026-11-22T09:00:00Z"
	base := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		fields    string
		tolerance time.Duration
		want      time.Time
	}{
		{"no sentAt: timestamp as sent", `"timestamp":"` + ts + `"`, 0, base},
		{"small skew kept (retries keep their time)", `"timestamp":"` + ts + `","sentAt":"2026-11-22T10:04:00Z"`, 0, base},
		{"client clock an hour slow", `"timestamp":"` + ts + `","sentAt":"2026-11-22T09:04:05Z"`, 0, base.Add(time.Hour)},
		{"client clock 10 minutes fast", `"timestamp":"` + ts + `","sentAt":"2026-11-22T10:14:05Z"`, 0, base.Add(-10 * time.Minute)},
		{"always correct", `"timestamp":"` + ts + `","sentAt":"2026-11-22T10:04:00Z"`, -1, base.Add(5 * time.Second)},
		{"originalTimestamp", `"originalTimestamp":"` + ts + `","sentAt":"2026-11-22T09:04:05Z"`, 0, base.Add(time.Hour)},
		{"no timestamp: sentAt, corrected", `"sentAt":"2026-11-22T09:04:05Z"`, 0, testNow},
		{"no timestamp, no sentAt: receivedAt", ``, 0, testNow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := newMemSink(t)
			h := newHandler(t, sink, collector.Config{ClockSkewTolerance: tc.tolerance})
			body := `{"userId":"1","event":"login"`
			if tc.fields != "" {
				body += "," + tc.fields
			}
			status, resp, _ := do(t, h, request{path: "/v1/track", body: body + "}", key: testKey})
			if status != http.StatusOK {
				t.Fatalf("status %d %+v", status, resp)
			}
			if got := sink.stored()[0].At; !got.Equal(tc.want) {
				t.Errorf("event_at %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("batch sentAt applies to its messages", func(t *testing.T) {
		sink := newMemSink(t)
		h := newHandler(t, sink, collector.Config{})
		body := `{"sentAt":"2026-11-22T09:04:05Z","batch":[{"type":"track","userId":"1","event":"login","timestamp":"` + ts + `"}]}`
		if status, resp, _ := do(t, h, request{path: "/v1/batch", body: body, key: testKey}); status != http.StatusOK {
			t.Fatalf("status %d %+v", status, resp)
		}
		if got := sink.stored()[0].At; !got.Equal(base.Add(time.Hour)) {
			t.Errorf("event_at %v", got)
		}
	})
}

func TestEventID(t *testing.T) {
	for in, want := range map[string]string{
		"":                                     "",
		"0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b": "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
		"ajs-next-1732269845123-7f3c":          "ajs-next-1732269845123-7f3c",
		"node-next-1732269845-abc_DEF":         "node-next-1732269845-abc_DEF",
	} {
		if got := collector.EventID(in); got != want {
			t.Errorf("EventID(%q) = %q, want it unchanged", in, got)
		}
	}
	for _, in := range []string{"with space", "a.b", "ünïcode", strings.Repeat("x", 65), "ajs-{uuid}"} {
		got := collector.EventID(in)
		if got != collector.EventID(in) || len(got) != 45 || !strings.HasPrefix(got, "h_") {
			t.Errorf("EventID(%q) = %q: want a stable 45-byte h_ hash", in, got)
		}
		if _, err := newMemSink(t).tr.Validate(tracker.Event{UserID: "u", Type: "login", ID: got}); err != nil {
			t.Errorf("EventID(%q) = %q is not a valid event ID: %v", in, got, err)
		}
	}
	if collector.EventID("a b") == collector.EventID("a_b") {
		t.Error("two messageIds map to one ID")
	}
}

func TestEventNames(t *testing.T) {
	for in, want := range map[string]string{
		"Order Completed": "order_completed", "Login": "login", "  page--view!! ": "page_view", "Ünïcode 2": "n_code_2", "---": "",
	} {
		if got := collector.NormalizeEventName(in); got != want {
			t.Errorf("NormalizeEventName(%q) = %q, want %q", in, got, want)
		}
	}
	sink := newMemSink(t)
	h := newHandler(t, sink, collector.Config{EventNames: map[string]string{"Checkout Done": "purchase"}})
	for name, want := range map[string]string{"checkout_done": "purchase", "CHECKOUT DONE": "purchase", "Page View": "page_view"} {
		if status, resp, _ := do(t, h, request{path: "/v1/track", body: `{"userId":"1","event":"` + name + `"}`, key: testKey}); status != http.StatusOK {
			t.Fatalf("%s: %d %+v", name, status, resp)
		}
		if got := sink.stored(); got[len(got)-1].Type != want {
			t.Errorf("%s stored as %s, want %s", name, got[len(got)-1].Type, want)
		}
	}
	// With a custom mapping the defaults are gone.
	status, resp, _ := do(t, h, request{path: "/v1/track", body: `{"userId":"1","event":"Order Completed"}`, key: testKey})
	if status != http.StatusBadRequest || resp.Errors[0].Field != "event" || !strings.Contains(resp.Errors[0].Reason, "order_completed") {
		t.Errorf("unmapped unknown name: %d %+v", status, resp)
	}
}
