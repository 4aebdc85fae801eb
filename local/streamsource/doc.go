// Package streamsource is a local stand-in for Lambda's DynamoDB event
// source mapping (ESM): it reads a table's stream through the real DynamoDB
// Streams API (DynamoDB Local's, or AWS's) and invokes a Lambda handler
// through its JSON interface, the way the Lambda service does.
//
// What it does, per the ESM's documented behaviour:
//
//   - Shards: DescribeStream (paginated) finds the shards; a child shard is
//     read only after its parent is exhausted, so records of one partition key
//     stay in order across shard rollover. Shards are read in parallel, one
//     reader and one invoker per shard; the stream is re-described when a shard
//     ends and every Config.ShardSyncInterval.
//   - Iterators: TRIM_HORIZON or LATEST for a shard without a checkpoint,
//     AFTER_SEQUENCE_NUMBER from a checkpoint; NextShardIterator is followed
//     until it is nil (the shard is closed and read to its end). Once a page
//     is not full (the reader has caught up) the shard is polled again after
//     Config.PollInterval, as Lambda polls a few times a second. Expired
//     iterators (15 minutes) are renewed after the last record read.
//   - Batches: up to Config.BatchSize records and 6 MB of payload, waiting up
//     to Config.MaximumBatchingWindow for a batch to fill.
//   - Filtering: Config.Filters holds FilterCriteria patterns (for example
//     `{"eventName":["INSERT"]}`); records that match none are never sent and
//     the checkpoint moves past them.
//   - Payload: built from the raw GetRecords JSON (the SDK's typed records do
//     not marshal back to DynamoDB JSON), with eventSourceARN set to the stream
//     ARN and awsRegion to the stream's region, as `{"Records":[...]}`. The
//     handler runs behind lambda.NewHandler, so its real JSON decoding runs.
//   - Responses: with Config.ReportBatchItemFailures, an
//     events.DynamoDBEventResponse naming failed records by sequence number
//     retries from the lowest one; the records before it are done. A function
//     error (or panic, or an invalid response) retries the whole batch with
//     capped exponential backoff, optionally bisecting it. After
//     Config.MaxRetries the records go to Config.OnFailure, the ESM's
//     on-failure destination, and the shard moves on.
//   - Checkpoints: per shard, through a Checkpointer (in memory or a JSON
//     file), so a restarted Source resumes after the last record processed.
//   - Tumbling windows: with Config.TumblingWindow, batches never span a
//     window, each invocation is an events.DynamoDBTimeWindowEvent carrying
//     the state the previous one returned, a final invocation
//     (isFinalInvokeForWindow) ends each window, and records are
//     checkpointed once it succeeds (window.go has the details and what the
//     source settles where Lambda's documentation is silent).
//
// Delivery is at least once: a batch whose checkpoint was not saved before a
// crash is sent again after a restart.
//
// Not modelled: ParallelizationFactor (one batch per shard at a time, as with
// the default of 1), MaximumRecordAgeInSeconds.
//
// Applications use it to run a Lambda handler of their own on the events
// table's stream (or any table's) against DynamoDB Local, with the event
// source mapping's settings they deploy: anything behind lambda.NewHandler,
// or with an Invoke(ctx, payload) method, is an Invoker.
package streamsource
