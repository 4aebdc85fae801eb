package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/athena/api"
	"github.com/eventlake/eventlake/athena/lakegen"
	"github.com/eventlake/eventlake/athena/local"
)

// lake is a generated history written as the pipeline lands it, with the
// DuckDB runner over it.
type lake struct {
	ds   *lakegen.Dataset
	root string
	db   *local.DB
}

// newLake writes the demo's kind of history (local/fakedata's journeys
// through lakegen) ending on end's day, plus extra deliveries.
func newLake(t testing.TB, end time.Time, extra ...lakegen.Event) *lake {
	t.Helper()
	ds := lakegen.Generate(lakegen.Config{End: end, Days: 30, Users: 20, Events: 4000})
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
	return &lake{ds: ds, root: root, db: db}
}

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// counting wraps a real runner: it counts the runs and, when gate is not
// nil, holds each run until gate is closed.
type counting struct {
	athena.Runner
	runs atomic.Int64
	gate chan struct{}
}

func (c *counting) Run(ctx context.Context, q athena.Query, args []athena.Arg) (*athena.Result, error) {
	c.runs.Add(1)
	if c.gate != nil {
		select {
		case <-c.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return c.Runner.Run(ctx, q, args)
}

func quiet() *slog.Logger { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }

func newAPI(t testing.TB, cfg api.Config) *api.Handler {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet()
	}
	h, err := api.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// get serves one GET request and returns the status, the headers and the
// body.
func get(t testing.TB, h http.Handler, target string, header ...string) (int, http.Header, string) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code, w.Header(), w.Body.String()
}

// resultDoc is the JSON answer of a query, as a client decodes it.
type resultDoc struct {
	Query      string            `json:"query"`
	Parameters map[string]string `json:"parameters"`
	Columns    []struct{ Name, Type string }
	Rows       [][]*string `json:"rows"`
	Stats      struct {
		Engine       string `json:"engine"`
		BytesScanned int64  `json:"bytes_scanned"`
		Reused       bool   `json:"reused"`
	} `json:"stats"`
	BytesScanned  int64   `json:"bytes_scanned"`
	CostUSD       float64 `json:"cost_usd"`
	ComputedAt    string  `json:"computed_at"`
	AgeSeconds    float64 `json:"age_seconds"`
	MaxAgeSeconds int64   `json:"max_age_seconds"`
	Cache         string  `json:"cache"`
}

func decode[T any](t testing.TB, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return v
}

// texts returns a result's rows as text, "NULL" for NULL.
func texts(res *athena.Result) [][]string {
	out := make([][]string, len(res.Rows))
	for i, r := range res.Rows {
		out[i] = make([]string, len(r))
		for j, v := range r {
			out[i][j] = "NULL"
			if v.Valid {
				out[i][j] = v.String
			}
		}
	}
	return out
}

func docTexts(rows [][]*string) [][]string {
	out := make([][]string, len(rows))
	for i, r := range rows {
		out[i] = make([]string, len(r))
		for j, v := range r {
			out[i][j] = "NULL"
			if v != nil {
				out[i][j] = *v
			}
		}
	}
	return out
}

func decodeBody(resp *http.Response, v any) error {
	return json.NewDecoder(resp.Body).Decode(v)
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
