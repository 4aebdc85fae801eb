package function_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
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

func TestConfigFromEnv(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want string // the config as %+v, or the error's substring
		err  bool
	}{
		{nil, "{WorkGroup: Database: Catalog: MaxAge:5m0s RunTimeout:5m0s UserURL: QueriesURL: Concurrency:0}", false},
		{map[string]string{"ATHENA_WORKGROUP": "analysts", "ATHENA_DATABASE": "lake", "MAX_AGE": "15m", "QUERY_TIMEOUT": "2m",
			"USER_URL_PREFIX": "https://admin.example.com/activity?user=", "QUERIES_URL": "/prod/api/v1/queries", "DASHBOARD_CONCURRENCY": "2"},
			"{WorkGroup:analysts Database:lake Catalog: MaxAge:15m0s RunTimeout:2m0s UserURL:https://admin.example.com/activity?user= QueriesURL:/prod/api/v1/queries Concurrency:2}", false},
		{map[string]string{"MAX_AGE": "30s", "QUERY_TIMEOUT": "forever", "DASHBOARD_CONCURRENCY": "50"},
			`MAX_AGE="30s": want a duration from 1m0s to 168h0m0s; QUERY_TIMEOUT="forever"`, true},
		{map[string]string{"MAX_AGE": "200h"}, "MAX_AGE", true},
		{map[string]string{"DASHBOARD_CONCURRENCY": "0"}, "DASHBOARD_CONCURRENCY", true},
	} {
		cfg, err := function.ConfigFromEnv(func(k string) string { return c.env[k] })
		switch {
		case c.err && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%v: error %v, want one with %q", c.env, err, c.want)
		case !c.err && (err != nil || fmt.Sprintf("%+v", cfg) != c.want):
			t.Errorf("%v: %+v, %v; want %s", c.env, cfg, err, c.want)
		}
	}
}

// TestFunction serves sample API Gateway HTTP API events (testdata) with
// the function's handler, on the Athena runner and the real SDK client
// against the fake Athena endpoint (DuckDB over a generated lake): the
// API's JSON and CSV, seed 001's text, the dashboard with its CSP, a bad
// request; the Athena requests carry the workgroup and ask for results
// reused for the maximum age; a second view of the dashboard runs nothing.
func TestFunction(t *testing.T) {
	now := time.Now().UTC()
	ds := lakegen.Generate(lakegen.Config{End: now, Days: 30, Users: 20, Events: 3000})
	root := t.TempDir()
	if _, err := ds.WriteNDJSON(root, lakegen.Layout{Interval: 15 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	db, err := local.Open(context.Background(), local.Config{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fake := fakeathena.New(func(ctx context.Context, sql string, params []any) (*athena.Result, error) {
		return db.Query(ctx, sql, params...)
	}, fakeathena.Options{RunningPolls: 1})
	defer fake.Close()
	client := fake.Client(func(o *sdkathena.Options) {
		o.Retryer = retry.AddWithMaxBackoffDelay(retry.NewStandard(), time.Millisecond)
	})
	cfg, err := function.ConfigFromEnv(func(k string) string {
		return map[string]string{"ATHENA_WORKGROUP": "analysts", "USER_URL_PREFIX": "https://admin.example.com/activity?user="}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := function.New(cfg, client, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	at := now.Truncate(time.Hour).Add(-time.Hour).Unix()
	invoke := func(name string) events.APIGatewayV2HTTPResponse {
		t.Helper()
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		// The dashboard's default range: the last 30 days.
		s := strings.NewReplacer("START", now.AddDate(0, 0, -29).Format("2006-01-02"), "END", now.Format("2006-01-02"),
			"=AT", "="+strconv.FormatInt(at, 10)).Replace(string(b))
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal([]byte(s), &ev); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 29*time.Second) // API Gateway's limit
		defer cancel()
		resp, err := h.Handle(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}

	resp := invoke("query-json.json")
	var doc struct {
		Rows  []map[string]*string `json:"rows"`
		Stats struct {
			Engine  string   `json:"engine"`
			QueryID string   `json:"query_id"`
			Cost    *float64 `json:"cost_usd"`
		} `json:"stats"`
		CostUSD float64 `json:"cost_usd"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &doc); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("query: %d %v %s", resp.StatusCode, err, resp.Body)
	}
	if doc.Stats.Engine != "athena" || doc.Stats.QueryID == "" || doc.Stats.Cost == nil || math.Abs(doc.CostUSD-*doc.Stats.Cost) > 1e-10 || doc.CostUSD <= 0 ||
		len(doc.Rows) == 0 || doc.Rows[0]["device"] == nil || resp.IsBase64Encoded {
		t.Errorf("query answer: %+v, %d rows", doc.Stats, len(doc.Rows))
	}

	resp = invoke("query-csv.json")
	if resp.StatusCode != http.StatusOK || resp.Headers["Content-Type"] != "text/csv; charset=utf-8" ||
		!strings.HasPrefix(resp.Body, "source,medium,campaign,visitors,signups,") {
		t.Errorf("CSV: %d %v %.200s", resp.StatusCode, resp.Headers, resp.Body)
	}

	resp = invoke("seed001.json")
	if resp.StatusCode != http.StatusOK || !regexpMatch(`^unique_users,\d+\nclicks,\d+\nimpressions,\d+$`, resp.Body) {
		t.Errorf("seed 001: %d %q", resp.StatusCode, resp.Body)
	}

	resp = invoke("dashboard.json")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Headers["Content-Security-Policy"], "default-src 'none'; style-src 'sha256-") ||
		!strings.Contains(resp.Body, `<svg class="chart wide"`) || strings.Contains(resp.Body, `class="error"`) ||
		!strings.Contains(resp.Body, `href="https://admin.example.com/activity?user=`) {
		t.Errorf("dashboard: %d %v", resp.StatusCode, resp.Headers)
	}
	if !strings.Contains(resp.Body, "queries on athena") {
		t.Error("the dashboard does not say it ran on Athena")
	}

	resp = invoke("listing-bad.json")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(resp.Body, "the listing takes no parameters") {
		t.Errorf("bad listing: %d %s", resp.StatusCode, resp.Body)
	}

	// Every query ran in the workgroup, asking Athena to reuse results up
	// to the maximum age.
	starts := 0
	for _, c := range fake.Calls() {
		if c.Op != "StartQueryExecution" {
			continue
		}
		starts++
		if c.Body["WorkGroup"] != "analysts" || fmt.Sprint(c.Body["ResultReuseConfiguration"]) != "map[ResultReuseByAgeConfiguration:map[Enabled:true MaxAgeInMinutes:5]]" {
			t.Errorf("StartQueryExecution %v", c.Body)
			break
		}
	}
	// devices, campaign_conversions, the seed's hour, then the dashboard's
	// 12 but those two, over the same range and reused from the cache.
	if starts != 13 {
		t.Errorf("%d queries started, want 13", starts)
	}
	invoke("dashboard.json")
	if n := len(fake.Calls()); countStarts(fake.Calls()) != starts {
		t.Errorf("a second view started queries (%d calls)", n)
	}
}

func countStarts(calls []fakeathena.Call) int {
	n := 0
	for _, c := range calls {
		if c.Op == "StartQueryExecution" {
			n++
		}
	}
	return n
}
