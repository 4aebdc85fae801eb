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

func TestFactCacheBoundTTLAndCopies(t *testing.T) {
	c := newFactCache(100, time.Minute)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return now }
	for i := range 1000 {
		c.put(fmt.Sprint("u#", i), facts{lastSeen: "x"})
		if n := len(c.cur) + len(c.old); n > 100 {
			t.Fatalf("cache holds %d actors, bound 100", n)
		}
	}
	if _, ok := c.get("u#999"); !ok {
		t.Error("the latest actor forgotten")
	}
	if _, ok := c.get("u#0"); ok {
		t.Error("the earliest actor still remembered")
	}
	c.put("a#v", facts{ids: []string{"a"}})
	f, _ := c.get("a#v")
	f.ids[0] = "changed"
	if g, _ := c.get("a#v"); g.ids[0] != "a" {
		t.Error("get returned the cache's own slice")
	}
	now = now.Add(61 * time.Second)
	if _, ok := c.get("a#v"); ok {
		t.Error("facts older than the TTL used")
	}
	var none *factCache
	none.put("x", facts{})
	none.wrote("x", &applyPlan{d: &SummaryDelta{}})
	if _, ok := none.get("x"); ok {
		t.Error("a nil cache remembered")
	}
}
