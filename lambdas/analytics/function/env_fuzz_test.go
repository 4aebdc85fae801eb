package function_test

import (
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	sdkathena "github.com/aws/aws-sdk-go-v2/service/athena"

	"github.com/eventlake/eventlake/athena/api"
	"github.com/eventlake/eventlake/athena/remote"
	"github.com/eventlake/eventlake/lambdas/analytics/function"
)

// FuzzConfigFromEnv: whatever the environment, ConfigFromEnv either fails
// naming every variable that is wrong on its own, or returns the
// configuration the variables say within the documented bounds (MAX_AGE 1m
// to 168h, default 5m; QUERY_TIMEOUT 1s to 1h, default 5m;
// DASHBOARD_CONCURRENCY 1 to 20, or 0 for the dashboard's default; the
// names and URLs as given) that New accepts. It fails exactly when one
// variable is wrong on its own.
func FuzzConfigFromEnv(f *testing.F) {
	f.Add("", "", "", "", "", "", "", "")
	f.Add("analysts", "lake", "AwsDataCatalog", "15m", "2m", "https://admin.example.com/activity?user=", "/prod/api/v1/queries", "2")
	f.Add("", "", "", "30s", "forever", "", "", "50")
	f.Add("", "", "", "168h", "1h", "/activity?user=", "", "20")
	f.Add("", "", "", "168h0m0.000000001s", "59m59.999s", "", "", "0")
	f.Add("", "", "", "1m", "1s", "javascript:alert(1)//", "data:text/html,x", "1")
	f.Add("", "", "", "", "", "http://[::1", "%zz", "+4")
	f.Add("", "", "", "-1m", "0", "ftp://x", "https://h/api/v1/queries/", " 4")
	client := sdkathena.New(sdkathena.Options{Region: "eu-west-1"})
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	vars := []string{function.EnvWorkGroup, function.EnvDatabase, function.EnvCatalog, function.EnvMaxAge, function.EnvRunTimeout,
		function.EnvUserURL, function.EnvQueriesURL, function.EnvConcurrency}
	f.Fuzz(func(t *testing.T, workGroup, database, catalog, maxAge, timeout, userURL, queriesURL, concurrency string) {
		values := []string{workGroup, database, catalog, maxAge, timeout, userURL, queriesURL, concurrency}
		env := map[string]string{}
		var wrongAlone []string
		for i, v := range values {
			env[vars[i]] = v
			if _, err := function.ConfigFromEnv(envOf(map[string]string{vars[i]: v})); err != nil {
				wrongAlone = append(wrongAlone, vars[i])
			}
		}
		cfg, err := function.ConfigFromEnv(envOf(env))
		if err != nil {
			if len(wrongAlone) == 0 {
				t.Fatalf("ConfigFromEnv(%q) = %v, yet no variable is wrong on its own", env, err)
			}
			for _, name := range wrongAlone {
				if !strings.Contains(err.Error(), name) {
					t.Fatalf("ConfigFromEnv(%q) = %v: does not name %s", env, err, name)
				}
			}
			return
		}
		if len(wrongAlone) > 0 {
			t.Fatalf("ConfigFromEnv(%q) accepted %v, wrong on their own: %+v", env, wrongAlone, cfg)
		}
		if cfg.WorkGroup != workGroup || cfg.Database != database || cfg.Catalog != catalog || cfg.UserURL != userURL || cfg.QueriesURL != queriesURL {
			t.Fatalf("ConfigFromEnv(%q) = %+v", env, cfg)
		}
		for _, d := range []struct {
			name, v  string
			got, def time.Duration
			lo, hi   time.Duration
		}{{function.EnvMaxAge, maxAge, cfg.MaxAge, api.DefaultMaxAge, time.Minute, remote.MaxReuseAge},
			{function.EnvRunTimeout, timeout, cfg.RunTimeout, 5 * time.Minute, time.Second, time.Hour}} {
			want := d.def
			if d.v != "" {
				want, _ = time.ParseDuration(d.v)
			}
			if d.got != want || d.got < d.lo || d.got > d.hi {
				t.Fatalf("%s=%q: %v, want %v within %v..%v", d.name, d.v, d.got, want, d.lo, d.hi)
			}
		}
		if n, _ := strconv.Atoi(concurrency); concurrency == "" && cfg.Concurrency != 0 || concurrency != "" && (cfg.Concurrency != n || n < 1 || n > 20) {
			t.Fatalf("%s=%q: %d, want 1..20", function.EnvConcurrency, concurrency, cfg.Concurrency)
		}
		if _, err := function.New(cfg, client, logger); err != nil {
			t.Fatalf("ConfigFromEnv(%q) accepted %+v, New refuses it: %v", env, cfg, err)
		}
	})
}

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
