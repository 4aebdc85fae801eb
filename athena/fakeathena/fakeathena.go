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
	s.mu.Lock()
	s.seq++
	q := &query{id: fmt.Sprintf("00000000-0000-4000-8000-%012d", s.seq), input: in, state: "QUEUED", submit: time.Now()}
	s.queries[q.id] = q
	if tok := str(in, "ClientRequestToken"); tok != "" {
		s.tokens[tok] = q.id
	}
	s.mu.Unlock()
	// The engine runs now; the polls then reveal the outcome step by step.
	res, err := s.engine(context.WithoutCancel(ctx), sql, params)
	s.mu.Lock()
	q.result, q.err, q.complete = res, err, time.Now()
	s.mu.Unlock()
	return map[string]string{"QueryExecutionId": q.id}, nil
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
	stats := map[string]any{"EngineExecutionTimeInMillis": q.complete.Sub(q.submit).Milliseconds()}
	switch q.state {
	case "SUCCEEDED":
		status["CompletionDateTime"] = float64(q.complete.UnixMilli()) / 1000
		stats["DataScannedInBytes"] = max(q.result.Stats.BytesScanned, 0)
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
	if rc, ok := q.input["ResultConfiguration"].(map[string]any); ok {
		loc := strings.TrimSuffix(str(rc, "OutputLocation"), "/")
		exec["ResultConfiguration"] = map[string]any{"OutputLocation": loc + "/" + q.id + ".csv"}
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
