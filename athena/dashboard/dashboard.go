package dashboard

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/athena/api"
	"github.com/eventlake/eventlake/tracker"
)

// Defaults of Config.
const (
	DefaultConcurrency  = 4
	DefaultDays         = 30
	DefaultMaxDays      = 366
	DefaultInactiveDays = 14
	DefaultTableRows    = 12
	// DefaultLookback is the days of touches before a signup that count
	// for its attribution.
	DefaultLookback = 30
	// DefaultMaxNetworks and DefaultMaxDevices are the thresholds above
	// which an account looks shared: more than a household's networks
	// (home, office, a phone's carrier, a café) and devices.
	DefaultMaxNetworks = 4
	DefaultMaxDevices  = 3
)

// Config configures New. The zero value of every field but API means the
// default.
type Config struct {
	// API answers the queries (and caches them); required.
	API *api.Handler
	// QueriesURL is where browsers reach the API's /api/v1/queries, for
	// the charts' CSV and JSON links; default "/api/v1/queries" (the API
	// mounted at the root of the same host).
	QueriesURL string
	// UserURL, when set, makes every user ID a link to UserURL followed by
	// the URL-escaped ID, e.g. "/admin/activity?user=" (the admin page of
	// package tracker/admin). It must be a relative or an http(s) URL.
	UserURL string
	// Concurrency bounds the queries one page runs at the same time;
	// default DefaultConcurrency.
	Concurrency int
	// Days is the range shown without from and to; default DefaultDays.
	// MaxDays bounds a range; default DefaultMaxDays.
	Days, MaxDays int
	// InactiveDays is the default inactivity of a rotting account;
	// default DefaultInactiveDays.
	InactiveDays int
	// Lookback is signup attribution's lookback in days; default
	// DefaultLookback.
	Lookback int
	// MaxNetworks and MaxDevices are account sharing's thresholds;
	// default DefaultMaxNetworks and DefaultMaxDevices.
	MaxNetworks, MaxDevices int
	// TableRows is the most rows a table shows (the CSV has them all);
	// default DefaultTableRows.
	TableRows int
	// Title heads the page; default "eventlake analytics".
	Title string
	// Now is the clock of the default range and of ages; default the
	// API's.
	Now func() time.Time
	// Logger receives the details of failed queries (the page says only
	// that a chart could not be computed); default slog.Default().
	Logger *slog.Logger
}

//go:embed page.html.tmpl
var pageSource string

//go:embed style.css
var styleSource string

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"rfc3339": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
}).Parse(pageSource))

// ContentSecurityPolicy returns the page's policy: no script, no image, no
// font, no connection, no frame; the one stylesheet by its hash; forms to
// the page itself.
func ContentSecurityPolicy() string { return contentSecurityPolicy }

var contentSecurityPolicy = func() string {
	sum := sha256.Sum256([]byte(styleSource))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; " +
		"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
}()

// Handler serves the dashboard. It is safe for concurrent use.
type Handler struct {
	cfg Config
}

// New returns the dashboard. It fails when API is nil, a number is
// negative, or UserURL or QueriesURL is not a relative or http(s) URL.
func New(cfg Config) (*Handler, error) {
	if cfg.API == nil {
		return nil, errors.New("dashboard: Config.API is nil")
	}
	for name, n := range map[string]int{"Concurrency": cfg.Concurrency, "Days": cfg.Days, "MaxDays": cfg.MaxDays,
		"InactiveDays": cfg.InactiveDays, "Lookback": cfg.Lookback, "MaxNetworks": cfg.MaxNetworks,
		"MaxDevices": cfg.MaxDevices, "TableRows": cfg.TableRows} {
		if n < 0 {
			return nil, fmt.Errorf("dashboard: Config.%s %d is negative", name, n)
		}
	}
	def := func(p *int, d int) {
		if *p == 0 {
			*p = d
		}
	}
	def(&cfg.Concurrency, DefaultConcurrency)
	def(&cfg.Days, DefaultDays)
	def(&cfg.MaxDays, DefaultMaxDays)
	def(&cfg.InactiveDays, DefaultInactiveDays)
	def(&cfg.Lookback, DefaultLookback)
	def(&cfg.MaxNetworks, DefaultMaxNetworks)
	def(&cfg.MaxDevices, DefaultMaxDevices)
	def(&cfg.TableRows, DefaultTableRows)
	if cfg.Days > cfg.MaxDays {
		return nil, fmt.Errorf("dashboard: Config.Days %d is more than MaxDays %d", cfg.Days, cfg.MaxDays)
	}
	if cfg.QueriesURL == "" {
		cfg.QueriesURL = api.QueriesPath
	}
	for name, u := range map[string]string{"UserURL": cfg.UserURL, "QueriesURL": cfg.QueriesURL} {
		if u == "" {
			continue
		}
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "" && p.Scheme != "http" && p.Scheme != "https") {
			return nil, fmt.Errorf("dashboard: Config.%s %q is not a relative or http(s) URL", name, u)
		}
	}
	cfg.QueriesURL = strings.TrimSuffix(cfg.QueriesURL, "/")
	if cfg.Title == "" {
		cfg.Title = "eventlake analytics"
	}
	if cfg.Now == nil {
		cfg.Now = cfg.API.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Handler{cfg: cfg}, nil
}

// request is a parsed page request.
type request struct {
	from, to time.Time
	inactive int
	fresh    bool // max_age=0
}

// parse reads the page's parameters; problems are for people.
func (h *Handler) parse(r *http.Request, now time.Time) (request, []string) {
	today := now.UTC().Truncate(24 * time.Hour)
	q := request{to: today, from: today.AddDate(0, 0, -h.cfg.Days+1), inactive: h.cfg.InactiveDays}
	values, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return q, []string{"The address's query string does not parse."}
	}
	var problems []string
	day := func(name string, into *time.Time) {
		v := values.Get(name)
		if v == "" {
			return
		}
		t, err := time.Parse(tracker.DateLayout, v)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %q is not a day (YYYY-MM-DD).", name, clip(v, 40)))
			return
		}
		*into = t
	}
	day("to", &q.to)
	if values.Get("to") != "" && values.Get("from") == "" {
		q.from = q.to.AddDate(0, 0, -h.cfg.Days+1)
	}
	day("from", &q.from)
	if v := values.Get("inactive_days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 3650 {
			problems = append(problems, fmt.Sprintf("inactive_days: %q is not a number of days from 1 to 3650.", clip(v, 40)))
		} else {
			q.inactive = n
		}
	}
	switch v := values.Get("max_age"); v {
	case "":
	case "0":
		q.fresh = true
	default:
		problems = append(problems, "max_age: only 0 (recompute now) is accepted.")
	}
	if len(problems) == 0 {
		switch days := int(q.to.Sub(q.from).Hours()/24) + 1; {
		case days < 1:
			problems = append(problems, fmt.Sprintf("The range ends (%s) before it starts (%s).", q.to.Format(tracker.DateLayout), q.from.Format(tracker.DateLayout)))
		case days > h.cfg.MaxDays:
			problems = append(problems, fmt.Sprintf("The range spans %d days; at most %d are shown at once.", days, h.cfg.MaxDays))
		}
	}
	return q, problems
}

func (q request) link(from, to time.Time, inactive int, fresh bool) string {
	v := url.Values{}
	v.Set("from", from.Format(tracker.DateLayout))
	v.Set("to", to.Format(tracker.DateLayout))
	if inactive != DefaultInactiveDays {
		v.Set("inactive_days", strconv.Itoa(inactive))
	}
	if fresh {
		v.Set("max_age", "0")
	}
	return "?" + v.Encode()
}

// job is one query the page runs.
type job struct {
	name   string
	values url.Values
	ans    *api.Answer
	err    error
}

// ServeHTTP renders the page.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", contentSecurityPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	now := h.cfg.Now()
	q, problems := h.parse(r, now)
	page := h.frame(q, now)
	status := http.StatusOK
	if len(problems) > 0 {
		page.Problems = problems
		status = http.StatusBadRequest
	} else {
		jobs := h.jobs(q, now)
		h.run(r.Context(), jobs, q.fresh)
		if r.Context().Err() != nil {
			return // the browser went away
		}
		h.build(&page, q, now, jobs)
	}
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, page); err != nil {
		h.cfg.Logger.LogAttrs(r.Context(), slog.LevelError, "dashboard: render", slog.String("error", err.Error()))
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// jobs lists the page's queries for the range.
func (h *Handler) jobs(q request, now time.Time) map[string]*job {
	from, to := q.from.Format(tracker.DateLayout), q.to.Format(tracker.DateLayout)
	window := url.Values{"from_day": {from}, "to_day": {to}}
	// The last full hour of the range: the hour before now, or before the
	// range's end when it is in the past.
	at := now.UTC().Truncate(time.Hour)
	if end := q.to.Add(24 * time.Hour); end.Before(at) {
		at = end
	}
	jobs := map[string]*job{
		"active_users":               {values: url.Values{"as_of": {to}}},
		"active_users_by_day":        {values: window},
		"logins_by_day":              {values: window},
		"clicks_impressions_by_hour": {values: window},
		"hourly_clicks_impressions":  {values: url.Values{"at": {at.Format(time.RFC3339)}}},
		"devices":                    {values: window},
		"sessions":                   {values: window},
		"usage_frequency":            {values: window},
		"signup_attribution":         {values: url.Values{"from_day": {from}, "to_day": {to}, "lookback": {strconv.Itoa(h.cfg.Lookback)}}},
		"campaign_conversions":       {values: window},
		"rotting_accounts":           {values: url.Values{"since": {from}, "as_of": {to}, "days": {strconv.Itoa(q.inactive)}}},
		"account_sharing": {values: url.Values{"from_day": {from}, "to_day": {to},
			"max_networks": {strconv.Itoa(h.cfg.MaxNetworks)}, "max_devices": {strconv.Itoa(h.cfg.MaxDevices)}}},
	}
	for name, j := range jobs {
		j.name = name
	}
	return jobs
}

// run answers the jobs, at most Concurrency at a time.
func (h *Handler) run(ctx context.Context, jobs map[string]*job, fresh bool) {
	maxAge := time.Duration(-1) // the API's
	if fresh {
		maxAge = 0
	}
	sem := make(chan struct{}, h.cfg.Concurrency)
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				j.err = ctx.Err()
				return
			}
			defer func() { <-sem }()
			j.ans, j.err = h.cfg.API.Query(ctx, j.name, j.values, maxAge)
			if j.err != nil && ctx.Err() == nil {
				h.cfg.Logger.LogAttrs(ctx, slog.LevelError, "dashboard: query failed", slog.String("query", j.name), slog.String("error", j.err.Error()))
			}
		}()
	}
	wg.Wait()
}

// source is a query a panel shows, with links to its data and its age.
type source struct {
	// Name is the query's name, as the API knows it.
	Name     string
	CSV      string
	JSON     string
	Computed time.Time
	Age      string
}

func (h *Handler) source(j *job, now time.Time) source {
	link := h.cfg.QueriesURL + "/" + j.name + "?" + j.values.Encode()
	s := source{Name: j.name, CSV: link + "&format=csv", JSON: link}
	if j.ans != nil {
		s.Computed = j.ans.ComputedAt
		s.Age = age(j.ans.Age(now))
	}
	return s
}

// age says how old a result is, for people.
func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "computed just now"
	case d < 2*time.Minute:
		return "computed a minute ago"
	case d < time.Hour:
		return fmt.Sprintf("computed %d minutes ago", int(d/time.Minute))
	case d < 2*time.Hour:
		return "computed an hour ago"
	case d < 48*time.Hour:
		return fmt.Sprintf("computed %d hours ago", int(d/time.Hour))
	}
	return fmt.Sprintf("computed %d days ago", int(d/(24*time.Hour)))
}

// userURL links a user to the per-user page, or is "" without one.
func (h *Handler) userURL(id string) string {
	if h.cfg.UserURL == "" || id == "" {
		return ""
	}
	return h.cfg.UserURL + url.QueryEscape(id)
}

// answer returns a job's result, or nil with the panel's error set.
func answer(p *panel, j *job) *athena.Result {
	if j.err != nil {
		if errors.Is(j.err, context.DeadlineExceeded) {
			p.Error = "This chart's query did not finish in time. It goes on running: reload the page in a minute."
		} else {
			p.Error = "This chart could not be computed: its query failed. The server's log has the details."
		}
		return nil
	}
	return j.ans.Result
}
