package trackertest

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/eventlake/eventlake/tracker"
)

// T is the part of testing.TB the assertions use.
type T interface {
	Helper()
	Errorf(format string, args ...any)
}

// Rejected is an event the Recorder refused, with the error Put returned.
type Rejected struct {
	Event tracker.Event
	Err   error
}

// Recorder records the events put to it, in memory. It is safe for
// concurrent use. Create it with New.
type Recorder struct {
	tr       *tracker.Tracker
	mu       sync.Mutex
	events   []tracker.Event
	rejected []Rejected
	fail     error
}

var _ tracker.Putter = (*Recorder)(nil)

// New returns a Recorder that validates with cfg, the application's own
// tracker configuration. cfg.EventsTable may be empty. New fails where
// tracker.New would (an invalid allowlist or DefaultAttributes, a negative
// duration), so a test also checks the configuration.
func New(cfg tracker.Config) (*Recorder, error) {
	if cfg.EventsTable == "" {
		cfg.EventsTable = "trackertest"
	}
	// The tracker only validates: its client, which points nowhere, is
	// never called.
	tr, err := tracker.New(dynamodb.New(dynamodb.Options{Region: "us-east-1"}), cfg)
	if err != nil {
		return nil, fmt.Errorf("trackertest: %w", err)
	}
	return &Recorder{tr: tr}, nil
}

// Put validates e as the tracker does and records it as it would be
// stored; an invalid event is recorded among the rejected and its
// *tracker.ValidationError returned. After FailWith, Put returns that error
// for valid events and records nothing. ctx is not used.
func (r *Recorder) Put(_ context.Context, e tracker.Event) error {
	n, err := r.tr.Validate(e)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.rejected = append(r.rejected, Rejected{Event: cloneEvent(e), Err: err})
		return err
	}
	if r.fail != nil {
		return r.fail
	}
	r.events = append(r.events, cloneEvent(n))
	return nil
}

// FailWith makes Put return err for every valid event from now on (nil
// restores normal recording), to test how the application handles
// tracker.ErrQueueFull, tracker.ErrClosed or an outage.
func (r *Recorder) FailWith(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = err
}

// Events returns the recorded events in the order they were put. The slice
// and the events' attribute maps are copies.
func (r *Recorder) Events() []tracker.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]tracker.Event, len(r.events))
	for i, e := range r.events {
		out[i] = cloneEvent(e)
	}
	return out
}

// Rejected returns the events Put refused as invalid, with their errors.
func (r *Recorder) Rejected() []Rejected {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Rejected, len(r.rejected))
	for i, x := range r.rejected {
		out[i] = Rejected{Event: cloneEvent(x.Event), Err: x.Err}
	}
	return out
}

// Len returns the number of recorded events.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

// Reset forgets every recorded and rejected event.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events, r.rejected = nil, nil
}

// Match selects events: every non-empty field must equal the event's, and
// every entry of Attributes must be among the event's attributes. The zero
// Match selects every event.
type Match struct {
	Type        string
	UserID      string
	AnonymousID string
	Attributes  map[string]string
}

// Matches reports whether e is selected by m.
func (m Match) Matches(e tracker.Event) bool {
	if m.Type != "" && e.Type != m.Type || m.UserID != "" && e.UserID != m.UserID ||
		m.AnonymousID != "" && e.AnonymousID != m.AnonymousID {
		return false
	}
	for k, v := range m.Attributes {
		if got, ok := e.Attributes[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func (m Match) String() string {
	var parts []string
	for _, f := range []struct{ name, v string }{{"type", m.Type}, {"user_id", m.UserID}, {"anonymous_id", m.AnonymousID}} {
		if f.v != "" {
			parts = append(parts, fmt.Sprintf("%s=%q", f.name, f.v))
		}
	}
	if len(m.Attributes) > 0 {
		parts = append(parts, fmt.Sprintf("attributes⊇%v", m.Attributes))
	}
	if len(parts) == 0 {
		return "any event"
	}
	return strings.Join(parts, " ")
}

// Find returns the recorded events m selects, in order.
func (r *Recorder) Find(m Match) []tracker.Event {
	var out []tracker.Event
	for _, e := range r.Events() {
		if m.Matches(e) {
			out = append(out, e)
		}
	}
	return out
}

// AssertTracked fails t unless an event m selects was recorded, listing
// what was recorded, and returns the first such event (the zero Event when
// none).
func (r *Recorder) AssertTracked(t T, m Match) tracker.Event {
	t.Helper()
	found := r.Find(m)
	if len(found) == 0 {
		t.Errorf("trackertest: no event with %v was tracked; tracked: %s", m, r.summary())
		return tracker.Event{}
	}
	return found[0]
}

// AssertNotTracked fails t when an event m selects was recorded.
func (r *Recorder) AssertNotTracked(t T, m Match) {
	t.Helper()
	if found := r.Find(m); len(found) > 0 {
		t.Errorf("trackertest: %d event(s) with %v were tracked, want none: %s", len(found), m, describe(found))
	}
}

// AssertCount fails t unless exactly n recorded events are selected by m.
func (r *Recorder) AssertCount(t T, m Match, n int) {
	t.Helper()
	if found := r.Find(m); len(found) != n {
		t.Errorf("trackertest: %d event(s) with %v were tracked, want %d; tracked: %s", len(found), m, n, r.summary())
	}
}

// AssertNoRejected fails t when any event was refused as invalid, listing
// the validation errors: the application tried to track something the
// tracker would refuse in production.
func (r *Recorder) AssertNoRejected(t T) {
	t.Helper()
	for _, x := range r.Rejected() {
		t.Errorf("trackertest: a %q event was rejected: %v", x.Event.Type, x.Err)
	}
}

// summary describes the recorded events for a failure message.
func (r *Recorder) summary() string {
	evs := r.Events()
	if len(evs) == 0 {
		return "nothing"
	}
	return describe(evs)
}

func describe(evs []tracker.Event) string {
	const most = 20
	var b strings.Builder
	for i, e := range evs {
		if i == most {
			fmt.Fprintf(&b, "; and %d more", len(evs)-most)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s user_id=%q anonymous_id=%q attributes=%v", e.Type, e.UserID, e.AnonymousID, e.Attributes)
	}
	return b.String()
}

func cloneEvent(e tracker.Event) tracker.Event {
	if e.Attributes != nil {
		e.Attributes = maps.Clone(e.Attributes)
	}
	return e
}
