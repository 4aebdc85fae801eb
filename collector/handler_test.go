package collector_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/eventlake/eventlake/collector"
	"github.com/eventlake/eventlake/tracker"
)

const trackBody = `{"userId":"1","event":"login","messageId":"m-1"}`

func TestWriteKeys(t *testing.T) {
	for _, tc := range []struct {
		name   string
		req    request
		status int
	}{
		{"basic user name", request{path: "/v1/track", body: trackBody, key: testKey}, 200},
		{"second valid key", request{path: "/v1/track", body: trackBody, key: "wk_test_2"}, 200},
		{"query parameter", request{path: "/v1/track?write_key=" + testKey, body: trackBody}, 200},
		{"body writeKey (analytics.js)", request{path: "/v1/track", body: `{"writeKey":"` + testKey + `","userId":"1","event":"login"}`}, 200},
		{"batch writeKey", request{path: "/v1/batch", body: `{"writeKey":"` + testKey + `","batch":[{"type":"track","userId":"1","event":"login"}]}`}, 200},
		{"missing", request{path: "/v1/track", body: trackBody}, 401},
		{"unknown", request{path: "/v1/track", body: trackBody, key: "wk_nope"}, 401},
		{"unknown in query", request{path: "/v1/events?write_key=nope", body: `{"user_id":"1","event_type":"login"}`}, 401},
		{"unknown in body", request{path: "/v1/track", body: `{"writeKey":"nope","userId":"1","event":"login"}`}, 401},
		{"unknown header wins over a good body key", request{path: "/v1/track", body: `{"writeKey":"` + testKey + `","userId":"1","event":"login"}`, key: "nope"}, 401},
		{"seed 001 without key", request{path: "/analytics?timestamp=1700000000&user=3&event=click"}, 401},
		{"seed 003 body key is not read", request{path: "/event", body: `{"writeKey":"` + testKey + `","fingerprint":"f","event":"pageview"}`}, 401},
		{"eventlake without key", request{path: "/v1/events", body: `{"user_id":"1","event_type":"login"}`}, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := newMemSink(t)
			h := newHandler(t, sink, collector.Config{})
			status, resp, res := do(t, h, tc.req)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %+v", status, tc.status, resp)
			}
			if status == 401 {
				if n := len(sink.stored()); n != 0 || sink.calls != 0 {
					t.Errorf("401 but %d events stored", n)
				}
				if resp.Error == "" {
					t.Error("401 without a reason")
				}
				if tc.req.key == "" && !strings.Contains(tc.name, "unknown") && res.Header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
			}
		})
	}
	t.Run("rotation", func(t *testing.T) {
		keys, _ := collector.NewKeySet("old")
		sink := newMemSink(t)
		h := newHandler(t, sink, collector.Config{WriteKeys: keys})
		if err := keys.Set("old", "new"); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"old", "new"} {
			if status, _, _ := do(t, h, request{path: "/v1/track", body: trackBody, key: k}); status != 200 {
				t.Errorf("key %s during rotation: %d", k, status)
			}
		}
		if err := keys.Set("new"); err != nil {
			t.Fatal(err)
		}
		if status, _, _ := do(t, h, request{path: "/v1/track", body: trackBody, key: "old"}); status != 401 {
			t.Errorf("retired key: %d", status)
		}
		if err := keys.Set(); err == nil || keys.Valid("old") || !keys.Valid("new") {
			t.Error("Set() with no keys must fail and keep the keys")
		}
		for _, bad := range []string{"", "has space", "co:lon", strings.Repeat("k", collector.MaxWriteKeyBytes+1)} {
			if err := keys.Set(bad); err == nil {
				t.Errorf("Set(%q) accepted", bad)
			}
		}
	})
}

func TestConfig(t *testing.T) {
	keys, _ := collector.NewKeySet("k")
	for name, cfg := range map[string]collector.Config{
		"no keys":        {},
		"bad origin":     {WriteKeys: keys, AllowedOrigins: []string{"shop.example"}},
		"origin path":    {WriteKeys: keys, AllowedOrigins: []string{"https://shop.example/x"}},
		"bad proxy":      {WriteKeys: keys, TrustedProxies: []string{"10.0.0.0/33"}},
		"negative limit": {WriteKeys: keys, MaxEventBytes: -1},
		"batch < event":  {WriteKeys: keys, MaxEventBytes: 100, MaxBatchBytes: 10},
		"empty name":     {WriteKeys: keys, EventNames: map[string]string{"!!": "login"}},
	} {
		if _, err := collector.New(newMemSink(t), cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
	if _, err := collector.New(nil, collector.Config{WriteKeys: keys}); err == nil {
		t.Error("New accepted a nil sink")
	}
}

func TestRoutesAndMethods(t *testing.T) {
	h := newHandler(t, newMemSink(t), collector.Config{})
	if status, _, _ := do(t, h, request{path: "/v2/track", body: trackBody, key: testKey}); status != 404 {
		t.Errorf("unknown path: %d", status)
	}
	status, _, res := do(t, h, request{method: http.MethodGet, path: "/v1/track", key: testKey})
	if status != 405 || res.Header.Get("Allow") != "POST, OPTIONS" {
		t.Errorf("GET: %d, Allow %q", status, res.Header.Get("Allow"))
	}
	if len(collector.Paths()) < 18 {
		t.Errorf("Paths() = %v", collector.Paths())
	}
}

func gzipped(t testing.TB, s string) string {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	zw.Close()
	return b.String()
}

func TestLimitsAndEncodings(t *testing.T) {
	big := strings.Repeat("x", 33<<10)
	event := func(i int, pad string) string {
		return fmt.Sprintf(`{"type":"track","userId":"u","event":"click","messageId":"m-%d","properties":{"pad":"%s"}}`, i, pad)
	}
	var batch []string
	for i := range 40 { // 40 events of about 14 KB: over 500 KB
		batch = append(batch, event(i, strings.Repeat("y", 14<<10)))
	}
	for _, tc := range []struct {
		name     string
		req      request
		status   int
		accepted int
		reason   string
	}{
		{"single event over 32 KB", request{path: "/v1/track", body: `{"userId":"1","event":"login","properties":{"p":"` + big + `"}}`}, 400, 0, "over the limit"},
		{"batch over 500 KB", request{path: "/v1/batch", body: `{"batch":[` + strings.Join(batch, ",") + `]}`}, 400, 0, "over the limit"},
		{"one event of a batch over 32 KB", request{path: "/v1/batch", body: `{"batch":[` + event(0, "") + "," + event(1, big) + "," + event(2, "") + `]}`}, 400, 2, "over the limit"},
		{"gzip", request{path: "/v1/track", body: gzipped(t, trackBody), header: map[string]string{"Content-Encoding": "gzip"}}, 200, 1, ""},
		{"gzip bomb", request{path: "/v1/batch", body: gzipped(t, `{"batch":[`+strings.Repeat(" ", 2<<20)+`]}`), header: map[string]string{"Content-Encoding": "gzip"}}, 400, 0, "after decompression"},
		{"not gzip", request{path: "/v1/track", body: trackBody, header: map[string]string{"Content-Encoding": "gzip"}}, 400, 0, "gzip"},
		{"truncated gzip", request{path: "/v1/track", body: gzipped(t, trackBody)[:20], header: map[string]string{"Content-Encoding": "gzip"}}, 400, 0, "gzip"},
		{"brotli", request{path: "/v1/track", body: trackBody, header: map[string]string{"Content-Encoding": "br"}}, 400, 0, "not supported"},
		{"empty body", request{path: "/v1/track", body: ""}, 400, 0, "JSON"},
		{"empty batch", request{path: "/v1/batch", body: `{"batch":[]}`}, 400, 0, "no events"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := newMemSink(t)
			h := newHandler(t, sink, collector.Config{})
			tc.req.key = testKey
			status, resp, _ := do(t, h, tc.req)
			if status != tc.status || resp == nil || resp.Accepted != tc.accepted {
				t.Fatalf("status %d %+v, want %d with %d accepted", status, resp, tc.status, tc.accepted)
			}
			text := resp.Error
			for _, p := range resp.Errors {
				text += " " + p.Reason
			}
			if !strings.Contains(text, tc.reason) {
				t.Errorf("reason %q lacks %q", text, tc.reason)
			}
			if n := len(sink.stored()); n != tc.accepted {
				t.Errorf("%d events stored", n)
			}
		})
	}
}

// TestHostileBodies sends what an attacker or a broken client sends: each
// answer is 400 with the reason, and nothing is stored.
func TestHostileBodies(t *testing.T) {
	deep := func(n int, open, close string) string {
		return strings.Repeat(open, n) + "1" + strings.Repeat(close, n)
	}
	for _, tc := range []struct {
		name, path, body string
		reason           string
	}{
		{"deep nesting in properties", "/v1/track", `{"userId":"1","event":"login","properties":{"a":` + deep(40, `{"a":`, "}") + `}}`, "deeper than"},
		{"deep arrays in properties", "/v1/track", `{"userId":"1","event":"login","properties":{"a":` + deep(40, "[", "]") + `}}`, "deeper than"},
		{"deep nesting of the body", "/v1/track", deep(15000, "[", "]"), "not valid JSON"},
		{"invalid UTF-8", "/v1/track", "{\"userId\":\"1\xff\",\"event\":\"login\"}", "UTF-8"},
		{"invalid UTF-8 in eventlake JSON", "/v1/events", "{\"user_id\":\"1\",\"event_type\":\"login\",\"attributes\":{\"k\":\"\xc3\x28\"}}", "UTF-8"},
		{"huge user ID", "/v1/track", `{"userId":"` + strings.Repeat("u", 20000) + `","event":"login"}`, "limit"},
		{"huge event name", "/v1/track", `{"userId":"1","event":"` + strings.Repeat("e", 20000) + `"}`, "not an allowed type"},
		{"userId object", "/v1/track", `{"userId":{"a":1},"event":"login"}`, "string or a number"},
		{"event number", "/v1/track", `{"userId":"1","event":5}`, "must be a string"},
		{"context string", "/v1/track", `{"userId":"1","event":"login","context":"x"}`, "must be an object"},
		{"properties array", "/v1/track", `{"userId":"1","event":"login","properties":[1,2]}`, "must be an object"},
		{"timestamp number", "/v1/track", `{"userId":"1","event":"login","timestamp":1700000000}`, "must be a string"},
		{"batch not an array", "/v1/batch", `{"batch":{"type":"track"}}`, "array"},
		{"batch of strings", "/v1/batch", `{"batch":["x","y"]}`, "JSON object"},
		{"body an array", "/v1/track", `[1,2,3]`, "JSON object"},
		{"not JSON", "/v1/track", `userId=1&event=login`, "not valid JSON"},
		{"trailing garbage", "/v1/track", `{"userId":"1","event":"login"} x`, "not valid JSON"},
		{"control character in ID", "/v1/track", `{"userId":"a\u0000b","event":"login"}`, "control character"},
		{"bad IP", "/v1/track", `{"userId":"1","event":"login","context":{"ip":"999.1.1.1"}}`, "IPv4 or IPv6"},
		{"eventlake wrong types", "/v1/events", `{"user_id":true,"event_type":"login"}`, "string or a number"},
		{"eventlake attributes string", "/v1/events", `{"user_id":"1","event_type":"login","attributes":"x"}`, "must be an object"},
		{"seed 003 wrong type", "/event", `{"fingerprint":["f"],"event":"pageview"}`, "string or a number"},
		{"seed 003 not JSON", "/event", `fingerprint=f`, "not valid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := newMemSink(t)
			h := newHandler(t, sink, collector.Config{})
			status, resp, _ := do(t, h, request{path: tc.path, body: tc.body, key: testKey})
			if status != http.StatusBadRequest || resp == nil || resp.Success || resp.Accepted != 0 {
				t.Fatalf("status %d %+v, want 400", status, resp)
			}
			text := resp.Error
			for _, p := range resp.Errors {
				text += " " + p.Field + ": " + p.Reason
			}
			if !strings.Contains(text, tc.reason) {
				t.Errorf("reason %q lacks %q", truncate(text), tc.reason)
			}
			if n := len(sink.stored()); n != 0 {
				t.Errorf("%d events stored", n)
			}
		})
	}
}

func truncate(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

func TestAttributes(t *testing.T) {
	many := map[string]string{}
	var props []string
	for i := range 40 {
		k := fmt.Sprintf("k%02d", i)
		props = append(props, fmt.Sprintf(`"%s":"v"`, k))
		if i < tracker.MaxAttributes-1 { // url takes one place
			many[k] = "v"
		}
	}
	many["url"] = "https://x.example/"
	for _, tc := range []struct {
		name     string
		props    string
		want     map[string]string
		warnings []string // fields
	}{
		{"flattened and stringified", `{"order":{"id":"o-1","total":19.5,"paid":true,"items":[{"sku":"A"},2],"coupon":null,"note":""}}`,
			map[string]string{"order.id": "o-1", "order.total": "19.5", "order.paid": "true", "order.items": `[{"sku":"A"},2]`}, nil},
		{"keys sanitized", `{"$revenue":1,"Order ID":"x","1st":"y","ok-key_1":"z","a.b":"c","":"e"}`,
			map[string]string{"x_revenue": "1", "Order_ID": "x", "x1st": "y", "ok-key_1": "z", "a_b": "c", "x_": "e"}, nil},
		{"a property replaces a standard attribute", `{"url":"https://override.example/"}`,
			map[string]string{"url": "https://override.example/"}, nil},
		{"long value cut, long key dropped", `{"v":"` + strings.Repeat("é", 1500) + `","` + strings.Repeat("k", 70) + `":"x"}`,
			map[string]string{"url": "https://x.example/", "v": strings.Repeat("é", 1024)}, []string{"properties." + strings.Repeat("k", 70), "properties.v"}},
		{"at most 32 attributes, in key order", "{" + strings.Join(props, ",") + "}", many, []string{"properties"}},
		{"at most 16 KiB", `{"a":"` + strings.Repeat("a", 2000) + `","b":"` + strings.Repeat("b", 2000) + `","c":"` + strings.Repeat("c", 2000) +
			`","d":"` + strings.Repeat("d", 2000) + `","e":"` + strings.Repeat("e", 2000) + `","f":"` + strings.Repeat("f", 2000) +
			`","g":"` + strings.Repeat("g", 2000) + `","h":"` + strings.Repeat("h", 2000) + `","i":"` + strings.Repeat("i", 2000) + `"}`,
			nil, []string{"properties"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := newMemSink(t)
			h := newHandler(t, sink, collector.Config{})
			body := `{"userId":"1","event":"click","context":{"page":{"url":"https://x.example/"}},"properties":` + tc.props + `}`
			status, resp, _ := do(t, h, request{path: "/v1/track", body: body, key: testKey})
			if status != http.StatusOK {
				t.Fatalf("status %d %+v", status, resp)
			}
			got := sink.stored()[0].Attributes
			if tc.want == nil {
				total := 0
				for k, v := range got {
					total += len(k) + len(v)
				}
				if total > tracker.MaxAttributesBytes || got["url"] == "" {
					t.Errorf("%d bytes of attributes, url %q", total, got["url"])
				}
			} else {
				if _, ok := tc.want["url"]; !ok && tc.name != "a property replaces a standard attribute" {
					tc.want["url"] = "https://x.example/"
				}
				if fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Errorf("attributes\n%v\nwant\n%v", got, tc.want)
				}
			}
			var warned []string
			for _, w := range resp.Warnings {
				warned = append(warned, w.Field)
			}
			if fmt.Sprint(warned) != fmt.Sprint(tc.warnings) {
				t.Errorf("warnings %+v, want fields %v", resp.Warnings, tc.warnings)
			}
		})
	}
}

func TestCORS(t *testing.T) {
	h := newHandler(t, newMemSink(t), collector.Config{AllowedOrigins: []string{"https://shop.example"}})
	pre := func(origin string) *http.Response {
		_, _, res := do(t, h, request{method: http.MethodOptions, path: "/v1/t", header: map[string]string{
			"Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type"}})
		return res
	}
	res := pre("https://shop.example")
	if res.StatusCode != 204 || res.Header.Get("Access-Control-Allow-Origin") != "https://shop.example" ||
		res.Header.Get("Access-Control-Allow-Headers") != "authorization, content-type" || !strings.Contains(res.Header.Get("Access-Control-Allow-Methods"), "POST") {
		t.Errorf("allowed preflight: %d %v", res.StatusCode, res.Header)
	}
	if res := pre("https://evil.example"); res.StatusCode != 403 || res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("other origin's preflight: %d %v", res.StatusCode, res.Header)
	}
	_, _, res = do(t, h, request{path: "/v1/track", body: trackBody, key: testKey, header: map[string]string{"Origin": "https://shop.example"}})
	if res.Header.Get("Access-Control-Allow-Origin") != "https://shop.example" || !strings.Contains(res.Header.Get("Vary"), "Origin") {
		t.Errorf("request from the allowed origin: %v", res.Header)
	}
	_, _, res = do(t, h, request{path: "/v1/track", body: trackBody, key: testKey, header: map[string]string{"Origin": "https://evil.example"}})
	if res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("request from another origin got %v", res.Header)
	}
	any := newHandler(t, newMemSink(t), collector.Config{AllowedOrigins: []string{"*"}})
	_, _, res = do(t, any, request{path: "/v1/track", body: trackBody, key: testKey, header: map[string]string{"Origin": "https://a.example"}})
	if res.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("any origin: %v", res.Header)
	}
	none := newHandler(t, newMemSink(t), collector.Config{})
	if status, _, res := do(t, none, request{method: http.MethodOptions, path: "/v1/t", header: map[string]string{"Origin": "https://shop.example"}}); status != 405 || res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("no CORS configured: %d %v", status, res.Header)
	}
}

func TestClientIP(t *testing.T) {
	for _, tc := range []struct {
		name    string
		trusted []string
		remote  string
		xff     []string
		ctxIP   string
		want    string
	}{
		{"connection", nil, "203.0.113.9:5555", nil, "", "203.0.113.9"},
		{"X-Forwarded-For ignored without trusted proxies", nil, "203.0.113.9:5555", []string{"198.51.100.1"}, "", "203.0.113.9"},
		{"X-Forwarded-For ignored from an untrusted peer", []string{"10.0.0.0/8"}, "203.0.113.9:5555", []string{"198.51.100.1"}, "", "203.0.113.9"},
		{"through a trusted proxy", []string{"10.0.0.0/8"}, "10.1.2.3:5555", []string{"198.51.100.1"}, "", "198.51.100.1"},
		{"rightmost untrusted", []string{"10.0.0.0/8"}, "10.1.2.3:5555", []string{"6.6.6.6, 198.51.100.1, 10.9.9.9"}, "", "198.51.100.1"},
		{"several headers", []string{"10.0.0.0/8", "192.168.0.1"}, "10.1.2.3:5555", []string{"6.6.6.6", "198.51.100.2, 192.168.0.1"}, "", "198.51.100.2"},
		{"garbage stops the walk", []string{"10.0.0.0/8"}, "10.1.2.3:5555", []string{"198.51.100.1, junk"}, "", "10.1.2.3"},
		{"IPv6", []string{"fd00::/8"}, "[fd00::1]:443", []string{"2001:db8::7"}, "", "2001:db8::7"},
		{"mapped IPv4 peer", nil, "[::ffff:203.0.113.9]:1", nil, "", "203.0.113.9"},
		{"context.ip wins", []string{"10.0.0.0/8"}, "10.1.2.3:5555", []string{"198.51.100.1"}, "192.0.2.44", "192.0.2.44"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := newMemSink(t)
			h := newHandler(t, sink, collector.Config{TrustedProxies: tc.trusted})
			body := trackBody
			if tc.ctxIP != "" {
				body = `{"userId":"1","event":"login","context":{"ip":"` + tc.ctxIP + `"}}`
			}
			r := httptest.NewRequest(http.MethodPost, "/v1/track", strings.NewReader(body))
			r.SetBasicAuth(testKey, "")
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != 200 {
				t.Fatalf("status %d %s", w.Code, w.Body)
			}
			if got := sink.stored()[0].IP; got != tc.want {
				t.Errorf("ip %q, want %q", got, tc.want)
			}
		})
	}
}

func TestStorageFailure(t *testing.T) {
	sink := newMemSink(t)
	sink.fail = func(e tracker.Event) bool { return e.Type == "click" }
	h := newHandler(t, sink, collector.Config{})
	body := `{"batch":[{"type":"track","userId":"1","event":"login"},{"type":"track","userId":"1","event":"click"},{"type":"track","userId":"1","event":"teleport"}]}`
	status, resp, res := do(t, h, request{path: "/v1/batch", body: body, key: testKey})
	if status != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" || resp.Accepted != 1 || resp.Rejected != 2 {
		t.Fatalf("status %d %+v %v", status, resp, res.Header)
	}
	if len(resp.Errors) != 2 || resp.Errors[0].Index != 1 || !strings.Contains(resp.Errors[0].Reason, "send it again") || resp.Errors[1].Field != "event" {
		t.Errorf("errors %+v", resp.Errors)
	}
}

func TestBotsAreFlaggedNotDropped(t *testing.T) {
	sink := newMemSink(t)
	h := newHandler(t, sink, collector.Config{})
	body := `{"anonymousId":"a","context":{"userAgent":"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"}}`
	if status, resp, _ := do(t, h, request{path: "/v1/page", body: body, key: testKey}); status != 200 {
		t.Fatalf("status %d %+v", status, resp)
	}
	got := sink.stored()
	if len(got) != 1 || !tracker.Classify(got[0].UserAgent).Bot {
		t.Errorf("stored %+v: want the bot's page view, classified as a bot", got)
	}
	if line := tracker.AppendLine(nil, got[0]); !bytes.Contains(line, []byte(`"is_bot":true`)) {
		t.Errorf("lake line %s", line)
	}
}

// ctxSink records the context PutBatch gets.
type ctxSink struct {
	err      error
	deadline time.Time
}

func (s *ctxSink) PutBatch(ctx context.Context, evs []tracker.Event) []error {
	s.err = ctx.Err()
	s.deadline, _ = ctx.Deadline()
	return nil
}

func TestClientHangingUpDoesNotCancelTheStore(t *testing.T) {
	sink := &ctxSink{}
	h := newHandler(t, sink, collector.Config{})
	deadline := time.Now().Add(time.Hour)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	cancel() // the client went away
	r := httptest.NewRequestWithContext(ctx, http.MethodPost, "/v1/track", strings.NewReader(trackBody))
	r.SetBasicAuth(testKey, "")
	h.ServeHTTP(httptest.NewRecorder(), r)
	if sink.err != nil || !sink.deadline.Equal(deadline) {
		t.Errorf("the sink got a context with error %v and deadline %v; want no error and the request's deadline", sink.err, sink.deadline)
	}
}
