package dashboard_test

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/athena/api"
	"github.com/eventlake/eventlake/athena/dashboard"
	"github.com/eventlake/eventlake/athena/local"
)

func TestNewRefusesBadConfig(t *testing.T) {
	_, db := demoLake(t)
	a, err := api.New(api.Config{Runner: db})
	if err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]dashboard.Config{
		"no API":              {},
		"negative":            {API: a, Concurrency: -1},
		"javascript: UserURL": {API: a, UserURL: "javascript:alert(1)//"},
		"data: QueriesURL":    {API: a, QueriesURL: "data:text/html,x"},
		"days over max":       {API: a, Days: 400},
	} {
		if _, err := dashboard.New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
}

// gauge wraps the real runner: it counts runs and the most at once.
type gauge struct {
	athena.Runner
	mu        sync.Mutex
	now, peak int
	runs      atomic.Int64
	fail      map[string]bool
}

func (g *gauge) Run(ctx context.Context, q athena.Query, args []athena.Arg) (*athena.Result, error) {
	g.runs.Add(1)
	g.mu.Lock()
	g.now++
	g.peak = max(g.peak, g.now)
	fail := g.fail[q.Name]
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.now--
		g.mu.Unlock()
	}()
	time.Sleep(20 * time.Millisecond) // long enough for the runs to overlap
	if fail {
		return nil, errors.New("injected: secret internals")
	}
	return g.Runner.Run(ctx, q, args)
}

// TestPageQueries: one page runs its 12 queries at most Concurrency at a
// time; a second view reuses them all; max_age=0 runs them again; a
// failed query costs its chart only, with a message and no internals.
func TestPageQueries(t *testing.T) {
	_, db := demoLake(t)
	g := &gauge{Runner: db, fail: map[string]bool{}}
	s := newStack(t, api.Config{Runner: g}, dashboard.Config{Concurrency: 3})
	status, hdr, body := s.get(t, "/dashboard")
	if status != http.StatusOK || g.runs.Load() != 12 || g.peak != 3 {
		t.Fatalf("first view: %d, %d runs, at most %d at once; want 200, 12, 3", status, g.runs.Load(), g.peak)
	}
	if csp := hdr.Get("Content-Security-Policy"); csp != dashboard.ContentSecurityPolicy() || !strings.Contains(csp, "default-src 'none'") ||
		strings.Contains(csp, "script-src") || hdr.Get("X-Frame-Options") != "DENY" || hdr.Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", hdr)
	}
	footer := regexp.MustCompile(`<p id="refresh-cost">[^<]*`)
	if f := footer.FindString(body); !strings.Contains(f, "This view ran 12 queries. Data scanned: ") || !strings.Contains(f, "(what Athena would bill for the bytes DuckDB read here)") {
		t.Errorf("footer: %s", f)
	}
	if _, _, body = s.get(t, "/dashboard"); g.runs.Load() != 12 || !strings.Contains(body, "This view reused 12 results computed in the last 5 minutes: nothing was scanned.") {
		t.Errorf("second view: %d runs; %s", g.runs.Load(), footer.FindString(body))
	}
	if s.get(t, "/dashboard?max_age=0"); g.runs.Load() != 24 {
		t.Errorf("max_age=0: %d runs, want 24", g.runs.Load())
	}
	g.fail["devices"] = true
	status, _, body = s.get(t, "/dashboard?max_age=0")
	if status != http.StatusOK || strings.Count(body, `class="error"`) != 1 || !strings.Contains(body, "This chart could not be computed") ||
		strings.Contains(body, "secret internals") {
		t.Errorf("a failed query: %d, %d errors", status, strings.Count(body, `class="error"`))
	}
}

// TestBadRange: a bad range is a 400 page that says what is wrong, with
// the form, and runs nothing.
func TestBadRange(t *testing.T) {
	_, db := demoLake(t)
	g := &gauge{Runner: db}
	s := newStack(t, api.Config{Runner: g}, dashboard.Config{})
	for target, want := range map[string]string{
		"/dashboard?from=2026-13-01":                        `from: &#34;2026-13-01&#34; is not a day (YYYY-MM-DD).`,
		"/dashboard?from=2026-11-22&to=2026-11-01":          "The range ends (2026-11-01) before it starts (2026-11-22).",
		"/dashboard?from=2020-01-01&to=2026-01-01":          "The range spans 2193 days; at most 366 are shown at once.",
		"/dashboard?inactive_days=0":                        "inactive_days: &#34;0&#34; is not a number of days from 1 to 3650.",
		"/dashboard?max_age=60":                             "max_age: only 0 (recompute now) is accepted.",
		"/dashboard?from=%3Cscript%3Ealert(1)%3C/script%3E": `from: &#34;&lt;script&gt;alert(1)&lt;/script&gt;&#34; is not a day`,
	} {
		status, _, body := s.get(t, target)
		if status != http.StatusBadRequest || !strings.Contains(body, want) || !strings.Contains(body, `<form class="range"`) {
			t.Errorf("%s: %d, want 400 with %q", target, status, want)
		}
	}
	if g.runs.Load() != 0 {
		t.Errorf("%d runs for bad requests", g.runs.Load())
	}
	// to alone: the window ends there.
	status, _, body := s.get(t, "/dashboard?to=2026-11-22")
	if status != http.StatusOK || !strings.Contains(body, "2026-10-24 to 2026-11-22") {
		t.Errorf("to alone: %d", status)
	}
}

// TestEmptyLake: before any event lands, every panel explains why it is
// empty instead of drawing an empty chart, and nothing fails.
func TestEmptyLake(t *testing.T) {
	db, err := local.Open(context.Background(), local.Config{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := newStack(t, api.Config{Runner: db}, dashboard.Config{})
	status, _, body := s.get(t, "/dashboard")
	if status != http.StatusOK || strings.Contains(body, `class="error"`) || strings.Contains(body, "<svg") {
		t.Fatalf("%d, errors or charts on an empty lake", status)
	}
	// The overview shows zeros; every other panel says why it is empty.
	if n := strings.Count(body, `<p class="empty">`); n != 11 {
		t.Errorf("%d empty states, want 11", n)
	}
	for _, want := range []string{"Nobody was active between", "No logins between", "No clicks or impressions between",
		"No events of people between", "No sessions between", "No active users between", "No signups between",
		"No new visitors between", "No rotting accounts: every user active between", "No account looks shared between"} {
		if !strings.Contains(body, want) {
			t.Errorf("no empty state %q", want)
		}
	}
}
