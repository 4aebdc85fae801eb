package function

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/eventlake/eventlake/athena/api"
	"github.com/eventlake/eventlake/athena/dashboard"
	"github.com/eventlake/eventlake/athena/remote"
	"github.com/eventlake/eventlake/lambdas/collector/apigw"
)

// The function's environment variables.
const (
	// EnvWorkGroup is the Athena workgroup; default "eventlake" (the
	// CDK's, which enforces the result location, encryption and the
	// bytes-scanned cutoff).
	EnvWorkGroup = "ATHENA_WORKGROUP"
	// EnvDatabase is the Glue database of the events table and views;
	// default "eventlake".
	EnvDatabase = "ATHENA_DATABASE"
	// EnvCatalog is the data catalog; default "AwsDataCatalog".
	EnvCatalog = "ATHENA_CATALOG"
	// EnvMaxAge is how long a result is reused, a Go duration; default 5m.
	// Athena reuses results in whole minutes, from 1m to 7 days (168h).
	EnvMaxAge = "MAX_AGE"
	// EnvRunTimeout bounds one Athena query, a Go duration; default 5m.
	// A query goes on when the request that started it ends (API
	// Gateway's 30-second limit), so that a later request finds its result.
	EnvRunTimeout = "QUERY_TIMEOUT"
	// EnvUserURL is the prefix of the per-user admin page the dashboard
	// links user IDs to, e.g. "https://admin.example.com/activity?user=";
	// unset: no links.
	EnvUserURL = "USER_URL_PREFIX"
	// EnvQueriesURL is where browsers reach /api/v1/queries, for the
	// dashboard's CSV and JSON links; default "/api/v1/queries" (the
	// HTTP API's $default stage). With a named stage: "/<stage>/api/v1/queries".
	EnvQueriesURL = "QUERIES_URL"
	// EnvConcurrency bounds the Athena queries one dashboard view runs at
	// once; default 4 (Athena's default quota is 20 to 25 active DML
	// queries per account and Region).
	EnvConcurrency = "DASHBOARD_CONCURRENCY"
)

// DashboardPath is the dashboard's path.
const DashboardPath = "/dashboard"

// RoutePaths are the paths the function serves, each with GET, in API
// Gateway's route syntax ({name} is a path parameter): the API's list and
// queries, seed 001's GET /analytics and the dashboard. The CDK construct
// (infra/eventlake, NewAnalytics) routes exactly these to the function.
func RoutePaths() []string {
	return []string{api.QueriesPath, api.QueriesPath + "/{name}", api.AnalyticsPath, DashboardPath}
}

// Config is the function's configuration.
type Config struct {
	WorkGroup, Database, Catalog string
	MaxAge, RunTimeout           time.Duration
	UserURL, QueriesURL          string
	Concurrency                  int
}

// ConfigFromEnv reads the configuration through getenv (os.Getenv in
// main). It fails naming every variable that does not parse or is out of
// range, so that New accepts whatever it returns.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{WorkGroup: getenv(EnvWorkGroup), Database: getenv(EnvDatabase), Catalog: getenv(EnvCatalog),
		MaxAge: api.DefaultMaxAge, RunTimeout: 5 * time.Minute, UserURL: getenv(EnvUserURL), QueriesURL: getenv(EnvQueriesURL)}
	var bad []string
	duration := func(name string, into *time.Duration, lo, hi time.Duration) {
		v := getenv(name)
		if v == "" {
			return
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < lo || d > hi {
			bad = append(bad, fmt.Sprintf("%s=%q: want a duration from %v to %v", name, v, lo, hi))
			return
		}
		*into = d
	}
	duration(EnvMaxAge, &c.MaxAge, time.Minute, remote.MaxReuseAge)
	duration(EnvRunTimeout, &c.RunTimeout, time.Second, time.Hour)
	// The dashboard's rule for its links (dashboard.New): relative or
	// http(s); FuzzConfigFromEnv holds New to accepting what passes here.
	for _, name := range []string{EnvUserURL, EnvQueriesURL} {
		if v := getenv(name); v != "" {
			if u, err := url.Parse(v); err != nil || (u.Scheme != "" && u.Scheme != "http" && u.Scheme != "https") {
				bad = append(bad, fmt.Sprintf("%s=%q: want a relative or http(s) URL", name, v))
			}
		}
	}
	if v := getenv(EnvConcurrency); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 20 {
			bad = append(bad, fmt.Sprintf("%s=%q: want a number from 1 to 20", EnvConcurrency, v))
		}
		c.Concurrency = n
	}
	if len(bad) > 0 {
		return Config{}, fmt.Errorf("analytics function: %s", strings.Join(bad, "; "))
	}
	return c, nil
}

// New returns the function's handler over an Athena client: the API's
// routes (/api/v1/queries, /api/v1/queries/{name}, GET /analytics) and the
// dashboard (/dashboard), behind API Gateway's HTTP API event adapter.
func New(cfg Config, athena remote.API, logger *slog.Logger) (*apigw.Handler, error) {
	h, err := NewHTTP(cfg, athena, logger)
	if err != nil {
		return nil, err
	}
	return apigw.New(h), nil
}

// NewHTTP is New's http.Handler, before the event adapter.
func NewHTTP(cfg Config, athena remote.API, logger *slog.Logger) (http.Handler, error) {
	runner := remote.New(athena, remote.Config{WorkGroup: cfg.WorkGroup, Database: cfg.Database, Catalog: cfg.Catalog,
		ReuseMaxAge: cfg.MaxAge, Logger: logger})
	a, err := api.New(api.Config{Runner: runner, MaxAge: cfg.MaxAge, RunTimeout: cfg.RunTimeout, Logger: logger})
	if err != nil {
		return nil, err
	}
	d, err := dashboard.New(dashboard.Config{API: a, UserURL: cfg.UserURL, QueriesURL: cfg.QueriesURL,
		Concurrency: cfg.Concurrency, Logger: logger})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+api.QueriesPath, a)
	mux.Handle("GET "+api.QueriesPath+"/", a)
	mux.Handle("GET "+api.AnalyticsPath, a)
	mux.Handle("GET "+DashboardPath, d)
	return mux, nil
}
