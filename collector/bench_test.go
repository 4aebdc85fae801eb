package collector_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/eventlake/eventlake/collector"
	"github.com/eventlake/eventlake/tracker"
)

// discardSink stores nothing: the benchmarks measure the handler's own
// work (the write path behind it is measured elsewhere).
type discardSink struct{}

func (discardSink) PutBatch(context.Context, []tracker.Event) []error { return nil }

// validatingSink validates each event as tracker.PutBatch does before it
// writes: the CPU the tracker adds in front of the network.
type validatingSink struct{ tr *tracker.Tracker }

func (s validatingSink) PutBatch(_ context.Context, evs []tracker.Event) []error {
	for _, e := range evs {
		if _, err := s.tr.Validate(e); err != nil {
			panic(err)
		}
	}
	return nil
}

// A typical analytics.js page view and track call (about 1 KB each, most of
// it context), and analytics-go's smaller server-side track call.
const (
	ajsPage = `{"type":"page","anonymousId":"0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","messageId":"ajs-next-1763805845123-%d","timestamp":"2026-11-22T10:04:04.123Z","sentAt":"2026-11-22T10:04:05.001Z","writeKey":"wk_test_1",` +
		`"properties":{"path":"/p/42","referrer":"https://search.example/?q=boots","search":"?utm_source=news","title":"Winter boots","url":"https://shop.example/p/42?utm_source=news"},` +
		`"context":{"page":{"path":"/p/42","referrer":"https://search.example/?q=boots","search":"?utm_source=news","title":"Winter boots","url":"https://shop.example/p/42?utm_source=news"},` +
		`"campaign":{"source":"news","medium":"email","name":"winter"},"userAgent":"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",` +
		`"userAgentData":{"brands":[{"brand":"Chromium","version":"131"}],"mobile":false,"platform":"macOS"},"locale":"en-US","library":{"name":"analytics.js","version":"npm:next-1.84.3"},"timezone":"Europe/Paris"},"integrations":{},"name":"Product","category":"boots"}`
	goTrack = `{"type":"track","userId":"42","event":"Order Completed","messageId":"0193a1b2-c3d4-7e5f-8a9b-%012d","timestamp":"2026-11-22T10:04:04.123Z",` +
		`"properties":{"revenue":19.5,"currency":"EUR","order_id":"o-1"},"context":{"ip":"198.51.100.7","library":{"name":"analytics-go","version":"3.3.0"}}}`
)

// benchWriter is a ResponseWriter that keeps nothing, reused across
// iterations.
type benchWriter struct {
	h      http.Header
	status int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) WriteHeader(s int)           { w.status = s }
func (w *benchWriter) Write(b []byte) (int, error) { return len(b), nil }

type nopBody struct{ *bytes.Reader }

func (nopBody) Close() error { return nil }

// BenchmarkHandler measures the handler on one core (b.N requests from one
// goroutine): events per second of CPU time and allocations per event, for
// a 100-event /v1/batch of analytics.js page views and for single-event
// requests, with a sink that stores nothing (the handler's own work) and
// one that validates as the tracker does.
func BenchmarkHandler(b *testing.B) {
	var batch strings.Builder
	batch.WriteString(`{"batch":[`)
	for i := range 100 {
		if i > 0 {
			batch.WriteByte(',')
		}
		fmt.Fprintf(&batch, ajsPage, i)
	}
	batch.WriteString(`],"sentAt":"2026-11-22T10:04:05.001Z"}`)
	sinks := map[string]collector.Sink{"discard": discardSink{}, "validate": validatingSink{newMemSink(b).tr}}
	for _, tc := range []struct {
		name, path, body string
		events           int
	}{
		{"batch-100", "/v1/batch", batch.String(), 100},
		{"page", "/v1/p", fmt.Sprintf(ajsPage, 1), 1},
		{"track", "/v1/track", fmt.Sprintf(goTrack, 1), 1},
	} {
		for _, sinkName := range []string{"discard", "validate"} {
			b.Run(tc.name+"/"+sinkName, func(b *testing.B) {
				h := newHandler(b, sinks[sinkName], collector.Config{Now: func() time.Time { return testNow }})
				body := []byte(tc.body)
				r, _ := http.NewRequest(http.MethodPost, "http://collector.local"+tc.path, nil)
				r.SetBasicAuth(testKey, "")
				r.RemoteAddr = "198.51.100.7:51234"
				r.Header.Set("User-Agent", "bench")
				rd := bytes.NewReader(body)
				r.Body = nopBody{rd}
				r.ContentLength = int64(len(body))
				w := &benchWriter{h: http.Header{}}
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				cpu := processCPU()
				for b.Loop() {
					rd.Reset(body)
					clear(w.h)
					h.ServeHTTP(w, r)
					if w.status != http.StatusOK {
						b.Fatalf("status %d", w.status)
					}
				}
				used := processCPU() - cpu
				runtime.ReadMemStats(&after)
				n := float64(b.N * tc.events)
				b.ReportMetric(float64(after.Mallocs-before.Mallocs)/n, "allocs/event")
				if used > 0 {
					b.ReportMetric(float64(used.Nanoseconds())/n, "cpu-ns/event")
					b.ReportMetric(n/used.Seconds(), "events/cpu-s")
				}
			})
		}
	}
}
