// Package tracker records what users do (login, page_view, signup, ...) in
// DynamoDB, from where the table's stream feeds the analytics lake.
//
// Events are validated against the schema in schema.go (the one definition
// the Lambda, the Athena DDL, the Glue table and the admin page derive from)
// and stored under partition key user_id and sort key event_key, which is the
// ISO8601 UTC time with milliseconds followed by "#" and the event ID: two
// events of one user in the same millisecond never collide, and the key
// stays range-queryable by date.
//
// Tracker.Put writes synchronously with a conditional PutItem. For request
// paths, an AsyncWriter validates and enqueues in well under a microsecond
// and background workers write with BatchWriteItem.
package tracker
