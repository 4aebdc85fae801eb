package tracker

import (
	"fmt"
	"testing"
	"time"
)

func TestSeenCacheBoundedAndCorrect(t *testing.T) {
	var c seenCache
	c.init(100)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 1000 {
		if _, due := c.claim(fmt.Sprint("user", i), t0, time.Hour); !due {
			t.Fatalf("user %d not due on first sight", i)
		}
		if n := len(c.cur) + len(c.old); n > 100 {
			t.Fatalf("cache holds %d users, bound 100", n)
		}
	}
	// The latest users are remembered, the earliest forgotten.
	if _, due := c.claim("user999", t0.Add(time.Minute), time.Hour); due {
		t.Error("recent user due again within the interval")
	}
	if _, due := c.claim("user0", t0.Add(time.Minute), time.Hour); !due {
		t.Error("evicted user not due (the table's condition decides then)")
	}
}

func TestSeenCacheClaimReleaseSettle(t *testing.T) {
	var c seenCache
	c.init(10)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		run  func() (time.Time, bool)
		due  bool
	}{
		{"first", func() (time.Time, bool) { return c.claim("u", t0, time.Hour) }, true},
		{"claimed", func() (time.Time, bool) { return c.claim("u", t0.Add(time.Second), time.Hour) }, false},
		{"released", func() (time.Time, bool) {
			c.release("u", t0, time.Time{})
			return c.claim("u", t0.Add(2*time.Second), time.Hour)
		}, true},
		{"settled to an older stored time", func() (time.Time, bool) {
			c.settle("u", t0.Add(2*time.Second), t0.Add(-50*time.Minute))
			return c.claim("u", t0.Add(11*time.Minute), time.Hour)
		}, true},
		{"exactly one interval later", func() (time.Time, bool) { return c.claim("u", t0.Add(71*time.Minute), time.Hour) }, true},
		{"stored time in the future", func() (time.Time, bool) {
			c.settle("u", t0.Add(71*time.Minute), t0.Add(3*time.Hour))
			return c.claim("u", t0.Add(2*time.Hour), time.Hour)
		}, false},
	}
	for _, tc := range cases {
		if _, due := tc.run(); due != tc.due {
			t.Errorf("%s: due = %v, want %v", tc.name, due, tc.due)
		}
	}
}
