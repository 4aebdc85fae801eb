package api_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	pathpkg "path"
	"testing"
	"time"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/athena/api"
)

// canned answers every query at once with one row, so that fuzzing
// exercises the request parsing and not DuckDB; it checks the arguments as
// the real runners do.
type canned struct{}

func (canned) Run(_ context.Context, q athena.Query, args []athena.Arg) (*athena.Result, error) {
	if err := q.Check(args); err != nil {
		return nil, err
	}
	return &athena.Result{
		Columns: []athena.Column{{Name: "unique_users", Type: "bigint"}, {Name: "clicks", Type: "bigint"}, {Name: "impressions", Type: "bigint"}},
		Rows:    [][]sql.NullString{{{String: "1", Valid: true}, {String: "2", Valid: true}, {String: "3", Valid: true}}},
		Stats:   athena.Stats{Engine: "duckdb", BytesScanned: 10},
	}, nil
}

// FuzzRequest sends arbitrary paths, query strings and Accept headers: the
// handler never panics and answers 200, 400 or 404 (405 for nothing, as
// only GET is sent; a redirect for a path with . or .. segments); JSON answers are valid JSON; seed 001's 200 is its
// three lines.
func FuzzRequest(f *testing.F) {
	for _, s := range [][3]string{
		{"devices", "from_day=2026-11-01&to_day=2026-11-22", ""},
		{"devices", "format=csv&max_age=0", "text/csv"},
		{"rotting_accounts", "days=30&since=2026-01-01&rows=objects", "application/json;q=0.1, text/csv;q=0.2"},
		{"user_recent_activity", "user_id=%3Cscript%3E&since=1732269600", ""},
		{"nope", "x=1&x=2", "*/*"},
		{"", "timestamp=1732269600", ""},
		{"", "timestamp=1732269600&max_age=300", ""},
		{"devices", "from_day=%zz;", "text/csv;q=abc"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	h, err := api.New(api.Config{Runner: canned{}, Now: func() time.Time { return time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC) }, Logger: quiet()})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, name, rawQuery, accept string) {
		path := "/api/v1/queries/" + url.PathEscape(name)
		if name == "" {
			path = "/analytics"
		}
		u := &url.URL{Path: path, RawQuery: rawQuery}
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.URL, r.RequestURI = u, u.RequestURI()
		r.Header.Set("Accept", accept)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		switch {
		case w.Code == http.StatusOK, w.Code == http.StatusBadRequest, w.Code == http.StatusNotFound:
		case w.Code/100 == 3 && pathpkg.Clean(u.Path) != u.Path:
			// The mux sends a path with "." or ".." segments to its clean
			// form.
		default:
			t.Fatalf("%s?%s: status %d: %s", path, rawQuery, w.Code, w.Body.String())
		}
		ct := w.Header().Get("Content-Type")
		if ct == "application/json; charset=utf-8" && !json.Valid(w.Body.Bytes()) {
			t.Fatalf("invalid JSON: %s", w.Body.String())
		}
		if path == "/analytics" && w.Code == http.StatusOK && w.Body.String() != "unique_users,1\nclicks,2\nimpressions,3" {
			t.Fatalf("seed 001 answer %q", w.Body.String())
		}
	})
}
