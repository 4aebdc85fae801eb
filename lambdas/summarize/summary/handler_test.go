package summary_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/eventlake/eventlake/lambdas/summarize/summary"
	"github.com/eventlake/eventlake/local/faultdb"
	"github.com/eventlake/eventlake/tracker"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func ms(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }

func TestWindowWritesOncePerActorAtTheEnd(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, summary.Config{Window: time.Minute})
	w := newWindow(t0, time.Minute)
	batches := [][]stored{
		{
			{seq: 1, user: "alice", id: "e1", at: ms(10)},
			{seq: 2, anon: "cookie", id: "e2", at: ms(5)},
			{seq: 3, user: "alice", anon: "cookie", id: "e3", at: ms(30)}, // identify
		},
		{
			{seq: 4, user: "alice", id: "e4", at: ms(20)}, // out of order: last seen stays 30
			{seq: 5, anon: "other", id: "e5", at: ms(40)},
			{seq: 6, user: "bob", anon: "cookie", id: "e6", at: ms(35)}, // a later link: alice keeps cookie
			{seq: 7, user: "bob", id: "e7", at: ms(1), name: "MODIFY"},
			{seq: 8, user: "bob", id: "e8", at: ms(1), name: "REMOVE"},
			{seq: 9, user: "bob", id: "e9", at: ms(1), badImage: true},
		},
	}
	for i, b := range batches {
		resp, err := w.invoke(t, f.h, b, false)
		if err != nil || len(resp.BatchItemFailures) > 0 {
			t.Fatalf("batch %d: %+v, %v", i, resp, err)
		}
		if n := f.db.total(); n != 0 {
			t.Fatalf("batch %d wrote %d summaries before the window's end", i, n)
		}
	}
	if _, err := w.invoke(t, f.h, nil, true); err != nil {
		t.Fatal(err)
	}
	if len(w.state) != 0 {
		t.Errorf("state after the final invocation: %v, want empty", w.state)
	}
	calls := f.db.reset()
	want := map[string]int{"u#alice": 1, "u#bob": 1, "a#cookie": 1, "a#other": 1}
	if !reflect.DeepEqual(calls, want) {
		t.Errorf("UpdateItem calls per actor = %v, want %v", calls, want)
	}
	alice := f.user(t, "alice")
	if alice.Actions != 3 || !alice.LastSeen.Equal(ms(30)) || !slices.Equal(alice.AnonymousIDs, []string{"cookie"}) {
		t.Errorf("alice = %+v", alice)
	}
	bob := f.user(t, "bob")
	if bob.Actions != 1 || !bob.LastSeen.Equal(ms(35)) || !slices.Equal(bob.AnonymousIDs, []string{"cookie"}) {
		t.Errorf("bob = %+v (the MODIFY, REMOVE and malformed records must not count)", bob)
	}
	cookie := f.visitor(t, "cookie")
	if cookie.Actions != 1 || !cookie.LastSeen.Equal(ms(5)) || cookie.UserID != "alice" || !cookie.LinkedAt.Equal(ms(30)) {
		t.Errorf("cookie = %+v, want 1 action, last seen 5 ms, linked to alice", cookie)
	}

	// The next window: a late event of alice's counts, last seen stays.
	w2 := newWindow(t0.Add(time.Minute), time.Minute)
	if _, err := w2.invoke(t, f.h, []stored{{seq: 10, user: "alice", id: "e10", at: ms(-5000)}}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := w2.invoke(t, f.h, nil, true); err != nil {
		t.Fatal(err)
	}
	if alice := f.user(t, "alice"); alice.Actions != 4 || !alice.LastSeen.Equal(ms(30)) {
		t.Errorf("alice after a late event = %+v", alice)
	}
	if calls := f.db.reset(); calls["u#alice"] != 1 {
		t.Errorf("a late window: %d calls for alice, want 1 (the writer knows the stored last_seen is later)", calls["u#alice"])
	}

	lines := f.logs.summaries(t)
	if len(lines) != 5 {
		t.Fatalf("%d summary lines, want one per invocation (5)", len(lines))
	}
	fin := lines[2]
	for k, want := range map[string]any{
		summary.LogFieldFinal: true, summary.LogFieldActors: 4.0, summary.LogFieldWritten: 4.0, summary.LogFieldWrites: 4.0,
		summary.LogFieldBatchSize: 0.0, summary.LogFieldWindowStart: "2026-03-01T09:00:00Z",
	} {
		if fin[k] != want {
			t.Errorf("final line %s = %v, want %v (%v)", k, fin[k], want, fin)
		}
	}
	second := lines[1]
	for k, want := range map[string]any{
		summary.LogFieldBatchSize: 6.0, summary.LogFieldEvents: 3.0, summary.LogFieldNotInsert: 2.0,
		summary.LogFieldMalformed: 1.0, summary.LogFieldFinal: false, "level": "WARN",
	} {
		if second[k] != want {
			t.Errorf("second line %s = %v, want %v", k, second[k], want)
		}
	}
	if s := second[summary.LogFieldStateBytes].(float64); s < 100 || s > 1000 {
		t.Errorf("state_bytes = %v", s)
	}
	for _, l := range lines {
		for _, id := range []string{"alice", "bob", "cookie"} {
			if b, _ := json.Marshal(l); strings.Contains(string(b), id) {
				t.Errorf("a log line names an actor: %s", b)
			}
		}
	}
}

func TestWithoutWindowEveryInvocationWrites(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, summary.Config{})
	e := events.DynamoDBEvent{}
	for i := range 5 {
		e.Records = append(e.Records, stored{seq: i + 1, user: "u", id: fmt.Sprint(i), at: ms(i)}.record())
	}
	payload, _ := json.Marshal(e)
	out, err := f.h.Invoke(context.Background(), payload)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), `"state":{`) {
		t.Errorf("response without a window carries a state: %s", out)
	}
	if u := f.user(t, "u"); u.Actions != 5 || !u.LastSeen.Equal(ms(4)) {
		t.Errorf("u = %+v", u)
	}
	// The same batch again (a retry after a lost response): not counted twice.
	if _, err := f.h.Invoke(context.Background(), payload); err != nil {
		t.Fatal(err)
	}
	if u := f.user(t, "u"); u.Actions != 5 {
		t.Errorf("after the same batch again: %d actions, want 5", u.Actions)
	}
}

func TestRetriedWindowIsNotCountedTwice(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, summary.Config{})
	w := newWindow(t0, time.Minute)
	evs := []stored{{seq: 1, user: "u", id: "a", at: ms(1)}, {seq: 2, anon: "v", id: "b", at: ms(2)}}
	if _, err := w.invoke(t, f.h, evs, false); err != nil {
		t.Fatal(err)
	}
	state := w.state
	for range 3 { // the final invocation, then Lambda retrying it
		w.state = state
		if _, err := w.invoke(t, f.h, nil, true); err != nil {
			t.Fatal(err)
		}
	}
	if u, v := f.user(t, "u"), f.visitor(t, "v"); u.Actions != 1 || v.Actions != 1 {
		t.Errorf("after 3 final invocations: u %d, v %d actions; want 1 each", u.Actions, v.Actions)
	}
	lines := f.logs.summaries(t)
	if got := lines[len(lines)-1][summary.LogFieldAlreadyApplied]; got != 2.0 {
		t.Errorf("already_applied = %v, want 2", got)
	}
	// The window read again from the start (a lost checkpoint): the same token.
	w2 := newWindow(t0, time.Minute)
	if _, err := w2.invoke(t, f.h, evs, false); err != nil {
		t.Fatal(err)
	}
	if _, err := w2.invoke(t, f.h, nil, true); err != nil {
		t.Fatal(err)
	}
	if u := f.user(t, "u"); u.Actions != 1 {
		t.Errorf("window read again: %d actions, want 1", u.Actions)
	}
}

func TestWriteFailures(t *testing.T) {
	t.Parallel()
	cfg := summary.Config{SafetyMargin: time.Millisecond, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond}
	evs := []stored{{seq: 1, user: "u", id: "a", at: ms(1)}, {seq: 2, user: "w", id: "b", at: ms(2)}}

	t.Run("throttling that clears: written within the invocation", func(t *testing.T) {
		t.Parallel()
		var fdb *faultdb.DB
		f := newFixture(t, faults(t, &fdb, faultdb.Config{Seed: 7, ThrottleRate: 0.5, TimeoutAfterRate: 0.3}), cfg)
		var all []stored
		for i := range 40 {
			all = append(all, stored{seq: i + 1, user: fmt.Sprintf("u%02d", i%20), id: fmt.Sprint(i), at: ms(i)})
		}
		w := newWindow(t0, time.Minute)
		if _, err := w.invoke(t, f.h, all, false); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := f.h.Invoke(ctx, w.payload(t, nil, true))
		if err != nil || strings.Contains(string(out), "batchItemFailures\":[{") {
			t.Fatalf("final invocation: %s, %v", out, err)
		}
		for i := range 20 {
			if u := f.user(t, fmt.Sprintf("u%02d", i)); u.Actions != 2 {
				t.Errorf("u%02d: %d actions, want 2 (exact despite lost responses)", i, u.Actions)
			}
		}
		if st := fdb.Stats(); st.Throttled == 0 || st.TimedOutAfter == 0 {
			t.Errorf("faults = %+v, want both kinds", st)
		}
	})

	t.Run("persistent failure with records: the batch is reported with the state it came with", func(t *testing.T) {
		t.Parallel()
		var fdb *faultdb.DB
		f := newFixture(t, faults(t, &fdb, faultdb.Config{ThrottleRate: 1}), cfg)
		w := newWindow(t0, time.Minute)
		w.state = map[string]string{}
		if _, err := w.invoke(t, f.h, evs[:1], false); err != nil {
			t.Fatal(err)
		}
		before := w.state
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		out, err := f.h.Invoke(ctx, w.payload(t, evs[1:], true))
		if err != nil {
			t.Fatal(err)
		}
		var resp events.DynamoDBTimeWindowEventResponse
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatal(err)
		}
		if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != fmt.Sprintf("%021d", 2) {
			t.Errorf("failures = %+v, want the batch's first record", resp.BatchItemFailures)
		}
		if !reflect.DeepEqual(resp.State, before) {
			t.Errorf("state = %v, want the one the invocation received %v", resp.State, before)
		}
		l := f.logs.summaries(t)
		last := l[len(l)-1]
		if last["level"] != "WARN" || last[summary.LogFieldUnwritten] != 2.0 || last[summary.LogFieldFailedSequenceNumber] == nil {
			t.Errorf("log line = %v", last)
		}
	})

	t.Run("persistent failure without records: a function error", func(t *testing.T) {
		t.Parallel()
		var fdb *faultdb.DB
		f := newFixture(t, faults(t, &fdb, faultdb.Config{ServerErrorRate: 1}), cfg)
		w := newWindow(t0, time.Minute)
		if _, err := w.invoke(t, f.h, evs, false); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		if _, err := f.h.Invoke(ctx, w.payload(t, nil, true)); err == nil {
			t.Error("final invocation without records that cannot write: no error")
		}
	})

	t.Run("a missing table is not retried", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, nil, cfg)
		h, err := summary.New(f.env.Client, summary.Config{SummaryTable: "no-such-table", Logger: slog.New(slog.NewJSONHandler(f.logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		payload, _ := json.Marshal(events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{evs[0].record()}})
		out, err := h.Invoke(context.Background(), payload)
		if err != nil || !strings.Contains(string(out), evs[0].record().Change.SequenceNumber) {
			t.Errorf("out %s, %v: want the record reported", out, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %v: a missing table must not be retried until the deadline", d)
		}
	})
}

// faults returns a wrap for newFixture that injects faults and keeps the
// wrapper in *db.
func faults(t testing.TB, db **faultdb.DB, cfg faultdb.Config) func(*dynamodb.Client) tracker.SummaryUpdater {
	return func(c *dynamodb.Client) tracker.SummaryUpdater {
		var err error
		if *db, err = faultdb.New(c, cfg); err != nil {
			t.Fatal(err)
		}
		return *db
	}
}

func TestEarlyWriteWhenTheStateIsFull(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, summary.Config{MaxStateBytes: 2000})
	w := newWindow(t0, time.Minute)
	var evs []stored
	for i := range 100 {
		evs = append(evs, stored{seq: i + 1, user: fmt.Sprintf("user-%03d", i), id: fmt.Sprint(i), at: ms(i)})
	}
	for i := 0; i < len(evs); i += 25 {
		resp, err := w.invoke(t, f.h, evs[i:i+25], false)
		if err != nil || len(resp.BatchItemFailures) > 0 {
			t.Fatal(resp, err)
		}
		if b, _ := json.Marshal(resp.State); len(b) > 2000 {
			t.Errorf("state of %d bytes, over the bound of 2000", len(b))
		}
	}
	if f.db.total() == 0 {
		t.Error("no write before the window's end although the state outgrew its bound")
	}
	if _, err := w.invoke(t, f.h, nil, true); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if u := f.user(t, fmt.Sprintf("user-%03d", i)); u.Actions != 1 {
			t.Fatalf("user-%03d: %d actions", i, u.Actions)
		}
	}
	if calls := f.db.reset(); len(calls) != 100 || f.db.total() != 0 {
		t.Errorf("calls = %v, want one per actor", calls)
	}
	early := 0
	for _, l := range f.logs.summaries(t) {
		early += int(l[summary.LogFieldEarlyWrites].(float64))
	}
	if early == 0 {
		t.Error("no early_writes logged")
	}
}

// TestInvokeMatchesHandle: the deployed entry point, reading the payload
// itself, answers as the runtime's decoding plus Handle does, on the
// testdata events.
func TestInvokeMatchesHandle(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("testdata/*.json")
	if len(files) < 3 {
		t.Fatalf("testdata: %v", files)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			payload, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			results := map[string]tracker.UserSummary{}
			var answers []string
			for i, entry := range []string{"invoke", "handle"} {
				f := newFixture(t, nil, summary.Config{})
				var h lambda.Handler = f.h
				if entry == "handle" {
					h = lambda.NewHandler(f.h.Handle)
				}
				out, err := h.Invoke(context.Background(), payload)
				if err != nil {
					t.Fatalf("%s: %v", entry, err)
				}
				var resp map[string]any
				if err := json.Unmarshal(out, &resp); err != nil {
					t.Fatal(err)
				}
				b, _ := json.Marshal(resp)
				answers = append(answers, string(b))
				for _, id := range []string{"alice", "bob"} {
					results[fmt.Sprint(i, "u", id)] = f.user(t, id)
				}
				for _, id := range []string{"cookie-1", "cookie-2"} {
					results[fmt.Sprint(i, "a", id)] = f.visitor(t, id)
				}
			}
			if answers[0] != answers[1] {
				t.Errorf("responses differ:\ninvoke %s\nhandle %s", answers[0], answers[1])
			}
			for k, v := range results {
				if k[0] != '0' {
					continue
				}
				if other := results["1"+k[1:]]; !reflect.DeepEqual(v, other) {
					t.Errorf("%s: invoke %+v, handle %+v", k[1:], v, other)
				}
			}
		})
	}
}

func TestImageFieldNamesAreTheSchemas(t *testing.T) {
	for _, name := range []string{tracker.FieldUserID, tracker.FieldAnonymousID, tracker.FieldEventAt, tracker.FieldEventID} {
		if !slices.Contains(tracker.FieldNames(), name) {
			t.Errorf("%s is not a schema field", name)
		}
	}
	// The raw decoder's tags are checked by decoding an image with the
	// schema's names: the fields must be read.
	f := newFixture(t, nil, summary.Config{})
	e := events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{stored{seq: 1, user: "x", anon: "y", id: "z", at: ms(3)}.record()}}
	payload, _ := json.Marshal(e)
	if _, err := f.h.Invoke(context.Background(), payload); err != nil {
		t.Fatal(err)
	}
	if u, v := f.user(t, "x"), f.visitor(t, "y"); u.Actions != 1 || !slices.Equal(u.AnonymousIDs, []string{"y"}) || v.UserID != "x" {
		t.Errorf("x = %+v, y = %+v", u, v)
	}
}

func TestInvokeRejects(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, summary.Config{})
	for name, payload := range map[string]string{
		"not JSON":          `{"Records":[`,
		"not an object":     `[1,2]`,
		"a foreign state":   `{"Records":[],"window":{"start":"2026-03-01T09:00:00Z","end":"2026-03-01T09:01:00Z"},"state":{"count":"3"},"isFinalInvokeForWindow":true}`,
		"a state, bad type": `{"Records":[],"window":{"start":"2026-03-01T09:00:00Z","end":"2026-03-01T09:01:00Z"},"state":{"_v":1}}`,
	} {
		if _, err := f.h.Invoke(context.Background(), []byte(payload)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestConfig(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cfg, err := summary.ConfigFromEnv(env(map[string]string{summary.EnvSummaryTableName: "s"}))
	if err != nil || cfg.Window != summary.DefaultWindow || cfg.SummaryTable != "s" {
		t.Errorf("defaults: %+v, %v", cfg, err)
	}
	cfg, err = summary.ConfigFromEnv(env(map[string]string{
		summary.EnvSummaryTableName: "s", summary.EnvWindowSeconds: "300", summary.EnvMaxStateBytes: "500000",
		summary.EnvWriteConcurrency: "4", summary.EnvSafetyMargin: "2s", summary.EnvBackoffBase: "50ms", summary.EnvBackoffMax: "1s",
	}))
	if err != nil || cfg.Window != 5*time.Minute || cfg.MaxStateBytes != 500000 || cfg.WriteConcurrency != 4 ||
		cfg.SafetyMargin != 2*time.Second || cfg.BackoffBase != 50*time.Millisecond || cfg.BackoffMax != time.Second {
		t.Errorf("set: %+v, %v", cfg, err)
	}
	for _, bad := range []map[string]string{
		{},
		{summary.EnvSummaryTableName: "s", summary.EnvWindowSeconds: "0"},
		{summary.EnvSummaryTableName: "s", summary.EnvWindowSeconds: "901"},
		{summary.EnvSummaryTableName: "s", summary.EnvWindowSeconds: "1m"},
		{summary.EnvSummaryTableName: "s", summary.EnvMaxStateBytes: "-1"},
		{summary.EnvSummaryTableName: "s", summary.EnvMaxStateBytes: "1000001"}, // New would refuse it
		{summary.EnvSummaryTableName: "s", summary.EnvSafetyMargin: "soon"},
	} {
		if _, err := summary.ConfigFromEnv(env(bad)); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
	f := newFixture(t, nil, summary.Config{})
	for _, c := range []summary.Config{
		{SummaryTable: "s", Window: 16 * time.Minute},
		{SummaryTable: "s", Window: 1500 * time.Millisecond},
		{SummaryTable: "s", MaxStateBytes: summary.MaxStateLimit + 1},
		{SummaryTable: "s", WriteConcurrency: -1},
		{SummaryTable: ""},
	} {
		if _, err := summary.New(f.env.Client, c); err == nil {
			t.Errorf("New(%+v): no error", c)
		}
	}
	if _, err := summary.New(nil, summary.Config{SummaryTable: "s"}); err == nil {
		t.Error("New without a client: no error")
	}
}
