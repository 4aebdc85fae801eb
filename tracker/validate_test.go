package tracker_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/eventlake/eventlake/tracker"
)

// validationNow is the fixed clock of the validation tests.
var validationNow = time.Date(2026, 11, 22, 10, 4, 5, 123_456_789, time.UTC)

func validEvent() tracker.Event {
	return tracker.Event{
		UserID:     "u-1",
		Type:       "login",
		At:         validationNow.Add(-time.Minute),
		UserAgent:  "Mozilla/5.0",
		IP:         "198.51.100.7",
		Attributes: map[string]string{"url": "https://example.com/"},
	}
}

func manyAttributes(n, valueBytes int) map[string]string {
	m := make(map[string]string, n)
	for i := range n {
		m["k"+strings.Repeat("x", i)] = strings.Repeat("v", valueBytes)
	}
	return m
}

// TestValidationRules checks one rule per case: the event is refused with a
// *ValidationError that matches ErrInvalidEvent and names the field, by
// Validate, Put and AsyncWriter.Put alike, and nothing is written.
func TestValidationRules(t *testing.T) {
	env := newWriteEnv(t)
	tr := newWriteTracker(t, env, nil, tracker.Config{Now: func() time.Time { return validationNow }, MaxAge: 365 * 24 * time.Hour})
	w, err := tr.NewAsyncWriter(tracker.AsyncConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(testCtx(t, time.Minute))
	ctx := testCtx(t, 5*time.Minute)

	cases := []struct {
		name  string
		field string // the field the error must name
		edit  func(*tracker.Event)
	}{
		{"user_id and anonymous_id empty", tracker.FieldUserID, func(e *tracker.Event) { e.UserID = "" }},
		{"user_id with NUL", tracker.FieldUserID, func(e *tracker.Event) { e.UserID = "u\x001" }},
		{"user_id with a control character", tracker.FieldUserID, func(e *tracker.Event) { e.UserID = "u\x1b[2J" }},
		{"user_id with a C1 control character", tracker.FieldUserID, func(e *tracker.Event) { e.UserID = "u\u0085" }},
		{"anonymous_id too long", tracker.FieldAnonymousID, func(e *tracker.Event) { e.AnonymousID = strings.Repeat("a", tracker.MaxAnonymousIDBytes+1) }},
		{"anonymous_id invalid UTF-8", tracker.FieldAnonymousID, func(e *tracker.Event) { e.AnonymousID = "a\xff" }},
		{"anonymous_id surrounding space", tracker.FieldAnonymousID, func(e *tracker.Event) { e.AnonymousID = "a-1 " }},
		{"anonymous_id with NUL", tracker.FieldAnonymousID, func(e *tracker.Event) { e.UserID, e.AnonymousID = "", "a\x00" }},
		{"user_id too long", tracker.FieldUserID, func(e *tracker.Event) { e.UserID = strings.Repeat("u", tracker.MaxUserIDBytes+1) }},
		{"user_id invalid UTF-8", tracker.FieldUserID, func(e *tracker.Event) { e.UserID = "u\xff" }},
		{"user_id surrounding space", tracker.FieldUserID, func(e *tracker.Event) { e.UserID = " u-1" }},
		{"event_type empty", tracker.FieldEventType, func(e *tracker.Event) { e.Type = "" }},
		{"event_type not allowed", tracker.FieldEventType, func(e *tracker.Event) { e.Type = "logged_in" }},
		{"event_type too long", tracker.FieldEventType, func(e *tracker.Event) { e.Type = strings.Repeat("t", tracker.MaxEventTypeBytes+1) }},
		{"event_at Unix zero", tracker.FieldEventAt, func(e *tracker.Event) { e.At = time.Unix(0, 0) }},
		{"event_at before 1970", tracker.FieldEventAt, func(e *tracker.Event) { e.At = time.Date(1969, 7, 20, 20, 17, 0, 0, time.UTC) }},
		{"event_at beyond year 9999", tracker.FieldEventAt, func(e *tracker.Event) { e.At = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"event_at in the future", tracker.FieldEventAt, func(e *tracker.Event) { e.At = validationNow.Add(tracker.DefaultMaxFutureSkew + time.Millisecond) }},
		{"event_at older than MaxAge", tracker.FieldEventAt, func(e *tracker.Event) { e.At = validationNow.Add(-366 * 24 * time.Hour) }},
		{"event_id too long", tracker.FieldEventID, func(e *tracker.Event) { e.ID = strings.Repeat("i", tracker.MaxEventIDBytes+1) }},
		{"event_id with #", tracker.FieldEventID, func(e *tracker.Event) { e.ID = "a#b" }},
		{"event_id with space", tracker.FieldEventID, func(e *tracker.Event) { e.ID = "a b" }},
		{"ip_address not an address", tracker.FieldIPAddress, func(e *tracker.Event) { e.IP = "example.com" }},
		{"ip_address with an empty port", tracker.FieldIPAddress, func(e *tracker.Event) { e.IP = "198.51.100.7:" }},
		{"ip_address with a port out of range", tracker.FieldIPAddress, func(e *tracker.Event) { e.IP = "198.51.100.7:65536" }},
		{"ip_address IPv6 in brackets without port", tracker.FieldIPAddress, func(e *tracker.Event) { e.IP = "[2001:db8::1]" }},
		{"ip_address with zone and port", tracker.FieldIPAddress, func(e *tracker.Event) { e.IP = "[fe80::1%eth0]:80" }},
		{"ip_address with zone", tracker.FieldIPAddress, func(e *tracker.Event) { e.IP = "fe80::1%eth0" }},
		{"ip_address truncated", tracker.FieldIPAddress, func(e *tracker.Event) { e.IP = "198.51.100" }},
		{"attributes too many", tracker.FieldAttributes, func(e *tracker.Event) { e.Attributes = manyAttributes(tracker.MaxAttributes+1, 1) }},
		{"attributes empty key", tracker.FieldAttributes, func(e *tracker.Event) { e.Attributes = map[string]string{"": "x"} }},
		{"attributes key starts with digit", tracker.FieldAttributes, func(e *tracker.Event) { e.Attributes = map[string]string{"1url": "x"} }},
		{"attributes key with space", tracker.FieldAttributes, func(e *tracker.Event) { e.Attributes = map[string]string{"my url": "x"} }},
		{"attributes key too long", tracker.FieldAttributes, func(e *tracker.Event) {
			e.Attributes = map[string]string{strings.Repeat("k", tracker.MaxAttributeKeyBytes+1): "x"}
		}},
		{"attributes value too long", tracker.FieldAttributes + ".url", func(e *tracker.Event) {
			e.Attributes = map[string]string{"url": strings.Repeat("v", tracker.MaxAttributeValueBytes+1)}
		}},
		{"attributes value invalid UTF-8", tracker.FieldAttributes + ".url", func(e *tracker.Event) { e.Attributes = map[string]string{"url": "\xc3\x28"} }},
		{"attributes total too large", tracker.FieldAttributes, func(e *tracker.Event) {
			e.Attributes = manyAttributes(tracker.MaxAttributes, tracker.MaxAttributeValueBytes)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := validEvent()
			c.edit(&e)
			check := func(how string, err error) {
				t.Helper()
				if !errors.Is(err, tracker.ErrInvalidEvent) {
					t.Fatalf("%s: err = %v, want ErrInvalidEvent", how, err)
				}
				var verr *tracker.ValidationError
				if !errors.As(err, &verr) {
					t.Fatalf("%s: err is %T, want *ValidationError", how, err)
				}
				if len(verr.Fields) != 1 || !verr.Has(c.field) || verr.Fields[0].Field != c.field {
					t.Errorf("%s: fields = %+v, want exactly %s", how, verr.Fields, c.field)
				}
				if verr.Fields[0].Problem == "" || !strings.Contains(err.Error(), c.field) {
					t.Errorf("%s: message %q does not name %s and the problem", how, err, c.field)
				}
			}
			_, err := tr.Validate(e)
			check("Validate", err)
			check("Put", tr.Put(ctx, e))
			check("AsyncWriter.Put", w.Put(ctx, e))
			if err := w.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if n := countEvents(t, env); n != 0 {
				t.Errorf("%d items written for an invalid event", n)
			}
		})
	}
	if s := w.Stats(); s.Accepted != 0 {
		t.Errorf("AsyncWriter accepted %d invalid events", s.Accepted)
	}
}

// TestValidationListsEveryBadField checks that one error names every bad
// field of an event, in schema order with attributes sorted by key, and that
// nothing of the event is written.
func TestValidationListsEveryBadField(t *testing.T) {
	env := newWriteEnv(t)
	tr := newWriteTracker(t, env, nil, tracker.Config{Now: func() time.Time { return validationNow }})
	e := tracker.Event{
		UserID: "",
		Type:   "teleported",
		At:     validationNow.Add(time.Hour),
		ID:     "no spaces allowed",
		IP:     "300.1.2.3",
		Attributes: map[string]string{
			"zz":     "\xff",
			"9lives": "x",
			"aa":     strings.Repeat("v", tracker.MaxAttributeValueBytes+1),
			"ok":     "fine",
		},
	}
	err := tr.Put(testCtx(t, time.Minute), e)
	var verr *tracker.ValidationError
	if !errors.As(err, &verr) || !errors.Is(err, tracker.ErrInvalidEvent) {
		t.Fatalf("err = %v, want a *ValidationError matching ErrInvalidEvent", err)
	}
	var got []string
	for _, f := range verr.Fields {
		got = append(got, f.Field)
	}
	want := []string{
		tracker.FieldUserID, tracker.FieldEventType, tracker.FieldEventAt, tracker.FieldEventID, tracker.FieldIPAddress,
		tracker.FieldAttributes, // "9lives" sorts first and is a bad key
		tracker.FieldAttributes + ".aa",
		tracker.FieldAttributes + ".zz",
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("fields = %v, want %v", got, want)
	}
	for _, f := range want {
		if !verr.Has(f) {
			t.Errorf("Has(%q) = false", f)
		}
	}
	if verr.Has(tracker.FieldUserAgent) {
		t.Error("Has(user_agent) = true for a valid user agent")
	}
	t.Logf("message: %v", err)
	if n := countEvents(t, env); n != 0 {
		t.Errorf("%d items written for an invalid event", n)
	}
}

// TestNewRejectsBadConfig checks each configuration error of New and
// NewAsyncWriter.
func TestNewRejectsBadConfig(t *testing.T) {
	env := newWriteEnv(t)
	for _, c := range []struct {
		name string
		cfg  tracker.Config
	}{
		{"negative skew", tracker.Config{MaxFutureSkew: -time.Second}},
		{"negative retention", tracker.Config{Retention: -time.Hour}},
		{"negative max age", tracker.Config{MaxAge: -time.Hour}},
		{"empty event type", tracker.Config{EventTypes: []string{"login", ""}}},
		{"event type with space", tracker.Config{EventTypes: []string{"log in"}}},
		{"unknown IP policy", tracker.Config{IPPolicy: tracker.IPPolicy(9)}},
		{"empty allowlist", tracker.Config{EventTypes: []string{}}},
		{"no events table", tracker.Config{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.cfg.EventsTable == "" && c.name != "no events table" {
				c.cfg.EventsTable = env.EventsTable
			}
			if _, err := tracker.New(env.Client, c.cfg); err == nil {
				t.Errorf("New(%+v) succeeded", c.cfg)
			}
		})
	}
	if _, err := tracker.New(nil, tracker.Config{EventsTable: "t"}); err == nil {
		t.Error("New(nil) succeeded")
	}
	var client *dynamodb.Client // a client never set: a nil pointer in the interface
	if _, err := tracker.New(client, tracker.Config{EventsTable: "t"}); err == nil || !strings.Contains(err.Error(), "nil") {
		t.Errorf("New with a nil *dynamodb.Client = %v, want an error", err)
	}
	if _, err := tracker.NewAsyncWriter(nil, tracker.AsyncConfig{}); err == nil {
		t.Error("NewAsyncWriter(nil) succeeded")
	}
	tr := newWriteTracker(t, env, nil, tracker.Config{})
	for _, c := range []struct {
		name string
		cfg  tracker.AsyncConfig
	}{
		{"batch above 25", tracker.AsyncConfig{BatchSize: 26}},
		{"negative queue", tracker.AsyncConfig{QueueSize: -1}},
		{"negative workers", tracker.AsyncConfig{Workers: -1}},
		{"negative linger", tracker.AsyncConfig{Linger: -time.Millisecond}},
		{"negative max block", tracker.AsyncConfig{MaxBlock: -time.Millisecond}},
		{"negative attempts", tracker.AsyncConfig{Retry: tracker.RetryPolicy{MaxAttempts: -1}}},
		{"negative delay", tracker.AsyncConfig{Retry: tracker.RetryPolicy{MaxDelay: -1}}},
		{"unknown full policy", tracker.AsyncConfig{FullPolicy: tracker.FullPolicy(7)}},
		{"unknown spool sync", tracker.AsyncConfig{SpoolDir: "x", SpoolSync: tracker.SpoolSync(5)}},
		{"negative spool segment", tracker.AsyncConfig{SpoolSegmentBytes: -1}},
		{"negative spool interval", tracker.AsyncConfig{SpoolSyncInterval: -time.Second}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if w, err := tr.NewAsyncWriter(c.cfg); err == nil {
				w.Close(testCtx(t, time.Minute))
				t.Errorf("NewAsyncWriter(%+v) succeeded", c.cfg)
			}
		})
	}
}
