package tracker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/eventlake/eventlake/local/dynamolocal"
	"github.com/eventlake/eventlake/local/faultdb"
	"github.com/eventlake/eventlake/tracker"
)

// checkExactlyOnce asserts that the events table holds exactly one item for
// every (user, seq) put by putConcurrently and nothing else, with distinct
// event IDs.
func checkExactlyOnce(t *testing.T, env *dynamolocal.Env, users, perUser int) {
	t.Helper()
	want := users * perUser
	if n := countEvents(t, env); n != want {
		t.Errorf("table holds %d items, want exactly %d", n, want)
	}
	ids := make(map[string]bool, want)
	missing := 0
	for u := range users {
		user := "user-" + strconv.Itoa(u)
		seen := make(map[string]int, perUser)
		for _, r := range queryStrings(t, env, user, tracker.FieldEventID, "attributes.seq") {
			if ids[r[0]] {
				t.Errorf("event_id %s stored twice", r[0])
			}
			ids[r[0]] = true
			seen[r[1]]++
		}
		for i := range perUser {
			switch n := seen[strconv.Itoa(i)]; n {
			case 1:
			case 0:
				if missing++; missing <= 5 {
					t.Errorf("event %s/%d missing", user, i)
				}
			default:
				t.Errorf("event %s/%d stored %d times", user, i, n)
			}
		}
		if len(seen) != perUser {
			t.Errorf("%s has %d distinct events, want %d", user, len(seen), perUser)
		}
	}
	if missing > 0 {
		t.Errorf("%d events missing", missing)
	}
	if len(ids) != want {
		t.Errorf("%d distinct event IDs, want %d", len(ids), want)
	}
}

// putConcurrently puts perUser events for each of users users, one
// goroutine per user, and fails the test on any Put error. With callerIDs,
// every third event carries an ID of the caller's ("<user>-<seq>"), which
// the writer puts with a conditional PutItem.
func putConcurrently(t *testing.T, w *tracker.AsyncWriter, users, perUser int, callerIDs ...bool) {
	t.Helper()
	ctx := testCtx(t, 5*time.Minute)
	var wg sync.WaitGroup
	errs := make(chan error, users)
	for u := range users {
		wg.Go(func() {
			user := "user-" + strconv.Itoa(u)
			for i := range perUser {
				e := tracker.Event{
					UserID:     user,
					Type:       "page_view",
					IP:         "203.0.113.7",
					UserAgent:  "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
					Attributes: map[string]string{"seq": strconv.Itoa(i), "url": "/p/" + strconv.Itoa(i)},
				}
				if len(callerIDs) > 0 && callerIDs[0] && i%3 == 0 {
					e.ID = user + "-" + strconv.Itoa(i)
				}
				err := w.Put(ctx, e)
				if err != nil {
					errs <- fmt.Errorf("%s put %d: %w", user, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestAsyncWriter100Goroutines(t *testing.T) {
	env := newWriteEnv(t)
	tr := newWriteTracker(t, env, nil, tracker.Config{})
	var failures atomic.Int64
	w, err := tr.NewAsyncWriter(tracker.AsyncConfig{
		FullPolicy: tracker.WaitWhenFull, // a loader: wait for room rather than drop
		OnError: func(e tracker.Event, err error) {
			if failures.Add(1) <= 5 {
				t.Errorf("event %s of %s failed: %v", e.ID, e.UserID, err)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	const users, perUser = 100, 1000
	start := time.Now()
	putConcurrently(t, w, users, perUser)
	if err := w.Close(testCtx(t, 5*time.Minute)); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s := w.Stats()
	t.Logf("wrote %d events in %v; stats %+v", s.Written, time.Since(start).Round(time.Millisecond), s)
	if s.Accepted != users*perUser || s.Written != users*perUser || s.Failed != 0 || s.Dropped != 0 {
		t.Errorf("stats = %+v, want %d accepted and written, none failed or dropped", s, users*perUser)
	}
	if s.Accepted != s.Written+s.Failed {
		t.Errorf("Accepted %d != Written %d + Failed %d", s.Accepted, s.Written, s.Failed)
	}
	start = time.Now()
	checkExactlyOnce(t, env, users, perUser)
	t.Logf("verified in %v", time.Since(start).Round(time.Millisecond))
}

// TestAsyncWriterUnderFaults writes through a wrapper of the real client
// that throttles, fails with 500, times out before and after DynamoDB and
// returns a share of every batch as UnprocessedItems: still every event is
// stored exactly once. A third of the events carry caller IDs, so the
// conditional PutItem path meets every fault too: a retry after a lost
// response finds its own item and is no conflict.
func TestAsyncWriterUnderFaults(t *testing.T) {
	env := newWriteEnv(t)
	fdb, err := faultdb.New(env.Client, faultdb.Config{
		Seed:              20261122,
		ThrottleRate:      0.15,
		ServerErrorRate:   0.05,
		TimeoutBeforeRate: 0.05,
		TimeoutAfterRate:  0.15,
		UnprocessedShare:  0.3,
	})
	if err != nil {
		t.Fatal(err)
	}
	tr := newWriteTracker(t, env, fdb, tracker.Config{})
	var failures atomic.Int64
	w, err := tr.NewAsyncWriter(tracker.AsyncConfig{
		FullPolicy: tracker.WaitWhenFull, // a loader: wait for room rather than drop
		Retry:      tracker.RetryPolicy{MaxAttempts: 40, BaseDelay: time.Millisecond, MaxDelay: 50 * time.Millisecond},
		OnError: func(e tracker.Event, err error) {
			if failures.Add(1) <= 5 {
				t.Errorf("event %s of %s failed: %v", e.ID, e.UserID, err)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	const users, perUser = 10, 200
	putConcurrently(t, w, users, perUser, true)
	if err := w.Close(testCtx(t, 5*time.Minute)); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s, f := w.Stats(), fdb.Stats()
	t.Logf("writer %+v; faults %+v", s, f)
	if s.Accepted != users*perUser || s.Written != s.Accepted || s.Failed != 0 {
		t.Errorf("stats = %+v, want all %d written", s, users*perUser)
	}
	if s.Retried == 0 || f.Throttled == 0 || f.ServerErrors == 0 || f.TimedOutBefore == 0 || f.TimedOutAfter == 0 || f.Unprocessed == 0 {
		t.Errorf("not every fault happened: writer %+v, faults %+v", s, f)
	}
	checkExactlyOnce(t, env, users, perUser)
}

// TestAsyncWriterAttemptTimeout checks that a call that hangs, before or
// after reaching DynamoDB, is cut off by RetryPolicy.AttemptTimeout and
// retried. One worker keeps the real calls from queueing behind each other
// in DynamoDB Local, so that only the injected hangs hit the deadline.
func TestAsyncWriterAttemptTimeout(t *testing.T) {
	env := newWriteEnv(t)
	fdb, err := faultdb.New(env.Client, faultdb.Config{Seed: 7, TimeoutBeforeRate: 0.15, TimeoutAfterRate: 0.15, TimeoutDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	tr := newWriteTracker(t, env, fdb, tracker.Config{})
	w, err := tr.NewAsyncWriter(tracker.AsyncConfig{
		FullPolicy: tracker.WaitWhenFull, // a loader: wait for room rather than drop
		Workers:    1,
		// Generous for one call to DynamoDB Local even on a loaded machine;
		// every injected hang costs this much.
		Retry:   tracker.RetryPolicy{MaxAttempts: 30, BaseDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond, AttemptTimeout: 3 * time.Second},
		OnError: func(e tracker.Event, err error) { t.Errorf("event %s failed: %v", e.ID, err) },
	})
	if err != nil {
		t.Fatal(err)
	}
	const users, perUser = 4, 25
	putConcurrently(t, w, users, perUser)
	if err := w.Close(testCtx(t, 5*time.Minute)); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s, f := w.Stats(), fdb.Stats()
	t.Logf("writer %+v; faults %+v", s, f)
	if s.Written != users*perUser || s.Retried == 0 || f.TimedOutBefore+f.TimedOutAfter == 0 {
		t.Errorf("writer %+v, faults %+v: want all written after timeouts", s, f)
	}
	checkExactlyOnce(t, env, users, perUser)
}

// TestAsyncWriterCloseReportsUndelivered closes a writer whose DynamoDB is
// stalled with a context that ends: every accepted event not written is
// reported to OnError with the context's error; none vanishes.
func TestAsyncWriterCloseReportsUndelivered(t *testing.T) {
	env := newWriteEnv(t)
	fdb, err := faultdb.New(env.Client, faultdb.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tr := newWriteTracker(t, env, fdb, tracker.Config{})
	var (
		mu       sync.Mutex
		reported = map[string]int{}
		badErr   error
	)
	w, err := tr.NewAsyncWriter(tracker.AsyncConfig{
		QueueSize: 1000,
		OnError: func(e tracker.Event, err error) {
			mu.Lock()
			defer mu.Unlock()
			reported[e.UserID+"/"+e.Attributes["seq"]]++
			if e.ID == "" {
				badErr = errors.New("OnError got an event without its ID")
			}
			if !errors.Is(err, context.DeadlineExceeded) && badErr == nil {
				badErr = fmt.Errorf("OnError error %v does not wrap the context's error", err)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Some events are written before the outage.
	putConcurrently(t, w, 2, 100)
	if err := w.Flush(testCtx(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	fdb.Stall()
	defer fdb.Resume()
	ctx := testCtx(t, time.Minute)
	for i := range 500 {
		if err := w.Put(ctx, tracker.Event{UserID: "stalled", Type: "click", Attributes: map[string]string{"seq": strconv.Itoa(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	closeCtx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err = w.Close(closeCtx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v, want an error wrapping context.DeadlineExceeded", err)
	}
	t.Logf("Close: %v", err)
	s := w.Stats()
	if s.Accepted != 700 || s.Written != 200 || s.Failed != 500 || s.Accepted != s.Written+s.Failed {
		t.Errorf("stats = %+v, want 700 accepted = 200 written + 500 failed", s)
	}
	mu.Lock()
	if badErr != nil {
		t.Error(badErr)
	}
	if len(reported) != 500 {
		t.Errorf("OnError reported %d distinct events, want the 500 undelivered", len(reported))
	}
	for i := range 500 {
		if n := reported["stalled/"+strconv.Itoa(i)]; n != 1 {
			t.Errorf("stalled event %d reported %d times, want once", i, n)
		}
	}
	mu.Unlock()
	if err := w.Put(ctx, tracker.Event{UserID: "late", Type: "click"}); !errors.Is(err, tracker.ErrClosed) {
		t.Errorf("Put after Close = %v, want ErrClosed", err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Errorf("Flush after Close = %v, want nil", err)
	}
	if err := w.Close(ctx); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	fdb.Resume()
	if n := countEvents(t, env); n != 200 {
		t.Errorf("table holds %d items, want the 200 written before the outage", n)
	}
}

// TestAsyncWriterCloseLogsPerBatch closes a writer without OnError whose
// DynamoDB is stalled with a context that ends: the undelivered events are
// logged one line per batch, not one per event, and every line counts its
// events.
func TestAsyncWriterCloseLogsPerBatch(t *testing.T) {
	env := newWriteEnv(t)
	fdb, err := faultdb.New(env.Client, faultdb.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tr := newWriteTracker(t, env, fdb, tracker.Config{})
	var buf syncBuffer
	const workers, batch, n = 2, 25, 1000
	w, err := tr.NewAsyncWriter(tracker.AsyncConfig{
		Workers: workers, BatchSize: batch,
		Logger: slog.New(slog.NewJSONHandler(&buf, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	fdb.Stall()
	defer fdb.Resume()
	ctx := testCtx(t, time.Minute)
	for i := range n {
		e := tracker.Event{UserID: "stalled", Type: "click"}
		if i%2 == 0 {
			e.ID = "c-" + strconv.Itoa(i) // a conditional PutItem; the others go in BatchWriteItem
		}
		if err := w.Put(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	closeCtx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := w.Close(closeCtx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v, want context.DeadlineExceeded", err)
	}
	lines, total := 0, 0
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var rec struct {
			Level  string
			Msg    string
			Events int
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec.Level != "ERROR" {
			continue
		}
		lines++
		total += rec.Events
	}
	t.Logf("%d error lines for %d events", lines, total)
	if total != n || lines > n/batch {
		t.Errorf("%d error lines counting %d events, want %d events in at most %d lines", lines, total, n, n/batch)
	}
	if s := w.Stats(); s.Failed != n {
		t.Errorf("stats %+v, want %d failed", s, n)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAsyncWriterDropPolicy fills the queue of a writer whose DynamoDB is
// stalled: Put refuses with ErrQueueFull at once and counts drops; every
// accepted event is written after the stall.
func TestAsyncWriterDropPolicy(t *testing.T) {
	env := newWriteEnv(t)
	fdb, err := faultdb.New(env.Client, faultdb.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tr := newWriteTracker(t, env, fdb, tracker.Config{})
	w, err := tr.NewAsyncWriter(tracker.AsyncConfig{QueueSize: 10, Workers: 1, BatchSize: 5, FullPolicy: tracker.DropWhenFull})
	if err != nil {
		t.Fatal(err)
	}
	fdb.Stall()
	ctx := testCtx(t, time.Minute)
	var fulls int64
	for i := range 200 {
		switch err := w.Put(ctx, tracker.Event{UserID: "dropper", Type: "impression", Attributes: map[string]string{"seq": strconv.Itoa(i)}}); {
		case errors.Is(err, tracker.ErrQueueFull):
			fulls++
		case err != nil:
			t.Fatal(err)
		}
	}
	s := w.Stats()
	if s.Dropped == 0 || s.Dropped != fulls || s.Accepted+s.Dropped != 200 {
		t.Errorf("stats = %+v with %d ErrQueueFull: want drops counted and accepted + dropped = 200", s, fulls)
	}
	// Capacity while stalled: the queue, the batch a worker holds and the
	// batch the dispatcher is handing over.
	if s.Accepted > 10+5+5 {
		t.Errorf("%d accepted with a queue of 10 and batches of 5", s.Accepted)
	}
	fdb.Resume()
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	s = w.Stats()
	if s.Written != s.Accepted || s.Failed != 0 {
		t.Errorf("after Close: %+v, want every accepted event written", s)
	}
	if n := countEvents(t, env); int64(n) != s.Accepted {
		t.Errorf("table holds %d items, want %d", n, s.Accepted)
	}
}

// fillStalled returns a writer on a stalled DynamoDB whose queue is full:
// one event in the worker's call, one in the batch the dispatcher hands
// over, one in the queue (the three Puts may wait while the dispatcher
// catches up, hence WaitWhenFull for them).
func fillStalled(t *testing.T, policy tracker.FullPolicy, maxBlock time.Duration) (*tracker.AsyncWriter, *faultdb.DB) {
	t.Helper()
	env := newWriteEnv(t)
	fdb, err := faultdb.New(env.Client, faultdb.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tr := newWriteTracker(t, env, fdb, tracker.Config{})
	w, err := tr.NewAsyncWriter(tracker.AsyncConfig{QueueSize: 1, Workers: 1, BatchSize: 1, FullPolicy: policy, MaxBlock: maxBlock})
	if err != nil {
		t.Fatal(err)
	}
	fdb.Stall()
	t.Cleanup(fdb.Resume)
	ctx := testCtx(t, time.Minute)
	for i := 0; w.Stats().Accepted < 3; i++ {
		switch err := w.Put(ctx, tracker.Event{UserID: "blocker", Type: "click"}); {
		case err == nil:
		case errors.Is(err, tracker.ErrQueueFull) && i < 1000:
			time.Sleep(time.Millisecond) // the dispatcher has not caught up yet
		default:
			t.Fatal(err)
		}
	}
	return w, fdb
}

// TestAsyncWriterBlockPolicy checks the default policy: on a full queue Put
// waits at most MaxBlock, even with a context that never ends, then refuses
// with ErrQueueFull and counts a drop; room that appears within MaxBlock
// takes the event; a context that ends first ends the wait; Close releases a
// waiting Put with ErrClosed.
func TestAsyncWriterBlockPolicy(t *testing.T) {
	w, fdb := fillStalled(t, tracker.BlockWhenFull, 0)
	ev := tracker.Event{UserID: "blocker", Type: "click"}
	// context.Background never ends: only MaxBlock (DefaultMaxBlock) ends the wait.
	if err := w.Put(context.Background(), ev); !errors.Is(err, tracker.ErrQueueFull) {
		t.Fatalf("Put on a full queue = %v, want ErrQueueFull after MaxBlock", err)
	}
	if s := w.Stats(); s.Accepted != 3 || s.Dropped != 1 {
		t.Fatalf("stats %+v, want 3 accepted, 1 dropped", s)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.Put(cancelled, ev); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with an ended context on a full queue = %v, want context.Canceled", err)
	}
	fdb.Resume()
	if err := w.Close(testCtx(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	if s := w.Stats(); s.Written != 3 || s.Dropped != 1 {
		t.Errorf("stats %+v, want the 3 accepted events written", s)
	}

	// Room within MaxBlock: the event is taken.
	w, fdb = fillStalled(t, tracker.BlockWhenFull, time.Hour)
	putErr := make(chan error, 1)
	go func() { putErr <- w.Put(context.Background(), ev) }()
	fdb.Resume()
	if err := <-putErr; err != nil {
		t.Errorf("Put with room freed within MaxBlock = %v, want nil", err)
	}
	if err := w.Close(testCtx(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	if s := w.Stats(); s.Written != 4 || s.Dropped != 0 {
		t.Errorf("stats %+v, want 4 written", s)
	}

	// Close releases a Put waiting under a long MaxBlock.
	w, fdb = fillStalled(t, tracker.BlockWhenFull, time.Hour)
	closeErr := make(chan error, 1)
	go func() { putErr <- w.Put(context.Background(), ev) }()
	go func() { closeErr <- w.Close(context.Background()) }()
	if err := <-putErr; !errors.Is(err, tracker.ErrClosed) {
		t.Errorf("Put blocked during Close = %v, want ErrClosed", err)
	}
	fdb.Resume()
	if err := <-closeErr; err != nil {
		t.Fatal(err)
	}
}

// TestAsyncWriterWaitPolicy checks that under WaitWhenFull a Put on a full
// queue waits until its context ends, and that Close releases a waiting Put
// with ErrClosed; nothing is dropped.
func TestAsyncWriterWaitPolicy(t *testing.T) {
	w, fdb := fillStalled(t, tracker.WaitWhenFull, 0)
	ctx := testCtx(t, time.Minute)
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := w.Put(short, tracker.Event{UserID: "blocker", Type: "click"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Put on a full queue = %v, want an error wrapping context.DeadlineExceeded", err)
	}
	accepted := w.Stats().Accepted
	if accepted != 3 {
		t.Fatalf("accepted %d, want 3", accepted)
	}
	putErr := make(chan error)
	go func() { putErr <- w.Put(context.Background(), tracker.Event{UserID: "blocker", Type: "click"}) }()
	closeErr := make(chan error)
	go func() { closeErr <- w.Close(context.Background()) }()
	if err := <-putErr; !errors.Is(err, tracker.ErrClosed) {
		t.Errorf("Put blocked during Close = %v, want ErrClosed", err)
	}
	fdb.Resume()
	if err := <-closeErr; err != nil {
		t.Fatal(err)
	}
	if s := w.Stats(); s.Accepted != accepted || s.Written != accepted || s.Dropped != 0 {
		t.Errorf("stats = %+v, want the %d accepted events written, none dropped", s, accepted)
	}
}

// TestAsyncWriterFlush checks that Flush writes a partial batch at once
// (Linger is an hour) and returns only when it is written, and that it gives
// up when its context ends first.
func TestAsyncWriterFlush(t *testing.T) {
	env := newWriteEnv(t)
	fdb, err := faultdb.New(env.Client, faultdb.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tr := newWriteTracker(t, env, fdb, tracker.Config{})
	w, err := tr.NewAsyncWriter(tracker.AsyncConfig{Linger: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(testCtx(t, time.Minute))
	ctx := testCtx(t, time.Minute)
	put := func(n int) {
		for range n {
			if err := w.Put(ctx, tracker.Event{UserID: "flusher", Type: "search"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for round := 1; round <= 3; round++ {
		put(7)
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if s := w.Stats(); s.Written != int64(7*round) {
			t.Errorf("round %d: written %d after Flush, want %d", round, s.Written, 7*round)
		}
		if n := countEvents(t, env); n != 7*round {
			t.Errorf("round %d: table holds %d items after Flush, want %d", round, n, 7*round)
		}
	}
	fdb.Stall()
	put(1)
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := w.Flush(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Flush while DynamoDB is stalled = %v, want context.DeadlineExceeded", err)
	}
	fdb.Resume()
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if s := w.Stats(); s.Written != 22 || s.Failed != 0 {
		t.Errorf("stats = %+v, want 22 written", s)
	}
}

// TestAsyncWriterDuplicateKeys puts events with caller-supplied IDs that
// share a key within one batch: identical copies are written (one item), a
// conflicting one fails with ErrDuplicateEvent; BatchWriteItem never sees a
// request with duplicate keys.
func TestAsyncWriterDuplicateKeys(t *testing.T) {
	env := newWriteEnv(t)
	tr := newWriteTracker(t, env, nil, tracker.Config{})
	var failed []error
	var mu sync.Mutex
	w, err := tr.NewAsyncWriter(tracker.AsyncConfig{Linger: time.Hour, OnError: func(e tracker.Event, err error) {
		mu.Lock()
		defer mu.Unlock()
		failed = append(failed, err)
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t, time.Minute)
	at := time.Now().Add(-time.Minute)
	e := tracker.Event{UserID: "dup", Type: "purchase", At: at, ID: "order-1001", Attributes: map[string]string{"sku": "A-1"}}
	conflict := e
	conflict.Attributes = map[string]string{"sku": "B-2"}
	other := tracker.Event{UserID: "dup", Type: "purchase", At: at, ID: "order-1002"}
	for _, ev := range []tracker.Event{e, other, e, conflict, e} {
		if err := w.Put(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	s := w.Stats()
	if s.Accepted != 5 || s.Written != 4 || s.Failed != 1 {
		t.Errorf("stats = %+v, want 5 accepted, 4 written, 1 failed", s)
	}
	if len(failed) != 1 || !errors.Is(failed[0], tracker.ErrDuplicateEvent) {
		t.Errorf("OnError got %v, want one ErrDuplicateEvent", failed)
	}
	items := queryUser(t, env, "dup")
	if len(items) != 2 {
		t.Fatalf("%d items, want 2", len(items))
	}
	if got := stringAt(items[0], "attributes.sku"); got != "A-1" {
		t.Errorf("order-1001 has sku %q, want the first event's A-1", got)
	}
}

// TestAsyncWriterPermanentErrors checks that errors a retry cannot fix fail
// the events at once, and that retries end after MaxAttempts.
func TestAsyncWriterPermanentErrors(t *testing.T) {
	env := newWriteEnv(t)
	t.Run("missing table", func(t *testing.T) {
		tr, err := tracker.New(env.Client, tracker.Config{EventsTable: "missing-" + env.EventsTable})
		if err != nil {
			t.Fatal(err)
		}
		var errs []error
		w, err := tr.NewAsyncWriter(tracker.AsyncConfig{OnError: func(_ tracker.Event, err error) { errs = append(errs, err) }, Workers: 1})
		if err != nil {
			t.Fatal(err)
		}
		ctx := testCtx(t, time.Minute)
		for range 30 {
			if err := w.Put(ctx, tracker.Event{UserID: "u", Type: "login"}); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(ctx); err != nil {
			t.Fatal(err)
		}
		s := w.Stats()
		if s.Failed != 30 || s.Retried != 0 || s.Written != 0 {
			t.Errorf("stats = %+v, want 30 failed without retries", s)
		}
		var nf *types.ResourceNotFoundException
		if len(errs) != 30 || !errors.As(errs[0], &nf) {
			t.Errorf("OnError got %d errors (first %v), want 30 ResourceNotFoundException", len(errs), errs)
		}
	})
	t.Run("retries exhausted", func(t *testing.T) {
		fdb, err := faultdb.New(env.Client, faultdb.Config{ThrottleRate: 1})
		if err != nil {
			t.Fatal(err)
		}
		tr := newWriteTracker(t, env, fdb, tracker.Config{})
		var errs []error
		w, err := tr.NewAsyncWriter(tracker.AsyncConfig{
			Workers: 1,
			Retry:   tracker.RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond},
			OnError: func(_ tracker.Event, err error) { errs = append(errs, err) },
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx := testCtx(t, time.Minute)
		for range 10 {
			if err := w.Put(ctx, tracker.Event{UserID: "u", Type: "login"}); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(ctx); err != nil {
			t.Fatal(err)
		}
		s := w.Stats()
		if s.Failed != 10 || s.Retried != 20 || s.Written != 0 {
			t.Errorf("stats = %+v, want 10 failed after 2 retries each", s)
		}
		var pte *types.ProvisionedThroughputExceededException
		if len(errs) != 10 || !errors.As(errs[0], &pte) {
			t.Errorf("OnError got %v, want 10 ProvisionedThroughputExceededException", errs)
		}
		if n := countEvents(t, env); n != 0 {
			t.Errorf("%d items written", n)
		}
	})
}

// TestLostResponseRetryAddsNoStreamRecord checks the claim that makes
// BatchWriteItem without conditions safe: when a write reaches DynamoDB but
// its response is lost, the retry rewrites the same item with identical
// content, which changes nothing, so the table's stream (and the lake it
// feeds) sees each event once.
func TestLostResponseRetryAddsNoStreamRecord(t *testing.T) {
	env := dynamolocal.NewEnv(t) // with the NEW_IMAGE stream
	fdb, err := faultdb.New(env.Client, faultdb.Config{Seed: 3, TimeoutAfterRate: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	tr := newWriteTracker(t, env, fdb, tracker.Config{})
	w, err := tr.NewAsyncWriter(tracker.AsyncConfig{
		Workers: 1, // one call at a time: the seed decides which calls lose their response
		Retry:   tracker.RetryPolicy{MaxAttempts: 20, BaseDelay: time.Millisecond},
		OnError: func(e tracker.Event, err error) { t.Errorf("event %s failed: %v", e.ID, err) },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t, 2*time.Minute)
	const n = 100
	for i := range n {
		if err := w.Put(ctx, tracker.Event{UserID: "stream-" + strconv.Itoa(i%7), Type: "page_view"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if f := fdb.Stats(); f.TimedOutAfter == 0 {
		t.Fatalf("no response was lost (%+v): the test proves nothing", f)
	}
	if n2 := countEvents(t, env); n2 != n {
		t.Fatalf("%d items, want %d", n2, n)
	}

	if kinds := streamRecordKinds(t, env); kinds["INSERT"] != n || len(kinds) != 1 {
		t.Errorf("stream records by kind: %v, want exactly %d INSERT", kinds, n)
	}
}

// streamRecordKinds counts the records of env's events table stream by
// kind (INSERT, MODIFY, REMOVE).
func streamRecordKinds(t *testing.T, env *dynamolocal.Env) map[string]int {
	t.Helper()
	ctx := testCtx(t, 2*time.Minute)
	streams, err := env.Server.StreamsClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := env.Client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(env.EventsTable)})
	if err != nil {
		t.Fatal(err)
	}
	sd, err := streams.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: desc.Table.LatestStreamArn})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, sh := range sd.StreamDescription.Shards {
		it, err := streams.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{
			StreamArn: desc.Table.LatestStreamArn, ShardId: sh.ShardId, ShardIteratorType: streamtypes.ShardIteratorTypeTrimHorizon,
		})
		if err != nil {
			t.Fatal(err)
		}
		for iter := it.ShardIterator; iter != nil; {
			out, err := streams.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range out.Records {
				kinds[string(r.EventName)]++
			}
			if len(out.Records) == 0 {
				break
			}
			iter = out.NextShardIterator
		}
	}
	return kinds
}
