package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/lambdas/summarize/summary"
	"github.com/eventlake/eventlake/local/faultdb"
	"github.com/eventlake/eventlake/local/pipeline"
	"github.com/eventlake/eventlake/local/streamsource"
	"github.com/eventlake/eventlake/tracker"
)

// journeys returns n events of users and anonymous visitors, in random time
// order over the last days: visitors browse anonymously, most identify (an
// event with both IDs), some twice as different users (a shared browser),
// users come back with or without their visitor ID, crawlers (bot user
// agents, anonymous) count too. Every event has its own ID, so the
// expected links can be computed.
func journeys(seed uint64, n, users, visitors, days int) []tracker.Event {
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	now := time.Now().UTC()
	human := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
	bot := "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
	evs := make([]tracker.Event, n)
	for i := range evs {
		e := tracker.Event{
			ID:        fmt.Sprintf("e%07d", i),
			At:        now.Add(-time.Duration(rng.Int64N(int64(days) * int64(24*time.Hour)))),
			Type:      "page_view",
			UserAgent: human,
			Attributes: map[string]string{
				tracker.AttrPath: fmt.Sprintf("/p/%d", rng.IntN(30)),
			},
		}
		v := rng.IntN(visitors)
		u := v % users // a visitor's usual user; a few are shared
		if v%7 == 0 {
			u = rng.IntN(users)
		}
		switch r := rng.IntN(100); {
		case r < 40: // anonymous browsing
			e.AnonymousID = fmt.Sprintf("v%03d", v)
		case r < 50: // identify
			e.AnonymousID, e.UserID, e.Type = fmt.Sprintf("v%03d", v), fmt.Sprintf("u%02d", u), "identify"
		case r < 60: // a signed-in user still carrying the visitor cookie
			e.AnonymousID, e.UserID = fmt.Sprintf("v%03d", v), fmt.Sprintf("u%02d", u)
		case r < 92: // a signed-in user
			e.UserID = fmt.Sprintf("u%02d", u)
		default: // a crawler
			e.AnonymousID, e.UserAgent = fmt.Sprintf("bot-%d", rng.IntN(3)), bot
		}
		evs[i] = e
	}
	return evs
}

// expected is the summary table computed in Go from the events.
type expected struct {
	count    map[string]int64     // actor key -> events
	lastSeen map[string]time.Time // actor key -> newest event_at
	ids      map[string][]string  // user -> anonymous IDs seen with them, sorted
	link     map[string]string    // visitor -> user of the earliest event with both IDs
	linkKey  map[string]string
}

func expect(evs []tracker.Event) expected {
	x := expected{count: map[string]int64{}, lastSeen: map[string]time.Time{}, ids: map[string][]string{},
		link: map[string]string{}, linkKey: map[string]string{}}
	for _, e := range evs {
		at := e.At.UTC().Truncate(time.Millisecond)
		k := tracker.ActorKey(e.UserID, e.AnonymousID)
		x.count[k]++
		if at.After(x.lastSeen[k]) {
			x.lastSeen[k] = at
		}
		if e.UserID != "" && e.AnonymousID != "" {
			if !slices.Contains(x.ids[e.UserID], e.AnonymousID) {
				x.ids[e.UserID] = append(x.ids[e.UserID], e.AnonymousID)
			}
			if key := tracker.EventKey(at, e.ID); x.linkKey[e.AnonymousID] == "" || key < x.linkKey[e.AnonymousID] {
				x.linkKey[e.AnonymousID], x.link[e.AnonymousID] = key, e.UserID
			}
		}
	}
	for _, ids := range x.ids {
		slices.Sort(ids)
	}
	return x
}

// checkSummaries compares the summary table with x, actor by actor.
func checkSummaries(t *testing.T, p *pipeline.Pipeline, x expected) {
	t.Helper()
	ctx := context.Background()
	bad := 0
	for k, n := range x.count {
		var s tracker.UserSummary
		var err error
		if k[0] == 'u' {
			s, err = p.Tracker.Summary(ctx, k[2:])
		} else {
			s, err = p.Tracker.VisitorSummary(ctx, k[2:])
		}
		if err != nil {
			t.Fatal(err)
		}
		ok := s.Actions == n && s.LastSeen.Equal(x.lastSeen[k])
		if k[0] == 'u' {
			if len(x.ids[k[2:]]) > tracker.MaxLinkedAnonymousIDs {
				t.Fatalf("test data: %s has more than %d visitors", k, tracker.MaxLinkedAnonymousIDs)
			}
			ok = ok && slices.Equal(s.AnonymousIDs, x.ids[k[2:]])
		} else {
			ok = ok && s.UserID == x.link[k[2:]]
		}
		if !ok {
			if bad++; bad <= 10 {
				t.Errorf("%s: summary %+v; want %d actions, last seen %s, visitors %v, linked to %q",
					k, s, n, x.lastSeen[k], x.ids[k[2:]], x.link[k[2:]])
			}
		}
	}
	// Visitors linked without anonymous events of their own.
	for v, u := range x.link {
		if _, ok := x.count[tracker.ActorKey("", v)]; ok {
			continue
		}
		s, err := p.Tracker.VisitorSummary(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		if s.UserID != u || s.Actions != 0 || !s.LastSeen.IsZero() {
			t.Errorf("visitor %s (linked only): %+v, want linked to %s", v, s, u)
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d actors wrong", bad, len(x.count))
	}
	if f := p.SummaryFailures(); len(f) > 0 {
		t.Errorf("%d summary batches failed every retry", len(f))
	}
}

// checkIdentities compares the lake's identities view with the visitors'
// links in the summary table: the same rule, so the same answers.
func checkIdentities(t *testing.T, p *pipeline.Pipeline, x expected) {
	t.Helper()
	ctx := context.Background()
	db, err := p.Lake(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res, err := db.Query(ctx, "SELECT anonymous_id, user_id FROM "+athena.IdentitiesView)
	if err != nil {
		t.Fatal(err)
	}
	lake := map[string]string{}
	for _, r := range res.Rows {
		lake[r[0].String] = r[1].String
	}
	if !maps.Equal(lake, x.link) {
		t.Errorf("identities view %v\nwant %v", lake, x.link)
	}
	for v, u := range lake {
		s, err := p.Tracker.VisitorSummary(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		if s.UserID != u {
			t.Errorf("visitor %s: the lake says %s, the summary %s", v, u, s.UserID)
		}
	}
}

// writeCounter counts UpdateItem calls per actor and per invocation of the
// summary handler (one shard: invocations never overlap).
type writeCounter struct {
	tracker.SummaryUpdater
	mu        sync.Mutex
	call      int                    // current invocation
	perCall   map[int]map[string]int // invocation -> actor -> UpdateItem calls
	total     int
	finalCall map[int]bool
}

func (c *writeCounter) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c.mu.Lock()
	if c.perCall == nil {
		c.perCall = map[int]map[string]int{}
	}
	if c.perCall[c.call] == nil {
		c.perCall[c.call] = map[string]int{}
	}
	if k, ok := in.Key[tracker.AttrActor].(*types.AttributeValueMemberS); ok {
		c.perCall[c.call][k.Value]++
	}
	c.total++
	c.mu.Unlock()
	return c.SummaryUpdater.UpdateItem(ctx, in, opts...)
}

func (c *writeCounter) wrapHandler(next streamsource.Invoker) streamsource.Invoker {
	return invoker(func(ctx context.Context, payload []byte) ([]byte, error) {
		c.mu.Lock()
		c.call++
		c.mu.Unlock()
		return next.Invoke(ctx, payload)
	})
}

type invoker func(ctx context.Context, payload []byte) ([]byte, error)

func (f invoker) Invoke(ctx context.Context, payload []byte) ([]byte, error) { return f(ctx, payload) }

func TestSummaryKnownAnswers(t *testing.T) {
	t.Parallel()
	const n = 3000
	evs := journeys(11, n, 20, 80, 30)
	x := expect(evs)
	wc := &writeCounter{}
	p := start(t, pipeline.Config{
		Format: pipeline.FormatJSON, Backfill: true,
		WrapSummaryDynamoDB: func(c *dynamodb.Client) tracker.SummaryUpdater { wc.SummaryUpdater = c; return wc },
		WrapSummaryHandler:  wc.wrapHandler,
	})
	putAll(t, p, evs)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if _, err := p.Drain(ctx, nil); err != nil {
		t.Fatal(err)
	}
	checkSummaries(t, p, x)
	checkIdentities(t, p, x)

	// The window bound: in one window an actor gets at most 2 UpdateItem
	// calls (the second only when the stored last_seen is newer than the
	// window's newest event: these events come in random time order).
	wc.mu.Lock()
	defer wc.mu.Unlock()
	windows := 0
	for call, actors := range wc.perCall {
		windows++
		for a, c := range actors {
			if c > 2 {
				t.Errorf("invocation %d: %d UpdateItem calls for %s", call, c, a)
			}
		}
	}
	st := p.SummarySource.Stats()
	if st.Windows == 0 || int(st.Windows) < windows {
		t.Errorf("%d windows closed, %d invocations wrote", st.Windows, windows)
	}
	t.Logf("%d events, %d actors: %d windows, %d invocations, %d UpdateItem calls (%.0f per 1,000 events)",
		n, len(x.count), st.Windows, st.Invocations, wc.total, float64(wc.total)*1000/n)
}

// TestSummaryOneWritePerActorPerWindow: events stored in time order (no
// late event) cost exactly one UpdateItem per active actor per window.
func TestSummaryOneWritePerActorPerWindow(t *testing.T) {
	t.Parallel()
	const n = 600
	evs := journeys(12, n, 10, 40, 1)
	base := time.Now().UTC().Add(-time.Hour)
	for i := range evs {
		evs[i].At = base.Add(time.Duration(i) * time.Millisecond)
	}
	x := expect(evs)
	wc := &writeCounter{}
	p := start(t, pipeline.Config{
		Format:              pipeline.FormatJSON,
		SummaryWindow:       time.Second,
		WrapSummaryDynamoDB: func(c *dynamodb.Client) tracker.SummaryUpdater { wc.SummaryUpdater = c; return wc },
		WrapSummaryHandler:  wc.wrapHandler,
	})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for i, e := range evs { // one at a time: the stream keeps the time order
		if err := p.Tracker.Put(ctx, e); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	// Tracker.Put bypasses the writer Drain waits for: wait for the windows.
	for st := p.SummarySource.Stats(); st.Delivered+st.Failed < n; st = p.SummarySource.Stats() {
		select {
		case <-ctx.Done():
			t.Fatalf("summarized %d of %d: %v", st.Delivered, n, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	checkSummaries(t, p, x)
	wc.mu.Lock()
	defer wc.mu.Unlock()
	writes := 0
	for call, actors := range wc.perCall {
		for a, c := range actors {
			writes += c
			if c != 1 {
				t.Errorf("invocation %d: %d UpdateItem calls for %s, want 1", call, c, a)
			}
		}
	}
	st := p.SummarySource.Stats()
	if len(wc.perCall) > int(st.Windows) {
		t.Errorf("%d invocations wrote, only %d windows closed: writes outside final invocations", len(wc.perCall), st.Windows)
	}
	t.Logf("%d events in %d windows: %d UpdateItem calls", n, st.Windows, writes)
}

// crashAfterFinal makes the nth final invocation fail after the handler
// wrote its summaries, as a function that crashed before answering: Lambda
// invokes it again with the same state.
type crashAfterFinal struct {
	next   streamsource.Invoker
	n      int64
	finals atomic.Int64
	hit    atomic.Bool
}

func (c *crashAfterFinal) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	resp, err := c.next.Invoke(ctx, payload)
	if err == nil && isFinal(payload) && c.finals.Add(1) == c.n {
		c.hit.Store(true)
		return nil, errors.New("injected: the function crashed after writing its window")
	}
	return resp, err
}

func isFinal(payload []byte) bool {
	return bytes.Contains(payload, []byte(`"isFinalInvokeForWindow":true`))
}

func TestSummaryWithFaults(t *testing.T) {
	t.Parallel()
	const n = 2000
	evs := journeys(13, n, 15, 60, 10)
	x := expect(evs)
	var fdb *faultdb.DB
	crash := &crashAfterFinal{n: 2}
	p := start(t, pipeline.Config{
		Format: pipeline.FormatJSON, Backfill: true,
		Summary: summary.Config{BackoffBase: time.Millisecond, BackoffMax: 20 * time.Millisecond},
		WrapSummaryDynamoDB: func(c *dynamodb.Client) tracker.SummaryUpdater {
			var err error
			// Throttling and lost responses (the write happened, the caller
			// saw a timeout) on the summary table.
			if fdb, err = faultdb.New(c, faultdb.Config{Seed: 5, ThrottleRate: 0.3, TimeoutAfterRate: 0.1}); err != nil {
				t.Fatal(err)
			}
			return fdb
		},
		WrapSummaryHandler: func(next streamsource.Invoker) streamsource.Invoker { crash.next = next; return crash },
		SummarySource:      streamsource.Config{RetryBaseDelay: 5 * time.Millisecond, RetryMaxDelay: 50 * time.Millisecond},
	})
	putAll(t, p, evs)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if _, err := p.Drain(ctx, nil); err != nil {
		t.Fatal(err)
	}
	checkSummaries(t, p, x)
	st := fdb.Stats()
	if st.Throttled == 0 || st.TimedOutAfter == 0 || !crash.hit.Load() {
		t.Errorf("faults not injected: %+v, crash %v", st, crash.hit.Load())
	}
	if ss := p.SummarySource.Stats(); ss.FunctionErrors == 0 {
		t.Errorf("summary source %+v: the crashed final invocation was not retried", ss)
	}
	t.Logf("faults %+v; summary source %+v", st, p.SummarySource.Stats())
}
