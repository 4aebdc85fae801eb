package laketest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventlake/eventlake/local/dynamolocal"
	"github.com/eventlake/eventlake/local/pipeline"
	"github.com/eventlake/eventlake/tracker"
)

// DefaultSummaryWindow is the summary consumer's tumbling window in a Lake
// when pipeline.Config.SummaryWindow is zero: the shortest there is, so that
// Drain (which waits for the summary table too) returns soon after the last
// event.
const DefaultSummaryWindow = time.Second

// DefaultDrainTimeout bounds the wait of every read for the lake to hold
// what was put, when the Lake's reads are given no deadline.
const DefaultDrainTimeout = 2 * time.Minute

// T is the part of *testing.T the assertions use. *testing.T and *testing.B
// satisfy it.
type T interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// BadEvent is an event the Lake refused or could not store: Snowplow
// Micro's "bad" events.
type BadEvent struct {
	// Event is the event as the application put it, or, for an event the
	// AsyncWriter accepted and then failed to write, as the writer held it
	// (validated: defaults merged, ID and time set).
	Event tracker.Event
	// Err is the error Put (or PutBatch) returned, or, for an event the
	// AsyncWriter accepted and then failed to write, the error it reported
	// to its OnError.
	Err error
	// Problems are the validation problems, each naming a field, when the
	// event was refused as invalid (errors.Is(Err, tracker.ErrInvalidEvent));
	// nil when it was valid but not stored (a full queue, a duplicate ID, a
	// storage failure).
	Problems []tracker.FieldError
}

// Lake is a running local pipeline that records what the application put.
// It is safe for concurrent use, like the AsyncWriter it puts through.
type Lake struct {
	p       *pipeline.Pipeline
	tempDir string // removed by Close when New made it

	total atomic.Int64
	mu    sync.Mutex
	bad   []BadEvent
}

var (
	_ tracker.Putter = (*Lake)(nil)
	// The Lake is a collector.Sink: PutBatch(ctx, []tracker.Event) []error.
	_ interface {
		PutBatch(context.Context, []tracker.Event) []error
	} = (*Lake)(nil)
)

// Start starts a Lake for the test t and stops it when the test ends. It
// runs on one DynamoDB Local shared by the test binary
// (dynamolocal.Shared), with tables of the test's own and a lake folder in
// t.TempDir(); cfg's other fields configure the pipeline as in
// pipeline.Start (cfg.Tracker is the application's tracker.Config, hooks
// included; cfg.Format picks Parquet, the default, or gzip NDJSON), except
// that events are always filed under the day of their event_at
// (cfg.Backfill), as the deployed stack's dynamic partitioning does, and the
// summary window defaults to DefaultSummaryWindow. Start fails the test
// when the stack cannot start; it never skips.
func Start(t testing.TB, cfg pipeline.Config) *Lake {
	t.Helper()
	if cfg.DynamoDB == nil {
		env := dynamolocal.NewEnv(t)
		cfg.DynamoDB = env.Server
		cfg.EventsTable, cfg.SummaryTable = env.EventsTable, env.SummaryTable
	}
	if cfg.LakeDir == "" {
		cfg.LakeDir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), DefaultDrainTimeout)
	defer cancel()
	l, err := New(ctx, cfg)
	if err != nil {
		t.Fatalf("laketest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), DefaultDrainTimeout)
		defer cancel()
		if err := l.Close(ctx); err != nil {
			t.Errorf("laketest: %v", err)
		}
	})
	return l
}

// New starts a Lake outside a test (TestMain, an example, a tool): as
// Start, but cfg.DynamoDB nil starts a DynamoDB Local of its own, and
// cfg.LakeDir empty makes a temporary folder; Close stops and removes what
// New started and made.
func New(ctx context.Context, cfg pipeline.Config) (*Lake, error) {
	l := &Lake{}
	if cfg.LakeDir == "" {
		dir, err := os.MkdirTemp("", "laketest-")
		if err != nil {
			return nil, fmt.Errorf("laketest: lake folder: %w", err)
		}
		cfg.LakeDir, l.tempDir = dir, dir
	}
	if cfg.SummaryWindow == 0 {
		cfg.SummaryWindow = DefaultSummaryWindow
	}
	// Event-day partitions, as the deployed delivery stream's dynamic
	// partitioning files them: an event's dt is the day of its event_at,
	// whenever it arrives.
	cfg.Backfill = true
	onError := cfg.Async.OnError
	cfg.Async.OnError = func(e tracker.Event, err error) {
		l.addBad(e, err)
		if onError != nil {
			onError(e, err)
		}
	}
	p, err := pipeline.Start(ctx, cfg)
	if err != nil {
		if l.tempDir != "" {
			os.RemoveAll(l.tempDir)
		}
		return nil, fmt.Errorf("laketest: %w", err)
	}
	l.p = p
	return l, nil
}

// Put puts e through the pipeline's AsyncWriter (see
// tracker.AsyncWriter.Put), and records it among the bad events when it
// returns an error. Pass the Lake to the code under test wherever it takes a
// tracker.Putter.
func (l *Lake) Put(ctx context.Context, e tracker.Event) error {
	l.total.Add(1)
	err := l.p.Put(ctx, e)
	if err != nil {
		l.addBad(e, err)
	}
	return err
}

// PutBatch stores events synchronously, each by its route, as
// tracker.Tracker.PutBatch does, and records those it refused or could not
// store among the bad events. With it the Lake is the Sink of an HTTP
// collector under test (collector.New(lake, ...)).
func (l *Lake) PutBatch(ctx context.Context, events []tracker.Event) []error {
	l.total.Add(int64(len(events)))
	errs := l.p.PutBatch(ctx, events)
	for i, err := range errs {
		if err != nil {
			l.addBad(events[i], err)
		}
	}
	return errs
}

func (l *Lake) addBad(e tracker.Event, err error) {
	b := BadEvent{Event: cloneEvent(e), Err: err}
	var verr *tracker.ValidationError
	if errors.As(err, &verr) {
		b.Problems = append([]tracker.FieldError(nil), verr.Fields...)
	}
	l.mu.Lock()
	l.bad = append(l.bad, b)
	l.mu.Unlock()
}

// Tracker returns the pipeline's tracker, for what the application reads:
// Recent, Summary, the admin page (tracker/admin).
func (l *Lake) Tracker() *tracker.Tracker { return l.p.Tracker }

// Pipeline returns the running pipeline: its DynamoDB client and tables,
// the Firehose endpoint, the event sources, the lake's DuckDB (Lake), to run
// the Athena queries of athena/queries on what the test put.
func (l *Lake) Pipeline() *pipeline.Pipeline { return l.p }

// Drain waits until every event put so far is in the lake and queryable
// (and counted in the summary table), as pipeline.Pipeline.Drain does. The
// reads call it themselves; call it to measure or to bound the wait with
// ctx. It returns pipeline.ErrIncomplete when events were lost on the way.
func (l *Lake) Drain(ctx context.Context) error {
	if _, err := l.p.Drain(ctx, nil); err != nil {
		return fmt.Errorf("laketest: %w", err)
	}
	return nil
}

// Close stops the pipeline (draining the writer first) and everything New
// started, and removes the lake folder New made. Start's cleanup calls it.
func (l *Lake) Close(ctx context.Context) error {
	err := l.p.Close(ctx)
	if l.tempDir != "" {
		if rerr := os.RemoveAll(l.tempDir); rerr != nil && err == nil {
			err = rerr
		}
	}
	if err != nil {
		return fmt.Errorf("laketest: %w", err)
	}
	return nil
}

// Clock returns a clock for tracker.Config.Now whose readings start at
// start and move step ahead on every reading. The tracker reads it once per
// event it validates, so events put without a time get distinct times, a
// step apart, in the order they were put, as a person's clicks would: a
// quick test serves its requests within a millisecond or two, and the
// lake's sessions and attribution tell events apart by time (a touch counts
// only strictly before the signup). Start in the past, an hour ago say, so
// that the times stay before the real now, which the queries' date windows
// and readers of the summary table compare them with. Clock is safe for
// concurrent use.
func Clock(start time.Time, step time.Duration) func() time.Time {
	var mu sync.Mutex
	next := start
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now := next
		next = next.Add(step)
		return now
	}
}

func cloneEvent(e tracker.Event) tracker.Event {
	if e.Attributes != nil {
		e.Attributes = maps.Clone(e.Attributes)
	}
	return e
}
