package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/firehose"

	"github.com/eventlake/eventlake/internal/delivery"
	"github.com/eventlake/eventlake/tracker"
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
	// KeepAside, when set, receives the INSERT records whose image breaks
	// the schema (not an event, or a line over MaxRecordBytes), so that they
	// can be fixed and reprocessed (go run ./scripts/eventlake reprocess);
	// nil only counts and logs them. The deployed function writes them to
	// the lake bucket (KEEP_ASIDE_BUCKET), the local stack to the lake
	// folder. See KeptAsideRecord for the object's layout.
	KeepAside KeepAsideStore
	// Now returns the time kept-aside objects are filed under; default
	// time.Now.
	Now func() time.Time
}

// KeepAsideStore stores an object; lake.Writer adapts the lake's stores
// (lake.S3Store, lake.FolderStore) to it. Put must replace an object with
// the same key (a retried invocation writes the same key again).
type KeepAsideStore interface {
	Put(ctx context.Context, key string, body []byte) error
}

// KeepAsidePrefix is where kept-aside records go, under the lake's errors/
// beside Firehose's own error output: KeepAsidePrefix + "dt=YYYY-MM-DD/" +
// the stream event ID of the invocation's first kept-aside record +
// ".ndjson", one object per invocation that kept anything aside, the day
// being the UTC day it was written.
const KeepAsidePrefix = "errors/relay/"

// KeptAsideRecord is one line of a kept-aside object: why the record was
// kept aside (never a value of the event) and its NewImage as DynamoDB JSON,
// exactly as the stream delivered it, so that it can be read back into
// events.DynamoDBAttributeValue (encoding/json) and encoded again.
type KeptAsideRecord struct {
	// Reason is "malformed" (the image is not an event) or "oversize" (its
	// line exceeds MaxRecordBytes).
	Reason string `json:"reason"`
	// Field is the schema field at fault ("" for the image as a whole),
	// Problem what is wrong with it.
	Field   string `json:"field,omitempty"`
	Problem string `json:"problem"`
	// LineBytes is an oversize event's line length.
	LineBytes int `json:"line_bytes,omitempty"`
	// SequenceNumber and StreamEventID identify the stream record.
	SequenceNumber string `json:"sequence_number"`
	StreamEventID  string `json:"stream_event_id"`
	// KeptAt is when the relay kept it aside.
	KeptAt time.Time `json:"kept_at"`
	// NewImage is the record's image (DynamoDB JSON); NewImageText holds it
	// as text when it is not JSON at all.
	NewImage     json.RawMessage `json:"new_image,omitempty"`
	NewImageText string          `json:"new_image_text,omitempty"`
}

// Handler relays the INSERT records of DynamoDB stream batches to Firehose
// as NDJSON lines. It is safe for concurrent use: each invocation uses its
// own buffers (pooled between invocations).
type Handler struct {
	send  *delivery.Sender
	log   *slog.Logger
	keep  KeepAsideStore
	now   func() time.Time
	pool  sync.Pool
	retry delivery.Config
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
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Handler{
		send:  send,
		log:   cfg.Logger,
		keep:  cfg.KeepAside,
		now:   cfg.Now,
		pool:  sync.Pool{New: func() any { return new(state) }},
		retry: send.Config(),
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
	out     delivery.Lines // every line, in stream order
	recOf   []int          // the index in the batch of each line's stream record
	raw     []rawRecord    // Invoke's records, slices of its payload
	aside   []aside        // records to keep aside, in stream order
	asideOK bool           // the kept-aside records were stored (or there were none)
}

// aside is a record to keep aside: its index in the batch and why.
type aside struct {
	rec       int
	reason    string
	err       *ImageError
	lineBytes int
}

// maxPooledBytes keeps an unusually large batch's buffer out of the pool.
const maxPooledBytes = 8 << 20

// summary is what an invocation did; it becomes the summary log line.
type summary struct {
	batch, notInsert, malformed, oversize int
	lines, bytes, delivered               int
	firehoseRecords, failedRecords        int
	failedEvents, keptAside               int
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
	resp, _ := h.handle(ctx, ev)
	return resp, nil
}

// HandleStats is Handle for callers other than Lambda (the recovery tools of
// lake/recovery): it relays ev exactly as Handle does and returns the
// response with what the invocation did.
func (h *Handler) HandleStats(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, Stats) {
	resp, sum := h.handle(ctx, ev)
	return resp, sum.stats()
}

// Stats is what one invocation did: the counts of its summary line.
type Stats struct {
	// Records is the batch size; NotInsert the MODIFY and REMOVE records.
	Records, NotInsert int
	// Delivered counts events delivered to Firehose, FailedEvents those
	// not delivered after every retry.
	Delivered, FailedEvents int
	// Rejected counts INSERTs whose image breaks the schema, KeptAside
	// those among them stored by Config.KeepAside.
	Rejected, KeptAside int
	// FailedSequenceNumber is the batch item failure, if any.
	FailedSequenceNumber string
}

func (s summary) stats() Stats {
	return Stats{Records: s.batch, NotInsert: s.notInsert, Delivered: s.delivered, FailedEvents: s.failedEvents,
		Rejected: s.malformed + s.oversize, KeptAside: s.keptAside, FailedSequenceNumber: s.failedSeq}
}

func (h *Handler) handle(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, summary) {
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
		h.check(ctx, st, &sum, i, start, err, func() (string, string) { return rec.Change.SequenceNumber, rec.EventID })
	}
	batch := batchOf{
		seq: func(i int) string { return ev.Records[i].Change.SequenceNumber },
		id:  func(i int) string { return ev.Records[i].EventID },
		image: func(i int) ([]byte, string) {
			b, err := json.Marshal(ev.Records[i].Change.NewImage)
			if err != nil || ev.Records[i].Change.NewImage == nil {
				return nil, ""
			}
			return b, ""
		},
	}
	return h.deliver(ctx, st, &sum, began, batch), sum
}

// batchOf reads the invocation's records by index: sequence number, stream
// event ID and NewImage (as JSON, or as text when it is not JSON).
type batchOf struct {
	seq, id func(i int) string
	image   func(i int) (json []byte, text string)
}

func (h *Handler) release(st *state) {
	st.out.Reset()
	if cap(st.out.Buf) > maxPooledBytes {
		st.out = delivery.Lines{}
	}
	clear(st.raw) // drop references to the payload
	st.raw, st.recOf, st.aside = st.raw[:0], st.recOf[:0], st.aside[:0]
	h.pool.Put(st)
}

// check records the line that encoding stream record i appended to
// st.out.Buf from start, or, when err is set or the line is over
// MaxRecordBytes, removes it, counts the record as malformed or oversize,
// logs it with the sequence number and stream event ID that ids returns
// (never a value of the event) and notes it to be kept aside.
func (h *Handler) check(ctx context.Context, st *state, sum *summary, i, start int, err error, ids func() (seq, eventID string)) {
	size := len(st.out.Buf) - start
	switch {
	case err != nil:
		sum.malformed++
		seq, id := ids()
		h.log.LogAttrs(ctx, slog.LevelWarn, "kept aside a stream record whose image is not an event",
			slog.String(LogFieldSequenceNumber, seq),
			slog.String(LogFieldStreamEventID, id),
			slog.String("error", err.Error()))
		ie, ok := err.(*ImageError)
		if !ok {
			ie = &ImageError{Problem: err.Error()}
		}
		st.aside = append(st.aside, aside{rec: i, reason: ReasonMalformed, err: ie})
	case size > MaxRecordBytes:
		sum.oversize++
		seq, id := ids()
		h.log.LogAttrs(ctx, slog.LevelError, "kept aside an event larger than a Firehose record; it stays in DynamoDB",
			slog.String(LogFieldSequenceNumber, seq),
			slog.String(LogFieldStreamEventID, id),
			slog.Int("line_bytes", size),
			slog.Int("limit_bytes", MaxRecordBytes))
		st.aside = append(st.aside, aside{rec: i, reason: ReasonOversize, lineBytes: size,
			err: &ImageError{Problem: fmt.Sprintf("its line of %d bytes exceeds a Firehose record (%d bytes)", size, MaxRecordBytes)}})
	default:
		st.out.End()
		st.recOf = append(st.recOf, i)
		return
	}
	st.out.Buf = st.out.Buf[:start]
}

// Reasons of KeptAsideRecord.
const (
	ReasonMalformed = "malformed"
	ReasonOversize  = "oversize"
)

// keepAside stores st.aside as one object and reports the index of the
// first kept-aside record when that failed (-1 otherwise).
func (h *Handler) keepAside(ctx context.Context, st *state, sum *summary, b batchOf) int {
	if len(st.aside) == 0 || h.keep == nil {
		return -1
	}
	now := h.now().UTC()
	var body []byte
	for _, a := range st.aside {
		r := KeptAsideRecord{Reason: a.reason, Field: a.err.Field, Problem: a.err.Problem, LineBytes: a.lineBytes,
			SequenceNumber: b.seq(a.rec), StreamEventID: b.id(a.rec), KeptAt: now}
		img, text := b.image(a.rec)
		switch {
		case img != nil && json.Valid(img):
			r.NewImage = img
		case img != nil:
			r.NewImageText = string(img)
		default:
			r.NewImageText = text
		}
		line, err := json.Marshal(r)
		if err != nil {
			line, _ = json.Marshal(KeptAsideRecord{Reason: a.reason, Problem: "the record could not be encoded: " + err.Error(),
				SequenceNumber: r.SequenceNumber, StreamEventID: r.StreamEventID, KeptAt: now})
		}
		body = append(append(body, line...), '\n')
	}
	key := KeepAsidePrefix + "dt=" + now.Format(tracker.DateLayout) + "/" + objectName(b.id(st.aside[0].rec), b.seq(st.aside[0].rec)) + ".ndjson"
	ctx, cancel := context.WithTimeout(ctx, h.retry.CallTimeout)
	err := h.keep.Put(ctx, key, body)
	cancel()
	if err != nil {
		h.log.LogAttrs(ctx, slog.LevelError, "could not keep records aside; the batch will be retried from the first of them",
			slog.String("key", key), slog.Int("records", len(st.aside)), slog.String("error", delivery.Describe(err)))
		return st.aside[0].rec
	}
	sum.keptAside = len(st.aside)
	return -1
}

// objectName makes a stream event ID (or, failing that, a sequence number)
// safe as the last part of an object key.
func objectName(id, seq string) string {
	name := id
	if name == "" {
		name = seq
	}
	var b strings.Builder
	for _, r := range name {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 || b.Len() > 200 {
		return "record"
	}
	return b.String()
}

// deliver packs and sends the lines in st, keeps aside what st.aside
// holds, logs the summary and returns the response: empty, or naming the
// earliest stream record with an undelivered line or a record that could
// not be kept aside.
func (h *Handler) deliver(ctx context.Context, st *state, sum *summary, began time.Time, b batchOf) events.DynamoDBEventResponse {
	asideFailed := h.keepAside(ctx, st, sum, b)
	sum.lines = st.out.Len()
	sum.bytes = len(st.out.Buf)
	res := h.send.Send(ctx, &st.out, began)
	sum.delivered, sum.firehoseRecords, sum.failedRecords = res.Delivered, res.Records, res.FailedRecords
	sum.failedEvents = sum.lines - sum.delivered
	sum.calls, sum.retries = res.Calls, res.Retries

	first := asideFailed
	if res.FirstFailed >= 0 {
		// Everything from the earliest failed record on is retried by
		// Lambda, so later calls were not attempted.
		if res.Err != nil {
			sum.lastError = delivery.Describe(res.Err)
		}
		h.log.LogAttrs(ctx, slog.LevelError, "firehose delivery failed; the batch will be retried from the earliest failed stream record",
			slog.String("error", sum.lastError), slog.Int("attempts", res.Attempts),
			slog.Int("undelivered_records", res.FailedRecords), slog.Int("undelivered_events", sum.failedEvents))
		if rec := st.recOf[res.FirstFailed]; first < 0 || rec < first {
			first = rec
		}
	}
	var resp events.DynamoDBEventResponse
	if first >= 0 {
		if sum.lastError == "" {
			sum.lastError = "records could not be kept aside"
		}
		sum.failedSeq = b.seq(first)
		resp.BatchItemFailures = []events.DynamoDBBatchItemFailure{{ItemIdentifier: sum.failedSeq}}
	}
	h.logSummary(ctx, sum, time.Since(began))
	return resp
}

func (h *Handler) logSummary(ctx context.Context, sum *summary, took time.Duration) {
	attrs := []slog.Attr{
		slog.Int(LogFieldBatchSize, sum.batch),
		slog.Int(LogFieldRecordsSize, sum.delivered),
		slog.Int(LogFieldFailedEvents, sum.failedEvents),
		slog.Int(LogFieldFailedRecords, sum.failedRecords),
		slog.Int(LogFieldSkipped, sum.notInsert+sum.malformed+sum.oversize),
		slog.Int(LogFieldNotInsert, sum.notInsert),
		slog.Int(LogFieldRejected, sum.malformed+sum.oversize),
		slog.Int(LogFieldMalformed, sum.malformed),
		slog.Int(LogFieldOversize, sum.oversize),
		slog.Int(LogFieldKeptAside, sum.keptAside),
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
	if sum.failedSeq != "" || sum.malformed+sum.oversize > 0 {
		level = slog.LevelWarn
	}
	h.log.LogAttrs(ctx, level, LogMessageSummary, attrs...)
}
