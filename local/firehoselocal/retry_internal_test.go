package firehoselocal

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a time that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// countingSink fails every delivery and counts the attempts.
type countingSink struct{ attempts atomic.Int64 }

func (s *countingSink) Deliver(context.Context, Object) error {
	s.attempts.Add(1)
	return errors.New("disk full")
}

// lockedBuffer is a log destination safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), "\n")
}

// TestRetriesBackOff: an object the sink refuses is retried after 200 ms,
// then twice as late each time up to 30 s, and logged once per attempt,
// not once per tick. The clock is a fake one, so the loop (which also
// retries) sees the same time as the test and nothing depends on timing.
func TestRetriesBackOff(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	sink := &countingSink{}
	var logs lockedBuffer
	s, err := New(Options{Sink: sink, Now: clock.Now, BufferInterval: 50 * time.Millisecond,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	s.deliver(ctx, Object{Stream: "events", Key: "events/x.gz", Data: []byte("a\n")})

	var want []time.Duration
	for n := 1; n <= 10; n++ {
		want = append(want, retryDelay(n))
	}
	if want[0] != 200*time.Millisecond || want[1] != 400*time.Millisecond || want[8] != 30*time.Second || want[9] != 30*time.Second {
		t.Fatalf("delays %v: want 200ms doubling to 30s", want)
	}
	for n, d := range want {
		attempts := int64(n + 1)
		// Just before the backoff has passed, nothing is retried, however
		// often the loop looks.
		clock.Add(d - time.Millisecond)
		for range 3 {
			s.retryFailed(ctx, false)
		}
		if got := sink.attempts.Load(); got != attempts {
			t.Fatalf("after %v of a %v backoff: %d attempts, want %d", d-time.Millisecond, d, got, attempts)
		}
		clock.Add(time.Millisecond)
		s.retryFailed(ctx, false) // or the loop did it first
		if got := sink.attempts.Load(); got != attempts+1 {
			t.Fatalf("after the %v backoff: %d attempts, want %d", d, got, attempts+1)
		}
	}
	if got, attempts := logs.lines(), int(sink.attempts.Load()); got != attempts {
		t.Errorf("%d log lines for %d attempts", got, attempts)
	}
	if !strings.Contains(logs.b.String(), `"attempt":11,"retry_in":"30s"`) {
		t.Errorf("the log does not say the attempt and the wait:\n%s", logs.b.String())
	}
	// Flush retries at once, whatever the backoff.
	before := sink.attempts.Load()
	if err := s.Flush(ctx); err == nil || sink.attempts.Load() != before+1 {
		t.Errorf("Flush = %v after %d attempts, want one more failed attempt", err, sink.attempts.Load()-before)
	}
}
