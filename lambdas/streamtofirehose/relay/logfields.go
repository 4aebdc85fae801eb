package relay

// Names shared by the Lambda and the CDK app: the environment variable the
// function reads, and the JSON fields of the one summary line every
// invocation logs, which CloudWatch metric filters read.
const (
	// EnvDeliveryStreamName names the Firehose delivery stream.
	EnvDeliveryStreamName = "DELIVERY_STREAM_NAME"

	// LogFieldRecordsSize is the number of event lines delivered to Firehose.
	LogFieldRecordsSize = "records_size"
	// LogFieldFailedPutCount is the number of Firehose records that failed
	// after every retry.
	LogFieldFailedPutCount = "failed_put_count"
	// LogFieldSkipped is the number of stream records skipped (MODIFY,
	// REMOVE, malformed images).
	LogFieldSkipped = "skipped"
	// LogFieldBatchSize is the number of stream records in the invocation.
	LogFieldBatchSize = "batch_size"
	// LogMessageSummary is the msg of the summary line.
	LogMessageSummary = "batch summary"
)

// More fields of the summary line. Skipped is NotInsert + Malformed +
// Oversize.
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
	// many lines).
	LogFieldFirehoseRecords = "firehose_records"
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
