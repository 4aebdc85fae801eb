package admin

import (
	"net/http"
	"testing"
	"time"
)

func TestRelative(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		ago  time.Duration
		want string
	}{
		{0, "just now"},
		{30 * time.Second, "just now"},
		{-30 * time.Second, "just now"},
		{time.Minute, "a minute ago"},
		{5 * time.Minute, "5 minutes ago"},
		{50 * time.Minute, "an hour ago"},
		{3 * time.Hour, "3 hours ago"},
		{25 * time.Hour, "a day ago"},
		{49 * time.Hour, "2 days ago"},
		{30 * 24 * time.Hour, "a month ago"},
		{100 * 24 * time.Hour, "3 months ago"},
		{400 * 24 * time.Hour, "a year ago"},
		{1000 * 24 * time.Hour, "3 years ago"},
		{-2 * time.Hour, "in 2 hours"},
	}
	for _, tc := range cases {
		if got := relative(now, now.Add(-tc.ago)); got != tc.want {
			t.Errorf("relative(%s ago) = %q, want %q", tc.ago, got, tc.want)
		}
	}
}

func TestWantsJSON(t *testing.T) {
	cases := []struct {
		query, accept string
		want          bool
	}{
		{"", "", false},
		{"", "*/*", false},
		{"", "application/json", true},
		{"", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", false},
		{"", "application/json, text/html", true},
		{"", "application/json;q=0, text/html", false},
		{"format=json", "text/html", true},
		{"format=html", "application/json", false},
	}
	for _, tc := range cases {
		r, _ := http.NewRequest("GET", "/?"+tc.query, nil)
		r.Header.Set("Accept", tc.accept)
		if got := wantsJSON(r); got != tc.want {
			t.Errorf("wantsJSON(%q, Accept %q) = %v, want %v", tc.query, tc.accept, got, tc.want)
		}
	}
}
