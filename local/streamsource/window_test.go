package streamsource_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"

	"github.com/eventlake/eventlake/local/streamsource"
)

// windowCall is one invocation a windowed handler received.
type windowCall struct {
	start, end  time.Time
	state       map[string]string
	final       bool
	early       bool
	shardID     string
	arn         string
	keys        []string
	created     []time.Time
	seqs        []string
	failedFirst bool // the handler reported a failure
}

// windowRecorder counts records per window in its state, as an aggregating
// function would: state {"n": count, "keys": "k1,k2,..."}; the final
// invocation records the window's total.
type windowRecorder struct {
	mu     sync.Mutex
	calls  []windowCall
	totals map[string]int // key -> times counted in a successful final
	// decide, when set, may change the answer of call n (counted from 1).
	decide func(n int, c windowCall, resp *events.DynamoDBTimeWindowEventResponse) error
}

func (r *windowRecorder) handle(ctx context.Context, e events.DynamoDBTimeWindowEvent) (events.DynamoDBTimeWindowEventResponse, error) {
	c := windowCall{start: e.Window.Start.Time, end: e.Window.End.Time, state: e.State, final: e.IsFinalInvokeForWindow,
		early: e.IsWindowTerminatedEarly, shardID: e.ShardID, arn: e.EventSourceARN}
	for _, rec := range e.Records {
		c.keys = append(c.keys, keyOf(rec))
		c.created = append(c.created, rec.Change.ApproximateCreationDateTime.Time)
		c.seqs = append(c.seqs, rec.Change.SequenceNumber)
	}
	n, _ := strconv.Atoi(e.State["n"])
	keys := e.State["keys"]
	for _, k := range c.keys {
		n++
		keys += k + ","
	}
	resp := events.DynamoDBTimeWindowEventResponse{}
	resp.State = map[string]string{"n": strconv.Itoa(n), "keys": keys}
	r.mu.Lock()
	r.calls = append(r.calls, c)
	call := len(r.calls)
	decide := r.decide
	r.mu.Unlock()
	if decide != nil {
		if err := decide(call, c, &resp); err != nil {
			return resp, err
		}
	}
	if c.final && len(resp.BatchItemFailures) == 0 {
		r.mu.Lock()
		if r.totals == nil {
			r.totals = map[string]int{}
		}
		for _, k := range strings.Split(strings.TrimSuffix(keys, ","), ",") {
			if k != "" {
				r.totals[k]++
			}
		}
		r.mu.Unlock()
		resp.State = map[string]string{}
	}
	return resp, nil
}

func (r *windowRecorder) snapshot() ([]windowCall, map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]windowCall(nil), r.calls...), maps(r.totals)
}

// putOverWindows puts n items in groups spread over about `seconds`
// seconds, so that their creation times fall into several 1 s windows.
func (s *stream) putOverWindows(t *testing.T, groups, each int) {
	t.Helper()
	for g := range groups {
		if g > 0 {
			time.Sleep(1100 * time.Millisecond)
		}
		s.put(t, each)
	}
}

func windowConfig(arn string) streamsource.Config {
	cfg := testConfig(arn)
	cfg.TumblingWindow = time.Second
	cfg.CreationTimePrecision = streamsource.DynamoDBLocalCreationTimePrecision
	cfg.BatchSize = 7
	return cfg
}

func TestTumblingWindows(t *testing.T) {
	t.Parallel()
	s := newStream(t)
	rec := &windowRecorder{}
	cps := &streamsource.MemoryCheckpoints{}
	cfg := windowConfig(s.arn)
	cfg.Checkpoints = cps
	src, err := streamsource.New(s.streams, lambda.NewHandler(rec.handle), cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, wait := run(t, src)
	s.putOverWindows(t, 3, 20)
	s.disable(t)
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	calls, totals := rec.snapshot()
	for i := range 60 {
		if totals[key(i)] != 1 {
			t.Errorf("%s counted %d times in final states, want 1", key(i), totals[key(i)])
		}
	}
	windows := map[time.Time]bool{}
	var open *windowCall
	prevN := 0
	for i, c := range calls {
		if c.end.Sub(c.start) != time.Second || c.start.UnixNano()%int64(time.Second) != 0 {
			t.Errorf("call %d: window %s-%s is not a whole aligned second", i, c.start, c.end)
		}
		if c.shardID == "" || c.arn != s.arn {
			t.Errorf("call %d: shard %q, ARN %q", i, c.shardID, c.arn)
		}
		for j, ct := range c.created {
			// DynamoDB Local rounds creation times down to the minute.
			if ct.After(c.start) || !c.start.Before(ct.Add(time.Minute)) {
				t.Errorf("call %d: record %s created %s (to the minute) cannot be in window %s", i, c.keys[j], ct, c.start)
			}
		}
		if len(c.keys) > cfg.BatchSize {
			t.Errorf("call %d: %d records", i, len(c.keys))
		}
		if open == nil || !open.start.Equal(c.start) {
			if open != nil && !open.final {
				t.Errorf("call %d opens window %s before window %s had its final invocation", i, c.start, open.start)
			}
			if len(c.state) != 0 {
				t.Errorf("call %d: a new window starts with state %v, want {}", i, c.state)
			}
			if windows[c.start] {
				t.Errorf("window %s opened twice", c.start)
			}
			windows[c.start] = true
			prevN = 0
		} else if n, _ := strconv.Atoi(c.state["n"]); n != prevN {
			t.Errorf("call %d: state n=%d, want the %d the previous invocation returned", i, n, prevN)
		}
		if c.final && len(c.keys) != 0 {
			t.Errorf("call %d: a final invocation with %d records", i, len(c.keys))
		}
		prevN += len(c.keys)
		cc := c
		open = &cc
	}
	if open == nil || !open.final {
		t.Error("the last window had no final invocation")
	}
	if len(windows) < 3 {
		t.Errorf("%d windows, want at least 3 (puts spread over 3 seconds)", len(windows))
	}
	st := src.Stats()
	if st.Windows != int64(len(windows)) || st.Delivered != 60 || st.FunctionErrors != 0 {
		t.Errorf("stats = %+v, want %d windows, 60 delivered", st, len(windows))
	}
	cp, _, _ := cps.Checkpoint(context.Background(), s.arn, aws.ToString(s.shard(t).ShardId))
	if !cp.ShardEnded || cp.SequenceNumber != aws.ToString(s.shard(t).SequenceNumberRange.EndingSequenceNumber) {
		t.Errorf("checkpoint %+v, want the shard's end", cp)
	}
}

func TestTumblingWindowClosesOnAQuietStream(t *testing.T) {
	t.Parallel()
	s := newStream(t)
	rec := &windowRecorder{}
	src, err := streamsource.New(s.streams, lambda.NewHandler(rec.handle), windowConfig(s.arn))
	if err != nil {
		t.Fatal(err)
	}
	run(t, src)
	s.put(t, 5)
	waitFor(t, "the windows' final invocations without more records", func() bool { return src.Stats().Delivered == 5 })
	_, totals := rec.snapshot()
	if len(totals) != 5 {
		t.Errorf("%d records in the final state, want 5", len(totals))
	}
}

func TestTumblingWindowFailures(t *testing.T) {
	t.Parallel()
	t.Run("a response without state is a function error", func(t *testing.T) {
		t.Parallel()
		s := newStream(t)
		s.put(t, 10)
		s.disable(t)
		var mu sync.Mutex
		bad := 2
		rec := &windowRecorder{}
		inner := lambda.NewHandler(rec.handle)
		stateless := invokerFunc(func(ctx context.Context, payload []byte) ([]byte, error) {
			mu.Lock()
			defer mu.Unlock()
			if bad > 0 {
				bad--
				return []byte(`{"batchItemFailures":[]}`), nil
			}
			return inner.Invoke(ctx, payload)
		})
		src, err := streamsource.New(s.streams, stateless, windowConfig(s.arn))
		if err != nil {
			t.Fatal(err)
		}
		_, wait := run(t, src)
		if err := wait(); err != nil {
			t.Fatal(err)
		}
		_, totals := rec.snapshot()
		if st := src.Stats(); st.FunctionErrors != 2 || len(totals) != 10 || st.Delivered != 10 {
			t.Errorf("stats %+v, %d records in final states; want 2 function errors and 10 records", st, len(totals))
		}
	})

	t.Run("a partial failure keeps the returned state and retries from the record", func(t *testing.T) {
		t.Parallel()
		s := newStream(t)
		s.put(t, 10)
		s.disable(t)
		rec := &windowRecorder{}
		rec.decide = func(n int, c windowCall, resp *events.DynamoDBTimeWindowEventResponse) error {
			if n == 1 && len(c.keys) > 3 {
				// Processed the first 3 only: the state says so.
				prev, _ := strconv.Atoi(c.state["n"])
				resp.State = map[string]string{"n": strconv.Itoa(prev + 3), "keys": c.state["keys"] + strings.Join(c.keys[:3], ",") + ","}
				resp.BatchItemFailures = []events.DynamoDBBatchItemFailure{{ItemIdentifier: c.seqs[3]}}
			}
			return nil
		}
		src, err := streamsource.New(s.streams, lambda.NewHandler(rec.handle), windowConfig(s.arn))
		if err != nil {
			t.Fatal(err)
		}
		_, wait := run(t, src)
		if err := wait(); err != nil {
			t.Fatal(err)
		}
		calls, totals := rec.snapshot()
		if calls[1].keys[0] != calls[0].keys[3] || calls[1].state["n"] != "3" {
			t.Errorf("second call starts at %s with state %v, want %s and n=3", calls[1].keys[0], calls[1].state, calls[0].keys[3])
		}
		for i := range 10 {
			if totals[key(i)] != 1 {
				t.Errorf("%s counted %d times", key(i), totals[key(i)])
			}
		}
	})

	t.Run("a failing final invocation is retried with the same state", func(t *testing.T) {
		t.Parallel()
		s := newStream(t)
		s.put(t, 4)
		s.disable(t)
		rec := &windowRecorder{}
		finals := 0
		rec.decide = func(n int, c windowCall, resp *events.DynamoDBTimeWindowEventResponse) error {
			if c.final {
				if finals++; finals <= 2 {
					return errors.New("summary table throttled")
				}
			}
			return nil
		}
		src, err := streamsource.New(s.streams, lambda.NewHandler(rec.handle), windowConfig(s.arn))
		if err != nil {
			t.Fatal(err)
		}
		_, wait := run(t, src)
		if err := wait(); err != nil {
			t.Fatal(err)
		}
		calls, totals := rec.snapshot()
		var finalStates []string
		for _, c := range calls {
			if c.final {
				finalStates = append(finalStates, c.state["keys"])
			}
		}
		if len(finalStates) < 3 || finalStates[0] != finalStates[1] || finalStates[1] != finalStates[2] {
			t.Errorf("final invocations' states %q: want the same state three times", finalStates)
		}
		if len(totals) != 4 || src.Stats().FunctionErrors != 2 {
			t.Errorf("totals %v, stats %+v", totals, src.Stats())
		}
	})

	t.Run("a final invocation failing every retry goes to OnFailure", func(t *testing.T) {
		t.Parallel()
		s := newStream(t)
		s.put(t, 4)
		s.disable(t)
		rec := &windowRecorder{}
		rec.decide = func(n int, c windowCall, resp *events.DynamoDBTimeWindowEventResponse) error {
			if c.final {
				return errors.New("always failing")
			}
			return nil
		}
		var failures []streamsource.Failure
		cfg := windowConfig(s.arn)
		cfg.MaxRetries = 2
		cfg.OnFailure = func(_ context.Context, f streamsource.Failure) error {
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
		if len(failures) == 0 {
			t.Fatal("no failure reported")
		}
		total := 0
		for _, f := range failures {
			total += f.BatchSize
			var e events.DynamoDBTimeWindowEvent
			if err := json.Unmarshal(f.Payload, &e); err != nil || !e.IsFinalInvokeForWindow || e.State["n"] == "" || f.Attempts != 3 {
				t.Errorf("failure %+v: payload %s (%v)", f, f.Payload, err)
			}
		}
		if st := src.Stats(); total != 4 || st.Failed != 4 || st.Delivered != 0 {
			t.Errorf("failed records %d, stats %+v; want 4 failed", total, st)
		}
	})
}

func TestTumblingWindowEarlyTermination(t *testing.T) {
	t.Parallel()
	s := newStream(t)
	s.put(t, 6)
	s.disable(t)
	rec := &windowRecorder{}
	big := strings.Repeat("x", streamsource.MaxWindowStateBytes)
	rec.decide = func(n int, c windowCall, resp *events.DynamoDBTimeWindowEventResponse) error {
		if n == 1 && !c.final {
			resp.State["pad"] = big
		}
		return nil
	}
	cfg := windowConfig(s.arn)
	cfg.BatchSize = 3
	src, err := streamsource.New(s.streams, lambda.NewHandler(rec.handle), cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, wait := run(t, src)
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	calls, totals := rec.snapshot()
	if len(calls) < 2 || !calls[1].final || !calls[1].early || calls[1].state["pad"] == "" {
		t.Fatalf("second call %+v: want the early final invocation with the big state", calls[1].final)
	}
	if calls[2].start != calls[1].start && calls[2].start.Before(calls[1].start) {
		t.Errorf("after the early termination the window moved back")
	}
	if len(calls[2].state) != 0 {
		t.Errorf("after an early termination the window goes on with a fresh state, got %d keys", len(calls[2].state))
	}
	if len(totals) != 6 {
		t.Errorf("%d records in final states, want 6", len(totals))
	}
	if st := src.Stats(); st.WindowsTerminatedEarly != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestTumblingWindowCheckpointAfterTheFinalInvocation(t *testing.T) {
	t.Parallel()
	s := newStream(t)
	s.put(t, 8)
	cpFile := filepath.Join(t.TempDir(), "checkpoints.json")
	cps, err := streamsource.OpenFileCheckpoints(cpFile)
	if err != nil {
		t.Fatal(err)
	}
	// First run: the handler takes the records but the source stops before
	// the window's end (the window is long).
	rec := &windowRecorder{}
	cfg := windowConfig(s.arn)
	cfg.TumblingWindow = 15 * time.Minute
	cfg.Checkpoints = cps
	src, err := streamsource.New(s.streams, lambda.NewHandler(rec.handle), cfg)
	if err != nil {
		t.Fatal(err)
	}
	stop, wait := run(t, src)
	waitFor(t, "the records aggregated", func() bool {
		calls, _ := rec.snapshot()
		n := 0
		for _, c := range calls {
			n += len(c.keys)
		}
		return n == 8
	})
	stop()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if cp, found, _ := cps.Checkpoint(context.Background(), s.arn, aws.ToString(s.shard(t).ShardId)); found && cp.SequenceNumber != "" {
		t.Errorf("checkpoint %+v saved before the window's final invocation", cp)
	}
	// Second run from the same checkpoints: the window is read again from
	// its start and closes when the shard ends.
	s.disable(t)
	cps2, _ := streamsource.OpenFileCheckpoints(cpFile)
	rec2 := &windowRecorder{}
	cfg.Checkpoints = cps2
	src2, err := streamsource.New(s.streams, lambda.NewHandler(rec2.handle), cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, wait2 := run(t, src2)
	if err := wait2(); err != nil {
		t.Fatal(err)
	}
	_, totals := rec2.snapshot()
	if len(totals) != 8 {
		t.Errorf("second run: %d records in the final state, want all 8 again", len(totals))
	}
}

func TestTumblingWindowConfig(t *testing.T) {
	for _, w := range []time.Duration{-time.Second, 1500 * time.Millisecond, 16 * time.Minute} {
		cfg := streamsource.Config{StreamARN: "arn:aws:dynamodb:r:1:table/t/stream/x", TumblingWindow: w}
		if _, err := streamsource.New(&dynamodbstreams.Client{}, invokerFunc(nil), cfg); err == nil || !strings.Contains(err.Error(), "TumblingWindow") {
			t.Errorf("TumblingWindow %v: %v", w, err)
		}
	}
}
