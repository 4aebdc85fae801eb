package summary

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go"

	"github.com/eventlake/eventlake/internal/backoff"
	"github.com/eventlake/eventlake/tracker"
)

// Defaults and limits of Config.
const (
	// DefaultWindow is the tumbling window the CDK app and the local
	// pipeline configure when nothing else is said: a minute, so an actor
	// active all the time costs at most 60 summary writes an hour.
	DefaultWindow = time.Minute
	// MaxWindow is the largest tumbling window Lambda accepts (900 s).
	MaxWindow = 15 * time.Minute
	// MaxStateLimit is Lambda's limit on a window's state per shard (1 MB);
	// DefaultMaxStateBytes leaves room below it.
	MaxStateLimit        = 1_000_000
	DefaultMaxStateBytes = 800_000
	// DefaultWriteConcurrency is how many UpdateItem calls a final
	// invocation has in flight.
	DefaultWriteConcurrency = 16
	DefaultSafetyMargin     = time.Second
	DefaultBackoffBase      = 100 * time.Millisecond
	DefaultBackoffMax       = 5 * time.Second
	// defaultBudget bounds an invocation whose context has no deadline.
	defaultBudget = 30 * time.Second
)

// Config configures a Handler. SummaryTable is required; the zero value of
// every other field means its default.
type Config struct {
	// SummaryTable is the summary table's name.
	SummaryTable string
	// Window is the event source mapping's tumbling window, for a check
	// only: an event whose window has another length is logged at WARN.
	// Zero skips the check.
	Window time.Duration
	// MaxStateBytes bounds the state returned to Lambda (JSON bytes, at most
	// MaxStateLimit); a window whose state would grow beyond it is written
	// in the middle and starts afresh. Default DefaultMaxStateBytes.
	MaxStateBytes int
	// WriteConcurrency is the number of UpdateItem calls in flight while
	// writing a window; default DefaultWriteConcurrency.
	WriteConcurrency int
	// SafetyMargin is the time kept free before the invocation's deadline:
	// no write starts after it. Default DefaultSafetyMargin.
	SafetyMargin time.Duration
	// BackoffBase and BackoffMax bound the waits between passes over the
	// actors whose write failed (capped exponential, with jitter); defaults
	// DefaultBackoffBase and DefaultBackoffMax.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// Writer configures the tracker.SummaryWriter (attempts per actor, the
	// cache of stored summaries that saves the second UpdateItem of a late
	// event or a link seen again); its Table is set from SummaryTable.
	Writer tracker.SummaryWriterConfig
	// Logger receives the invocation lines; default slog.Default().
	Logger *slog.Logger
	// Suppression, when set, is the suppression list of the lake's erasures
	// (a *lake.SuppressionCache; main loads it from SUPPRESSION_BUCKET): the
	// events of forgotten actors are skipped (LogFieldSuppressedEvents), a
	// kept user's event does not link a forgotten visitor, and an actor
	// forgotten while its window was open is not written
	// (LogFieldSuppressedActors), so an erasure's deleted summaries are not
	// recreated. The list is refreshed at the start of each invocation when
	// stale; while it was never loaded, invocations fail and are retried.
	Suppression Suppressor
}

// Suppressor is the suppression list as the handler reads it;
// *lake.SuppressionCache implements it. Its methods must be safe for
// concurrent use.
type Suppressor interface {
	// MaybeRefresh reads the list again when it is stale (errors are the
	// implementation's to log; the last list stays in use).
	MaybeRefresh(ctx context.Context) error
	// Loaded reports whether a list was ever loaded.
	Loaded() bool
	// Suppressed reports whether an event with these IDs belongs to a
	// forgotten actor (lake.Suppression.Suppressed's rule).
	Suppressed(userID, anonymousID string) bool
}

// ErrSuppressionNotLoaded fails an invocation while Config.Suppression
// never loaded a list: Lambda retries the batch, so that nothing of a
// forgotten actor is written.
var ErrSuppressionNotLoaded = errors.New("summary: the suppression list was never loaded")

// ClientOptions switch off the SDK's own retries for the DynamoDB client a
// Handler writes with (dynamodb.NewFromConfig(cfg, summary.ClientOptions)):
// the handler retries the actors whose write failed itself, knowing the
// invocation's deadline.
func ClientOptions(o *dynamodb.Options) { o.RetryMaxAttempts = 1 }

// Handler is the summarize Lambda's handler. It is safe for concurrent use
// (Lambda invokes one at a time per execution environment).
type Handler struct {
	w   *tracker.SummaryWriter
	cfg Config
	log *slog.Logger
}

// New returns a Handler writing the summary table with db. It fails, naming
// the field, when the configuration is out of range; it does no I/O.
func New(db tracker.SummaryUpdater, cfg Config) (*Handler, error) {
	switch {
	case cfg.Window < 0 || cfg.Window > MaxWindow || cfg.Window%time.Second != 0:
		return nil, fmt.Errorf("summary: Config.Window %v is not a whole number of seconds from 0 to %v", cfg.Window, MaxWindow)
	case cfg.MaxStateBytes < 0 || cfg.MaxStateBytes > MaxStateLimit:
		return nil, fmt.Errorf("summary: Config.MaxStateBytes %d is outside 0..%d", cfg.MaxStateBytes, MaxStateLimit)
	case cfg.WriteConcurrency < 0:
		return nil, errors.New("summary: Config.WriteConcurrency is negative")
	case cfg.SafetyMargin < 0 || cfg.BackoffBase < 0 || cfg.BackoffMax < 0:
		return nil, errors.New("summary: a negative duration in Config")
	}
	wc := cfg.Writer
	wc.Table = cfg.SummaryTable
	w, err := tracker.NewSummaryWriter(db, wc)
	if err != nil {
		return nil, fmt.Errorf("summary: %w", err)
	}
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&cfg.SafetyMargin, DefaultSafetyMargin)
	def(&cfg.BackoffBase, DefaultBackoffBase)
	def(&cfg.BackoffMax, DefaultBackoffMax)
	cfg.BackoffMax = max(cfg.BackoffMax, cfg.BackoffBase)
	if cfg.MaxStateBytes == 0 {
		cfg.MaxStateBytes = DefaultMaxStateBytes
	}
	if cfg.WriteConcurrency == 0 {
		cfg.WriteConcurrency = DefaultWriteConcurrency
	}
	h := &Handler{w: w, cfg: cfg, log: cfg.Logger}
	if h.log == nil {
		h.log = slog.Default()
	}
	return h, nil
}

// Invoke implements lambda.Handler: lambda.Start(h) hands it the raw
// payload, a DynamoDBTimeWindowEvent (or a plain DynamoDBEvent without a
// tumbling window), and sends its answer back to Lambda: a
// DynamoDBTimeWindowEventResponse. It fails only when the payload is not a
// JSON object, the state is not one this handler wrote, or a final
// invocation without records could not write everything (Lambda then
// retries it).
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	start := time.Now()
	inv, err := decodePayload(payload)
	if err != nil {
		h.log.ErrorContext(ctx, "undecodable invocation payload", "error", err, LogFieldRequestID, requestID(ctx))
		return nil, err
	}
	resp, err := h.handle(ctx, inv, start)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(resp); err != nil {
		return nil, fmt.Errorf("encode the response: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// Handle does what Invoke does for a decoded event.
func (h *Handler) Handle(ctx context.Context, e events.DynamoDBTimeWindowEvent) (events.DynamoDBTimeWindowEventResponse, error) {
	return h.handle(ctx, fromEvent(&e), time.Now())
}

// stats are the counts of one invocation, for its log line.
type stats struct {
	batch, events, notInsert, malformed, earlyWrites int
	actors                                           int
	written, writes, already, late, idsDropped       int
	writeErrors, unwritten, invalid                  int
	suppressed, suppressedActors                     int
}

func (h *Handler) handle(ctx context.Context, inv *invocation, start time.Time) (events.DynamoDBTimeWindowEventResponse, error) {
	st := stats{batch: len(inv.records)}
	var resp events.DynamoDBTimeWindowEventResponse
	agg := newAggregate()
	if inv.windowed {
		var err error
		if agg, err = decodeState(inv.state); err != nil {
			h.log.ErrorContext(ctx, "invocation with a state this handler did not write", "error", err,
				LogFieldRequestID, requestID(ctx))
			return resp, err
		}
		if h.cfg.Window > 0 && inv.end.Sub(inv.start) != h.cfg.Window {
			h.log.WarnContext(ctx, "the event's window is not the configured one: the event source mapping's TumblingWindowInSeconds and "+
				EnvWindowSeconds+" differ", "window", inv.end.Sub(inv.start).String(), "configured", h.cfg.Window.String())
		}
		if inv.early {
			h.log.WarnContext(ctx, "Lambda terminated the window early (state over its limit)", LogFieldWindowStart, inv.start)
		}
	}
	deadline := invocationDeadline(ctx, start)
	list := h.cfg.Suppression
	if list != nil {
		_ = list.MaybeRefresh(ctx)
		if !list.Loaded() {
			return h.fail(ctx, inv, ErrSuppressionNotLoaded, &st, start)
		}
	}
	for i := range inv.records {
		r := &inv.records[i]
		if r.name != "INSERT" {
			st.notInsert++
			continue
		}
		if err := checkRecord(r); err != nil {
			st.malformed++
			h.log.WarnContext(ctx, "stream record is not an event; skipped", LogFieldSequenceNumber, r.seq, "reason", err.Error())
			continue
		}
		if list != nil {
			if list.Suppressed(r.userID, r.anonymousID) {
				st.suppressed++
				continue
			}
			if r.userID != "" && r.anonymousID != "" && list.Suppressed("", r.anonymousID) {
				// A kept user's event on a forgotten visitor's browser: the
				// user's, without the link to the visitor.
				r.anonymousID = ""
			}
		}
		agg.add(r)
		st.events++
		if inv.windowed && !inv.final && agg.size() > h.cfg.MaxStateBytes {
			st.actors += len(agg.actors)
			if err := h.write(ctx, inv, agg, deadline, &st); err != nil {
				return h.fail(ctx, inv, err, &st, start)
			}
			st.earlyWrites++
			agg = newAggregate()
		}
	}
	if !inv.windowed || inv.final {
		st.actors += len(agg.actors)
		if err := h.write(ctx, inv, agg, deadline, &st); err != nil {
			return h.fail(ctx, inv, err, &st, start)
		}
		agg = newAggregate()
	} else {
		st.actors += len(agg.actors)
	}
	if inv.windowed {
		resp.State = agg.state()
	}
	h.logSummary(ctx, inv, &st, agg.size(), start, "", nil)
	return resp, nil
}

// fail answers an invocation whose writes failed: a batch item failure
// naming the first record, with the state the invocation received, so that
// Lambda retries the whole batch from that state; a function error when
// there is no record to name.
func (h *Handler) fail(ctx context.Context, inv *invocation, cause error, st *stats, start time.Time) (events.DynamoDBTimeWindowEventResponse, error) {
	var resp events.DynamoDBTimeWindowEventResponse
	if len(inv.records) == 0 {
		h.logSummary(ctx, inv, st, 0, start, "", cause)
		return resp, fmt.Errorf("summary: write the window's summaries: %w", cause)
	}
	if inv.windowed {
		resp.State = inv.state
		if resp.State == nil {
			resp.State = map[string]string{}
		}
	}
	seq := inv.records[0].seq
	resp.BatchItemFailures = []events.DynamoDBBatchItemFailure{{ItemIdentifier: seq}}
	h.logSummary(ctx, inv, st, 0, start, seq, cause)
	return resp, nil
}

func (h *Handler) logSummary(ctx context.Context, inv *invocation, st *stats, stateBytes int, start time.Time, failedSeq string, err error) {
	level := slog.LevelInfo
	if err != nil || st.malformed > 0 || st.invalid > 0 {
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.Int(LogFieldBatchSize, st.batch), slog.Int(LogFieldEvents, st.events),
		slog.Int(LogFieldNotInsert, st.notInsert), slog.Int(LogFieldMalformed, st.malformed),
		slog.Bool(LogFieldFinal, !inv.windowed || inv.final), slog.Int(LogFieldActors, st.actors),
		slog.Int(LogFieldStateBytes, stateBytes), slog.Int(LogFieldEarlyWrites, st.earlyWrites),
		slog.Int(LogFieldWritten, st.written), slog.Int(LogFieldWrites, st.writes),
		slog.Int(LogFieldAlreadyApplied, st.already), slog.Int(LogFieldLate, st.late),
		slog.Int(LogFieldIDsDropped, st.idsDropped), slog.Int(LogFieldWriteErrors, st.writeErrors),
		slog.Int(LogFieldUnwritten, st.unwritten),
		slog.Int64(LogFieldDurationMS, time.Since(start).Milliseconds()),
		slog.String(LogFieldRequestID, requestID(ctx)),
	}
	if inv.windowed {
		attrs = append(attrs, slog.String(LogFieldWindowStart, inv.start.Format(time.RFC3339)))
	}
	if st.invalid > 0 {
		attrs = append(attrs, slog.Int("invalid_actors", st.invalid))
	}
	if h.cfg.Suppression != nil {
		attrs = append(attrs, slog.Int(LogFieldSuppressedEvents, st.suppressed), slog.Int(LogFieldSuppressedActors, st.suppressedActors))
	}
	if failedSeq != "" {
		attrs = append(attrs, slog.String(LogFieldFailedSequenceNumber, failedSeq))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	h.log.LogAttrs(ctx, level, LogMessageSummary, attrs...)
}

// batchToken identifies the batch of events an aggregate holds: the stream,
// shard, window and first record. A retry of the same window, or the same
// window read again from the same checkpoint, gives the same token.
func batchToken(inv *invocation, first string) string {
	sum := sha256.Sum256([]byte(inv.arn + "\n" + inv.shardID + "\n" + inv.start.Format(time.RFC3339Nano) + "\n" + first))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// write applies the aggregate's deltas, WriteConcurrency at a time, and
// retries those that fail in passes with backoff until the safety margin
// before the deadline. It returns nil when every actor was written (or
// skipped as invalid), otherwise the last error.
func (h *Handler) write(ctx context.Context, inv *invocation, agg *aggregate, deadline time.Time, st *stats) error {
	if len(agg.actors) == 0 {
		return nil
	}
	token := batchToken(inv, agg.first)
	keys := make([]string, 0, len(agg.actors))
	for k, act := range agg.actors {
		if h.forgotten(k, act) {
			st.suppressedActors++
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil
	}
	slices.Sort(keys)
	deltas := make([]tracker.SummaryDelta, len(keys))
	for i, k := range keys {
		deltas[i] = delta(k, agg.actors[k], token)
	}
	stop := deadline.Add(-h.cfg.SafetyMargin)
	wctx, cancel := context.WithDeadline(ctx, stop)
	defer cancel()
	pending := deltas
	for attempt := 1; ; attempt++ {
		failed, fatal, last := h.applyAll(wctx, pending, st)
		if fatal != nil {
			st.unwritten = len(failed)
			return fatal
		}
		if len(failed) == 0 {
			return nil
		}
		st.unwritten = len(failed)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := backoff.Policy{Base: h.cfg.BackoffBase, Max: h.cfg.BackoffMax, Jitter: backoff.Equal}.Delay(attempt)
		if time.Now().Add(wait).After(stop) {
			return fmt.Errorf("%d of %d actors not written before the invocation's deadline: %w", len(failed), len(deltas), last)
		}
		if err := backoff.Sleep(ctx, wait); err != nil {
			return err
		}
		pending = failed
	}
}

// forgotten reports whether the actor of state key k was forgotten after
// its events were aggregated (the window's state is older than the
// erasure), and otherwise drops from act the links to forgotten actors.
func (h *Handler) forgotten(k string, act *actorAgg) bool {
	list := h.cfg.Suppression
	if list == nil {
		return false
	}
	if k[0] == 'u' {
		if list.Suppressed(k[2:], "") {
			return true
		}
		act.ids = slices.DeleteFunc(act.ids, func(a string) bool { return list.Suppressed("", a) })
		return false
	}
	if list.Suppressed("", k[2:]) {
		return true
	}
	if act.linkUser != "" && list.Suppressed(act.linkUser, "") {
		act.linkUser, act.linkAt = "", ""
	}
	return false
}

// applyAll applies the deltas concurrently. It returns those that failed
// and may succeed on a retry, a fatal error (a configuration problem or the
// context ending) and the last retryable error.
func (h *Handler) applyAll(ctx context.Context, deltas []tracker.SummaryDelta, st *stats) (failed []tracker.SummaryDelta, fatal, last error) {
	var mu sync.Mutex
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(h.cfg.WriteConcurrency, len(deltas)) {
		wg.Go(func() {
			for i := range next {
				res, err := h.w.Apply(ctx, deltas[i])
				mu.Lock()
				st.writes += res.Writes
				switch {
				case err == nil:
					st.written++
					st.already += b2i(res.AlreadyApplied)
					st.late += b2i(res.LastSeenKept)
					st.idsDropped += res.AnonymousIDsDropped
				case errors.Is(err, tracker.ErrInvalidArgument):
					// Only a state this handler did not build can hold one;
					// no retry can write it.
					st.invalid++
					h.log.ErrorContext(ctx, "summary delta with an invalid actor; skipped", "error", err.Error())
				default:
					st.writeErrors++
					failed = append(failed, deltas[i])
					if isFatal(err) || ctx.Err() != nil {
						if fatal == nil {
							fatal = err
						}
					} else {
						last = err
					}
				}
				mu.Unlock()
			}
		})
	}
	for i := range deltas {
		next <- i
	}
	close(next)
	wg.Wait()
	return failed, fatal, last
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// isFatal reports errors that no retry within the invocation can fix: the
// table is missing, access is denied, the request is invalid.
func isFatal(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "ResourceNotFoundException", "AccessDeniedException", "ValidationException",
		"UnrecognizedClientException", "MissingAuthenticationTokenException":
		return true
	}
	return false
}

func invocationDeadline(ctx context.Context, start time.Time) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return start.Add(defaultBudget)
}

func requestID(ctx context.Context) string {
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		return lc.AwsRequestID
	}
	return ""
}
