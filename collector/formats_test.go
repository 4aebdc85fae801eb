package collector_test

import (
	"testing"
	"time"

	"github.com/eventlake/eventlake/collector"
	"github.com/eventlake/eventlake/tracker"
)

func TestEventlakeJSON(t *testing.T) {
	one := `{"user_id":"42","event_type":"login","event_at":"2026-11-22T10:00:00.123Z","event_id":"e-1","ip_address":"2001:db8::1","user_agent":"curl/8.5","attributes":{"method":"password","n":3}}`
	for _, tc := range []struct {
		name, body string
		status     int
		stored     int
		problems   map[int]string // index -> field
	}{
		{"one object", one, 200, 1, nil},
		{"pretty object", "{\n  \"user_id\": \"42\",\n  \"event_type\": \"login\"\n}\n", 200, 1, nil},
		{"array", `[` + one + `,{"anonymous_id":"a","event_type":"page_view"}]`, 200, 2, nil},
		{"NDJSON with a bad line", one + "\n{\"anonymous_id\":\"a\",\"event_type\":\"page_view\"}\nnot json\n\n{\"event_type\":\"click\"}\n[1]\n", 400, 2,
			map[int]string{2: "", 3: "user_id", 4: ""}},
		{"bad fields", `[{"user_id":"1","event_type":"login","event_at":"yesterday"},{"user_id":"1","event_type":"login","event_id":"has space"},{"user_id":"1","event_type":"fly"}]`, 400, 0,
			map[int]string{0: "event_at", 1: "event_id", 2: "event_type"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := newMemSink(t)
			h := newHandler(t, sink, collector.Config{})
			status, resp, _ := do(t, h, request{path: "/v1/events", body: tc.body, key: testKey, remote: "203.0.113.5:1", header: map[string]string{"User-Agent": "req-agent/1"}})
			if status != tc.status || resp.Accepted != tc.stored || len(sink.stored()) != tc.stored {
				t.Fatalf("status %d %+v, stored %d", status, resp, len(sink.stored()))
			}
			got := map[int]string{}
			for _, p := range resp.Errors {
				got[p.Index] = p.Field
			}
			for i, f := range tc.problems {
				if g, ok := got[i]; !ok || g != f {
					t.Errorf("problem of event %d: %q, want field %q (%+v)", i, g, f, resp.Errors)
				}
			}
		})
	}
	t.Run("fields", func(t *testing.T) {
		sink := newMemSink(t)
		h := newHandler(t, sink, collector.Config{})
		do(t, h, request{path: "/v1/events", body: one + "\n" + `{"anonymous_id":"a","event_type":"page_view"}`, key: testKey, remote: "203.0.113.5:1", header: map[string]string{"User-Agent": "req-agent/1"}})
		got := sink.stored()
		want := tracker.Event{UserID: "42", Type: "login", At: time.Date(2026, 11, 22, 10, 0, 0, 123e6, time.UTC), ID: "e-1", IP: "2001:db8::1", UserAgent: "curl/8.5",
			Attributes: map[string]string{"method": "password", "n": "3"}}
		assertEvent(t, got[0], want)
		if got[1].IP != "203.0.113.5" || got[1].UserAgent != "req-agent/1" || !got[1].At.Equal(testNow) {
			t.Errorf("defaults from the request: %+v", got[1])
		}
	})
	t.Run("a lake line goes back in unchanged", func(t *testing.T) {
		sink := newMemSink(t)
		h := newHandler(t, sink, collector.Config{})
		orig, err := sink.tr.Validate(tracker.Event{UserID: "42", AnonymousID: "a-1", Type: "page_view", At: testNow.Add(-time.Hour), ID: "x_1",
			UserAgent: browserUA, IP: "198.51.100.7", Attributes: map[string]string{"url": "https://shop.example/?q=\"x\"", "title": "Ünï"}})
		if err != nil {
			t.Fatal(err)
		}
		line := tracker.AppendLine(nil, orig)
		if status, resp, _ := do(t, h, request{path: "/v1/events", body: string(line), key: testKey}); status != 200 {
			t.Fatalf("status %d %+v", status, resp)
		}
		if again := tracker.AppendLine(nil, sink.stored()[0]); string(again) != string(line) {
			t.Errorf("line changed:\n%s%s", line, again)
		}
	})
}

func TestSeed001(t *testing.T) {
	for _, tc := range []struct {
		name, query string
		status      int
		want        tracker.Event
		field       string
	}{
		{"click", "timestamp=1763805845&user=3&event=click", 204, tracker.Event{UserID: "3", Type: "click", At: time.Unix(1763805845, 0)}, ""},
		{"impression, fractional time", "timestamp=1763805845.25&user=1&event=impression", 204, tracker.Event{UserID: "1", Type: "impression", At: time.Unix(1763805845, 250e6)}, ""},
		{"no timestamp: now", "user=1&event=click", 204, tracker.Event{UserID: "1", Type: "click", At: testNow}, ""},
		{"unknown event", "timestamp=1763805845&user=3&event=hover", 400, tracker.Event{}, "event"},
		{"no user", "timestamp=1763805845&event=click", 400, tracker.Event{}, "user"},
		{"bad timestamp", "timestamp=soon&user=3&event=click", 400, tracker.Event{}, "timestamp"},
		{"ancient timestamp", "timestamp=0&user=3&event=click", 400, tracker.Event{}, "timestamp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := newMemSink(t)
			h := newHandler(t, sink, collector.Config{})
			status, resp, _ := do(t, h, request{path: "/analytics?write_key=" + testKey + "&" + tc.query, remote: "203.0.113.5:1", header: map[string]string{"User-Agent": "PostmanRuntime/7.0"}})
			if status != tc.status {
				t.Fatalf("status %d %+v", status, resp)
			}
			if status == 204 {
				if resp != nil {
					t.Errorf("204 with a body %+v", resp)
				}
				tc.want.IP, tc.want.UserAgent = "203.0.113.5", "PostmanRuntime/7.0"
				got := sink.stored()[0]
				tc.want.ID = got.ID // generated
				want, _ := sink.tr.Validate(tc.want)
				assertEvent(t, got, want)
				return
			}
			if len(resp.Errors) == 0 || resp.Errors[0].Field != tc.field || len(sink.stored()) != 0 {
				t.Errorf("errors %+v, want field %q", resp.Errors, tc.field)
			}
		})
	}
}

func TestSeed003(t *testing.T) {
	payload := func(extra string) string {
		return `{"fingerprint":"b998efcb-1af3-4149-9b56-34c4482f6606","user_id":null,"url":"https://www.blinkist.com/en?utm_source=facebook&utm_campaign=c3","referrer_url":null,"created_at":"2023-01-20 13:59:56.437947 UTC"` + extra + `}`
	}
	at := time.Date(2023, 1, 20, 13, 59, 56, 437947000, time.UTC)
	for _, tc := range []struct {
		name, path, body string
		status           int
		want             tracker.Event
		field            string
	}{
		{"pageview", "/event", payload(`,"event":"pageview"`), 200, tracker.Event{AnonymousID: "b998efcb-1af3-4149-9b56-34c4482f6606", Type: "page_view", At: at,
			Attributes: map[string]string{"url": "https://www.blinkist.com/en?utm_source=facebook&utm_campaign=c3", "path": "/en", "utm_source": "facebook", "utm_campaign": "c3"}}, ""},
		{"signup links the fingerprint", "/event", `{"fingerprint":"fp","user_id":77,"url":"https://x.example/","referrer_url":"https://ad.example/","created_at":"2023-01-20T13:59:56Z","type":"signup"}`, 200,
			tracker.Event{UserID: "77", AnonymousID: "fp", Type: "signup", At: time.Date(2023, 1, 20, 13, 59, 56, 0, time.UTC),
				Attributes: map[string]string{"url": "https://x.example/", "path": "/", "referrer": "https://ad.example/"}}, ""},
		{"trial by query", "/event?event=trial", payload(""), 200, tracker.Event{AnonymousID: "b998efcb-1af3-4149-9b56-34c4482f6606", Type: "trial_started", At: at,
			Attributes: map[string]string{"url": "https://www.blinkist.com/en?utm_source=facebook&utm_campaign=c3", "path": "/en", "utm_source": "facebook", "utm_campaign": "c3"}}, ""},
		{"unsubscribe", "/event", `{"fingerprint":"fp","user_id":"u","event":"unsubscribe","created_at":"2023-01-20 13:59:56 UTC"}`, 200,
			tracker.Event{UserID: "u", AnonymousID: "fp", Type: "unsubscribed", At: time.Date(2023, 1, 20, 13, 59, 56, 0, time.UTC)}, ""},
		{"no event", "/event", payload(""), 400, tracker.Event{}, "event"},
		{"unknown event", "/event", payload(`,"event":"refund"`), 400, tracker.Event{}, "event"},
		{"no identity", "/event", `{"event":"pageview"}`, 400, tracker.Event{}, "fingerprint"},
		{"bad time", "/event", payload(`,"event":"pageview","created_at":"last tuesday"`), 400, tracker.Event{}, "created_at"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := newMemSink(t)
			h := newHandler(t, sink, collector.Config{})
			status, resp, _ := do(t, h, request{path: tc.path, body: tc.body, key: testKey, remote: "198.51.100.9:1", header: map[string]string{"User-Agent": "Ruby"}})
			if status != tc.status {
				t.Fatalf("status %d %+v", status, resp)
			}
			if status == 200 {
				got := sink.stored()[0]
				tc.want.IP, tc.want.UserAgent, tc.want.ID = "198.51.100.9", "Ruby", got.ID
				want, err := sink.tr.Validate(tc.want)
				if err != nil {
					t.Fatal(err)
				}
				assertEvent(t, got, want)
				return
			}
			if len(resp.Errors) == 0 || resp.Errors[0].Field != tc.field || len(sink.stored()) != 0 {
				t.Errorf("errors %+v, want field %q", resp.Errors, tc.field)
			}
			if resp.Errors[0].Reason == "" {
				t.Error("a problem without a reason")
			}
		})
	}
}
