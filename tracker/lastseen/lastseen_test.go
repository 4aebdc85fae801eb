package lastseen_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/eventlake/eventlake/local/dynamolocal"
	"github.com/eventlake/eventlake/local/faultdb"
	"github.com/eventlake/eventlake/tracker"
	"github.com/eventlake/eventlake/tracker/lastseen"
)

// clock is a fake clock.
type clock struct{ ns atomic.Int64 }

func (c *clock) Now() time.Time                 { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Tick(d time.Duration) time.Time { return time.Unix(0, c.ns.Add(int64(d))).UTC() }

// updates counts UpdateItem calls.
type updates struct {
	tracker.DynamoDB
	n atomic.Int64
}

func (u *updates) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	u.n.Add(1)
	return u.DynamoDB.UpdateItem(ctx, in, opts...)
}

type fixture struct {
	tr  *tracker.Tracker
	m   *lastseen.Middleware
	srv *httptest.Server
	c   *clock
	log *bytes.Buffer
}

func newFixture(t *testing.T, db func(*dynamolocal.Env) tracker.DynamoDB, cfg lastseen.Config) *fixture {
	t.Helper()
	env := dynamolocal.NewEnv(t)
	f := &fixture{c: &clock{}, log: &bytes.Buffer{}}
	f.c.ns.Store(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC).UnixNano())
	var err error
	f.tr, err = tracker.New(db(env), tracker.Config{EventsTable: env.EventsTable, SummaryTable: env.SummaryTable, Now: f.c.Now})
	if err != nil {
		t.Fatal(err)
	}
	s, err := tracker.NewSummarizer(f.tr, tracker.SummaryConfig{Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	cfg.UserID = func(r *http.Request) string { return r.Header.Get("X-User") }
	cfg.Logger = slog.New(slog.NewJSONHandler(&syncWriter{w: f.log}, nil))
	if f.m, err = lastseen.New(s, cfg); err != nil {
		t.Fatal(err)
	}
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "hello") })
	f.srv = httptest.NewServer(f.m.Wrap(app))
	t.Cleanup(f.srv.Close)
	t.Cleanup(func() { _ = f.m.Close(context.Background()) })
	return f
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (f *fixture) get(t *testing.T, user string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL, nil)
	if user != "" {
		req.Header.Set("X-User", user)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s", resp.Status)
	}
}

// settle waits until the writers have nothing queued.
func (f *fixture) settle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		st := f.m.Stats()
		if st.Written+st.Failed == st.Queued {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("writers did not finish: %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLastSeenOncePerIntervalPerUser(t *testing.T) {
	t.Parallel()
	var spy *updates
	f := newFixture(t, func(env *dynamolocal.Env) tracker.DynamoDB { spy = &updates{DynamoDB: env.Client}; return spy }, lastseen.Config{})
	t0 := f.c.Now()
	for range 50 {
		f.get(t, "u1")
	}
	for range 10 {
		f.get(t, "u2")
	}
	for range 5 {
		f.get(t, "") // anonymous: nothing recorded
	}
	f.settle(t)
	if n := spy.n.Load(); n != 2 {
		t.Errorf("%d UpdateItem calls for 60 requests of 2 users, want 2", n)
	}
	for _, u := range []string{"u1", "u2"} {
		s, err := f.tr.Summary(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		if !s.LastSeen.Equal(t0) || s.Actions != 0 {
			t.Errorf("%s = %+v, want last seen %s and no action counted", u, s, t0)
		}
	}
	f.c.Tick(30 * time.Minute)
	f.get(t, "u1")
	f.settle(t)
	if n := spy.n.Load(); n != 2 {
		t.Errorf("within the interval: %d UpdateItem calls, want still 2", n)
	}
	t1 := f.c.Tick(31 * time.Minute)
	f.get(t, "u1")
	f.settle(t)
	if s, _ := f.tr.Summary(context.Background(), "u1"); !s.LastSeen.Equal(t1) || spy.n.Load() != 3 {
		t.Errorf("after the interval: u1 = %+v, %d calls; want last seen %s, 3 calls", s, spy.n.Load(), t1)
	}
	st := f.m.Stats()
	if st.Requests != 62 || st.Queued != 3 || st.Written != 3 || st.Dropped != 0 || st.Failed != 0 {
		t.Errorf("stats = %+v", st)
	}
}

// TestRequestsNeverWaitForDynamoDB: with every write stalled, requests
// still complete; a full queue drops users, who are queued again later.
func TestRequestsNeverWaitForDynamoDB(t *testing.T) {
	t.Parallel()
	var fdb *faultdb.DB
	f := newFixture(t, func(env *dynamolocal.Env) tracker.DynamoDB {
		fdb, _ = faultdb.New(env.Client, faultdb.Config{})
		return fdb
	}, lastseen.Config{QueueSize: 4, Workers: 1, Timeout: time.Minute})
	fdb.Stall()
	for i := range 50 { // would hang here if a request waited for DynamoDB
		f.get(t, fmt.Sprintf("user-%02d", i))
	}
	st := f.m.Stats()
	if st.Requests != 50 || st.Queued > 5 || st.Dropped < 45 {
		t.Errorf("while stalled: %+v, want at most the queue and the writer's user queued, the rest dropped", st)
	}
	fdb.Resume()
	f.settle(t)
	// The dropped users were not claimed: their next request queues them.
	for i := range 50 {
		f.get(t, fmt.Sprintf("user-%02d", i))
		f.settle(t)
	}
	for i := range 50 {
		if s, _ := f.tr.Summary(context.Background(), fmt.Sprintf("user-%02d", i)); s.LastSeen.IsZero() {
			t.Errorf("user-%02d never written", i)
		}
	}
}

func TestSlowWritesTimeOutAndAreRetried(t *testing.T) {
	t.Parallel()
	var fdb *faultdb.DB
	f := newFixture(t, func(env *dynamolocal.Env) tracker.DynamoDB {
		fdb, _ = faultdb.New(env.Client, faultdb.Config{})
		return fdb
	}, lastseen.Config{Timeout: time.Second})
	fdb.Stall()
	f.get(t, "slow")
	f.settle(t)
	if st := f.m.Stats(); st.Failed != 1 || !strings.Contains(f.log.String(), "deadline exceeded") {
		t.Errorf("stats %+v, log %s: want the write timed out and logged", st, f.log)
	}
	fdb.Resume()
	f.get(t, "slow") // the failed write released its claim
	f.settle(t)
	if s, _ := f.tr.Summary(context.Background(), "slow"); s.LastSeen.IsZero() {
		t.Errorf("the retried write did not happen: %+v %s", f.m.Stats(), f.log)
	}
}

func TestInvalidUserIsLogged(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(env *dynamolocal.Env) tracker.DynamoDB { return env.Client }, lastseen.Config{})
	f.get(t, "bad\tuser")
	f.settle(t)
	if st := f.m.Stats(); st.Failed != 1 || !strings.Contains(f.log.String(), "control character") {
		t.Errorf("stats %+v, log %s", st, f.log)
	}
}

func TestCloseDrainsAndStopsQueueing(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(env *dynamolocal.Env) tracker.DynamoDB { return env.Client }, lastseen.Config{})
	for i := range 20 {
		f.m.Record(fmt.Sprint("c", i))
	}
	if err := f.m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := f.m.Stats(); st.Written != 20 {
		t.Errorf("after Close: %+v, want the 20 queued written", st)
	}
	f.m.Record("late")
	if st := f.m.Stats(); st.Dropped != 1 {
		t.Errorf("a user recorded after Close: %+v, want dropped", st)
	}
	if err := f.m.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestNewRejects(t *testing.T) {
	env := dynamolocal.NewEnv(t)
	tr, _ := tracker.New(env.Client, tracker.Config{EventsTable: env.EventsTable, SummaryTable: env.SummaryTable})
	s, _ := tracker.NewSummarizer(tr, tracker.SummaryConfig{})
	user := func(*http.Request) string { return "" }
	for name, c := range map[string]struct {
		s   *tracker.Summarizer
		cfg lastseen.Config
	}{
		"nil summarizer": {nil, lastseen.Config{UserID: user}},
		"no UserID":      {s, lastseen.Config{}},
		"negative queue": {s, lastseen.Config{UserID: user, QueueSize: -1}},
	} {
		if _, err := lastseen.New(c.s, c.cfg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// BenchmarkWrap measures what the middleware adds to a request of a user
// seen within the interval (the common case): no I/O.
func BenchmarkWrap(b *testing.B) {
	env := dynamolocal.NewEnv(b)
	tr, _ := tracker.New(env.Client, tracker.Config{EventsTable: env.EventsTable, SummaryTable: env.SummaryTable})
	s, _ := tracker.NewSummarizer(tr, tracker.SummaryConfig{})
	m, err := lastseen.New(s, lastseen.Config{UserID: func(r *http.Request) string { return r.Header.Get("X-User") }})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close(context.Background())
	h := m.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("X-User", "u1")
	h.ServeHTTP(httptest.NewRecorder(), req)
	for m.Stats().Written == 0 {
		time.Sleep(time.Millisecond)
	}
	w := httptest.NewRecorder()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
}
