package eventlake

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	sdkathena "github.com/aws/aws-sdk-go-v2/service/athena"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/athena/fakeathena"
	"github.com/eventlake/eventlake/athena/lakegen"
	"github.com/eventlake/eventlake/athena/local"
	"github.com/eventlake/eventlake/lambdas/analytics/function"
)

// TestMetricFilterMatchesTheAnalyticsLines builds the analytics function
// as its main does, from the environment the default variant synthesizes
// (references replaced by sample names), over the Athena wire protocol
// (the real SDK client against fakeathena, DuckDB over a generated lake
// answering), sends it API Gateway events for a query, seed 001's GET
// /analytics and the dashboard, twice each, captures its JSON log, and
// applies the bytes-scanned metric filter exactly as the template defines
// it: the published values add up to the bytes the engine read, and the
// second round, reusing the results, adds nothing.
func TestMetricFilterMatchesTheAnalyticsLines(t *testing.T) {
	s := analyticsStack(t)
	filter, ok := s.metricFilters(t)[MetricAnalyticsBytesScanned]
	if !ok {
		t.Fatal("no bytes-scanned metric filter")
	}
	now := time.Now().UTC()
	root := t.TempDir()
	ds := lakegen.Generate(lakegen.Config{End: now, Days: 14, Users: 10, Events: 1500})
	if _, err := ds.WriteNDJSON(root, lakegen.Layout{Interval: time.Hour}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db, err := local.Open(ctx, local.Config{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mu sync.Mutex
	var scanned int64
	fake := fakeathena.New(func(ctx context.Context, sql string, params []any) (*athena.Result, error) {
		res, err := db.Query(ctx, sql, params...)
		if err == nil {
			mu.Lock()
			scanned += max(res.Stats.BytesScanned, 0)
			mu.Unlock()
		}
		return res, err
	}, fakeathena.Options{RunningPolls: 1})
	defer fake.Close()
	client := fake.Client(func(o *sdkathena.Options) {
		o.Retryer = retry.AddWithMaxBackoffDelay(retry.NewStandard(), time.Millisecond)
	})

	vars := s.functionEnv(t, s.Pipeline.Analytics.Function)
	cfg, err := function.ConfigFromEnv(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	var logMu sync.Mutex
	h, err := function.New(cfg, client, slog.New(slog.NewJSONHandler(&lockedWriter{w: &logs, mu: &logMu}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	get := func(path, query string) {
		t.Helper()
		ev := events.APIGatewayV2HTTPRequest{
			Version: "2.0", RouteKey: "GET " + path, RawPath: path, RawQueryString: query,
			Headers: map[string]string{"host": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"},
			RequestContext: events.APIGatewayV2HTTPRequestContext{
				Stage: "$default", RouteKey: "GET " + path, RequestID: "r-" + path,
				HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET", Path: path, Protocol: "HTTP/1.1", SourceIP: "198.51.100.23"},
			},
		}
		rctx, cancel := context.WithTimeout(ctx, AnalyticsTimeout)
		defer cancel()
		resp, err := h.Handle(rctx, ev)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s?%s: %v %d %.300s", path, query, err, resp.StatusCode, resp.Body)
		}
	}
	at := now.Truncate(time.Hour).Add(-time.Hour).Unix()
	round := func() {
		get("/api/v1/queries/devices", "")
		get("/analytics", "timestamp="+strconv.FormatInt(at, 10))
		get("/dashboard", "")
	}
	sum := func() (total float64, lines int) {
		logMu.Lock()
		defer logMu.Unlock()
		for _, line := range summaryLines(t, bytes.NewBuffer(logs.Bytes()), "athena query") {
			if v, ok := filter.apply(line); ok {
				total += v
				lines++
			}
		}
		return total, lines
	}
	round()
	first, lines := sum()
	mu.Lock()
	want := scanned
	mu.Unlock()
	if lines < 3 || want <= 0 || first != float64(want) {
		t.Fatalf("the filter published %.0f bytes from %d lines; the engine read %d", first, lines, want)
	}
	round()
	second, lines2 := sum()
	if second != first {
		t.Errorf("the second round (results reused) published %.0f more bytes", second-first)
	}
	if lines2 < lines {
		t.Errorf("%d query lines after the second round, %d after the first", lines2, lines)
	}
}

// lockedWriter serializes writes to w: the dashboard's queries log from
// several goroutines.
type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
