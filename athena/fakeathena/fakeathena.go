// Package fakeathena is an HTTP endpoint that speaks Amazon Athena's JSON 1.1
// wire protocol for the calls the query runner makes (StartQueryExecution,
// GetQueryExecution, GetQueryResults, StopQueryExecution), so the runner is
// tested with the real aws-sdk-go-v2 client. Athena itself cannot run here;
// the endpoint hands each query to an Engine (the tests use DuckDB over a
// local lake) and reports it QUEUED, then RUNNING for a few polls, then
// SUCCEEDED or FAILED, with the engine's bytes scanned. It checks requests as
// Athena does (a SigV4 Authorization header, the target and content type,
// execution parameters as SQL literals, MaxResults at most 1000) and can
// inject faults. It is a test helper, as net/http/httptest is.
package fakeathena

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkathena "github.com/aws/aws-sdk-go-v2/service/athena"

	"github.com/eventlake/eventlake/athena"
)

// Engine runs one query with its execution parameters already read from
// their literals (string or int64).
type Engine func(ctx context.Context, sql string, params []any) (*athena.Result, error)

// Options configures New. The zero value means defaults.
type Options struct {
	// RunningPolls is how many GetQueryExecution calls see QUEUED or RUNNING
	// before the final state; default 2.
	RunningPolls int
	// OutputLocation is the workgroup's query result location, where
	// every query's result file is <OutputLocation><query ID>.csv unless
	// the request overrides it; default "s3://fakeathena-results/".
	OutputLocation string
	// Now is the clock of query submission and completion times, which
	// query result reuse compares with MaxAgeInMinutes; default time.Now.
	Now func() time.Time
}

// Fault makes the next N calls of an operation fail with an Athena error.
type Fault struct {
	// Op is the operation, e.g. "GetQueryExecution".
	Op string
	// Times is how many calls fail.
	Times int
	// Status and Code are the HTTP status and the error type, e.g. 400
	// "TooManyRequestsException" or 500 "InternalServerException".
	Status int
	Code   string
}

// Call records one request the endpoint received.
type Call struct {
	Op   string
	Body map[string]any
}

type query struct {
	id       string
	input    map[string]any
	result   *athena.Result
	err      error
	polls    int
	state    string
	stopped  bool
	submit   time.Time
	complete time.Time
	// reusedFrom is the earlier query whose result this one reused.
	reusedFrom *query
}

// Server is the fake endpoint. Its methods are safe for concurrent use.
type Server struct {
	*httptest.Server
	engine Engine
	opts   Options

	mu      sync.Mutex
	queries map[string]*query
	tokens  map[string]string // ClientRequestToken -> query ID
	faults  []*Fault
	calls   []Call
	seq     int
}

// New starts the endpoint on a loopback port. Close stops it.
func New(engine Engine, opts Options) *Server {
	if opts.RunningPolls == 0 {
		opts.RunningPolls = 2
	}
	if opts.OutputLocation == "" {
		opts.OutputLocation = "s3://fakeathena-results/"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{engine: engine, opts: opts, queries: map[string]*query{}, tokens: map[string]string{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Client returns a real Athena client for the endpoint, with static
// credentials and fast retries.
func (s *Server) Client(optFns ...func(*sdkathena.Options)) *sdkathena.Client {
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: aws.NewCredentialsCache(staticCreds{}),
	}
	return sdkathena.NewFromConfig(cfg, append([]func(*sdkathena.Options){func(o *sdkathena.Options) {
		o.BaseEndpoint = aws.String(s.URL)
	}}, optFns...)...)
}

type staticCreds struct{}

func (staticCreds) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: "AKIDFAKE", SecretAccessKey: "secret", Source: "fakeathena"}, nil
}

// Inject queues a fault.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// Calls returns the requests received so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// State returns a query's state ("" if unknown).
func (s *Server) State(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q := s.queries[id]; q != nil {
		return q.state
	}
	return ""
}

const target = "AmazonAthena."

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), target)
	switch {
	case r.Method != http.MethodPost || !ok:
		writeError(w, 400, "UnknownOperationException", "expected POST with X-Amz-Target AmazonAthena.<Operation>")
		return
	case r.Header.Get("Content-Type") != "application/x-amz-json-1.1":
		writeError(w, 400, "SerializationException", "Content-Type must be application/x-amz-json-1.1")
		return
	case !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=AKIDFAKE/") ||
		!strings.Contains(r.Header.Get("Authorization"), "/athena/aws4_request"):
		writeError(w, 403, "UnrecognizedClientException", "missing or malformed SigV4 signature")
		return
	}
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeError(w, 400, "SerializationException", err.Error())
		return
	}
	s.mu.Lock()
	s.calls = append(s.calls, Call{Op: op, Body: body})
	for _, f := range s.faults {
		if f.Op == op && f.Times > 0 {
			f.Times--
			s.mu.Unlock()
			writeError(w, f.Status, f.Code, "injected fault")
			return
		}
	}
	s.mu.Unlock()

	var out any
	var err *apiError
	switch op {
	case "StartQueryExecution":
		out, err = s.start(r.Context(), body)
	case "GetQueryExecution":
		out, err = s.get(body)
	case "GetQueryResults":
		out, err = s.results(body)
	case "StopQueryExecution":
		out, err = s.stop(body)
	default:
		err = &apiError{400, "UnknownOperationException", op + " is not implemented by fakeathena"}
	}
	if err != nil {
		writeError(w, err.status, err.code, err.msg)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(out)
}

type apiError struct {
	status    int
	code, msg string
}

func invalid(format string, args ...any) *apiError {
	return &apiError{400, "InvalidRequestException", fmt.Sprintf(format, args...)}
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"__type": code, "Message": msg})
}

func str(m map[string]any, k string) string {
	v, _ := m[k].(string)
	return v
}

func (s *Server) start(ctx context.Context, in map[string]any) (any, *apiError) {
	sql := str(in, "QueryString")
	if sql == "" || len(sql) > 262144 {
		return nil, invalid("QueryString must be 1 to 262144 characters")
	}
	if tok := str(in, "ClientRequestToken"); tok != "" {
		s.mu.Lock()
		id, seen := s.tokens[tok]
		s.mu.Unlock()
		if seen {
			return map[string]string{"QueryExecutionId": id}, nil
		}
	}
	var lits []string
	if raw, ok := in["ExecutionParameters"]; ok {
		list, ok := raw.([]any)
		if !ok || len(list) == 0 {
			return nil, invalid("ExecutionParameters must be a non-empty list")
		}
		for _, v := range list {
			sv, ok := v.(string)
			if !ok {
				return nil, invalid("ExecutionParameters must be strings")
			}
			lits = append(lits, sv)
		}
	}
	if n := strings.Count(sql, "?"); n != len(lits) {
		return nil, invalid("Query has %d parameter placeholders but %d execution parameters", n, len(lits))
	}
	params := make([]any, len(lits))
	for i, l := range lits {
		v, err := parseLiteral(l)
		if err != nil {
			return nil, invalid("execution parameter %d: %v", i+1, err)
		}
		params[i] = v
	}
	maxAge, reuse, aerr := reuseAge(in)
	if aerr != nil {
		return nil, aerr
	}
	s.mu.Lock()
	s.seq++
	q := &query{id: fmt.Sprintf("00000000-0000-4000-8000-%012d", s.seq), input: in, state: "QUEUED", submit: s.opts.Now()}
	s.queries[q.id] = q
	if tok := str(in, "ClientRequestToken"); tok != "" {
		s.tokens[tok] = q.id
	}
	if reuse {
		q.reusedFrom = s.reusable(q, maxAge)
	}
	s.mu.Unlock()
	if prev := q.reusedFrom; prev != nil {
		s.mu.Lock()
		q.result, q.complete = prev.result, s.opts.Now()
		s.mu.Unlock()
		return map[string]string{"QueryExecutionId": q.id}, nil
	}
	// The engine runs now; the polls then reveal the outcome step by step.
	res, err := s.engine(context.WithoutCancel(ctx), sql, params)
	s.mu.Lock()
	q.result, q.err, q.complete = res, err, s.opts.Now()
	s.mu.Unlock()
	return map[string]string{"QueryExecutionId": q.id}, nil
}

// reuseAge reads a request's ResultReuseConfiguration: whether a previous
// result may be reused, and its maximum age (MaxAgeInMinutes, default 60,
// 0 to 10080 as Athena allows). As on Athena, a request that overrides the
// result configuration (ResultConfiguration) reuses nothing.
func reuseAge(in map[string]any) (time.Duration, bool, *apiError) {
	rc, ok := in["ResultReuseConfiguration"].(map[string]any)
	if !ok {
		return 0, false, nil
	}
	by, ok := rc["ResultReuseByAgeConfiguration"].(map[string]any)
	if !ok {
		return 0, false, nil
	}
	enabled, ok := by["Enabled"].(bool)
	if !ok {
		return 0, false, invalid("ResultReuseByAgeConfiguration.Enabled is required")
	}
	minutes := 60.0
	if v, ok := by["MaxAgeInMinutes"]; ok {
		if minutes, ok = v.(float64); !ok || minutes < 0 || minutes > 10080 || minutes != float64(int(minutes)) {
			return 0, false, invalid("MaxAgeInMinutes must be an integer from 0 to 10080")
		}
	}
	_, overridden := in["ResultConfiguration"]
	return time.Duration(minutes) * time.Minute, enabled && !overridden, nil
}

// reusable returns the latest succeeded query with q's statement,
// parameters, workgroup and context that completed within maxAge, or nil.
// The caller holds s.mu.
func (s *Server) reusable(q *query, maxAge time.Duration) *query {
	var best *query
	for _, p := range s.queries {
		if p == q || p.state != "SUCCEEDED" {
			continue
		}
		if _, overridden := p.input["ResultConfiguration"]; overridden {
			continue
		}
		match := true
		for _, k := range []string{"QueryString", "ExecutionParameters", "WorkGroup", "QueryExecutionContext"} {
			match = match && fmt.Sprint(p.input[k]) == fmt.Sprint(q.input[k])
		}
		// A reused result is as old as the run that computed it.
		if p.reusedFrom != nil {
			p = p.reusedFrom
		}
		if match && q.submit.Sub(p.complete) <= maxAge && (best == nil || p.complete.After(best.complete)) {
			best = p
		}
	}
	return best
}

// parseLiteral reads an execution parameter: a single-quoted string (a quote
// inside is written twice), or a decimal integer.
func parseLiteral(l string) (any, error) {
	if strings.HasPrefix(l, "'") {
		if len(l) < 2 || !strings.HasSuffix(l, "'") {
			return nil, fmt.Errorf("unterminated string literal %q", l)
		}
		inner := l[1 : len(l)-1]
		if strings.Count(strings.ReplaceAll(inner, "''", ""), "'") > 0 {
			return nil, fmt.Errorf("string literal %q has an unescaped quote", l)
		}
		return strings.ReplaceAll(inner, "''", "'"), nil
	}
	n, err := strconv.ParseInt(l, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%q is neither a string literal nor an integer", l)
	}
	return n, nil
}

func (s *Server) lookup(in map[string]any) (*query, *apiError) {
	id := str(in, "QueryExecutionId")
	q := s.queries[id]
	if q == nil {
		return nil, invalid("QueryExecution %s was not found", id)
	}
	return q, nil
}

func (s *Server) get(in map[string]any) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, aerr := s.lookup(in)
	if aerr != nil {
		return nil, aerr
	}
	if !q.stopped && q.state != "SUCCEEDED" && q.state != "FAILED" {
		q.polls++
		switch {
		case q.polls == 1:
			q.state = "QUEUED"
		case q.polls <= s.opts.RunningPolls:
			q.state = "RUNNING"
		case q.err != nil:
			q.state = "FAILED"
		default:
			q.state = "SUCCEEDED"
		}
	}
	status := map[string]any{
		"State":              q.state,
		"SubmissionDateTime": float64(q.submit.UnixMilli()) / 1000,
	}
	stats := map[string]any{"EngineExecutionTimeInMillis": q.complete.Sub(q.submit).Milliseconds(),
		"ResultReuseInformation": map[string]any{"ReusedPreviousResult": q.reusedFrom != nil}}
	switch q.state {
	case "SUCCEEDED":
		status["CompletionDateTime"] = float64(q.complete.UnixMilli()) / 1000
		stats["DataScannedInBytes"] = max(q.result.Stats.BytesScanned, 0)
		if q.reusedFrom != nil {
			stats["DataScannedInBytes"] = 0
		}
		stats["TotalExecutionTimeInMillis"] = q.complete.Sub(q.submit).Milliseconds()
	case "FAILED":
		status["CompletionDateTime"] = float64(q.complete.UnixMilli()) / 1000
		status["StateChangeReason"] = q.err.Error()
		status["AthenaError"] = map[string]any{"ErrorCategory": 2, "ErrorType": 1301, "Retryable": false, "ErrorMessage": q.err.Error()}
		stats["DataScannedInBytes"] = 0
	case "CANCELLED":
		status["StateChangeReason"] = "Query was cancelled by user"
	}
	exec := map[string]any{
		"QueryExecutionId":      q.id,
		"Query":                 q.input["QueryString"],
		"StatementType":         "DML",
		"Status":                status,
		"Statistics":            stats,
		"WorkGroup":             q.input["WorkGroup"],
		"QueryExecutionContext": q.input["QueryExecutionContext"],
		"ExecutionParameters":   q.input["ExecutionParameters"],
		"EngineVersion":         map[string]any{"EffectiveEngineVersion": "Athena engine version 3", "SelectedEngineVersion": "AUTO"},
	}
	// The result file; a reused result's is the earlier query's, as on
	// Athena, which points to the previous result.
	loc, file := s.opts.OutputLocation, q.id
	if rc, ok := q.input["ResultConfiguration"].(map[string]any); ok {
		loc = str(rc, "OutputLocation")
	}
	if q.reusedFrom != nil {
		file = q.reusedFrom.id
	}
	exec["ResultConfiguration"] = map[string]any{"OutputLocation": strings.TrimSuffix(loc, "/") + "/" + file + ".csv"}
	if rr, ok := q.input["ResultReuseConfiguration"]; ok {
		exec["ResultReuseConfiguration"] = rr
	}
	return map[string]any{"QueryExecution": exec}, nil
}

func (s *Server) results(in map[string]any) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, aerr := s.lookup(in)
	if aerr != nil {
		return nil, aerr
	}
	if q.state != "SUCCEEDED" {
		return nil, invalid("Query has not yet finished. Current state: %s", q.state)
	}
	maxResults := 1000
	if v, ok := in["MaxResults"].(float64); ok {
		if v < 1 || v > 1000 {
			return nil, invalid("MaxResults must be between 1 and 1000")
		}
		maxResults = int(v)
	}
	// Athena's first row of a SELECT's results holds the column names.
	res := q.result
	var rows []map[string]any
	header := make([]map[string]any, len(res.Columns))
	cols := make([]map[string]any, len(res.Columns))
	for i, c := range res.Columns {
		header[i] = map[string]any{"VarCharValue": c.Name}
		cols[i] = map[string]any{"CatalogName": "hive", "Name": c.Name, "Label": c.Name, "Type": c.Type,
			"Precision": 0, "Scale": 0, "Nullable": "UNKNOWN", "CaseSensitive": c.Type == "varchar"}
	}
	rows = append(rows, map[string]any{"Data": header})
	for _, r := range res.Rows {
		data := make([]map[string]any, len(r))
		for i, v := range r {
			data[i] = map[string]any{}
			if v.Valid {
				data[i]["VarCharValue"] = v.String
			}
		}
		rows = append(rows, map[string]any{"Data": data})
	}
	start := 0
	if tok := str(in, "NextToken"); tok != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(tok, q.id+":"))
		if err != nil || !strings.HasPrefix(tok, q.id+":") || n > len(rows) {
			return nil, invalid("NextToken is invalid")
		}
		start = n
	}
	end := min(start+maxResults, len(rows))
	out := map[string]any{
		"UpdateCount": 0,
		"ResultSet": map[string]any{
			"Rows":              rows[start:end],
			"ResultSetMetadata": map[string]any{"ColumnInfo": cols},
		},
	}
	if end < len(rows) {
		out["NextToken"] = q.id + ":" + strconv.Itoa(end)
	}
	return out, nil
}

func (s *Server) stop(in map[string]any) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, aerr := s.lookup(in)
	if aerr != nil {
		return nil, aerr
	}
	if q.state != "SUCCEEDED" && q.state != "FAILED" {
		q.state, q.stopped = "CANCELLED", true
	}
	return map[string]any{}, nil
}
