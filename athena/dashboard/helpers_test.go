package dashboard_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/eventlake/eventlake/athena/api"
	"github.com/eventlake/eventlake/athena/dashboard"
	"github.com/eventlake/eventlake/athena/lakegen"
	"github.com/eventlake/eventlake/athena/local"
)

// demoLake writes the demo's history (make demo's defaults: 50 accounts and
// their visitors, 10,000 events over 90 days ending today, through
// local/fakedata and lakegen) plus extra deliveries, and opens DuckDB over
// it.
func demoLake(t testing.TB, extra ...lakegen.Event) (*lakegen.Dataset, *local.DB) {
	t.Helper()
	ds := lakegen.Generate(lakegen.Config{End: time.Now().UTC(), Days: 90, Users: 50, Events: 10000})
	ds.Events = append(ds.Events, extra...)
	ds.Deliveries = append(ds.Deliveries, extra...)
	root := t.TempDir()
	if _, err := ds.WriteNDJSON(root, lakegen.Layout{Interval: 15 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	db, err := local.Open(context.Background(), local.Config{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return ds, db
}

func quiet() *slog.Logger { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }

// stack is the API and the dashboard over a runner, served as the local
// demo serves them.
type stack struct {
	api  *api.Handler
	dash *dashboard.Handler
	mux  *http.ServeMux
}

func newStack(t testing.TB, acfg api.Config, dcfg dashboard.Config) *stack {
	t.Helper()
	acfg.Logger = quiet()
	a, err := api.New(acfg)
	if err != nil {
		t.Fatal(err)
	}
	dcfg.API = a
	if dcfg.Logger == nil {
		dcfg.Logger = quiet()
	}
	d, err := dashboard.New(dcfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", a)
	mux.Handle("GET /analytics", a)
	mux.Handle("/dashboard", d)
	return &stack{api: a, dash: d, mux: mux}
}

func (s *stack) get(t testing.TB, target string) (int, http.Header, string) {
	t.Helper()
	w := httptest.NewRecorder()
	s.mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
	return w.Code, w.Header(), w.Body.String()
}
