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

// FuzzPrefix: any prefix either fails to parse, is refused for a folder,
// or gives keys a folder stores at every time; and the server accepts
// exactly the prefixes the folder can store.
func FuzzPrefix(f *testing.F) {
	for _, p := range []string{DefaultPrefix, "raw/!{timestamp:yyyy/MM/dd/HH}/", "../../x/", "a/!{timestamp:'..'}/", "!{timestamp:'/'}x", "a//b", "!{firehose:error-output-type}/", "x/!{timestamp:yyyy"} {
		f.Add(p, int64(1732269600))
	}
	sink := FolderSink{Root: "lake"}
	f.Fuzz(func(t *testing.T, src string, sec int64) {
		p, err := parsePrefix(src)
		if err != nil {
			return
		}
		at := time.Unix(sec%253402300799, 0)
		key := p.eval(at) + "events-1-" + at.UTC().Format("2006-01-02-15-04-05") + "-uuid.gz"
		okHere := sink.CheckKey(key) == nil
		okAtCreation := checkDataPrefix(sink, p, nil) == nil
		if okAtCreation && !okHere && at.Year() >= 0 && at.Year() <= 9999 {
			t.Fatalf("prefix %q accepted at creation, but its key %q at %v is refused", src, key, at)
		}
		if srv, err := New(Options{Prefix: src, Sink: sink}); (err == nil) != okAtCreation {
			t.Fatalf("New(Prefix %q) = %v, checkPrefix says %v", src, err, okAtCreation)
		} else if err == nil {
			srv.Close()
		}
	})
}
