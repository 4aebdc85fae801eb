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
