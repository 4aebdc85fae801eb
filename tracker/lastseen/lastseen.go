// Package lastseen is net/http middleware that records when each signed-in
// user was last seen, for applications that want last seen per request
// rather than per event (seed 002): Middleware.Wrap(next) hands the user of
// every request to a tracker.Summarizer, which writes the user's last_seen
// in the summary table at most once per interval per user, across
// processes.
//
// The request never waits for DynamoDB: the middleware asks the Summarizer
// whether a write is due (in memory, well under a microsecond) and, when it
// is, queues the user for a background writer and calls the next handler at
// once. The writer makes each write with its own timeout (Config.Timeout),
// not the request's context, which ends with the response. When the queue is
// full the user is dropped (Stats.Dropped) and picked up again by a later
// request, since nothing was claimed. Close drains the queue at shutdown.
//
// The user comes from Config.UserID, called with the request before the
// next handler runs: put the middleware inside the one that authenticates
// (so the request already carries the user) and outside the application's
// handlers.
//
// With the summarize Lambda deployed, every event already moves last_seen
// (to the event's time) and counts an action; this middleware adds the
// requests that record no event. It never counts actions (Summarizer.Seen,
// not Touch).
package lastseen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventlake/eventlake/tracker"
)

// Defaults of Config.
const (
	DefaultQueueSize = 1024
	DefaultWorkers   = 2
	DefaultTimeout   = 2 * time.Second
)

// Config configures a Middleware. UserID is required; the zero value of
// every other field means its default.
type Config struct {
	// UserID returns the signed-in user of a request, or "" for a request
	// without one (nothing is recorded). It runs on the request path, for
	// every request: keep it cheap (read what the authentication middleware
	// put in the request's context).
	UserID func(*http.Request) string
	// QueueSize bounds the users waiting for a write; default
	// DefaultQueueSize.
	QueueSize int
	// Workers is the number of background writers; default DefaultWorkers.
	Workers int
	// Timeout bounds one write; default DefaultTimeout.
	Timeout time.Duration
	// Logger receives failed writes at WARN (the user ID and the error);
	// default slog.Default().
	Logger *slog.Logger
}

// Stats counts what a Middleware did since New.
type Stats struct {
	// Requests counts requests with a user.
	Requests int64
	// Queued counts users handed to the writer (a write was due).
	Queued int64
	// Dropped counts due users not queued because the queue was full or the
	// Middleware was closed; a later request queues them again.
	Dropped int64
	// Written counts Seen calls that returned nil (the write happened, or
	// another process had written last_seen within the interval).
	Written int64
	// Failed counts Seen calls that returned an error (logged).
	Failed int64
}

// Middleware records the last seen time of signed-in users. Create it with
// New; it is safe for concurrent use. Close it at shutdown.
type Middleware struct {
	s       *tracker.Summarizer
	cfg     Config
	log     *slog.Logger
	queue   chan string
	mu      sync.Mutex
	pending map[string]struct{} // users queued and not yet written
	closed  bool
	wg      sync.WaitGroup

	requests, queued, dropped, written, failed atomic.Int64
}

// New returns a Middleware writing through s and starts its writers. It
// fails when cfg.UserID is nil, a field is negative or s is nil.
func New(s *tracker.Summarizer, cfg Config) (*Middleware, error) {
	switch {
	case s == nil:
		return nil, errors.New("lastseen: nil Summarizer")
	case cfg.UserID == nil:
		return nil, errors.New("lastseen: Config.UserID is nil: say how to find a request's user")
	case cfg.QueueSize < 0 || cfg.Workers < 0 || cfg.Timeout < 0:
		return nil, errors.New("lastseen: negative QueueSize, Workers or Timeout")
	}
	if cfg.QueueSize == 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.Workers == 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	m := &Middleware{s: s, cfg: cfg, log: cfg.Logger, queue: make(chan string, cfg.QueueSize),
		pending: make(map[string]struct{})}
	if m.log == nil {
		m.log = slog.Default()
	}
	for range cfg.Workers {
		m.wg.Go(m.work)
	}
	return m, nil
}

// Wrap returns a handler that records the request's user, then calls next.
func (m *Middleware) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.Record(m.cfg.UserID(r))
		next.ServeHTTP(w, r)
	})
}

// Record notes that the user was seen now, as Wrap does for a request: it
// queues a write when one is due and returns at once. An empty user ID is
// ignored.
func (m *Middleware) Record(userID string) {
	if userID == "" {
		return
	}
	m.requests.Add(1)
	if !m.s.Due(userID) {
		return
	}
	m.mu.Lock()
	if _, ok := m.pending[userID]; ok {
		m.mu.Unlock()
		return
	}
	if m.closed {
		m.mu.Unlock()
		m.dropped.Add(1)
		return
	}
	select {
	case m.queue <- userID:
		m.pending[userID] = struct{}{}
		m.queued.Add(1)
	default:
		m.dropped.Add(1)
	}
	m.mu.Unlock()
}

func (m *Middleware) work() {
	for user := range m.queue {
		ctx, cancel := context.WithTimeout(context.Background(), m.cfg.Timeout)
		err := m.s.Seen(ctx, user)
		cancel()
		if err != nil {
			m.log.Warn("record last seen", "user_id", user, "error", err)
		}
		m.mu.Lock()
		delete(m.pending, user)
		m.mu.Unlock()
		// Counted last, so that Stats shows a write once it is all done.
		if err != nil {
			m.failed.Add(1)
		} else {
			m.written.Add(1)
		}
	}
}

// Close stops queueing, lets the writers finish what is queued and returns
// when they are done or ctx ends (then with ctx's error; the writers stop on
// their own after the queue, each write bounded by Config.Timeout). Calling
// it again returns nil.
func (m *Middleware) Close(ctx context.Context) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	close(m.queue)
	m.mu.Unlock()
	done := make(chan struct{})
	go func() {
		m.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("lastseen: close: %w", ctx.Err())
	}
}

// Stats returns the counters.
func (m *Middleware) Stats() Stats {
	return Stats{Requests: m.requests.Load(), Queued: m.queued.Load(), Dropped: m.dropped.Load(),
		Written: m.written.Load(), Failed: m.failed.Load()}
}
