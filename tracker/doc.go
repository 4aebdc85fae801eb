// Package tracker records what users and anonymous visitors do (login,
// page_view, signup, ...) in DynamoDB, from where the table's stream feeds
// the analytics lake.
//
// Events are validated against the schema in schema.go (the one definition
// the Lambda, the Athena DDL, the Glue table and the admin page derive from)
// and stored under partition key actor ("u#" and the user ID, or "a#" and
// the anonymous ID) and sort key event_key, which is the ISO8601 UTC time
// with milliseconds followed by "#" and the event ID: two events of one
// actor in the same millisecond never collide, and the key stays
// range-queryable by date.
//
// Tracker.Put writes synchronously with a conditional PutItem. For request
// paths, an AsyncWriter validates and enqueues in well under a microsecond;
// background workers write events with generated IDs with BatchWriteItem
// and events with caller-supplied IDs with conditional PutItems, so that no
// event is ever overwritten by a different one. With AsyncConfig.SpoolDir it
// survives crashes. Config.DefaultAttributes, Config.BeforeSend and
// Config.OnSuccess hook into both writers.
//
// Code that tracks should take a Putter: *Tracker, *AsyncWriter, Discard
// (tracking off) and trackertest.Recorder (unit tests) satisfy it.
// Event.WithRequest and ClientIP take the client's address and user agent
// from an *http.Request, believing forwarding headers only from trusted
// proxies.
package tracker
