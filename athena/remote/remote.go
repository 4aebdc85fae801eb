package remote

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkathena "github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/athena/types"

	"github.com/eventlake/eventlake/athena"
)

// API is the part of the Athena client the runner uses. *athena.Client
// implements it; tests may wrap it to inject faults.
type API interface {
	StartQueryExecution(ctx context.Context, in *sdkathena.StartQueryExecutionInput, optFns ...func(*sdkathena.Options)) (*sdkathena.StartQueryExecutionOutput, error)
	GetQueryExecution(ctx context.Context, in *sdkathena.GetQueryExecutionInput, optFns ...func(*sdkathena.Options)) (*sdkathena.GetQueryExecutionOutput, error)
	GetQueryResults(ctx context.Context, in *sdkathena.GetQueryResultsInput, optFns ...func(*sdkathena.Options)) (*sdkathena.GetQueryResultsOutput, error)
	StopQueryExecution(ctx context.Context, in *sdkathena.StopQueryExecutionInput, optFns ...func(*sdkathena.Options)) (*sdkathena.StopQueryExecutionOutput, error)
}

// Config configures a Runner. The zero value of every field means the
// default.
type Config struct {
	// WorkGroup runs the queries; default "eventlake", the workgroup the
	// CDK app creates (it enforces its result location, encryption and
	// bytes-scanned cutoff).
	WorkGroup string
	// Database holds the events table and view; default "eventlake".
	Database string
	// Catalog is the data catalog; default "AwsDataCatalog".
	Catalog string
	// OutputLocation is the s3:// prefix for results, for a workgroup that
	// has none. A workgroup that enforces its configuration ignores it.
	OutputLocation string
	// PollInitial is the first wait between status checks; default 100ms.
	// Each wait doubles up to PollMax; default 5s.
	PollInitial, PollMax time.Duration
	// PageSize is the rows per GetQueryResults call; default and maximum 1000.
	PageSize int32
	// StopTimeout bounds the StopQueryExecution call made when the context
	// ends before the query; default 10s.
	StopTimeout time.Duration
	// Logger receives one record per query; default slog.Default().
	Logger *slog.Logger
	// ReuseMaxAge lets Run answer with the result of an earlier run of the
	// same statement with the same parameters in the workgroup, when it is
	// no older than this (Athena's query result reuse): such a run scans
	// nothing and is not billed. Athena counts the age in whole minutes
	// (MaxAgeInMinutes, at most 7 days), so it is rounded down, and under a
	// minute no result is reused. Zero (the default) runs every query
	// afresh. RunReusing sets it per call. Athena ignores it for a query
	// whose result configuration is overridden (OutputLocation).
	ReuseMaxAge time.Duration
}

func (c Config) withDefaults() Config {
	if c.WorkGroup == "" {
		c.WorkGroup = athena.DefaultDatabase
	}
	if c.Database == "" {
		c.Database = athena.DefaultDatabase
	}
	if c.Catalog == "" {
		c.Catalog = "AwsDataCatalog"
	}
	if c.PollInitial <= 0 {
		c.PollInitial = 100 * time.Millisecond
	}
	if c.PollMax <= 0 {
		c.PollMax = 5 * time.Second
	}
	if c.PageSize <= 0 || c.PageSize > 1000 {
		c.PageSize = 1000
	}
	if c.StopTimeout <= 0 {
		c.StopTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Runner runs queries on Athena. It is safe for concurrent use.
type Runner struct {
	api API
	cfg Config
}

// New returns a Runner over api.
func New(api API, cfg Config) *Runner {
	return &Runner{api: api, cfg: cfg.withDefaults()}
}

// The runner's log line for each query that succeeded (LogMessageQuery,
// level INFO) and its field with the bytes Athena scanned (0 for a reused
// result), which the CDK construct's metric filter of the analytics
// function sums.
const (
	LogMessageQuery     = "athena query"
	LogFieldDataScanned = "data_scanned_bytes"
)

// Database is the database the runner's queries run in (Config.Database,
// default applied).
func (r *Runner) Database() string { return r.cfg.Database }

// ErrQueryFailed is matched (errors.Is) by every *QueryError.
var ErrQueryFailed = errors.New("athena query did not succeed")

// QueryError reports a query that Athena accepted but that ended FAILED or
// CANCELLED. A failed query is billed for the data it scanned.
type QueryError struct {
	QueryID string
	State   types.QueryExecutionState
	// Reason is Athena's StateChangeReason.
	Reason string
	// Category (1 system, 2 user, 3 other) and Type classify the error;
	// Retryable says whether running it again may succeed.
	Category, Type int32
	Retryable      bool
	BytesScanned   int64
}

func (e *QueryError) Error() string {
	return fmt.Sprintf("athena query %s %s: %s (scanned %s)", e.QueryID, e.State, e.Reason, athena.FormatBytes(e.BytesScanned))
}

// Is makes errors.Is(err, ErrQueryFailed) hold.
func (e *QueryError) Is(target error) bool { return target == ErrQueryFailed }

// Run runs a query of the library with its checked arguments (Query.Args),
// passing each as an execution parameter literal. Arguments that Query.Check
// refuses (out of range, for another parameter) fail with an
// *athena.ArgError before anything is sent. It implements athena.Runner.
func (r *Runner) Run(ctx context.Context, q athena.Query, args []athena.Arg) (*athena.Result, error) {
	return r.RunReusing(ctx, q, args, r.cfg.ReuseMaxAge)
}

// RunReusing is Run with Config.ReuseMaxAge set to maxAge for this call:
// Athena may answer with an earlier run's result no older than maxAge
// (whole minutes; under a minute, never). The result's Stats.Reused says
// whether it did, and Stats.ComputedAt when the rows were computed.
func (r *Runner) RunReusing(ctx context.Context, q athena.Query, args []athena.Arg, maxAge time.Duration) (*athena.Result, error) {
	if err := q.Check(args); err != nil {
		return nil, err
	}
	lits := make([]string, len(args))
	for i, a := range args {
		lits[i] = a.Literal()
	}
	res, err := r.execute(ctx, q.SQL, lits, maxAge)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", q.Name, err)
	}
	return res, nil
}

// MaxReuseAge is the longest age of a result Athena reuses: 7 days.
const MaxReuseAge = 7 * 24 * time.Hour

// reuseConfiguration returns the StartQueryExecution setting that lets
// Athena reuse a result no older than maxAge, or nil for none.
func reuseConfiguration(maxAge time.Duration) *types.ResultReuseConfiguration {
	minutes := min(maxAge, MaxReuseAge) / time.Minute
	if minutes < 1 {
		return nil
	}
	return &types.ResultReuseConfiguration{ResultReuseByAgeConfiguration: &types.ResultReuseByAgeConfiguration{
		Enabled: true, MaxAgeInMinutes: aws.Int32(int32(minutes)),
	}}
}

// Execute runs one SQL statement with execution parameters given as SQL
// literals ('text', 42) and returns every row, reusing an earlier result as
// Config.ReuseMaxAge allows. When ctx ends first it stops the query and
// returns ctx's error; a query that fails returns a *QueryError.
func (r *Runner) Execute(ctx context.Context, sqlText string, params []string) (*athena.Result, error) {
	return r.execute(ctx, sqlText, params, r.cfg.ReuseMaxAge)
}

func (r *Runner) execute(ctx context.Context, sqlText string, params []string, maxAge time.Duration) (*athena.Result, error) {
	start := time.Now()
	in := &sdkathena.StartQueryExecutionInput{
		QueryString: aws.String(sqlText),
		WorkGroup:   aws.String(r.cfg.WorkGroup),
		QueryExecutionContext: &types.QueryExecutionContext{
			Database: aws.String(r.cfg.Database),
			Catalog:  aws.String(r.cfg.Catalog),
		},
		ResultReuseConfiguration: reuseConfiguration(maxAge),
	}
	if len(params) > 0 {
		in.ExecutionParameters = params
	}
	if r.cfg.OutputLocation != "" {
		in.ResultConfiguration = &types.ResultConfiguration{OutputLocation: aws.String(r.cfg.OutputLocation)}
	}
	out, err := r.api.StartQueryExecution(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("start athena query in workgroup %s: %w", r.cfg.WorkGroup, err)
	}
	id := aws.ToString(out.QueryExecutionId)
	exec, err := r.wait(ctx, id)
	if err != nil {
		return nil, err
	}
	res, err := r.results(ctx, id)
	if err != nil {
		return nil, err
	}
	res.Stats = athena.Stats{Engine: "athena", QueryID: id, Elapsed: time.Since(start), ComputedAt: start}
	if exec.Status != nil && exec.Status.SubmissionDateTime != nil {
		res.Stats.ComputedAt = *exec.Status.SubmissionDateTime
	}
	if st := exec.Statistics; st != nil {
		res.Stats.BytesScanned = aws.ToInt64(st.DataScannedInBytes)
		res.Stats.Reused = st.ResultReuseInformation != nil && st.ResultReuseInformation.ReusedPreviousResult
	}
	if res.Stats.Reused {
		res.Stats.ComputedAt = r.reusedComputedAt(ctx, exec, start, maxAge)
	}
	r.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, LogMessageQuery,
		slog.String("query_id", id), slog.Int64(LogFieldDataScanned, res.Stats.BytesScanned),
		slog.Float64("cost_usd", res.Stats.Billed()), slog.Bool("reused", res.Stats.Reused), slog.Int("rows", len(res.Rows)),
		slog.Duration("elapsed", res.Stats.Elapsed))
	return res, nil
}

// reusedComputedAt returns when the earlier run whose result Athena reused
// was submitted. Athena points the reusing query's output location at the
// earlier run's result file, <location>/<query execution ID>.csv, so the
// earlier run is looked up by that ID. When that fails, it returns the
// oldest time the result can be from: start - maxAge.
func (r *Runner) reusedComputedAt(ctx context.Context, exec *types.QueryExecution, start time.Time, maxAge time.Duration) time.Time {
	bound := start.Add(-min(maxAge, MaxReuseAge))
	var loc string
	if exec.ResultConfiguration != nil {
		loc = aws.ToString(exec.ResultConfiguration.OutputLocation)
	}
	earlier := strings.TrimSuffix(path.Base(loc), ".csv")
	if loc == "" || earlier == aws.ToString(exec.QueryExecutionId) || earlier == "" {
		return bound
	}
	out, err := r.api.GetQueryExecution(ctx, &sdkathena.GetQueryExecutionInput{QueryExecutionId: aws.String(earlier)})
	if err != nil || out.QueryExecution == nil || out.QueryExecution.Status == nil || out.QueryExecution.Status.SubmissionDateTime == nil {
		r.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "athena reused result: earlier run unknown",
			slog.String("query_id", aws.ToString(exec.QueryExecutionId)), slog.String("output_location", loc), slog.Any("error", err))
		return bound
	}
	return *out.QueryExecution.Status.SubmissionDateTime
}

// wait polls until the query ends, doubling the wait up to PollMax.
func (r *Runner) wait(ctx context.Context, id string) (*types.QueryExecution, error) {
	delay := r.cfg.PollInitial
	timer := time.NewTimer(delay)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			r.stop(ctx, id)
			return nil, fmt.Errorf("athena query %s: %w", id, ctx.Err())
		case <-timer.C:
		}
		out, err := r.api.GetQueryExecution(ctx, &sdkathena.GetQueryExecutionInput{QueryExecutionId: aws.String(id)})
		if err != nil {
			if ctx.Err() != nil {
				r.stop(ctx, id)
				return nil, fmt.Errorf("athena query %s: %w", id, ctx.Err())
			}
			return nil, fmt.Errorf("athena query %s: get status: %w", id, err)
		}
		exec := out.QueryExecution
		if exec == nil || exec.Status == nil {
			return nil, fmt.Errorf("athena query %s: status missing from GetQueryExecution", id)
		}
		switch exec.Status.State {
		case types.QueryExecutionStateSucceeded:
			return exec, nil
		case types.QueryExecutionStateFailed, types.QueryExecutionStateCancelled:
			qerr := &QueryError{QueryID: id, State: exec.Status.State, Reason: aws.ToString(exec.Status.StateChangeReason)}
			if ae := exec.Status.AthenaError; ae != nil {
				qerr.Category, qerr.Type, qerr.Retryable = aws.ToInt32(ae.ErrorCategory), aws.ToInt32(ae.ErrorType), ae.Retryable
				if qerr.Reason == "" {
					qerr.Reason = aws.ToString(ae.ErrorMessage)
				}
			}
			if exec.Statistics != nil {
				qerr.BytesScanned = aws.ToInt64(exec.Statistics.DataScannedInBytes)
			}
			return nil, qerr
		}
		delay = min(delay*2, r.cfg.PollMax)
		timer.Reset(delay)
	}
}

// stop asks Athena to cancel a query the caller no longer waits for, so it
// stops scanning (and billing). It outlives ctx by at most StopTimeout.
func (r *Runner) stop(ctx context.Context, id string) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.StopTimeout)
	defer cancel()
	if _, err := r.api.StopQueryExecution(sctx, &sdkathena.StopQueryExecutionInput{QueryExecutionId: aws.String(id)}); err != nil {
		r.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "stop athena query", slog.String("query_id", id), slog.String("error", err.Error()))
	}
}

// results reads every page. Athena's first row of a SELECT holds the column
// names; it is dropped.
func (r *Runner) results(ctx context.Context, id string) (*athena.Result, error) {
	res := &athena.Result{}
	p := sdkathena.NewGetQueryResultsPaginator(r.api, &sdkathena.GetQueryResultsInput{
		QueryExecutionId: aws.String(id),
		MaxResults:       aws.Int32(r.cfg.PageSize),
	})
	first := true
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("athena query %s: get results: %w", id, err)
		}
		rs := page.ResultSet
		if rs == nil {
			continue
		}
		rows := rs.Rows
		if first {
			first = false
			if md := rs.ResultSetMetadata; md != nil {
				for _, c := range md.ColumnInfo {
					res.Columns = append(res.Columns, athena.Column{Name: aws.ToString(c.Name), Type: aws.ToString(c.Type)})
				}
			}
			if len(rows) > 0 && isHeader(rows[0], res.Columns) {
				rows = rows[1:]
			}
		}
		for _, row := range rows {
			vals := make([]sql.NullString, len(row.Data))
			for i, d := range row.Data {
				if d.VarCharValue != nil {
					vals[i] = sql.NullString{String: *d.VarCharValue, Valid: true}
				}
			}
			res.Rows = append(res.Rows, vals)
		}
	}
	return res, nil
}

func isHeader(row types.Row, cols []athena.Column) bool {
	if len(row.Data) != len(cols) || len(cols) == 0 {
		return false
	}
	for i, d := range row.Data {
		if aws.ToString(d.VarCharValue) != cols[i].Name {
			return false
		}
	}
	return true
}
