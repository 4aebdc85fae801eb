package streamsource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/eventlake/eventlake/internal/backoff"
)

// StreamsAPI is the part of the DynamoDB Streams API the source uses. The
// real *dynamodbstreams.Client satisfies it; a wrapper that injects faults
// must pass the per-call options on, because the source captures the raw
// GetRecords body through one.
type StreamsAPI interface {
	DescribeStream(ctx context.Context, in *dynamodbstreams.DescribeStreamInput, optFns ...func(*dynamodbstreams.Options)) (*dynamodbstreams.DescribeStreamOutput, error)
	GetShardIterator(ctx context.Context, in *dynamodbstreams.GetShardIteratorInput, optFns ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *dynamodbstreams.GetRecordsInput, optFns ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error)
}

// Invoker is a Lambda function's JSON interface. lambda.NewHandler(fn) from
// github.com/aws/aws-lambda-go/lambda returns one for a handler function, so
// the handler's own JSON decoding runs as it does in Lambda.
type Invoker interface {
	Invoke(ctx context.Context, payload []byte) ([]byte, error)
}

// StartingPosition is where reading starts in a shard without a checkpoint.
type StartingPosition string

// Starting positions, as the ESM's StartingPosition.
const (
	// TrimHorizon reads every record still in the stream (24 hours).
	TrimHorizon StartingPosition = "TRIM_HORIZON"
	// Latest reads only records written after the source starts. Shards that
	// appear later (after a rollover) are read from their start.
	Latest StartingPosition = "LATEST"
)

// Defaults and limits of Config, those of the ESM unless said otherwise.
const (
	DefaultBatchSize = 100
	MaxBatchSize     = 10000
	// MaxBatchingWindow bounds MaximumBatchingWindow (300 s, as the ESM).
	MaxBatchingWindow = 5 * time.Minute
	// DefaultMaxPayloadBytes is Lambda's synchronous invocation payload limit.
	DefaultMaxPayloadBytes = 6 << 20
	// DefaultPollInterval: Lambda polls a shard four times a second.
	DefaultPollInterval = 250 * time.Millisecond
	// DefaultFunctionTimeout bounds one invocation (the function's timeout).
	DefaultFunctionTimeout = time.Minute
	// DefaultShardSyncInterval is how often the stream is described again.
	DefaultShardSyncInterval = 10 * time.Second
	DefaultRetryBaseDelay    = 100 * time.Millisecond
	DefaultRetryMaxDelay     = 10 * time.Second
	// MaxGetRecordsLimit is GetRecords' own limit and the default.
	MaxGetRecordsLimit = 1000
	// DynamoDBLocalCreationTimePrecision is how DynamoDB Local rounds
	// ApproximateCreationDateTime: down to the minute (DynamoDB: the second).
	DynamoDBLocalCreationTimePrecision = time.Minute
)

// Retry bounds for Config.MaxRetries.
const (
	// RetryUntilSuccess retries a failing batch until it succeeds or the
	// source stops, as the ESM's default (MaximumRetryAttempts -1).
	RetryUntilSuccess = 0
	// NoRetries sends a failing batch to OnFailure after its first attempt
	// (the ESM's MaximumRetryAttempts 0).
	NoRetries = -1
)

// Config configures a Source. The zero value of every field but StreamARN
// means the ESM's default.
type Config struct {
	// StreamARN is the stream to read (the table's LatestStreamArn). Required.
	StreamARN string
	// StartingPosition applies to shards without a checkpoint; default
	// TrimHorizon.
	StartingPosition StartingPosition
	// BatchSize is the most records per invocation; default 100, at most 10,000.
	BatchSize int
	// MaximumBatchingWindow is how long to wait for a batch to fill before
	// invoking with fewer records; default 0 (invoke with what is there).
	MaximumBatchingWindow time.Duration
	// MaxPayloadBytes bounds an invocation's payload; default 6 MiB.
	MaxPayloadBytes int
	// Filters are FilterCriteria patterns (see Filter); a record is sent when
	// it matches any of them. Empty sends every record. Records that match
	// none are checkpointed past, never sent.
	Filters []string
	// ReportBatchItemFailures honours the function's
	// events.DynamoDBEventResponse (FunctionResponseTypes
	// ["ReportBatchItemFailures"]). Without it the response is ignored, as
	// Lambda does, and a reported failure is lost.
	ReportBatchItemFailures bool
	// MaxRetries bounds the retries of a failing batch before its records go
	// to OnFailure: RetryUntilSuccess (0, the default), NoRetries (-1), or a
	// positive number of retries.
	MaxRetries int
	// BisectBatchOnFunctionError splits a batch whose invocation fails in two
	// and retries the halves separately; splitting does not count as a retry.
	BisectBatchOnFunctionError bool
	// TumblingWindow, when positive, runs the function with tumbling windows
	// of this length (TumblingWindowInSeconds: whole seconds, at most 15
	// minutes): each invocation gets an events.DynamoDBTimeWindowEvent with
	// the state the previous invocation of its window returned, and a final
	// invocation (isFinalInvokeForWindow) ends each window; records are
	// checkpointed when their window's final invocation succeeds. See
	// window.go for the details. Zero means no window.
	TumblingWindow time.Duration
	// CreationTimePrecision is how the stream rounds a record's
	// ApproximateCreationDateTime, which places it in a tumbling window:
	// DynamoDB rounds it down to the second (the default), DynamoDB Local to
	// the minute (DynamoDBLocalCreationTimePrecision).
	CreationTimePrecision time.Duration
	// OnFailure receives the records that failed every retry (the ESM's
	// on-failure destination). An error from it is retried with backoff:
	// the shard does not move on until the failure is recorded. Nil logs the
	// failure at error level and moves on, as an ESM without a destination.
	OnFailure func(context.Context, Failure) error
	// Checkpoints stores progress per shard; default a new MemoryCheckpoints.
	Checkpoints Checkpointer
	// Region fills each record's awsRegion; default the stream ARN's region.
	Region string
	// FunctionARN is the InvokedFunctionArn in the handler's lambdacontext;
	// default arn:aws:lambda:<region>:000000000000:function:local.
	FunctionARN string
	// FunctionTimeout bounds one invocation (the handler's context deadline);
	// an invocation that outlives it counts as a function error. Default 1 min.
	FunctionTimeout time.Duration
	// PollInterval is the pause before reading again once a GetRecords
	// page was not full (the reader has caught up with the shard); default
	// 250 ms. A full page is followed by the next read at once.
	PollInterval time.Duration
	// ShardSyncInterval is how often the stream is described to find new
	// shards; default 10 s. It is also described whenever a shard ends.
	ShardSyncInterval time.Duration
	// RetryBaseDelay and RetryMaxDelay bound the capped exponential backoff
	// (with jitter) between retries; defaults 100 ms and 10 s.
	RetryBaseDelay time.Duration
	RetryMaxDelay  time.Duration
	// GetRecordsLimit is the Limit of each GetRecords call; default 1,000.
	GetRecordsLimit int
	// Logger receives the source's logs; default slog.Default().
	Logger *slog.Logger
}

// Failure describes records that failed every attempt, like the record the
// ESM sends to its on-failure destination, plus the records themselves.
type Failure struct {
	// Condition is "RetryAttemptsExhausted".
	Condition string
	// FunctionError is the last invocation's error, or the partial batch
	// failure that named the first of these records.
	FunctionError error
	StreamARN     string
	ShardID       string
	// StartSequenceNumber and EndSequenceNumber are the first and last record.
	StartSequenceNumber string
	EndSequenceNumber   string
	// ApproximateArrivalOfFirstRecord and ...LastRecord are the records'
	// ApproximateCreationDateTime.
	ApproximateArrivalOfFirstRecord time.Time
	ApproximateArrivalOfLastRecord  time.Time
	BatchSize                       int
	// Payload is the {"Records":[...]} of the failed records, as the function
	// last received them.
	Payload []byte
	// Attempts is how many times the records were sent.
	Attempts int
}

// Stats counts what a Source did since it was created. All counts are of
// stream records unless the name says otherwise.
type Stats struct {
	Read     int64 // read from the stream
	Filtered int64 // matched no filter; never sent
	// Delivered counts records processed by a successful invocation; with
	// a tumbling window, once their window's final invocation succeeded.
	Delivered       int64
	Failed          int64 // handed to OnFailure after every retry
	Invocations     int64 // handler invocations
	FunctionErrors  int64 // invocations that failed as a whole
	PartialFailures int64 // invocations that reported batch item failures
	ShardsEnded     int64 // closed shards read to their end
	// Windows counts tumbling windows whose final invocation succeeded;
	// WindowsTerminatedEarly those among them whose state outgrew
	// MaxWindowStateBytes.
	Windows                int64
	WindowsTerminatedEarly int64
}

// Source reads a stream and invokes a handler like an event source mapping.
// Create it with New and call Run once; Stats is safe to call concurrently.
type Source struct {
	api     StreamsAPI
	fn      Invoker
	cfg     Config
	retry   backoff.Policy // between retries: RetryBaseDelay doubling up to RetryMaxDelay, equal jitter
	filters []*Filter
	log     *slog.Logger

	read, filtered, delivered, failed                 atomic.Int64
	invocations, functionErrors, partial, shardsEnded atomic.Int64
	windows, windowsEarly                             atomic.Int64
	running                                           atomic.Bool

	mu        sync.Mutex
	described bool                    // Run has listed the shards once
	active    map[string]*shardWorker // shards being read
}

// New validates cfg and returns a Source that reads cfg.StreamARN through api
// and invokes fn. Errors name the bad field; a bad filter is a *FilterError.
func New(api StreamsAPI, fn Invoker, cfg Config) (*Source, error) {
	if api == nil || fn == nil {
		return nil, errors.New("streamsource: nil StreamsAPI or Invoker")
	}
	if cfg.StreamARN == "" {
		return nil, errors.New("streamsource: Config.StreamARN is required")
	}
	switch cfg.StartingPosition {
	case "":
		cfg.StartingPosition = TrimHorizon
	case TrimHorizon, Latest:
	default:
		return nil, fmt.Errorf("streamsource: Config.StartingPosition %q is not TRIM_HORIZON or LATEST", cfg.StartingPosition)
	}
	checks := []struct {
		name     string
		bad      bool
		problem  string
		setting  *int
		fallback int
	}{
		{"BatchSize", cfg.BatchSize < 0 || cfg.BatchSize > MaxBatchSize, fmt.Sprintf("must be 1-%d", MaxBatchSize), &cfg.BatchSize, DefaultBatchSize},
		{"MaxPayloadBytes", cfg.MaxPayloadBytes < 0, "must not be negative", &cfg.MaxPayloadBytes, DefaultMaxPayloadBytes},
		{"GetRecordsLimit", cfg.GetRecordsLimit < 0 || cfg.GetRecordsLimit > MaxGetRecordsLimit, fmt.Sprintf("must be 1-%d", MaxGetRecordsLimit), &cfg.GetRecordsLimit, MaxGetRecordsLimit},
	}
	for _, c := range checks {
		if c.bad {
			return nil, fmt.Errorf("streamsource: Config.%s %d %s", c.name, *c.setting, c.problem)
		}
		if *c.setting == 0 {
			*c.setting = c.fallback
		}
	}
	durations := []struct {
		name     string
		d        *time.Duration
		fallback time.Duration
	}{
		{"MaximumBatchingWindow", &cfg.MaximumBatchingWindow, 0},
		{"FunctionTimeout", &cfg.FunctionTimeout, DefaultFunctionTimeout},
		{"PollInterval", &cfg.PollInterval, DefaultPollInterval},
		{"ShardSyncInterval", &cfg.ShardSyncInterval, DefaultShardSyncInterval},
		{"RetryBaseDelay", &cfg.RetryBaseDelay, DefaultRetryBaseDelay},
		{"RetryMaxDelay", &cfg.RetryMaxDelay, DefaultRetryMaxDelay},
		{"CreationTimePrecision", &cfg.CreationTimePrecision, time.Second},
	}
	for _, d := range durations {
		if *d.d < 0 {
			return nil, fmt.Errorf("streamsource: Config.%s %v must not be negative", d.name, *d.d)
		}
		if *d.d == 0 {
			*d.d = d.fallback
		}
	}
	if cfg.TumblingWindow < 0 || cfg.TumblingWindow > MaxTumblingWindow || cfg.TumblingWindow%time.Second != 0 {
		return nil, fmt.Errorf("streamsource: Config.TumblingWindow %v is not a whole number of seconds up to %v", cfg.TumblingWindow, MaxTumblingWindow)
	}
	if cfg.MaximumBatchingWindow > MaxBatchingWindow {
		return nil, fmt.Errorf("streamsource: Config.MaximumBatchingWindow %v is over %v", cfg.MaximumBatchingWindow, MaxBatchingWindow)
	}
	if cfg.RetryMaxDelay < cfg.RetryBaseDelay {
		cfg.RetryMaxDelay = cfg.RetryBaseDelay
	}
	if cfg.Region == "" {
		cfg.Region = regionOf(cfg.StreamARN)
	}
	if cfg.FunctionARN == "" {
		cfg.FunctionARN = "arn:aws:lambda:" + cfg.Region + ":000000000000:function:local"
	}
	if cfg.Checkpoints == nil {
		cfg.Checkpoints = &MemoryCheckpoints{}
	}
	s := &Source{api: api, fn: fn, cfg: cfg, log: cfg.Logger,
		retry: backoff.Policy{Base: cfg.RetryBaseDelay, Max: cfg.RetryMaxDelay, Jitter: backoff.Equal}}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("component", "streamsource", "stream_arn", cfg.StreamARN)
	for i, p := range cfg.Filters {
		f, err := ParseFilter(p)
		if err != nil {
			return nil, fmt.Errorf("streamsource: Config.Filters[%d]: %w", i, err)
		}
		s.filters = append(s.filters, f)
	}
	return s, nil
}

// Stats returns the counters so far.
func (s *Source) Stats() Stats {
	return Stats{
		Read: s.read.Load(), Filtered: s.filtered.Load(), Delivered: s.delivered.Load(), Failed: s.failed.Load(),
		Invocations: s.invocations.Load(), FunctionErrors: s.functionErrors.Load(), PartialFailures: s.partial.Load(),
		ShardsEnded: s.shardsEnded.Load(), Windows: s.windows.Load(), WindowsTerminatedEarly: s.windowsEarly.Load(),
	}
}

// CaughtUp reports whether the source has processed everything the stream
// held at since: every shard being read has had a GetRecords call that
// started after since and found no more records, and every record read has
// been processed (delivered, or handed to OnFailure; with a tumbling
// window, once its window closed) or filtered out. It counts what the stream
// really holds, so an event written twice with identical content (one stream
// record) does not make a caller wait for a second record.
func (s *Source) CaughtUp(since time.Time) bool {
	s.mu.Lock()
	described := s.described
	heads := make([]int64, 0, len(s.active))
	for _, w := range s.active {
		heads = append(heads, w.headAt.Load())
	}
	s.mu.Unlock()
	if !described {
		return false
	}
	for _, h := range heads {
		if h < since.UnixNano() {
			return false
		}
	}
	st := s.Stats()
	return st.Read-st.Filtered == st.Delivered+st.Failed
}

// shardInfo is what the scheduler knows of a shard from DescribeStream.
type shardInfo struct {
	id, parent string
	closed     bool
}

// ErrStreamNotFound reports that the stream does not exist (or was deleted).
var ErrStreamNotFound = errors.New("stream not found")

// Run reads the stream and invokes the handler until ctx is done, then
// returns nil once its goroutines have stopped: an invocation in flight sees
// its context cancelled, and its batch, not checkpointed, is sent again by
// the next Run. Run also returns nil when the stream is disabled and every
// shard has been read to its end. It returns an error when the stream does
// not exist (ErrStreamNotFound), the raw records cannot be captured, or a
// checkpoint cannot be stored. Only one Run may be active per Source.
func (s *Source) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("streamsource: Run is already active")
	}
	defer s.running.Store(false)

	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	type result struct {
		shard string
		err   error
	}
	results := make(chan result)
	ended := map[string]bool{}       // read to the end, or skipped
	running := map[string]bool{}     // a worker is reading it
	known := map[string]Checkpoint{} // checkpoints of the shards seen, loaded once
	first := true
	ticker := time.NewTicker(s.cfg.ShardSyncInterval)
	defer ticker.Stop()
	failures := 0

	for {
		shards, status, err := s.describe(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, ErrStreamNotFound):
			return err
		case err != nil:
			failures++
			s.log.WarnContext(ctx, "describe stream failed; retrying", "error", err, "attempt", failures)
			if s.retry.Wait(ctx, failures) != nil {
				return nil
			}
			continue
		}
		failures = 0
		for _, sh := range shards {
			if _, seen := known[sh.id]; seen {
				continue
			}
			cp, ok, err := s.cfg.Checkpoints.Checkpoint(ctx, s.cfg.StreamARN, sh.id)
			if err != nil {
				return fmt.Errorf("streamsource: load checkpoint of shard %s: %w", sh.id, err)
			}
			known[sh.id] = cp
			switch {
			case ok && cp.ShardEnded:
				ended[sh.id] = true
			case !ok && first && s.cfg.StartingPosition == Latest && sh.closed:
				// LATEST skips the history, closed shards included.
				ended[sh.id] = true
			}
		}
		for _, sh := range readyShards(shards, ended, running) {
			cp := known[sh.id]
			pos := shardStart{typ: types.ShardIteratorTypeTrimHorizon}
			switch {
			case cp.SequenceNumber != "":
				pos = shardStart{typ: types.ShardIteratorTypeAfterSequenceNumber, seq: cp.SequenceNumber}
			case first && s.cfg.StartingPosition == Latest:
				pos = shardStart{typ: types.ShardIteratorTypeLatest}
			}
			running[sh.id] = true
			w := &shardWorker{s: s, shardID: sh.id, start: pos, cp: cp,
				log: s.log.With("shard_id", sh.id)}
			s.mu.Lock()
			if s.active == nil {
				s.active = map[string]*shardWorker{}
			}
			s.active[sh.id] = w
			s.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := w.run(ctx)
				select {
				case results <- result{sh.id, err}:
				case <-ctx.Done():
				}
			}()
		}
		first = false
		s.mu.Lock()
		s.described = true
		s.mu.Unlock()
		if status == types.StreamStatusDisabled && len(running) == 0 && allEnded(shards, ended) {
			s.log.InfoContext(ctx, "stream disabled and read to its end")
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case r := <-results:
			delete(running, r.shard)
			s.mu.Lock()
			delete(s.active, r.shard)
			s.mu.Unlock()
			if r.err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("streamsource: shard %s: %w", r.shard, r.err)
			}
			ended[r.shard] = true
		case <-ticker.C:
		}
	}
}

// readyShards returns the shards to start reading: neither ended nor running,
// and whose parent, if the stream still lists it, has ended. Parents come
// before children, so records of one key are processed in order.
func readyShards(shards []shardInfo, ended, running map[string]bool) []shardInfo {
	listed := make(map[string]bool, len(shards))
	for _, sh := range shards {
		listed[sh.id] = true
	}
	var ready []shardInfo
	for _, sh := range shards {
		if ended[sh.id] || running[sh.id] {
			continue
		}
		if sh.parent != "" && listed[sh.parent] && !ended[sh.parent] {
			continue
		}
		ready = append(ready, sh)
	}
	return ready
}

func allEnded(shards []shardInfo, ended map[string]bool) bool {
	for _, sh := range shards {
		if !ended[sh.id] {
			return false
		}
	}
	return true
}

// describe lists every shard of the stream, following LastEvaluatedShardId.
func (s *Source) describe(ctx context.Context) ([]shardInfo, types.StreamStatus, error) {
	var shards []shardInfo
	var status types.StreamStatus
	var start *string
	for {
		out, err := s.api.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{
			StreamArn: aws.String(s.cfg.StreamARN), ExclusiveStartShardId: start,
		})
		var nf *types.ResourceNotFoundException
		if errors.As(err, &nf) {
			return nil, "", fmt.Errorf("%w: %s: %v", ErrStreamNotFound, s.cfg.StreamARN, err)
		}
		if err != nil {
			return nil, "", fmt.Errorf("describe stream %s: %w", s.cfg.StreamARN, err)
		}
		d := out.StreamDescription
		if d == nil {
			return nil, "", fmt.Errorf("describe stream %s: no StreamDescription", s.cfg.StreamARN)
		}
		status = d.StreamStatus
		for _, sh := range d.Shards {
			info := shardInfo{id: aws.ToString(sh.ShardId), parent: aws.ToString(sh.ParentShardId)}
			if r := sh.SequenceNumberRange; r != nil && r.EndingSequenceNumber != nil {
				info.closed = true
			}
			if info.id != "" {
				shards = append(shards, info)
			}
		}
		if d.LastEvaluatedShardId == nil || aws.ToString(d.LastEvaluatedShardId) == aws.ToString(start) {
			return shards, status, nil
		}
		start = d.LastEvaluatedShardId
	}
}
