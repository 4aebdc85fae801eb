// Package delivery packs NDJSON event lines into Firehose records and puts
// them with PutRecordBatch within the API's limits, resending exactly the
// records Firehose refused (FailedPutCount > 0) and repeating failed calls
// with capped exponential backoff and jitter, within a time budget. It is the
// one Firehose writer of eventlake: the stream Lambda (lines from DynamoDB
// images) and the tracker's lake route (lines of events that skip DynamoDB)
// both send through it, so both pack and retry the same way.
//
// Firehose bills every record rounded up to 5 KB, so many lines share a
// record: a typical 350-byte event costs 5 KB alone and about 350 bytes
// packed.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

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

// MaxDeaggregatedLines is the most events Firehose's multi-record
// deaggregation (which the deployed stream runs before dynamic partitioning)
// takes from one record.
const MaxDeaggregatedLines = 500

// Defaults of Config.
const (
	DefaultRecordMaxBytes = MaxRecordBytes
	DefaultRecordMaxLines = MaxDeaggregatedLines
	DefaultSafetyMargin   = time.Second
	DefaultCallTimeout    = 10 * time.Second
	DefaultRetryTimeout   = 30 * time.Second
	DefaultBackoffBase    = 100 * time.Millisecond
	DefaultBackoffMax     = 5 * time.Second
)

// Firehose is the part of the Firehose client a Sender uses. The SDK's
// *firehose.Client satisfies it.
type Firehose interface {
	PutRecordBatch(ctx context.Context, in *firehose.PutRecordBatchInput, optFns ...func(*firehose.Options)) (*firehose.PutRecordBatchOutput, error)
}

// Config configures a Sender. Apart from DeliveryStreamName, the zero value
// of every field means its default.
type Config struct {
	// DeliveryStreamName names the Firehose delivery stream (required).
	DeliveryStreamName string
	// RecordMaxBytes is the size up to which lines are packed into one
	// record; default and maximum MaxRecordBytes. A longer line (within
	// MaxRecordBytes) gets a record of its own.
	RecordMaxBytes int
	// RecordMaxLines is the most lines packed into one record; default
	// DefaultRecordMaxLines, so that a stream with multi-record
	// deaggregation takes every line. It costs nothing measurable: 500
	// typical lines fill about 175 KB, far above the 5 KB Firehose rounds
	// each record up to.
	RecordMaxLines int
	// SafetyMargin is the time kept free before the context's deadline:
	// retries stop that long before it.
	SafetyMargin time.Duration
	// CallTimeout bounds one PutRecordBatch attempt, so a hung connection
	// is retried instead of using up the budget.
	CallTimeout time.Duration
	// RetryTimeout bounds the retries of a Send whose context has no
	// deadline.
	RetryTimeout time.Duration
	// BackoffBase and BackoffMax shape the retry delays: attempt n waits
	// between half and all of min(BackoffMax, BackoffBase * 2^(n-1)).
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// Logger receives a DEBUG line per failed attempt; nil means
	// slog.Default().
	Logger *slog.Logger
}

// Sender puts lines into one delivery stream. It is safe for concurrent
// use; each Send needs its own Lines.
type Sender struct {
	client Firehose
	cfg    Config
	stream *string
	retry  backoff.Policy
	log    *slog.Logger
}

// New returns a Sender that puts records with client. It fails when the
// client or the stream name is missing, or a size or duration is out of
// range.
func New(client Firehose, cfg Config) (*Sender, error) {
	if client == nil {
		return nil, errors.New("nil Firehose client")
	}
	if cfg.DeliveryStreamName == "" {
		return nil, errors.New("no delivery stream name")
	}
	if cfg.RecordMaxBytes < 0 || cfg.RecordMaxBytes > MaxRecordBytes {
		return nil, fmt.Errorf("RecordMaxBytes %d is outside 1-%d", cfg.RecordMaxBytes, MaxRecordBytes)
	}
	if cfg.RecordMaxLines < 0 {
		return nil, fmt.Errorf("RecordMaxLines %d is negative", cfg.RecordMaxLines)
	}
	if cfg.SafetyMargin < 0 || cfg.CallTimeout < 0 || cfg.RetryTimeout < 0 || cfg.BackoffBase < 0 || cfg.BackoffMax < 0 {
		return nil, errors.New("negative duration in Config")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if cfg.RecordMaxBytes == 0 {
		cfg.RecordMaxBytes = DefaultRecordMaxBytes
	}
	if cfg.RecordMaxLines == 0 {
		cfg.RecordMaxLines = DefaultRecordMaxLines
	}
	def(&cfg.SafetyMargin, DefaultSafetyMargin)
	def(&cfg.CallTimeout, DefaultCallTimeout)
	def(&cfg.RetryTimeout, DefaultRetryTimeout)
	def(&cfg.BackoffBase, DefaultBackoffBase)
	def(&cfg.BackoffMax, DefaultBackoffMax)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	stream := cfg.DeliveryStreamName
	return &Sender{
		client: client,
		cfg:    cfg,
		stream: &stream,
		retry:  backoff.Policy{Base: cfg.BackoffBase, Max: cfg.BackoffMax, Jitter: backoff.Equal},
		log:    cfg.Logger,
	}, nil
}

// Config returns the sender's configuration with defaults filled in.
func (s *Sender) Config() Config { return s.cfg }

// Lines holds NDJSON lines back to back and the buffers to send them. The
// zero value is empty and ready; Reset makes it reusable. It is not safe
// for concurrent use.
type Lines struct {
	// Buf holds the lines. Append a line's bytes to it, then call End.
	Buf []byte

	ends    []int    // end offset in Buf of each line
	recs    []record // Firehose records: runs of lines
	entries []types.Record
	pending []int
}

// record is one Firehose record: lines[first:last], Buf[start:end].
type record struct {
	start, end  int
	first, last int
}

// End marks the bytes appended to Buf since the previous line's end as one
// line (which should end with '\n').
func (l *Lines) End() { l.ends = append(l.ends, len(l.Buf)) }

// Len returns the number of lines.
func (l *Lines) Len() int { return len(l.ends) }

// Reset empties l and drops its references to record data, keeping the
// buffers' capacity.
func (l *Lines) Reset() {
	clear(l.entries[:cap(l.entries)])
	l.Buf, l.ends, l.recs, l.entries, l.pending = l.Buf[:0], l.ends[:0], l.recs[:0], l.entries[:0], l.pending[:0]
}

// Result is what one Send did.
type Result struct {
	// FirstFailed is the index of the earliest line not known to be
	// delivered, or -1 when every line was delivered. Every line before it
	// was delivered; lines after it may have been.
	FirstFailed int
	// Delivered counts lines acknowledged by Firehose, Records the records
	// that held them.
	Delivered, Records int
	// FailedRecords counts records still undelivered when Send gave up.
	FailedRecords int
	// Calls counts PutRecordBatch attempts, Retries those that repeated an
	// earlier one.
	Calls, Retries int
	// Err is the last error met (nil when every line was delivered), and
	// Attempts the attempts of the call that gave up.
	Err      error
	Attempts int
}

// Send packs l's lines into records of at most RecordMaxBytes and
// RecordMaxLines and puts them
// in calls within Firehose's limits, in order. Records that Firehose
// refuses are resent, alone, and failed calls (throttling, 5xx, timeouts)
// repeated, with backoff, until everything is delivered or the budget is
// spent: the context's deadline minus SafetyMargin, or began plus
// RetryTimeout when the context has no deadline. Bad requests and missing
// streams are not retried. Once a call fails for good, later calls are not
// attempted (a caller that retries from the first failed line would only
// deliver them twice).
func (s *Sender) Send(ctx context.Context, l *Lines, began time.Time) Result {
	res := Result{FirstFailed: -1}
	s.pack(l)
	budget := began.Add(s.cfg.RetryTimeout)
	if hardEnd, ok := ctx.Deadline(); ok {
		budget = hardEnd.Add(-s.cfg.SafetyMargin)
	}
	for i := 0; i < len(l.recs); {
		j, bytes := i, 0
		for j < len(l.recs) && j-i < MaxBatchRecords && bytes+l.recs[j].end-l.recs[j].start <= MaxBatchBytes {
			bytes += l.recs[j].end - l.recs[j].start
			j++
		}
		l.pending = l.pending[:0]
		for k := i; k < j; k++ {
			l.pending = append(l.pending, k)
		}
		if !s.putWithRetries(ctx, l, &res, budget) {
			res.FailedRecords = len(l.pending)
			res.FirstFailed = l.recs[l.pending[0]].first
			return res
		}
		i = j
	}
	res.Err = nil
	return res
}

// pack groups consecutive lines into records of at most RecordMaxBytes and
// RecordMaxLines (a longer line alone).
func (s *Sender) pack(l *Lines) {
	l.recs = l.recs[:0]
	start := 0
	for i := 0; i < len(l.ends); {
		j := i + 1
		for j < len(l.ends) && l.ends[j]-start <= s.cfg.RecordMaxBytes && j-i < s.cfg.RecordMaxLines {
			j++
		}
		end := l.ends[j-1]
		l.recs = append(l.recs, record{start: start, end: end, first: i, last: j})
		start, i = end, j
	}
}

// putWithRetries delivers the records in l.pending. It reports whether all
// were delivered; if not, l.pending holds the undelivered ones in order.
func (s *Sender) putWithRetries(ctx context.Context, l *Lines, res *Result, budget time.Time) bool {
	for attempt := 0; ; attempt++ {
		res.Attempts = attempt + 1
		if attempt > 0 {
			wait := s.retry.Delay(attempt)
			if time.Now().Add(wait).After(budget) || backoff.Sleep(ctx, wait) != nil {
				res.Attempts = attempt
				return false
			}
			res.Retries++
		}
		end := time.Now().Add(s.cfg.CallTimeout)
		if budget.Before(end) {
			end = budget
		}
		if res.Calls == 0 && !end.After(time.Now()) {
			// Send began with less than SafetyMargin left: try once
			// anyway, within the real deadline (the parent context's).
			end = time.Now().Add(s.cfg.CallTimeout)
		}
		retry, err := s.put(ctx, l, res, end)
		if len(l.pending) == 0 {
			return true
		}
		if err != nil {
			res.Err = err
			s.log.LogAttrs(ctx, slog.LevelDebug, "put record batch attempt failed",
				slog.String("error", Describe(err)), slog.Int("attempt", attempt+1), slog.Int("undelivered_records", len(l.pending)))
		}
		if !retry || ctx.Err() != nil {
			return false
		}
	}
}

// put makes one PutRecordBatch attempt for l.pending, removes the
// delivered records from it and reports whether the rest may be retried.
func (s *Sender) put(ctx context.Context, l *Lines, res *Result, end time.Time) (bool, error) {
	l.entries = l.entries[:0]
	for _, r := range l.pending {
		rec := l.recs[r]
		l.entries = append(l.entries, types.Record{Data: l.Buf[rec.start:rec.end:rec.end]})
	}
	actx, cancel := context.WithDeadline(ctx, end)
	out, err := s.client.PutRecordBatch(actx, &firehose.PutRecordBatchInput{
		DeliveryStreamName: s.stream,
		Records:            l.entries,
	})
	cancel()
	res.Calls++
	if err != nil {
		return Retryable(err), fmt.Errorf("put record batch: %w", err)
	}
	if len(out.RequestResponses) != len(l.pending) {
		return true, fmt.Errorf("put record batch: %d responses for %d records", len(out.RequestResponses), len(l.pending))
	}
	kept := l.pending[:0]
	var code string
	for i, r := range out.RequestResponses {
		if r.ErrorCode != nil {
			kept = append(kept, l.pending[i])
			code = *r.ErrorCode
			continue
		}
		rec := l.recs[l.pending[i]]
		res.Delivered += rec.last - rec.first
		res.Records++
	}
	l.pending = kept
	if len(kept) > 0 {
		return true, fmt.Errorf("put record batch: %d of %d records failed: %s", len(kept), len(out.RequestResponses), code)
	}
	return true, nil
}

// permanent are the error codes no retry can fix.
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

// Retryable reports whether a failed PutRecordBatch call may succeed when
// repeated: throttling (ServiceUnavailableException), 5xx, timeouts and
// network errors may; bad requests and missing resources may not.
func Retryable(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return !permanent[ae.ErrorCode()]
	}
	var ip smithy.InvalidParamsError
	return !errors.As(err, &ip)
}

// Describe renders err for logs: its API error code when it has one, with
// IP addresses (of endpoints, in network errors) redacted.
func Describe(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode() + ": " + redactIPs(ae.ErrorMessage())
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout: " + redactIPs(err.Error())
	}
	return redactIPs(err.Error())
}
