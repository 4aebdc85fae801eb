package trackertest_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventlake/eventlake/tracker"
	"github.com/eventlake/eventlake/tracker/trackertest"
)

// fakeT records what the assertions report.
type fakeT struct{ errs []string }

func (*fakeT) Helper() {}
func (f *fakeT) Errorf(format string, args ...any) {
	f.errs = append(f.errs, fmt.Sprintf(format, args...))
}

func TestRecorderValidatesLikeTheTracker(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 4, 5, 123_456_789, time.UTC)
	rec, err := trackertest.New(tracker.Config{
		EventTypes:        []string{"login", "signup"},
		IPPolicy:          tracker.IPAnonymize,
		DefaultAttributes: map[string]string{"app": "shop"},
		Now:               func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	attrs := map[string]string{"method": "password"}
	if err := rec.Put(ctx, tracker.Event{UserID: "42", Type: "login", IP: "198.51.100.7:1234", Attributes: attrs}); err != nil {
		t.Fatal(err)
	}
	attrs["method"] = "changed after Put" // the recorder keeps its own copy
	err = rec.Put(ctx, tracker.Event{UserID: "42", Type: "page_view"})
	var verr *tracker.ValidationError
	if !errors.As(err, &verr) || !verr.Has(tracker.FieldEventType) {
		t.Errorf("Put of a type outside the allowlist = %v, want a ValidationError naming event_type", err)
	}

	evs := rec.Events()
	if len(evs) != 1 {
		t.Fatalf("recorded %d events, want 1", len(evs))
	}
	e := evs[0]
	if e.IP != "198.51.100.0" || !e.At.Equal(now.Truncate(time.Millisecond)) || len(e.ID) != 36 ||
		e.Attributes["app"] != "shop" || e.Attributes["method"] != "password" {
		t.Errorf("recorded %+v, want the stored form (IP anonymized without port, ms time, UUIDv7, defaults merged)", e)
	}
	evs[0].Attributes["method"] = "x"
	if rec.Events()[0].Attributes["method"] != "password" {
		t.Error("Events returned the recorder's own map")
	}
	if rej := rec.Rejected(); len(rej) != 1 || rej[0].Event.Type != "page_view" || !errors.Is(rej[0].Err, tracker.ErrInvalidEvent) {
		t.Errorf("Rejected = %+v", rej)
	}

	if _, err := trackertest.New(tracker.Config{EventTypes: []string{"bad type"}}); err == nil {
		t.Error("New accepted an allowlist tracker.New refuses")
	}
}

func TestRecorderAssertions(t *testing.T) {
	rec, err := trackertest.New(tracker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, e := range []tracker.Event{
		{UserID: "42", Type: "login", Attributes: map[string]string{"method": "password"}},
		{AnonymousID: "cookie-1", Type: "page_view", Attributes: map[string]string{"url": "/"}},
		{AnonymousID: "cookie-1", Type: "page_view", Attributes: map[string]string{"url": "/pricing"}},
	} {
		if err := rec.Put(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	var ok fakeT
	got := rec.AssertTracked(&ok, trackertest.Match{Type: "login", UserID: "42", Attributes: map[string]string{"method": "password"}})
	rec.AssertCount(&ok, trackertest.Match{AnonymousID: "cookie-1"}, 2)
	rec.AssertCount(&ok, trackertest.Match{}, 3)
	rec.AssertNotTracked(&ok, trackertest.Match{Type: "logout"})
	rec.AssertNoRejected(&ok)
	if len(ok.errs) != 0 || got.UserID != "42" {
		t.Errorf("passing assertions reported %v (AssertTracked returned %+v)", ok.errs, got)
	}

	for name, assert := range map[string]func(*fakeT){
		"tracked":     func(f *fakeT) { rec.AssertTracked(f, trackertest.Match{Type: "login", UserID: "43"}) },
		"attribute":   func(f *fakeT) { rec.AssertTracked(f, trackertest.Match{Attributes: map[string]string{"url": "/cart"}}) },
		"not tracked": func(f *fakeT) { rec.AssertNotTracked(f, trackertest.Match{Type: "page_view"}) },
		"count":       func(f *fakeT) { rec.AssertCount(f, trackertest.Match{Type: "page_view"}, 1) },
		"rejected": func(f *fakeT) {
			_ = rec.Put(ctx, tracker.Event{Type: "login"})
			rec.AssertNoRejected(f)
		},
	} {
		t.Run(name, func(t *testing.T) {
			var f fakeT
			assert(&f)
			if len(f.errs) != 1 || !strings.Contains(f.errs[0], "trackertest:") {
				t.Errorf("failing assertion reported %q, want one message", f.errs)
			}
			t.Log(f.errs)
		})
	}

	rec.Reset()
	if rec.Len() != 0 || len(rec.Rejected()) != 0 {
		t.Error("Reset kept events")
	}
}

func TestRecorderFailWith(t *testing.T) {
	rec, err := trackertest.New(tracker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	rec.FailWith(tracker.ErrQueueFull)
	if err := rec.Put(context.Background(), tracker.Event{UserID: "1", Type: "login"}); !errors.Is(err, tracker.ErrQueueFull) {
		t.Errorf("Put = %v, want ErrQueueFull", err)
	}
	// Validation still comes first.
	if err := rec.Put(context.Background(), tracker.Event{Type: "login"}); !errors.Is(err, tracker.ErrInvalidEvent) {
		t.Errorf("Put of an invalid event = %v", err)
	}
	rec.FailWith(nil)
	if err := rec.Put(context.Background(), tracker.Event{UserID: "1", Type: "login"}); err != nil || rec.Len() != 1 {
		t.Errorf("after FailWith(nil): %v, %d recorded", err, rec.Len())
	}
}

func TestRecorderConcurrent(t *testing.T) {
	rec, err := trackertest.New(tracker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 20 {
		wg.Go(func() {
			for i := range 50 {
				if err := rec.Put(context.Background(), tracker.Event{UserID: strconv.Itoa(g), Type: "click"}); err != nil {
					t.Error(err)
				}
				_ = rec.Find(trackertest.Match{UserID: strconv.Itoa(i)})
			}
		})
	}
	wg.Wait()
	rec.AssertCount(t, trackertest.Match{Type: "click"}, 1000)
	rec.AssertCount(t, trackertest.Match{UserID: "7"}, 50)
}
