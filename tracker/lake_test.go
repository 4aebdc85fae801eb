package tracker_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/firehose"

	"github.com/eventlake/eventlake/lambdas/streamtofirehose/relay"
	"github.com/eventlake/eventlake/local/firehoselocal"
	"github.com/eventlake/eventlake/tracker"
)

// offlineTracker returns a Tracker for tests that never reach DynamoDB
// (New does no I/O).
func offlineTracker(tb testing.TB, cfg tracker.Config) *tracker.Tracker {
	tb.Helper()
	cfg.EventsTable = "events"
	tr, err := tracker.New(dynamodb.New(dynamodb.Options{Region: "us-east-1"}), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return tr
}

// imageOf converts an item as the tracker stores it to the image a stream
// record carries, as aws-lambda-go decodes it.
func imageOf(tb testing.TB, item map[string]types.AttributeValue) map[string]events.DynamoDBAttributeValue {
	tb.Helper()
	img := make(map[string]events.DynamoDBAttributeValue, len(item))
	for k, av := range item {
		img[k] = attributeOf(tb, av)
	}
	return img
}

func attributeOf(tb testing.TB, av types.AttributeValue) events.DynamoDBAttributeValue {
	switch v := av.(type) {
	case *types.AttributeValueMemberS:
		return events.NewStringAttribute(v.Value)
	case *types.AttributeValueMemberN:
		return events.NewNumberAttribute(v.Value)
	case *types.AttributeValueMemberBOOL:
		return events.NewBooleanAttribute(v.Value)
	case *types.AttributeValueMemberM:
		m := make(map[string]events.DynamoDBAttributeValue, len(v.Value))
		for k, x := range v.Value {
			m[k] = attributeOf(tb, x)
		}
		return events.NewMapAttribute(m)
	}
	tb.Fatalf("the tracker stored an attribute of type %T", av)
	return events.DynamoDBAttributeValue{}
}

// lineAndRelayLine returns AppendLine's line of e (validated by tr) and the
// line the relay writes from the DynamoDB item Put would store.
func lineAndRelayLine(tb testing.TB, tr *tracker.Tracker, e tracker.Event) (ours, relays []byte, err error) {
	n, item, err := tr.ItemForTest(e)
	if err != nil {
		return nil, nil, err
	}
	relays, rerr := relay.AppendLine(nil, imageOf(tb, item))
	if rerr != nil {
		tb.Fatalf("relay refuses the tracker's item: %v", rerr)
	}
	return tracker.AppendLine(nil, n), relays, nil
}

func TestAppendLineIsTheRelaysLine(t *testing.T) {
	at := time.Date(2026, 11, 22, 10, 4, 5, 123_456_789, time.UTC)
	tr := offlineTracker(t, tracker.Config{Now: func() time.Time { return at }, IPPolicy: tracker.IPAnonymize, Retention: time.Hour})
	for _, tc := range []struct {
		name string
		e    tracker.Event
	}{
		{"minimal user", tracker.Event{UserID: "42", Type: "login"}},
		{"minimal visitor", tracker.Event{AnonymousID: "a-1", Type: "page_view", At: at.Add(-time.Hour)}},
		{"every field", tracker.Event{
			UserID: "u-1", AnonymousID: "anon", Type: "page_view", At: at, ID: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
			UserAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
			IP:        "2001:db8::7", Attributes: map[string]string{"url": "https://example.com/a?b=c&d=<e>", "path": "/a", "utm_source": "news", "title": "Ünïcödé “quotes” \u2028"},
		}},
		{"bot", tracker.Event{UserID: "7", Type: "click", UserAgent: "Googlebot/2.1 (+http://www.google.com/bot.html)", IP: "::ffff:192.0.2.9"}},
		{"escapes", tracker.Event{UserID: `"quoted" \ id`, Type: "search", UserAgent: "curl/8.5\xff\x01", Attributes: map[string]string{"q": "line\nbreak\ttab\"\\", "z.k-1_x": ""}}},
		{"many attributes", tracker.Event{UserID: "9", Type: "purchase", Attributes: func() map[string]string {
			m := map[string]string{}
			for i := range tracker.MaxAttributes {
				m["k"+strconv.Itoa(31-i)] = strings.Repeat("v", i)
			}
			return m
		}()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ours, relays, err := lineAndRelayLine(t, tr, tc.e)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(ours, relays) {
				t.Fatalf("lines differ:\ntracker: %s relay:   %s", ours, relays)
			}
		})
	}
}

// FuzzAppendLine holds AppendLine to the relay's line for every event the
// tracker accepts: the lake route and the hot route put the same bytes in
// the lake.
func FuzzAppendLine(f *testing.F) {
	at := time.Date(2026, 11, 22, 10, 4, 5, 0, time.UTC)
	tr := offlineTracker(f, tracker.Config{Now: func() time.Time { return at }})
	f.Add("u-1", "", "login", int64(-60_000), "", "Mozilla/5.0 (X11; Linux x86_64) Firefox/127.0", "198.51.100.7", "url", "https://example.com/", "n", "1")
	f.Add("", "anon\u2029", "page_view", int64(0), "id_1", "Googlebot", "::ffff:10.0.0.1", "utm_source", "", "b", "\x00\x7f")
	f.Add("ユーザー", "fp", "signup", int64(-86_400_000), "order_17", "curl/8\xff", "2001:db8::1", "campaign", "black-friday", "c", "é\"")
	f.Fuzz(func(t *testing.T, user, anon, typ string, offsetMs int64, id, ua, ip, k1, v1, k2, v2 string) {
		e := tracker.Event{UserID: user, AnonymousID: anon, Type: typ, At: at.Add(time.Duration(offsetMs) * time.Millisecond),
			ID: id, UserAgent: ua, IP: ip, Attributes: map[string]string{k1: v1, k2: v2}}
		ours, relays, err := lineAndRelayLine(t, tr, e)
		if err != nil {
			return // refused by validation: no line
		}
		if !bytes.Equal(ours, relays) {
			t.Fatalf("lines differ:\ntracker: %s relay:   %s", ours, relays)
		}
	})
}

func BenchmarkAppendLine(b *testing.B) {
	tr := offlineTracker(b, tracker.Config{})
	n, err := tr.Validate(tracker.Event{
		AnonymousID: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", Type: "page_view",
		UserAgent:  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
		IP:         "203.0.113.7",
		Attributes: map[string]string{"url": "https://shop.example/p/42", "referrer": "https://search.example/?q=shoes"},
	})
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = tracker.AppendLine(buf[:0], n)
	}
	b.SetBytes(int64(len(buf)))
}

func TestRoutesConfig(t *testing.T) {
	fh := firehose.New(firehose.Options{Region: "us-east-1"})
	for name, cfg := range map[string]tracker.Config{
		"unknown type":          {Routes: map[string]tracker.Route{"teleport": tracker.RouteLake}, Firehose: fh, DeliveryStream: "s"},
		"unknown route":         {Routes: map[string]tracker.Route{"click": "cold"}},
		"lake without firehose": {Routes: map[string]tracker.Route{"click": tracker.RouteLake}, DeliveryStream: "s"},
		"lake without stream":   {Routes: map[string]tracker.Route{"click": tracker.RouteLake}, Firehose: fh},
	} {
		cfg.EventsTable = "events"
		if _, err := tracker.New(dynamodb.New(dynamodb.Options{}), cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg.Routes)
		}
	}
	tr := offlineTracker(t, tracker.Config{Routes: map[string]tracker.Route{"click": tracker.RouteLake, "login": tracker.RouteHot}, Firehose: fh, DeliveryStream: "s"})
	for typ, want := range map[string]tracker.Route{"click": tracker.RouteLake, "login": tracker.RouteHot, "page_view": tracker.RouteHot} {
		if got := tr.Route(typ); got != want {
			t.Errorf("Route(%s) = %s, want %s", typ, got, want)
		}
	}
}

// newLakeTracker returns a tracker whose page views, clicks and impressions
// take RouteLake to a local Firehose endpoint, the rest RouteHot to DynamoDB
// Local, the endpoint and a function counting the events table's items.
func newLakeTracker(t *testing.T, faults firehoselocal.Faults) (*tracker.Tracker, *firehoselocal.Server, func() int) {
	t.Helper()
	fh, err := firehoselocal.Start(firehoselocal.Options{Streams: []string{"lake"}, Faults: faults, Seed: 3, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fh.Close() })
	env := newWriteEnv(t)
	tr := newWriteTracker(t, env, nil, tracker.Config{
		Routes:         map[string]tracker.Route{"page_view": tracker.RouteLake, "click": tracker.RouteLake, "impression": tracker.RouteLake},
		Firehose:       fh.Client(tracker.LakeClientOptions),
		DeliveryStream: "lake",
	})
	return tr, fh, func() int { return countEvents(t, env) }
}

// lakeIDs returns the event IDs of the lines the endpoint delivered, after
// a flush, and checks every line against the schema's order.
func lakeIDs(t *testing.T, fh *firehoselocal.Server) map[string]int {
	t.Helper()
	if err := fh.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	for _, l := range fh.MemorySink().Lines() {
		_, rest, ok := bytes.Cut(l, []byte(`"event_id":"`))
		id, _, ok2 := bytes.Cut(rest, []byte(`"`))
		if !ok || !ok2 {
			t.Fatalf("lake line without event_id: %s", l)
		}
		ids[string(id)]++
	}
	return ids
}

func TestLakeRoute(t *testing.T) {
	ctx := testCtx(t, 3*time.Minute)
	tr, fh, count := newLakeTracker(t, firehoselocal.Faults{})
	at := time.Now().Add(-time.Minute)

	// Put: a page view goes to Firehose only, a login to DynamoDB only.
	if err := tr.Put(ctx, tracker.Event{UserID: "u1", Type: "page_view", ID: "pv-1", Attributes: map[string]string{"url": "/"}}); err != nil {
		t.Fatal(err)
	}
	if err := tr.Put(ctx, tracker.Event{UserID: "u1", Type: "login", ID: "li-1", At: at}); err != nil {
		t.Fatal(err)
	}
	if ids := lakeIDs(t, fh); len(ids) != 1 || ids["pv-1"] != 1 {
		t.Errorf("lake after Put: %v, want only pv-1", ids)
	}
	if n := count(); n != 1 {
		t.Errorf("%d items in DynamoDB, want the login only", n)
	}

	// PutBatch: valid events of both routes stored, invalid ones reported
	// at their index, nothing else.
	batch := []tracker.Event{
		{AnonymousID: "a1", Type: "page_view", ID: "pv-2"},
		{AnonymousID: "a1", Type: "teleport"},
		{UserID: "u2", Type: "signup", ID: "su-1"},
		{Type: "click"},
		{AnonymousID: "a1", Type: "click", ID: "cl-1"},
		{UserID: "u1", Type: "login", ID: "li-1", At: at}, // identical retry: fine
	}
	errs := tr.PutBatch(ctx, batch)
	if len(errs) != len(batch) {
		t.Fatalf("PutBatch errors %v", errs)
	}
	for i, err := range errs {
		bad := i == 1 || i == 3
		if bad != (err != nil) || bad && !errors.Is(err, tracker.ErrInvalidEvent) {
			t.Errorf("event %d: %v", i, err)
		}
	}
	ids := lakeIDs(t, fh)
	if len(ids) != 3 || ids["pv-2"] != 1 || ids["cl-1"] != 1 {
		t.Errorf("lake after PutBatch: %v", ids)
	}
	if n := count(); n != 2 {
		t.Errorf("%d items in DynamoDB, want 2", n)
	}
	if errs := tr.PutBatch(ctx, batch[:1]); errs != nil {
		t.Errorf("PutBatch of one good event: %v", errs)
	}

	// A conflicting event under a stored key is a duplicate, not a failure.
	errs = tr.PutBatch(ctx, []tracker.Event{{UserID: "u1", Type: "logout", ID: "li-1", At: at}})
	if len(errs) != 1 || !errors.Is(errs[0], tracker.ErrDuplicateEvent) || errors.Is(errs[0], tracker.ErrNotStored) {
		t.Errorf("conflict: %v, want ErrDuplicateEvent", errs)
	}
}

func TestLakeRouteFaults(t *testing.T) {
	ctx := testCtx(t, 3*time.Minute)
	tr, fh, _ := newLakeTracker(t, firehoselocal.Faults{RecordFailureRate: 0.5, ThrottleRate: 0.3, ServerErrorRate: 0.1})
	var batch []tracker.Event
	for i := range 300 {
		batch = append(batch, tracker.Event{AnonymousID: "a" + strconv.Itoa(i%7), Type: "impression", ID: fmt.Sprint("im-", i)})
	}
	if errs := tr.PutBatch(ctx, batch); errs != nil {
		t.Fatalf("PutBatch with clearing faults: %v", errors.Join(errs...))
	}
	if ids := lakeIDs(t, fh); len(ids) != 300 {
		t.Fatalf("%d of 300 events in the lake", len(ids))
	}

	// Firehose down for longer than the budget: the lake events fail with
	// ErrNotStored, the hot ones are stored.
	if err := fh.SetFaults(firehoselocal.Faults{ThrottleRate: 1}); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	errs := tr.PutBatch(short, []tracker.Event{{UserID: "u", Type: "click"}, {UserID: "u", Type: "login"}})
	if len(errs) != 2 || !errors.Is(errs[0], tracker.ErrNotStored) || errs[1] != nil {
		t.Fatalf("PutBatch with Firehose down: %v", errs)
	}
	if errors.Is(errs[0], tracker.ErrInvalidEvent) {
		t.Error("a storage failure matches ErrInvalidEvent")
	}
}

func TestAsyncWriterRoutes(t *testing.T) {
	ctx := testCtx(t, 3*time.Minute)
	tr, fh, count := newLakeTracker(t, firehoselocal.Faults{RecordFailureRate: 0.2})
	var (
		mu     sync.Mutex
		failed []error
	)
	w, err := tr.NewAsyncWriter(tracker.AsyncConfig{OnError: func(_ tracker.Event, err error) {
		mu.Lock()
		failed = append(failed, err)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	types := []string{"page_view", "login", "click", "impression", "signup", "page_view"}
	const n = 1200
	wantLake := 0
	for i := range n {
		typ := types[i%len(types)]
		if tr.Route(typ) == tracker.RouteLake {
			wantLake++
		}
		if err := w.Put(ctx, tracker.Event{UserID: "u" + strconv.Itoa(i%13), Type: typ}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(lakeIDs(t, fh)); got != wantLake {
		t.Errorf("%d events in the lake after Flush, want %d", got, wantLake)
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	st := w.Stats()
	if st.Accepted != n || st.Written != n || st.Lake != int64(wantLake) || st.Failed != 0 || len(failed) != 0 {
		t.Errorf("stats %+v, failures %v", st, failed)
	}
	if got := count(); got != n-wantLake {
		t.Errorf("%d items in DynamoDB, want %d", got, n-wantLake)
	}
}

// TestLakeGroupCommit sends single events from many goroutines: they share
// Firehose records (far fewer records than events), every one is stored
// once, a call that gives up while queued is not sent, and a caller giving
// up does not fail the events of the others in its delivery.
func TestLakeGroupCommit(t *testing.T) {
	ctx := testCtx(t, 3*time.Minute)
	tr, fh, _ := newLakeTracker(t, firehoselocal.Faults{})
	const goroutines, each = 32, 25
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*each)
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				if err := tr.Put(ctx, tracker.Event{AnonymousID: "a", Type: "click", ID: fmt.Sprintf("gc-%d-%d", g, i)}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	ids := lakeIDs(t, fh)
	if len(ids) != goroutines*each {
		t.Fatalf("%d events in the lake, want %d", len(ids), goroutines*each)
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("%s delivered %d times", id, n)
		}
	}
	st := fh.Stats()
	if st.RecordsReceived >= goroutines*each/2 {
		t.Errorf("%d Firehose records for %d single-event calls from %d goroutines: calls did not share records", st.RecordsReceived, goroutines*each, goroutines)
	}
	t.Logf("%d events in %d records and %d calls", goroutines*each, st.RecordsReceived, st.Calls)

	// A slow delivery in flight: a queued call that gives up is not sent,
	// and a leader that gives up does not fail its followers.
	if err := fh.SetFaults(firehoselocal.Faults{Delay: 300 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	inFlight := make(chan error, 1)
	go func() { inFlight <- tr.Put(ctx, tracker.Event{AnonymousID: "a", Type: "click", ID: "slow-1"}) }()
	time.Sleep(50 * time.Millisecond)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	err := tr.Put(short, tracker.Event{AnonymousID: "a", Type: "click", ID: "gave-up"})
	cancel()
	if !errors.Is(err, tracker.ErrNotStored) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("queued call that gave up: %v", err)
	}
	leaderCtx, cancelLeader := context.WithCancel(ctx)
	followers := make(chan error, 3)
	go func() { followers <- tr.Put(leaderCtx, tracker.Event{AnonymousID: "a", Type: "click", ID: "leader"}) }()
	time.Sleep(20 * time.Millisecond)
	for i := range 2 {
		go func() {
			followers <- tr.Put(ctx, tracker.Event{AnonymousID: "a", Type: "click", ID: fmt.Sprint("follower-", i)})
		}()
	}
	time.Sleep(20 * time.Millisecond)
	cancelLeader()
	if err := <-inFlight; err != nil {
		t.Fatal(err)
	}
	var failed int
	for range 3 {
		if err := <-followers; err != nil {
			failed++
		}
	}
	ids = lakeIDs(t, fh)
	if ids["gave-up"] != 0 || ids["slow-1"] != 1 || ids["follower-0"] != 1 || ids["follower-1"] != 1 {
		t.Errorf("lake: gave-up %d, slow-1 %d, followers %d %d", ids["gave-up"], ids["slow-1"], ids["follower-0"], ids["follower-1"])
	}
	if failed > 1 {
		t.Errorf("%d calls failed: only the leader that gave up may", failed)
	}
}
