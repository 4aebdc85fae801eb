package summary

// Names shared by the Lambda and the CDK app: the environment variables the
// function reads and the fields of the one JSON line every invocation logs,
// which CloudWatch metric filters read.
const (
	// EnvSummaryTableName names the summary table (required).
	EnvSummaryTableName = "SUMMARY_TABLE_NAME"
	// EnvWindowSeconds is the event source mapping's TumblingWindowInSeconds,
	// set by the CDK app from the same value (default DefaultWindow). The
	// function warns when an event's window has another length, which means
	// the two have drifted apart.
	EnvWindowSeconds = "SUMMARY_WINDOW_SECONDS"
	// EnvMaxStateBytes is Config.MaxStateBytes.
	EnvMaxStateBytes = "MAX_STATE_BYTES"
	// EnvWriteConcurrency is Config.WriteConcurrency.
	EnvWriteConcurrency = "WRITE_CONCURRENCY"
	// EnvSafetyMargin, EnvBackoffBase and EnvBackoffMax are Go durations
	// (Config.SafetyMargin, BackoffBase, BackoffMax).
	EnvSafetyMargin = "SAFETY_MARGIN"
	EnvBackoffBase  = "RETRY_BACKOFF_BASE"
	EnvBackoffMax   = "RETRY_BACKOFF_MAX"
)

// LogMessageSummary is the msg of the line every invocation logs.
const LogMessageSummary = "summary batch"

// Fields of the summary line.
const (
	// LogFieldBatchSize is the number of stream records in the invocation.
	LogFieldBatchSize = "batch_size"
	// LogFieldEvents counts the INSERT records aggregated (events counted).
	LogFieldEvents = "events"
	// LogFieldNotInsert counts MODIFY and REMOVE records, skipped by design.
	LogFieldNotInsert = "not_insert"
	// LogFieldMalformed counts INSERT records whose image is not an event
	// (an ID, event_at or event_id missing or invalid); each is also logged
	// with its sequence number.
	LogFieldMalformed = "malformed"
	// LogFieldWindowStart is the window's start (RFC 3339); absent without a
	// tumbling window.
	LogFieldWindowStart = "window_start"
	// LogFieldFinal is true for the final invocation of a window (and for
	// every invocation without a tumbling window): the one that writes.
	LogFieldFinal = "final"
	// LogFieldActors is the number of actors in the state (before a write).
	LogFieldActors = "actors"
	// LogFieldStateBytes is the size of the state returned (JSON bytes).
	LogFieldStateBytes = "state_bytes"
	// LogFieldEarlyWrites counts writes of the state in the middle of a
	// window because it reached Config.MaxStateBytes.
	LogFieldEarlyWrites = "early_writes"
	// LogFieldWritten counts actors whose summary was written.
	LogFieldWritten = "written"
	// LogFieldWrites counts UpdateItem calls (conditional failures
	// included, retries included).
	LogFieldWrites = "writes"
	// LogFieldAlreadyApplied counts actors skipped because the item already
	// held the window's token (a retried window).
	LogFieldAlreadyApplied = "already_applied"
	// LogFieldLate counts actors whose stored last_seen was later than the
	// window's newest event (counted, last_seen kept).
	LogFieldLate = "late"
	// LogFieldIDsDropped counts anonymous IDs not added to a user's full set.
	LogFieldIDsDropped = "anonymous_ids_dropped"
	// LogFieldWriteErrors counts failed UpdateItem attempts (each retried).
	LogFieldWriteErrors = "write_errors"
	// LogFieldUnwritten counts actors still not written when the invocation
	// gave up (the batch is then retried): alarm on it.
	LogFieldUnwritten = "unwritten"
	// LogFieldDurationMS is the handler's wall time in milliseconds.
	LogFieldDurationMS = "duration_ms"
	// LogFieldFailedSequenceNumber is the sequence number reported as a
	// batch item failure, when there is one.
	LogFieldFailedSequenceNumber = "failed_sequence_number"
	// LogFieldRequestID is the Lambda request ID.
	LogFieldRequestID = "aws_request_id"
	// LogFieldSequenceNumber identifies a skipped record in its own line.
	LogFieldSequenceNumber = "sequence_number"
	// LogFieldSuppressedEvents counts the events of forgotten actors skipped
	// (with Config.Suppression; the same name as the relay's count,
	// lake.LogFieldSuppressedEvents), LogFieldSuppressedActors the actors of
	// a window's state not written because they were forgotten after their
	// events were aggregated. Neither line names an actor.
	LogFieldSuppressedEvents = "suppressed_events"
	LogFieldSuppressedActors = "suppressed_actors"
)
