// Package backoff is eventlake's one retry delay: capped exponential backoff
// with jitter, and a sleep that ends when its context is done. The tracker's
// AsyncWriter, the stream-to-Firehose relay, the summary consumer, the local
// event source and the local Firehose endpoint all wait between retries with
// it.
//
//	p := backoff.Policy{Base: 100 * time.Millisecond, Max: 5 * time.Second, Jitter: backoff.Equal}
//	for attempt := 1; ; attempt++ {
//		if err := call(ctx); err == nil || !retryable(err) {
//			return err
//		}
//		if err := p.Wait(ctx, attempt); err != nil {
//			return err // ctx is done
//		}
//	}
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Defaults for the zero Policy.
const (
	DefaultBase = 100 * time.Millisecond
	DefaultMax  = 10 * time.Second
)

// Jitter says how a delay is drawn below its exponential cap d.
type Jitter int

const (
	// Full draws the delay uniformly from [0, d]. Callers that were
	// throttled together spread out the most: the choice for many writers
	// competing for one table.
	Full Jitter = iota
	// Equal draws the delay uniformly from [d/2, d]: every retry waits at
	// least half the cap, which bounds how often one caller can retry.
	Equal
)

// Policy shapes the delay before each retry. The zero value means defaults:
// DefaultBase, DefaultMax and Full jitter. A Policy is a value; it is safe to
// use from several goroutines.
type Policy struct {
	// Base is the cap of the first retry's delay; it doubles with each
	// retry up to Max. Zero or negative means DefaultBase.
	Base time.Duration
	// Max caps every delay. Zero or negative means DefaultMax; a Max below
	// Base caps the first delay too.
	Max time.Duration
	// Jitter draws the delay below the cap; the zero value is Full.
	Jitter Jitter
}

// Cap returns the exponential cap of the delay before retry n (n >= 1; a
// smaller n counts as 1): min(Max, Base * 2^(n-1)), without overflow for any
// n.
func (p Policy) Cap(n int) time.Duration {
	base, max := p.Base, p.Max
	if base <= 0 {
		base = DefaultBase
	}
	if max <= 0 {
		max = DefaultMax
	}
	d := base
	for i := 1; i < n && d < max; i++ {
		if d > max/2 {
			return max // doubling would pass max, or overflow
		}
		d *= 2
	}
	return min(d, max)
}

// Delay returns the wait before retry n (n >= 1; a smaller n counts as 1): a
// random duration below Cap(n) drawn as the Jitter says. It draws from
// math/rand/v2's top-level generator, which is safe for concurrent use.
func (p Policy) Delay(n int) time.Duration {
	d := p.Cap(n)
	low := time.Duration(0)
	if p.Jitter == Equal {
		low = d / 2
	}
	// In uint64, d-low+1 cannot overflow even for d = MaxInt64.
	return low + time.Duration(rand.Uint64N(uint64(d-low)+1))
}

// Wait sleeps for Delay(n), or until ctx is done; see Sleep.
func (p Policy) Wait(ctx context.Context, n int) error {
	return Sleep(ctx, p.Delay(n))
}

// Sleep waits for d or until ctx is done. It returns nil when d has passed
// and ctx.Err() when ctx ended first; a ctx that is already done returns its
// error at once, whatever d is. A d of zero or less does not wait.
func Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
