package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/firehose"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/athena/local"
	"github.com/eventlake/eventlake/lake"
	"github.com/eventlake/eventlake/lake/recovery"
	"github.com/eventlake/eventlake/lambdas/streamtofirehose/relay"
	"github.com/eventlake/eventlake/lambdas/summarize/summary"
	"github.com/eventlake/eventlake/local/dynamolocal"
	"github.com/eventlake/eventlake/local/firehoselocal"
	"github.com/eventlake/eventlake/local/lakeparquet"
	"github.com/eventlake/eventlake/local/streamsource"
	"github.com/eventlake/eventlake/tracker"
)

// Storage formats of the lake (athena.Format values).
const (
	FormatParquet = athena.FormatParquet
	FormatJSON    = athena.FormatJSON
)

// DefaultDeliveryStream is the local Firehose delivery stream's name.
const DefaultDeliveryStream = "eventlake-events"

// Config configures Start. The zero value of every field but LakeDir means
// the default.
type Config struct {
	// LakeDir is the folder standing in for the lake bucket; objects land
	// in LakeDir/events/dt=YYYY-MM-DD/, and their keys are listed in
	// LakeDir/.eventlake-objects (ManifestName) for CleanLake. Required. It
	// is created if needed.
	LakeDir string
	// Format is the objects' format: FormatParquet (the default, as the
	// deployed stack) or FormatJSON (gzip NDJSON).
	Format athena.Format
	// Backfill is ignored: the local Firehose endpoint always files each
	// event under the day of its event_at, as the deployed stream's dynamic
	// partitioning does (firehoselocal.EventDayPartitioning).
	//
	// Deprecated: event-day partitions are the only ones.
	Backfill bool

	// DynamoDB is a running DynamoDB Local (or external endpoint) to use;
	// nil starts one, which Close stops.
	DynamoDB *dynamolocal.Server
	// EventsTable and SummaryTable name the tables, created when missing;
	// defaults dynamolocal.EventsTableName and SummaryTableName.
	EventsTable  string
	SummaryTable string
	// WrapDynamoDB wraps the DynamoDB client the tracker writes with, for
	// example with a fault-injecting local/faultdb.DB; nil uses the
	// client as it is.
	WrapDynamoDB func(*dynamodb.Client) tracker.DynamoDB
	// Tracker configures the tracker; the table names are set from above.
	Tracker tracker.Config
	// Async configures the asynchronous writer. The pipeline is fed by
	// loaders, so a zero FullPolicy with a zero MaxBlock means
	// tracker.WaitWhenFull here: Put waits for room as long as its context
	// allows instead of refusing events after a few milliseconds.
	Async tracker.AsyncConfig

	// DeliveryStream names the Firehose delivery stream; default
	// DefaultDeliveryStream.
	DeliveryStream string
	// Firehose configures the local Firehose endpoint. Streams, Encoder and
	// Sink are set by Start; Prefix, ErrorPrefix and Partitioning default to
	// the deployed stream's (event-day partitions, errors/ with the error
	// type); BufferInterval defaults to DefaultBufferInterval. Faults
	// injects Firehose failures.
	Firehose firehoselocal.Options

	// Relay configures the stream Lambda's handler; DeliveryStreamName is
	// set by Start, Logger defaults to Logger and KeepAside to the lake
	// folder (errors/relay/, listed in the manifest).
	Relay relay.Config
	// WrapHandler wraps the handler's JSON interface, for example to make an
	// invocation fail; nil invokes it directly.
	WrapHandler func(streamsource.Invoker) streamsource.Invoker
	// Source configures the event source mapping; StreamARN, Filters and
	// ReportBatchItemFailures are set by Start, zero fields get the deployed
	// stack's settings (see DefaultSource).
	Source streamsource.Config

	// Summary configures the summarize Lambda's handler, the second
	// consumer of the stream, which keeps the summary table; SummaryTable is
	// set by Start, Window from SummaryWindow, and Logger defaults to Logger.
	Summary summary.Config
	// SummaryWindow is the summary consumer's tumbling window; default
	// DefaultSummaryWindow.
	SummaryWindow time.Duration
	// WrapSummaryDynamoDB wraps the DynamoDB client the summary handler
	// writes with (a fault-injecting local/faultdb.DB, a counter); nil uses
	// the client as it is.
	WrapSummaryDynamoDB func(*dynamodb.Client) tracker.SummaryUpdater
	// WrapSummaryHandler wraps the summary handler's JSON interface.
	WrapSummaryHandler func(streamsource.Invoker) streamsource.Invoker
	// SummarySource configures the summary consumer's event source
	// mapping; StreamARN, Filters, ReportBatchItemFailures and
	// TumblingWindow are set by Start, zero fields get DefaultSummarySource.
	SummarySource streamsource.Config
	// NoSummary leaves the summary consumer out.
	NoSummary bool

	// SuppressionRefresh is how old the cached suppression list
	// (LakeDir/maintenance/suppression.json, written by `eventlake forget
	// -local`) may get before the tracker, the relay and the summary
	// consumer read it again; default DefaultSuppressionRefresh. See
	// Pipeline.Suppression.
	SuppressionRefresh time.Duration

	// Logger receives the components' logs; default JSON on stderr at warn
	// level, so a demo shows problems and not every invocation.
	Logger *slog.Logger

	// HealthInterval is how often the pipeline checks that DynamoDB and the
	// Firehose endpoint answer; default DefaultHealthInterval. After
	// HealthFailures failed checks in a row (default 3), or at once when
	// the DynamoDB Local process exits, the pipeline is dead: Dead is
	// closed, Err says why and Drain returns that error.
	HealthInterval time.Duration
	HealthFailures int
}

// DefaultSuppressionRefresh is how often the local stack reads the lake
// folder's suppression list again: a second, so that traffic sent just
// after `eventlake forget -local` is already held to it (the deployed
// functions use lake.DefaultSuppressionRefresh, a minute, and an erasure
// waits that long before its last sweep).
const DefaultSuppressionRefresh = time.Second

// DefaultHealthInterval is the pause between health checks: a dead
// DynamoDB Local or Firehose endpoint is noticed within about three times
// this (plus the 2 s a check may wait for an answer).
const DefaultHealthInterval = time.Second

// Files the pipeline keeps in the lake folder beside the objects.
const (
	// QueueDirName is the on-failure destination's folder: one JSON file
	// per batch of stream records the event source gave up on, the record
	// Lambda sends to its on-failure destination (recovery.DirQueue).
	QueueDirName = ".eventlake-onfailure"
	// StackFileName describes the running stack (StackInfo) for the
	// operator's recovery commands (go run ./scripts/eventlake redrive
	// -local <lake>); it is removed when the pipeline closes.
	StackFileName = ".eventlake-stack.json"
)

// StackInfo is what StackFileName holds: where the local stack's pieces
// listen, so the recovery commands can reach them.
type StackInfo struct {
	DynamoDBEndpoint string `json:"dynamodb_endpoint"`
	FirehoseEndpoint string `json:"firehose_endpoint"`
	DeliveryStream   string `json:"delivery_stream"`
	EventsTable      string `json:"events_table"`
	StreamARN        string `json:"stream_arn"`
	QueueDir         string `json:"queue_dir"`
	LakeDir          string `json:"lake_dir"`
	Pid              int    `json:"pid"`
}

// ReadStackInfo reads the StackFileName of a lake folder a running pipeline
// uses.
func ReadStackInfo(lakeDir string) (StackInfo, error) {
	var si StackInfo
	b, err := os.ReadFile(filepath.Join(lakeDir, StackFileName))
	if errors.Is(err, fs.ErrNotExist) {
		return si, fmt.Errorf("pipeline: %s has no %s: is the local stack running on it (go run ./scripts/local -events 0 -lake %s)?", lakeDir, StackFileName, lakeDir)
	}
	if err != nil {
		return si, fmt.Errorf("pipeline: %w", err)
	}
	if err := json.Unmarshal(b, &si); err != nil {
		return si, fmt.Errorf("pipeline: %s: %w", StackFileName, err)
	}
	return si, nil
}

// DefaultBufferInterval is the local Firehose buffering interval: short, so
// the demo's lake fills while it runs (the deployed stack uses minutes), yet
// long enough that backfilled history, filed under up to one partition per
// day, is not cut into thousands of tiny objects. Drain flushes the buffers.
const DefaultBufferInterval = 5 * time.Second

// DefaultSource returns the event source mapping settings the pipeline
// uses, those of the deployed stack (batch size 1,000, INSERT-only filter,
// partial batch responses, bisect on error, 10 retries) but no batching
// window, for a quick local round trip. Shards are polled four times a
// second, as Lambda does (streamsource.DefaultPollInterval).
func DefaultSource() streamsource.Config {
	return streamsource.Config{
		BatchSize:                  1000,
		Filters:                    []string{streamsource.InsertOnly},
		ReportBatchItemFailures:    true,
		BisectBatchOnFunctionError: true,
		MaxRetries:                 10,
		ShardSyncInterval:          5 * time.Second,
	}
}

// DefaultSummaryWindow is the local summary consumer's tumbling window:
// short, so the demo's admin page shows last seen and counts within seconds
// (the deployed default is summary.DefaultWindow, a minute).
const DefaultSummaryWindow = 2 * time.Second

// DefaultSummarySource returns the settings of the summary consumer's event
// source mapping, those recommended for the deployed one (docs/lambda.md):
// batch size 1,000, INSERT-only filter, partial batch responses, no bisect
// (a DynamoDB failure is not a poison record), 10 retries.
func DefaultSummarySource() streamsource.Config {
	return streamsource.Config{
		BatchSize:               1000,
		Filters:                 []string{streamsource.InsertOnly},
		ReportBatchItemFailures: true,
		MaxRetries:              10,
		ShardSyncInterval:       5 * time.Second,
	}
}

// Pipeline is the whole pipeline on one machine: tracker -> DynamoDB Local
// -> stream -> event source -> Lambda handler -> Firehose endpoint -> lake
// folder, with the lake queryable by the Athena queries on DuckDB. Its
// methods are safe for concurrent use. Close stops everything Start started.
type Pipeline struct {
	cfg       Config
	log       *slog.Logger
	ownsDB    bool
	DynamoDB  *dynamolocal.Server
	Client    *dynamodb.Client
	StreamARN string
	Tracker   *tracker.Tracker
	Writer    *tracker.AsyncWriter
	Firehose  *firehoselocal.Server
	Source    *streamsource.Source
	// SummarySource is the summary consumer's event source (nil with
	// Config.NoSummary).
	SummarySource *streamsource.Source

	// Queue is the on-failure destination (LakeDir/QueueDirName).
	Queue recovery.DirQueue

	// Suppression is the lake folder's suppression list, honoured as the
	// deployed stack honours the bucket's: the tracker drops forgotten
	// actors' events (BeforeSend, before any user hook), the relay's
	// Firehose client drops their lines (lake.SuppressingFirehose), the
	// summary consumer skips them, and the relay keeps none of their images
	// aside. A folder without a list has an empty one, which costs nothing;
	// a list that `eventlake forget -local` writes while the pipeline runs
	// is read within Config.SuppressionRefresh.
	Suppression *lake.SuppressionCache
	// suppressing is the relay's Firehose client, which counts the lines it
	// dropped (Drain expects them to be missing from the lake).
	suppressing *lake.SuppressingFirehose
	folder      *lake.FolderStore // the lake folder, for its maintenance records
	started     time.Time

	encoder   *lakeparquet.Encoder
	sink      *lakeSink
	runCancel context.CancelFunc
	runDone   chan error
	listDone  chan struct{}
	sumDone   chan error
	dead      chan struct{}
	deadErr   error
	stopWatch chan struct{}
	watchDone chan struct{}
	watching  bool

	mu              sync.Mutex
	failures        []streamsource.Failure
	summaryFailures []streamsource.Failure
	lake            *local.DB
	closed          bool

	batchHot, batchLake atomic.Int64 // events PutBatch stored in DynamoDB and sent to Firehose
}

// Start builds and starts the pipeline. On error everything already
// started is stopped again.
func Start(ctx context.Context, cfg Config) (p *Pipeline, err error) {
	if cfg.LakeDir == "" {
		return nil, errors.New("pipeline: Config.LakeDir is required")
	}
	switch cfg.Format {
	case "":
		cfg.Format = FormatParquet
	case FormatParquet, FormatJSON:
	default:
		return nil, fmt.Errorf("pipeline: Config.Format %q: want %q or %q", cfg.Format, FormatParquet, FormatJSON)
	}
	if cfg.EventsTable == "" {
		cfg.EventsTable = dynamolocal.EventsTableName
	}
	if cfg.SummaryTable == "" {
		cfg.SummaryTable = dynamolocal.SummaryTableName
	}
	if cfg.DeliveryStream == "" {
		cfg.DeliveryStream = DefaultDeliveryStream
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if err := os.MkdirAll(cfg.LakeDir, 0o755); err != nil {
		return nil, fmt.Errorf("pipeline: lake folder: %w", err)
	}
	p = &Pipeline{cfg: cfg, log: cfg.Logger, runDone: make(chan error, 1), sumDone: make(chan error, 1),
		dead: make(chan struct{}), stopWatch: make(chan struct{}), watchDone: make(chan struct{}),
		Queue: recovery.DirQueue{Dir: filepath.Join(cfg.LakeDir, QueueDirName)}}
	defer func() {
		if err != nil {
			p.Close(context.Background())
			p = nil
		}
	}()

	// DynamoDB and the tables.
	p.DynamoDB = cfg.DynamoDB
	if p.DynamoDB == nil {
		if p.DynamoDB, err = dynamolocal.Start(ctx, dynamolocal.Options{}); err != nil {
			return p, fmt.Errorf("pipeline: start DynamoDB Local: %w", err)
		}
		p.ownsDB = true
	}
	if p.Client, err = p.DynamoDB.Client(ctx); err != nil {
		return p, fmt.Errorf("pipeline: %w", err)
	}
	if err := dynamolocal.CreateTables(ctx, p.Client, cfg.EventsTable, cfg.SummaryTable); err != nil {
		return p, fmt.Errorf("pipeline: %w", err)
	}
	desc, err := p.Client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(cfg.EventsTable)})
	if err != nil {
		return p, fmt.Errorf("pipeline: describe table %s: %w", cfg.EventsTable, err)
	}
	if p.StreamARN = aws.ToString(desc.Table.LatestStreamArn); p.StreamARN == "" {
		return p, fmt.Errorf("pipeline: table %s has no stream", cfg.EventsTable)
	}

	// The suppression list of the lake folder, for every component that
	// lets events in.
	if cfg.SuppressionRefresh <= 0 {
		cfg.SuppressionRefresh = DefaultSuppressionRefresh
	}
	p.started = time.Now()
	if p.folder, err = lake.NewFolderStore(cfg.LakeDir); err != nil {
		return p, fmt.Errorf("pipeline: %w", err)
	}
	if p.Suppression, err = lake.NewSuppressionCache(ctx, p.folder, lake.SuppressionCacheConfig{Refresh: cfg.SuppressionRefresh, Logger: cfg.Logger}); err != nil {
		return p, fmt.Errorf("pipeline: %w", err)
	}

	// The Firehose endpoint writing the lake folder, listing what it writes
	// in the lake's manifest for CleanLake.
	if p.sink, err = openLakeSink(cfg.LakeDir, p.Suppression); err != nil {
		return p, err
	}
	fh := cfg.Firehose
	fh.Streams = []string{cfg.DeliveryStream}
	fh.Sink = p.sink
	if fh.Partitioning == nil && fh.Prefix == "" {
		// As the deployed stream (infra/eventlake's NewDelivery).
		fh.Prefix, fh.Partitioning = firehoselocal.EventDayPrefix, firehoselocal.EventDayPartitioning()
	}
	if fh.BufferInterval == 0 {
		fh.BufferInterval = DefaultBufferInterval
	}
	if fh.Logger == nil {
		fh.Logger = cfg.Logger
	}
	switch cfg.Format {
	case FormatParquet:
		if p.encoder, err = lakeparquet.NewEncoder(lakeparquet.Options{}); err != nil {
			return p, fmt.Errorf("pipeline: %w", err)
		}
		fh.Encoder = p.encoder
	default:
		fh.Encoder = newPooledGzip()
	}
	if p.Firehose, err = firehoselocal.Start(fh); err != nil {
		return p, fmt.Errorf("pipeline: start Firehose endpoint: %w", err)
	}

	// The Lambda handler, invoked by the event source mapping.
	rc := cfg.Relay
	rc.DeliveryStreamName = cfg.DeliveryStream
	if rc.Logger == nil {
		rc.Logger = cfg.Logger
	}
	if rc.KeepAside == nil {
		rc.KeepAside = p.sink
	}
	p.suppressing = lake.NewSuppressingFirehose(p.Firehose.Client(relay.ClientOptions), p.Suppression, cfg.Logger)
	h, err := relay.New(p.suppressing, rc) // as the deployed function with SUPPRESSION_BUCKET
	if err != nil {
		return p, fmt.Errorf("pipeline: %w", err)
	}
	var inv streamsource.Invoker = lambda.NewHandler(h) // as lambda.Start(h) in the deployed function
	if cfg.WrapHandler != nil {
		inv = cfg.WrapHandler(inv)
	}
	streams, err := p.DynamoDB.StreamsClient(ctx)
	if err != nil {
		return p, fmt.Errorf("pipeline: %w", err)
	}
	sc := mergeSource(cfg.Source, DefaultSource())
	sc.StreamARN = p.StreamARN
	sc.Filters = []string{streamsource.InsertOnly}
	sc.ReportBatchItemFailures = true
	if sc.Logger == nil {
		sc.Logger = cfg.Logger
	}
	userOnFailure := sc.OnFailure
	sc.OnFailure = func(ctx context.Context, f streamsource.Failure) error {
		// The on-failure destination: the record Lambda would send, in the
		// durable folder queue the recovery commands read (redrive).
		body, err := json.Marshal(recovery.OnFailureRecordOf(f, sc.FunctionARN))
		if err != nil {
			return err
		}
		if err := p.Queue.Send(ctx, body); err != nil {
			return err // retried by the source: nothing moves on until it is recorded
		}
		p.mu.Lock()
		p.failures = append(p.failures, f)
		p.mu.Unlock()
		p.log.ErrorContext(ctx, "stream records failed every retry; sent to the on-failure queue", "start_sequence_number", f.StartSequenceNumber,
			"end_sequence_number", f.EndSequenceNumber, "batch_size", f.BatchSize, "queue", p.Queue.Dir, "error", f.FunctionError)
		if userOnFailure != nil {
			return userOnFailure(ctx, f)
		}
		return nil
	}
	if p.Source, err = streamsource.New(streams, inv, sc); err != nil {
		return p, fmt.Errorf("pipeline: %w", err)
	}
	if !cfg.NoSummary {
		if p.SummarySource, err = p.startSummary(ctx, streams); err != nil {
			return p, fmt.Errorf("pipeline: %w", err)
		}
	}
	runCtx, cancel := context.WithCancel(context.Background())
	p.runCancel = cancel
	p.listDone = make(chan struct{})
	go func() { p.Suppression.Run(runCtx); close(p.listDone) }() // for the tracker's BeforeSend
	go func() { p.runDone <- p.Source.Run(runCtx) }()
	if p.SummarySource != nil {
		go func() { p.sumDone <- p.SummarySource.Run(runCtx) }()
	}

	// The tracker and its asynchronous writer.
	var db tracker.DynamoDB = p.Client
	if cfg.WrapDynamoDB != nil {
		db = cfg.WrapDynamoDB(p.Client)
	}
	tc := cfg.Tracker
	tc.EventsTable, tc.SummaryTable = cfg.EventsTable, cfg.SummaryTable
	if hook := tc.BeforeSend; hook != nil {
		tc.BeforeSend = func(e tracker.Event) (tracker.Event, bool) {
			if e, keep := p.Suppression.BeforeSend(e); !keep {
				return e, false
			}
			return hook(e)
		}
	} else {
		tc.BeforeSend = p.Suppression.BeforeSend
	}
	if tc.Firehose == nil {
		// For event types routed to the lake (tracker.RouteLake): straight
		// to the local Firehose endpoint, as the deployed collector does.
		tc.Firehose = p.Firehose.Client(tracker.LakeClientOptions)
	}
	if tc.DeliveryStream == "" {
		tc.DeliveryStream = cfg.DeliveryStream
	}
	if p.Tracker, err = tracker.New(db, tc); err != nil {
		return p, fmt.Errorf("pipeline: %w", err)
	}
	ac := cfg.Async
	if ac.FullPolicy == tracker.BlockWhenFull && ac.MaxBlock == 0 {
		ac.FullPolicy = tracker.WaitWhenFull
	}
	if ac.Logger == nil {
		ac.Logger = cfg.Logger
	}
	if p.Writer, err = p.Tracker.NewAsyncWriter(ac); err != nil {
		return p, fmt.Errorf("pipeline: %w", err)
	}
	si, err := json.MarshalIndent(StackInfo{
		DynamoDBEndpoint: p.DynamoDB.Endpoint, FirehoseEndpoint: p.Firehose.URL(), DeliveryStream: cfg.DeliveryStream,
		EventsTable: cfg.EventsTable, StreamARN: p.StreamARN, QueueDir: p.Queue.Dir, LakeDir: cfg.LakeDir, Pid: os.Getpid(),
	}, "", "  ")
	if err == nil {
		err = os.WriteFile(filepath.Join(cfg.LakeDir, StackFileName), append(si, '\n'), 0o644)
	}
	if err != nil {
		return p, fmt.Errorf("pipeline: %w", err)
	}
	p.watching = true
	go p.watch()
	return p, nil
}

// Dead returns a channel closed when the pipeline found DynamoDB or the
// Firehose endpoint dead (see Config.HealthInterval); Err says why.
func (p *Pipeline) Dead() <-chan struct{} { return p.dead }

// Err returns why the pipeline is dead, or nil.
func (p *Pipeline) Err() error {
	select {
	case <-p.dead:
		return p.deadErr
	default:
		return nil
	}
}

// watch checks DynamoDB and the Firehose endpoint until Close.
func (p *Pipeline) watch() {
	defer close(p.watchDone)
	interval, limit := p.cfg.HealthInterval, p.cfg.HealthFailures
	if interval <= 0 {
		interval = DefaultHealthInterval
	}
	if limit <= 0 {
		limit = 3
	}
	die := func(err error) {
		p.deadErr = err
		close(p.dead)
		p.log.Error("pipeline: dead", "error", err)
	}
	fh := p.Firehose.Client(func(o *firehose.Options) { o.RetryMaxAttempts = 1 })
	t := time.NewTicker(interval)
	defer t.Stop()
	dbFails, fhFails := 0, 0
	var dbErr, fhErr error
	for {
		select {
		case <-p.stopWatch:
			return
		case <-p.DynamoDB.Exited():
			die(fmt.Errorf("pipeline: DynamoDB Local (pid %d, %s) exited: the stack cannot go on", p.DynamoDB.Pid(), p.DynamoDB.Endpoint))
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, dbErr = p.Client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(p.cfg.EventsTable)}, func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 })
		_, fhErr = fh.ListDeliveryStreams(ctx, &firehose.ListDeliveryStreamsInput{})
		cancel()
		if dbErr != nil {
			dbFails++
		} else {
			dbFails = 0
		}
		if fhErr != nil {
			fhFails++
		} else {
			fhFails = 0
		}
		switch {
		case dbFails >= limit:
			die(fmt.Errorf("pipeline: DynamoDB at %s stopped answering (%d checks in a row failed, the last: %v)", p.DynamoDB.Endpoint, dbFails, dbErr))
			return
		case fhFails >= limit:
			die(fmt.Errorf("pipeline: the Firehose endpoint at %s stopped answering (%d checks in a row failed, the last: %v)", p.Firehose.URL(), fhFails, fhErr))
			return
		}
	}
}

// startSummary builds the summary consumer: the summarize Lambda's handler
// behind its own event source mapping on the same stream, with a tumbling
// window.
func (p *Pipeline) startSummary(ctx context.Context, streams *dynamodbstreams.Client) (*streamsource.Source, error) {
	cfg := p.cfg
	client, err := p.DynamoDB.Client(ctx, summary.ClientOptions)
	if err != nil {
		return nil, err
	}
	var db tracker.SummaryUpdater = client
	if cfg.WrapSummaryDynamoDB != nil {
		db = cfg.WrapSummaryDynamoDB(client)
	}
	window := cfg.SummaryWindow
	if window == 0 {
		window = DefaultSummaryWindow
	}
	hc := cfg.Summary
	hc.SummaryTable, hc.Window = cfg.SummaryTable, window
	if hc.Suppression == nil {
		hc.Suppression = p.Suppression
	}
	if hc.Logger == nil {
		hc.Logger = cfg.Logger
	}
	h, err := summary.New(db, hc)
	if err != nil {
		return nil, err
	}
	var inv streamsource.Invoker = lambda.NewHandler(h) // as lambda.Start(h) in the deployed function
	if cfg.WrapSummaryHandler != nil {
		inv = cfg.WrapSummaryHandler(inv)
	}
	sc := mergeSource(cfg.SummarySource, DefaultSummarySource())
	sc.StreamARN = p.StreamARN
	sc.Filters = []string{streamsource.InsertOnly}
	sc.ReportBatchItemFailures = true
	sc.TumblingWindow = window
	if p.DynamoDB.Local() && sc.CreationTimePrecision == 0 {
		sc.CreationTimePrecision = streamsource.DynamoDBLocalCreationTimePrecision
	}
	if sc.Logger == nil {
		sc.Logger = cfg.Logger
	}
	userOnFailure := sc.OnFailure
	sc.OnFailure = func(ctx context.Context, f streamsource.Failure) error {
		p.mu.Lock()
		p.summaryFailures = append(p.summaryFailures, f)
		p.mu.Unlock()
		p.log.ErrorContext(ctx, "summary records failed every retry", "start_sequence_number", f.StartSequenceNumber,
			"end_sequence_number", f.EndSequenceNumber, "batch_size", f.BatchSize, "error", f.FunctionError)
		if userOnFailure != nil {
			return userOnFailure(ctx, f)
		}
		return nil
	}
	return streamsource.New(streams, inv, sc)
}

// mergeSource fills the zero fields of c from d.
func mergeSource(c, d streamsource.Config) streamsource.Config {
	if c.BatchSize == 0 {
		c.BatchSize = d.BatchSize
	}
	if !c.BisectBatchOnFunctionError {
		c.BisectBatchOnFunctionError = d.BisectBatchOnFunctionError
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = d.MaxRetries
	}
	if c.ShardSyncInterval == 0 {
		c.ShardSyncInterval = d.ShardSyncInterval
	}
	return c
}

// Put hands an event to the asynchronous writer (see tracker.AsyncWriter.Put).
func (p *Pipeline) Put(ctx context.Context, e tracker.Event) error { return p.Writer.Put(ctx, e) }

// PutBatch stores events synchronously through the tracker, each by its
// route (see tracker.Tracker.PutBatch), and counts what it stored so that
// Drain waits for it: the pipeline is the HTTP collector's sink
// (collector.Sink) in the local stack.
//
// Drain counts stored events, so an event stored twice under one key (a
// client retrying an identical event after an error) would make Drain wait
// for a stream record DynamoDB never writes: the local callers do not retry.
func (p *Pipeline) PutBatch(ctx context.Context, evs []tracker.Event) []error {
	errs := p.Tracker.PutBatch(ctx, evs)
	var hot, lake int64
	for i, e := range evs {
		if errs != nil && errs[i] != nil {
			continue
		}
		if p.Tracker.Route(e.Type) == tracker.RouteLake {
			lake++
		} else {
			hot++
		}
	}
	p.batchHot.Add(hot)
	p.batchLake.Add(lake)
	return errs
}

// Progress is where the events are, for a progress display. The counts
// follow the pipeline's order: Accepted >= Written >= Relayed.
type Progress struct {
	// Accepted counts events enqueued by the writer, Failed those it
	// reported failed (they will not arrive). Written counts events stored
	// in DynamoDB (by the writer and PutBatch), Direct those sent straight
	// to Firehose (tracker.RouteLake).
	Accepted, Written, Failed, Direct int64
	// Relayed counts stream records the handler delivered to Firehose.
	Relayed int64
	// Summarized counts stream records the summary consumer has written
	// the summaries of (their window closed).
	Summarized int64
	// InLake counts lines written to lake objects (duplicates included).
	InLake int64
}

// Progress returns the counters now.
func (p *Pipeline) Progress() Progress {
	w := p.Writer.Stats()
	pr := Progress{
		Accepted: w.Accepted, Written: w.Written - w.Lake + p.batchHot.Load(), Failed: w.Failed,
		Direct:  w.Lake + p.batchLake.Load(),
		Relayed: p.Source.Stats().Delivered,
		InLake:  p.Firehose.Stats().LinesDelivered,
	}
	if p.SummarySource != nil {
		pr.Summarized = p.SummarySource.Stats().Delivered
	}
	return ordered(pr)
}

// ordered makes the counters follow the pipeline's order. They are read
// from three components that count at different moments: the writer counts
// a batch as written when BatchWriteItem returns, and by then the stream may
// already have relayed its items. Whatever was relayed is in DynamoDB, and
// whatever is in DynamoDB was accepted, so the later counts are lower
// bounds of the earlier ones.
func ordered(pr Progress) Progress {
	pr.Written = max(pr.Written, pr.Relayed)
	pr.Accepted = max(pr.Accepted, pr.Written+pr.Failed)
	return pr
}

// SummaryFailures returns the stream records the summary consumer gave up
// on after every retry: their summaries were not written.
func (p *Pipeline) SummaryFailures() []streamsource.Failure {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]streamsource.Failure(nil), p.summaryFailures...)
}

// Failures returns the stream records that failed every retry of the event
// source mapping: they did not reach the lake.
func (p *Pipeline) Failures() []streamsource.Failure {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]streamsource.Failure(nil), p.failures...)
}

// LakeCounts are the lake's counts after Drain.
type LakeCounts struct {
	// Lines is every row in the lake, duplicates from retries included.
	Lines int64
	// Events is the rows of the deduplicating view events_dedup.
	Events int64
}

// ErrIncomplete reports that Drain found fewer events in the lake than the
// stream and the lake route delivered, or stream records that failed every
// retry (in the on-failure queue until redriven; see Failures).
var ErrIncomplete = errors.New("pipeline: the lake is missing events")

// Drain waits until every event the writer has accepted and PutBatch has
// stored so far is in the lake and queryable, and in the summary table: it
// flushes the writer, then waits until the event source and the summary
// consumer have processed everything the stream holds by then (counted on
// the stream itself, so an event written twice with identical content, one
// stream record, is waited for once), flushes the Firehose endpoint's
// buffers (which also hold the events sent straight to Firehose) into the
// lake, and counts the lake with DuckDB. It returns ErrIncomplete (with the
// counts) when stream records failed every retry or the lake holds fewer
// events than were delivered (less those the suppression list dropped and
// those erasures removed since Start; after an expiry since Start it cannot
// tell, and checks only the failures), the pipeline's error when it died
// (Dead), and ctx's error if it ends first. tick, when not nil, is called with the
// progress while Drain waits.
func (p *Pipeline) Drain(ctx context.Context, tick func(Progress)) (LakeCounts, error) {
	if err := p.flushWriter(ctx); err != nil {
		return LakeCounts{}, err
	}
	since := time.Now()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		pr := p.Progress()
		if tick != nil {
			tick(pr)
		}
		if p.Source.CaughtUp(since) && (p.SummarySource == nil || p.SummarySource.CaughtUp(since)) {
			break
		}
		select {
		case <-ctx.Done():
			st := p.Source.Stats()
			return LakeCounts{}, fmt.Errorf("pipeline: wait for the stream (%d records read, %d relayed): %w", st.Read, st.Delivered, ctx.Err())
		case <-p.dead:
			return LakeCounts{}, p.deadErr
		case err := <-p.runDone:
			p.runDone <- err
			return LakeCounts{}, fmt.Errorf("pipeline: event source stopped: %v", err)
		case err := <-p.sumDone:
			p.sumDone <- err
			return LakeCounts{}, fmt.Errorf("pipeline: summary event source stopped: %v", err)
		case <-t.C:
		}
	}
	if err := p.Firehose.Flush(ctx); err != nil {
		return LakeCounts{}, fmt.Errorf("pipeline: flush Firehose: %w", err)
	}
	if tick != nil {
		tick(p.Progress())
	}
	counts, err := p.Count(ctx)
	if err != nil {
		return counts, err
	}
	st := p.Source.Stats()
	pr := p.Progress()
	want := st.Delivered - p.sink.keptAside() - p.suppressing.Dropped() + pr.Direct
	removed, known, err := p.maintenanceRemoved(ctx)
	if err != nil {
		return counts, err
	}
	switch {
	case len(p.Failures()) > 0:
		return counts, fmt.Errorf("%w: %d batches of stream records (%d records) failed every retry and wait in the on-failure queue %s (go run ./scripts/eventlake redrive -local %s)",
			ErrIncomplete, len(p.Failures()), st.Failed, p.Queue.Dir, p.cfg.LakeDir)
	case known && counts.Events+removed < want:
		return counts, fmt.Errorf("%w: %d events relayed from the stream (%d kept aside, %d of forgotten actors dropped) and %d sent to Firehose, %d in the lake (%d removed by erasures)",
			ErrIncomplete, st.Delivered, p.sink.keptAside(), p.suppressing.Dropped(), pr.Direct, counts.Events, removed)
	}
	return counts, nil
}

// maintenanceRemoved returns how many events the lake's maintenance
// removed from the lake folder since Start (the forgotten actors' events
// that erasures and compactions left out, from their manifests), and
// whether that is known: an expiry since Start drops whole days, and Drain
// then cannot tell how many events the lake should hold.
func (p *Pipeline) maintenanceRemoved(ctx context.Context) (int64, bool, error) {
	objs, err := p.folder.List(ctx, lake.ManifestsPrefix)
	if err != nil {
		return 0, false, fmt.Errorf("pipeline: %w", err)
	}
	var removed int64
	for _, o := range objs {
		if o.LastModified.Before(p.started) {
			continue
		}
		body, _, err := p.folder.Get(ctx, o.Key)
		if errors.Is(err, lake.ErrNotFound) {
			continue
		}
		if err != nil {
			return 0, false, fmt.Errorf("pipeline: %w", err)
		}
		var m lake.Manifest
		if err := json.Unmarshal(body, &m); err != nil || m.StartedAt.Before(p.started) || m.State != lake.StateDone {
			continue
		}
		if m.Op == "expire" {
			return 0, false, nil
		}
		removed += m.Rows.Suppressed
	}
	return removed, true, nil
}

// flushWriter flushes the writer, giving up when the pipeline dies.
func (p *Pipeline) flushWriter(ctx context.Context) error {
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-p.dead:
			cancel()
		case <-fctx.Done():
		}
	}()
	if err := p.Writer.Flush(fctx); err != nil {
		if e := p.Err(); e != nil {
			return e
		}
		return fmt.Errorf("pipeline: flush writer: %w", err)
	}
	return nil
}

// Count counts the lake's rows and deduplicated events with DuckDB.
func (p *Pipeline) Count(ctx context.Context) (LakeCounts, error) {
	db, err := p.Lake(ctx)
	if err != nil {
		return LakeCounts{}, err
	}
	res, err := db.Query(ctx, "SELECT (SELECT count(*) FROM "+athena.TableName+"), (SELECT count(*) FROM "+athena.ViewName+")")
	if err != nil {
		return LakeCounts{}, fmt.Errorf("pipeline: count the lake: %w", err)
	}
	var c LakeCounts
	if len(res.Rows) != 1 || len(res.Rows[0]) != 2 {
		return c, errors.New("pipeline: count the lake: unexpected result shape")
	}
	if _, err := fmt.Sscan(res.Rows[0][0].String, &c.Lines); err != nil {
		return c, fmt.Errorf("pipeline: count the lake: %w", err)
	}
	if _, err := fmt.Sscan(res.Rows[0][1].String, &c.Events); err != nil {
		return c, fmt.Errorf("pipeline: count the lake: %w", err)
	}
	return c, nil
}

// Lake returns the DuckDB runner of the Athena queries over the lake folder
// (opened on first use, closed by Close).
func (p *Pipeline) Lake(ctx context.Context) (*local.DB, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lake != nil {
		return p.lake, nil
	}
	db, err := local.Open(ctx, local.Config{Root: p.cfg.LakeDir, Format: p.cfg.Format})
	if err != nil {
		return nil, fmt.Errorf("pipeline: open the lake: %w", err)
	}
	p.lake = db
	return db, nil
}

// LakeDir returns the lake folder.
func (p *Pipeline) LakeDir() string { return p.cfg.LakeDir }

// Format returns the lake's storage format.
func (p *Pipeline) Format() athena.Format { return p.cfg.Format }

// Close stops everything Start started, in order: the writer (draining its
// queue into DynamoDB, until ctx is done), the event source, the Firehose
// endpoint (delivering its buffers), the lake's DuckDB, and DynamoDB Local
// when Start started it. It returns every error met; calling it again does
// nothing.
func (p *Pipeline) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	if p.watching {
		close(p.stopWatch)
		<-p.watchDone
	}
	var errs []error
	if p.Writer != nil {
		if p.Err() != nil {
			// DynamoDB is gone: do not spend ctx's time retrying it.
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, time.Second)
			defer cancel()
		}
		if err := p.Writer.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("close writer: %w", err))
		}
	}
	if p.runCancel != nil {
		p.runCancel()
		<-p.listDone
		if err := <-p.runDone; err != nil {
			errs = append(errs, fmt.Errorf("event source: %w", err))
		}
		if p.SummarySource != nil {
			if err := <-p.sumDone; err != nil {
				errs = append(errs, fmt.Errorf("summary event source: %w", err))
			}
		}
	}
	if p.Firehose != nil {
		if err := p.Firehose.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close Firehose endpoint: %w", err))
		}
	}
	if p.sink != nil {
		if err := p.sink.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close lake manifest: %w", err))
		}
	}
	if p.encoder != nil {
		if err := p.encoder.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close Parquet encoder: %w", err))
		}
	}
	p.mu.Lock()
	if p.lake != nil {
		if err := p.lake.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close lake: %w", err))
		}
	}
	p.mu.Unlock()
	if p.ownsDB {
		p.DynamoDB.Stop()
	}
	if err := os.Remove(filepath.Join(p.cfg.LakeDir, StackFileName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("pipeline: %w", errors.Join(errs...))
	}
	return nil
}
