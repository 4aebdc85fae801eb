package tracker_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/eventlake/eventlake/local/dynamolocal"
	"github.com/eventlake/eventlake/tracker"
)

// readNow is the fixed clock of the read tests: events lie before it.
var readNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// readFixture is a tracker over a test's own tables in DynamoDB Local.
type readFixture struct {
	env *dynamolocal.Env
	db  *readSpy
	tr  *tracker.Tracker
}

func newReadFixture(tb testing.TB) *readFixture {
	tb.Helper()
	env := dynamolocal.NewEnv(tb)
	f := &readFixture{env: env, db: &readSpy{DynamoDB: env.Client}}
	var err error
	f.tr, err = tracker.New(f.db, tracker.Config{
		EventsTable:  env.EventsTable,
		SummaryTable: env.SummaryTable,
		Now:          func() time.Time { return readNow },
	})
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

// put writes events with BatchWriteItem from 4 goroutines (DynamoDB Local
// takes a few thousand items a second this way, a few hundred with PutItem)
// and returns them as stored (IDs generated).
func (f *readFixture) put(tb testing.TB, events []tracker.Event) []tracker.Event {
	tb.Helper()
	out := make([]tracker.Event, len(events))
	var batches [][]types.WriteRequest
	for i, e := range events {
		n, item, err := f.tr.ItemForTest(e)
		if err != nil {
			tb.Fatalf("event %d: %v", i, err)
		}
		out[i] = n
		if i%25 == 0 {
			batches = append(batches, nil)
		}
		batches[len(batches)-1] = append(batches[len(batches)-1], types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		errs = make(chan error, 4)
	)
	for range 4 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(batches) {
					return
				}
				reqs := map[string][]types.WriteRequest{f.env.EventsTable: batches[i]}
				for len(reqs) > 0 {
					res, err := f.env.Client.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: reqs})
					if err != nil {
						errs <- fmt.Errorf("seed batch %d: %w", i, err)
						return
					}
					reqs = res.UnprocessedItems
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
	return out
}

// readSpy wraps the real client: it records Query calls and can fail them.
type readSpy struct {
	tracker.DynamoDB
	mu      sync.Mutex
	queries []*dynamodb.QueryInput
	outputs []*dynamodb.QueryOutput
	fail    error
}

func (s *readSpy) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	s.mu.Lock()
	fail := s.fail
	s.mu.Unlock()
	if fail != nil {
		return nil, fail
	}
	out, err := s.DynamoDB.Query(ctx, in, opts...)
	s.mu.Lock()
	s.queries = append(s.queries, in)
	s.outputs = append(s.outputs, out)
	s.mu.Unlock()
	return out, err
}

func (s *readSpy) reset() {
	s.mu.Lock()
	s.queries, s.outputs = nil, nil
	s.mu.Unlock()
}

// key identifies an event in assertions.
func key(e tracker.Event) string { return e.At.Format(tracker.TimeLayout) + "#" + e.ID }

func keys(events []tracker.StoredEvent) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = key(e.Event)
	}
	return out
}

// newestFirst returns the keys of events, newest first.
func newestFirst(events []tracker.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = key(e)
	}
	slices.Sort(out)
	slices.Reverse(out)
	return out
}

// readAll pages through a query and returns every event's key in order.
func readAll(t *testing.T, r interface {
	Recent(context.Context, string, tracker.RecentOptions) (tracker.Page, error)
}, user string, opts tracker.RecentOptions) (all []string, pages []tracker.Page) {
	t.Helper()
	for i := 0; ; i++ {
		if i > 10_000 {
			t.Fatal("paging does not end")
		}
		p, err := r.Recent(context.Background(), user, opts)
		if err != nil {
			t.Fatalf("page %d: %v", i, err)
		}
		pages = append(pages, p)
		all = append(all, keys(p.Events)...)
		if p.Next == "" {
			return all, pages
		}
		opts.Cursor = p.Next
	}
}

const (
	uaChrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
	uaIPhone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)

func TestRecentOrderAndFields(t *testing.T) {
	f := newReadFixture(t)
	base := readNow.Add(-time.Hour)
	stored := f.put(t, []tracker.Event{
		{UserID: "u1", Type: "login", At: base, UserAgent: uaChrome, IP: "192.0.2.10",
			Attributes: map[string]string{"method": "password"}},
		{UserID: "u1", Type: "page_view", At: base.Add(time.Second), UserAgent: uaIPhone, IP: "2001:db8::1",
			Attributes: map[string]string{"url": "/billing", "referrer": "https://example.com/"}},
		// Two events in the same millisecond: both kept, ordered by ID.
		{UserID: "u1", Type: "click", At: base.Add(2 * time.Second), ID: "a-first"},
		{UserID: "u1", Type: "click", At: base.Add(2 * time.Second), ID: "b-second"},
		{UserID: "u1", Type: "logout", At: base.Add(3 * time.Second)},
		{UserID: "u2", Type: "login", At: base.Add(4 * time.Second)},
	})
	p, err := f.tr.Recent(context.Background(), "u1", tracker.RecentOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := newestFirst(stored[:5])
	if got := keys(p.Events); !slices.Equal(got, want) {
		t.Fatalf("order:\n got %q\nwant %q", got, want)
	}
	if p.Next != "" || p.Partial {
		t.Errorf("Next = %q, Partial = %v; want the only page", p.Next, p.Partial)
	}
	byKey := map[string]tracker.StoredEvent{}
	for _, e := range p.Events {
		byKey[key(e.Event)] = e
	}
	for _, w := range stored[:5] {
		g := byKey[key(w)]
		if g.UserID != w.UserID || g.Type != w.Type || !g.At.Equal(w.At) || g.ID != w.ID ||
			g.UserAgent != w.UserAgent || g.IP != w.IP || !maps.Equal(g.Attributes, w.Attributes) {
			t.Errorf("event %s:\n got %+v\nwant %+v", key(w), g.Event, w)
		}
		if g.Device != tracker.ParseUserAgent(w.UserAgent) {
			t.Errorf("event %s: device %+v, want %+v", key(w), g.Device, tracker.ParseUserAgent(w.UserAgent))
		}
	}
	if d := byKey[key(stored[1])].Device; d.Browser != "Safari" || !d.Mobile || d.OS != "iPhone OS" {
		t.Errorf("iPhone device = %+v", d)
	}
}

func TestRecentReadsOnlyWhatAPageNeeds(t *testing.T) {
	f := newReadFixture(t)
	f.put(t, []tracker.Event{{UserID: "u1", Type: "login", At: readNow.Add(-time.Minute), UserAgent: uaChrome,
		IP: "192.0.2.1", Attributes: map[string]string{"k": "v"}}})
	f.db.reset()
	p, err := f.tr.Recent(context.Background(), "u1", tracker.RecentOptions{Limit: 5})
	if err != nil || len(p.Events) != 1 {
		t.Fatalf("Recent = %d events, %v", len(p.Events), err)
	}
	if len(f.db.queries) != 1 {
		t.Fatalf("%d queries, want 1", len(f.db.queries))
	}
	in := f.db.queries[0]
	if in.ProjectionExpression == nil {
		t.Fatal("no ProjectionExpression: whole items are read")
	}
	var projected []string
	for _, placeholder := range strings.Split(*in.ProjectionExpression, ", ") {
		projected = append(projected, in.ExpressionAttributeNames[placeholder])
	}
	slices.Sort(projected)
	// Everything but the keys' duplicates (actor, event_at, event_id) and
	// expires_at.
	want := []string{tracker.FieldAttributes, tracker.AttrEventKey, tracker.FieldEventType, tracker.FieldIPAddress, tracker.FieldUserAgent,
		tracker.FieldUserID, tracker.FieldAnonymousID, tracker.FieldDeviceType, tracker.FieldBrowser, tracker.FieldOS, tracker.FieldIsBot}
	slices.Sort(want)
	if !slices.Equal(projected, want) {
		t.Errorf("projection %q = %q, want %q", *in.ProjectionExpression, projected, want)
	}
	for name := range f.db.outputs[0].Items[0] {
		if !slices.Contains(want, name) {
			t.Errorf("item read with attribute %q", name)
		}
	}
	if in.ScanIndexForward == nil || *in.ScanIndexForward {
		t.Error("query is not newest first")
	}
	if p.ItemsRead != 1 || p.CapacityUnits <= 0 {
		t.Errorf("ItemsRead = %d, CapacityUnits = %v", p.ItemsRead, p.CapacityUnits)
	}
}

func TestRecentPagesThrough1000Events(t *testing.T) {
	f := newReadFixture(t)
	events := make([]tracker.Event, 1000)
	for i := range events {
		// Several events share a millisecond: ordering then rests on the ID.
		events[i] = tracker.Event{UserID: "pager", Type: "page_view", At: readNow.Add(-time.Duration(i/3) * time.Millisecond * 7)}
	}
	stored := f.put(t, events)
	for _, limit := range []int{37, 100, 1000} {
		t.Run(fmt.Sprint("limit=", limit), func(t *testing.T) {
			all, pages := readAll(t, f.tr, "pager", tracker.RecentOptions{Limit: limit})
			if want := newestFirst(stored); !slices.Equal(all, want) {
				t.Fatalf("read %d events (%d unique), want %d in order", len(all), len(slices.Compact(slices.Sorted(slices.Values(all)))), len(want))
			}
			if wantPages := (1000 + limit - 1) / limit; len(pages) != wantPages {
				t.Errorf("%d pages, want %d (no empty last page)", len(pages), wantPages)
			}
			for i, p := range pages {
				if i < len(pages)-1 && len(p.Events) != limit {
					t.Errorf("page %d holds %d events, want %d", i, len(p.Events), limit)
				}
				if p.ItemsRead > limit+1 {
					t.Errorf("page %d read %d items for limit %d", i, p.ItemsRead, limit)
				}
			}
		})
	}
}

func TestRecentRareTypeReturnsExactlyLimit(t *testing.T) {
	f := newReadFixture(t)
	events := make([]tracker.Event, 3000)
	for i := range events {
		typ := []string{"page_view", "click", "search"}[i%3]
		if i%100 == 50 {
			typ = "login" // 1 in 100: 30 logins
		}
		if i%1000 == 7 {
			typ = "logout" // 3 logouts
		}
		events[i] = tracker.Event{UserID: "rare", Type: typ, At: readNow.Add(-time.Duration(i) * time.Second)}
	}
	stored := f.put(t, events)
	of := func(types ...string) []string {
		var out []tracker.Event
		for _, e := range stored {
			if slices.Contains(types, e.Type) {
				out = append(out, e)
			}
		}
		return newestFirst(out)
	}
	logins := of("login")

	t.Run("last 10 logins", func(t *testing.T) {
		p, err := f.tr.Recent(context.Background(), "rare", tracker.RecentOptions{Types: []string{"login"}, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if got := keys(p.Events); !slices.Equal(got, logins[:10]) {
			t.Fatalf("got %d events %q\nwant the 10 newest logins %q", len(got), got, logins[:10])
		}
		if p.Next == "" || p.Partial {
			t.Errorf("Next = %q, Partial = %v", p.Next, p.Partial)
		}
		// 10 logins lie within the newest ~1,000 items; the estimate reads
		// some more, never the whole partition.
		if p.ItemsRead < 950 || p.ItemsRead > 1500 {
			t.Errorf("read %d items for 10 logins at 1 in 100", p.ItemsRead)
		}
		t.Logf("10 logins: %d items read, %.1f capacity units, %d queries", p.ItemsRead, p.CapacityUnits, len(f.db.queries))
	})
	t.Run("all pages", func(t *testing.T) {
		all, pages := readAll(t, f.tr, "rare", tracker.RecentOptions{Types: []string{"login"}, Limit: 10})
		if !slices.Equal(all, logins) {
			t.Fatalf("paged %d logins, want %d in order", len(all), len(logins))
		}
		for i, p := range pages[:3] {
			if len(p.Events) != 10 {
				t.Errorf("page %d holds %d logins, want 10", i, len(p.Events))
			}
		}
	})
	t.Run("two types", func(t *testing.T) {
		all, _ := readAll(t, f.tr, "rare", tracker.RecentOptions{Types: []string{"logout", "login", "login"}, Limit: 7})
		if want := of("login", "logout"); !slices.Equal(all, want) {
			t.Fatalf("paged %d events, want %d", len(all), len(want))
		}
	})
	t.Run("cap on items read", func(t *testing.T) {
		all, pages := readAll(t, f.tr, "rare", tracker.RecentOptions{Types: []string{"login"}, Limit: 10, MaxItemsRead: 400})
		if !slices.Equal(all, logins) {
			t.Fatalf("paged %d logins through partial pages, want %d in order", len(all), len(logins))
		}
		partial := 0
		for i, p := range pages {
			if p.ItemsRead > 400 {
				t.Errorf("page %d read %d items, cap 400", i, p.ItemsRead)
			}
			if p.Partial {
				partial++
				if len(p.Events) >= 10 || p.Next == "" {
					t.Errorf("partial page %d: %d events, Next %q", i, len(p.Events), p.Next)
				}
			}
		}
		if partial == 0 {
			t.Error("no page reports the cap")
		}
	})
	t.Run("type without events", func(t *testing.T) {
		p, err := f.tr.Recent(context.Background(), "rare", tracker.RecentOptions{Types: []string{"purchase"}})
		if err != nil || len(p.Events) != 0 || p.Next != "" || p.Partial || p.ItemsRead != 3000 {
			t.Fatalf("Recent = %d events, Next %q, Partial %v, read %d, %v", len(p.Events), p.Next, p.Partial, p.ItemsRead, err)
		}
	})
}

func TestRecentTimeRangeAcrossMidnight(t *testing.T) {
	f := newReadFixture(t)
	midnight := time.Date(2026, 2, 28, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return midnight.Add(d) }
	times := []time.Time{
		at(-24 * time.Hour), // 2026-02-27T00:00:00.000Z
		at(-time.Hour),
		at(-time.Millisecond), // 23:59:59.999 on the 27th
		at(0),                 // 00:00:00.000 on the 28th
		at(0),                 // a second event in that millisecond
		at(time.Millisecond),
		at(12 * time.Hour),
		at(24*time.Hour - time.Millisecond), // last millisecond of the 28th
		at(24 * time.Hour),                  // 2026-03-01T00:00:00.000Z
		at(24*time.Hour + time.Minute),
	}
	events := make([]tracker.Event, len(times))
	for i, tm := range times {
		events[i] = tracker.Event{UserID: "night", Type: "page_view", At: tm}
	}
	stored := f.put(t, events)
	between := func(from, to time.Time) []string {
		var out []tracker.Event
		for _, e := range stored {
			if (from.IsZero() || !e.At.Before(from)) && (to.IsZero() || e.At.Before(to)) {
				out = append(out, e)
			}
		}
		return newestFirst(out)
	}
	newYork := time.FixedZone("EST", -5*3600)
	cases := []struct {
		name     string
		from, to time.Time
		wantLen  int
	}{
		{"the day of the 28th", midnight, midnight.AddDate(0, 0, 1), 5},
		{"across midnight", at(-time.Hour), at(time.Hour), 5},
		{"one millisecond each side", at(-time.Millisecond), at(2 * time.Millisecond), 4},
		{"from is inclusive", at(0), at(time.Millisecond), 2},
		{"to is exclusive", at(-time.Hour), at(0), 2},
		{"from only", at(24 * time.Hour), time.Time{}, 2},
		{"to only", time.Time{}, at(0), 3},
		{"sub-millisecond from rounds up", at(-time.Millisecond + time.Microsecond), at(time.Hour), 3},
		{"sub-millisecond to keeps its millisecond", at(-time.Hour), at(time.Microsecond), 4},
		{"other time zone", midnight.In(newYork), midnight.AddDate(0, 0, 1).In(newYork), 5},
		{"empty range", at(time.Hour), at(2 * time.Hour), 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := between(tc.from, tc.to)
			if len(want) != tc.wantLen {
				t.Fatalf("test data: %d events in range, want %d", len(want), tc.wantLen)
			}
			// Limit 1 pages across midnight with the cursor.
			for _, limit := range []int{1, 50} {
				got, _ := readAll(t, f.tr, "night", tracker.RecentOptions{From: tc.from, To: tc.to, Limit: limit})
				if !slices.Equal(got, want) {
					t.Errorf("limit %d:\n got %q\nwant %q", limit, got, want)
				}
			}
		})
	}
	t.Run("with a type filter", func(t *testing.T) {
		got, _ := readAll(t, f.tr, "night", tracker.RecentOptions{From: midnight, To: midnight.AddDate(0, 0, 1), Types: []string{"page_view"}, Limit: 2})
		if want := between(midnight, midnight.AddDate(0, 0, 1)); !slices.Equal(got, want) {
			t.Errorf("got %q, want %q", got, want)
		}
	})
}

func TestRecentEmptyUser(t *testing.T) {
	f := newReadFixture(t)
	p, err := f.tr.Recent(context.Background(), "nobody", tracker.RecentOptions{Types: []string{"login"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Events) != 0 || p.Next != "" || p.Partial {
		t.Errorf("page = %+v, want empty", p)
	}
}

func TestRecentArgumentErrors(t *testing.T) {
	f := newReadFixture(t)
	now := readNow
	cases := []struct {
		name, user string
		opts       tracker.RecentOptions
		field      string
	}{
		{"empty user", "", tracker.RecentOptions{}, tracker.FieldUserID},
		{"long user", strings.Repeat("x", tracker.MaxUserIDBytes+1), tracker.RecentOptions{}, tracker.FieldUserID},
		{"user with space", " 42", tracker.RecentOptions{}, tracker.FieldUserID},
		{"user not UTF-8", "\xff", tracker.RecentOptions{}, tracker.FieldUserID},
		{"negative limit", "u", tracker.RecentOptions{Limit: -1}, "limit"},
		{"limit too large", "u", tracker.RecentOptions{Limit: tracker.MaxRecentLimit + 1}, "limit"},
		{"bad type", "u", tracker.RecentOptions{Types: []string{"<script>"}}, "types"},
		{"empty type", "u", tracker.RecentOptions{Types: []string{""}}, "types"},
		{"to before from", "u", tracker.RecentOptions{From: now, To: now.Add(-time.Second)}, "to"},
		{"to equal to from", "u", tracker.RecentOptions{From: now, To: now}, "to"},
		{"year 10000", "u", tracker.RecentOptions{To: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, "to"},
		{"negative cap", "u", tracker.RecentOptions{MaxItemsRead: -5}, "max_items_read"},
	}
	f.db.reset()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.tr.Recent(context.Background(), tc.user, tc.opts)
			var ae *tracker.ArgumentError
			if !errors.Is(err, tracker.ErrInvalidArgument) || !errors.As(err, &ae) || ae.Field != tc.field {
				t.Fatalf("err = %v, want an ArgumentError naming %q", err, tc.field)
			}
		})
	}
	if len(f.db.queries) != 0 {
		t.Errorf("%d queries sent for invalid arguments", len(f.db.queries))
	}
}

func TestRecentCursorErrors(t *testing.T) {
	f := newReadFixture(t)
	events := make([]tracker.Event, 6)
	for i := range events {
		events[i] = tracker.Event{UserID: "cur", Type: []string{"login", "click"}[i%2], At: readNow.Add(-time.Duration(i) * time.Hour)}
	}
	f.put(t, events)
	f.put(t, []tracker.Event{{UserID: "other", Type: "login", At: readNow.Add(-time.Hour)}})
	ctx := context.Background()
	keyA, keyB := []byte("0123456789abcdef-key-A"), []byte("0123456789abcdef-key-B")
	readerA, err := tracker.NewReader(f.tr, tracker.ReadConfig{CursorKeys: [][]byte{keyA}})
	if err != nil {
		t.Fatal(err)
	}
	first, err := readerA.Recent(ctx, "cur", tracker.RecentOptions{Limit: 2})
	if err != nil || first.Next == "" {
		t.Fatalf("first page: %v, Next %q", err, first.Next)
	}
	// The process-key cursor of Tracker.Recent.
	procPage, err := f.tr.Recent(ctx, "cur", tracker.RecentOptions{Limit: 2})
	if err != nil || procPage.Next == "" {
		t.Fatalf("first page: %v", err)
	}

	t.Run("valid", func(t *testing.T) {
		p, err := readerA.Recent(ctx, "cur", tracker.RecentOptions{Limit: 2, Cursor: first.Next})
		if err != nil || len(p.Events) != 2 || !p.Events[0].At.Before(first.Events[1].At) {
			t.Fatalf("second page: %v", err)
		}
	})
	t.Run("rotated key", func(t *testing.T) {
		rotated, err := tracker.NewReader(f.tr, tracker.ReadConfig{CursorKeys: [][]byte{keyB, keyA}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rotated.Recent(ctx, "cur", tracker.RecentOptions{Limit: 2, Cursor: first.Next}); err != nil {
			t.Fatalf("cursor signed with the old key: %v", err)
		}
	})

	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	readerB, err := tracker.NewReader(f.tr, tracker.ReadConfig{CursorKeys: [][]byte{keyB}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		r      *tracker.Reader
		user   string
		opts   tracker.RecentOptions
		reason string
	}{
		{"tampered position", readerA, "cur", tracker.RecentOptions{Limit: 2, Cursor: flip(first.Next, 14)}, "signature"},
		{"tampered tag", readerA, "cur", tracker.RecentOptions{Limit: 2, Cursor: flip(first.Next, len(first.Next)-3)}, "signature"},
		{"truncated", readerA, "cur", tracker.RecentOptions{Limit: 2, Cursor: first.Next[:len(first.Next)-4]}, ""},
		{"not base64", readerA, "cur", tracker.RecentOptions{Limit: 2, Cursor: "!!!" + first.Next}, "base64"},
		{"garbage", readerA, "cur", tracker.RecentOptions{Limit: 2, Cursor: "aGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVsbG8gd29ybGQ"}, ""},
		{"too long", readerA, "cur", tracker.RecentOptions{Limit: 2, Cursor: strings.Repeat("A", 5000)}, "longer"},
		{"another key", readerB, "cur", tracker.RecentOptions{Limit: 2, Cursor: first.Next}, "signature"},
		{"another process", readerA, "cur", tracker.RecentOptions{Limit: 2, Cursor: procPage.Next}, "signature"},
		{"another user", readerA, "other", tracker.RecentOptions{Limit: 2, Cursor: first.Next}, "another query"},
		{"another type filter", readerA, "cur", tracker.RecentOptions{Limit: 2, Cursor: first.Next, Types: []string{"login"}}, "another query"},
		{"another range", readerA, "cur", tracker.RecentOptions{Limit: 2, Cursor: first.Next, From: readNow.Add(-48 * time.Hour)}, "another query"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.r.Recent(ctx, tc.user, tc.opts)
			var ce *tracker.CursorError
			if !errors.Is(err, tracker.ErrInvalidCursor) || !errors.As(err, &ce) {
				t.Fatalf("err = %v, want ErrInvalidCursor", err)
			}
			if !strings.Contains(ce.Reason, tc.reason) {
				t.Errorf("reason %q does not mention %q", ce.Reason, tc.reason)
			}
			if errors.Is(err, tracker.ErrInvalidArgument) {
				t.Error("a cursor error also matches ErrInvalidArgument")
			}
		})
	}
	t.Run("limit may change", func(t *testing.T) {
		if _, err := readerA.Recent(ctx, "cur", tracker.RecentOptions{Limit: 3, Cursor: first.Next}); err != nil {
			t.Fatalf("a cursor with another page size: %v", err)
		}
	})
	t.Run("short key", func(t *testing.T) {
		if _, err := tracker.NewReader(f.tr, tracker.ReadConfig{CursorKeys: [][]byte{[]byte("short")}}); err == nil {
			t.Fatal("NewReader accepted a 5-byte key")
		}
	})
}

func TestRecentDynamoDBError(t *testing.T) {
	f := newReadFixture(t)
	boom := errors.New("injected: connection reset")
	f.db.fail = boom
	_, err := f.tr.Recent(context.Background(), "u1", tracker.RecentOptions{})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), `"u1"`) {
		t.Fatalf("err = %v, want the DynamoDB error wrapped with the user", err)
	}
	if errors.Is(err, tracker.ErrInvalidArgument) || errors.Is(err, tracker.ErrInvalidCursor) {
		t.Error("a DynamoDB error matches an argument sentinel")
	}
}

func TestEventTypes(t *testing.T) {
	f := newReadFixture(t)
	got := f.tr.EventTypes()
	want := slices.Sorted(slices.Values(tracker.DefaultEventTypes()))
	if !slices.Equal(got, want) {
		t.Errorf("EventTypes = %q, want %q", got, want)
	}
}
