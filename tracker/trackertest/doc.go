// Package trackertest records events in memory for applications' unit
// tests, so that a test can assert what the code under test tracked without
// DynamoDB.
//
// A *Recorder satisfies tracker.Putter. It validates every event exactly as
// the tracker does, from the same tracker.Config (allowlist, IP policy,
// DefaultAttributes, time limits), records the valid ones as they would be
// stored (UTC millisecond time, normalized IP, generated ID) and returns the
// same *tracker.ValidationError for the others, which it keeps apart
// (Rejected). It does not call Config.BeforeSend or Config.OnSuccess: tests
// see what the application asked to track; test a hook by calling it.
//
//	rec, err := trackertest.New(tracker.Config{})  // the application's Config
//	h := NewLoginHandler(rec)                      // code that takes a tracker.Putter
//	... serve a request ...
//	rec.AssertTracked(t, trackertest.Match{Type: "login", UserID: "42"})
//
// For tracking switched off, use tracker.Discard. For tests against the
// real write path, local/dynamolocal starts DynamoDB Local with the tables.
package trackertest
