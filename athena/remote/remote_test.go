package remote_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
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
