package tracker_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/eventlake/eventlake/local/dynamolocal"
	"github.com/eventlake/eventlake/tracker"
)

// summarySpy wraps the real client. It records every conditional
// (last_seen) update that DynamoDB applied and can fail updates.
type summarySpy struct {
	tracker.DynamoDB
	mu       sync.Mutex
	attempts int      // conditional updates sent
	written  []string // last_seen values DynamoDB accepted
	failNext int      // fail this many UpdateItem calls
}

var errInjected = errors.New("injected: service unavailable")

func (s *summarySpy) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	s.mu.Lock()
	if s.failNext > 0 {
		s.failNext--
		s.mu.Unlock()
		return nil, errInjected
	}
	if in.ConditionExpression != nil {
		s.attempts++
	}
	s.mu.Unlock()
	out, err := s.DynamoDB.UpdateItem(ctx, in, opts...)
	if err == nil && in.ConditionExpression != nil {
		var v string
		for _, av := range in.ExpressionAttributeValues {
			// The SET value is the one of the two times that is not the threshold:
			// the later one.
			if s, ok := av.(*types.AttributeValueMemberS); ok && s.Value > v {
				v = s.Value
			}
		}
		s.mu.Lock()
		s.written = append(s.written, v)
		s.mu.Unlock()
	}
	return out, err
}

// clock is a fake clock shared by simulated processes.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock { c := &clock{}; c.ns.Store(t.UnixNano()); return c }
func (c *clock) Now() time.Time   { return time.Unix(0, c.ns.Load()).UTC() }

// Tick advances the clock by d and returns the new time.
func (c *clock) Tick(d time.Duration) time.Time { return time.Unix(0, c.ns.Add(int64(d))).UTC() }

func newSummarizer(tb testing.TB, env *dynamolocal.Env, db tracker.DynamoDB, now func() time.Time, cfg tracker.SummaryConfig) (*tracker.Tracker, *tracker.Summarizer) {
	tb.Helper()
	tr, err := tracker.New(db, tracker.Config{EventsTable: env.EventsTable, SummaryTable: env.SummaryTable, Now: now})
	if err != nil {
		tb.Fatal(err)
	}
	s, err := tracker.NewSummarizer(tr, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return tr, s
}

func TestSummaryTouchAndSeen(t *testing.T) {
	env := dynamolocal.NewEnv(t)
	spy := &summarySpy{DynamoDB: env.Client}
	c := newClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	tr, s := newSummarizer(t, env, spy, c.Now, tracker.SummaryConfig{Interval: time.Hour})
	ctx := context.Background()
	t0 := c.Now()

	check := func(step string, wantSeen time.Time, wantActions int64) {
		t.Helper()
		got, err := tr.Summary(ctx, "u1")
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if !got.LastSeen.Equal(wantSeen) || got.Actions != wantActions || got.UserID != "u1" {
			t.Fatalf("%s: summary = %+v, want last seen %s and %d actions", step, got, wantSeen, wantActions)
		}
	}
	check("never touched", time.Time{}, 0)

	if err := s.Touch(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	check("first touch", t0, 1)

	c.Tick(59 * time.Minute)
	if err := s.Touch(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	check("within the interval: counted, last seen kept", t0, 2)

	t1 := c.Tick(time.Minute)
	if err := s.Seen(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	check("Seen after the interval: last seen written, nothing counted", t1, 2)

	c.Tick(10 * time.Minute)
	spy.mu.Lock()
	before := spy.attempts
	spy.mu.Unlock()
	calls := 0
	for range 20 {
		if err := s.Seen(ctx, "u1"); err != nil {
			t.Fatal(err)
		}
		calls++
	}
	spy.mu.Lock()
	if spy.attempts != before {
		t.Errorf("Seen within the interval sent %d updates", spy.attempts-before)
	}
	spy.mu.Unlock()
	check("Seen within the interval", t1, 2)

	// Another process's summarizer, not knowing u1, asks DynamoDB, which
	// refuses last_seen; the action is still counted.
	_, other := newSummarizer(t, env, spy, c.Now, tracker.SummaryConfig{Interval: time.Hour})
	if err := other.Touch(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	check("other process within the interval", t1, 3)
}

func TestSummaryArguments(t *testing.T) {
	env := dynamolocal.NewEnv(t)
	tr, s := newSummarizer(t, env, env.Client, nil, tracker.SummaryConfig{})
	ctx := context.Background()
	for _, id := range []string{"", " x", "\xff\xfe"} {
		for name, call := range map[string]func() error{
			"touch":   func() error { return s.Touch(ctx, id) },
			"seen":    func() error { return s.Seen(ctx, id) },
			"summary": func() error { _, err := tr.Summary(ctx, id); return err },
		} {
			err := call()
			var ae *tracker.ArgumentError
			if !errors.Is(err, tracker.ErrInvalidArgument) || !errors.As(err, &ae) || ae.Field != tracker.FieldUserID || ae.Op != name {
				t.Errorf("%s(%q) = %v, want an ArgumentError naming user_id", name, id, err)
			}
		}
	}
	if _, err := tracker.NewSummarizer(tr, tracker.SummaryConfig{Interval: -time.Second}); err == nil {
		t.Error("NewSummarizer accepted a negative interval")
	}
}

func TestSummaryWritesNeverReachTheStream(t *testing.T) {
	env := dynamolocal.NewEnv(t)
	_, s := newSummarizer(t, env, env.Client, nil, tracker.SummaryConfig{})
	ctx := context.Background()
	for range 3 {
		if err := s.Touch(ctx, "u1"); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := env.Client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(env.SummaryTable)})
	if err != nil {
		t.Fatal(err)
	}
	if spec := sum.Table.StreamSpecification; spec != nil && aws.ToBool(spec.StreamEnabled) {
		t.Errorf("summary table has a stream: %+v", spec)
	}
	ev, err := env.Client.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(env.EventsTable), Select: types.SelectCount})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Count != 0 {
		t.Errorf("summary writes put %d items in the events table", ev.Count)
	}
}

func TestSummaryFailedWriteIsRetried(t *testing.T) {
	env := dynamolocal.NewEnv(t)
	spy := &summarySpy{DynamoDB: env.Client, failNext: 1}
	c := newClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	tr, s := newSummarizer(t, env, spy, c.Now, tracker.SummaryConfig{})
	ctx := context.Background()
	if err := s.Touch(ctx, "u1"); !errors.Is(err, errInjected) {
		t.Fatalf("Touch = %v, want the injected error", err)
	}
	// The failed write must not leave the throttle believing last_seen is
	// stored: the next call writes it.
	c.Tick(time.Second)
	if err := s.Touch(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	got, err := tr.Summary(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if !got.LastSeen.Equal(c.Now()) || got.Actions != 1 {
		t.Fatalf("summary = %+v, want last seen %s and 1 action", got, c.Now())
	}
}

// TestSummaryLastSeenUnderConcurrentProcesses simulates 8 processes (each its
// own Tracker and Summarizer) with 4 goroutines each touching one user while
// a shared clock advances a minute per call. Across all of them, last_seen
// must be written at most once per interval and never go back.
func TestSummaryLastSeenUnderConcurrentProcesses(t *testing.T) {
	const (
		processes  = 8
		goroutines = 4
		perG       = 25
		interval   = time.Hour
		step       = time.Minute
	)
	env := dynamolocal.NewEnv(t)
	spy := &summarySpy{DynamoDB: env.Client}
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	c := newClock(start)
	var touches atomic.Int64
	now := func() time.Time { return c.Tick(step) }

	// A reader polls last_seen with strongly consistent reads meanwhile.
	ctx, cancel := context.WithCancel(context.Background())
	var (
		pollErr  error
		polls    int
		pollDone = make(chan struct{})
	)
	go func() {
		defer close(pollDone)
		var last string
		for ctx.Err() == nil {
			out, err := env.Client.GetItem(ctx, &dynamodb.GetItemInput{
				TableName:      aws.String(env.SummaryTable),
				Key:            map[string]types.AttributeValue{tracker.AttrActor: &types.AttributeValueMemberS{Value: "u#hot"}},
				ConsistentRead: aws.Bool(true),
			})
			if err != nil {
				if ctx.Err() == nil {
					pollErr = err
				}
				return
			}
			polls++
			if v, ok := out.Item[tracker.AttrLastSeen].(*types.AttributeValueMemberS); ok {
				if v.Value < last {
					pollErr = errors.New("last_seen went back from " + last + " to " + v.Value)
					return
				}
				last = v.Value
			}
		}
	}()

	var wg sync.WaitGroup
	errs := make(chan error, processes*goroutines)
	for range processes {
		_, s := newSummarizer(t, env, spy, now, tracker.SummaryConfig{Interval: interval})
		for range goroutines {
			wg.Go(func() {
				for range perG {
					if err := s.Touch(context.Background(), "hot"); err != nil {
						errs <- err
						return
					}
					touches.Add(1)
				}
			})
		}
	}
	wg.Wait()
	cancel()
	<-pollDone
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if pollErr != nil {
		t.Fatal(pollErr)
	}

	elapsed := c.Now().Sub(start) // the simulated time all calls spanned
	maxWrites := int(elapsed/interval) + 1
	written := slices.Sorted(slices.Values(spy.written))
	t.Logf("%d touches over %s simulated: %d last_seen writes (bound %d), %d conditional attempts, %d polls",
		touches.Load(), elapsed, len(written), maxWrites, spy.attempts, polls)
	if len(written) == 0 || len(written) > maxWrites {
		t.Fatalf("%d last_seen writes over %s, want 1..%d", len(written), elapsed, maxWrites)
	}
	for i := 1; i < len(written); i++ {
		a, _ := time.Parse(tracker.TimeLayout, written[i-1])
		b, _ := time.Parse(tracker.TimeLayout, written[i])
		if b.Sub(a) < interval {
			t.Errorf("last_seen written at %s and %s, less than %s apart", written[i-1], written[i], interval)
		}
	}
	// The in-process throttle keeps attempts to about one per process and
	// interval, far fewer than the touches.
	if maxAttempts := processes * (maxWrites + 1); spy.attempts > maxAttempts {
		t.Errorf("%d conditional updates sent, want at most %d", spy.attempts, maxAttempts)
	}
	tr, _ := newSummarizer(t, env, env.Client, nil, tracker.SummaryConfig{})
	sum, err := tr.Summary(context.Background(), "hot")
	if err != nil {
		t.Fatal(err)
	}
	if sum.Actions != processes*goroutines*perG {
		t.Errorf("actions = %d, want %d", sum.Actions, processes*goroutines*perG)
	}
	if got := sum.LastSeen.Format(tracker.TimeLayout); got != written[len(written)-1] {
		t.Errorf("stored last_seen %s, want the latest write %s", got, written[len(written)-1])
	}
}

// TestSummaryCounterUnder50Writers checks that ADD counts exactly with 50
// concurrent writers spread over 5 Summarizers, with Seen calls mixed in
// that must not count.
func TestSummaryCounterUnder50Writers(t *testing.T) {
	const writers, perWriter = 50, 20
	env := dynamolocal.NewEnv(t)
	var sums []*tracker.Summarizer
	var tr *tracker.Tracker
	for range 5 {
		var s *tracker.Summarizer
		tr, s = newSummarizer(t, env, env.Client, nil, tracker.SummaryConfig{Interval: time.Millisecond})
		sums = append(sums, s)
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		s := sums[w%len(sums)]
		wg.Go(func() {
			for i := range perWriter {
				if err := s.Touch(context.Background(), "counted"); err != nil {
					errs <- err
					return
				}
				if i%5 == 0 {
					if err := s.Seen(context.Background(), "counted"); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	sum, err := tr.Summary(context.Background(), "counted")
	if err != nil {
		t.Fatal(err)
	}
	if sum.Actions != writers*perWriter {
		t.Fatalf("actions = %d, want %d", sum.Actions, writers*perWriter)
	}
	if sum.LastSeen.IsZero() {
		t.Error("last seen not set")
	}
}

// BenchmarkSummarizer measures the summary writes against DynamoDB Local:
// Seen while last_seen is fresh (no I/O: the in-process throttle), and
// Touch (one UpdateItem ADD while last_seen is fresh).
func BenchmarkSummarizer(b *testing.B) {
	env := dynamolocal.NewEnv(b)
	_, s := newSummarizer(b, env, env.Client, nil, tracker.SummaryConfig{})
	ctx := context.Background()
	if err := s.Touch(ctx, "bench"); err != nil {
		b.Fatal(err)
	}
	b.Run("seen-throttled", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := s.Seen(ctx, "bench"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("touch", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := s.Touch(ctx, "bench"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
