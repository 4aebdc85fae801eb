// Package summary is the logic of the summarize Lambda, the second consumer
// of the events table's stream: it keeps the per-actor summary (last seen,
// action count, identity links; see tracker.UserSummary) for every event
// stored, whatever wrote it (the tracker, the HTTP collector, a backfill).
//
// The event source mapping runs it with a tumbling window
// (TumblingWindowInSeconds): Lambda invokes the function with the records
// of one window in as many batches as it takes, passing the state each
// invocation returns to the next one, and invokes it once more at the end
// of the window with isFinalInvokeForWindow set. The handler aggregates the
// records into the state (per actor: events counted, newest event_at, the
// anonymous IDs seen with a user, a visitor's earliest link) and writes only
// in the final invocation: one tracker.SummaryWriter.Apply, one conditional
// UpdateItem, per active actor per window (a second one when the window's
// newest event is older than the stored last_seen, a late event). Without a
// window (TumblingWindowInSeconds 0) every invocation is its own window.
//
// Delivery is at least once, and the writes are made idempotent per window:
// every write carries a token of the window's batch (stream ARN, shard,
// window start, first sequence number), stored on the item, so a retried
// final invocation, or a window read again after a lost checkpoint, does
// not count twice the actors it already wrote. What can still count twice
// is rare and documented in docs/read.md.
//
// The state is bounded (Config.MaxStateBytes, below Lambda's 1 MB per
// shard): when a window holds more active actors than fit, the handler
// writes what it has in the middle of the window and starts a fresh state,
// so an actor may then get two writes in that window.
//
// Failures: DynamoDB errors are retried inside the invocation with capped
// exponential backoff until Config.SafetyMargin before its deadline. What
// still fails is reported as a batch item failure naming the batch's first
// record, with the state the invocation received, so Lambda retries the
// whole batch from the same state however it combines a returned state with
// a partial failure; a final invocation without records fails as a function
// error instead, and Lambda retries it. The event source mapping must enable
// ReportBatchItemFailures.
//
// Handler.Invoke is the Lambda handler (lambda.Start(h)): it reads only the
// fields it needs from the payload. Handler.Handle does the same for an
// events.DynamoDBTimeWindowEvent. Every invocation logs one JSON line
// (LogMessageSummary) with the LogField* fields for CloudWatch metric
// filters; no log line holds an event's values or an actor's ID.
package summary
