package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/firehose"

	"github.com/eventlake/eventlake/internal/delivery"
)

// Limits of the Firehose API (they cannot be raised).
const (
	// MaxRecordBytes is the largest Firehose record: 1,000 KiB.
	MaxRecordBytes = delivery.MaxRecordBytes
	// MaxBatchRecords is the most records one PutRecordBatch call takes.
	MaxBatchRecords = delivery.MaxBatchRecords
	// MaxBatchBytes is the most record data one PutRecordBatch call takes.
	MaxBatchBytes = delivery.MaxBatchBytes
)

// Defaults of Config.
const (
	DefaultRecordMaxBytes = delivery.DefaultRecordMaxBytes
	DefaultSafetyMargin   = delivery.DefaultSafetyMargin
	DefaultCallTimeout    = delivery.DefaultCallTimeout
	DefaultRetryTimeout   = delivery.DefaultRetryTimeout
	DefaultBackoffBase    = delivery.DefaultBackoffBase
	DefaultBackoffMax     = delivery.DefaultBackoffMax
)

// FirehoseAPI is the part of the Firehose client the handler uses. The
// SDK's *firehose.Client satisfies it; tests hand in the real client
// pointed at a Firehose-compatible endpoint.
type FirehoseAPI interface {
	PutRecordBatch(ctx context.Context, in *firehose.PutRecordBatchInput, optFns ...func(*firehose.Options)) (*firehose.PutRecordBatchOutput, error)
}

// Config configures a Handler. Apart from DeliveryStreamName, the zero
// value of every field means its default.
type Config struct {
	// DeliveryStreamName names the Firehose delivery stream (required).
	DeliveryStreamName string
	// RecordMaxBytes is the size up to which lines are packed into one
	// Firehose record; default and maximum MaxRecordBytes. Firehose bills
	// each record rounded up to 5 KB, so larger records cost less. A line
	// longer than RecordMaxBytes (but within MaxRecordBytes) gets a record
	// of its own.
	RecordMaxBytes int
	// RecordMaxLines is the most lines per record; default
	// delivery.DefaultRecordMaxLines (500), the most events Firehose's
	// multi-record deaggregation takes from one record.
	RecordMaxLines int
	// SafetyMargin is the time kept free before the invocation's deadline:
	// retries stop that long before it, leaving time to answer.
	SafetyMargin time.Duration
	// CallTimeout bounds one PutRecordBatch attempt, so a hung connection
	// is retried instead of using up the invocation.
	CallTimeout time.Duration
	// RetryTimeout bounds the retries of an invocation whose context has no
	// deadline (outside Lambda).
	RetryTimeout time.Duration
	// BackoffBase and BackoffMax shape the retry delays: attempt n waits
	// between half and all of min(BackoffMax, BackoffBase * 2^(n-1)).
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// Logger receives the JSON logs; default a slog.JSONHandler on stdout.
	Logger *slog.Logger
}

// Handler relays the INSERT records of DynamoDB stream batches to Firehose
// as NDJSON lines. It is safe for concurrent use: each invocation uses its
// own buffers (pooled between invocations).
type Handler struct {
	send *delivery.Sender
	log  *slog.Logger
	pool sync.Pool
}

// New returns a Handler that puts records with client. It fails with a
// *ConfigError, naming each setting by its environment variable and field,
// when the stream name is missing or a size or duration is out of range
// (the checks ConfigFromEnv applies too).
func New(client FirehoseAPI, cfg Config) (*Handler, error) {
	if client == nil {
		return nil, errors.New("relay: nil Firehose client")
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(os.Stdout, nil))
	}
	send, err := delivery.New(client, delivery.Config{
		DeliveryStreamName: cfg.DeliveryStreamName,
		RecordMaxBytes:     cfg.RecordMaxBytes,
		RecordMaxLines:     cfg.RecordMaxLines,
		SafetyMargin:       cfg.SafetyMargin,
		CallTimeout:        cfg.CallTimeout,
		RetryTimeout:       cfg.RetryTimeout,
		BackoffBase:        cfg.BackoffBase,
		BackoffMax:         cfg.BackoffMax,
		Logger:             cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	return &Handler{
		send: send,
		log:  cfg.Logger,
		pool: sync.Pool{New: func() any { return new(state) }},
	}, nil
}

// ClientOptions configures a Firehose client for the handler: the SDK's
// own retries are turned off because the handler retries (per record, with
// the invocation's deadline in view). Use it with firehose.NewFromConfig.
func ClientOptions(o *firehose.Options) {
	o.RetryMaxAttempts = 1
}

// state holds one invocation's buffers.
type state struct {
	sc    scratch
	out   delivery.Lines // every line, in stream order
	recOf []int          // the index in the batch of each line's stream record
	raw   []rawRecord    // Invoke's records, slices of its payload
}

// maxPooledBytes keeps an unusually large batch's buffer out of the pool.
const maxPooledBytes = 8 << 20

// summary is what an invocation did; it becomes the summary log line.
type summary struct {
	batch, notInsert, malformed, oversize int
	lines, bytes, delivered               int
	firehoseRecords, failedRecords        int
	calls, retries                        int
	failedSeq, lastError                  string
}

// Handle relays the INSERT records of ev and reports the stream records to
// retry. Its signature is the one lambda.Start expects for DynamoDB stream
// events with ReportBatchItemFailures enabled on the event source mapping.
//
// MODIFY and REMOVE records (TTL deletions included) are counted and
// skipped. An INSERT whose NewImage is not an event (see AppendLine) is
// logged with its sequence number, counted and skipped, and so is an event
// whose line exceeds MaxRecordBytes: no retry could ever deliver it, so
// reporting it as a failure would only block the shard; it stays in
// DynamoDB and the "oversize" count in the summary line makes it visible.
//
// Records that Firehose refuses (FailedPutCount > 0) are resent, alone,
// and failed calls (throttling, 5xx, timeouts) repeated, with capped
// exponential backoff and jitter, until everything is delivered or the
// invocation's time (its deadline minus SafetyMargin) is up. Then the
// response names the earliest stream record with an undelivered line, so
// Lambda retries from there: delivery is at least once, duplicates carry
// the same event_id. Handle never returns an error.
func (h *Handler) Handle(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	began := time.Now()
	st := h.pool.Get().(*state)
	defer h.release(st)

	sum := summary{batch: len(ev.Records)}
	for i := range ev.Records {
		rec := &ev.Records[i]
		if rec.EventName != string(events.DynamoDBOperationTypeInsert) {
			sum.notInsert++
			continue
		}
		start := len(st.out.Buf)
		var err error
		st.out.Buf, err = appendLine(st.out.Buf, rec.Change.NewImage, &st.sc)
		h.keep(ctx, st, &sum, i, start, err, func() (string, string) { return rec.Change.SequenceNumber, rec.EventID })
	}
	return h.deliver(ctx, st, &sum, began, func(i int) string { return ev.Records[i].Change.SequenceNumber }), nil
}

func (h *Handler) release(st *state) {
	st.out.Reset()
	if cap(st.out.Buf) > maxPooledBytes {
		st.out = delivery.Lines{}
	}
	clear(st.raw) // drop references to the payload
	st.raw, st.recOf = st.raw[:0], st.recOf[:0]
	h.pool.Put(st)
}

// keep records the line that encoding stream record i appended to st.out.Buf
// from start, or, when err is set or the line is over MaxRecordBytes,
// removes it, counts the record as skipped and logs it with the sequence
// number and stream event ID that ids returns.
func (h *Handler) keep(ctx context.Context, st *state, sum *summary, i, start int, err error, ids func() (seq, eventID string)) {
	size := len(st.out.Buf) - start
	switch {
	case err != nil:
		sum.malformed++
		seq, id := ids()
		h.log.LogAttrs(ctx, slog.LevelWarn, "skipped a stream record whose image is not an event",
			slog.String(LogFieldSequenceNumber, seq),
			slog.String(LogFieldStreamEventID, id),
			slog.String("error", err.Error()))
	case size > MaxRecordBytes:
		sum.oversize++
		seq, id := ids()
		h.log.LogAttrs(ctx, slog.LevelError, "skipped an event larger than a Firehose record; it stays in DynamoDB",
			slog.String(LogFieldSequenceNumber, seq),
			slog.String(LogFieldStreamEventID, id),
			slog.Int("line_bytes", size),
			slog.Int("limit_bytes", MaxRecordBytes))
	default:
		st.out.End()
		st.recOf = append(st.recOf, i)
		return
	}
	st.out.Buf = st.out.Buf[:start]
}

// deliver packs and sends the lines in st, logs the summary and returns
// the response: empty, or naming the earliest stream record with an
// undelivered line, whose sequence number seq returns.
func (h *Handler) deliver(ctx context.Context, st *state, sum *summary, began time.Time, seq func(i int) string) events.DynamoDBEventResponse {
	sum.lines = st.out.Len()
	sum.bytes = len(st.out.Buf)
	res := h.send.Send(ctx, &st.out, began)
	sum.delivered, sum.firehoseRecords, sum.failedRecords = res.Delivered, res.Records, res.FailedRecords
	sum.calls, sum.retries = res.Calls, res.Retries

	var resp events.DynamoDBEventResponse
	if res.FirstFailed >= 0 {
		// Everything from the earliest failed record on is retried by
		// Lambda, so later calls were not attempted.
		if res.Err != nil {
			sum.lastError = delivery.Describe(res.Err)
		}
		h.log.LogAttrs(ctx, slog.LevelError, "firehose delivery failed; the batch will be retried from the earliest failed stream record",
			slog.String("error", sum.lastError), slog.Int("attempts", res.Attempts), slog.Int("undelivered_records", res.FailedRecords))
		sum.failedSeq = seq(st.recOf[res.FirstFailed])
		resp.BatchItemFailures = []events.DynamoDBBatchItemFailure{{ItemIdentifier: sum.failedSeq}}
	}
	h.logSummary(ctx, sum, time.Since(began))
	return resp
}

func (h *Handler) logSummary(ctx context.Context, sum *summary, took time.Duration) {
	attrs := []slog.Attr{
		slog.Int(LogFieldBatchSize, sum.batch),
		slog.Int(LogFieldRecordsSize, sum.delivered),
		slog.Int(LogFieldFailedPutCount, sum.failedRecords),
		slog.Int(LogFieldSkipped, sum.notInsert+sum.malformed+sum.oversize),
		slog.Int(LogFieldNotInsert, sum.notInsert),
		slog.Int(LogFieldMalformed, sum.malformed),
		slog.Int(LogFieldOversize, sum.oversize),
		slog.Int(LogFieldLines, sum.lines),
		slog.Int(LogFieldBytes, sum.bytes),
		slog.Int(LogFieldFirehoseRecords, sum.firehoseRecords),
		slog.Int(LogFieldPutCalls, sum.calls),
		slog.Int(LogFieldRetries, sum.retries),
		slog.Int64(LogFieldDurationMS, took.Milliseconds()),
	}
	if sum.failedSeq != "" {
		attrs = append(attrs, slog.String(LogFieldFailedSequenceNumber, sum.failedSeq), slog.String("error", sum.lastError))
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		attrs = append(attrs, slog.String(LogFieldRequestID, lc.AwsRequestID))
	}
	level := slog.LevelInfo
	if sum.failedSeq != "" {
		level = slog.LevelWarn
	}
	h.log.LogAttrs(ctx, level, LogMessageSummary, attrs...)
}
