package api_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/eventlake/eventlake/athena/api"
)

// BenchmarkCachedAnswer measures what a request costs when its result is
// in the cache (the common case: every request within 5 minutes of the
// first): the handler's own work from the request to the last byte, with
// the real DuckDB runner behind it (which the loop never reaches). Cases: a
// daily series (31 rows) as JSON and CSV, a one-row answer, seed 001's text.
func BenchmarkCachedAnswer(b *testing.B) {
	l := newLake(b, time.Now())
	h := newAPI(b, api.Config{Runner: l.db})
	for _, c := range []struct{ name, target string }{
		{"series-json", "/api/v1/queries/active_users_by_day"},
		{"series-csv", "/api/v1/queries/active_users_by_day?format=csv"},
		{"one-row-json", "/api/v1/queries/active_users"},
		{"seed001-text", "/analytics?timestamp=1795341600"},
	} {
		b.Run(c.name, func(b *testing.B) {
			if status, _, body := get(b, h, c.target); status != http.StatusOK {
				b.Fatalf("%d %s", status, body)
			}
			runs := h.CacheStats().Runs
			r := httptest.NewRequest(http.MethodGet, c.target, nil)
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatal(w.Code)
				}
			}
			if h.CacheStats().Runs != runs {
				b.Fatal("the loop ran the query: not a cached answer")
			}
		})
	}
}
