package tracker

import (
	"testing"
	"time"
)

func TestFilteredPageSize(t *testing.T) {
	cases := []struct {
		name                       string
		need, found, read, maxRead int
		want                       int
	}{
		{"first page: 4 per match, at least 100", 10, 0, 0, 5000, 100},
		{"first page for a large limit", 200, 0, 0, 5000, 800},
		{"nothing matched yet: double", 10, 0, 100, 5000, 200},
		{"extrapolate 1 in 100", 9, 1, 100, 5000, 1080},
		{"extrapolate a common type", 25, 25, 100, 5000, 120},
		{"never below need+1", 50, 100, 100, 5000, 60},
		{"capped by the budget", 9, 1, 100, 500, 400},
		{"at least one", 9, 0, 499, 500, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := filteredPageSize(tc.need, tc.found, tc.read, tc.maxRead); got != tc.want {
				t.Errorf("filteredPageSize(%d, %d, %d, %d) = %d, want %d", tc.need, tc.found, tc.read, tc.maxRead, got, tc.want)
			}
		})
	}
}

func TestRangeBound(t *testing.T) {
	cases := []struct {
		in   time.Time
		want string
	}{
		{time.Time{}, ""},
		{time.Date(2026, 2, 28, 23, 59, 59, 999_000_000, time.UTC), "2026-02-28T23:59:59.999Z"},
		{time.Date(2026, 2, 28, 23, 59, 59, 999_000_001, time.UTC), "2026-03-01T00:00:00.000Z"},
		{time.Date(2026, 2, 28, 19, 0, 0, 0, time.FixedZone("EST", -5*3600)), "2026-03-01T00:00:00.000Z"},
	}
	for _, tc := range cases {
		got, err := rangeBound("recent", "from", tc.in)
		if err != nil || got != tc.want {
			t.Errorf("rangeBound(%v) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}
