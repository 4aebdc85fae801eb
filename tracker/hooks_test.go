package tracker_test

import (
	"errors"
	"maps"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventlake/eventlake/tracker"
)

// writers returns a put function for each write path of tr: Tracker.Put and
// an AsyncWriter (whose put closes it, so that its events are written when
// put returns), with the writer's stats.
func writers(t *testing.T, tr *tracker.Tracker, onError func(tracker.Event, error)) map[string]func(...tracker.Event) ([]error, tracker.AsyncStats) {
	ctx := testCtx(t, time.Minute)
	return map[string]func(...tracker.Event) ([]error, tracker.AsyncStats){
		"Put": func(events ...tracker.Event) ([]error, tracker.AsyncStats) {
			errs := make([]error, len(events))
			for i, e := range events {
				errs[i] = tr.Put(ctx, e)
			}
			return errs, tracker.AsyncStats{}
		},
		"AsyncWriter": func(events ...tracker.Event) ([]error, tracker.AsyncStats) {
			w, err := tr.NewAsyncWriter(tracker.AsyncConfig{OnError: onError})
			if err != nil {
				t.Fatal(err)
			}
			errs := make([]error, len(events))
			for i, e := range events {
				errs[i] = w.Put(ctx, e)
			}
			if err := w.Close(ctx); err != nil {
				t.Fatal(err)
			}
			return errs, w.Stats()
		},
	}
}

func TestDefaultAttributes(t *testing.T) {
	env := newWriteEnv(t)
	defaults := map[string]string{"app": "shop", "app_version": "2.4.1"}
	tr := newWriteTracker(t, env, nil, tracker.Config{DefaultAttributes: defaults})
	defaults["app"] = "changed after New" // New copied the map
	for name, put := range writers(t, tr, nil) {
		t.Run(name, func(t *testing.T) {
			user := "defaults-" + name
			own := map[string]string{"app_version": "own", "url": "/"}
			errs, _ := put(
				tracker.Event{UserID: user, Type: "login", ID: "none"},
				tracker.Event{UserID: user, Type: "login", ID: "own", Attributes: own},
			)
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			if !maps.Equal(own, map[string]string{"app_version": "own", "url": "/"}) {
				t.Errorf("the caller's map was modified: %v", own)
			}
			got := map[string]map[string]string{}
			for _, row := range queryStrings(t, env, user, tracker.FieldEventID, "attributes.app", "attributes.app_version", "attributes.url") {
				got[row[0]] = map[string]string{"app": row[1], "app_version": row[2], "url": row[3]}
			}
			want := map[string]map[string]string{
				"none": {"app": "shop", "app_version": "2.4.1", "url": ""},
				"own":  {"app": "shop", "app_version": "own", "url": "/"}, // the event's own value wins
			}
			if !maps.EqualFunc(got, want, maps.Equal) {
				t.Errorf("stored attributes %v, want %v", got, want)
			}
		})
	}
	t.Run("Validate", func(t *testing.T) {
		v, err := tr.Validate(tracker.Event{UserID: "u", Type: "login"})
		if err != nil || v.Attributes["app"] != "shop" {
			t.Errorf("Validate = %+v, %v; want the defaults merged", v, err)
		}
		// Together with the event's own, the defaults must keep to the limits.
		_, err = tr.Validate(tracker.Event{UserID: "u", Type: "login", Attributes: manyAttributes(tracker.MaxAttributes-1, 1)})
		var verr *tracker.ValidationError
		if !errors.As(err, &verr) || !verr.Has(tracker.FieldAttributes) {
			t.Errorf("31 own + 2 default attributes: %v, want a ValidationError naming attributes", err)
		}
	})
}

func TestBeforeSend(t *testing.T) {
	env := newWriteEnv(t)
	var (
		mu   sync.Mutex
		seen []tracker.Event
	)
	tr := newWriteTracker(t, env, nil, tracker.Config{
		IPPolicy:          tracker.IPAnonymize,
		DefaultAttributes: map[string]string{"app": "shop"},
		BeforeSend: func(e tracker.Event) (tracker.Event, bool) {
			mu.Lock()
			seen = append(seen, e)
			mu.Unlock()
			switch e.Attributes["action"] {
			case "drop":
				return e, false
			case "scrub": // remove personal data: a new map, never the caller's
				a := maps.Clone(e.Attributes)
				delete(a, "email")
				e.Attributes = a
			case "sample":
				n, _ := strconv.Atoi(e.Attributes["n"])
				return e, n%2 == 0
			case "break":
				e.Type = "not allowed"
			}
			return e, true
		},
	})
	at := time.Date(2026, 11, 22, 10, 4, 5, 123_456_789, time.FixedZone("CET", 3600))
	for name, put := range writers(t, tr, nil) {
		t.Run(name, func(t *testing.T) {
			mu.Lock()
			seen = nil
			mu.Unlock()
			user := "hook-" + name
			ev := func(action string, n int) tracker.Event {
				return tracker.Event{UserID: user, Type: "click", At: at, IP: "198.51.100.77:4242",
					Attributes: map[string]string{"action": action, "n": strconv.Itoa(n), "email": "a@example.com"}}
			}
			events := []tracker.Event{ev("keep", 0), ev("drop", 1), ev("scrub", 2)}
			for n := range 10 {
				events = append(events, ev("sample", n))
			}
			errs, stats := put(events...)
			for i, err := range errs {
				if err != nil {
					t.Errorf("event %d: %v", i, err)
				}
			}
			errs, _ = put(ev("break", 0))
			var verr *tracker.ValidationError
			if !errors.As(errs[0], &verr) || !verr.Has(tracker.FieldEventType) || !strings.Contains(errs[0].Error(), "BeforeSend") {
				t.Errorf("a hook returning an invalid event: %v, want a ValidationError naming event_type and the hook", errs[0])
			}
			errs, _ = put(tracker.Event{UserID: user, Type: "teleport"})
			if !errors.Is(errs[0], tracker.ErrInvalidEvent) {
				t.Errorf("invalid input: %v", errs[0])
			}

			mu.Lock()
			if len(seen) != len(events)+1 { // not called for the invalid input
				t.Errorf("hook called %d times, want %d", len(seen), len(events)+1)
			}
			for _, e := range seen {
				// The stored form: UTC millisecond time, the IP after the
				// policy without its port, defaults merged, no ID yet.
				if !e.At.Equal(at.Truncate(time.Millisecond)) || e.At.Location() != time.UTC || e.IP != "198.51.100.0" ||
					e.Attributes["app"] != "shop" || e.ID != "" {
					t.Errorf("hook saw %+v, want the normalized event", e)
					break
				}
			}
			mu.Unlock()

			byAction := map[string]int{}
			emails := 0
			for _, row := range queryStrings(t, env, user, "attributes.action", "attributes.email") {
				byAction[row[0]]++
				if row[1] != "" && row[0] == "scrub" {
					emails++
				}
			}
			if want := map[string]int{"keep": 1, "scrub": 1, "sample": 5}; !maps.Equal(byAction, want) {
				t.Errorf("stored %v, want %v", byAction, want)
			}
			if emails != 0 {
				t.Error("the scrubbed attribute was stored")
			}
			if name == "AsyncWriter" && (stats.Filtered != 6 || stats.Accepted != 7 || stats.Written != 7) {
				t.Errorf("stats %+v, want 6 filtered, 7 accepted and written", stats)
			}
		})
	}
	if s := tr.Stats(); s.Filtered != 6 || s.Written != 7 {
		t.Errorf("Tracker.Stats = %+v, want 6 filtered and 7 written by Put", s)
	}
	mu.Lock()
	n := len(seen)
	mu.Unlock()
	if _, err := tr.Validate(tracker.Event{UserID: "u", Type: "click", Attributes: map[string]string{"action": "drop"}}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(seen) != n {
		t.Error("Validate called BeforeSend")
	}
	mu.Unlock()
}

func TestOnSuccess(t *testing.T) {
	env := newWriteEnv(t)
	var (
		mu        sync.Mutex
		succeeded map[string]int
	)
	tr := newWriteTracker(t, env, nil, tracker.Config{
		BeforeSend: func(e tracker.Event) (tracker.Event, bool) { return e, e.Type != "search" },
		OnSuccess: func(e tracker.Event) {
			mu.Lock()
			defer mu.Unlock()
			if e.ID == "" || e.At.IsZero() {
				panic("OnSuccess without the stored event's ID and time")
			}
			succeeded[e.ID]++
		},
	})
	at := time.Now().Add(-time.Minute)
	var failedIDs []string
	onError := func(e tracker.Event, err error) {
		mu.Lock()
		defer mu.Unlock()
		failedIDs = append(failedIDs, e.ID)
	}
	for name, put := range writers(t, tr, onError) {
		t.Run(name, func(t *testing.T) {
			mu.Lock()
			succeeded, failedIDs = map[string]int{}, nil
			mu.Unlock()
			user := "success-" + name
			first := tracker.Event{UserID: user, Type: "purchase", At: at, ID: "order-1"}
			conflict := first
			conflict.Attributes = map[string]string{"sku": "other"}
			var events []tracker.Event
			for range 60 {
				events = append(events, tracker.Event{UserID: user, Type: "click"})
			}
			events = append(events, tracker.Event{UserID: user, Type: "search"}, first)
			put(events...)
			errs, _ := put(first, conflict)
			if name == "Put" && (errs[0] != nil || !errors.Is(errs[1], tracker.ErrDuplicateEvent)) {
				t.Errorf("Put errors %v, want nil then ErrDuplicateEvent", errs)
			}
			mu.Lock()
			defer mu.Unlock()
			total := 0
			for _, n := range succeeded {
				total += n
			}
			// 60 clicks and order-1 twice (the identical copy is stored
			// again); not the filtered search, not the conflict.
			if total != 62 || succeeded["order-1"] != 2 || len(succeeded) != 61 {
				t.Errorf("OnSuccess called %d times for %d events (order-1: %d), want 62 for 61", total, len(succeeded), succeeded["order-1"])
			}
			if name == "AsyncWriter" && (len(failedIDs) != 1 || failedIDs[0] != "order-1") {
				t.Errorf("OnError got %v, want the conflicting order-1", failedIDs)
			}
		})
	}
}

// TestNewRejectsBadDefaults checks that bad DefaultAttributes fail New.
func TestNewRejectsBadDefaults(t *testing.T) {
	for name, attrs := range map[string]map[string]string{
		"bad key":      {"1st": "x"},
		"bad value":    {"k": "\xff"},
		"too many":     manyAttributes(tracker.MaxAttributes+1, 1),
		"too large":    manyAttributes(10, tracker.MaxAttributeValueBytes),
		"long value":   {"k": strings.Repeat("v", tracker.MaxAttributeValueBytes+1)},
		"empty key":    {"": "x"},
		"key too long": {strings.Repeat("k", tracker.MaxAttributeKeyBytes+1): "x"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := tracker.New(noDB(), tracker.Config{EventsTable: "t", DefaultAttributes: attrs})
			if !errors.Is(err, tracker.ErrInvalidEvent) || !strings.Contains(err.Error(), "DefaultAttributes") {
				t.Errorf("New = %v, want an error naming DefaultAttributes", err)
			}
		})
	}
}
