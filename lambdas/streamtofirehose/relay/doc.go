// Package relay is the logic of the stream-to-Firehose Lambda: it turns the
// INSERT records of a DynamoDB stream batch into newline-delimited JSON
// event lines (one flat object per event, keys exactly the
// tracker.EventFields() names), packs many lines into each Firehose record
// (Firehose bills every record rounded up to 5 KB), puts them with
// PutRecordBatch within the API's limits, resends exactly what failed with
// capped exponential backoff and jitter inside the invocation's time, and
// reports what still failed as a batch item failure naming the earliest
// undelivered stream record's sequence number, so nothing is lost.
//
// The event source mapping must enable ReportBatchItemFailures
// (FunctionResponseTypes), or Lambda ignores the response and a failed
// batch would count as delivered.
//
// Handler.Invoke is the Lambda handler (lambda.Start(h)): it reads the
// stream event's JSON itself, which costs a small fraction of the runtime's
// decoding into events.DynamoDBEvent. Handler.Handle does the same for an
// already decoded event. AppendLine is the image encoder;
// ConfigFromEnv reads the function's environment. Every invocation logs
// one JSON summary line (LogMessageSummary) with the LogField* fields, for
// CloudWatch metric filters. No log line holds an event's values: skipped
// records are identified by sequence number and stream event ID only.
package relay
