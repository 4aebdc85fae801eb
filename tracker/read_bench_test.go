package tracker_test

import (
	"context"
	"testing"
	"time"

	"github.com/eventlake/eventlake/tracker"
)

// BenchmarkRecent measures the read path against DynamoDB Local for a user
// with 10,000 events, 1 in 100 of them a login:
//
//	limit=50             Recent(Limit 50): one Query of 51 items
//	limit=50/next-page   the same with a cursor (decode and verify)
//	type=1in100/limit=10 the last 10 logins: the filter pages until found
//	type=1in100/limit=50 the last 50 logins
//
// Besides ns/op and allocs/op it reports items_read/op (DynamoDB's
// ScannedCount: what the call is billed for) and rcu/op (the consumed
// read capacity DynamoDB reports).
func BenchmarkRecent(b *testing.B) {
	f := newReadFixture(b)
	const n = 10_000
	uas := []string{uaChrome, uaIPhone, "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0", ""}
	events := make([]tracker.Event, n)
	for i := range events {
		typ := []string{"page_view", "click", "search"}[i%3]
		attrs := map[string]string{"url": "/docs/getting-started", "referrer": "https://www.example.com/search?q=eventlake"}
		if i%100 == 42 {
			typ = "login"
			attrs = map[string]string{"method": "password"}
		}
		events[i] = tracker.Event{UserID: "heavy", Type: typ, At: readNow.Add(-time.Duration(i) * 7 * time.Second),
			UserAgent: uas[i%len(uas)], IP: "203.0.113.7", Attributes: attrs}
	}
	start := time.Now()
	f.put(b, events)
	b.Logf("seeded %d events in %s", n, time.Since(start).Round(time.Millisecond))
	ctx := context.Background()

	run := func(b *testing.B, opts tracker.RecentOptions, want int) {
		b.ReportAllocs()
		items, calls := 0, 0
		rcu := 0.0
		for b.Loop() {
			p, err := f.tr.Recent(ctx, "heavy", opts)
			if err != nil {
				b.Fatal(err)
			}
			if len(p.Events) != want {
				b.Fatalf("%d events, want %d", len(p.Events), want)
			}
			items += p.ItemsRead
			rcu += p.CapacityUnits
			calls++
		}
		b.ReportMetric(float64(items)/float64(calls), "items_read/op")
		b.ReportMetric(rcu/float64(calls), "rcu/op")
	}
	b.Run("limit=50", func(b *testing.B) {
		run(b, tracker.RecentOptions{Limit: 50}, 50)
	})
	b.Run("limit=50/next-page", func(b *testing.B) {
		first, err := f.tr.Recent(ctx, "heavy", tracker.RecentOptions{Limit: 50})
		if err != nil {
			b.Fatal(err)
		}
		run(b, tracker.RecentOptions{Limit: 50, Cursor: first.Next}, 50)
	})
	b.Run("type=1in100/limit=10", func(b *testing.B) {
		run(b, tracker.RecentOptions{Limit: 10, Types: []string{"login"}}, 10)
	})
	b.Run("type=1in100/limit=50", func(b *testing.B) {
		run(b, tracker.RecentOptions{Limit: 50, Types: []string{"login"}}, 50)
	})
}

// BenchmarkParseUserAgent measures the device parse of one header (the read
// path parses each distinct header of a page once).
func BenchmarkParseUserAgent(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = tracker.ParseUserAgent(uaIPhone)
	}
}
