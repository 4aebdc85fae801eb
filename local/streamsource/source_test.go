package streamsource_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/eventlake/eventlake/local/dynamolocal"
	"github.com/eventlake/eventlake/local/streamsource"
)

// waitTimeout bounds every wait for the stream to be processed: generous,
// because the test machine may be loaded.
const waitTimeout = 2 * time.Minute

// stream is a test's own table and its stream in the shared DynamoDB Local.
type stream struct {
	env     *dynamolocal.Env
	streams *dynamodbstreams.Client
	arn     string
	next    int // next item number to put
}

func newStream(t *testing.T) *stream {
	t.Helper()
	env := dynamolocal.NewEnv(t)
	ctx := context.Background()
	st, err := env.Server.StreamsClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d, err := env.Client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(env.EventsTable)})
	if err != nil {
		t.Fatal(err)
	}
	return &stream{env: env, streams: st, arn: aws.ToString(d.Table.LatestStreamArn)}
}

func key(i int) string { return fmt.Sprintf("k%05d", i) }

// put writes n items in order with PutItem, keys continuing from the last put.
func (s *stream) put(t *testing.T, n int) {
	t.Helper()
	for range n {
		_, err := s.env.Client.PutItem(context.Background(), &dynamodb.PutItemInput{
			TableName: aws.String(s.env.EventsTable),
			Item: map[string]dtypes.AttributeValue{
				"actor":     &dtypes.AttributeValueMemberS{Value: "u#u1"},
				"user_id":   &dtypes.AttributeValueMemberS{Value: "u1"},
				"event_key": &dtypes.AttributeValueMemberS{Value: key(s.next)},
				"n":         &dtypes.AttributeValueMemberN{Value: strconv.Itoa(s.next)},
			},
		})
		if err != nil {
			t.Fatalf("put item %d: %v", s.next, err)
		}
		s.next++
	}
}

func (s *stream) itemKey(i int) map[string]dtypes.AttributeValue {
	return map[string]dtypes.AttributeValue{
		"actor":     &dtypes.AttributeValueMemberS{Value: "u#u1"},
		"event_key": &dtypes.AttributeValueMemberS{Value: key(i)},
	}
}

// disable turns the stream off: DynamoDB Local closes its shard, so a
// Source reads it to the end and Run returns.
func (s *stream) disable(t *testing.T) {
	t.Helper()
	_, err := s.env.Client.UpdateTable(context.Background(), &dynamodb.UpdateTableInput{
		TableName:           aws.String(s.env.EventsTable),
		StreamSpecification: &dtypes.StreamSpecification{StreamEnabled: aws.Bool(false)},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// lastSequenceNumber returns the EndingSequenceNumber of the (closed) shard.
func (s *stream) shard(t *testing.T) types.Shard {
	t.Helper()
	out, err := s.streams.DescribeStream(context.Background(), &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(s.arn)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.StreamDescription.Shards) != 1 {
		t.Fatalf("shards = %d, want 1", len(out.StreamDescription.Shards))
	}
	return out.StreamDescription.Shards[0]
}

// recorder is a Lambda handler that records what it receives. decide, when
// set, chooses the response to each invocation (n counts from 1).
type recorder struct {
	mu      sync.Mutex
	batches [][]events.DynamoDBEventRecord
	ok      map[string]int // successful deliveries per key
	decide  func(n int, recs []events.DynamoDBEventRecord) (events.DynamoDBEventResponse, error)
	ctxs    []*lambdacontext.LambdaContext
}

func (r *recorder) handle(ctx context.Context, e events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	r.mu.Lock()
	r.batches = append(r.batches, e.Records)
	n := len(r.batches)
	lc, _ := lambdacontext.FromContext(ctx)
	r.ctxs = append(r.ctxs, lc)
	decide := r.decide
	r.mu.Unlock()
	var resp events.DynamoDBEventResponse
	var err error
	if decide != nil {
		resp, err = decide(n, e.Records)
	}
	if err != nil {
		return resp, err
	}
	failed := ""
	for _, f := range resp.BatchItemFailures {
		if failed == "" || f.ItemIdentifier < failed {
			failed = f.ItemIdentifier
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ok == nil {
		r.ok = map[string]int{}
	}
	for _, rec := range e.Records {
		if failed != "" && rec.Change.SequenceNumber >= failed {
			break
		}
		r.ok[keyOf(rec)]++
	}
	return resp, nil
}

func (r *recorder) snapshot() (batches [][]events.DynamoDBEventRecord, ok map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.batches), maps(r.ok)
}

func maps(m map[string]int) map[string]int {
	c := make(map[string]int, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func (r *recorder) delivered() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ok)
}

func keyOf(rec events.DynamoDBEventRecord) string {
	img := rec.Change.NewImage
	if img == nil {
		img = rec.Change.Keys
	}
	return img["event_key"].String()
}

// testConfig is a Config with short delays for tests.
func testConfig(arn string) streamsource.Config {
	return streamsource.Config{
		StreamARN:               arn,
		Filters:                 []string{streamsource.InsertOnly},
		ReportBatchItemFailures: true,
		PollInterval:            10 * time.Millisecond,
		ShardSyncInterval:       time.Second,
		RetryBaseDelay:          5 * time.Millisecond,
		RetryMaxDelay:           50 * time.Millisecond,
	}
}

// run starts src.Run and returns a function that waits for it to return (it
// fails the test if Run returned an error). The test's end cancels it.
func run(t *testing.T, src *streamsource.Source) (stop func(), wait func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	var once sync.Once
	var err error
	wait = func() error {
		once.Do(func() {
			select {
			case err = <-done:
			case <-time.After(waitTimeout):
				err = errors.New("Run did not return")
			}
		})
		return err
	}
	t.Cleanup(func() {
		cancel()
		if err := wait(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return cancel, wait
}

// waitFor polls cond until it holds, failing the test after waitTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDeliversEveryRecordInOrder(t *testing.T) {
	t.Parallel()
	s := newStream(t)
	const n = 250
	s.put(t, n)
	rec := &recorder{}
	cfg := testConfig(s.arn)
	src, err := streamsource.New(s.streams, lambda.NewHandler(rec.handle), cfg)
	if err != nil {
		t.Fatal(err)
	}
	run(t, src)
	waitFor(t, "every record", func() bool { return rec.delivered() == n })

	batches, ok := rec.snapshot()
	var keys []string
	prevSeq := ""
	for _, b := range batches {
		if len(b) == 0 || len(b) > streamsource.DefaultBatchSize {
			t.Errorf("batch of %d records, want 1-%d", len(b), streamsource.DefaultBatchSize)
		}
		for _, r := range b {
			if prevSeq != "" && r.Change.SequenceNumber <= prevSeq {
				t.Errorf("sequence number %s after %s: out of order", r.Change.SequenceNumber, prevSeq)
			}
			prevSeq = r.Change.SequenceNumber
			keys = append(keys, keyOf(r))
			if r.EventSourceArn != s.arn {
				t.Errorf("eventSourceARN = %q, want the stream ARN %q", r.EventSourceArn, s.arn)
			}
			if r.AWSRegion != "ddblocal" || r.EventName != "INSERT" || r.EventSource != "aws:dynamodb" {
				t.Errorf("record header = %q %q %q", r.AWSRegion, r.EventName, r.EventSource)
			}
			// The payload kept DynamoDB's type tags.
			if r.Change.NewImage["n"].DataType() != events.DataTypeNumber || r.Change.NewImage["user_id"].DataType() != events.DataTypeString {
				t.Errorf("NewImage lost its type tags: %v", r.Change.NewImage)
			}
			if r.Change.NewImage["n"].Number() != strconv.Itoa(len(keys)-1) {
				t.Errorf("n = %s, want %d", r.Change.NewImage["n"].Number(), len(keys)-1)
			}
		}
	}
	for i, k := range keys {
		if k != key(i) {
			t.Fatalf("record %d has key %s, want %s (in put order)", i, k, key(i))
		}
	}
	for k, c := range ok {
		if c != 1 {
			t.Errorf("%s delivered %d times", k, c)
		}
	}
	if st := src.Stats(); st.Delivered != n || st.Read != n || st.Filtered != 0 {
		t.Errorf("stats = %+v", st)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if lc := rec.ctxs[0]; lc == nil || len(lc.AwsRequestID) != 36 || lc.InvokedFunctionArn == "" {
		t.Errorf("lambdacontext = %+v, want a request ID and function ARN", lc)
	}
}

func TestInsertOnlyFilterCheckpointsPastFilteredRecords(t *testing.T) {
	t.Parallel()
	s := newStream(t)
	ctx := context.Background()
	s.put(t, 20)
	for i := 0; i < 5; i++ {
		_, err := s.env.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(s.env.EventsTable), Key: s.itemKey(i),
			UpdateExpression:          aws.String("SET n = :n"),
			ExpressionAttributeValues: map[string]dtypes.AttributeValue{":n": &dtypes.AttributeValueMemberN{Value: "-1"}},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	s.put(t, 3)
	for i := 10; i < 15; i++ {
		if _, err := s.env.Client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.env.EventsTable), Key: s.itemKey(i)}); err != nil {
			t.Fatal(err)
		}
	}
	s.disable(t)
	end := aws.ToString(s.shard(t).SequenceNumberRange.EndingSequenceNumber)

	rec := &recorder{}
	cps := &streamsource.MemoryCheckpoints{}
	cfg := testConfig(s.arn)
	cfg.Checkpoints = cps
	src, err := streamsource.New(s.streams, lambda.NewHandler(rec.handle), cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, wait := run(t, src)
	// The stream is disabled: Run returns once the shard is read to its end.
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	batches, ok := rec.snapshot()
	for _, b := range batches {
		for _, r := range b {
			if r.EventName != "INSERT" {
				t.Errorf("handler got a %s record: the filter must drop it", r.EventName)
			}
		}
	}
	if len(ok) != 23 {
		t.Errorf("delivered %d distinct records, want the 23 inserts", len(ok))
	}
	st := src.Stats()
	if st.Filtered != 10 || st.Read != 33 || st.ShardsEnded != 1 {
		t.Errorf("stats = %+v, want 10 filtered of 33 read, 1 shard ended", st)
	}
	cp, found, err := cps.Checkpoint(ctx, s.arn, aws.ToString(s.shard(t).ShardId))
	if err != nil || !found {
		t.Fatalf("checkpoint: %v %v", found, err)
	}
	// The last five records are REMOVEs: the checkpoint moved past them.
	if cp.SequenceNumber != end || !cp.ShardEnded {
		t.Errorf("checkpoint = %+v, want %s and ended", cp, end)
	}
}

func TestPartialBatchFailure(t *testing.T) {
	t.Parallel()
	for _, report := range []bool{true, false} {
		t.Run(fmt.Sprintf("ReportBatchItemFailures=%v", report), func(t *testing.T) {
			t.Parallel()
			s := newStream(t)
			const n = 40
			s.put(t, n)
			s.disable(t)
			failedOnce := false
			var failedBatch int
			rec := &recorder{}
			rec.decide = func(call int, recs []events.DynamoDBEventRecord) (events.DynamoDBEventResponse, error) {
				var resp events.DynamoDBEventResponse
				if failedOnce {
					return resp, nil
				}
				// Fail k00013 once, and k00017 if present: the lowest counts.
				for _, r := range slices.Backward(recs) {
					if k := keyOf(r); k == key(13) || k == key(17) {
						resp.BatchItemFailures = append(resp.BatchItemFailures,
							events.DynamoDBBatchItemFailure{ItemIdentifier: r.Change.SequenceNumber})
					}
				}
				if len(resp.BatchItemFailures) > 0 {
					failedOnce, failedBatch = true, call
				}
				return resp, nil
			}
			cfg := testConfig(s.arn)
			cfg.BatchSize = 10
			cfg.ReportBatchItemFailures = report
			src, err := streamsource.New(s.streams, lambda.NewHandler(rec.handle), cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, wait := run(t, src)
			if err := wait(); err != nil {
				t.Fatal(err)
			}
			batches, _ := rec.snapshot()
			if failedBatch == 0 {
				t.Fatal("no batch held k00013")
			}
			seen := map[string]int{}
			for _, b := range batches {
				for _, r := range b {
					seen[keyOf(r)]++
				}
			}
			for i := range n {
				want := 1
				if report && i >= 13 && containsKey(batches[failedBatch-1], key(i)) {
					want = 2 // the reported record and those after it in its batch
				}
				if seen[key(i)] != want {
					t.Errorf("%s sent %d times, want %d", key(i), seen[key(i)], want)
				}
			}
			if report {
				retry := batches[failedBatch]
				if keyOf(retry[0]) != key(13) {
					t.Errorf("retry starts at %s, want %s (the lowest reported)", keyOf(retry[0]), key(13))
				}
				if st := src.Stats(); st.PartialFailures != 1 {
					t.Errorf("stats = %+v, want 1 partial failure", st)
				}
			}
		})
	}
}

func containsKey(recs []events.DynamoDBEventRecord, k string) bool {
	return slices.ContainsFunc(recs, func(r events.DynamoDBEventRecord) bool { return keyOf(r) == k })
}

// invokerFunc adapts a function to streamsource.Invoker.
type invokerFunc func(ctx context.Context, payload []byte) ([]byte, error)

func (f invokerFunc) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return f(ctx, payload)
}

func TestFunctionErrorRetriesTheWholeBatch(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// wrap returns an invoker that fails its first invocation.
		wrap func(real lambda.Handler) streamsource.Invoker
	}{
		{"handler error", func(real lambda.Handler) streamsource.Invoker {
			var calls atomic.Int32
			return invokerFunc(func(ctx context.Context, p []byte) ([]byte, error) {
				resp, err := real.Invoke(ctx, p) // the handler records the attempt
				if calls.Add(1) == 1 {
					return nil, errors.New("firehose unavailable")
				}
				return resp, err
			})
		}},
		{"panic", func(real lambda.Handler) streamsource.Invoker {
			var calls atomic.Int32
			return invokerFunc(func(ctx context.Context, p []byte) ([]byte, error) {
				resp, err := real.Invoke(ctx, p)
				if calls.Add(1) == 1 {
					panic("nil map")
				}
				return resp, err
			})
		}},
		{"invalid response", func(real lambda.Handler) streamsource.Invoker {
			var calls atomic.Int32
			return invokerFunc(func(ctx context.Context, p []byte) ([]byte, error) {
				resp, err := real.Invoke(ctx, p)
				if calls.Add(1) == 1 {
					return []byte("<html>"), nil
				}
				return resp, err
			})
		}},
		{"timeout", func(real lambda.Handler) streamsource.Invoker {
			var calls atomic.Int32
			return invokerFunc(func(ctx context.Context, p []byte) ([]byte, error) {
				resp, err := real.Invoke(ctx, p)
				if calls.Add(1) == 1 {
					<-ctx.Done() // outlive FunctionTimeout
				}
				return resp, err
			})
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newStream(t)
			const n = 30
			s.put(t, n)
			s.disable(t)
			rec := &recorder{}
			cfg := testConfig(s.arn)
			cfg.BatchSize = 10
			cfg.FunctionTimeout = 2 * time.Second
			src, err := streamsource.New(s.streams, c.wrap(lambda.NewHandler(rec.handle)), cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, wait := run(t, src)
			if err := wait(); err != nil {
				t.Fatal(err)
			}
			batches, _ := rec.snapshot()
			if len(batches) < 2 || !slices.EqualFunc(batches[0], batches[1], func(a, b events.DynamoDBEventRecord) bool {
				return a.Change.SequenceNumber == b.Change.SequenceNumber
			}) {
				t.Fatalf("the failed batch was not sent again unchanged: %d batches", len(batches))
			}
			seen := map[string]int{}
			for _, b := range batches[1:] {
				for _, r := range b {
					seen[keyOf(r)]++
				}
			}
			for i := range n {
				if seen[key(i)] != 1 {
					t.Errorf("%s delivered %d times after the failure, want 1", key(i), seen[key(i)])
				}
			}
			if st := src.Stats(); st.FunctionErrors != 1 || st.Delivered != n {
				t.Errorf("stats = %+v, want 1 function error and %d delivered", st, n)
			}
		})
	}
}

func TestRetriesExhaustedGoToOnFailure(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		maxRetries  int
		bisect      bool
		wantBatch   int // records in the Failure
		wantAttempt int
	}{
		{"bisect to the poison record", 2, true, 1, 3},
		{"no retries", streamsource.NoRetries, false, 10, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newStream(t)
			const n = 30
			s.put(t, n)
			s.disable(t)
			rec := &recorder{}
			rec.decide = func(_ int, recs []events.DynamoDBEventRecord) (events.DynamoDBEventResponse, error) {
				if containsKey(recs, key(5)) {
					return events.DynamoDBEventResponse{}, errors.New("poison record k00005")
				}
				return events.DynamoDBEventResponse{}, nil
			}
			var mu sync.Mutex
			var failures []streamsource.Failure
			cfg := testConfig(s.arn)
			cfg.BatchSize = 10
			cfg.GetRecordsLimit = 10 // the first batch is k00000-k00009
			cfg.MaxRetries = c.maxRetries
			cfg.BisectBatchOnFunctionError = c.bisect
			calls := 0
			cfg.OnFailure = func(_ context.Context, f streamsource.Failure) error {
				mu.Lock()
				defer mu.Unlock()
				if calls++; calls == 1 {
					return errors.New("destination throttled") // retried
				}
				failures = append(failures, f)
				return nil
			}
			src, err := streamsource.New(s.streams, lambda.NewHandler(rec.handle), cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, wait := run(t, src)
			if err := wait(); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(failures) != 1 {
				t.Fatalf("OnFailure got %d failures, want 1", len(failures))
			}
			f := failures[0]
			var ev events.DynamoDBEvent
			if err := json.Unmarshal(f.Payload, &ev); err != nil {
				t.Fatal(err)
			}
			if f.BatchSize != c.wantBatch || len(ev.Records) != c.wantBatch || f.Attempts != c.wantAttempt ||
				f.Condition != "RetryAttemptsExhausted" || f.ShardID == "" || f.StreamARN != s.arn ||
				f.StartSequenceNumber != ev.Records[0].Change.SequenceNumber || !containsKey(ev.Records, key(5)) ||
				f.FunctionError == nil || f.ApproximateArrivalOfFirstRecord.IsZero() {
				t.Errorf("failure = %+v with %d records, want %d records after %d attempts", f, len(ev.Records), c.wantBatch, c.wantAttempt)
			}
			_, ok := rec.snapshot()
			for i := range n {
				if !containsKey(ev.Records, key(i)) && ok[key(i)] != 1 {
					t.Errorf("%s delivered %d times, want 1", key(i), ok[key(i)])
				}
			}
			if st := src.Stats(); st.Failed != int64(c.wantBatch) || st.Delivered != int64(n-c.wantBatch) {
				t.Errorf("stats = %+v", st)
			}
		})
	}
}

func TestCheckpointResume(t *testing.T) {
	t.Parallel()
	s := newStream(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "checkpoints.json")
	cps, err := streamsource.OpenFileCheckpoints(path)
	if err != nil {
		t.Fatal(err)
	}
	s.put(t, 50)
	first := &recorder{}
	cfg := testConfig(s.arn)
	cfg.Checkpoints = cps
	src, err := streamsource.New(s.streams, lambda.NewHandler(first.handle), cfg)
	if err != nil {
		t.Fatal(err)
	}
	stop, wait := run(t, src)
	shardID := aws.ToString(s.shard(t).ShardId)
	waitFor(t, "the checkpoint of the 50th record", func() bool {
		b, _ := first.snapshot()
		if len(b) == 0 {
			return false
		}
		last := b[len(b)-1]
		cp, _, _ := cps.Checkpoint(ctx, s.arn, shardID)
		return first.delivered() == 50 && cp.SequenceNumber == last[len(last)-1].Change.SequenceNumber
	})
	stop()
	if err := wait(); err != nil {
		t.Fatal(err)
	}

	s.put(t, 30)
	s.disable(t)
	reopened, err := streamsource.OpenFileCheckpoints(path)
	if err != nil {
		t.Fatal(err)
	}
	second := &recorder{}
	cfg.Checkpoints = reopened
	src2, err := streamsource.New(s.streams, lambda.NewHandler(second.handle), cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, wait2 := run(t, src2)
	if err := wait2(); err != nil {
		t.Fatal(err)
	}
	_, ok := second.snapshot()
	if len(ok) != 30 {
		t.Errorf("after the restart %d records were delivered, want the 30 new ones", len(ok))
	}
	for i := 50; i < 80; i++ {
		if ok[key(i)] != 1 {
			t.Errorf("%s delivered %d times after the restart, want 1", key(i), ok[key(i)])
		}
	}
}

func TestBatching(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		cfg         func(*streamsource.Config)
		open        bool  // keep the stream open: the window, not the shard's end, flushes
		wantSizes   []int // exact batch sizes
		maxPayload  int   // or: every payload at most this big
		wantBatches int   // and at least this many batches
	}{
		{
			name: "window gathers pages until the batch is full",
			cfg: func(c *streamsource.Config) {
				c.GetRecordsLimit = 10
				c.BatchSize = 35
				c.MaximumBatchingWindow = streamsource.MaxBatchingWindow
			},
			wantSizes: []int{35},
		},
		{
			name: "size closes batches within the window",
			cfg: func(c *streamsource.Config) {
				c.BatchSize = 10
				c.MaximumBatchingWindow = streamsource.MaxBatchingWindow
			},
			wantSizes: []int{10, 10, 10, 5}, // the last at the shard's end
		},
		{
			name: "window expiry sends a partial batch",
			cfg: func(c *streamsource.Config) {
				c.MaximumBatchingWindow = time.Second
			},
			open:      true,
			wantSizes: []int{35},
		},
		{
			name: "payload bytes",
			cfg: func(c *streamsource.Config) {
				c.MaxPayloadBytes = 1500
			},
			maxPayload:  1500,
			wantBatches: 35 / 4,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newStream(t)
			s.put(t, 35)
			if !c.open {
				s.disable(t)
			}
			rec := &recorder{}
			real := lambda.NewHandler(rec.handle)
			var mu sync.Mutex
			var payloads []int
			inv := invokerFunc(func(ctx context.Context, p []byte) ([]byte, error) {
				mu.Lock()
				payloads = append(payloads, len(p))
				mu.Unlock()
				return real.Invoke(ctx, p)
			})
			cfg := testConfig(s.arn)
			c.cfg(&cfg)
			src, err := streamsource.New(s.streams, inv, cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, wait := run(t, src)
			if c.open {
				waitFor(t, "35 records", func() bool { return rec.delivered() == 35 })
			} else if err := wait(); err != nil {
				t.Fatal(err)
			}
			batches, ok := rec.snapshot()
			if len(ok) != 35 {
				t.Fatalf("delivered %d, want 35", len(ok))
			}
			var sizes []int
			for _, b := range batches {
				sizes = append(sizes, len(b))
			}
			if c.wantSizes != nil && !slices.Equal(sizes, c.wantSizes) {
				t.Errorf("batch sizes = %v, want %v", sizes, c.wantSizes)
			}
			if c.maxPayload > 0 {
				mu.Lock()
				defer mu.Unlock()
				for _, p := range payloads {
					if p > c.maxPayload {
						t.Errorf("payload of %d bytes, over %d", p, c.maxPayload)
					}
				}
				if len(batches) < c.wantBatches {
					t.Errorf("%d batches, want at least %d", len(batches), c.wantBatches)
				}
			}
		})
	}
}

// faultyStreams wraps the real Streams client: every other GetRecords call
// is throttled, and the first iterator it hands out "expires" once.
type faultyStreams struct {
	*dynamodbstreams.Client
	calls     atomic.Int64
	expired   atomic.Bool
	getRecord atomic.Int64 // successful GetRecords calls
}

func (f *faultyStreams) GetRecords(ctx context.Context, in *dynamodbstreams.GetRecordsInput, optFns ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error) {
	n := f.calls.Add(1)
	if n%2 == 0 {
		return nil, &types.LimitExceededException{Message: aws.String("injected: rate exceeded")}
	}
	if n == 3 && f.expired.CompareAndSwap(false, true) {
		return nil, &types.ExpiredIteratorException{Message: aws.String("injected: iterator expired")}
	}
	out, err := f.Client.GetRecords(ctx, in, optFns...)
	if err == nil {
		f.getRecord.Add(1)
	}
	return out, err
}

func TestStreamFaults(t *testing.T) {
	t.Parallel()
	s := newStream(t)
	const n = 120
	s.put(t, n)
	s.disable(t)
	rec := &recorder{}
	faulty := &faultyStreams{Client: s.streams}
	cfg := testConfig(s.arn)
	cfg.GetRecordsLimit = 25
	src, err := streamsource.New(faulty, lambda.NewHandler(rec.handle), cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, wait := run(t, src)
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	batches, ok := rec.snapshot()
	var keys []string
	for _, b := range batches {
		for _, r := range b {
			keys = append(keys, keyOf(r))
		}
	}
	if len(keys) != n || len(ok) != n {
		t.Fatalf("sent %d records (%d distinct), want %d exactly once", len(keys), len(ok), n)
	}
	for i, k := range keys {
		if k != key(i) {
			t.Fatalf("record %d is %s, want %s", i, k, key(i))
		}
	}
	if !faulty.expired.Load() || faulty.calls.Load() < 8 {
		t.Errorf("faults were not injected: %d calls", faulty.calls.Load())
	}
}

func TestLatestSkipsHistory(t *testing.T) {
	t.Parallel()
	s := newStream(t)
	s.put(t, 10)
	rec := &recorder{}
	faulty := &countingStreams{Client: s.streams}
	cfg := testConfig(s.arn)
	cfg.StartingPosition = streamsource.Latest
	src, err := streamsource.New(faulty, lambda.NewHandler(rec.handle), cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, wait := run(t, src)
	// Once a GetRecords call returned, the LATEST iterator exists.
	waitFor(t, "the first GetRecords", func() bool { return faulty.n.Load() > 0 })
	s.put(t, 5)
	s.disable(t)
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	_, ok := rec.snapshot()
	if len(ok) != 5 {
		t.Errorf("delivered %d records, want the 5 written after the start", len(ok))
	}
	for i := 10; i < 15; i++ {
		if ok[key(i)] != 1 {
			t.Errorf("%s delivered %d times, want 1", key(i), ok[key(i)])
		}
	}
}

type countingStreams struct {
	*dynamodbstreams.Client
	n atomic.Int64
}

func (c *countingStreams) GetRecords(ctx context.Context, in *dynamodbstreams.GetRecordsInput, optFns ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error) {
	out, err := c.Client.GetRecords(ctx, in, optFns...)
	if err == nil {
		c.n.Add(1)
	}
	return out, err
}

// dropOptions wraps the real client but drops the per-call options, so the
// source cannot capture the raw records.
type dropOptions struct{ *dynamodbstreams.Client }

func (d dropOptions) GetRecords(ctx context.Context, in *dynamodbstreams.GetRecordsInput, _ ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error) {
	return d.Client.GetRecords(ctx, in)
}

func TestWrapperThatDropsOptionsFailsClearly(t *testing.T) {
	t.Parallel()
	s := newStream(t)
	s.put(t, 3)
	src, err := streamsource.New(dropOptions{s.streams}, lambda.NewHandler((&recorder{}).handle), testConfig(s.arn))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := src.Run(ctx); err == nil || !strings.Contains(err.Error(), "per-call options") {
		t.Fatalf("Run = %v, want an error saying the wrapper must pass the options on", err)
	}
}

func TestStreamNotFound(t *testing.T) {
	t.Parallel()
	s := newStream(t)
	cfg := testConfig(s.arn + "x")
	src, err := streamsource.New(s.streams, lambda.NewHandler((&recorder{}).handle), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := src.Run(ctx); !errors.Is(err, streamsource.ErrStreamNotFound) {
		t.Fatalf("Run = %v, want ErrStreamNotFound", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	arn := "arn:aws:dynamodb:us-east-1:1:table/t/stream/x"
	h := lambda.NewHandler((&recorder{}).handle)
	cases := []struct {
		name string
		cfg  streamsource.Config
	}{
		{"no stream", streamsource.Config{}},
		{"batch size", streamsource.Config{StreamARN: arn, BatchSize: 10001}},
		{"negative window", streamsource.Config{StreamARN: arn, MaximumBatchingWindow: -time.Second}},
		{"window over 300s", streamsource.Config{StreamARN: arn, MaximumBatchingWindow: 301 * time.Second}},
		{"starting position", streamsource.Config{StreamARN: arn, StartingPosition: "AT_TIMESTAMP"}},
		{"filter", streamsource.Config{StreamARN: arn, Filters: []string{`{"eventName":"INSERT"}`}}},
		{"records limit", streamsource.Config{StreamARN: arn, GetRecordsLimit: 1001}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := streamsource.New(&dynamodbstreams.Client{}, h, c.cfg); err == nil {
				t.Error("New accepted a bad config")
			}
		})
	}
	var fe *streamsource.FilterError
	_, err := streamsource.New(&dynamodbstreams.Client{}, h, streamsource.Config{StreamARN: arn, Filters: []string{`{"eventName":"INSERT"}`}})
	if !errors.As(err, &fe) || fe.Path != "eventName" {
		t.Errorf("err = %v, want a *FilterError at eventName", err)
	}
}
