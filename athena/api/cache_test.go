package api_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/athena/api"
)

// TestMaxAge: a result is reused while it is younger than the maximum age,
// then computed again; max_age asks for a younger one, max_age=0 for a
// fresh run; other arguments are another result. Runs are counted by a
// wrapper around the real DuckDB runner.
func TestMaxAge(t *testing.T) {
	l := newLake(t, time.Now())
	run := &counting{Runner: l.db}
	clk := &clock{now: time.Now().UTC()}
	h := newAPI(t, api.Config{Runner: run, Now: clk.Now})
	target := "/api/v1/queries/devices?from_day=" + l.ds.Start + "&to_day=" + l.ds.End
	step := func(name, suffix string, wantCache string, wantRuns int64, wantAge float64) {
		t.Helper()
		status, _, body := get(t, h, target+suffix)
		doc := decode[resultDoc](t, body)
		if status != http.StatusOK || doc.Cache != wantCache || run.runs.Load() != wantRuns || doc.AgeSeconds != wantAge {
			t.Errorf("%s: %d, cache %s, %d runs, age %v; want %s, %d runs, age %v", name, status, doc.Cache, run.runs.Load(), doc.AgeSeconds,
				wantCache, wantRuns, wantAge)
		}
	}
	step("first request", "", "miss", 1, 0)
	clk.Add(time.Minute)
	step("a minute later", "", "hit", 1, 60)
	step("asking for 60s at most", "&max_age=60", "hit", 1, 60)
	step("asking for 59s at most", "&max_age=59", "miss", 2, 0)
	clk.Add(5 * time.Minute)
	step("at exactly the maximum age", "", "hit", 2, 300)
	clk.Add(time.Second)
	step("past the maximum age", "", "miss", 3, 0)
	step("max_age=0, right after a run", "&max_age=0", "miss", 4, 0)
	target = "/api/v1/queries/devices?from_day=" + l.ds.End
	step("other arguments", "", "miss", 5, 0)
	if s := h.CacheStats(); s.Runs != 5 || s.Hits != 3 || s.Shared != 0 || s.Entries != 2 || s.Failed != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestMaxEntries: the least recently used result goes first.
func TestMaxEntries(t *testing.T) {
	l := newLake(t, time.Now())
	run := &counting{Runner: l.db}
	h := newAPI(t, api.Config{Runner: run, MaxEntries: 2})
	day := func(n int) url.Values {
		return url.Values{"from_day": {l.ds.Start}, "to_day": {time.Now().UTC().AddDate(0, 0, -n).Format("2006-01-02")}}
	}
	for _, n := range []int{1, 2, 1, 3, 1, 2} { // 2 is pushed out by 3, 1 stays
		if _, err := h.Query(context.Background(), "logins_by_day", day(n), -1); err != nil {
			t.Fatal(err)
		}
	}
	if got := run.runs.Load(); got != 4 {
		t.Errorf("%d runs, want 4 (1, 2, 3, then 2 again)", got)
	}
	if s := h.CacheStats(); s.Entries != 2 {
		t.Errorf("%d entries, want 2", s.Entries)
	}
}

// TestConcurrentRequestsShareOneRun: identical requests that arrive while a
// run is under way wait for it and get its result (one run of the real
// DuckDB runner, counted by a wrapper that holds the run until every
// request has arrived); a request for other arguments runs on its own; a
// request that gives up does not stop the run, whose result serves the next
// request; a failed run is not kept.
func TestConcurrentRequestsShareOneRun(t *testing.T) {
	l := newLake(t, time.Now())
	run := &counting{Runner: l.db, gate: make(chan struct{})}
	h := newAPI(t, api.Config{Runner: run})
	srv := httptest.NewServer(h)
	defer srv.Close()
	target := srv.URL + "/api/v1/queries/sessions?from_day=" + l.ds.Start + "&to_day=" + l.ds.End

	// One request that gives up before the result comes.
	gone, cancel := context.WithCancel(context.Background())
	goneDone := make(chan error, 1)
	go func() {
		_, err := h.Query(gone, "sessions", url.Values{"from_day": {l.ds.Start}, "to_day": {l.ds.End}}, -1)
		goneDone <- err
	}()
	waitFor(t, func() bool { return run.runs.Load() == 1 })
	cancel()
	if err := <-goneDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("the request that gave up: %v", err)
	}

	const n = 8
	bodies := make([]string, n)
	caches := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(target)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			var doc resultDoc
			if err := decodeBody(resp, &doc); err != nil || resp.StatusCode != http.StatusOK {
				t.Errorf("request %d: %d %v", i, resp.StatusCode, err)
				return
			}
			bodies[i], caches[i] = fmt.Sprint(docTexts(doc.Rows)), doc.Cache
		}()
	}
	other := make(chan error, 1)
	go func() {
		_, err := h.Query(context.Background(), "sessions", url.Values{"from_day": {l.ds.End}, "to_day": {l.ds.End}}, -1)
		other <- err
	}()
	// Every request has joined the first run; the other arguments started
	// a second.
	waitFor(t, func() bool { s := h.CacheStats(); return s.Shared == n && s.Runs == 2 })
	close(run.gate)
	wg.Wait()
	if err := <-other; err != nil {
		t.Fatal(err)
	}
	if got := run.runs.Load(); got != 2 {
		t.Errorf("%d runs, want 2 (one shared by %d requests, one for other arguments)", got, n+1)
	}
	for i := range n {
		if bodies[i] != bodies[0] || caches[i] != "shared" || bodies[i] == "[]" {
			t.Errorf("request %d: cache %s, rows %s; want the shared run's %s", i, caches[i], bodies[i], bodies[0])
		}
	}
	// The result the abandoned run computed serves the next request.
	if ans, err := h.Query(context.Background(), "sessions", url.Values{"from_day": {l.ds.Start}, "to_day": {l.ds.End}}, -1); err != nil || ans.Cache != api.CacheHit {
		t.Errorf("next request: %v, %+v", err, ans)
	}

	// A failed run fails every request that shared it, and is not kept.
	bad := &failing{Runner: l.db, fail: true}
	hb := newAPI(t, api.Config{Runner: bad})
	if status, _, body := get(t, hb, "/api/v1/queries/sessions"); status != http.StatusBadGateway || !contains(body, "the query failed") || contains(body, "injected") {
		t.Errorf("a failed run: %d %s", status, body)
	}
	bad.fail = false
	if status, _, body := get(t, hb, "/api/v1/queries/sessions"); status != http.StatusOK || decode[resultDoc](t, body).Cache != "miss" {
		t.Errorf("after a failed run: %d %s", status, body)
	}
	if s := hb.CacheStats(); s.Failed != 1 || s.Runs != 2 {
		t.Errorf("stats %+v", s)
	}
}

type failing struct {
	athena.Runner
	fail bool
}

func (f *failing) Run(ctx context.Context, q athena.Query, args []athena.Arg) (*athena.Result, error) {
	if f.fail {
		return nil, errors.New("injected failure: secret internals")
	}
	return f.Runner.Run(ctx, q, args)
}

// reusing is a runner with its own result reuse (as Athena has), recording
// the maximum ages it was asked for.
type reusing struct {
	athena.Runner
	mu   sync.Mutex
	ages []time.Duration
	// earlier, when set, is the ComputedAt of a reused result.
	earlier time.Time
}

func (r *reusing) RunReusing(ctx context.Context, q athena.Query, args []athena.Arg, maxAge time.Duration) (*athena.Result, error) {
	r.mu.Lock()
	r.ages = append(r.ages, maxAge)
	earlier := r.earlier
	r.mu.Unlock()
	res, err := r.Runner.Run(ctx, q, args)
	if err == nil && !earlier.IsZero() && maxAge > 0 {
		cp := *res
		cp.Stats.Reused, cp.Stats.ComputedAt = true, earlier
		res = &cp
	}
	return res, err
}

// TestRunnerReuse: with a runner that reuses results itself (Athena), a run
// asks it for a result no older than the request's maximum age, in whole
// minutes, and the answer's age is the reused result's.
func TestRunnerReuse(t *testing.T) {
	l := newLake(t, time.Now())
	clk := &clock{now: time.Now().UTC()}
	r := &reusing{Runner: l.db}
	for _, suffix := range []string{"", "&max_age=0", "&max_age=90", "&max_age=59"} {
		h := newAPI(t, api.Config{Runner: r, Now: clk.Now}) // an empty cache each time
		if status, _, body := get(t, h, "/api/v1/queries/devices?to_day="+l.ds.End+suffix); status != http.StatusOK {
			t.Fatalf("%d %s", status, body)
		}
	}
	h := newAPI(t, api.Config{Runner: r, Now: clk.Now})
	if fmt.Sprint(r.ages) != "[5m0s 0s 1m0s 0s]" {
		t.Errorf("asked the runner for %v, want [5m0s 0s 1m0s 0s]", r.ages)
	}
	r.earlier = clk.Now().Add(-4 * time.Minute)
	_, _, body := get(t, h, "/api/v1/queries/devices?from_day="+l.ds.Start)
	if doc := decode[resultDoc](t, body); !doc.Stats.Reused || doc.AgeSeconds != 240 || doc.CostUSD != 0 {
		t.Errorf("a reused result: reused %v, age %v, cost %v; want true, 240, 0", doc.Stats.Reused, doc.AgeSeconds, doc.CostUSD)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in a minute")
		}
		time.Sleep(time.Millisecond)
	}
}
