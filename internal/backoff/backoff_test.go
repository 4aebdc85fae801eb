package backoff_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/eventlake/eventlake/internal/backoff"
)

func TestCap(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name   string
		policy backoff.Policy
		n      int
		want   time.Duration
	}{
		{"zero policy, first retry", backoff.Policy{}, 1, backoff.DefaultBase},
		{"zero policy, doubles", backoff.Policy{}, 4, 8 * backoff.DefaultBase},
		{"zero policy, capped", backoff.Policy{}, 20, backoff.DefaultMax},
		{"n below 1 counts as 1", backoff.Policy{Base: 10 * ms}, -3, 10 * ms},
		{"doubling", backoff.Policy{Base: 10 * ms, Max: time.Second}, 3, 40 * ms},
		{"capped by Max", backoff.Policy{Base: 10 * ms, Max: 50 * ms}, 4, 50 * ms},
		{"Max below Base", backoff.Policy{Base: time.Second, Max: 50 * ms}, 1, 50 * ms},
		{"negative means default", backoff.Policy{Base: -1, Max: -1}, 2, 2 * backoff.DefaultBase},
		{"huge n does not overflow", backoff.Policy{Base: time.Nanosecond, Max: math.MaxInt64}, 1000, math.MaxInt64},
		{"huge n, default max", backoff.Policy{}, math.MaxInt, backoff.DefaultMax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.policy.Cap(tt.n); got != tt.want {
				t.Errorf("Cap(%d) = %v, want %v", tt.n, got, tt.want)
			}
		})
	}
}

// TestDelay draws many delays per retry and checks each jitter's range, and
// that the draws spread over it.
func TestDelay(t *testing.T) {
	const draws = 2000
	for _, tt := range []struct {
		name   string
		jitter backoff.Jitter
		low    func(d time.Duration) time.Duration // smallest allowed delay
	}{
		{"full", backoff.Full, func(time.Duration) time.Duration { return 0 }},
		{"equal", backoff.Equal, func(d time.Duration) time.Duration { return d / 2 }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := backoff.Policy{Base: 8 * time.Millisecond, Max: time.Second, Jitter: tt.jitter}
			for _, n := range []int{1, 2, 5, 8, 100} {
				if n == 100 {
					p.Max = math.MaxInt64 // the widest range there is
				}
				d := p.Cap(n)
				lo, hi := d, time.Duration(0)
				for range draws {
					got := p.Delay(n)
					if got < tt.low(d) || got > d {
						t.Fatalf("Delay(%d) = %v, outside [%v, %v]", n, got, tt.low(d), d)
					}
					lo, hi = min(lo, got), max(hi, got)
				}
				// 2000 uniform draws reach the outer tenths of the range
				// with certainty for any practical purpose (0.9^2000).
				span := d - tt.low(d)
				if lo > tt.low(d)+span/10 || hi < d-span/10 {
					t.Errorf("Delay(%d) drew only [%v, %v] of [%v, %v]: no jitter", n, lo, hi, tt.low(d), d)
				}
			}
		})
	}
	t.Run("zero value is full jitter", func(t *testing.T) {
		var p backoff.Policy
		below := false
		for range draws {
			if p.Delay(1) < backoff.DefaultBase/2 {
				below = true
				break
			}
		}
		if !below {
			t.Errorf("the zero Policy never drew below half the cap: not full jitter")
		}
	})
}

func TestSleep(t *testing.T) {
	t.Run("waits", func(t *testing.T) {
		start := time.Now()
		if err := backoff.Sleep(context.Background(), 5*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if waited := time.Since(start); waited < 5*time.Millisecond {
			t.Errorf("returned after %v", waited)
		}
	})
	t.Run("zero does not wait", func(t *testing.T) {
		if err := backoff.Sleep(context.Background(), 0); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ends when the context is cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- backoff.Sleep(ctx, time.Hour) }()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Sleep = %v, want context.Canceled", err)
		}
	})
	t.Run("a done context never sleeps", func(t *testing.T) {
		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		defer cancel()
		for _, d := range []time.Duration{-1, 0, time.Hour} {
			if err := backoff.Sleep(ctx, d); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Sleep(%v) = %v, want context.DeadlineExceeded", d, err)
			}
		}
	})
	t.Run("Wait ends with the context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		p := backoff.Policy{Base: time.Hour, Max: time.Hour, Jitter: backoff.Equal}
		if err := p.Wait(ctx, 3); !errors.Is(err, context.Canceled) {
			t.Errorf("Wait = %v, want context.Canceled", err)
		}
	})
}

func BenchmarkDelay(b *testing.B) {
	p := backoff.Policy{Jitter: backoff.Equal}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = p.Delay(i%12 + 1)
	}
}

func ExamplePolicy_Cap() {
	p := backoff.Policy{Base: 100 * time.Millisecond, Max: time.Second, Jitter: backoff.Equal}
	for n := 1; n <= 5; n++ {
		fmt.Printf("retry %d waits %v to %v\n", n, p.Cap(n)/2, p.Cap(n))
	}
	// Output:
	// retry 1 waits 50ms to 100ms
	// retry 2 waits 100ms to 200ms
	// retry 3 waits 200ms to 400ms
	// retry 4 waits 400ms to 800ms
	// retry 5 waits 500ms to 1s
}
