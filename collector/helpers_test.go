package collector_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/eventlake/eventlake/collector"
	"github.com/eventlake/eventlake/tracker"
)

// memSink validates events as the tracker does and keeps them in memory;
// fail makes PutBatch report events as not stored.
type memSink struct {
	tr     *tracker.Tracker
	mu     sync.Mutex
	events []tracker.Event
	calls  int
	fail   func(tracker.Event) bool
}

var testNow = time.Date(2026, 11, 22, 10, 4, 5, 0, time.UTC)

func newMemSink(t testing.TB) *memSink {
	t.Helper()
	tr, err := tracker.New(dynamodb.New(dynamodb.Options{Region: "us-east-1"}), tracker.Config{
		EventsTable: "events", Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	return &memSink{tr: tr}
}

func (s *memSink) PutBatch(_ context.Context, evs []tracker.Event) []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	var errs []error
	for i, e := range evs {
		n, err := s.tr.Validate(e)
		if err == nil && s.fail != nil && s.fail(e) {
			err = tracker.ErrNotStored
		}
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

func (s *memSink) stored() []tracker.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]tracker.Event(nil), s.events...)
}

const testKey = "wk_test_1"

func newHandler(t testing.TB, sink collector.Sink, cfg collector.Config) *collector.Handler {
	t.Helper()
	if cfg.WriteKeys == nil {
		keys, err := collector.NewKeySet(testKey, "wk_test_2")
		if err != nil {
			t.Fatal(err)
		}
		cfg.WriteKeys = keys
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return testNow }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h, err := collector.New(sink, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// request is one test request.
type request struct {
	method, path, body string
	key                string // Basic user name; "" for none
	header             map[string]string
	remote             string
}

// do runs req through h and returns the status, the decoded JSON body (nil
// when empty) and the response.
func do(t testing.TB, h http.Handler, req request) (int, *collector.Response, *http.Response) {
	t.Helper()
	if req.method == "" {
		req.method = http.MethodPost
	}
	r := httptest.NewRequest(req.method, req.path, strings.NewReader(req.body))
	if req.key != "" {
		r.SetBasicAuth(req.key, "")
	}
	for k, v := range req.header {
		r.Header.Set(k, v)
	}
	if req.remote != "" {
		r.RemoteAddr = req.remote
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	res := w.Result()
	b, _ := io.ReadAll(res.Body)
	if len(bytes.TrimSpace(b)) == 0 {
		return res.StatusCode, nil, res
	}
	var out collector.Response
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s %s: body is not the Response JSON: %v\n%s", req.method, req.path, err, b)
	}
	return res.StatusCode, &out, res
}
