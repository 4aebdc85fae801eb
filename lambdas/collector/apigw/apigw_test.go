package apigw_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/eventlake/eventlake/collector"
	"github.com/eventlake/eventlake/lambdas/collector/apigw"
	"github.com/eventlake/eventlake/tracker"
)

var update = flag.Bool("update", false, "rewrite testdata/*.response.json")

func load(t *testing.T, name string) (events.APIGatewayV2HTTPRequest, []byte) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	return ev, raw
}

func TestRequest(t *testing.T) {
	for _, tc := range []struct {
		name, method, path, query, remote, host string
		header                                  map[string]string
		body                                    string
	}{
		{"track-basic-auth", "POST", "/v1/track", "", "198.51.100.23:0", "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com",
			map[string]string{"Authorization": "Basic d2tfbGl2ZV8xOg==", "Content-Type": "application/json", "X-Forwarded-For": "198.51.100.23"}, `{"userId": "42"`},
		{"batch-gzip-base64", "POST", "/v1/batch", "", "198.51.100.23:0", "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com",
			map[string]string{"Content-Encoding": "gzip"}, "\x1f\x8b"},
		{"seed001-query", "POST", "/analytics", "timestamp=1795341800&user=3&event=click&write_key=wk_live_1", "[2001:db8::5]:0", "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com",
			map[string]string{"User-Agent": "PostmanRuntime/7.42.0"}, ""},
		{"preflight", "OPTIONS", "/v1/t", "", "198.51.100.23:0", "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com",
			map[string]string{"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"}, ""},
		{"named-stage-cookies", "POST", "/v1/page", "", "198.51.100.23:0", "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com",
			map[string]string{"Cookie": "ajs_anonymous_id=a-9; session=s1", "Content-Type": "text/plain"}, `{"writeKey": "wk_live_1"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, _ := load(t, tc.name)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			r, err := apigw.Request(ctx, ev)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(r.Body)
			if r.Method != tc.method || r.URL.Path != tc.path || r.URL.RawQuery != tc.query || r.RemoteAddr != tc.remote || r.Host != tc.host ||
				r.Context() != ctx || r.ContentLength != int64(len(body)) || !bytes.HasPrefix(body, []byte(tc.body)) {
				t.Errorf("request %s %s ? %s from %s to %s, %d bytes %.20q", r.Method, r.URL.Path, r.URL.RawQuery, r.RemoteAddr, r.Host, len(body), body)
			}
			for k, v := range tc.header {
				if got := r.Header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if r.Header.Get("Host") != "" {
				t.Error("Host left among the headers")
			}
		})
	}
	ev, _ := load(t, "bad-base64")
	if _, err := apigw.Request(context.Background(), ev); err == nil || !strings.Contains(err.Error(), "base64") {
		t.Errorf("bad base64: %v", err)
	}
}

// memSink validates events as the tracker does and keeps them.
type memSink struct {
	tr     *tracker.Tracker
	mu     sync.Mutex
	events []tracker.Event
}

var now = time.UnixMilli(1795341845123).UTC()

func (s *memSink) PutBatch(_ context.Context, evs []tracker.Event) []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for i, e := range evs {
		n, err := s.tr.Validate(e)
		if err != nil {
			if errs == nil {
				errs = make([]error, len(evs))
			}
			errs[i] = err
			continue
		}
		s.events = append(s.events, n)
	}
	return errs
}

// collectorHandler is the collector as the Lambda runs it, with an
// in-memory sink.
func collectorHandler(t *testing.T) (*apigw.Handler, *memSink) {
	t.Helper()
	tr, err := tracker.New(dynamodb.New(dynamodb.Options{Region: "eu-west-1"}), tracker.Config{EventsTable: "events", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{tr: tr}
	keys, _ := collector.NewKeySet("wk_live_1")
	h, err := collector.New(sink, collector.Config{WriteKeys: keys, AllowedOrigins: []string{"https://shop.example"},
		Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return apigw.New(h), sink
}

// TestGolden sends every sample event through the Lambda runtime's own
// dispatch (lambda.NewHandler, the raw payload as lambda.Start gets it) to
// the collector and compares the response JSON with
// testdata/<name>.response.json (go test -update rewrites them).
func TestGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]int{"track-basic-auth": 1, "batch-gzip-base64": 2, "seed001-query": 1, "named-stage-cookies": 1}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		if strings.HasSuffix(name, ".response") {
			continue
		}
		t.Run(name, func(t *testing.T) {
			a, sink := collectorHandler(t)
			_, raw := load(t, name)
			out, err := lambda.NewHandler(a.Handle).Invoke(context.Background(), raw)
			if err != nil {
				t.Fatal(err)
			}
			var resp events.APIGatewayV2HTTPResponse
			if err := json.Unmarshal(out, &resp); err != nil {
				t.Fatal(err)
			}
			got, _ := json.MarshalIndent(resp, "", "  ")
			got = append(got, '\n')
			golden := filepath.Join("testdata", name+".response.json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("response differs from %s:\n%s", golden, got)
			}
			if n := len(sink.events); n != stored[name] {
				t.Errorf("%d events stored, want %d", n, stored[name])
			}
		})
	}
}

func TestSourceIPIsTheClient(t *testing.T) {
	a, sink := collectorHandler(t)
	for _, name := range []string{"track-basic-auth", "seed001-query"} {
		ev, _ := load(t, name)
		ev.Headers["x-forwarded-for"] = "6.6.6.6, " + ev.RequestContext.HTTP.SourceIP // spoofed by the client
		if resp, _ := a.Handle(context.Background(), ev); resp.StatusCode/100 != 2 {
			t.Fatalf("%s: %d %s", name, resp.StatusCode, resp.Body)
		}
	}
	if len(sink.events) != 2 || sink.events[0].IP != "198.51.100.23" || sink.events[1].IP != "2001:db8::5" {
		t.Errorf("stored %+v", sink.events)
	}
}

func TestResponseBodies(t *testing.T) {
	binary := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Add("Set-Cookie", "a=1")
		w.Header().Add("Set-Cookie", "b=2")
		w.Header().Add("Vary", "Origin")
		w.Header().Add("Vary", "Accept")
		w.WriteHeader(http.StatusTeapot)
		w.Write([]byte{0xff, 0x00})
	})
	ev, _ := load(t, "preflight")
	resp, err := apigw.New(binary).Handle(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 418 || !resp.IsBase64Encoded || resp.Body != "/wA=" || strings.Join(resp.Cookies, ";") != "a=1;b=2" || resp.Headers["Vary"] != "Origin, Accept" {
		t.Errorf("response %+v", resp)
	}
	silent := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	if resp, _ := apigw.New(silent).Handle(context.Background(), ev); resp.StatusCode != 200 || resp.Body != "" || resp.IsBase64Encoded {
		t.Errorf("empty response %+v", resp)
	}
}
