package laketest

import (
	"context"
	"fmt"
	"strings"

	"github.com/eventlake/eventlake/tracker"
)

// The assertions below wait until everything put so far is in the lake
// (Drain, at most DefaultDrainTimeout) and fail the test with Fatalf when
// the lake cannot be read (an incomplete lake included), so call them from
// the test's goroutine. A mismatch fails with Errorf and a message that
// lists what the lake holds.

// InLake returns the lake's events m selects, in time order; it fails the
// test when the lake cannot be read.
func (l *Lake) InLake(t T, m Match) []Event {
	t.Helper()
	evs, err := l.Events(context.Background(), m)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return evs
}

// AssertInLake fails t unless an event m selects is in the lake, and
// returns the first such event (the zero Event when none).
func (l *Lake) AssertInLake(t T, m Match) Event {
	t.Helper()
	all := l.InLake(t, Match{})
	for _, e := range all {
		if m.Matches(e) {
			return e
		}
	}
	t.Errorf("laketest: no event with %v is in the lake; the lake holds %s", m, listEvents(all))
	return Event{}
}

// AssertNotInLake fails t when an event m selects is in the lake.
func (l *Lake) AssertNotInLake(t T, m Match) {
	t.Helper()
	if found := l.InLake(t, m); len(found) > 0 {
		t.Errorf("laketest: %d event(s) with %v are in the lake, want none: %s", len(found), m, listEvents(found))
	}
}

// AssertCount fails t unless exactly n events in the lake are selected by m.
func (l *Lake) AssertCount(t T, m Match, n int) {
	t.Helper()
	if found := l.InLake(t, m); len(found) != n {
		t.Errorf("laketest: %d event(s) with %v are in the lake, want %d: %s", len(found), m, n, listEvents(found))
	}
}

// AssertEvents fails t unless the lake's events that selector selects are
// exactly want, one event for each Match, in any order (events put in the
// same millisecond have no order). The failure shows a diff: each expected
// Match with the event it matched, "- " before an expectation no event met,
// "+ " before an event no expectation took.
func (l *Lake) AssertEvents(t T, selector Match, want ...Match) {
	t.Helper()
	got := l.InLake(t, selector)
	if diff, ok := diffEvents(want, got); !ok {
		t.Errorf("laketest: the lake's events with %v differ (- want, + got):\n%s", selector, diff)
	}
}

// AssertNoBad fails t when any event was refused or not stored, listing
// each with its error: the application put something the tracker refuses
// in production, or the pipeline lost a write.
func (l *Lake) AssertNoBad(t T) {
	t.Helper()
	for _, b := range l.Bad() {
		t.Errorf("laketest: bad event %s: %v", describePut(b.Event), b.Err)
	}
}

// AssertBad fails t unless an event m selects was refused with a problem
// naming field (a tracker.FieldError.Field such as "event_type",
// "user_id" or "attributes.url"; empty: any problem, or a write failure),
// and returns the first such bad event.
func (l *Lake) AssertBad(t T, m Match, field string) BadEvent {
	t.Helper()
	bad := l.Bad()
	for _, b := range bad {
		if !m.matches(b.Event, b.Event.UserID) {
			continue
		}
		if field == "" {
			return b
		}
		for _, p := range b.Problems {
			if p.Field == field {
				return b
			}
		}
	}
	var list strings.Builder
	for _, b := range bad {
		fmt.Fprintf(&list, "\n\t%s: %v", describePut(b.Event), b.Err)
	}
	if list.Len() == 0 {
		list.WriteString(" none")
	}
	what := "any problem"
	if field != "" {
		what = "a problem with " + field
	}
	t.Errorf("laketest: no event with %v was refused with %s; bad events:%s", m, what, list.String())
	return BadEvent{}
}

// AssertCounts fails t unless the Lake's counts equal want, naming each
// count that differs.
func (l *Lake) AssertCounts(t T, want Counts) {
	t.Helper()
	got, err := l.Counts(context.Background())
	if err != nil {
		t.Fatalf("%v", err)
	}
	var diffs []string
	for _, c := range []struct {
		name      string
		got, want int
	}{
		{"total", got.Total, want.Total}, {"good", got.Good, want.Good}, {"bad", got.Bad, want.Bad},
		{"filtered", got.Filtered, want.Filtered}, {"duplicates", got.Duplicates, want.Duplicates},
	} {
		if c.got != c.want {
			diffs = append(diffs, fmt.Sprintf("%s %d, want %d", c.name, c.got, c.want))
		}
	}
	if len(diffs) > 0 {
		t.Errorf("laketest: counts differ: %s (got %+v)", strings.Join(diffs, "; "), got)
	}
}

// diffEvents matches each expectation to a distinct event (a maximum
// bipartite matching, so an expectation that fits several events does not
// take the one a stricter expectation needs) and renders the result.
func diffEvents(want []Match, got []Event) (string, bool) {
	owner := make([]int, len(got)) // event -> expectation, or -1
	for j := range owner {
		owner[j] = -1
	}
	var try func(i int, seen []bool) bool
	try = func(i int, seen []bool) bool {
		for j, e := range got {
			if seen[j] || !want[i].Matches(e) {
				continue
			}
			seen[j] = true
			if owner[j] < 0 || try(owner[j], seen) {
				owner[j] = i
				return true
			}
		}
		return false
	}
	took := make([]int, len(want)) // expectation -> event, or -1
	for i := range want {
		took[i] = -1
		try(i, make([]bool, len(got)))
	}
	for j, i := range owner {
		if i >= 0 {
			took[i] = j
		}
	}
	ok := true
	var b strings.Builder
	for i, m := range want {
		if j := took[i]; j >= 0 {
			fmt.Fprintf(&b, "  %v\n      = %v\n", m, got[j])
		} else {
			ok = false
			fmt.Fprintf(&b, "- %v\n", m)
		}
	}
	for j, e := range got {
		if owner[j] < 0 {
			ok = false
			fmt.Fprintf(&b, "+ %v\n", e)
		}
	}
	return b.String(), ok
}

// listEvents describes events for a failure message, at most 20.
func listEvents(evs []Event) string {
	if len(evs) == 0 {
		return "nothing"
	}
	const most = 20
	var b strings.Builder
	for i, e := range evs {
		if i == most {
			fmt.Fprintf(&b, "\n\t... and %d more", len(evs)-most)
			break
		}
		b.WriteString("\n\t")
		b.WriteString(e.String())
	}
	return b.String()
}

// describePut describes an event as it was put.
func describePut(e tracker.Event) string {
	s := fmt.Sprintf("%q user_id=%q anonymous_id=%q", e.Type, e.UserID, e.AnonymousID)
	if len(e.Attributes) > 0 {
		s += " attributes=" + formatAttributes(e.Attributes)
	}
	return s
}
