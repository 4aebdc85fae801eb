package main

import (
	"strings"
	"testing"
	"time"

	"github.com/eventlake/eventlake/athena"
)

// TestWindowsStartTheSameDay: the demo's timestamp windows and date windows
// cover the same days: from the first day of the window at midnight to the
// end of today.
func TestWindowsStartTheSameDay(t *testing.T) {
	now := time.Date(2026, 11, 22, 15, 4, 5, 0, time.UTC)
	today := now.Truncate(24 * time.Hour)
	latest := now.Add(-time.Hour)
	for _, window := range []int{1, 7, 30} {
		from := paramValue(athena.Param{Name: "from_day", Kind: athena.Date}, latest, today, window, "u")
		since := paramValue(athena.Param{Name: "since", Kind: athena.Date}, latest, today, window, "u")
		to := paramValue(athena.Param{Name: "to_day", Kind: athena.Date}, latest, today, window, "u")
		for _, name := range []string{"from", "since"} {
			ts := paramValue(athena.Param{Name: name, Kind: athena.Timestamp}, latest, today, window, "u")
			if ts != from+"T00:00:00Z" || ts != since+"T00:00:00Z" {
				t.Errorf("window %d: timestamp %s = %s, date windows start %s", window, name, ts, from)
			}
		}
		end := paramValue(athena.Param{Name: "to", Kind: athena.Timestamp}, latest, today, window, "u")
		if want := today.AddDate(0, 0, 1).Format(time.RFC3339); end != want || to != today.Format("2006-01-02") {
			t.Errorf("window %d: to %s (excluded) and to_day %s (included), want %s and today", window, end, to, want)
		}
		if first, _ := time.Parse("2006-01-02", from); int(today.Sub(first).Hours()/24)+1 != window {
			t.Errorf("window %d: %s..%s is not %d days", window, from, to, window)
		}
	}
}

// TestPuttingLine: the demo says how many users were asked for when fewer
// appear in the generated events.
func TestPuttingLine(t *testing.T) {
	for _, tt := range []struct {
		events, appeared, visitors, asked, days, http int
		want                                          string
	}{
		{50, 2, 4, 3, 7, 5, "Putting 50 fake events of 2 users (3 asked for; with so few events the least active did not act) and 4 anonymous visitors over the last 7 days: 45 through the AsyncWriter, 5 over HTTP"},
		{500, 8, 1, 8, 14, 50, "Putting 500 fake events of 8 users and 1 anonymous visitor over the last 14 days: 450 through the AsyncWriter, 50 over HTTP"},
		{1, 1, 0, 1, 1, 0, "Putting 1 fake event of 1 user and 0 anonymous visitors over the last 1 day: 1 through the AsyncWriter, 0 over HTTP"},
	} {
		if got := puttingLine(tt.events, tt.appeared, tt.visitors, tt.asked, tt.days, tt.http); !strings.HasPrefix(got, tt.want) {
			t.Errorf("puttingLine(%d, %d, %d, %d, %d, %d) = %q, want %q", tt.events, tt.appeared, tt.visitors, tt.asked, tt.days, tt.http, got, tt.want)
		}
	}
}
