package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/eventlake/eventlake/athena"
)

// Defaults of Config.
const (
	DefaultMaxAge     = 5 * time.Minute
	DefaultMaxEntries = 512
	DefaultRunTimeout = 10 * time.Minute
)

// Paths of the routes, relative to where the handler is mounted.
const (
	QueriesPath   = "/api/v1/queries"
	AnalyticsPath = "/analytics"
)

// Config configures New. The zero value of every field but Runner means
// the default.
type Config struct {
	// Runner runs the queries: a *remote.Runner (Athena) or a *local.DB
	// (DuckDB over a local lake). Required. When it implements ReuseRunner,
	// a run asks it for a result no older than the request's maximum age.
	Runner athena.Runner
	// MaxAge is how long a result is reused: requests get a result
	// computed at most this long ago, and may ask for a younger one with
	// max_age; default DefaultMaxAge (5 minutes, seed 004's rule).
	MaxAge time.Duration
	// MaxEntries bounds the results kept; the least recently used goes
	// first. Default DefaultMaxEntries.
	MaxEntries int
	// RunTimeout bounds one run of a query, which goes on when the request
	// that started it gives up (so that the next request finds its
	// result); default DefaultRunTimeout.
	RunTimeout time.Duration
	// Now is the clock of ages and of the parameters' defaults; default
	// time.Now.
	Now func() time.Time
	// Logger receives the details of failed runs (answers say only that
	// the query failed); default slog.Default().
	Logger *slog.Logger
}

// Handler serves the analytics API. It is safe for concurrent use.
type Handler struct {
	cfg     Config
	queries []athena.Query
	cache   *cache
	mux     *http.ServeMux
}

// New returns the API over cfg.Runner. It fails for a nil Runner, a
// negative MaxAge, MaxEntries or RunTimeout, or a query library that does
// not parse.
func New(cfg Config) (*Handler, error) {
	switch {
	case cfg.Runner == nil:
		return nil, errors.New("api: Config.Runner is nil")
	case cfg.MaxAge < 0:
		return nil, fmt.Errorf("api: Config.MaxAge %v is negative", cfg.MaxAge)
	case cfg.MaxEntries < 0:
		return nil, fmt.Errorf("api: Config.MaxEntries %d is negative", cfg.MaxEntries)
	case cfg.RunTimeout < 0:
		return nil, fmt.Errorf("api: Config.RunTimeout %v is negative", cfg.RunTimeout)
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.MaxEntries == 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	if cfg.RunTimeout == 0 {
		cfg.RunTimeout = DefaultRunTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	qs, err := athena.Queries()
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	h := &Handler{cfg: cfg, queries: qs, cache: newCache(cfg.Runner, cfg.MaxEntries, cfg.RunTimeout, cfg.Now), mux: http.NewServeMux()}
	h.mux.HandleFunc("GET "+QueriesPath, h.serveList)
	h.mux.HandleFunc("GET "+QueriesPath+"/{name}", h.serveQuery)
	h.mux.HandleFunc("GET "+AnalyticsPath, h.serveAnalytics)
	return h, nil
}

// MaxAge returns the configured maximum age of a result.
func (h *Handler) MaxAge() time.Duration { return h.cfg.MaxAge }

// Now returns the handler's clock's time.
func (h *Handler) Now() time.Time { return h.cfg.Now() }

// CacheStats returns what the cache did so far.
func (h *Handler) CacheStats() CacheStats { return h.cache.snapshot() }

// Answer is a query's result with where it came from.
type Answer struct {
	Query  athena.Query
	Params []ParamValue
	Result *athena.Result
	// ComputedAt is when the run that computed the result started (an
	// earlier run's when the Runner reused a result).
	ComputedAt time.Time
	Cache      CacheStatus
}

// Age returns how old the answer is at now.
func (a *Answer) Age(now time.Time) time.Duration { return max(now.Sub(a.ComputedAt), 0) }

// Query answers the query called name with the given parameter values
// (a default for each one left out, see the listing), computed no longer
// than maxAge ago: a negative maxAge means Config.MaxAge, 0 a fresh run (or
// one under way), more than Config.MaxAge is Config.MaxAge. Errors: an
// unknown name wraps athena.ErrUnknownQuery; bad parameters are an
// *athena.ArgError naming each; ctx's error when it ends first; otherwise
// the Runner's error.
func (h *Handler) Query(ctx context.Context, name string, values url.Values, maxAge time.Duration) (*Answer, error) {
	q, ok := h.lookup(name)
	if !ok {
		return nil, fmt.Errorf("%w %q", athena.ErrUnknownQuery, name)
	}
	args, params, err := resolve(q, values, h.cfg.Now())
	if err != nil {
		return nil, err
	}
	if maxAge < 0 || maxAge > h.cfg.MaxAge {
		maxAge = h.cfg.MaxAge
	}
	res, at, status, err := h.cache.get(ctx, q, args, maxAge)
	if err != nil {
		return nil, err
	}
	return &Answer{Query: q, Params: params, Result: res, ComputedAt: at, Cache: status}, nil
}

func (h *Handler) lookup(name string) (athena.Query, bool) {
	for _, q := range h.queries {
		if q.Name == name {
			return q, true
		}
	}
	return athena.Query{}, false
}

// ServeHTTP serves the API's routes; any other path is a 404 and another
// method than GET or HEAD a 405.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	h.mux.ServeHTTP(w, r)
}

// ParamDoc describes a parameter in the listing.
type ParamDoc struct {
	Name string `json:"name"`
	// Type is the parameter's kind: date, timestamp, varchar or bigint.
	Type        string `json:"type"`
	Description string `json:"description"`
	// Example is the header's example value; Default the value used when
	// a request leaves the parameter out (now), absent when it is
	// required.
	Example string `json:"example,omitempty"`
	Default string `json:"default,omitempty"`
	// Min and Max bound a bigint, inclusive.
	Min *int64 `json:"min,omitempty"`
	Max *int64 `json:"max,omitempty"`
}

// QueryDoc describes a query in the listing.
type QueryDoc struct {
	Name        string     `json:"name"`
	Description string     `json:"description"`
	Parameters  []ParamDoc `json:"parameters"`
	// URL is the query's path with its defaults: what a request without
	// parameters runs.
	URL string `json:"url"`
}

// List describes every query, with the parameters' defaults at now.
func (h *Handler) List() []QueryDoc {
	now := h.cfg.Now()
	out := make([]QueryDoc, 0, len(h.queries))
	for _, q := range h.queries {
		d := QueryDoc{Name: q.Name, Description: description(q.Description), Parameters: []ParamDoc{}, URL: QueriesPath + "/" + q.Name}
		for _, p := range q.Inputs() {
			pd := ParamDoc{Name: p.Name, Type: string(p.Kind), Description: p.Doc, Example: example(p), Default: defaultValue(p, now)}
			if p.Kind == athena.Bigint {
				pd.Min, pd.Max = &p.Min, &p.Max
			}
			d.Parameters = append(d.Parameters, pd)
		}
		out = append(out, d)
	}
	return out
}

// description is a header comment without its parameter block, on one
// line per paragraph.
func description(header string) string {
	text, _, _ := strings.Cut(header, "\nParameters:")
	var paras []string
	for _, p := range strings.Split(text, "\n\n") {
		if f := strings.Join(strings.Fields(p), " "); f != "" && !strings.HasPrefix(f, "Execution parameters:") {
			paras = append(paras, f)
		}
	}
	return strings.Join(paras, "\n")
}

func (h *Handler) serveList(w http.ResponseWriter, r *http.Request) {
	if _, err := url.ParseQuery(r.URL.RawQuery); err != nil || r.URL.RawQuery != "" {
		writeError(w, http.StatusBadRequest, "the listing takes no parameters", nil)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, struct {
		Queries       []QueryDoc `json:"queries"`
		MaxAgeSeconds int64      `json:"max_age_seconds"`
	}{h.List(), int64(h.cfg.MaxAge / time.Second)})
}

// ResultDoc is the JSON answer of /api/v1/queries/{name}: the shared
// result form (athena.ResultJSON) with the query, its parameters and the
// answer's age.
type ResultDoc struct {
	Query      string              `json:"query"`
	Parameters map[string]string   `json:"parameters"`
	Columns    []athena.ColumnJSON `json:"columns"`
	// Rows holds each row as an array of values, text or null ([][]*string),
	// or with rows=objects as an object by column name
	// ([]map[string]*string).
	Rows  any              `json:"rows"`
	Stats athena.StatsJSON `json:"stats"`
	// BytesScanned is what the run read, CostUSD what Athena bills for it
	// (nothing for a reused result); for a local run, what Athena would
	// bill for the bytes DuckDB read.
	BytesScanned  int64   `json:"bytes_scanned"`
	CostUSD       float64 `json:"cost_usd"`
	ComputedAt    string  `json:"computed_at"`
	AgeSeconds    float64 `json:"age_seconds"`
	MaxAgeSeconds int64   `json:"max_age_seconds"`
	Cache         string  `json:"cache"`
}

func (h *Handler) serveQuery(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	values, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, "the query string does not parse: "+err.Error(), nil)
		return
	}
	var problems []string
	format := "json"
	switch f := values[ParamFormat]; {
	case len(f) > 1:
		problems = append(problems, "format: given more than once")
	case len(f) == 1 && (f[0] == "json" || f[0] == "csv"):
		format = f[0]
	case len(f) == 1:
		problems = append(problems, fmt.Sprintf("format: %s; want json or csv", strconv.Quote(truncate(f[0]))))
	default:
		if acceptsCSV(r.Header.Get("Accept")) {
			format = "csv"
		}
	}
	objects := false
	switch v := values[ParamRows]; {
	case len(v) > 1 || len(v) == 1 && v[0] != "arrays" && v[0] != "objects":
		problems = append(problems, "rows: want arrays or objects, once")
	case len(v) == 1:
		objects = v[0] == "objects"
	}
	maxAge, problem := h.parseMaxAge(values)
	if problem != "" {
		problems = append(problems, problem)
	}
	if len(problems) > 0 {
		writeError(w, http.StatusBadRequest, "bad request", problems)
		return
	}
	ans, err := h.Query(r.Context(), name, values, maxAge)
	if err != nil {
		h.fail(w, r, name, err)
		return
	}
	now := h.cfg.Now()
	w.Header().Set("Cache-Control", fmt.Sprintf("private, max-age=%d", max(int64((h.cfg.MaxAge-ans.Age(now))/time.Second), 0)))
	w.Header().Set("Last-Modified", ans.ComputedAt.UTC().Format(http.TimeFormat))
	w.Header().Set("Vary", "Accept")
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": fileName(ans) + ".csv"}))
		if err := ans.Result.WriteCSV(w); err != nil {
			h.cfg.Logger.LogAttrs(r.Context(), slog.LevelWarn, "analytics api: write csv", slog.String("query", name), slog.String("error", err.Error()))
		}
		return
	}
	rj := ans.Result.JSON()
	doc := ResultDoc{Query: ans.Query.Name, Parameters: map[string]string{}, Columns: rj.Columns, Rows: rj.Rows, Stats: rj.Stats,
		BytesScanned: ans.Result.Stats.BytesScanned, CostUSD: cost(ans.Result.Stats),
		ComputedAt: ans.ComputedAt.UTC().Format(time.RFC3339Nano), AgeSeconds: math.Round(ans.Age(now).Seconds()*1000) / 1000,
		MaxAgeSeconds: int64(h.cfg.MaxAge / time.Second), Cache: string(ans.Cache)}
	for _, p := range ans.Params {
		doc.Parameters[p.Name] = p.Value
	}
	if objects {
		rows := make([]map[string]*string, len(rj.Rows))
		for i, row := range rj.Rows {
			o := make(map[string]*string, len(row))
			for j, v := range row {
				o[rj.Columns[j].Name] = v
			}
			rows[i] = o
		}
		doc.Rows = rows
	}
	writeJSON(w, http.StatusOK, doc)
}

// cost is what Athena bills for a run: nothing for a reused result, else
// the bytes' price with the 10 MB minimum (for a local run, what Athena
// would bill for the bytes read; 0 when they are unknown).
func cost(s athena.Stats) float64 {
	if s.BytesScanned < 0 {
		return 0
	}
	return math.Round(s.Billed()*1e10) / 1e10
}

// fileName names a CSV download after the query and its parameter values.
func fileName(a *Answer) string {
	var b strings.Builder
	b.WriteString(a.Query.Name)
	for _, p := range a.Params {
		b.WriteByte('_')
		for _, r := range p.Value {
			switch {
			case r >= '0' && r <= '9', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '-':
				b.WriteRune(r)
			default:
				b.WriteByte('-')
			}
			if b.Len() > 120 {
				return b.String()
			}
		}
	}
	return b.String()
}

// parseMaxAge reads max_age: whole seconds from 0 to Config.MaxAge. It
// returns -1 when the request does not give it.
func (h *Handler) parseMaxAge(values url.Values) (time.Duration, string) {
	v, ok := values[ParamMaxAge]
	if !ok {
		return -1, ""
	}
	limit := int64(h.cfg.MaxAge / time.Second)
	if len(v) != 1 {
		return 0, "max_age: given more than once"
	}
	n, err := strconv.ParseInt(v[0], 10, 64)
	if err != nil || n < 0 || n > limit {
		return 0, fmt.Sprintf("max_age: %s is not a number of seconds from 0 to %d", strconv.Quote(truncate(v[0])), limit)
	}
	return time.Duration(n) * time.Second, ""
}

// acceptsCSV reports whether an Accept header asks for CSV rather than
// JSON: text/csv is listed with a higher (or equal and earlier) quality
// than application/json.
func acceptsCSV(accept string) bool {
	csvQ, jsonQ := -1.0, -1.0
	for i, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if s, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(s, 64); err == nil {
				q = f
			}
		}
		q -= float64(i) * 1e-6 // earlier wins a tie
		switch mt {
		case "text/csv":
			csvQ = max(csvQ, q)
		case "application/json":
			jsonQ = max(jsonQ, q)
		}
	}
	return csvQ > 0 && csvQ > jsonQ
}

// fail answers an error of Query.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, name string, err error) {
	var argErr *athena.ArgError
	switch {
	case errors.Is(err, athena.ErrUnknownQuery):
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown query %s; GET %s lists them", strconv.Quote(truncate(name)), QueriesPath), nil)
	case errors.As(err, &argErr):
		writeError(w, http.StatusBadRequest, "bad parameters for "+argErr.Query, argErr.Problems)
	case r.Context().Err() != nil:
		// The client went away: nobody reads the answer.
	case errors.Is(err, context.DeadlineExceeded):
		h.cfg.Logger.LogAttrs(r.Context(), slog.LevelError, "analytics api: query timed out", slog.String("query", name), slog.String("error", err.Error()))
		writeError(w, http.StatusGatewayTimeout, "the query did not finish in time; try again later", nil)
	default:
		h.cfg.Logger.LogAttrs(r.Context(), slog.LevelError, "analytics api: query failed", slog.String("query", name), slog.String("error", err.Error()))
		writeError(w, http.StatusBadGateway, "the query failed; the server's log has the details", nil)
	}
}

type errorDoc struct {
	Error    string   `json:"error"`
	Problems []string `json:"problems,omitempty"`
}

func writeError(w http.ResponseWriter, status int, msg string, problems []string) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, errorDoc{Error: msg, Problems: problems})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// serveAnalytics answers seed 001's GET /analytics?timestamp=<unix
// seconds>: the unique users, clicks and impressions of the hour before, as
// three lines "name,N" and nothing else.
func (h *Handler) serveAnalytics(w http.ResponseWriter, r *http.Request) {
	text := func(status int, msg string) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		io.WriteString(w, msg+"\n")
	}
	values, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		text(http.StatusBadRequest, "the query string does not parse: "+err.Error())
		return
	}
	var problems []string
	for k := range values {
		if k != "timestamp" && k != ParamMaxAge {
			problems = append(problems, printable(k)+": unknown parameter; /analytics takes timestamp (and max_age)")
		}
	}
	ts := values["timestamp"]
	if len(ts) != 1 || ts[0] == "" {
		problems = append(problems, "timestamp: required once, in Unix seconds")
	}
	maxAge, problem := h.parseMaxAge(values)
	if problem != "" {
		problems = append(problems, problem)
	}
	if len(problems) > 0 {
		text(http.StatusBadRequest, strings.Join(problems, "\n"))
		return
	}
	ans, err := h.Query(r.Context(), SeedHourlyQuery, url.Values{"at": ts}, maxAge)
	if err != nil {
		var argErr *athena.ArgError
		if errors.As(err, &argErr) {
			// The query names its parameter "at"; the request called it
			// timestamp.
			msgs := make([]string, len(argErr.Problems))
			for i, p := range argErr.Problems {
				msgs[i] = "timestamp" + strings.TrimPrefix(p, "at (timestamp)")
			}
			text(http.StatusBadRequest, strings.Join(msgs, "\n"))
			return
		}
		h.fail(w, r, SeedHourlyQuery, err)
		return
	}
	body, err := seed001Text(ans.Result)
	if err != nil {
		h.cfg.Logger.LogAttrs(r.Context(), slog.LevelError, "analytics api: seed 001 answer", slog.String("error", err.Error()))
		text(http.StatusBadGateway, "the query failed; the server's log has the details")
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", fmt.Sprintf("private, max-age=%d", max(int64((h.cfg.MaxAge-ans.Age(h.cfg.Now()))/time.Second), 0)))
	w.Header().Set("Last-Modified", ans.ComputedAt.UTC().Format(http.TimeFormat))
	io.WriteString(w, body)
}

// SeedHourlyQuery is the query behind GET /analytics.
const SeedHourlyQuery = "hourly_clicks_impressions"

// seed001Text renders hourly_clicks_impressions's row as seed 001 asks:
// "unique_users,N\nclicks,N\nimpressions,N", no trailing newline.
func seed001Text(res *athena.Result) (string, error) {
	names := []string{"unique_users", "clicks", "impressions"}
	if len(res.Rows) != 1 || len(res.Columns) < len(names) {
		return "", fmt.Errorf("%s returned %d rows of %d columns, want 1 row", SeedHourlyQuery, len(res.Rows), len(res.Columns))
	}
	lines := make([]string, len(names))
	for i, n := range names {
		v := res.Rows[0][i]
		if res.Columns[i].Name != n || !v.Valid {
			return "", fmt.Errorf("%s column %d is %s (%v), want %s", SeedHourlyQuery, i, res.Columns[i].Name, v, n)
		}
		if _, err := strconv.ParseUint(v.String, 10, 64); err != nil {
			return "", fmt.Errorf("%s %s is %q, not a count", SeedHourlyQuery, n, v.String)
		}
		lines[i] = n + "," + v.String
	}
	return strings.Join(lines, "\n"), nil
}
