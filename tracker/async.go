package tracker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/eventlake/eventlake/internal/backoff"
)

// MaxBatchSize is the most items one BatchWriteItem call may hold.
const MaxBatchSize = 25

// Defaults of AsyncConfig and RetryPolicy, used where a field is zero.
const (
	DefaultQueueSize      = 10_000
	DefaultWorkers        = 4
	DefaultLinger         = 5 * time.Millisecond
	DefaultMaxAttempts    = 10
	DefaultBaseDelay      = 25 * time.Millisecond
	DefaultMaxDelay       = 2 * time.Second
	DefaultAttemptTimeout = 10 * time.Second
)

// ErrQueueFull is returned by AsyncWriter.Put under DropWhenFull when the
// queue is full. The event was not accepted; Stats().Dropped counts it.
var ErrQueueFull = errors.New("tracker: async writer queue is full")

// ErrClosed is returned by AsyncWriter.Put once Close has been called. The
// event was not accepted.
var ErrClosed = errors.New("tracker: async writer is closed")

// FullPolicy says what AsyncWriter.Put does when the queue is full.
type FullPolicy int

const (
	// BlockWhenFull (the default) waits for room in the queue until the
	// context passed to Put is done, then returns an error wrapping the
	// context's error. Nothing is lost; callers slow down to the write rate.
	BlockWhenFull FullPolicy = iota
	// DropWhenFull returns ErrQueueFull at once and counts the event in
	// Stats().Dropped. Request latency never depends on DynamoDB.
	DropWhenFull
)

// RetryPolicy bounds the retries of a batch write. Throttling
// (ProvisionedThroughputExceededException, ThrottlingException,
// RequestLimitExceeded), 5xx responses, timeouts, connection errors and
// UnprocessedItems are retried; other errors (a missing table, access denied,
// a validation error) fail the events at once. The zero value means defaults.
//
// The delay before retry n (n = 1, 2, ...) is drawn uniformly from
// [0, min(MaxDelay, BaseDelay * 2^(n-1))] ("full jitter"), so writers that were
// throttled together do not retry together. Every delay ends early when the
// writer is aborted by Close.
type RetryPolicy struct {
	// MaxAttempts is how often one event is sent before it is reported as
	// failed, counting the first attempt; default DefaultMaxAttempts.
	MaxAttempts int
	// BaseDelay is the delay cap of the first retry; default DefaultBaseDelay.
	BaseDelay time.Duration
	// MaxDelay caps every delay; default DefaultMaxDelay.
	MaxDelay time.Duration
	// AttemptTimeout bounds one BatchWriteItem call; a call that takes
	// longer is cancelled and retried. Default DefaultAttemptTimeout.
	AttemptTimeout time.Duration
}

// AsyncConfig configures an AsyncWriter. The zero value means defaults.
type AsyncConfig struct {
	// QueueSize is how many accepted events may wait for a worker; default
	// DefaultQueueSize. Each waiting event takes about 120 bytes plus its
	// strings and attributes.
	QueueSize int
	// Workers is the number of goroutines that call BatchWriteItem
	// concurrently; default DefaultWorkers.
	Workers int
	// BatchSize is the most events per BatchWriteItem call, 1 to
	// MaxBatchSize; default MaxBatchSize.
	BatchSize int
	// Linger is how long a batch that is not full waits for more events
	// before it is written; default DefaultLinger. A full batch is written at
	// once.
	Linger time.Duration
	// FullPolicy says what Put does when the queue is full; default
	// BlockWhenFull.
	FullPolicy FullPolicy
	// Retry bounds retries; the zero value means defaults.
	Retry RetryPolicy
	// OnError is called once for every accepted event that will not be
	// written: its retries ran out, DynamoDB rejected it permanently, it
	// conflicts with another event of the same batch (ErrDuplicateEvent), or
	// Close gave up waiting (the error wraps Close's context error). The event
	// is passed as it would have been stored, ID included, so a caller can
	// put it again under the same key without creating a duplicate. OnError
	// is called from the writer's goroutines, possibly concurrently; it must
	// be safe for concurrent use, return quickly and not call Flush or Close
	// (they would wait for the callback). When nil, failures are logged with
	// Logger, one line per failed batch.
	OnError func(Event, error)
	// Logger logs failures when OnError is nil, and retries at debug level;
	// nil means slog.Default(). IP addresses and attributes are never logged.
	Logger *slog.Logger
}

// AsyncStats counts events of an AsyncWriter since it was created. After
// Close returns, Accepted == Written + Failed.
type AsyncStats struct {
	// Accepted events were enqueued by Put (which returned nil).
	Accepted int64
	// Written events were acknowledged by DynamoDB, or by Firehose for
	// RouteLake events.
	Written int64
	// Lake counts the events of Written that took RouteLake (sent straight
	// to Firehose, never in DynamoDB).
	Lake int64
	// Retried counts event writes sent again: an event sent three times
	// adds two.
	Retried int64
	// Dropped events were refused by Put with ErrQueueFull.
	Dropped int64
	// Failed events were reported to OnError (or logged) and not written.
	Failed int64
}

// AsyncWriter writes events in the background with BatchWriteItem, for
// request paths that must not wait for DynamoDB. Put validates an event and
// enqueues it; a dispatcher goroutine assigns event IDs and groups events
// into batches of up to BatchSize, and Workers goroutines write them,
// resending UnprocessedItems and retrying throttling, 5xx responses and
// timeouts as RetryPolicy says.
//
// Guarantees: every event accepted by Put is, by the time Close returns,
// either written or reported to OnError (and counted in Stats().Failed):
// none vanishes. An event's ID, and so its key, is fixed before its first
// write attempt, so a retry after a timeout rewrites the same item.
//
// BatchWriteItem has no condition expressions, so unlike Tracker.Put the
// writer cannot refuse to overwrite an existing item. It does not need to:
// generated IDs are fresh UUIDv7s, so no two events share a key, and a retry
// that rewrites an item already written (the response was lost) writes
// identical content, which changes nothing and produces no stream record.
// Two events with the same caller-supplied ID, user and millisecond in the
// writer at the same time are caught: identical ones are both written (one
// item results), a conflicting one fails with ErrDuplicateEvent. A caller
// that reuses an ID for different content long after the first write
// overwrites it; callers that need conditional writes use Tracker.Put.
//
// All methods are safe for concurrent use.
type AsyncWriter struct {
	t        *Tracker
	queue    chan queued
	batches  chan *asyncBatch
	full     FullPolicy
	size     int
	linger   time.Duration
	retry    RetryPolicy
	onError  func(Event, error)
	log      *slog.Logger
	workers  sync.WaitGroup
	stopped  chan struct{} // closed when the dispatcher and all workers exited
	closing  chan struct{} // closed when Close starts; wakes blocked Puts
	closeMu  sync.Once
	mu       sync.RWMutex // read-held while sending on queue; write-held to close it
	closed   bool
	ctx      context.Context // the workers' context, cancelled when Close gives up
	abort    context.CancelCauseFunc
	aborted  atomic.Bool
	accepted paddedInt64
	dropped  paddedInt64
	written  paddedInt64
	retried  atomic.Int64
	failed   atomic.Int64
	lake     atomic.Int64
}

// paddedInt64 keeps a hot counter on its own cache line.
type paddedInt64 struct {
	atomic.Int64
	_ [56]byte
}

// queued is an element of the queue: an event, or a Flush marker.
type queued struct {
	e Event
	// flush, when not nil, marks a Flush call: it is closed once every
	// event queued before it has been written or failed.
	flush chan struct{}
}

// asyncBatch is a group of events with distinct keys written by one worker.
type asyncBatch struct {
	events []Event
	gen    *sync.WaitGroup // the Flush generation the batch belongs to
	lake   bool            // RouteLake events: one packed Firehose delivery
}

// lakeBatchSize is the most RouteLake events the writer sends in one packed
// delivery (about 175 KB of lines for typical events, one Firehose record).
const lakeBatchSize = 500

// NewAsyncWriter returns an AsyncWriter that writes t's events with t's
// DynamoDB client and table, and starts its goroutines. Stop it with Close.
// It fails when cfg is invalid (a negative value, BatchSize above
// MaxBatchSize, an unknown FullPolicy).
func (t *Tracker) NewAsyncWriter(cfg AsyncConfig) (*AsyncWriter, error) {
	if cfg.QueueSize < 0 || cfg.Workers < 0 || cfg.BatchSize < 0 || cfg.Linger < 0 ||
		cfg.Retry.MaxAttempts < 0 || cfg.Retry.BaseDelay < 0 || cfg.Retry.MaxDelay < 0 || cfg.Retry.AttemptTimeout < 0 {
		return nil, errors.New("tracker: negative value in AsyncConfig")
	}
	if cfg.BatchSize > MaxBatchSize {
		return nil, fmt.Errorf("tracker: AsyncConfig.BatchSize %d is above BatchWriteItem's limit of %d", cfg.BatchSize, MaxBatchSize)
	}
	if cfg.FullPolicy != BlockWhenFull && cfg.FullPolicy != DropWhenFull {
		return nil, fmt.Errorf("tracker: unknown AsyncConfig.FullPolicy %d", cfg.FullPolicy)
	}
	r := cfg.Retry
	r.MaxAttempts = cmpOrInt(r.MaxAttempts, DefaultMaxAttempts)
	r.BaseDelay = cmpOrInt(r.BaseDelay, DefaultBaseDelay)
	r.MaxDelay = cmpOrInt(r.MaxDelay, DefaultMaxDelay)
	r.AttemptTimeout = cmpOrInt(r.AttemptTimeout, DefaultAttemptTimeout)
	w := &AsyncWriter{
		t:       t,
		queue:   make(chan queued, cmpOrInt(cfg.QueueSize, DefaultQueueSize)),
		batches: make(chan *asyncBatch),
		full:    cfg.FullPolicy,
		size:    cmpOrInt(cfg.BatchSize, MaxBatchSize),
		linger:  cmpOrInt(cfg.Linger, DefaultLinger),
		retry:   r,
		onError: cfg.OnError,
		log:     cfg.Logger,
		stopped: make(chan struct{}),
		closing: make(chan struct{}),
	}
	if w.log == nil {
		w.log = slog.Default()
	}
	w.ctx, w.abort = context.WithCancelCause(context.Background())
	workers := cmpOrInt(cfg.Workers, DefaultWorkers)
	w.workers.Add(workers)
	for range workers {
		go w.work()
	}
	go func() {
		w.dispatch()
		w.workers.Wait()
		close(w.stopped)
	}()
	return w, nil
}

// NewAsyncWriter is t.NewAsyncWriter(cfg).
func NewAsyncWriter(t *Tracker, cfg AsyncConfig) (*AsyncWriter, error) {
	return t.NewAsyncWriter(cfg)
}

func cmpOrInt[T int | time.Duration](a, b T) T {
	if a != 0 {
		return a
	}
	return b
}

// Put validates e and enqueues it for writing. It returns a *ValidationError
// (errors.Is(err, ErrInvalidEvent)) without enqueuing anything when e is
// invalid, ErrClosed after Close, and, when the queue is full, ErrQueueFull
// (DropWhenFull) or, once ctx is done, an error wrapping ctx's error
// (BlockWhenFull). ctx bounds only the wait for room in the queue: the write
// itself happens later, on the writer's goroutines, whatever becomes of ctx.
//
// Put does not marshal the event or generate its ID; it costs well under a
// microsecond and allocates nothing for a typical event (see the
// benchmarks). The writer keeps e.Attributes: do not modify the map after
// Put.
func (w *AsyncWriter) Put(ctx context.Context, e Event) error {
	if err := w.t.v.normalizeInPlace(&e); err != nil {
		return err
	}
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return ErrClosed
	}
	// Accepted is counted before the send so that Accepted >= Written +
	// Failed at every moment.
	w.accepted.Add(1)
	select {
	case w.queue <- queued{e: e}:
		return nil
	default:
	}
	if w.full == DropWhenFull {
		w.accepted.Add(-1)
		w.dropped.Add(1)
		return ErrQueueFull
	}
	select {
	case w.queue <- queued{e: e}:
		return nil
	case <-ctx.Done():
		w.accepted.Add(-1)
		return fmt.Errorf("tracker: async put of a %s event: queue full: %w", e.Type, context.Cause(ctx))
	case <-w.closing:
		w.accepted.Add(-1)
		return ErrClosed
	}
}

// Flush waits until every event accepted before the call has been written
// or reported as failed, or until ctx is done (then it returns ctx's error
// and the events are still written later). A partly filled batch is written
// at once instead of after Linger. Flush does not stop the writer; events
// accepted during Flush are written as usual. Flush returns nil even when
// events failed: OnError and Stats report those.
func (w *AsyncWriter) Flush(ctx context.Context) error {
	done := make(chan struct{})
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return w.waitStopped(ctx)
	}
	select {
	case w.queue <- queued{flush: done}:
	case <-w.closing:
		w.mu.RUnlock()
		return w.waitStopped(ctx)
	case <-ctx.Done():
		w.mu.RUnlock()
		return fmt.Errorf("tracker: flush async writer: %w", context.Cause(ctx))
	}
	w.mu.RUnlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("tracker: flush async writer: %w", context.Cause(ctx))
	}
}

// waitStopped waits for a closing writer to finish: after Close everything
// accepted is written or failed once the goroutines have exited.
func (w *AsyncWriter) waitStopped(ctx context.Context) error {
	select {
	case <-w.stopped:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("tracker: flush closing async writer: %w", context.Cause(ctx))
	}
}

// Close stops accepting events (Put then returns ErrClosed, also to callers
// blocked on a full queue), writes everything already accepted and stops
// the writer's goroutines. When ctx is done first, Close gives up: writes in
// flight are cancelled, and every event not yet written, in flight or still
// queued, is reported to OnError with an error wrapping ctx's error and
// counted as failed; Close then returns that error once every event is
// accounted for (which takes no I/O). An event reported as failed this way
// may still have been stored, if its write reached DynamoDB before the
// cancellation; putting it again rewrites the same item.
//
// Close may be called more than once and concurrently; every call waits for
// the writer to stop.
func (w *AsyncWriter) Close(ctx context.Context) error {
	w.closeMu.Do(func() {
		close(w.closing)
		w.mu.Lock()
		w.closed = true
		close(w.queue)
		w.mu.Unlock()
	})
	select {
	case <-w.stopped:
		return nil
	case <-ctx.Done():
	}
	cause := fmt.Errorf("tracker: async writer closed before the event was written: %w", context.Cause(ctx))
	w.abort(cause) // before aborted is set, so that Cause is never nil
	w.aborted.Store(true)
	<-w.stopped
	s := w.Stats()
	return fmt.Errorf("tracker: close async writer: %d of %d accepted events failed: %w", s.Failed, s.Accepted, context.Cause(ctx))
}

// Stats returns the writer's counters. They are read one after the other
// while the writer runs, so only after Close do they add up exactly.
func (w *AsyncWriter) Stats() AsyncStats {
	return AsyncStats{
		Accepted: w.accepted.Load(),
		Written:  w.written.Load(),
		Retried:  w.retried.Load(),
		Dropped:  w.dropped.Load(),
		Failed:   w.failed.Load(),
		Lake:     w.lake.Load(),
	}
}

// dispatch reads the queue in order, assigns event IDs, groups events into
// batches with distinct keys and hands them to the workers. It closes
// w.batches when the queue is closed and drained.
func (w *AsyncWriter) dispatch() {
	defer close(w.batches)
	var (
		cur      []Event // RouteHot events, for one BatchWriteItem
		curLake  []Event // RouteLake events, for one packed Firehose delivery
		gen      = new(sync.WaitGroup)
		prevDone = closedSignal // closed when the previous Flush generation is done
		timer    = time.NewTimer(time.Hour)
		timerC   <-chan time.Time
	)
	timer.Stop()
	hand := func(b *[]Event, lake bool) {
		if len(*b) == 0 {
			return
		}
		gen.Add(1)
		w.batches <- &asyncBatch{events: *b, gen: gen, lake: lake}
		*b = nil
		if len(cur) == 0 && len(curLake) == 0 {
			timer.Stop()
			timerC = nil
		}
	}
	send := func() {
		hand(&cur, false)
		hand(&curLake, true)
	}
	for {
		var (
			q  queued
			ok bool
		)
		select {
		case q, ok = <-w.queue:
		case <-timerC:
			timerC = nil
			send()
			continue
		}
		switch {
		case !ok:
			send()
			return
		case q.flush != nil:
			// Everything queued before the marker is in cur, curLake or in
			// a batch of this generation, and earlier generations are
			// tracked by prevDone: the marker is done when both are.
			send()
			go func(prev <-chan struct{}, g *sync.WaitGroup, done chan struct{}) {
				<-prev
				g.Wait()
				close(done)
			}(prevDone, gen, q.flush)
			prevDone, gen = q.flush, new(sync.WaitGroup)
			continue
		}
		e := q.e
		generated := e.ID == ""
		if generated {
			e.ID = w.t.ids.New(e.At)
		}
		if w.aborted.Load() {
			// Close gave up: report without handing the event to a worker.
			w.fail([]Event{e}, context.Cause(w.ctx))
			continue
		}
		if len(cur) == 0 && len(curLake) == 0 {
			timer.Reset(w.linger)
			timerC = timer.C
		}
		if w.t.lake != nil && w.t.Route(e.Type) == RouteLake {
			// Firehose has no keys to collide: the events_dedup view
			// removes a line sent twice.
			curLake = append(curLake, e)
			if len(curLake) >= lakeBatchSize {
				hand(&curLake, true)
			}
			continue
		}
		if i := indexSameKey(cur, e); !generated && i >= 0 {
			if !sameEvent(cur[i], e) {
				w.fail([]Event{e}, fmt.Errorf("put event %s of %s: another event with this key is in the same batch: %w",
					e.ID, e.actor(), ErrDuplicateEvent))
				continue
			}
			// BatchWriteItem rejects a request whose items share a key; an
			// identical copy goes into the next batch, where it rewrites
			// the same item.
			hand(&cur, false)
			timer.Reset(w.linger) // for e, which starts the next batch
			timerC = timer.C
		}
		if len(cur) == 0 {
			cur = make([]Event, 0, w.size)
		}
		cur = append(cur, e)
		if len(cur) >= w.size {
			hand(&cur, false)
		}
	}
}

var closedSignal = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// indexSameKey returns the index of the event in b with e's key, or -1.
func indexSameKey(b []Event, e Event) int {
	for i := range b {
		if b[i].ID == e.ID && b[i].UserID == e.UserID && (e.UserID != "" || b[i].AnonymousID == e.AnonymousID) && b[i].At.Equal(e.At) {
			return i
		}
	}
	return -1
}

// sameEvent reports whether two normalized events with the same key would
// be stored as the same item.
func sameEvent(a, b Event) bool {
	return a.Type == b.Type && a.UserID == b.UserID && a.AnonymousID == b.AnonymousID &&
		a.UserAgent == b.UserAgent && a.IP == b.IP && maps.Equal(a.Attributes, b.Attributes)
}

func (w *AsyncWriter) work() {
	defer w.workers.Done()
	for b := range w.batches {
		if b.lake {
			w.writeLake(b.events)
		} else {
			w.write(b.events)
		}
		b.gen.Done()
	}
}

// writeLake sends RouteLake events in one packed Firehose delivery (the
// tracker's lake route retries within its budget) and accounts for every
// event as written or failed.
func (w *AsyncWriter) writeLake(evs []Event) {
	if w.ctx.Err() != nil {
		w.fail(evs, context.Cause(w.ctx))
		return
	}
	first, err := w.t.putLake(w.ctx, evs)
	if first < 0 {
		w.lake.Add(int64(len(evs)))
		w.written.Add(int64(len(evs)))
		return
	}
	w.lake.Add(int64(first))
	w.written.Add(int64(first))
	if w.ctx.Err() != nil {
		err = context.Cause(w.ctx)
	}
	w.fail(evs[first:], err)
}

// errUnprocessed is the last error of events that DynamoDB kept returning
// as UnprocessedItems.
var errUnprocessed = errors.New("DynamoDB returned the items as UnprocessedItems (throttled)")

// write writes one batch of events with distinct keys, retrying as w.retry
// says, and accounts for every event as written or failed.
func (w *AsyncWriter) write(events []Event) {
	table := w.t.eventsTable
	pending := make([]types.WriteRequest, 0, len(events))
	evs := make([]Event, 0, len(events))
	for _, e := range events {
		av, err := w.t.marshal(e)
		if err != nil {
			w.fail([]Event{e}, err)
			continue
		}
		pending = append(pending, types.WriteRequest{PutRequest: &types.PutRequest{Item: av}})
		evs = append(evs, e)
	}
	for attempt := 1; len(pending) > 0; attempt++ {
		if w.ctx.Err() != nil {
			w.fail(evs, context.Cause(w.ctx))
			return
		}
		actx, cancel := context.WithTimeout(w.ctx, w.retry.AttemptTimeout)
		out, err := w.t.db.BatchWriteItem(actx, &dynamodb.BatchWriteItemInput{
			RequestItems: map[string][]types.WriteRequest{table: pending},
		})
		timedOut := errors.Is(actx.Err(), context.DeadlineExceeded)
		cancel()
		switch {
		case w.ctx.Err() != nil:
			// Aborted by Close: whether or not the call succeeded, report
			// what is not known to be written.
			if err == nil {
				w.processed(out, table, &pending, &evs)
			}
			w.fail(evs, context.Cause(w.ctx))
			return
		case err == nil:
			if !w.processed(out, table, &pending, &evs) {
				return
			}
			err = errUnprocessed
		case timedOut || retryableWriteError(err):
		default:
			w.fail(evs, fmt.Errorf("batch write of %d events to %s: %w", len(evs), table, err))
			return
		}
		if attempt >= w.retry.MaxAttempts {
			w.fail(evs, fmt.Errorf("batch write of %d events to %s: gave up after %d attempts: %w", len(evs), table, attempt, err))
			return
		}
		w.retried.Add(int64(len(pending)))
		d := w.backoff(attempt)
		w.log.Debug("tracker: retrying batch write", "events", len(pending), "attempt", attempt, "delay", d, "error", err.Error())
		if !sleepCtx(w.ctx, d) {
			w.fail(evs, context.Cause(w.ctx))
			return
		}
	}
}

// processed counts the events of a successful call as written except those
// returned as UnprocessedItems, which it keeps in pending and evs (the
// writer's own requests, not the returned copies). It reports whether any
// remain.
func (w *AsyncWriter) processed(out *dynamodb.BatchWriteItemOutput, table string, pending *[]types.WriteRequest, evs *[]Event) bool {
	var un []types.WriteRequest
	if out != nil {
		un = out.UnprocessedItems[table]
	}
	if len(un) == 0 {
		w.written.Add(int64(len(*evs)))
		*pending, *evs = (*pending)[:0], (*evs)[:0]
		return false
	}
	keep := 0
	for i, e := range *evs {
		if !unprocessedHas(un, e) {
			continue
		}
		(*pending)[keep], (*evs)[keep] = (*pending)[i], e
		keep++
	}
	w.written.Add(int64(len(*evs) - keep))
	*pending, *evs = (*pending)[:keep], (*evs)[:keep]
	return keep > 0
}

// unprocessedHas reports whether reqs holds a put of e's item.
func unprocessedHas(reqs []types.WriteRequest, e Event) bool {
	for _, r := range reqs {
		if r.PutRequest == nil {
			continue
		}
		actor, _ := r.PutRequest.Item[AttrActor].(*types.AttributeValueMemberS)
		key, _ := r.PutRequest.Item[AttrEventKey].(*types.AttributeValueMemberS)
		if actor != nil && key != nil && actorIs(actor.Value, e) && eventKeyIs(key.Value, e) {
			return true
		}
	}
	return false
}

// actorIs reports whether an actor value is e's, without building e's.
func actorIs(actor string, e Event) bool {
	if e.UserID != "" {
		return len(actor) == len(actorUser)+len(e.UserID) && actor[:len(actorUser)] == actorUser && actor[len(actorUser):] == e.UserID
	}
	return len(actor) == len(actorAnonymous)+len(e.AnonymousID) && actor[:len(actorAnonymous)] == actorAnonymous && actor[len(actorAnonymous):] == e.AnonymousID
}

// eventKeyIs reports whether an event_key value is e's.
func eventKeyIs(key string, e Event) bool {
	n := len(TimeLayout)
	return len(key) == n+1+len(e.ID) && key[n+1:] == e.ID && key[n] == '#' && key[:n] == e.At.Format(TimeLayout)
}

// fail accounts for events that will not be written.
func (w *AsyncWriter) fail(evs []Event, err error) {
	if len(evs) == 0 {
		return
	}
	w.failed.Add(int64(len(evs)))
	if w.onError == nil {
		w.log.Error("tracker: events not written", "events", len(evs), "first_event_id", evs[0].ID, "error", err.Error())
		return
	}
	for _, e := range evs {
		w.onError(e, err)
	}
}

// backoff returns the full-jitter delay before retry n (n >= 1).
func (w *AsyncWriter) backoff(n int) time.Duration {
	return backoff.Policy{Base: w.retry.BaseDelay, Max: w.retry.MaxDelay, Jitter: backoff.Full}.Delay(n)
}

// sleepCtx waits for d or until ctx is done; it reports whether d elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	return backoff.Sleep(ctx, d) == nil
}

var sdkRetryables = retry.IsErrorRetryables(retry.DefaultRetryables)

// retryableWriteError reports whether a failed write may succeed when sent
// again: throttling, 5xx, timeouts and connection errors. It is not called
// for errors caused by the writer's own context.
func retryableWriteError(err error) bool {
	var (
		pte   *types.ProvisionedThroughputExceededException
		te    *types.ThrottlingException
		rle   *types.RequestLimitExceeded
		ise   *types.InternalServerError
		quota ratelimit.QuotaExceededError // the SDK's retry budget ran out: a throttle signal
		ne    net.Error
		hs    interface{ HTTPStatusCode() int }
	)
	switch {
	case errors.As(err, &pte), errors.As(err, &te), errors.As(err, &rle), errors.As(err, &ise), errors.As(err, &quota):
		return true
	case errors.As(err, &ne) && ne.Timeout():
		return true
	case errors.As(err, &hs) && hs.HTTPStatusCode() >= 500:
		return true
	}
	return sdkRetryables.IsErrorRetryable(err) == aws.TrueTernary
}
