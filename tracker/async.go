package tracker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
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
	DefaultMaxBlock       = 5 * time.Millisecond
	DefaultMaxAttempts    = 10
	DefaultBaseDelay      = 25 * time.Millisecond
	DefaultMaxDelay       = 2 * time.Second
	DefaultAttemptTimeout = 10 * time.Second
)

// ErrQueueFull is returned by AsyncWriter.Put when the queue is full: at
// once under DropWhenFull, after AsyncConfig.MaxBlock under BlockWhenFull.
// The event was not accepted; Stats().Dropped counts it.
var ErrQueueFull = errors.New("tracker: async writer queue is full")

// ErrClosed is returned by AsyncWriter.Put once Close has been called. The
// event was not accepted.
var ErrClosed = errors.New("tracker: async writer is closed")

// FullPolicy says what AsyncWriter.Put does when the queue is full, which
// happens when events arrive faster than DynamoDB takes them (an outage,
// throttling) for longer than the queue absorbs. Under every policy an event
// Put refuses was not accepted, and one it accepts is kept to the writer's
// guarantees.
type FullPolicy int

const (
	// BlockWhenFull (the default) waits for room in the queue for at most
	// AsyncConfig.MaxBlock (default DefaultMaxBlock, 5 ms), then returns
	// ErrQueueFull and counts the event in Stats().Dropped. It returns
	// earlier, with an error wrapping the context's error, when the
	// context passed to Put ends first, and with ErrClosed when Close is
	// called. A request is never held longer than MaxBlock, whatever its
	// context; short bursts are absorbed instead of refused.
	BlockWhenFull FullPolicy = iota
	// DropWhenFull returns ErrQueueFull at once and counts the event in
	// Stats().Dropped. Request latency never depends on DynamoDB.
	DropWhenFull
	// WaitWhenFull waits for room until the context passed to Put ends (then
	// Put returns an error wrapping the context's error) or Close is called
	// (ErrClosed). Nothing is refused: callers slow down to the write rate.
	// It is for loaders and batch jobs; on a request path it holds the
	// request for as long as DynamoDB is slow, without bound when the
	// context has no deadline.
	WaitWhenFull
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
	// MaxBlock is how long Put waits for room under BlockWhenFull before it
	// returns ErrQueueFull; default DefaultMaxBlock. Other policies ignore
	// it.
	MaxBlock time.Duration
	// Retry bounds retries; the zero value means defaults.
	Retry RetryPolicy
	// OnError is called once for every accepted event that will not be
	// written: its retries ran out, DynamoDB rejected it permanently, a
	// different event with its caller-supplied ID is stored or in the same
	// batch (ErrDuplicateEvent), or Close gave up waiting (the error wraps
	// Close's context error; with a spool such events stay in the spool
	// instead and are not reported). The event
	// is passed as it would have been stored, ID included, so a caller can
	// put it again under the same key without creating a duplicate. OnError
	// is called from the writer's goroutines, possibly concurrently; it must
	// be safe for concurrent use, return quickly and not call Flush or Close
	// (they would wait for the callback). When nil, failures are logged with
	// Logger, one line per failed batch. Written events go to the
	// tracker's Config.OnSuccess.
	OnError func(Event, error)
	// Logger logs failures when OnError is nil, and retries at debug level;
	// nil means slog.Default(). IP addresses and attributes are never logged.
	Logger *slog.Logger

	// SpoolDir, when set, makes the writer durable across crashes: Put
	// appends every event it accepts to a segment file in this directory
	// (created if missing, locked against a second writer) before it
	// returns, and a file is removed once all its events are written or
	// failed. NewAsyncWriter replays what an earlier writer with the same
	// SpoolDir left (it crashed, was killed, or Close gave up): every
	// event is written again under its own key, so events written before
	// the crash change nothing and none is stored twice. Without a spool
	// the queue lives in memory, and a crash loses every event accepted
	// but not yet written. See SpoolSync for what reaches the disk when.
	SpoolDir string
	// SpoolSync says when spooled events reach stable storage; default
	// SpoolSyncPeriodic.
	SpoolSync SpoolSync
	// SpoolSyncInterval is how often SpoolSyncPeriodic fsyncs; default
	// DefaultSpoolSyncInterval.
	SpoolSyncInterval time.Duration
	// SpoolSegmentBytes is the size at which a segment file is closed and
	// a new one started (also every two seconds); default
	// DefaultSpoolSegmentBytes. Smaller files are removed sooner, which
	// bounds the events written again after a crash.
	SpoolSegmentBytes int64
}

// AsyncStats counts events of an AsyncWriter since it was created. After
// Close returns, Accepted == Written + Failed + Deferred.
type AsyncStats struct {
	// Accepted events were enqueued by Put (which returned nil) or
	// replayed from the spool.
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
	// Dropped events were refused by Put with ErrQueueFull (a full queue,
	// under BlockWhenFull or DropWhenFull).
	Dropped int64
	// Failed events were reported to OnError (or logged) and not written.
	Failed int64
	// Filtered events were dropped by Config.BeforeSend in Put; they were
	// never accepted.
	Filtered int64
	// Replayed events were read from the spool an earlier writer left
	// (they are counted in Accepted too).
	Replayed int64
	// Deferred events were left in the spool when Close gave up, for the
	// next writer with the same SpoolDir; they are not failures and were
	// not reported to OnError.
	Deferred int64
}

// AsyncWriter writes events in the background, for request paths that must
// not wait for DynamoDB. Put validates an event and enqueues it; a
// dispatcher goroutine assigns event IDs and groups events into batches of
// up to BatchSize, and Workers goroutines write them, resending
// UnprocessedItems and retrying throttling, 5xx responses and timeouts as
// RetryPolicy says.
//
// Guarantees: every event accepted by Put is, by the time Close returns,
// either written or reported to OnError (and counted in Stats().Failed), or,
// with a spool, left in the spool when Close gave up (Stats().Deferred):
// none vanishes while the process lives. Without a spool a crash loses the
// queue: every event accepted and not yet written. With one
// (AsyncConfig.SpoolDir) the next writer writes them. An event's ID, and so
// its key, is fixed before its first write attempt, so a retry after a
// timeout rewrites the same item.
//
// No event is ever overwritten by a different one. Events whose IDs the
// writer generates (fresh UUIDv7s: no other event can hold their keys) go
// to DynamoDB in BatchWriteItem calls, which have no conditions and need
// none: a retry after a lost response rewrites identical content, which
// changes nothing and produces no stream record. Events with caller-supplied
// IDs are written like Tracker.Put, each with a conditional PutItem: an
// identical item already stored counts as written (a retry, a replay, the
// caller's own second Put); a different one is left alone and the event is
// reported to OnError with ErrDuplicateEvent. Two events with one key in
// the same batch are caught before any write: the first accepted wins.
//
// All methods are safe for concurrent use.
type AsyncWriter struct {
	t        *Tracker
	queue    chan queued
	batches  chan *asyncBatch
	full     FullPolicy
	maxBlock time.Duration
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
	accepted paddedInt64
	dropped  paddedInt64
	written  paddedInt64
	retried  atomic.Int64
	failed   atomic.Int64
	filtered atomic.Int64
	replayed atomic.Int64
	deferred atomic.Int64
	lake     atomic.Int64

	// With a spool: slots bounds the queue (a Put takes a slot before it
	// appends to the spool, so that a refused event is never spooled; the
	// dispatcher frees one per element it takes from the queue), and the
	// replay goroutine closes replayDone when it has queued what earlier
	// writers left. Without one, slots is nil and replayDone closed.
	spool      *spool
	slots      chan struct{}
	replayDone chan struct{}
	replayV    validator
}

// paddedInt64 keeps a hot counter on its own cache line.
type paddedInt64 struct {
	atomic.Int64
	_ [56]byte
}

// queued is an element of the queue: an event, or a Flush marker.
type queued struct {
	e Event
	// generated reports that the writer generated e.ID, so that no other
	// event can hold its key and BatchWriteItem may write it without a
	// condition.
	generated bool
	// seg is the spool segment holding the event's record, or nil.
	seg *segment
	// flush, when not nil, marks a Flush call: it is closed once every
	// event queued before it has been written or failed.
	flush chan struct{}
}

// asyncBatch is a group of events with distinct keys written by one worker.
type asyncBatch struct {
	items []queued
	gen   *sync.WaitGroup // the Flush generation the batch belongs to
	lake  bool            // RouteLake events: one packed Firehose delivery
}

// lakeBatchSize is the most RouteLake events the writer sends in one packed
// delivery (about 175 KB of lines for typical events, one Firehose record).
const lakeBatchSize = 500

// NewAsyncWriter returns an AsyncWriter that writes t's events with t's
// DynamoDB client and table, and starts its goroutines. Stop it with Close.
// It fails when cfg is invalid (a negative value, BatchSize above
// MaxBatchSize, an unknown FullPolicy or SpoolSync) and when the spool
// directory cannot be created or is in use by another writer. With a
// spool, it starts replaying what an earlier writer left there.
func (t *Tracker) NewAsyncWriter(cfg AsyncConfig) (*AsyncWriter, error) {
	if t == nil {
		return nil, errors.New("tracker: NewAsyncWriter of a nil *Tracker")
	}
	if cfg.QueueSize < 0 || cfg.Workers < 0 || cfg.BatchSize < 0 || cfg.Linger < 0 || cfg.MaxBlock < 0 ||
		cfg.SpoolSyncInterval < 0 || cfg.SpoolSegmentBytes < 0 ||
		cfg.Retry.MaxAttempts < 0 || cfg.Retry.BaseDelay < 0 || cfg.Retry.MaxDelay < 0 || cfg.Retry.AttemptTimeout < 0 {
		return nil, errors.New("tracker: negative value in AsyncConfig")
	}
	if cfg.BatchSize > MaxBatchSize {
		return nil, fmt.Errorf("tracker: AsyncConfig.BatchSize %d is above BatchWriteItem's limit of %d", cfg.BatchSize, MaxBatchSize)
	}
	if cfg.FullPolicy < BlockWhenFull || cfg.FullPolicy > WaitWhenFull {
		return nil, fmt.Errorf("tracker: unknown AsyncConfig.FullPolicy %d", cfg.FullPolicy)
	}
	if cfg.SpoolSync < SpoolSyncPeriodic || cfg.SpoolSync > SpoolSyncAlways {
		return nil, fmt.Errorf("tracker: unknown AsyncConfig.SpoolSync %d", cfg.SpoolSync)
	}
	r := cfg.Retry
	r.MaxAttempts = cmpOrInt(r.MaxAttempts, DefaultMaxAttempts)
	r.BaseDelay = cmpOrInt(r.BaseDelay, DefaultBaseDelay)
	r.MaxDelay = cmpOrInt(r.MaxDelay, DefaultMaxDelay)
	r.AttemptTimeout = cmpOrInt(r.AttemptTimeout, DefaultAttemptTimeout)
	queueSize := cmpOrInt(cfg.QueueSize, DefaultQueueSize)
	w := &AsyncWriter{
		t:        t,
		queue:    make(chan queued, queueSize),
		batches:  make(chan *asyncBatch),
		full:     cfg.FullPolicy,
		maxBlock: cmpOrInt(cfg.MaxBlock, DefaultMaxBlock),
		size:     cmpOrInt(cfg.BatchSize, MaxBatchSize),
		linger:   cmpOrInt(cfg.Linger, DefaultLinger),
		retry:    r,
		onError:  cfg.OnError,
		log:      cfg.Logger,
		stopped:  make(chan struct{}),
		closing:  make(chan struct{}),
	}
	if w.log == nil {
		w.log = slog.Default()
	}
	w.replayDone = make(chan struct{})
	var old []*segment
	if cfg.SpoolDir != "" {
		var err error
		w.spool, old, err = openSpool(cfg.SpoolDir, cfg.SpoolSync,
			cmpOrInt(cfg.SpoolSyncInterval, DefaultSpoolSyncInterval),
			int64(cmpOrInt(int(cfg.SpoolSegmentBytes), DefaultSpoolSegmentBytes)), w.log)
		if err != nil {
			return nil, err
		}
		w.slots = make(chan struct{}, queueSize)
		// Replayed events were validated when they were accepted; they are
		// checked again, for their shape, but not for their age.
		w.replayV = t.v
		w.replayV.maxAge = 0
		w.replayV.skew = 100 * 365 * 24 * time.Hour
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
		if w.spool != nil {
			w.spool.close()
		}
		close(w.stopped)
	}()
	go w.replay(old)
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
// invalid, ErrClosed after Close, and, when the queue is full, what the
// FullPolicy says: ErrQueueFull at once (DropWhenFull) or after MaxBlock
// (BlockWhenFull, the default), or an error wrapping ctx's error once ctx is
// done (BlockWhenFull, WaitWhenFull). ctx bounds only the wait for room in
// the queue: the write itself happens later, on the writer's goroutines,
// whatever becomes of ctx.
//
// Put does not marshal the event or generate its ID; it costs well under a
// microsecond and allocates nothing for a typical event (see the
// benchmarks). The writer keeps e.Attributes: do not modify the map after
// Put.
func (w *AsyncWriter) Put(ctx context.Context, e Event) error {
	keep, err := w.t.prepare(&e)
	if err != nil {
		return err
	}
	if !keep {
		w.filtered.Add(1)
		return nil
	}
	if w.spool != nil {
		return w.putSpooled(ctx, e)
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
	if err := waitRoom(ctx, w, w.queue, queued{e: e}, e.Type); err != nil {
		w.accepted.Add(-1)
		return err
	}
	return nil
}

// putSpooled is Put with a spool: it takes a slot in the queue as the
// FullPolicy says, appends the event (with its ID, generated here so that a
// replay rewrites the same key) to the spool, and queues it.
func (w *AsyncWriter) putSpooled(ctx context.Context, e Event) error {
	q := queued{e: e}
	if q.e.ID == "" {
		q.e.ID = w.t.ids.New(q.e.At)
		q.generated = true
	}
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return ErrClosed
	}
	w.accepted.Add(1)
	if err := waitRoom(ctx, w, w.slots, struct{}{}, e.Type); err != nil {
		w.accepted.Add(-1)
		return err
	}
	seg, err := w.spool.append(&q.e, q.generated)
	if err != nil {
		<-w.slots
		w.accepted.Add(-1)
		return fmt.Errorf("tracker: async put of a %s event: %w", e.Type, err)
	}
	q.seg = seg
	w.queue <- q // never waits: every element of the queue holds a slot
	return nil
}

// waitRoom sends v on ch when ch is full, as the FullPolicy says: at once
// ErrQueueFull (DropWhenFull), or wait until there is room, ctx is done,
// Close is called, or (BlockWhenFull) MaxBlock has passed. It counts a drop
// for ErrQueueFull.
func waitRoom[T any](ctx context.Context, w *AsyncWriter, ch chan<- T, v T, eventType string) error {
	select {
	case ch <- v:
		return nil
	default:
	}
	var timeout <-chan time.Time
	switch w.full {
	case DropWhenFull:
		w.dropped.Add(1)
		return ErrQueueFull
	case BlockWhenFull:
		t := time.NewTimer(w.maxBlock)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case ch <- v:
		return nil
	case <-timeout:
		w.dropped.Add(1)
		return fmt.Errorf("%w (waited %s for room)", ErrQueueFull, w.maxBlock)
	case <-ctx.Done():
		return fmt.Errorf("tracker: async put of a %s event: queue full: %w", eventType, context.Cause(ctx))
	case <-w.closing:
		return ErrClosed
	}
}

// replay queues the events of the segments an earlier writer left, oldest
// first, and closes w.replayDone. It stops when Close gives up; what it did
// not queue stays in the spool.
func (w *AsyncWriter) replay(segs []*segment) {
	defer close(w.replayDone)
	for _, seg := range segs {
		data, err := os.ReadFile(seg.path)
		if err != nil {
			w.log.Error("tracker: spool: cannot read a segment; it is kept", "file", seg.path, "error", err.Error())
			continue
		}
		evs, unread := decodeRecords(data)
		if unread > 0 {
			// The tail of a write the crash interrupted: its Puts never
			// returned. Anything else is damage to the file.
			w.log.Warn("tracker: spool: ignoring a torn or corrupt end of a segment",
				"file", seg.path, "events", len(evs), "bytes_ignored", unread)
		}
		seg.setAppended(len(evs))
		for _, se := range evs {
			q := queued{e: se.e, generated: se.generated, seg: seg}
			w.accepted.Add(1)
			w.replayed.Add(1)
			if err := w.replayV.normalizeInPlace(&q.e); err != nil {
				w.fail(oneItem(q), fmt.Errorf("replay event %s from %s: %w", se.e.ID, seg.path, err))
				continue
			}
			select {
			case w.slots <- struct{}{}:
			case <-w.ctx.Done():
				w.accepted.Add(-1)
				w.replayed.Add(-1)
				return
			}
			w.queue <- q
		}
	}
}

// Flush waits until the spool's replay is queued and every event accepted
// before the call has been written or reported as failed, or until ctx is
// done (then it returns ctx's error
// and the events are still written later). A partly filled batch is written
// at once instead of after Linger. Flush does not stop the writer; events
// accepted during Flush are written as usual. Flush returns nil even when
// events failed: OnError and Stats report those.
func (w *AsyncWriter) Flush(ctx context.Context) error {
	select {
	case <-w.replayDone:
	case <-ctx.Done():
		return fmt.Errorf("tracker: flush async writer: waiting for the spool's replay: %w", context.Cause(ctx))
	}
	done := make(chan struct{})
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return w.waitStopped(ctx)
	}
	if w.slots != nil {
		// The marker takes a slot like an event, so that events holding
		// slots always find room in the queue.
		select {
		case w.slots <- struct{}{}:
			w.queue <- queued{flush: done}
		case <-w.closing:
			w.mu.RUnlock()
			return w.waitStopped(ctx)
		case <-ctx.Done():
			w.mu.RUnlock()
			return fmt.Errorf("tracker: flush async writer: %w", context.Cause(ctx))
		}
	} else {
		select {
		case w.queue <- queued{flush: done}:
		case <-w.closing:
			w.mu.RUnlock()
			return w.waitStopped(ctx)
		case <-ctx.Done():
			w.mu.RUnlock()
			return fmt.Errorf("tracker: flush async writer: %w", context.Cause(ctx))
		}
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
		w.mu.Unlock()
		// No Put or Flush sends any more; the replay may still be
		// queueing what an earlier writer left.
		go func() {
			<-w.replayDone
			close(w.queue)
		}()
	})
	select {
	case <-w.stopped:
		return nil
	case <-ctx.Done():
	}
	cause := fmt.Errorf("tracker: async writer closed before the event was written: %w", context.Cause(ctx))
	w.abort(cause)
	<-w.stopped
	s := w.Stats()
	if w.spool != nil {
		return fmt.Errorf("tracker: close async writer: of %d accepted events %d failed and %d are left in the spool: %w",
			s.Accepted, s.Failed, s.Deferred, context.Cause(ctx))
	}
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
		Filtered: w.filtered.Load(),
		Replayed: w.replayed.Load(),
		Deferred: w.deferred.Load(),
		Lake:     w.lake.Load(),
	}
}

// dispatch reads the queue in order, assigns event IDs, groups events into
// batches with distinct keys and hands them to the workers. It closes
// w.batches when the queue is closed and drained. After Close gave up it
// goes on batching, and the workers report each batch as a whole.
func (w *AsyncWriter) dispatch() {
	defer close(w.batches)
	var (
		cur      []queued // RouteHot events, for one BatchWriteItem
		curLake  []queued // RouteLake events, for one packed Firehose delivery
		gen      = new(sync.WaitGroup)
		prevDone = closedSignal // closed when the previous Flush generation is done
		timer    = time.NewTimer(time.Hour)
		timerC   <-chan time.Time
	)
	timer.Stop()
	hand := func(b *[]queued, lake bool) {
		if len(*b) == 0 {
			return
		}
		gen.Add(1)
		w.batches <- &asyncBatch{items: *b, gen: gen, lake: lake}
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
		if ok && w.slots != nil {
			<-w.slots
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
		if q.e.ID == "" {
			q.e.ID = w.t.ids.New(q.e.At)
			q.generated = true
		}
		if w.t.lake != nil && w.t.Route(q.e.Type) == RouteLake {
			// Firehose has no keys to collide: the events_dedup view
			// removes a line sent twice.
			if len(cur) == 0 && len(curLake) == 0 {
				timer.Reset(w.linger)
				timerC = timer.C
			}
			curLake = append(curLake, q)
			if len(curLake) >= lakeBatchSize {
				hand(&curLake, true)
			}
			continue
		}
		if i := indexSameKey(cur, q.e); !q.generated && i >= 0 {
			if !sameEvent(cur[i].e, q.e) {
				// The first accepted wins; DynamoDB would decide the same
				// way, but in no particular order across workers.
				w.fail(oneItem(q), fmt.Errorf("put event %s of %s: another event with this key is in the same batch: %w",
					q.e.ID, q.e.actor(), ErrDuplicateEvent))
				continue
			}
			// An identical copy goes into the next batch, where its
			// conditional write finds the same item and succeeds.
			hand(&cur, false)
		}
		if len(cur) == 0 {
			cur = make([]queued, 0, w.size)
			if len(curLake) == 0 {
				timer.Reset(w.linger)
				timerC = timer.C
			}
		}
		cur = append(cur, q)
		if len(cur) >= w.size {
			hand(&cur, false)
		}
	}
}

// oneItem returns a batch of one.
func oneItem(q queued) []queued { return []queued{q} }

var closedSignal = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// indexSameKey returns the index of the event in b with e's key, or -1.
func indexSameKey(b []queued, e Event) int {
	for i := range b {
		if b[i].e.ID == e.ID && b[i].e.UserID == e.UserID && (e.UserID != "" || b[i].e.AnonymousID == e.AnonymousID) && b[i].e.At.Equal(e.At) {
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
			w.writeLake(b.items)
		} else {
			w.write(b.items)
		}
		b.gen.Done()
	}
}

// writeLake sends RouteLake events in one packed Firehose delivery (the
// tracker's lake route retries within its budget) and accounts for every
// event as written or failed.
func (w *AsyncWriter) writeLake(items []queued) {
	if w.ctx.Err() != nil {
		w.giveUp(items)
		return
	}
	evs := make([]Event, len(items))
	for i := range items {
		evs[i] = items[i].e
	}
	first, err := w.t.putLake(w.ctx, evs)
	if first < 0 {
		first = len(items)
	}
	w.lake.Add(int64(first))
	w.succeed(items[:first])
	if first == len(items) {
		return
	}
	if w.ctx.Err() != nil {
		w.giveUp(items[first:])
		return
	}
	w.fail(items[first:], err)
}

// write writes one batch of events with distinct keys and accounts for
// every event as written or failed. Events whose IDs the writer generated
// go to DynamoDB in one BatchWriteItem call: nobody else can hold their
// keys. Events with caller-supplied IDs are written concurrently, each with
// a conditional PutItem, so that a different event under the same key is
// never overwritten.
func (w *AsyncWriter) write(items []queued) {
	if w.ctx.Err() != nil {
		w.giveUp(items)
		return
	}
	// Generated IDs first; the batch is the worker's own, so reorder it.
	n := 0
	for i := range items {
		if items[i].generated {
			items[n], items[i] = items[i], items[n]
			n++
		}
	}
	// Events not known to be written when Close gives up are reported
	// together, as one batch.
	var stopped []queued
	if n < len(items) {
		abandoned := make([]bool, len(items))
		var wg sync.WaitGroup
		for i := n; i < len(items); i++ {
			wg.Go(func() { abandoned[i] = !w.putOne(items[i : i+1]) })
		}
		if n > 0 {
			stopped = w.batchWrite(items[:n])
		}
		wg.Wait()
		for i := n; i < len(items); i++ {
			if abandoned[i] {
				stopped = append(stopped, items[i])
			}
		}
	} else {
		stopped = w.batchWrite(items)
	}
	w.giveUp(stopped)
}

// errUnprocessed is the last error of events that DynamoDB kept returning
// as UnprocessedItems.
var errUnprocessed = errors.New("DynamoDB returned the items as UnprocessedItems (throttled)")

// putOne writes one event with a caller-supplied ID (one is the batch of
// it) with a conditional PutItem, retrying as w.retry says. An identical
// item already stored (an earlier attempt whose response was lost, a replay,
// the caller's own retry) counts as written; a different one fails the event
// with ErrDuplicateEvent.
//
// It reports false when Close gave up before the event was known to be
// written; the event is then not accounted for yet.
func (w *AsyncWriter) putOne(one []queued) bool {
	e := one[0].e
	av, err := w.t.marshal(e)
	if err != nil {
		w.fail(one, err)
		return true
	}
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(w.ctx, w.retry.AttemptTimeout)
		err := w.t.putItem(actx, av)
		timedOut := errors.Is(actx.Err(), context.DeadlineExceeded)
		cancel()
		switch {
		case err == nil:
			w.succeed(one)
			return true
		case w.ctx.Err() != nil:
			return false
		case errors.Is(err, ErrDuplicateEvent):
			w.fail(one, fmt.Errorf("put event %s of %s: a different event with this key is stored: %w", e.ID, e.actor(), err))
			return true
		case timedOut || retryableWriteError(err):
		default:
			w.fail(one, fmt.Errorf("put event %s of %s to %s: %w", e.ID, e.actor(), w.t.eventsTable, err))
			return true
		}
		if attempt >= w.retry.MaxAttempts {
			w.fail(one, fmt.Errorf("put event %s of %s to %s: gave up after %d attempts: %w", e.ID, e.actor(), w.t.eventsTable, attempt, err))
			return true
		}
		w.retried.Add(1)
		d := w.backoff(attempt)
		w.log.Debug("tracker: retrying conditional put", "attempt", attempt, "delay", d, "error", err.Error())
		if !sleepCtx(w.ctx, d) {
			return false
		}
	}
}

// batchWrite writes events with generated IDs in one BatchWriteItem call,
// resending UnprocessedItems and retrying as w.retry says. It returns the
// events not known to be written when Close gave up, which it has not
// accounted for.
func (w *AsyncWriter) batchWrite(items []queued) []queued {
	table := w.t.eventsTable
	pending := make([]types.WriteRequest, 0, len(items))
	evs := make([]queued, 0, len(items))
	for i := range items {
		av, err := w.t.marshal(items[i].e)
		if err != nil {
			w.fail(items[i:i+1], err)
			continue
		}
		pending = append(pending, types.WriteRequest{PutRequest: &types.PutRequest{Item: av}})
		evs = append(evs, items[i])
	}
	for attempt := 1; len(pending) > 0; attempt++ {
		actx, cancel := context.WithTimeout(w.ctx, w.retry.AttemptTimeout)
		out, err := w.t.db.BatchWriteItem(actx, &dynamodb.BatchWriteItemInput{
			RequestItems: map[string][]types.WriteRequest{table: pending},
		})
		timedOut := errors.Is(actx.Err(), context.DeadlineExceeded)
		cancel()
		switch {
		case w.ctx.Err() != nil:
			// Aborted by Close: whether or not the call succeeded, give up
			// what is not known to be written.
			if err == nil {
				w.processed(out, table, &pending, &evs)
			}
			return evs
		case err == nil:
			if !w.processed(out, table, &pending, &evs) {
				return nil
			}
			err = errUnprocessed
		case timedOut || retryableWriteError(err):
		default:
			w.fail(evs, fmt.Errorf("batch write of %d events to %s: %w", len(evs), table, err))
			return nil
		}
		if attempt >= w.retry.MaxAttempts {
			w.fail(evs, fmt.Errorf("batch write of %d events to %s: gave up after %d attempts: %w", len(evs), table, attempt, err))
			return nil
		}
		w.retried.Add(int64(len(pending)))
		d := w.backoff(attempt)
		w.log.Debug("tracker: retrying batch write", "events", len(pending), "attempt", attempt, "delay", d, "error", err.Error())
		if !sleepCtx(w.ctx, d) {
			return evs
		}
	}
	return nil
}

// processed accounts for the events of a successful call as written except
// those returned as UnprocessedItems, which it keeps in pending and evs (the
// writer's own requests, not the returned copies). It reports whether any
// remain.
func (w *AsyncWriter) processed(out *dynamodb.BatchWriteItemOutput, table string, pending *[]types.WriteRequest, evs *[]queued) bool {
	var un []types.WriteRequest
	if out != nil {
		un = out.UnprocessedItems[table]
	}
	if len(un) == 0 {
		w.succeed(*evs)
		*pending, *evs = (*pending)[:0], (*evs)[:0]
		return false
	}
	var done []queued
	keep := 0
	for i, q := range *evs {
		if !unprocessedHas(un, q.e) {
			done = append(done, q)
			continue
		}
		(*pending)[keep], (*evs)[keep] = (*pending)[i], q
		keep++
	}
	w.succeed(done)
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

// succeed accounts for events DynamoDB acknowledged.
func (w *AsyncWriter) succeed(items []queued) {
	if len(items) == 0 {
		return
	}
	w.written.Add(int64(len(items)))
	if w.t.onSuccess != nil {
		for i := range items {
			w.t.onSuccess(items[i].e)
		}
	}
	finishSpooled(items)
}

// finishSpooled counts spooled events as written or failed in their
// segments, which removes a segment file once all its events are.
func finishSpooled(items []queued) {
	for i := 0; i < len(items); {
		seg, j := items[i].seg, i+1
		for j < len(items) && items[j].seg == seg {
			j++
		}
		if seg != nil {
			seg.finish(int64(j-i), false)
		}
		i = j
	}
}

// giveUp accounts for events not known to be written when Close gave up.
// Without a spool they fail with Close's cause (one OnError call each, or
// one log line for the batch); with one they stay in the spool for the next
// writer, one log line for the batch.
func (w *AsyncWriter) giveUp(items []queued) {
	if len(items) == 0 {
		return
	}
	if w.spool == nil {
		w.fail(items, context.Cause(w.ctx))
		return
	}
	w.deferred.Add(int64(len(items)))
	w.log.Warn("tracker: events left in the spool for the next writer", "events", len(items),
		"first_event_id", items[0].e.ID, "spool", w.spool.dir, "reason", context.Cause(w.ctx).Error())
}

// fail accounts for events that will not be written: each goes to
// OnError, or, without OnError, the batch is logged in one line.
func (w *AsyncWriter) fail(items []queued, err error) {
	if len(items) == 0 {
		return
	}
	w.failed.Add(int64(len(items)))
	if w.onError == nil {
		w.log.Error("tracker: events not written", "events", len(items), "first_event_id", items[0].e.ID, "error", err.Error())
	} else {
		for i := range items {
			w.onError(items[i].e, err)
		}
	}
	finishSpooled(items)
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
