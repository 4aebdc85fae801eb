package e2e_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eventlake/eventlake/collector"
	"github.com/eventlake/eventlake/tracker"
)

// wrkScript posts single-event requests, each with its own messageId (wrk
// threads number their requests separately, so the thread's number is in
// the ID too).
const wrkScript = `
local counter = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Basic %s"
end
function request()
  counter = counter + 1
  local body = string.format(%q, tid, counter)
  return wrk.format(nil, nil, nil, body)
end
`

// wrkBody is one analytics-go track call, a single-event request as a Go
// service sends it; the two %d become the thread and the request number
// (in Lua), TIMESTAMP the time of the run.
const wrkBody = `{"type":"track","userId":"42","event":"Order Completed","messageId":"wrk-%d-%d","timestamp":"TIMESTAMP` +
	`","properties":{"revenue":19.5,"currency":"EUR","order_id":"o-1"},"context":{"ip":"198.51.100.7","userAgent":"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36","library":{"name":"analytics-go","version":"3.3.0"}}}`

var reqPerSec = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
var non2xx = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)

// runWrk runs wrk against url for d and returns requests per second.
func runWrk(b *testing.B, url string, d time.Duration) float64 {
	b.Helper()
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		b.Fatal("wrk is not installed: run `make wrk` (apt-get install -y wrk)")
	}
	script := filepath.Join(b.TempDir(), "post.lua")
	body := strings.Replace(wrkBody, "TIMESTAMP", time.Now().UTC().Format(time.RFC3339), 1)
	lua := fmt.Sprintf(wrkScript, base64.StdEncoding.EncodeToString([]byte(writeKey+":")), body)
	if err := os.WriteFile(script, []byte(lua), 0o644); err != nil {
		b.Fatal(err)
	}
	out, err := exec.Command(wrk, "-t2", "-c32", "-d"+strconv.Itoa(int(d.Seconds()))+"s", "-s", script, url).CombinedOutput()
	if err != nil {
		b.Fatalf("wrk: %v\n%s", err, out)
	}
	if m := non2xx.FindSubmatch(out); m != nil {
		b.Fatalf("wrk got %s non-2xx answers:\n%s", m[1], out)
	}
	m := reqPerSec.FindSubmatch(out)
	if m == nil {
		b.Fatalf("no Requests/sec in wrk's output:\n%s", out)
	}
	rate, _ := strconv.ParseFloat(string(m[1]), 64)
	return rate
}

// BenchmarkWrk measures single-event requests per second with wrk (2
// threads, 32 connections, over loopback), in one run: a bare net/http
// handler answering 204; the collector with a sink that stores nothing (its
// own work: the target is at least half the bare rate); and the collector
// in the local stack, with the lake route (the local Firehose endpoint) and
// the hot route (DynamoDB Local). wrk, the server and, for the last two,
// the stack share the machine's cores. EVENTLAKE_WRK_SECONDS sets each
// run's length (default 10).
func BenchmarkWrk(b *testing.B) {
	d := 10 * time.Second
	if s, err := strconv.Atoi(os.Getenv("EVENTLAKE_WRK_SECONDS")); err == nil && s > 0 {
		d = time.Duration(s) * time.Second
	}
	keys, err := collector.NewKeySet(writeKey)
	if err != nil {
		b.Fatal(err)
	}
	serve := func(h http.Handler) string {
		srv := httptest.NewServer(h)
		b.Cleanup(srv.Close)
		return srv.URL + "/v1/track"
	}
	bare := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	noop, err := collector.New(discardSink{}, collector.Config{WriteKeys: keys})
	if err != nil {
		b.Fatal(err)
	}
	var bareRate float64
	for _, tc := range []struct {
		name string
		url  func() string
	}{
		{"bare-204", func() string { return bare }},
		{"collector-discard", func() string { return serve(noop) }},
		{"collector-lake-route", func() string { return serve(stackHandler(b, tracker.RouteLake)) }},
		{"collector-hot-route", func() string { return serve(stackHandler(b, tracker.RouteHot)) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			url := tc.url()
			var rate float64
			for b.Loop() {
				rate = runWrk(b, url, d)
			}
			b.ReportMetric(rate, "req/s")
			if tc.name == "bare-204" {
				bareRate = rate
			} else if bareRate > 0 {
				b.ReportMetric(rate/bareRate, "x-bare")
			}
		})
	}
}

// discardSink stores nothing.
type discardSink struct{}

func (discardSink) PutBatch(context.Context, []tracker.Event) []error { return nil }

// stackHandler returns the collector in a local stack whose purchase events
// (the benchmark's track calls) take route.
func stackHandler(b *testing.B, route tracker.Route) http.Handler {
	b.Helper()
	s := startStackRoutes(b, collector.Config{Logger: slog.New(slog.DiscardHandler)}, map[string]tracker.Route{"purchase": route})
	return s.srv.Config.Handler
}
