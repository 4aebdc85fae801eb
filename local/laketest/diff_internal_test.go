package laketest

import (
	"strings"
	"testing"
	"time"

	"github.com/eventlake/eventlake/tracker"
)

func lakeEvent(typ, user, anon, person string, attrs map[string]string) Event {
	return Event{Event: tracker.Event{Type: typ, UserID: user, AnonymousID: anon, Attributes: attrs,
		At: time.Date(2026, 11, 22, 10, 4, 5, 123e6, time.UTC)}, Person: person, Date: "2026-11-22"}
}

func TestMatch(t *testing.T) {
	e := lakeEvent("page_view", "", "v1", "42", map[string]string{"path": "/pricing", "title": "Pricing"})
	for _, tc := range []struct {
		m    Match
		want bool
	}{
		{Match{}, true},
		{Match{Type: "page_view"}, true},
		{Match{Type: "login"}, false},
		{Match{AnonymousID: "v1", Person: "42"}, true},
		{Match{UserID: "42"}, false}, // the event counts for 42 but does not carry the ID
		{Match{Person: "7"}, false},
		{Match{Attributes: map[string]string{"path": "/pricing"}}, true},
		{Match{Attributes: map[string]string{"path": "/"}}, false},
		{Match{Attributes: map[string]string{"url": ""}}, false}, // absent is not empty
	} {
		if got := tc.m.Matches(e); got != tc.want {
			t.Errorf("%v matches %v = %t, want %t", tc.m, e, got, tc.want)
		}
	}
	if got, want := (Match{Type: "login", Person: "42", Attributes: map[string]string{"b": "2", "a": "1"}}).String(),
		`login person="42" attributes⊇{a="1", b="2"}`; got != want {
		t.Errorf("String() = %s, want %s", got, want)
	}
	if got := (Match{}).String(); got != "any event" {
		t.Errorf("zero Match String() = %s", got)
	}
	if got, want := e.String(), `2026-11-22T10:04:05.123Z page_view anonymous_id="v1" person="42" attributes={path="/pricing", title="Pricing"}`; got != want {
		t.Errorf("Event.String() = %s, want %s", got, want)
	}
}

func TestDiffEvents(t *testing.T) {
	pricing := lakeEvent("page_view", "", "v1", "42", map[string]string{"path": "/pricing"})
	home := lakeEvent("page_view", "", "v1", "42", map[string]string{"path": "/"})
	signup := lakeEvent("signup", "42", "v1", "42", nil)
	for _, tc := range []struct {
		name string
		want []Match
		got  []Event
		ok   bool
		diff []string // lines the diff must hold
	}{
		{name: "equal in another order", ok: true,
			want: []Match{{Type: "signup"}, {Type: "page_view", Attributes: map[string]string{"path": "/"}}, {Type: "page_view"}},
			got:  []Event{pricing, home, signup}},
		{name: "a loose expectation does not take what a strict one needs", ok: true,
			// Greedy matching would give {Type: page_view} the first page
			// view, /pricing, and leave nothing for the /pricing Match.
			want: []Match{{Type: "page_view"}, {Attributes: map[string]string{"path": "/pricing"}}},
			got:  []Event{pricing, home}},
		{name: "missing and unexpected",
			want: []Match{{Type: "signup", UserID: "42"}, {Type: "login", UserID: "42"}},
			got:  []Event{signup, home},
			diff: []string{
				"  signup user_id=\"42\"\n      = 2026-11-22T10:04:05.123Z signup user_id=\"42\" anonymous_id=\"v1\" person=\"42\"\n",
				"- login user_id=\"42\"\n",
				"+ 2026-11-22T10:04:05.123Z page_view anonymous_id=\"v1\" person=\"42\" attributes={path=\"/\"}\n",
			}},
		{name: "one event cannot meet two expectations",
			want: []Match{{Type: "signup"}, {Type: "signup"}},
			got:  []Event{signup},
			diff: []string{"- signup\n"}},
		{name: "nothing expected, nothing there", ok: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			diff, ok := diffEvents(tc.want, tc.got)
			if ok != tc.ok {
				t.Fatalf("ok = %t, want %t; diff:\n%s", ok, tc.ok, diff)
			}
			for _, line := range tc.diff {
				if !strings.Contains(diff, line) {
					t.Errorf("diff lacks %q:\n%s", line, diff)
				}
			}
		})
	}
}

func TestClock(t *testing.T) {
	start := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	now := Clock(start, time.Second)
	seen := make(chan time.Time, 100)
	done := make(chan struct{})
	for range 4 {
		go func() {
			for range 25 {
				seen <- now()
			}
			done <- struct{}{}
		}()
	}
	for range 4 {
		<-done
	}
	close(seen)
	distinct := map[time.Time]bool{}
	for ts := range seen {
		if ts.Before(start) || !ts.Before(start.Add(100*time.Second)) || ts.Sub(start)%time.Second != 0 {
			t.Errorf("reading %v outside the 100 steps from %v", ts, start)
		}
		distinct[ts] = true
	}
	if len(distinct) != 100 {
		t.Errorf("%d distinct readings of 100", len(distinct))
	}
}
