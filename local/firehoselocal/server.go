package firehoselocal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/eventlake/eventlake/internal/backoff"
	"github.com/eventlake/eventlake/tracker"
)

// Limits of the Firehose API that the endpoint enforces, as the service does.
const (
	// MaxBatchRecords is the most records one PutRecordBatch call may hold.
	MaxBatchRecords = 500
	// MaxBatchBytes is the most record data (before base64) one
	// PutRecordBatch call may hold: 4 MiB.
	MaxBatchBytes = 4 << 20
	// MaxRecordBytes is the largest record (before base64): 1,000 KiB.
	MaxRecordBytes = 1000 << 10
	// BillingIncrement is the unit Firehose bills ingestion in: each record
	// is rounded up to the next 5 KB (5,120 bytes).
	BillingIncrement = 5 << 10
)

// Defaults of Options.
const (
	// DefaultBufferSize is Firehose's default BufferingHints.SizeInMBs.
	DefaultBufferSize = 5 << 20
	// DefaultBufferInterval is short, for local use; Firehose's default is
	// 300 seconds.
	DefaultBufferInterval = time.Second
	// DefaultPrefix is the S3 prefix eventlake's delivery stream uses.
	DefaultPrefix = "events/" + tracker.PartitionColumn + "=!{timestamp:yyyy-MM-dd}/"
	// DefaultRegion and DefaultAccountID appear in ARNs.
	DefaultRegion    = "us-east-1"
	DefaultAccountID = "123456789012"
)

// targetPrefix is the X-Amz-Target prefix of Firehose operations.
const targetPrefix = "Firehose_20150804."

// maxRequestBody bounds a request body: a 4 MiB batch is 5.6 MB in base64.
const maxRequestBody = 8 << 20

// Options configures a Server. The zero value means defaults everywhere.
type Options struct {
	// Addr is the listen address of Start; default "127.0.0.1:0" (a free
	// loopback port).
	Addr string
	// Streams names the delivery streams that exist. When empty, any name
	// is accepted and the stream created on first use.
	Streams []string
	// BufferSize delivers a stream's buffer once it holds this many bytes;
	// default DefaultBufferSize (5 MiB, as Firehose's BufferingHints).
	BufferSize int
	// BufferInterval delivers a stream's buffer once its oldest record is
	// this old; default DefaultBufferInterval.
	BufferInterval time.Duration
	// Prefix is the S3 prefix, with !{timestamp:...} expressions evaluated
	// against the arrival time of an object's oldest record; default
	// DefaultPrefix.
	Prefix string
	// Encoder encodes objects; default GzipEncoder{}.
	Encoder Encoder
	// Sink receives delivered objects; default a new MemorySink (see
	// Server.Sink).
	Sink Sink
	// ArrivalFromEventAt files each line under the time of its event_at
	// field instead of the arrival time, grouping a buffer's lines into one
	// object per evaluated prefix, so backfilled history lands in the date
	// partitions it would have reached in production. Lines without a
	// parseable event_at use the arrival time.
	ArrivalFromEventAt bool
	// Partitioning, when set, deaggregates records and files each event
	// under the prefix its partition keys give (Firehose dynamic
	// partitioning), as eventlake's deployed stream does; Prefix must then
	// use its keys. Nil: each object's prefix is evaluated at its arrival
	// time (or, with ArrivalFromEventAt, at its lines' event_at).
	Partitioning *Partitioning
	// ErrorPrefix is the error output prefix (with Partitioning), which may
	// use !{firehose:error-output-type} and !{timestamp:...}; default
	// DefaultErrorPrefix.
	ErrorPrefix string
	// Faults are injected from the start; see SetFaults.
	Faults Faults
	// Seed seeds the fault generator; the same seed and calls give the same
	// faults.
	Seed uint64
	// Region and AccountID appear in ARNs; defaults DefaultRegion and
	// DefaultAccountID.
	Region    string
	AccountID string
	// Now returns the arrival time of records; default time.Now.
	Now func() time.Time
	// Logger logs delivery failures; default slog.Default().
	Logger *slog.Logger
}

// Stats counts what the server did. See Server.Stats.
type Stats struct {
	// Calls counts PutRecord and PutRecordBatch calls, rejected ones too.
	Calls int64
	// Throttled, ServerErrors and Delayed count calls that got an injected
	// fault; InvalidRequests counts calls refused for bad input.
	Throttled       int64
	ServerErrors    int64
	Delayed         int64
	InvalidRequests int64
	// RecordsReceived counts accepted records and BytesReceived their data.
	RecordsReceived int64
	BytesReceived   int64
	// BilledBytes is BytesReceived with each record rounded up to
	// BillingIncrement, as Firehose bills ingestion.
	BilledBytes int64
	// RecordsFailed counts records answered with an ErrorCode.
	RecordsFailed int64
	// LargestRecord is the largest accepted record's size in bytes;
	// LargestCallRecords and LargestCallBytes are the most records and
	// record bytes one accepted PutRecordBatch call held.
	LargestRecord      int64
	LargestCallRecords int64
	LargestCallBytes   int64
	// ObjectsDelivered, LinesDelivered and BytesDelivered (before encoding)
	// count what reached the sink; DeliveryErrors counts failed attempts.
	ObjectsDelivered int64
	LinesDelivered   int64
	BytesDelivered   int64
	DeliveryErrors   int64
	// ErrorRecords counts records and events written to the error prefix
	// (with Partitioning).
	ErrorRecords int64
}

// Server is a Firehose-compatible endpoint. Its methods are safe for
// concurrent use.
type Server struct {
	opts      Options
	prefix    prefix
	errPrefix prefix
	queries   map[string]query
	url       string
	http      *http.Server
	sink      Sink

	mu         sync.Mutex
	streams    map[string]*stream
	faults     Faults
	faultCalls int
	rng        *mathrand.Rand
	stats      Stats
	retry      []retryItem
	inflight   int
	after      func(time.Duration) <-chan time.Time // the clock of injected delays
	idle       *sync.Cond
	closed     bool

	done     chan struct{}
	loopDone chan struct{}
	closeErr error
	once     sync.Once
}

// stream is one delivery stream and its buffer.
type stream struct {
	name     string
	created  time.Time
	size     int
	interval time.Duration
	prefix   prefix
	data     []byte
	ends     []int // end offset in data of each record
	records  int
	oldest   time.Time
}

// Start starts a server on Options.Addr (a free loopback port by default).
// Close stops it.
func Start(opts Options) (*Server, error) {
	s, err := New(opts)
	if err != nil {
		return nil, err
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("firehoselocal: listen: %w", err)
	}
	s.url = "http://" + ln.Addr().String()
	s.http = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go s.http.Serve(ln)
	return s, nil
}

// New returns a server that is not listening: use it as an http.Handler.
// It starts the goroutine that delivers buffers by age; Close stops it.
func New(opts Options) (*Server, error) {
	if opts.BufferSize < 0 || opts.BufferInterval < 0 {
		return nil, errors.New("firehoselocal: negative buffer size or interval")
	}
	if err := opts.Faults.validate(); err != nil {
		return nil, err
	}
	if opts.BufferSize == 0 {
		opts.BufferSize = DefaultBufferSize
	}
	if opts.BufferInterval == 0 {
		opts.BufferInterval = DefaultBufferInterval
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.Encoder == nil {
		opts.Encoder = GzipEncoder{}
	}
	if opts.Sink == nil {
		opts.Sink = NewMemorySink()
	}
	if opts.Region == "" {
		opts.Region = DefaultRegion
	}
	if opts.AccountID == "" {
		opts.AccountID = DefaultAccountID
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ErrorPrefix == "" {
		opts.ErrorPrefix = DefaultErrorPrefix
	}
	p, err := parsePrefix(opts.Prefix)
	if err != nil {
		return nil, fmt.Errorf("firehoselocal: %w", err)
	}
	queries, err := parsePartitioning(opts.Partitioning)
	if err != nil {
		return nil, fmt.Errorf("firehoselocal: %w", err)
	}
	if err := checkDataPrefix(opts.Sink, p, queries); err != nil {
		return nil, fmt.Errorf("firehoselocal: %w", err)
	}
	ep, err := parsePrefix(opts.ErrorPrefix)
	if err != nil {
		return nil, fmt.Errorf("firehoselocal: error prefix: %w", err)
	}
	if len(ep.keys()) > 0 {
		return nil, fmt.Errorf("firehoselocal: error prefix %q: partition keys are not available there", opts.ErrorPrefix)
	}
	if err := checkPrefix(opts.Sink, ep); err != nil {
		return nil, fmt.Errorf("firehoselocal: error prefix: %w", err)
	}
	s := &Server{
		opts:      opts,
		prefix:    p,
		errPrefix: ep,
		queries:   queries,
		sink:      opts.Sink,
		streams:   map[string]*stream{},
		faults:    opts.Faults,
		rng:       mathrand.New(mathrand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		after:     time.After,
		done:      make(chan struct{}),
		loopDone:  make(chan struct{}),
	}
	s.idle = sync.NewCond(&s.mu)
	for _, name := range opts.Streams {
		if err := validStreamName(name); err != nil {
			return nil, fmt.Errorf("firehoselocal: %w", err)
		}
		s.streams[name] = s.newStream(name)
	}
	go s.loop()
	return s, nil
}

// URL returns the endpoint's base URL, for BaseEndpoint (empty for a server
// made with New).
func (s *Server) URL() string { return s.url }

// Sink returns the sink objects are delivered to (the MemorySink made by
// default when Options.Sink was nil).
func (s *Server) Sink() Sink { return s.sink }

// MemorySink returns the sink when it is a *MemorySink, else nil.
func (s *Server) MemorySink() *MemorySink {
	m, _ := s.sink.(*MemorySink)
	return m
}

// AWSConfig returns an SDK configuration for the endpoint: its URL as
// BaseEndpoint, static credentials and the server's region.
func (s *Server) AWSConfig() aws.Config {
	return aws.Config{
		Region:       s.opts.Region,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDFIREHOSELOCAL", "firehoselocal-secret", ""),
		BaseEndpoint: aws.String(s.url),
	}
}

// Client returns a real SDK Firehose client for the endpoint.
func (s *Server) Client(optFns ...func(*firehose.Options)) *firehose.Client {
	return firehose.NewFromConfig(s.AWSConfig(), optFns...)
}

// StreamARN returns the ARN of the named delivery stream.
func (s *Server) StreamARN(name string) string {
	return fmt.Sprintf("arn:aws:firehose:%s:%s:deliverystream/%s", s.opts.Region, s.opts.AccountID, name)
}

// CreateStream creates a delivery stream with the server's buffering and
// prefix. It fails if the stream exists.
func (s *Server) CreateStream(name string) error {
	if err := validStreamName(name); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.streams[name]; ok {
		return fmt.Errorf("firehoselocal: stream %s exists", name)
	}
	s.streams[name] = s.newStream(name)
	return nil
}

// parsePartitioning parses the partition key queries (nil without
// Partitioning) and fills its defaults.
func parsePartitioning(pt *Partitioning) (map[string]query, error) {
	if pt == nil {
		return nil, nil
	}
	if len(pt.Keys) == 0 {
		return nil, errors.New("Partitioning without Keys")
	}
	if pt.MaxObjectsPerRecord < 0 {
		return nil, errors.New("negative Partitioning.MaxObjectsPerRecord")
	}
	if pt.MaxObjectsPerRecord == 0 {
		pt.MaxObjectsPerRecord = DefaultMaxObjectsPerRecord
	}
	out := map[string]query{}
	for name, src := range pt.Keys {
		if !partitionKeyRE.MatchString(name) {
			return nil, fmt.Errorf("partition key name %q is not 1-64 of a-z, A-Z, 0-9, '_'", name)
		}
		q, err := parseQuery(src)
		if err != nil {
			return nil, err
		}
		out[name] = q
	}
	return out, nil
}

// checkDataPrefix checks a stream's data prefix: it may not use the error
// output type, its partition keys must be those of the queries (and with
// queries it must use one, as Firehose requires), and the sink must be able
// to store its keys.
func checkDataPrefix(sink Sink, p prefix, queries map[string]query) error {
	if p.hasErrType() {
		return fmt.Errorf("prefix %q: !{firehose:error-output-type} belongs in the error prefix", p.src)
	}
	keys := p.keys()
	for _, k := range keys {
		if _, ok := queries[k]; !ok {
			return fmt.Errorf("prefix %q: partition key %q has no query (Options.Partitioning)", p.src, k)
		}
	}
	if queries != nil && len(keys) == 0 {
		return fmt.Errorf("prefix %q: with dynamic partitioning the prefix must use !{partitionKeyFromQuery:...}", p.src)
	}
	return checkPrefix(sink, p)
}

// checkPrefix asks a sink that cannot store every key (a KeyChecker)
// whether it can store the keys of objects under p. Timestamp fields
// evaluate to digits, so one key stands for all; partition keys and the
// error type are given a plain sample value (each evaluated prefix is
// checked again at delivery).
func checkPrefix(sink Sink, p prefix) error {
	kc, ok := sink.(KeyChecker)
	if !ok {
		return nil
	}
	sample := map[string]string{}
	for _, k := range p.keys() {
		sample[k] = "2026-11-22"
	}
	key := p.evalWith(time.Date(2026, 11, 22, 10, 4, 5, 0, time.UTC), sample, ErrorTypeProcessingFailed) + "stream-1-2026-11-22-10-04-05-" + newUUID() + ".gz"
	if err := kc.CheckKey(key); err != nil {
		return fmt.Errorf("prefix %q: the sink cannot store objects under it: %w", p.src, err)
	}
	return nil
}

func (s *Server) newStream(name string) *stream {
	return &stream{
		name:     name,
		created:  s.opts.Now(),
		size:     s.opts.BufferSize,
		interval: s.opts.BufferInterval,
		prefix:   s.prefix,
	}
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// SetFaults replaces the injected faults and restarts the count that
// Faults.ClearAfter refers to. It returns an error, and changes nothing,
// when a rate is outside [0, 1].
func (s *Server) SetFaults(f Faults) error {
	if err := f.validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
	s.faultCalls = 0
	return nil
}

// Flush delivers every buffered record now, waits for deliveries in
// progress and retries objects whose delivery failed before, whatever their
// backoff. It returns the delivery errors; objects that failed stay queued
// for the next attempt.
func (s *Server) Flush(ctx context.Context) error {
	s.mu.Lock()
	var batches []*batch
	for _, st := range s.sortedStreamsLocked() {
		if b := s.takeLocked(st); b != nil {
			batches = append(batches, b)
		}
	}
	s.mu.Unlock()

	for _, b := range batches {
		for _, obj := range s.objects(b) {
			// A failed object is queued and tried again below.
			s.deliver(ctx, obj)
		}
	}

	waited := make(chan struct{})
	go func() {
		s.mu.Lock()
		for s.inflight > 0 {
			s.idle.Wait()
		}
		s.mu.Unlock()
		close(waited)
	}()
	select {
	case <-waited:
	case <-ctx.Done():
		return fmt.Errorf("firehoselocal: flush: %w", ctx.Err())
	}
	return s.retryFailed(ctx, true)
}

// Close stops the server: it stops accepting calls, delivers every buffered
// record and returns the delivery errors. Calling Close again returns the
// first result.
func (s *Server) Close() error {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.done)
		if s.http != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := s.http.Shutdown(ctx); err != nil {
				s.http.Close()
			}
			cancel()
		}
		<-s.loopDone
		s.closeErr = s.Flush(context.Background())
	})
	return s.closeErr
}

// loop delivers buffers that reached their age and retries failed objects
// once their backoff has passed.
func (s *Server) loop() {
	defer close(s.loopDone)
	tick := s.opts.BufferInterval / 5
	tick = min(max(tick, 10*time.Millisecond), time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		now := s.opts.Now()
		s.mu.Lock()
		for _, st := range s.sortedStreamsLocked() {
			if st.records > 0 && now.Sub(st.oldest) >= st.interval {
				s.startDeliveryLocked(s.takeLocked(st))
			}
		}
		retry := len(s.retry) > 0
		s.mu.Unlock()
		if retry {
			s.retryFailed(context.Background(), false)
		}
	}
}

// batch is a stream's buffer taken for delivery.
type batch struct {
	stream  string
	prefix  prefix
	data    []byte
	ends    []int
	records int
	oldest  time.Time
}

func (s *Server) takeLocked(st *stream) *batch {
	if st.records == 0 {
		return nil
	}
	b := &batch{stream: st.name, prefix: st.prefix, data: st.data, ends: st.ends, records: st.records, oldest: st.oldest}
	st.data, st.ends, st.records, st.oldest = nil, nil, 0, time.Time{}
	return b
}

// startDeliveryLocked delivers b in a new goroutine that Flush waits for.
func (s *Server) startDeliveryLocked(b *batch) {
	if b == nil {
		return
	}
	s.inflight++
	go func() {
		defer func() {
			s.mu.Lock()
			s.inflight--
			if s.inflight == 0 {
				s.idle.Broadcast()
			}
			s.mu.Unlock()
		}()
		for _, obj := range s.objects(b) {
			s.deliver(context.Background(), obj)
		}
	}()
}

func (s *Server) sortedStreamsLocked() []*stream {
	out := make([]*stream, 0, len(s.streams))
	for _, st := range s.streams {
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// objects turns a batch into the objects Firehose would write.
func (s *Server) objects(b *batch) []Object {
	if s.opts.Partitioning != nil {
		return s.partitioned(b)
	}
	if !s.opts.ArrivalFromEventAt {
		return []Object{s.object(b, b.prefix.eval(b.oldest), b.oldest, b.data, b.records)}
	}
	type group struct {
		key   string
		first time.Time
		data  []byte
	}
	var groups []*group
	byKey := map[string]*group{}
	for _, line := range SplitLines(b.data) {
		t, ok := eventAt(line)
		if !ok {
			t = b.oldest
		}
		key := b.prefix.eval(t)
		g := byKey[key]
		if g == nil {
			g = &group{key: key, first: t}
			byKey[key] = g
			groups = append(groups, g)
		}
		if t.Before(g.first) {
			g.first = t
		}
		g.data = append(g.data, line...)
		g.data = append(g.data, '\n')
	}
	out := make([]Object, 0, len(groups))
	for _, g := range groups {
		out = append(out, s.object(b, g.key, g.first, g.data, 0))
	}
	return out
}

func (s *Server) object(b *batch, prefix string, t time.Time, data []byte, records int) Object {
	t = t.UTC()
	name := fmt.Sprintf("%s-%d-%s-%s%s", b.stream, 1, t.Format("2006-01-02-15-04-05"), newUUID(), s.opts.Encoder.Extension())
	return Object{
		Stream:  b.stream,
		Key:     prefix + name,
		Time:    t,
		Data:    data,
		Records: records,
		Lines:   countLines(data),
	}
}

// Backoff of failed deliveries: the first retry after retryBase, each
// next one twice as late, at most retryMax apart, as Firehose retries S3.
const (
	retryBase = 200 * time.Millisecond
	retryMax  = 30 * time.Second
)

// retryDelay is the wait before the retry that follows failed attempt n
// (1, 2, ...): the project's backoff cap, without jitter (one sink, no
// competing writers to spread; the tests count the retries by it).
func retryDelay(n int) time.Duration {
	return backoff.Policy{Base: retryBase, Max: retryMax}.Cap(n)
}

// retryItem is an object whose delivery failed.
type retryItem struct {
	obj      Object
	attempts int       // failed so far
	next     time.Time // not retried before, unless flushed
}

// deliver encodes and delivers obj; on failure it queues obj for retry.
func (s *Server) deliver(ctx context.Context, obj Object) error {
	return s.deliverAttempt(ctx, retryItem{obj: obj})
}

// deliverAttempt makes one more attempt at it.obj; on failure it queues it
// again with the next backoff and logs the failure with the attempt count.
func (s *Server) deliverAttempt(ctx context.Context, it retryItem) error {
	obj := it.obj
	err := s.tryDeliver(ctx, &obj)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.stats.DeliveryErrors++
		it.obj, it.attempts = obj, it.attempts+1
		delay := retryDelay(it.attempts)
		it.next = s.opts.Now().Add(delay)
		s.retry = append(s.retry, it)
		s.opts.Logger.Error("firehoselocal: delivery failed; will retry", "stream", obj.Stream, "key", obj.Key,
			"attempt", it.attempts, "retry_in", delay.String(), "error", err)
		return err
	}
	s.stats.ObjectsDelivered++
	s.stats.LinesDelivered += int64(obj.Lines)
	s.stats.BytesDelivered += int64(len(obj.Data))
	return nil
}

func (s *Server) tryDeliver(ctx context.Context, obj *Object) error {
	if obj.Body == nil {
		var w bytesWriter
		if err := s.opts.Encoder.Encode(&w, obj.Data); err != nil {
			return fmt.Errorf("encode %s: %w", obj.Key, err)
		}
		obj.Body = w.b
	}
	if err := s.sink.Deliver(ctx, *obj); err != nil {
		return fmt.Errorf("deliver %s: %w", obj.Key, err)
	}
	return nil
}

// retryFailed tries once each queued object whose backoff has passed, or
// every queued object when all is set.
func (s *Server) retryFailed(ctx context.Context, all bool) error {
	s.mu.Lock()
	now := s.opts.Now()
	var due []retryItem
	kept := s.retry[:0]
	for _, it := range s.retry {
		if all || !now.Before(it.next) {
			due = append(due, it)
		} else {
			kept = append(kept, it)
		}
	}
	s.retry = kept
	s.mu.Unlock()
	var errs []error
	for _, it := range due {
		if err := s.deliverAttempt(ctx, it); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

type bytesWriter struct{ b []byte }

func (w *bytesWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

var _ io.Writer = (*bytesWriter)(nil)

var streamNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,64}$`)

func validStreamName(name string) error {
	if !streamNameRE.MatchString(name) {
		return fmt.Errorf("invalid delivery stream name %q: 1-64 of a-z, A-Z, 0-9, '_', '.', '-'", name)
	}
	return nil
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}
