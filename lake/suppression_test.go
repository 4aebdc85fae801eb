package lake_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"

	"github.com/eventlake/eventlake/lake"
	"github.com/eventlake/eventlake/lambdas/streamtofirehose/relay"
	"github.com/eventlake/eventlake/local/firehoselocal"
	"github.com/eventlake/eventlake/tracker"
)

func TestHashes(t *testing.T) {
	sum := sha256.Sum256([]byte("u#42"))
	if got := lake.UserHash("42"); got != hex.EncodeToString(sum[:]) {
		t.Errorf("UserHash(42) = %s", got)
	}
	sum = sha256.Sum256([]byte("a#42"))
	if got := lake.AnonymousHash("42"); got != hex.EncodeToString(sum[:]) {
		t.Errorf("AnonymousHash(42) = %s", got)
	}
	if lake.UserHash("42") == lake.AnonymousHash("42") {
		t.Error("a user and a visitor with equal IDs have one hash")
	}
	// The hash is of tracker.ActorKey, the DynamoDB partition key.
	sum = sha256.Sum256([]byte(tracker.ActorKey("", "cookie")))
	if lake.AnonymousHash("cookie") != hex.EncodeToString(sum[:]) {
		t.Error("AnonymousHash is not the hash of tracker.ActorKey")
	}
}

func TestSuppressed(t *testing.T) {
	list, err := lake.NewSuppression([]lake.SuppressionEntry{
		{Hash: lake.UserHash("42")},
		{Hash: lake.AnonymousHash("cookie-7")},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		user, anon string
		want       bool
	}{
		{"42", "", true},
		{"42", "cookie-other", true}, // the user's own events, whatever cookie
		{"", "cookie-7", true},       // the visitor linked to the user
		{"9", "cookie-7", false},     // another user on the same browser: that user's event
		{"cookie-7", "", false},      // a user whose ID equals the visitor's is another actor
		{"", "42", false},            // likewise a visitor whose ID equals the user's
		{"43", "", false},            //
		{"", "", false},              // nothing to match
		{"420", "", false},           // no prefix matching
		{"4", "2", false},            // no concatenation ambiguity
		{"", "cookie-7\x00", false},  // exact bytes
		{"", strings.Repeat("x", 300), false},
	} {
		if got := list.Suppressed(c.user, c.anon); got != c.want {
			t.Errorf("Suppressed(%q, %q) = %t, want %t", c.user, c.anon, got, c.want)
		}
	}
	if !list.Has(lake.UserHash("42")) || list.Has(lake.UserHash("43")) || list.Has("zz") {
		t.Error("Has")
	}
	var empty *lake.Suppression
	if empty.Suppressed("42", "") || empty.Len() != 0 {
		t.Error("a nil list suppresses nothing")
	}
	for _, bad := range []string{"", "42", strings.ToUpper(lake.UserHash("42")), lake.UserHash("42")[:63] + "g"} {
		if _, err := lake.NewSuppression([]lake.SuppressionEntry{{Hash: bad}}); !errors.Is(err, lake.ErrBadSuppressionList) {
			t.Errorf("entry %q: %v, want ErrBadSuppressionList", bad, err)
		}
	}
}

func TestAddSuppression(t *testing.T) {
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			list, etag, err := lake.LoadSuppression(ctx, st)
			if err != nil || list.Len() != 0 || etag != "" {
				t.Fatalf("no list yet: %v %d %q", err, list.Len(), etag)
			}
			// Writers racing each other lose nothing.
			var wg sync.WaitGroup
			for i := range 6 {
				wg.Go(func() {
					n, err := lake.AddSuppression(ctx, st, []lake.SuppressionEntry{
						{Hash: lake.UserHash(fmt.Sprint("user-", i)), AddedAt: time.Now().UTC(), Request: fmt.Sprint("r", i)},
						{Hash: lake.UserHash("shared")},
					})
					if err != nil || n < 1 || n > 2 {
						t.Errorf("writer %d: %d added, %v", i, n, err)
					}
				})
			}
			wg.Wait()
			list, etag, err = lake.LoadSuppression(ctx, st)
			if err != nil || list.Len() != 7 || etag == "" {
				t.Fatalf("after 6 writers: %v, %d entries (want 7)", err, list.Len())
			}
			for i := range 6 {
				if !list.Suppressed(fmt.Sprint("user-", i), "") {
					t.Errorf("user-%d lost", i)
				}
			}
			if n, err := lake.AddSuppression(ctx, st, []lake.SuppressionEntry{{Hash: lake.UserHash("shared")}}); n != 0 || err != nil {
				t.Errorf("adding an entry again: %d, %v", n, err)
			}
			body, _, _ := st.Get(ctx, lake.SuppressionKey)
			if bytes.Contains(body, []byte("user-")) || bytes.Contains(body, []byte("shared")) {
				t.Errorf("the stored list holds an ID in clear:\n%s", body)
			}
		})
	}
}

// faultyStore fails Get while failing is set.
type faultyStore struct {
	lake.Store
	mu      sync.Mutex
	failing bool
	gets    int
}

func (f *faultyStore) Get(ctx context.Context, key string) ([]byte, lake.Object, error) {
	f.mu.Lock()
	f.gets++
	failing := f.failing
	f.mu.Unlock()
	if failing {
		return nil, lake.Object{}, errors.New("injected: S3 unavailable")
	}
	return f.Store.Get(ctx, key)
}

func (f *faultyStore) fail(b bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failing = b
}

func TestSuppressionCache(t *testing.T) {
	ctx := context.Background()
	st := &faultyStore{Store: laketest3(t)}
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	var clock sync.Mutex
	tick := func(d time.Duration) { clock.Lock(); now = now.Add(d); clock.Unlock() }
	var logs bytes.Buffer
	cache, err := lake.NewSuppressionCache(ctx, st, lake.SuppressionCacheConfig{
		Refresh: time.Minute,
		Now:     func() time.Time { clock.Lock(); defer clock.Unlock(); return now },
		Logger:  slog.New(slog.NewJSONHandler(&logs, nil)),
	})
	if err != nil || !cache.Loaded() || cache.List().Len() != 0 {
		t.Fatalf("a store without a list: %v, loaded %t", err, cache.Loaded())
	}
	ev := tracker.Event{UserID: "42", Type: "login"}
	if _, keep := cache.BeforeSend(ev); !keep {
		t.Error("BeforeSend dropped an event before any erasure")
	}
	if _, err := lake.AddSuppression(ctx, st, []lake.SuppressionEntry{{Hash: lake.UserHash("42")}}); err != nil {
		t.Fatal(err)
	}
	gets := st.gets
	if err := cache.MaybeRefresh(ctx); err != nil || st.gets != gets {
		t.Errorf("a fresh list was read again: %v, %d gets", err, st.gets-gets)
	}
	if cache.Suppressed("42", "") {
		t.Error("the cache changed before its refresh")
	}
	tick(time.Minute)
	if err := cache.MaybeRefresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got, keep := cache.BeforeSend(ev); keep || got.UserID != "42" {
		t.Error("BeforeSend kept a forgotten user's event after the refresh")
	}
	if _, keep := cache.BeforeSend(tracker.Event{UserID: "43", Type: "login"}); !keep {
		t.Error("BeforeSend dropped another user's event")
	}
	// The drop is counted and logged, without the ID.
	if cache.Dropped() != 1 {
		t.Errorf("Dropped = %d, want 1", cache.Dropped())
	}
	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(l, lake.LogMessageSuppressed) {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatal(err)
			}
		}
	}
	if line[lake.LogFieldSuppressedEvents] != 1.0 || line["event_type"] != "login" || strings.Contains(logs.String(), `"42"`) {
		t.Errorf("the drop's log line: %v (all: %s)", line, logs.String())
	}
	// A failed refresh keeps the list it has, and says so.
	st.fail(true)
	tick(time.Minute)
	if err := cache.MaybeRefresh(ctx); err == nil {
		t.Error("a failed refresh reported no error")
	}
	if !cache.Suppressed("42", "") {
		t.Error("a failed refresh lost the list")
	}
	if !strings.Contains(logs.String(), "suppression list not refreshed") {
		t.Errorf("no warning logged: %s", logs.String())
	}
	// A cache that never loaded reports it, and loads once the store answers.
	failing, err := lake.NewSuppressionCache(ctx, st, lake.SuppressionCacheConfig{})
	if err == nil || failing.Loaded() {
		t.Fatalf("first load against a failing store: %v, loaded %t", err, failing.Loaded())
	}
	st.fail(false)
	if err := failing.MaybeRefresh(ctx); err != nil || !failing.Suppressed("42", "") {
		t.Errorf("after the store came back: %v", err)
	}
	// Run refreshes in the background until its context ends.
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	fast, _ := lake.NewSuppressionCache(ctx, st, lake.SuppressionCacheConfig{Refresh: 10 * time.Millisecond})
	go func() { fast.Run(rctx); close(done) }()
	if _, err := lake.AddSuppression(ctx, st, []lake.SuppressionEntry{{Hash: lake.UserHash("7")}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !fast.Suppressed("7", "") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if !fast.Suppressed("7", "") {
		t.Error("Run did not pick up the new entry")
	}
}

func laketest3(t *testing.T) lake.Store { return stores(t)["s3"] }

// TestRelaySuppression runs the stream Lambda's handler, as deployed
// (Invoke on the raw payload), with its Firehose client wrapped by
// SuppressingFirehose, against the local Firehose endpoint.
func TestRelaySuppression(t *testing.T) {
	payload, err := os.ReadFile("../lambdas/streamtofirehose/relay/testdata/identity.json")
	if err != nil {
		t.Fatal(err)
	}
	// identity.json: page_view of visitor cookie-7; identify of user 42 with
	// cookie-7; page_view of user crawler; a login without IDs and a login
	// of user 9 with a malformed is_bot (both skipped by the relay); a
	// logout of user 9.
	for _, c := range []struct {
		name       string
		suppressed []string
		want       []string // user_id/anonymous_id/event_type of the lines delivered
		dropped    int64
	}{
		{"nothing suppressed", nil, []string{"/cookie-7/page_view", "42/cookie-7/identify", "crawler//page_view", "9//logout"}, 0},
		{"user 42 and its visitor", []string{lake.UserHash("42"), lake.AnonymousHash("cookie-7")}, []string{"crawler//page_view", "9//logout"}, 2},
		{"the visitor alone", []string{lake.AnonymousHash("cookie-7")}, []string{"42/cookie-7/identify", "crawler//page_view", "9//logout"}, 1},
		{"user 9", []string{lake.UserHash("9")}, []string{"/cookie-7/page_view", "42/cookie-7/identify", "crawler//page_view"}, 1},
		{"everyone", []string{lake.UserHash("9"), lake.UserHash("42"), lake.UserHash("crawler"), lake.AnonymousHash("cookie-7")}, nil, 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			st, _ := lake.NewFolderStore(t.TempDir())
			var entries []lake.SuppressionEntry
			for _, h := range c.suppressed {
				entries = append(entries, lake.SuppressionEntry{Hash: h})
			}
			if _, err := lake.AddSuppression(ctx, st, entries); err != nil && len(entries) > 0 {
				t.Fatal(err)
			}
			fh, err := firehoselocal.Start(firehoselocal.Options{Streams: []string{"events"}})
			if err != nil {
				t.Fatal(err)
			}
			defer fh.Close()
			var logs bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&logs, nil))
			cache, err := lake.NewSuppressionCache(ctx, st, lake.SuppressionCacheConfig{Logger: logger})
			if err != nil {
				t.Fatal(err)
			}
			wrapped := lake.NewSuppressingFirehose(fh.Client(relay.ClientOptions), cache, logger)
			h, err := relay.New(wrapped, relay.Config{DeliveryStreamName: "events", Logger: logger})
			if err != nil {
				t.Fatal(err)
			}
			resp, err := h.Invoke(ctx, payload)
			if err != nil || string(resp) != `{"batchItemFailures":null}` && string(resp) != `{"batchItemFailures":[]}` {
				t.Fatalf("invoke: %s %v", resp, err)
			}
			if err := fh.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, l := range fh.MemorySink().Lines() {
				var e struct{ UserID, AnonymousID, EventType string }
				var m map[string]any
				if err := json.Unmarshal(l, &m); err != nil {
					t.Fatal(err)
				}
				e.UserID, _ = m["user_id"].(string)
				e.AnonymousID, _ = m["anonymous_id"].(string)
				e.EventType, _ = m["event_type"].(string)
				got = append(got, e.UserID+"/"+e.AnonymousID+"/"+e.EventType)
			}
			if strings.Join(got, " ") != strings.Join(c.want, " ") {
				t.Errorf("delivered %q, want %q", got, c.want)
			}
			if wrapped.Dropped() != c.dropped {
				t.Errorf("dropped %d, want %d", wrapped.Dropped(), c.dropped)
			}
			if c.dropped > 0 && !strings.Contains(logs.String(), fmt.Sprintf(`"%s":%d`, lake.LogFieldSuppressedEvents, c.dropped)) {
				t.Errorf("no count of suppressed events logged:\n%s", logs.String())
			}
			if strings.Contains(logs.String(), `"user_id":`) || strings.Contains(logs.String(), "cookie-7") {
				t.Errorf("the logs name an actor:\n%s", logs.String())
			}
		})
	}
}

// recordingFirehose answers PutRecordBatch itself, failing the records
// whose data contains fail, and records what it was sent.
type recordingFirehose struct {
	fail  string
	calls [][]string
}

func (r *recordingFirehose) PutRecordBatch(_ context.Context, in *firehose.PutRecordBatchInput, _ ...func(*firehose.Options)) (*firehose.PutRecordBatchOutput, error) {
	out := &firehose.PutRecordBatchOutput{FailedPutCount: aws.Int32(0)}
	var call []string
	for _, rec := range in.Records {
		call = append(call, string(rec.Data))
		e := types.PutRecordBatchResponseEntry{RecordId: aws.String("id")}
		if r.fail != "" && bytes.Contains(rec.Data, []byte(r.fail)) {
			e = types.PutRecordBatchResponseEntry{ErrorCode: aws.String("ServiceUnavailableException")}
			*out.FailedPutCount++
		}
		out.RequestResponses = append(out.RequestResponses, e)
	}
	r.calls = append(r.calls, call)
	return out, nil
}

// TestSuppressingFirehoseResponses checks the per-record answers the relay
// relies on: a record left empty is answered as delivered and not sent, a
// failure of a record that was sent keeps its index.
func TestSuppressingFirehoseResponses(t *testing.T) {
	ctx := context.Background()
	st, _ := lake.NewFolderStore(t.TempDir())
	if _, err := lake.AddSuppression(ctx, st, []lake.SuppressionEntry{{Hash: lake.UserHash("gone")}}); err != nil {
		t.Fatal(err)
	}
	cache, err := lake.NewSuppressionCache(ctx, st, lake.SuppressionCacheConfig{})
	if err != nil {
		t.Fatal(err)
	}
	next := &recordingFirehose{fail: `"user_id":"b"`}
	f := lake.NewSuppressingFirehose(next, cache, slog.New(slog.DiscardHandler))
	line := func(user string) string {
		return `{"user_id":"` + user + `","event_at":"2026-11-30T00:00:00.000Z"}` + "\n"
	}
	out, err := f.PutRecordBatch(ctx, &firehose.PutRecordBatchInput{
		DeliveryStreamName: aws.String("s"),
		Records: []types.Record{
			{Data: []byte(line("gone") + line("gone"))},                // 0: emptied
			{Data: []byte(line("a") + line("gone") + line("a2"))},      // 1: one line dropped
			{Data: []byte(line("b"))},                                  // 2: fails at Firehose
			{Data: []byte("not json\n" + line("gone") + "{}\n" + "[")}, // 3: malformed lines pass
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(next.calls) != 1 || len(next.calls[0]) != 3 {
		t.Fatalf("sent %q, want one call of 3 records", next.calls)
	}
	if next.calls[0][0] != line("a")+line("a2") || next.calls[0][2] != "not json\n{}\n[" {
		t.Errorf("sent records %q", next.calls[0])
	}
	if aws.ToInt32(out.FailedPutCount) != 1 || len(out.RequestResponses) != 4 ||
		out.RequestResponses[0].ErrorCode != nil || out.RequestResponses[1].ErrorCode != nil ||
		aws.ToString(out.RequestResponses[2].ErrorCode) != "ServiceUnavailableException" || out.RequestResponses[3].ErrorCode != nil {
		t.Errorf("responses %+v, failed %d", out.RequestResponses, aws.ToInt32(out.FailedPutCount))
	}
	if f.Dropped() != 4 {
		t.Errorf("dropped %d, want 4", f.Dropped())
	}
	// Everything suppressed: no call at all.
	out, err = f.PutRecordBatch(ctx, &firehose.PutRecordBatchInput{Records: []types.Record{{Data: []byte(line("gone"))}}})
	if err != nil || len(next.calls) != 1 || len(out.RequestResponses) != 1 || aws.ToInt32(out.FailedPutCount) != 0 {
		t.Errorf("all suppressed: %+v %v, %d calls", out, err, len(next.calls))
	}
	// Never loaded: nothing is sent, the caller retries.
	broken := &faultyStore{Store: st, failing: true}
	never, _ := lake.NewSuppressionCache(ctx, broken, lake.SuppressionCacheConfig{Logger: slog.New(slog.DiscardHandler)})
	g := lake.NewSuppressingFirehose(next, never, slog.New(slog.DiscardHandler))
	if _, err := g.PutRecordBatch(ctx, &firehose.PutRecordBatchInput{Records: []types.Record{{Data: []byte(line("a"))}}}); !errors.Is(err, lake.ErrSuppressionNotLoaded) || len(next.calls) != 1 {
		t.Errorf("never loaded: %v, %d calls", err, len(next.calls))
	}
}

// BenchmarkSuppressed measures the cost BeforeSend adds to every Put.
func BenchmarkSuppressed(b *testing.B) {
	for _, n := range []int{0, 10_000} {
		var entries []lake.SuppressionEntry
		for i := range n {
			entries = append(entries, lake.SuppressionEntry{Hash: lake.UserHash(fmt.Sprint("forgotten-", i))})
		}
		list, err := lake.NewSuppression(entries)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if list.Suppressed("user-123456", "0192a5f0-cookie") {
					b.Fatal("suppressed")
				}
			}
		})
	}
}
