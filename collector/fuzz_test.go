package collector_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/eventlake/eventlake/collector"
	"github.com/eventlake/eventlake/tracker"
)

// strictSink is a memSink that fails the fuzz test when the collector hands
// it an event whose attributes break the tracker's rules: the collector
// bounds them itself, so the tracker never has to refuse them.
type strictSink struct {
	*memSink
	t *testing.T
}

func (s strictSink) PutBatch(ctx context.Context, evs []tracker.Event) []error {
	errs := s.memSink.PutBatch(ctx, evs)
	for i, err := range errs {
		var ve *tracker.ValidationError
		if errors.As(err, &ve) && ve.Has(tracker.FieldAttributes) {
			s.t.Fatalf("the collector built attributes the tracker refuses: %v\n%v", err, evs[i].Attributes)
		}
	}
	return errs
}

// fuzzRequest sends one request and checks what holds for every input: no
// panic, no 5xx, a Response body (but for 204), and as many events stored
// as the answer says.
func fuzzRequest(t *testing.T, path, body string, header map[string]string) {
	sink := newMemSink(t)
	h := newHandler(t, strictSink{sink, t}, collector.Config{})
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.SetBasicAuth(testKey, "")
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	stored := len(sink.stored())
	switch w.Code {
	case 200, 400:
		status, resp, _ := do(t, h, request{path: path, body: body, key: testKey, header: header})
		if status != w.Code {
			t.Fatalf("answers differ: %d then %d", w.Code, status)
		}
		if resp.Accepted != stored {
			t.Fatalf("answer says %d accepted, %d stored: %+v", resp.Accepted, stored, resp)
		}
		if (w.Code == 200) != resp.Success || w.Code == 400 && resp.Error == "" && len(resp.Errors) == 0 {
			t.Fatalf("status %d with %+v", w.Code, resp)
		}
	case 204:
		if stored != 1 || w.Body.Len() != 0 {
			t.Fatalf("204 with %d stored and body %q", stored, w.Body)
		}
	default:
		t.Fatalf("status %d for a client's input: %s", w.Code, w.Body)
	}
}

func FuzzSegment(f *testing.F) {
	for _, s := range []string{
		trackBody,
		`{"userId":"42","event":"Order Completed","messageId":"m","timestamp":"2026-11-22T10:00:00Z","sentAt":"2026-11-22T09:00:00Z","properties":{"a":{"b":[1,{"c":null}]},"$x":true}}`,
		`{"anonymousId":1,"name":"Home","context":{"ip":"::1","page":{"url":"u","title":"t"},"campaign":{"name":"n"}}}`,
		`{"batch":[{"type":"identify","userId":"1","anonymousId":"a","traits":{"email":"x@y"}},{"type":"alias","userId":"1","previousId":"a"},{"type":"group"}],"sentAt":"2026-11-22T10:00:00Z","context":{"ip":"1.2.3.4"}}`,
		`{"batch":[1,"x",null,{}]}`, `{"userId":"\u0000"}`, `[]`, `{"properties":{"k":"\ud800"}}`, "{\"userId\":\"1\",\"event\":\"x\",\"properties\":{\"a\":1e999}}",
	} {
		for _, path := range []string{"/v1/track", "/v1/page", "/v1/identify", "/v1/alias", "/v1/batch"} {
			f.Add(path, s)
		}
	}
	f.Fuzz(func(t *testing.T, path, body string) {
		if _, ok := map[string]bool{"/v1/track": true, "/v1/page": true, "/v1/screen": true, "/v1/identify": true, "/v1/alias": true, "/v1/batch": true}[path]; !ok {
			path = "/v1/batch"
		}
		fuzzRequest(t, path, body, nil)
	})
}

func FuzzEventlake(f *testing.F) {
	for _, s := range []string{
		`{"user_id":"42","event_type":"login","event_at":"2026-11-22T10:00:00.123Z","event_id":"e-1","ip_address":"2001:db8::1","user_agent":"curl/8.5","attributes":{"method":"password"}}`,
		`[{"anonymous_id":"a","event_type":"page_view"},{"event_type":"click"}]`,
		"{\"user_id\":1,\"event_type\":\"click\"}\n{\"bad\n\n[1]\n",
		`{"user_id":"1","event_type":"login","attributes":{"a":{"b":{"c":[]}}},"is_bot":true,"device_type":"bot"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		fuzzRequest(t, "/v1/events", body, nil)
	})
}

func FuzzSeed003(f *testing.F) {
	f.Add(`{"fingerprint":"b998efcb","user_id":null,"url":"https://www.blinkist.com/en?utm_source=fb","referrer_url":null,"created_at":"2023-01-20 13:59:56.437947 UTC","event":"pageview"}`)
	f.Add(`{"fingerprint":1,"user_id":2,"type":"signup","url":"%zz"}`)
	f.Add(`{"event":"trial","created_at":"2023-01-20 13:59:56 +0100","fingerprint":"x"}`)
	f.Fuzz(func(t *testing.T, body string) {
		fuzzRequest(t, "/event", body, nil)
	})
}

func FuzzSeed001(f *testing.F) {
	f.Add("1763805845", "3", "click")
	f.Add("1763805845.5", "usr_1", "impression")
	f.Add("-1", "", "hover")
	f.Add("1e30", "x\x00", "click")
	f.Fuzz(func(t *testing.T, ts, user, event string) {
		q := url.Values{"timestamp": {ts}, "user": {user}, "event": {event}}
		fuzzRequest(t, "/analytics?"+q.Encode(), "", nil)
	})
}

// FuzzProperties feeds arbitrary JSON as properties: the event is stored
// with attributes the tracker accepts, or refused with a reason.
func FuzzProperties(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":{"b":{"c":"d"}},"a.b":"x","":""}`, `{"k":"` + strings.Repeat("é", 1200) + `"}`, `{"$":[],"1":null}`, `[]`, `"x"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, props string) {
		fuzzRequest(t, "/v1/track", `{"userId":"1","event":"click","properties":`+props+`}`, nil)
	})
}
