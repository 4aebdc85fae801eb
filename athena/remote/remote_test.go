package remote_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	sdkathena "github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/athena/types"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/athena/fakeathena"
	"github.com/eventlake/eventlake/athena/lakegen"
	"github.com/eventlake/eventlake/athena/local"
	"github.com/eventlake/eventlake/athena/remote"
)

// env is a fake Athena whose engine is DuckDB over a small generated lake,
// the real SDK client pointed at it, and the local runner over the same lake
// for comparison.
type env struct {
	fake   *fakeathena.Server
	client *sdkathena.Client
	local  *local.DB
	ds     *lakegen.Dataset
}

func newEnv(t *testing.T, opts fakeathena.Options) *env {
	t.Helper()
	root := t.TempDir()
	ds := lakegen.Generate(lakegen.Config{End: time.Now().UTC(), Days: 20, Users: 20, Events: 2500})
	if _, err := ds.WriteNDJSON(root, lakegen.Layout{PerObject: 100}); err != nil {
		t.Fatal(err)
	}
	db, err := local.Open(context.Background(), local.Config{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	fake := fakeathena.New(func(ctx context.Context, sql string, params []any) (*athena.Result, error) {
		return db.Query(ctx, sql, params...)
	}, opts)
	t.Cleanup(fake.Close)
	client := fake.Client(func(o *sdkathena.Options) {
		o.Retryer = retry.AddWithMaxBackoffDelay(retry.NewStandard(), time.Millisecond)
	})
	return &env{fake: fake, client: client, local: db, ds: ds}
}

// busiest returns the user with the most events.
func busiest(ds *lakegen.Dataset) string {
	n := map[string]int{}
	best := ""
	for _, e := range ds.Events {
		if e.UserID == "" {
			continue
		}
		n[e.UserID]++
		if n[e.UserID] > n[best] || (n[e.UserID] == n[best] && e.UserID < best) {
			best = e.UserID
		}
	}
	return best
}

func quiet() *slog.Logger { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }

func fast(cfg remote.Config) remote.Config {
	cfg.PollInitial, cfg.PollMax, cfg.Logger = time.Millisecond, 4*time.Millisecond, quiet()
	return cfg
}

func addDays(d string, n int) string {
	t, _ := time.Parse("2006-01-02", d)
	return t.AddDate(0, 0, n).Format("2006-01-02")
}

// TestRunMatchesLocal runs every query through the SDK, the wire protocol
// and the fake endpoint, and checks the rows equal the local runner's.
func TestRunMatchesLocal(t *testing.T) {
	e := newEnv(t, fakeathena.Options{})
	r := remote.New(e.client, fast(remote.Config{WorkGroup: "analysts", Database: "lake", OutputLocation: "s3://results/q/"}))
	end := e.ds.End
	user := busiest(e.ds)
	samples := map[string][]string{
		"account_sharing":            {e.ds.Start, end, "0", "0"},
		"active_users":               {end},
		"active_users_by_day":        {addDays(end, -10), end},
		"clicks_impressions_by_hour": {addDays(end, -2), end},
		"logins_by_day":              {addDays(end, -10), end},
		"campaign_conversions":       {e.ds.Start, end},
		"devices":                    {addDays(end, -10), end},
		"hourly_clicks_impressions":  {e.ds.Events[len(e.ds.Events)-1].Time().Truncate(time.Hour).Add(time.Hour).Format(time.RFC3339)},
		"logins_per_day":             nil,
		"rotting_accounts":           {e.ds.Start, end, "0"},
		"sessions":                   {e.ds.Start, end},
		"signup_attribution":         {e.ds.Start, end, "30"},
		"usage_frequency":            {e.ds.Start, end},
		"user_last_seen":             {addDays(end, -7), addDays(end, 1)},
		"user_recent_activity":       {user, e.ds.Start},
	}
	qs, err := athena.Queries()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		t.Run(q.Name, func(t *testing.T) {
			vals, ok := samples[q.Name]
			if !ok {
				t.Fatalf("no sample arguments for %s", q.Name)
			}
			args, err := q.Args(vals...)
			if err != nil {
				t.Fatal(err)
			}
			got, err := r.Run(context.Background(), q, args)
			if err != nil {
				t.Fatal(err)
			}
			want, err := e.local.Run(context.Background(), q, args)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got.Columns) != fmt.Sprint(want.Columns) {
				t.Errorf("columns %v, local %v", got.Columns, want.Columns)
			}
			if fmt.Sprint(got.Rows) != fmt.Sprint(want.Rows) {
				t.Errorf("rows differ from the local run:\n got  %v\n want %v", got.Rows, want.Rows)
			}
			if len(got.Rows) == 0 {
				t.Error("no rows: the sample arguments should select data")
			}
			if got.Stats.Engine != "athena" || got.Stats.QueryID == "" || got.Stats.BytesScanned <= 0 {
				t.Errorf("stats %+v", got.Stats)
			}
		})
	}

	// The request carried the workgroup, the database and the arguments as
	// SQL literals.
	var start *fakeathena.Call
	for _, c := range e.fake.Calls() {
		if c.Op == "StartQueryExecution" && strings.Contains(c.Body["QueryString"].(string), "Rotting") {
			start = &c
		}
	}
	if start == nil {
		t.Fatal("no StartQueryExecution for rotting_accounts")
	}
	if start.Body["WorkGroup"] != "analysts" {
		t.Errorf("WorkGroup %v", start.Body["WorkGroup"])
	}
	qec, _ := start.Body["QueryExecutionContext"].(map[string]any)
	if qec["Database"] != "lake" || qec["Catalog"] != "AwsDataCatalog" {
		t.Errorf("QueryExecutionContext %v", qec)
	}
	rc, _ := start.Body["ResultConfiguration"].(map[string]any)
	if rc["OutputLocation"] != "s3://results/q/" {
		t.Errorf("ResultConfiguration %v", rc)
	}
	params := fmt.Sprint(start.Body["ExecutionParameters"])
	if want := fmt.Sprintf("['%s' '%s' 0 '%s']", e.ds.Start, end, end); params != want {
		t.Errorf("ExecutionParameters %s, want %s", params, want)
	}
	if start.Body["ClientRequestToken"] == "" || start.Body["ClientRequestToken"] == nil {
		t.Error("no ClientRequestToken: a retried start could run the query twice")
	}
}

func TestPaginationAndPolling(t *testing.T) {
	e := newEnv(t, fakeathena.Options{RunningPolls: 5})
	r := remote.New(e.client, fast(remote.Config{PageSize: 7}))
	q, err := athena.Lookup("user_recent_activity")
	if err != nil {
		t.Fatal(err)
	}
	args, err := q.Args(busiest(e.ds), e.ds.Start)
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Run(context.Background(), q, args)
	if err != nil {
		t.Fatal(err)
	}
	want, err := e.local.Run(context.Background(), q, args)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Rows) != 100 || fmt.Sprint(got.Rows) != fmt.Sprint(want.Rows) {
		t.Fatalf("got %d rows, want the local run's %d", len(got.Rows), len(want.Rows))
	}
	var polls, pages int
	for _, c := range e.fake.Calls() {
		switch c.Op {
		case "GetQueryExecution":
			polls++
		case "GetQueryResults":
			pages++
			if c.Body["MaxResults"] != float64(7) {
				t.Errorf("MaxResults %v", c.Body["MaxResults"])
			}
		}
	}
	if polls != 6 {
		t.Errorf("%d status polls, want 6 (QUEUED, RUNNING x4, SUCCEEDED)", polls)
	}
	if wantPages := (100 + 1 + 6) / 7; pages != wantPages {
		t.Errorf("%d result pages, want %d (100 rows and the header, 7 per page)", pages, wantPages)
	}
}

func TestQueryFailure(t *testing.T) {
	e := newEnv(t, fakeathena.Options{})
	r := remote.New(e.client, fast(remote.Config{}))
	_, err := r.Execute(context.Background(), "SELECT no_such_column FROM events_dedup WHERE dt >= ?", []string{"'2026-01-01'"})
	var qerr *remote.QueryError
	if !errors.As(err, &qerr) || !errors.Is(err, remote.ErrQueryFailed) {
		t.Fatalf("error %v, want a *QueryError", err)
	}
	if qerr.State != types.QueryExecutionStateFailed || !strings.Contains(qerr.Reason, "no_such_column") || qerr.Category != 2 || qerr.QueryID == "" {
		t.Errorf("query error %+v", qerr)
	}
}

// TestFaults: throttling and server errors are retried by the SDK; a bad
// request is not, and its error names the operation.
func TestFaults(t *testing.T) {
	tests := []struct {
		name    string
		fault   fakeathena.Fault
		wantErr string
	}{
		{"throttled start", fakeathena.Fault{Op: "StartQueryExecution", Times: 2, Status: 400, Code: "TooManyRequestsException"}, ""},
		{"throttled poll", fakeathena.Fault{Op: "GetQueryExecution", Times: 2, Status: 400, Code: "TooManyRequestsException"}, ""},
		{"server error on results", fakeathena.Fault{Op: "GetQueryResults", Times: 2, Status: 500, Code: "InternalServerException"}, ""},
		{"server down", fakeathena.Fault{Op: "GetQueryExecution", Times: 10, Status: 500, Code: "InternalServerException"}, "get status"},
		{"bad request", fakeathena.Fault{Op: "StartQueryExecution", Times: 1, Status: 400, Code: "InvalidRequestException"}, "start athena query"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, fakeathena.Options{})
			e.fake.Inject(tt.fault)
			r := remote.New(e.client, fast(remote.Config{}))
			q, _ := athena.Lookup("logins_per_day")
			res, err := r.Run(context.Background(), q, nil)
			if tt.wantErr == "" {
				if err != nil || len(res.Rows) != 7 {
					t.Fatalf("Run = %v, %v; want 7 rows after the retries", res, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), tt.fault.Code) {
				t.Fatalf("error %v, want one with %q and %q", err, tt.wantErr, tt.fault.Code)
			}
		})
	}
}

// cancelAfterPolls wraps the real client: it cancels the run's context once
// the query has been polled n times, as a caller giving up would.
type cancelAfterPolls struct {
	remote.API
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfterPolls) GetQueryExecution(ctx context.Context, in *sdkathena.GetQueryExecutionInput, optFns ...func(*sdkathena.Options)) (*sdkathena.GetQueryExecutionOutput, error) {
	out, err := c.API.GetQueryExecution(ctx, in, optFns...)
	if c.n--; c.n == 0 {
		c.cancel()
	}
	return out, err
}

// TestContextStopsQuery: when the caller gives up, the runner returns the
// context's error and cancels the query on Athena, so it stops billing.
func TestContextStopsQuery(t *testing.T) {
	e := newEnv(t, fakeathena.Options{RunningPolls: 1 << 30})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := remote.New(&cancelAfterPolls{API: e.client, n: 3, cancel: cancel}, fast(remote.Config{}))
	q, _ := athena.Lookup("logins_per_day")
	_, err := r.Run(ctx, q, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	var id string
	for _, c := range e.fake.Calls() {
		if c.Op == "StopQueryExecution" {
			id, _ = c.Body["QueryExecutionId"].(string)
		}
	}
	if id == "" || e.fake.State(id) != "CANCELLED" {
		t.Errorf("query %q state %q, want CANCELLED", id, e.fake.State(id))
	}
}

// TestParametersReachTheEngineVerbatim: a value with quotes arrives as the
// same string, not as SQL.
func TestParametersReachTheEngineVerbatim(t *testing.T) {
	e := newEnv(t, fakeathena.Options{})
	r := remote.New(e.client, fast(remote.Config{}))
	q, _ := athena.Lookup("user_recent_activity")
	evil := "x' OR '1'='1"
	args, err := q.Args(evil, e.ds.Start)
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Run(context.Background(), q, args)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 0 {
		t.Errorf("a quoted user id matched %d rows", len(res.Rows))
	}
}

// TestRunChecksArguments: arguments that did not come from Query.Args (a
// bigint beyond its range here) are refused naming the parameter, before
// any call reaches Athena.
func TestRunChecksArguments(t *testing.T) {
	e := newEnv(t, fakeathena.Options{})
	r := remote.New(e.client, fast(remote.Config{}))
	q, _ := athena.Lookup("rotting_accounts")
	args, err := q.Args(e.ds.Start, e.ds.End, "30")
	if err != nil {
		t.Fatal(err)
	}
	days := slices.IndexFunc(q.Params, func(p athena.Param) bool { return p.Name == "days" })
	args[days] = athena.Arg{Param: q.Params[days], Text: "9223372036854775807"}
	_, err = r.Run(context.Background(), q, args)
	if !errors.Is(err, athena.ErrInvalidArgs) || !strings.Contains(err.Error(), "days (bigint)") {
		t.Errorf("Run = %v, want an ErrInvalidArgs naming days", err)
	}
	if calls := e.fake.Calls(); len(calls) != 0 {
		t.Errorf("%d calls reached Athena", len(calls))
	}
}

// clock is a settable time for the fake endpoint.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestResultReuse checks Athena's query result reuse through the wire
// protocol: the request asks for results no older than ReuseMaxAge in whole
// minutes; a reused answer is marked, scanned and billed nothing, and
// carries the earlier run's submission time; an age under a minute, or
// RunReusing with 0, asks for none; results older than the age are not
// reused; other arguments are another statement.
func TestResultReuse(t *testing.T) {
	clk := &clock{now: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	var runs atomic.Int64
	e := newEnv(t, fakeathena.Options{})
	counting := fakeathena.New(func(ctx context.Context, sql string, params []any) (*athena.Result, error) {
		runs.Add(1)
		return e.local.Query(ctx, sql, params...)
	}, fakeathena.Options{Now: clk.Now})
	t.Cleanup(counting.Close)
	client := counting.Client(func(o *sdkathena.Options) {
		o.Retryer = retry.AddWithMaxBackoffDelay(retry.NewStandard(), time.Millisecond)
	})
	r := remote.New(client, fast(remote.Config{ReuseMaxAge: 5*time.Minute + 30*time.Second}))
	q, err := athena.Lookup("devices")
	if err != nil {
		t.Fatal(err)
	}
	args, err := q.Args(e.ds.Start, e.ds.End)
	if err != nil {
		t.Fatal(err)
	}
	run := func(maxAge time.Duration) *athena.Result {
		t.Helper()
		res, err := r.RunReusing(context.Background(), q, args, maxAge)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	first, err := r.Run(context.Background(), q, args)
	if err != nil {
		t.Fatal(err)
	}
	if first.Stats.Reused || first.Stats.BytesScanned <= 0 || !first.Stats.ComputedAt.Equal(clk.Now()) || runs.Load() != 1 {
		t.Fatalf("first run: stats %+v, %d engine runs", first.Stats, runs.Load())
	}
	clk.Add(4 * time.Minute)
	second, err := r.Run(context.Background(), q, args)
	if err != nil {
		t.Fatal(err)
	}
	if !second.Stats.Reused || second.Stats.BytesScanned != 0 || second.Stats.Billed() != 0 || runs.Load() != 1 {
		t.Errorf("within the age: stats %+v, %d engine runs; want the first result reused", second.Stats, runs.Load())
	}
	if !second.Stats.ComputedAt.Equal(first.Stats.ComputedAt) || second.Stats.QueryID == first.Stats.QueryID {
		t.Errorf("reused result computed at %v (query %s), want the first run's %v (query %s)",
			second.Stats.ComputedAt, second.Stats.QueryID, first.Stats.ComputedAt, first.Stats.QueryID)
	}
	if fmt.Sprint(second.Rows) != fmt.Sprint(first.Rows) || fmt.Sprint(second.Columns) != fmt.Sprint(first.Columns) {
		t.Error("the reused result differs from the first")
	}
	// Minutes are whole: 5m30s asks for 5.
	var reuse []any
	for _, c := range counting.Calls() {
		if c.Op == "StartQueryExecution" {
			reuse = append(reuse, c.Body["ResultReuseConfiguration"])
		}
	}
	if want := "map[ResultReuseByAgeConfiguration:map[Enabled:true MaxAgeInMinutes:5]]"; len(reuse) != 2 || fmt.Sprint(reuse[1]) != want {
		t.Errorf("ResultReuseConfiguration %v, want %s", reuse, want)
	}

	if res := run(0); res.Stats.Reused || runs.Load() != 2 {
		t.Errorf("RunReusing(0): reused %v, %d engine runs; want a fresh run", res.Stats.Reused, runs.Load())
	}
	if res := run(59 * time.Second); res.Stats.Reused || runs.Load() != 3 {
		t.Errorf("RunReusing(59s): reused %v, %d engine runs; want a fresh run (under a minute)", res.Stats.Reused, runs.Load())
	}
	var starts []fakeathena.Call
	for _, c := range counting.Calls() {
		if c.Op == "StartQueryExecution" {
			starts = append(starts, c)
		}
	}
	for _, c := range starts[2:] {
		if c.Body["ResultReuseConfiguration"] != nil {
			t.Errorf("a fresh run asked for reuse: %v", c.Body["ResultReuseConfiguration"])
		}
	}
	clk.Add(30 * time.Second)
	if res := run(time.Minute); !res.Stats.Reused || !res.Stats.ComputedAt.Equal(clk.Now().Add(-30*time.Second)) || runs.Load() != 3 {
		t.Errorf("RunReusing(1m) 30s after the latest run: reused %v, computed at %v; want the latest run's result",
			res.Stats.Reused, res.Stats.ComputedAt)
	}
	clk.Add(time.Minute)
	if res := run(time.Minute); res.Stats.Reused || runs.Load() != 4 {
		t.Errorf("RunReusing(1m) 90s after the latest run: reused %v, %d engine runs; want a fresh run", res.Stats.Reused, runs.Load())
	}
	// Other arguments are another statement.
	other, err := q.Args(e.ds.Start, addDays(e.ds.End, -1))
	if err != nil {
		t.Fatal(err)
	}
	if res, err := r.RunReusing(context.Background(), q, other, time.Hour); err != nil || res.Stats.Reused || runs.Load() != 5 {
		t.Errorf("other arguments: %v, reused %v, %d engine runs", err, res != nil && res.Stats.Reused, runs.Load())
	}
	// Athena reuses nothing for a query that overrides the result location.
	over := remote.New(client, fast(remote.Config{ReuseMaxAge: time.Hour, OutputLocation: "s3://elsewhere/"}))
	if res, err := over.Run(context.Background(), q, args); err != nil || res.Stats.Reused || runs.Load() != 6 {
		t.Errorf("with OutputLocation: %v, reused %v, %d engine runs", err, res != nil && res.Stats.Reused, runs.Load())
	}
}
