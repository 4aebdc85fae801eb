package relay

// Names shared by the Lambda and the CDK app: the environment variable the
// function reads, and the JSON fields of the one summary line every
// invocation logs, which CloudWatch metric filters read.
const (
	// EnvDeliveryStreamName names the Firehose delivery stream.
	EnvDeliveryStreamName = "DELIVERY_STREAM_NAME"
	// EnvKeepAsideBucket names the bucket (the lake's) where the function
	// keeps aside, under KeepAsidePrefix, the INSERT records whose image
	// breaks the schema (Config.KeepAside); unset, it only counts and logs
	// them.
	EnvKeepAsideBucket = "KEEP_ASIDE_BUCKET"

	// LogFieldRecordsSize is the number of event lines delivered to Firehose.
	LogFieldRecordsSize = "records_size"
	// LogFieldFailedEvents is the number of events (lines) the invocation
	// could not deliver to Firehose after every retry: Lambda retries them
	// from LogFieldFailedSequenceNumber, and once the event source
	// mapping's retries are spent they are in the on-failure queue, to be
	// redriven (go run ./scripts/eventlake redrive). It counts events, not
	// Firehose records, which hold up to 500 events each.
	LogFieldFailedEvents = "failed_events"
	// LogFieldRejected is the number of INSERT records whose image breaks
	// the schema (Malformed + Oversize): they never reach the lake; with
	// Config.KeepAside they are kept aside under KeepAsidePrefix, to be
	// reprocessed once fixed.
	LogFieldRejected = "rejected"
	// LogFieldSkipped is the number of stream records skipped (MODIFY,
	// REMOVE, malformed images).
	LogFieldSkipped = "skipped"
	// LogFieldBatchSize is the number of stream records in the invocation.
	LogFieldBatchSize = "batch_size"
	// LogMessageSummary is the msg of the summary line.
	LogMessageSummary = "batch summary"
)

// More fields of the summary line. Skipped is NotInsert + Malformed +
// Oversize; Rejected is Malformed + Oversize.
const (
	// LogFieldNotInsert counts MODIFY and REMOVE records (TTL deletions
	// included), skipped by design.
	LogFieldNotInsert = "not_insert"
	// LogFieldMalformed counts INSERT records whose image is not an event.
	LogFieldMalformed = "malformed"
	// LogFieldOversize counts events whose line exceeds a Firehose record
	// (1,000 KiB); they stay in DynamoDB but do not reach the lake. An
	// alarm on { $.oversize > 0 } makes them visible.
	LogFieldOversize = "oversize"
	// LogFieldLines and LogFieldBytes are the lines encoded and their size.
	LogFieldLines = "lines"
	LogFieldBytes = "bytes"
	// LogFieldFirehoseRecords counts Firehose records delivered (each holds
	// many lines), LogFieldFailedRecords the records still undelivered
	// after every retry.
	LogFieldFirehoseRecords = "firehose_records"
	LogFieldFailedRecords   = "failed_records"
	// LogFieldKeptAside counts the rejected records written to
	// Config.KeepAside (0 without one).
	LogFieldKeptAside = "kept_aside"
	// LogFieldPutCalls counts PutRecordBatch attempts; LogFieldRetries the
	// attempts that repeated an earlier one.
	LogFieldPutCalls = "put_calls"
	LogFieldRetries  = "retries"
	// LogFieldDurationMS is the handler's wall time in milliseconds.
	LogFieldDurationMS = "duration_ms"
	// LogFieldFailedSequenceNumber is the sequence number reported as a
	// batch item failure, when there is one.
	LogFieldFailedSequenceNumber = "failed_sequence_number"
	// LogFieldRequestID is the Lambda request ID.
	LogFieldRequestID = "aws_request_id"
	// LogFieldSequenceNumber and LogFieldStreamEventID identify a skipped
	// stream record in its own log line.
	LogFieldSequenceNumber = "sequence_number"
	LogFieldStreamEventID  = "stream_event_id"
)
