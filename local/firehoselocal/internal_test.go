package firehoselocal

import (
	"reflect"
	"testing"
	"time"

	"github.com/eventlake/eventlake/tracker"
)

func TestPrefixEval(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("x", 3600))
	for _, tc := range []struct{ prefix, want string }{
		{DefaultPrefix, "events/dt=2026-03-04/"},
		{"raw/!{timestamp:yyyy/MM/dd/HH}/", "raw/2026/03/04/04/"},
		{"a/!{timestamp:yyyy'T'HH_mm.ss}/b", "a/2026T04_06.07/b"},
		{"plain/", "plain/"},
		{"y=!{timestamp:yyyy}/m=!{timestamp:MM}/", "y=2026/m=03/"},
	} {
		p, err := parsePrefix(tc.prefix)
		if err != nil {
			t.Fatalf("parse %q: %v", tc.prefix, err)
		}
		if got := p.eval(at); got != tc.want {
			t.Errorf("%q at %s = %q, want %q (UTC)", tc.prefix, at, got, tc.want)
		}
	}
}

// TestEventAtFieldIsTheSchemas ties ArrivalFromEventAt to the event schema.
func TestEventAtFieldIsTheSchemas(t *testing.T) {
	f, _ := reflect.TypeFor[eventAtLine]().FieldByName("EventAt")
	if tag := f.Tag.Get("json"); tag != tracker.FieldEventAt {
		t.Errorf("eventAtLine reads %q, the schema's field is %q", tag, tracker.FieldEventAt)
	}
	at := time.Date(2026, 11, 22, 10, 4, 5, 123e6, time.UTC)
	got, ok := eventAt([]byte(`{"` + tracker.FieldEventAt + `":"` + at.Format(tracker.TimeLayout) + `"}`))
	if !ok || !got.Equal(at) {
		t.Errorf("eventAt = %v, %v; want %v", got, ok, at)
	}
	for _, bad := range []string{`{}`, `not json`, `{"event_at":"yesterday"}`, `{"event_at":5}`} {
		if _, ok := eventAt([]byte(bad)); ok {
			t.Errorf("eventAt(%s) found a time", bad)
		}
	}
}

func TestCountLines(t *testing.T) {
	for _, tc := range []struct {
		data string
		n    int
	}{{"", 0}, {"a", 1}, {"a\n", 1}, {"a\nb", 2}, {"a\n\nb\n", 2}, {"\n", 0}} {
		if got := countLines([]byte(tc.data)); got != tc.n || len(SplitLines([]byte(tc.data))) != tc.n {
			t.Errorf("countLines(%q) = %d, SplitLines %d; want %d", tc.data, got, len(SplitLines([]byte(tc.data))), tc.n)
		}
	}
}
