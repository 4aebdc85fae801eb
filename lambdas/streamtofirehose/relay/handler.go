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
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/smithy-go"

	"github.com/eventlake/eventlake/internal/backoff"
)

// Limits of the Firehose API (they cannot be raised).
const (
	// MaxRecordBytes is the largest Firehose record: 1,000 KiB.
	MaxRecordBytes = 1000 << 10
	// MaxBatchRecords is the most records one PutRecordBatch call takes.
	MaxBatchRecords = 500
	// MaxBatchBytes is the most record data one PutRecordBatch call takes.
	MaxBatchBytes = 4 << 20
)

// Defaults of Config.
const (
	DefaultRecordMaxBytes = MaxRecordBytes
	DefaultSafetyMargin   = time.Second
	DefaultCallTimeout    = 10 * time.Second
	DefaultRetryTimeout   = 30 * time.Second
	DefaultBackoffBase    = 100 * time.Millisecond
	DefaultBackoffMax     = 5 * time.Second
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
	client FirehoseAPI
	cfg    Config
	stream *string
	retry  backoff.Policy
	log    *slog.Logger
	pool   sync.Pool
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
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if cfg.RecordMaxBytes == 0 {
		cfg.RecordMaxBytes = DefaultRecordMaxBytes
	}
	def(&cfg.SafetyMargin, DefaultSafetyMargin)
	def(&cfg.CallTimeout, DefaultCallTimeout)
	def(&cfg.RetryTimeout, DefaultRetryTimeout)
	def(&cfg.BackoffBase, DefaultBackoffBase)
	def(&cfg.BackoffMax, DefaultBackoffMax)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(os.Stdout, nil))
	}
	stream := cfg.DeliveryStreamName
	return &Handler{
		client: client,
		cfg:    cfg,
		stream: &stream,
		retry:  backoff.Policy{Base: cfg.BackoffBase, Max: cfg.BackoffMax, Jitter: backoff.Equal},
		log:    cfg.Logger,
		pool:   sync.Pool{New: func() any { return new(state) }},
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
	sc      scratch
	buf     []byte   // every line, back to back
	lines   []line   // lines in stream order
	recs    []record // Firehose records: runs of lines
	entries []types.Record
	pending []int
	raw     []rawRecord // Invoke's records, slices of its payload
}

// line is one event line: buf[previous line's end:end], from ev.Records[rec].
type line struct {
	end int
	rec int
}

// record is one Firehose record: lines[first:last], buf[start:end].
type record struct {
	start, end  int
	first, last int
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
		start := len(st.buf)
		var err error
		st.buf, err = appendLine(st.buf, rec.Change.NewImage, &st.sc)
		h.keep(ctx, st, &sum, i, start, err, func() (string, string) { return rec.Change.SequenceNumber, rec.EventID })
	}
	return h.deliver(ctx, st, &sum, began, func(i int) string { return ev.Records[i].Change.SequenceNumber }), nil
}

func (h *Handler) release(st *state) {
	if cap(st.buf) > maxPooledBytes {
		st.buf = nil
	}
	clear(st.entries[:cap(st.entries)]) // drop references to buf
	clear(st.raw)                       // and to the payload
	st.raw = st.raw[:0]
	st.buf, st.lines, st.recs, st.entries, st.pending = st.buf[:0], st.lines[:0], st.recs[:0], st.entries[:0], st.pending[:0]
	h.pool.Put(st)
}

// keep records the line that encoding stream record i appended to st.buf
// from start, or, when err is set or the line is over MaxRecordBytes,
// removes it, counts the record as skipped and logs it with the sequence
// number and stream event ID that ids returns.
func (h *Handler) keep(ctx context.Context, st *state, sum *summary, i, start int, err error, ids func() (seq, eventID string)) {
	size := len(st.buf) - start
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
		st.lines = append(st.lines, line{end: len(st.buf), rec: i})
		return
	}
	st.buf = st.buf[:start]
}

// deliver packs and sends the lines in st, logs the summary and returns
// the response: empty, or naming the earliest stream record with an
// undelivered line, whose sequence number seq returns.
func (h *Handler) deliver(ctx context.Context, st *state, sum *summary, began time.Time, seq func(i int) string) events.DynamoDBEventResponse {
	sum.lines = len(st.lines)
	sum.bytes = len(st.buf)
	h.pack(st)
	failed := h.send(ctx, st, sum, began)

	var resp events.DynamoDBEventResponse
	if failed >= 0 {
		sum.failedSeq = seq(failed)
		resp.BatchItemFailures = []events.DynamoDBBatchItemFailure{{ItemIdentifier: sum.failedSeq}}
	}
	h.logSummary(ctx, sum, time.Since(began))
	return resp
}

// pack groups consecutive lines into records of at most RecordMaxBytes (a
// longer line alone).
func (h *Handler) pack(st *state) {
	start := 0
	for i := 0; i < len(st.lines); {
		j := i + 1
		for j < len(st.lines) && st.lines[j].end-start <= h.cfg.RecordMaxBytes {
			j++
		}
		end := st.lines[j-1].end
		st.recs = append(st.recs, record{start: start, end: end, first: i, last: j})
		start, i = end, j
	}
}

// send puts st.recs in calls within Firehose's limits, in order, and
// returns the index in ev.Records of the earliest record with an
// undelivered line, or -1.
func (h *Handler) send(ctx context.Context, st *state, sum *summary, began time.Time) int {
	budget := began.Add(h.cfg.RetryTimeout)
	hardEnd, hasDeadline := ctx.Deadline()
	if hasDeadline {
		budget = hardEnd.Add(-h.cfg.SafetyMargin)
	}
	for i := 0; i < len(st.recs); {
		j, bytes := i, 0
		for j < len(st.recs) && j-i < MaxBatchRecords && bytes+st.recs[j].end-st.recs[j].start <= MaxBatchBytes {
			bytes += st.recs[j].end - st.recs[j].start
			j++
		}
		st.pending = st.pending[:0]
		for k := i; k < j; k++ {
			st.pending = append(st.pending, k)
		}
		if !h.putWithRetries(ctx, st, sum, budget) {
			// Everything from the earliest failed record on is retried by
			// Lambda, so later calls would only add duplicates.
			sum.failedRecords = len(st.pending)
			first := st.recs[st.pending[0]].first
			return st.lines[first].rec
		}
		i = j
	}
	return -1
}

// putWithRetries delivers the records in st.pending. It reports whether
// all were delivered; if not, st.pending holds the undelivered ones in
// order.
func (h *Handler) putWithRetries(ctx context.Context, st *state, sum *summary, budget time.Time) bool {
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			wait := h.retry.Delay(attempt)
			if time.Now().Add(wait).After(budget) || backoff.Sleep(ctx, wait) != nil {
				return false
			}
			sum.retries++
		}
		end := time.Now().Add(h.cfg.CallTimeout)
		if budget.Before(end) {
			end = budget
		}
		if sum.calls == 0 && !end.After(time.Now()) {
			// The invocation began with less than SafetyMargin left: try
			// once anyway, within the real deadline (the parent context's).
			end = time.Now().Add(h.cfg.CallTimeout)
		}
		retry, err := h.put(ctx, st, sum, end)
		if len(st.pending) == 0 {
			return true
		}
		if err != nil {
			sum.lastError = describe(err)
			h.log.LogAttrs(ctx, slog.LevelDebug, "put record batch attempt failed",
				slog.String("error", sum.lastError), slog.Int("attempt", attempt+1), slog.Int("undelivered_records", len(st.pending)))
		}
		if !retry || ctx.Err() != nil {
			h.log.LogAttrs(ctx, slog.LevelError, "firehose delivery failed; the batch will be retried from the earliest failed stream record",
				slog.String("error", sum.lastError), slog.Int("attempts", attempt+1), slog.Int("undelivered_records", len(st.pending)))
			return false
		}
	}
}

// put makes one PutRecordBatch attempt for st.pending, removes the
// delivered records from it and reports whether the rest may be retried.
func (h *Handler) put(ctx context.Context, st *state, sum *summary, end time.Time) (bool, error) {
	st.entries = st.entries[:0]
	for _, r := range st.pending {
		rec := st.recs[r]
		st.entries = append(st.entries, types.Record{Data: st.buf[rec.start:rec.end:rec.end]})
	}
	actx, cancel := context.WithDeadline(ctx, end)
	out, err := h.client.PutRecordBatch(actx, &firehose.PutRecordBatchInput{
		DeliveryStreamName: h.stream,
		Records:            st.entries,
	})
	cancel()
	sum.calls++
	if err != nil {
		return retryable(err), fmt.Errorf("put record batch: %w", err)
	}
	if len(out.RequestResponses) != len(st.pending) {
		return true, fmt.Errorf("put record batch: %d responses for %d records", len(out.RequestResponses), len(st.pending))
	}
	kept := st.pending[:0]
	var code string
	for i, r := range out.RequestResponses {
		if r.ErrorCode != nil {
			kept = append(kept, st.pending[i])
			code = *r.ErrorCode
			continue
		}
		rec := st.recs[st.pending[i]]
		sum.delivered += rec.last - rec.first
		sum.firehoseRecords++
	}
	st.pending = kept
	if len(kept) > 0 {
		return true, fmt.Errorf("put record batch: %d of %d records failed: %s", len(kept), len(out.RequestResponses), code)
	}
	return true, nil
}

// permanent are the error codes no retry within an invocation can fix.
var permanent = map[string]bool{
	"InvalidArgumentException":    true,
	"ResourceNotFoundException":   true,
	"InvalidKMSResourceException": true,
	"InvalidSourceException":      true,
	"AccessDeniedException":       true,
	"ValidationException":         true,
	"SerializationException":      true,
	"UnknownOperationException":   true,
}

// retryable reports whether a failed PutRecordBatch call may succeed when
// repeated: throttling (ServiceUnavailableException), 5xx, timeouts and
// network errors may; bad requests and missing resources may not.
func retryable(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return !permanent[ae.ErrorCode()]
	}
	var ip smithy.InvalidParamsError
	return !errors.As(err, &ip)
}

// describe renders err for the logs: its API error code when it has one,
// with IP addresses (of endpoints, in network errors) redacted.
func describe(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode() + ": " + redactIPs(ae.ErrorMessage())
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout: " + redactIPs(err.Error())
	}
	return redactIPs(err.Error())
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
