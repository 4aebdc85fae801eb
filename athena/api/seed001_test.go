package api_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eventlake/eventlake/athena/api"
	"github.com/eventlake/eventlake/athena/lakegen"
)

// seed001 computes, from the generated events, seed 001's answer for the
// hour before at: the identified people (an anonymous ID counts as the user
// of its earliest event carrying both IDs) with a click or an impression,
// and the clicks and impressions, bots' left out.
func seed001(events []lakegen.Event, at time.Time) string {
	link := map[string]lakegen.Event{}
	for _, e := range events {
		if e.UserID == "" || e.AnonymousID == "" {
			continue
		}
		if old, ok := link[e.AnonymousID]; !ok || e.EventAt+"|"+e.EventID < old.EventAt+"|"+old.EventID {
			link[e.AnonymousID] = e
		}
	}
	users := map[string]bool{}
	clicks, impressions := 0, 0
	for _, e := range events {
		ts := e.Time()
		if (e.EventType != "click" && e.EventType != "impression") || e.IsBot || ts.Before(at.Add(-time.Hour)) || !ts.Before(at) {
			continue
		}
		u := e.UserID
		if u == "" {
			u = link[e.AnonymousID].UserID
		}
		if u != "" {
			users[u] = true
		}
		if e.EventType == "click" {
			clicks++
		} else {
			impressions++
		}
	}
	return fmt.Sprintf("unique_users,%d\nclicks,%d\nimpressions,%d", len(users), clicks, impressions)
}

// TestSeed001 asks GET /analytics?timestamp=<unix seconds> for hours of the
// generated history and compares each answer, byte for byte, with the
// counts computed in Go from the events.
func TestSeed001(t *testing.T) {
	l := newLake(t, time.Now())
	h := newAPI(t, api.Config{Runner: l.db})
	// The busiest hour of clicks and impressions, an hour that is not on
	// the hour, and one before the history (zeros).
	perHour := map[time.Time]int{}
	var busiest time.Time
	for _, e := range l.ds.Events {
		if e.EventType == "click" || e.EventType == "impression" {
			hr := e.Time().Truncate(time.Hour).Add(time.Hour)
			perHour[hr]++
			if perHour[hr] > perHour[busiest] {
				busiest = hr
			}
		}
	}
	first := l.ds.Events[0].Time()
	for _, at := range []time.Time{busiest, busiest.Add(-17*time.Minute - 3*time.Second), first.Add(-time.Hour)} {
		t.Run(at.Format(time.RFC3339), func(t *testing.T) {
			want := seed001(l.ds.Events, at)
			status, hdr, body := get(t, h, "/analytics?timestamp="+strconv.FormatInt(at.Unix(), 10))
			if status != http.StatusOK || hdr.Get("Content-Type") != "text/plain; charset=utf-8" || body != want {
				t.Errorf("%d %s:\n%q\nwant\n%q", status, hdr.Get("Content-Type"), body, want)
			}
		})
	}
	if want := seed001(l.ds.Events, busiest); strings.HasPrefix(want, "unique_users,0\n") || strings.HasSuffix(want, "impressions,0") {
		t.Errorf("the busiest hour %v has no users or impressions: %q", busiest, want)
	}
	for _, c := range []struct{ query, want string }{
		{"", "timestamp: required once, in Unix seconds"},
		{"timestamp=", "timestamp: required once, in Unix seconds"},
		{"timestamp=1&timestamp=2", "timestamp: required once"},
		{"timestamp=soon", `timestamp: "soon" is not an ISO 8601 time`},
		{"timestamp=1732269600000", "milliseconds? give seconds"},
		{"timestamp=1732269600&user=3", "user: unknown parameter; /analytics takes timestamp"},
		{"timestamp=1732269600&max_age=x", "max_age"},
		{"timestamp=%zz", "the query string does not parse"},
	} {
		status, hdr, body := get(t, h, "/analytics?"+c.query)
		if status != http.StatusBadRequest || !strings.Contains(body, c.want) || hdr.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Errorf("?%s: %d %q, want 400 with %q", c.query, status, body, c.want)
		}
	}
}
