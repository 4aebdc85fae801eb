package api

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/eventlake/eventlake/athena"
)

// ReuseRunner is a Runner that can answer with the result of an earlier
// run no older than maxAge: remote.Runner with Athena's query result reuse.
// The result's Stats.ComputedAt says when it was computed.
type ReuseRunner interface {
	athena.Runner
	RunReusing(ctx context.Context, q athena.Query, args []athena.Arg, maxAge time.Duration) (*athena.Result, error)
}

// CacheStatus says how an answer was obtained.
type CacheStatus string

const (
	// CacheHit: a result computed earlier, young enough.
	CacheHit CacheStatus = "hit"
	// CacheMiss: a run started for this request.
	CacheMiss CacheStatus = "miss"
	// CacheShared: the request joined a run another request had started.
	CacheShared CacheStatus = "shared"
)

// CacheStats counts what the cache did since the handler was made.
type CacheStats struct {
	// Runs is the number of runs started (the Runner's calls); Hits,
	// Shared and Misses count requests (Misses = Runs).
	Runs, Hits, Shared int64
	// Failed counts the runs that returned an error.
	Failed int64
	// Entries is the number of results held now.
	Entries int
}

// cache holds recent results by query and arguments and runs each missing
// result once however many requests want it at the same time. Results are
// held until MaxEntries newer ones push them out, the least recently used
// first; a request takes one only while it is young enough for it.
type cache struct {
	runner  athena.Runner
	reuse   ReuseRunner // runner, when it can reuse results itself
	max     int
	timeout time.Duration
	now     func() time.Time

	mu      sync.Mutex
	entries map[string]*entry
	flights map[flightKey]*flight
	tick    int64 // use counter for the least recently used eviction
	stats   CacheStats
}

type entry struct {
	res        *athena.Result
	computedAt time.Time
	used       int64
}

// flightKey identifies a run: the result's key and the age of an earlier
// result the runner may answer with (0 for a runner without reuse, which
// always runs afresh), so that a request never receives a result older than
// it asked for by joining another's run.
type flightKey struct {
	key   string
	reuse time.Duration
}

type flight struct {
	done       chan struct{}
	res        *athena.Result
	computedAt time.Time
	err        error
}

func newCache(r athena.Runner, maxEntries int, timeout time.Duration, now func() time.Time) *cache {
	c := &cache{runner: r, max: maxEntries, timeout: timeout, now: now,
		entries: map[string]*entry{}, flights: map[flightKey]*flight{}}
	c.reuse, _ = r.(ReuseRunner)
	return c
}

// cacheKey is a result's identity: the query and the literal of every
// argument (Args gives canonical texts).
func cacheKey(q athena.Query, args []athena.Arg) string {
	var b strings.Builder
	b.WriteString(q.Name)
	for _, a := range args {
		b.WriteByte(0)
		b.WriteString(a.Literal())
	}
	return b.String()
}

// get returns the result of q with args computed no longer than maxAge ago
// (maxAge 0: a run that starts now or is under way), running it when there
// is none. A run outlives the requests that wait for it (up to the cache's
// timeout), so that a result computed for a request that gave up serves the
// next one; ctx bounds only this request's wait.
func (c *cache) get(ctx context.Context, q athena.Query, args []athena.Arg, maxAge time.Duration) (*athena.Result, time.Time, CacheStatus, error) {
	key := cacheKey(q, args)
	fk := flightKey{key: key}
	if c.reuse != nil {
		fk.reuse = maxAge.Truncate(time.Minute)
	}
	c.mu.Lock()
	if e := c.entries[key]; e != nil && maxAge > 0 && c.now().Sub(e.computedAt) <= maxAge {
		c.tick++
		e.used = c.tick
		c.stats.Hits++
		c.mu.Unlock()
		return e.res, e.computedAt, CacheHit, nil
	}
	f, shared := c.flights[fk]
	if shared {
		c.stats.Shared++
	} else {
		f = &flight{done: make(chan struct{})}
		c.flights[fk] = f
		c.stats.Runs++
		go c.run(context.WithoutCancel(ctx), fk, f, q, args)
	}
	c.mu.Unlock()
	select {
	case <-f.done:
	case <-ctx.Done():
		return nil, time.Time{}, "", ctx.Err()
	}
	status := CacheMiss
	if shared {
		status = CacheShared
	}
	return f.res, f.computedAt, status, f.err
}

// run computes one result and keeps it.
func (c *cache) run(ctx context.Context, fk flightKey, f *flight, q athena.Query, args []athena.Arg) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	start := c.now()
	var res *athena.Result
	var err error
	if c.reuse != nil {
		res, err = c.reuse.RunReusing(ctx, q, args, fk.reuse)
	} else {
		res, err = c.runner.Run(ctx, q, args)
	}
	if err == nil && res == nil {
		err = fmt.Errorf("query %s: the runner returned no result", q.Name)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.flights, fk)
	f.res, f.err, f.computedAt = res, err, start
	if err != nil {
		c.stats.Failed++
		close(f.done)
		return
	}
	if !res.Stats.ComputedAt.IsZero() && res.Stats.ComputedAt.Before(start) {
		// An earlier run's result (Athena's reuse), or the runner's own
		// submission time, a little before ours.
		f.computedAt = res.Stats.ComputedAt
	}
	close(f.done)
	if e := c.entries[fk.key]; e != nil && e.computedAt.After(f.computedAt) {
		return // a younger result landed meanwhile
	}
	c.tick++
	c.entries[fk.key] = &entry{res: res, computedAt: f.computedAt, used: c.tick}
	if len(c.entries) > c.max {
		oldest, at := "", int64(0)
		for k, e := range c.entries {
			if oldest == "" || e.used < at {
				oldest, at = k, e.used
			}
		}
		delete(c.entries, oldest)
	}
}

func (c *cache) snapshot() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Entries = len(c.entries)
	return s
}
