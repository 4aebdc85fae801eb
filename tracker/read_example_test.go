package tracker_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/eventlake/eventlake/tracker"
)

// ExampleReader_Recent pages through a user's last logins of the past week,
// ten at a time, with a cursor key shared by every process.
func ExampleReader_Recent() {
	var tr *tracker.Tracker // from tracker.New
	reader, err := tracker.NewReader(tr, tracker.ReadConfig{CursorKeys: [][]byte{[]byte("32 random bytes from a secret..")}})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	opts := tracker.RecentOptions{Types: []string{"login"}, Limit: 10, From: time.Now().AddDate(0, 0, -7)}
	for {
		page, err := reader.Recent(ctx, "42", opts)
		if err != nil {
			log.Fatal(err) // *tracker.ArgumentError, *tracker.CursorError or a DynamoDB error
		}
		for _, e := range page.Events {
			fmt.Println(e.At.Format(time.RFC3339), e.IP, e.Device)
		}
		if page.Next == "" {
			break
		}
		opts.Cursor = page.Next // in a web page: the "older events" link
	}
}

// ExampleSummarizer shows last-seen and action counting: Seen on every
// request of a signed-in user (no I/O while last_seen is fresh), Touch for
// actions worth counting.
func ExampleSummarizer() {
	var tr *tracker.Tracker // from tracker.New
	sum, err := tracker.NewSummarizer(tr, tracker.SummaryConfig{Interval: time.Hour})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	_ = sum.Seen(ctx, "42")  // every request
	_ = sum.Touch(ctx, "42") // a login, a profile update, ...
	s, err := tr.Summary(ctx, "42")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(s.LastSeen, s.Actions)
}
