// Package recovery holds the operator's recovery tools, the logic of
// `go run ./scripts/eventlake redrive|reprocess|backfill`:
//
//   - Redrive reads the on-failure queue (the deployed SQS queue, or the
//     local stack's folder), where Lambda names the stream batches it gave
//     up on by shard and sequence range; it reads those records from the
//     stream again while the stream still holds them (24 hours), else the
//     events of that time range from the table, sends them through the
//     relay's own code (lambdas/streamtofirehose/relay) to Firehose, and
//     deletes a message only once every record of it was delivered.
//   - Reprocess resubmits what Firehose wrote under errors/ (records it could
//     not partition or convert) and the records the relay kept aside under
//     errors/relay/ (images that broke the schema), once the cause is fixed:
//     every event goes through the relay's validation and encoding again; an
//     object is marked done under recovery/reprocessed/ when all of it went.
//   - Backfill copies the events table's events (all, or a time range of
//     event_at) into the lake with a parallel Scan, through the relay's line
//     encoding, for tables that held events before the pipeline existed or
//     after a long outage.
//
// No tool sends a forgotten actor's events again: New loads the lake's
// suppression list (lake.SuppressionCache, from Config.Lake), and every
// tool leaves their events out and counts them (Counts.Suppressed).
//
// Every tool is idempotent: running it again sends events again at worst,
// which the events_dedup view removes (and compaction drops); messages and
// objects already done are skipped. Each reports progress and returns a
// summary.
package recovery
