package tracker

import "context"

// Putter records events. It is the one method application code needs, so
// code that tracks should accept a Putter: *Tracker (synchronous), an
// *AsyncWriter (queued), Discard (tracking off) and trackertest.Recorder
// (unit tests) all satisfy it.
//
// The contract every implementation keeps:
//   - Put validates e as Tracker.Validate does (DefaultAttributes
//     merged); an invalid event is not recorded, and the error matches
//     ErrInvalidEvent and is a *ValidationError naming every bad field.
//     Discard alone accepts everything without looking.
//   - A nil error means the event was accepted: stored (Tracker), queued
//     to be written under the AsyncWriter's guarantees, recorded
//     (trackertest), dropped by Config.BeforeSend, or discarded (Discard).
//   - Any other error means it was not accepted: ErrQueueFull, ErrClosed,
//     ErrDuplicateEvent, a DynamoDB or context error.
//   - ctx bounds how long Put may wait; it does not outlive the call.
//   - Put is safe for concurrent use. The implementation may keep
//     e.Attributes after Put returns: do not modify the map afterwards.
type Putter interface {
	Put(ctx context.Context, e Event) error
}

var (
	_ Putter = (*Tracker)(nil)
	_ Putter = (*AsyncWriter)(nil)
	_ Putter = Discard{}
)

// Discard is a Putter that records nothing: tracking switched off (by a
// flag, in an environment without AWS, in tests that do not care). Its Put
// returns nil for every event, valid or not, and costs nothing. For unit
// tests that check what was tracked, use trackertest.Recorder.
type Discard struct{}

// Put does nothing and returns nil.
func (Discard) Put(context.Context, Event) error { return nil }
