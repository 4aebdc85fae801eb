package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/lambdas/streamtofirehose/relay"
	"github.com/eventlake/eventlake/local/dynamolocal"
	"github.com/eventlake/eventlake/local/faultdb"
	"github.com/eventlake/eventlake/local/firehoselocal"
	"github.com/eventlake/eventlake/local/pipeline"
	"github.com/eventlake/eventlake/local/streamsource"
	"github.com/eventlake/eventlake/tracker"
)

// testTimeout bounds one end-to-end run on a loaded machine.
const testTimeout = 5 * time.Minute

// genEvents returns n events of users spread over the last days days, with
// the types, user agents, IPs and attributes of real traffic, and the count
// per user. The same seed gives the same events.
func genEvents(seed uint64, n, users, days int) ([]tracker.Event, map[string]int) {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	now := time.Now().UTC()
	types := []string{"login", "page_view", "page_view", "page_view", "click", "impression", "signup", "logout"}
	agents := []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
	}
	evs := make([]tracker.Event, n)
	per := map[string]int{}
	for i := range evs {
		u := "user-" + strconv.Itoa(rng.IntN(users))
		per[u]++
		at := now.Add(-time.Duration(rng.Int64N(int64(days) * int64(24*time.Hour))))
		evs[i] = tracker.Event{
			UserID:    u,
			Type:      types[rng.IntN(len(types))],
			At:        at,
			UserAgent: agents[rng.IntN(len(agents))],
			IP:        fmt.Sprintf("203.0.113.%d", rng.IntN(250)+1),
			Attributes: map[string]string{
				"url":      "/p/" + strconv.Itoa(rng.IntN(40)),
				"referrer": "https://search.example/?q=" + strconv.Itoa(rng.IntN(9)),
			},
		}
	}
	return evs, per
}

// putAll puts evs through the pipeline's asynchronous writer from a few
// goroutines, as request handlers would.
func putAll(t testing.TB, p *pipeline.Pipeline, evs []tracker.Event) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	putAllWith(ctx, t, p.Put, evs)
}

// putAllWith puts evs with put from four goroutines.
func putAllWith(ctx context.Context, t testing.TB, put func(context.Context, tracker.Event) error, evs []tracker.Event) {
	t.Helper()
	const goroutines = 4
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for i := g; i < len(evs); i += goroutines {
				if err := put(ctx, evs[i]); err != nil {
					errs <- fmt.Errorf("put event %d: %w", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// start starts a pipeline on the shared DynamoDB Local with the test's own
// tables and lake folder.
func start(t testing.TB, cfg pipeline.Config) *pipeline.Pipeline {
	t.Helper()
	env := dynamolocal.NewEnv(t)
	cfg.DynamoDB = env.Server
	cfg.EventsTable, cfg.SummaryTable = env.EventsTable, env.SummaryTable
	if cfg.LakeDir == "" {
		cfg.LakeDir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	p, err := pipeline.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := p.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return p
}

// checkLake asserts that the lake's deduplicated view holds exactly the
// events put, per user, and that backfilled events sit in the partition of
// their date.
func checkLake(t *testing.T, p *pipeline.Pipeline, n int, per map[string]int) pipeline.LakeCounts {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	counts, err := p.Drain(ctx, nil)
	if err != nil {
		t.Fatalf("drain: %v (failures: %d)", err, len(p.Failures()))
	}
	if counts.Events != int64(n) {
		t.Errorf("events_dedup counts %d events, want exactly %d", counts.Events, n)
	}
	if counts.Lines < counts.Events {
		t.Errorf("lake has %d lines, fewer than its %d events", counts.Lines, counts.Events)
	}
	db, err := p.Lake(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res, err := db.Query(ctx, "SELECT user_id, count(*) FROM "+athena.ViewName+" GROUP BY user_id")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, r := range res.Rows {
		c, _ := strconv.Atoi(r[1].String)
		got[r[0].String] = c
	}
	if len(got) != len(per) {
		t.Errorf("lake has %d users, want %d", len(got), len(per))
	}
	for u, c := range per {
		if got[u] != c {
			t.Errorf("user %s: %d events in the lake, %d put", u, got[u], c)
		}
	}
	res, err = db.Query(ctx, "SELECT count(*), count(DISTINCT dt) FROM "+athena.ViewName+" WHERE dt <> substr(event_at, 1, 10)")
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows[0][0].String != "0" {
		t.Errorf("%s events are filed under another date than their event_at", res.Rows[0][0].String)
	}
	if len(p.Failures()) != 0 {
		t.Errorf("%d batches failed every retry", len(p.Failures()))
	}
	return counts
}

func TestEndToEnd(t *testing.T) {
	t.Parallel()
	for _, format := range []athena.Format{pipeline.FormatParquet, pipeline.FormatJSON} {
		t.Run(string(format), func(t *testing.T) {
			t.Parallel()
			const n, users, days = 3000, 25, 90
			evs, per := genEvents(1, n, users, days)
			p := start(t, pipeline.Config{Format: format, Backfill: true})
			putAll(t, p, evs)
			checkLake(t, p, n, per)
			db, err := p.Lake(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			res, err := db.Query(context.Background(), "SELECT count(DISTINCT dt) FROM "+athena.ViewName)
			if err != nil {
				t.Fatal(err)
			}
			if d, _ := strconv.Atoi(res.Rows[0][0].String); d < days-5 {
				t.Errorf("events spread over %d partitions, want about %d (backfill)", d, days)
			}
		})
	}
}

// failOnce makes the nth invocation of the handler fail with an error after
// the handler ran (so its records reached Firehose: they are sent again).
type failOnce struct {
	next  streamsource.Invoker
	n     int64
	calls atomic.Int64
}

func (f *failOnce) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	resp, err := f.next.Invoke(ctx, payload)
	if f.calls.Add(1) == f.n {
		return nil, errors.New("injected: the function crashed after delivering its batch")
	}
	return resp, err
}

func TestEndToEndWithFaults(t *testing.T) {
	t.Parallel()
	const n, users, days = 3000, 20, 30
	evs, per := genEvents(2, n, users, days)
	var fdb *faultdb.DB
	handler := &failOnce{n: 2}
	p := start(t, pipeline.Config{
		Format:   pipeline.FormatJSON,
		Backfill: true,
		WrapDynamoDB: func(c *dynamodb.Client) tracker.DynamoDB {
			var err error
			fdb, err = faultdb.New(c, faultdb.Config{Seed: 7, ThrottleRate: 0.15, UnprocessedShare: 0.2})
			if err != nil {
				t.Fatal(err)
			}
			return fdb
		},
		// Rates and sizes that make every kind of fault certain in practice:
		// the draws follow the order of calls, which timing decides, so a
		// seed alone does not fix which calls fail. With batches of 50
		// (60 or more invocations) and 16 KiB records (several per call),
		// the chance that a run sees no throttled call is below 1e-4.
		Firehose: firehoselocal.Options{Faults: firehoselocal.Faults{RecordFailureRate: 0.2, ThrottleRate: 0.15, ServerErrorRate: 0.1}, Seed: 3},
		WrapHandler: func(next streamsource.Invoker) streamsource.Invoker {
			handler.next = next
			return handler
		},
		Async: tracker.AsyncConfig{Retry: tracker.RetryPolicy{MaxAttempts: 50, BaseDelay: time.Millisecond, MaxDelay: 20 * time.Millisecond}},
		Relay: func() relay.Config { c := relayFast(); c.RecordMaxBytes = 16 << 10; return c }(),
		Source: streamsource.Config{
			BatchSize: 50, RetryBaseDelay: 5 * time.Millisecond, RetryMaxDelay: 50 * time.Millisecond,
		},
	})
	putAll(t, p, evs)
	counts := checkLake(t, p, n, per)

	// The faults happened, and were survived.
	ds := fdb.Stats()
	fs := p.Firehose.Stats()
	ss := p.Source.Stats()
	if ds.Throttled == 0 || ds.Unprocessed == 0 {
		t.Errorf("DynamoDB faults not injected: %+v", ds)
	}
	if fs.RecordsFailed == 0 || fs.Throttled == 0 || fs.ServerErrors == 0 {
		t.Errorf("Firehose faults not injected: %+v", fs)
	}
	if ss.FunctionErrors != 1 {
		t.Errorf("function errors = %d, want the 1 injected", ss.FunctionErrors)
	}
	if counts.Lines <= counts.Events {
		t.Errorf("lake has %d lines for %d events: the failed invocation's batch should have been delivered twice",
			counts.Lines, counts.Events)
	}
	t.Logf("lake: %d lines, %d events; DynamoDB %+v; Firehose %+v; source %+v", counts.Lines, counts.Events, ds, fs, ss)
}

// relayFast is the handler's configuration with short backoffs, so faults
// cost little test time.
func relayFast() relay.Config {
	return relay.Config{BackoffBase: 2 * time.Millisecond, BackoffMax: 50 * time.Millisecond}
}

// TestRoutesAndPutBatch puts events through both entry points (the
// asynchronous writer and PutBatch, the collector's sink) with impressions
// and clicks routed straight to Firehose: the lake holds every event,
// DynamoDB only the hot ones.
func TestRoutesAndPutBatch(t *testing.T) {
	t.Parallel()
	const n, users, days = 1200, 10, 20
	evs, per := genEvents(2, n, users, days)
	p := start(t, pipeline.Config{Format: pipeline.FormatJSON, Backfill: true, Tracker: tracker.Config{
		Routes: map[string]tracker.Route{"impression": tracker.RouteLake, "click": tracker.RouteLake},
	}})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	putAll(t, p, evs[:n/2])
	hot := 0
	for _, e := range evs {
		if p.Tracker.Route(e.Type) == tracker.RouteHot {
			hot++
		}
	}
	for i := n / 2; i < n; i += 100 {
		if errs := p.PutBatch(ctx, evs[i:i+100]); errs != nil {
			t.Fatalf("PutBatch: %v", errors.Join(errs...))
		}
	}
	checkLake(t, p, n, per)
	if pr := p.Progress(); pr.Written != int64(hot) || pr.Direct != int64(n-hot) {
		t.Errorf("progress %+v: want %d in DynamoDB and %d straight to Firehose", pr, hot, n-hot)
	}
	if st := p.Source.Stats(); st.Delivered != int64(hot) {
		t.Errorf("the stream relayed %d events, want the %d hot ones", st.Delivered, hot)
	}
}

// TestDrainToleratesIdenticalOverwrites writes one event ID twice with
// identical content (which the docs allow: one stored item, one stream
// record): Drain returns, with the one event.
func TestDrainToleratesIdenticalOverwrites(t *testing.T) {
	t.Parallel()
	p := start(t, pipeline.Config{Format: pipeline.FormatJSON, NoSummary: true})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e := tracker.Event{UserID: "u1", Type: "login", ID: "same-1", At: time.Now().Add(-time.Minute).Truncate(time.Millisecond)}
	for range 2 {
		if err := p.Put(ctx, e); err != nil {
			t.Fatal(err)
		}
		if err := p.Writer.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if w := p.Writer.Stats().Written; w != 2 {
		t.Fatalf("the writer counts %d written, want 2 (the identical retry counts as written)", w)
	}
	counts, err := p.Drain(ctx, nil)
	if err != nil || counts.Events != 1 {
		t.Fatalf("Drain = %+v, %v; want the one event", counts, err)
	}
}
