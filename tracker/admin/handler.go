package admin

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/eventlake/eventlake/tracker"
)

// Page size limits.
const (
	// DefaultPageSize is the number of events per page when Options.PageSize
	// is zero.
	DefaultPageSize = 50
	// MaxPageSize is the largest Options.PageSize.
	MaxPageSize = 500
)

// dateLayout is the format of the from and to query parameters (the value of
// an <input type="date">); both are UTC days and both are inclusive.
const dateLayout = tracker.DateLayout

// Options configures the handler. The zero value means defaults.
type Options struct {
	// Reader reads the activity. Nil means tracker.NewReader(tr,
	// tracker.ReadConfig{}), whose cursors (the "older events" links) are
	// signed with a random per-process key: when several processes serve the
	// page behind a load balancer, pass a Reader with shared CursorKeys, or
	// a link made by one process gets a 400 from another.
	Reader *tracker.Reader
	// PageSize is the number of events per page; 0 means DefaultPageSize,
	// at most MaxPageSize.
	PageSize int
	// Types are the event types the filter offers; nil means the tracker's
	// allowlist (tr.EventTypes()).
	Types []string
	// Logger receives the details of failures (the response shows none);
	// nil means slog.Default().
	Logger *slog.Logger
	// Now returns the current time for relative times; nil means time.Now.
	Now func() time.Time
}

//go:embed page.html.tmpl
var pageSource string

//go:embed style.css
var styleSource string

var pageTemplate = template.Must(template.New("page").Parse(pageSource))

// contentSecurityPolicy allows no script, no images, no connections and no
// framing; the one inline style element is allowed by its hash.
var contentSecurityPolicy = func() string {
	sum := sha256.Sum256([]byte(styleSource))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; " +
		"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
}()

// Linked visitor histories on a user's page: how many of the user's linked
// anonymous IDs are shown, and how many events of each.
const (
	maxLinkedShown  = 5
	linkedPageLimit = 10
)

type handler struct {
	tr       *tracker.Tracker
	reader   *tracker.Reader
	pageSize int
	types    []string
	log      *slog.Logger
	now      func() time.Time
}

// NewHandler returns the admin page for tr's users and visitors, at the URL
// it is mounted on: GET ?user=<id> (a user) or ?anonymous_id=<id> (an
// anonymous visitor), [&type=<type>][&from=YYYY-MM-DD][&to=YYYY-MM-DD]
// [&cursor=<next>][&format=json]. A user's page also shows the latest
// events of the visitors linked to the user (their history from before they
// signed in), when the summary holds the links. It is safe for concurrent
// use.
//
// Responses: 200 with the page (a form only without an ID; an empty table
// for a user without events); 400 with a message for an invalid ID, a type
// outside the filter's list, a bad date, cursor or query string; 405 for
// methods other than GET and HEAD; 503 when DynamoDB throttles and 500 for
// other failures, with a generic message: the details go to Options.Logger
// only.
//
// NewHandler fails when the configuration is invalid: a nil Tracker, a
// PageSize out of range, an invalid type in Options.Types.
func NewHandler(tr *tracker.Tracker, opts Options) (http.Handler, error) {
	h := &handler{tr: tr, reader: opts.Reader, pageSize: opts.PageSize, log: opts.Logger, now: opts.Now}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.pageSize == 0 {
		h.pageSize = DefaultPageSize
	}
	switch {
	case tr == nil:
		return nil, errors.New("admin: NewHandler: nil Tracker")
	case h.pageSize < 1 || h.pageSize > MaxPageSize:
		return nil, fmt.Errorf("admin: NewHandler: PageSize %d is not between 1 and %d", opts.PageSize, MaxPageSize)
	case h.reader == nil:
		var err error
		if h.reader, err = tracker.NewReader(tr, tracker.ReadConfig{}); err != nil {
			return nil, fmt.Errorf("admin: NewHandler: %w", err)
		}
	}
	h.types = slices.Clone(opts.Types)
	if h.types == nil {
		h.types = tr.EventTypes()
	}
	for _, t := range h.types {
		if t == "" || len(t) > tracker.MaxEventTypeBytes || strings.ContainsAny(t, " \t\n\r") {
			return nil, fmt.Errorf("admin: NewHandler: %q in Options.Types is not an event type", t)
		}
	}
	return h, nil
}

// request is a parsed request.
type request struct {
	user, anonymousID, typ, from, to, cursor string
	json                                     bool
}

func (q request) values(cursor string) url.Values {
	v := url.Values{}
	if q.anonymousID != "" {
		v.Set("anonymous_id", q.anonymousID)
	} else {
		v.Set("user", q.user)
	}
	if q.typ != "" {
		v.Set("type", q.typ)
	}
	if q.from != "" {
		v.Set("from", q.from)
	}
	if q.to != "" {
		v.Set("to", q.to)
	}
	if cursor != "" {
		v.Set("cursor", cursor)
	}
	return v
}

// link returns a URL relative to the page's own URL: only the query changes.
func (q request) link(cursor string) string { return "?" + q.values(cursor).Encode() }

// problem is a response other than 200.
type problem struct {
	status     int
	message    string // for people; never internal details
	restartURL string
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", contentSecurityPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Vary", "Accept")

	// url.ParseQuery, unlike r.URL.Query(), reports the pairs it drops
	// (a ';' separator), so a mistyped link is refused rather than
	// silently shown as an empty form.
	qv, qerr := url.ParseQuery(r.URL.RawQuery)
	q := request{
		user:        qv.Get("user"),
		anonymousID: qv.Get("anonymous_id"),
		typ:         qv.Get("type"),
		from:        qv.Get("from"),
		to:          qv.Get("to"),
		cursor:      qv.Get("cursor"),
		json:        wantsJSON(r),
	}
	view := &pageView{
		Style:       template.CSS(styleSource),
		User:        q.user,
		AnonymousID: q.anonymousID,
		Type:        q.typ,
		From:        q.from,
		To:          q.to,
		Cursor:      q.cursor,
		MaxUserID:   tracker.MaxUserIDBytes,
		Types:       h.types,
	}

	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		h.fail(w, r, q, view, problem{status: http.StatusMethodNotAllowed, message: "Only GET and HEAD are allowed."})
		return
	}
	if qerr != nil {
		h.fail(w, r, q, view, problem{status: http.StatusBadRequest,
			message: "The link's query string is malformed (separate parameters with '&', not ';')."})
		return
	}
	if q.typ != "" && !slices.Contains(h.types, q.typ) {
		// A type outside the list would make the filter read up to the
		// item cap for nothing: refuse it before any read.
		h.fail(w, r, q, view, problem{status: http.StatusBadRequest,
			message: "Invalid type: choose one of the types the filter lists."})
		return
	}
	if q.user != "" && q.anonymousID != "" {
		h.fail(w, r, q, view, problem{status: http.StatusBadRequest,
			message: "Give a user ID or a visitor ID, not both."})
		return
	}
	if q.user == "" && q.anonymousID == "" {
		if q.json {
			h.fail(w, r, q, view, problem{status: http.StatusBadRequest, message: "Give a user ID in the user parameter or a visitor ID in the anonymous_id parameter."})
			return
		}
		h.render(w, http.StatusOK, view)
		return
	}

	opts := tracker.RecentOptions{Limit: h.pageSize, Cursor: q.cursor}
	if q.typ != "" {
		opts.Types = []string{q.typ}
	}
	var p *problem
	if opts.From, p = parseDay("from", q.from); p == nil {
		var to time.Time
		if to, p = parseDay("to", q.to); p == nil && !to.IsZero() {
			if to.Year() < 9999 || to.YearDay() < 365 {
				opts.To = to.AddDate(0, 0, 1) // the whole "to" day
			} // else the last day there is: no upper bound
		}
	}
	if p == nil && !opts.From.IsZero() && !opts.To.IsZero() && !opts.From.Before(opts.To) {
		p = &problem{status: http.StatusBadRequest, message: "The From date is after the To date."}
	}
	if p != nil {
		h.fail(w, r, q, view, *p)
		return
	}

	page, summary, err := h.load(r.Context(), q, opts)
	if err != nil {
		h.fail(w, r, q, view, h.classify(r, q, err))
		return
	}
	var linked []linkedView
	if q.user != "" && q.cursor == "" && len(summary.AnonymousIDs) > 0 {
		linked = h.loadLinked(r.Context(), summary.AnonymousIDs)
	}
	if q.json {
		h.writeJSON(w, http.StatusOK, newJSONPage(q, summary, page, linked))
		return
	}
	now := h.now()
	view.Shown = true
	view.LastSeen = newStamp(now, summary.LastSeen)
	view.Actions = summary.Actions
	view.Skipped = page.Skipped
	if q.anonymousID != "" {
		view.LinkedUser = summary.UserID
	}
	view.Partial, view.ItemsRead, view.Limit = page.Partial, page.ItemsRead, h.pageSize
	view.Events = newEventViews(now, page.Events)
	for _, l := range linked {
		l.Events = newEventViews(now, l.page.Events)
		view.Linked = append(view.Linked, l)
	}
	if extra := len(summary.AnonymousIDs) - len(linked); extra > 0 && q.user != "" && q.cursor == "" {
		view.LinkedMore = extra
	}
	if q.cursor != "" {
		view.FirstURL = q.link("")
	}
	if page.Next != "" {
		view.NextURL = q.link(page.Next)
	}
	h.render(w, http.StatusOK, view)
}

// load reads the page and the summary concurrently.
func (h *handler) load(ctx context.Context, q request, opts tracker.RecentOptions) (tracker.Page, tracker.UserSummary, error) {
	var (
		wg         sync.WaitGroup
		summary    tracker.UserSummary
		summaryErr error
		page       tracker.Page
		err        error
	)
	if q.anonymousID != "" {
		wg.Go(func() { summary, summaryErr = h.tr.VisitorSummary(ctx, q.anonymousID) })
		page, err = h.reader.RecentAnonymous(ctx, q.anonymousID, opts)
	} else {
		wg.Go(func() { summary, summaryErr = h.tr.Summary(ctx, q.user) })
		page, err = h.reader.Recent(ctx, q.user, opts)
	}
	wg.Wait()
	if errors.Is(summaryErr, tracker.ErrNoSummaryTable) {
		summaryErr = nil // a tracker without a summary: the page shows none
	}
	// An argument or cursor error explains the request's problem best.
	return page, summary, errors.Join(err, summaryErr)
}

// linkedView is one visitor linked to the user, with its latest events.
type linkedView struct {
	AnonymousID string
	URL         string
	Events      []eventView
	page        tracker.Page
	err         bool
}

// loadLinked reads the newest events of the first maxLinkedShown linked
// visitors, concurrently. A visitor whose read fails is shown without
// events, and the failure is logged: the user's own page still answers.
func (h *handler) loadLinked(ctx context.Context, ids []string) []linkedView {
	out := make([]linkedView, min(len(ids), maxLinkedShown))
	var wg sync.WaitGroup
	for i := range out {
		id := ids[i]
		out[i] = linkedView{AnonymousID: id, URL: request{anonymousID: id}.link("")}
		wg.Go(func() {
			p, err := h.reader.RecentAnonymous(ctx, id, tracker.RecentOptions{Limit: linkedPageLimit})
			if err != nil {
				h.log.WarnContext(ctx, "admin: reading a linked visitor's activity failed", "error", err)
				out[i].err = true
				return
			}
			out[i].page = p
		})
	}
	wg.Wait()
	return out
}

// classify turns a read error into a response, logging what the response
// does not say.
func (h *handler) classify(r *http.Request, q request, err error) problem {
	var ae *tracker.ArgumentError
	var ce *tracker.CursorError
	switch {
	case errors.As(err, &ae):
		return problem{status: http.StatusBadRequest, message: fmt.Sprintf("Invalid %s: %s.", fieldLabel(ae.Field), ae.Problem)}
	case errors.As(err, &ce):
		return problem{status: http.StatusBadRequest,
			message:    "This link to older events is not valid here: " + ce.Reason + ".",
			restartURL: q.link("")}
	case r.Context().Err() != nil:
		h.log.InfoContext(r.Context(), "admin: request ended before the activity was read", "user_id", q.user, "anonymous_id", q.anonymousID, "error", err)
		return problem{status: http.StatusServiceUnavailable, message: "The request was cancelled."}
	case throttled(err):
		h.log.WarnContext(r.Context(), "admin: DynamoDB throttled the activity read", "user_id", q.user, "anonymous_id", q.anonymousID, "error", err)
		return problem{status: http.StatusServiceUnavailable, message: "The activity store is busy; try again in a moment."}
	default:
		h.log.ErrorContext(r.Context(), "admin: reading the activity failed", "user_id", q.user, "anonymous_id", q.anonymousID, "error", err)
		return problem{status: http.StatusInternalServerError, message: "Could not read the activity; the error has been logged."}
	}
}

func throttled(err error) bool {
	var pte *types.ProvisionedThroughputExceededException
	var rle *types.RequestLimitExceeded
	var ae interface{ ErrorCode() string } // smithy.APIError
	return errors.As(err, &pte) || errors.As(err, &rle) ||
		errors.As(err, &ae) && (ae.ErrorCode() == "ThrottlingException" || ae.ErrorCode() == "Throttling")
}

func fieldLabel(field string) string {
	switch field {
	case tracker.FieldUserID:
		return "user ID"
	case tracker.FieldAnonymousID:
		return "visitor ID"
	case "types":
		return "type"
	}
	return field
}

func parseDay(field, s string) (time.Time, *problem) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(dateLayout, s)
	if err != nil {
		return time.Time{}, &problem{status: http.StatusBadRequest,
			message: fmt.Sprintf("Invalid %s date: want a date like 2026-03-01.", field)}
	}
	return t, nil
}

func (h *handler) fail(w http.ResponseWriter, r *http.Request, q request, view *pageView, p problem) {
	if q.json {
		h.writeJSON(w, p.status, jsonError{Error: p.message})
		return
	}
	view.Error, view.RestartURL = p.message, p.restartURL
	h.render(w, p.status, view)
}

func (h *handler) render(w http.ResponseWriter, status int, view *pageView) {
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, view); err != nil {
		h.log.Error("admin: rendering the page failed", "error", err)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("Could not render the page; the error has been logged.\n"))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (h *handler) writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		h.log.Error("admin: encoding JSON failed", "error", err)
		status, b = http.StatusInternalServerError, []byte(`{"error":"Could not encode the response; the error has been logged."}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// wantsJSON reports whether the client asked for JSON: format=json, or an
// Accept header that lists application/json before text/html.
func wantsJSON(r *http.Request) bool {
	switch r.URL.Query().Get("format") {
	case "json":
		return true
	case "html":
		return false
	}
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || params["q"] == "0" {
			continue
		}
		switch mt {
		case "application/json":
			return true
		case "text/html":
			return false
		}
	}
	return false
}

// pageView is what the template shows. Every string in it may hold
// client-controlled text; html/template escapes it for its context.
type pageView struct {
	Style             template.CSS
	User, AnonymousID string
	Type, From, To    string
	Cursor            string
	Types             []string
	MaxUserID         int
	Error, RestartURL string
	Shown             bool
	LastSeen          stamp
	Actions           int64
	LinkedUser        string // a visitor's page: the user the visitor became
	Events            []eventView
	Linked            []linkedView // a user's page: visitor histories
	LinkedMore        int          // linked visitors not shown
	Skipped           int
	Partial           bool
	ItemsRead, Limit  int
	FirstURL, NextURL string
}

// UserURL links to the page of the user a visitor became.
func (v *pageView) UserURL() string { return request{user: v.LinkedUser}.link("") }

// stamp is a time shown absolutely (UTC, milliseconds) and relatively.
type stamp struct {
	Abs  string // ISO 8601, as stored: the datetime attribute
	Text string // the same for reading: "2026-03-01 11:59:00.000"
	Rel  string // "a minute ago"
}

func newStamp(now, t time.Time) stamp {
	if t.IsZero() {
		return stamp{}
	}
	t = t.UTC()
	return stamp{Abs: t.Format(tracker.TimeLayout), Text: t.Format("2006-01-02 15:04:05.000"), Rel: relative(now, t)}
}

type eventView struct {
	ID, Type, IP                   string
	AnonymousID                    string
	At                             stamp
	Browser, UserAgent, OS, Device string
	Attributes                     []attribute
}

func newEventViews(now time.Time, events []tracker.StoredEvent) []eventView {
	out := make([]eventView, len(events))
	for i, e := range events {
		out[i] = newEventView(now, e)
	}
	return out
}

type attribute struct{ Key, Value string }

func newEventView(now time.Time, e tracker.StoredEvent) eventView {
	d := e.Device
	v := eventView{
		ID:          e.ID,
		Type:        e.Type,
		IP:          e.IP,
		AnonymousID: e.AnonymousID,
		At:          newStamp(now, e.At),
		Browser:     strings.TrimSpace(d.Browser + " " + d.BrowserVersion),
		UserAgent:   e.UserAgent,
		OS:          strings.TrimSpace(d.OS + " " + d.OSVersion),
		// The type stored at write time, which the queries count too.
		Device: e.Client.DeviceType,
	}
	if detail := cmpOr(d.Model, d.Platform); detail != "" && detail != d.OS {
		v.Device = strings.TrimSpace(v.Device + " (" + detail + ")")
	}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range e.Attributes {
			if !yield(k) {
				return
			}
		}
	}) {
		v.Attributes = append(v.Attributes, attribute{k, e.Attributes[k]})
	}
	return v
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// relative describes t relative to now for people: "just now",
// "5 minutes ago", "a day ago", "in 2 hours".
func relative(now, t time.Time) string {
	d := now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	const day = 24 * time.Hour
	n := func(unit time.Duration) int { return int(math.Round(float64(d) / float64(unit))) }
	var s string
	switch {
	case d < 45*time.Second:
		return "just now"
	case d < 90*time.Second:
		s = "a minute"
	case d < 45*time.Minute:
		s = fmt.Sprintf("%d minutes", n(time.Minute))
	case d < 90*time.Minute:
		s = "an hour"
	case d < 22*time.Hour:
		s = fmt.Sprintf("%d hours", n(time.Hour))
	case d < 36*time.Hour:
		s = "a day"
	case d < 26*day:
		s = fmt.Sprintf("%d days", n(day))
	case d < 45*day:
		s = "a month"
	case d < 320*day:
		s = fmt.Sprintf("%d months", max(2, n(30*day)))
	case d < 548*day:
		s = "a year"
	default:
		s = fmt.Sprintf("%d years", max(2, n(365*day)))
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

// JSON responses. Event keys are the schema's field names
// (tracker.FieldNames(), each present, null when the event has no value),
// plus the parsed device.
type jsonPage struct {
	UserID      string      `json:"user_id,omitempty"`
	AnonymousID string      `json:"anonymous_id,omitempty"`
	Summary     jsonSummary `json:"summary"`
	Events      []jsonEvent `json:"events"`
	// Linked holds, on a user's first page, the latest events of the
	// visitors linked to the user.
	Linked []jsonLinked `json:"linked_visitors,omitempty"`
	// Next is the cursor parameter of the next page; absent on the last.
	Next string `json:"next,omitempty"`
	// Partial reports a type-filtered page that stopped at the cap on items
	// read; Next continues.
	Partial bool `json:"partial,omitempty"`
	// Skipped counts items of the partition that are not events.
	Skipped int `json:"skipped,omitempty"`
}

type jsonSummary struct {
	LastSeen string `json:"last_seen,omitempty"`
	Actions  int64  `json:"actions"`
	// AnonymousIDs are the visitors linked to a user.
	AnonymousIDs []string `json:"anonymous_ids,omitempty"`
	// UserID is the user a visitor became.
	UserID string `json:"user_id,omitempty"`
}

type jsonLinked struct {
	AnonymousID string      `json:"anonymous_id"`
	Events      []jsonEvent `json:"events"`
}

// optString is a string that is JSON null when empty.
type optString string

func (s optString) MarshalJSON() ([]byte, error) {
	if s == "" {
		return []byte("null"), nil
	}
	return json.Marshal(string(s))
}

type jsonEvent struct {
	UserID      optString         `json:"user_id"`
	AnonymousID optString         `json:"anonymous_id"`
	EventAt     string            `json:"event_at"`
	EventID     string            `json:"event_id"`
	EventType   string            `json:"event_type"`
	UserAgent   optString         `json:"user_agent"`
	IPAddress   optString         `json:"ip_address"`
	DeviceType  optString         `json:"device_type"`
	Browser     optString         `json:"browser"`
	OS          optString         `json:"os"`
	IsBot       bool              `json:"is_bot"`
	Attributes  map[string]string `json:"attributes"`
	Device      tracker.Device    `json:"device"`
}

type jsonError struct {
	Error string `json:"error"`
}

func newJSONEvents(events []tracker.StoredEvent) []jsonEvent {
	out := make([]jsonEvent, len(events))
	for i, e := range events {
		out[i] = jsonEvent{
			UserID:      optString(e.UserID),
			AnonymousID: optString(e.AnonymousID),
			EventAt:     e.At.UTC().Format(tracker.TimeLayout),
			EventID:     e.ID,
			EventType:   e.Type,
			UserAgent:   optString(e.UserAgent),
			IPAddress:   optString(e.IP),
			DeviceType:  optString(e.Client.DeviceType),
			Browser:     optString(e.Client.Browser),
			OS:          optString(e.Client.OS),
			IsBot:       e.Client.Bot,
			Attributes:  e.Attributes,
			Device:      e.Device,
		}
	}
	return out
}

func newJSONPage(q request, s tracker.UserSummary, p tracker.Page, linked []linkedView) jsonPage {
	out := jsonPage{UserID: q.user, AnonymousID: q.anonymousID,
		Summary: jsonSummary{Actions: s.Actions, AnonymousIDs: s.AnonymousIDs},
		Events:  newJSONEvents(p.Events), Next: p.Next, Partial: p.Partial, Skipped: p.Skipped}
	if q.anonymousID != "" {
		out.Summary.UserID = s.UserID
	}
	if !s.LastSeen.IsZero() {
		out.Summary.LastSeen = s.LastSeen.UTC().Format(tracker.TimeLayout)
	}
	for _, l := range linked {
		out.Linked = append(out.Linked, jsonLinked{AnonymousID: l.AnonymousID, Events: newJSONEvents(l.page.Events)})
	}
	return out
}
