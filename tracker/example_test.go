package tracker_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/eventlake/eventlake/local/dynamolocal"
	"github.com/eventlake/eventlake/tracker"
)

var (
	exampleOnce   sync.Once
	exampleServer *dynamolocal.Server
	exampleErr    error
	exampleTables int
)

// exampleDynamoDB returns a client of DynamoDB Local (the one the tests
// started, or one started once for the examples; it dies with the test
// process) and a Config naming fresh tables. In production the client comes
// from dynamodb.NewFromConfig and the table names from the CDK stack's
// outputs.
func exampleDynamoDB(ctx context.Context) (*dynamodb.Client, tracker.Config, error) {
	exampleOnce.Do(func() {
		if exampleServer = startedServer.Load(); exampleServer == nil {
			exampleServer, exampleErr = dynamolocal.Start(ctx, dynamolocal.Options{})
		}
	})
	if exampleErr != nil {
		return nil, tracker.Config{}, exampleErr
	}
	db, err := exampleServer.Client(ctx)
	if err != nil {
		return nil, tracker.Config{}, err
	}
	exampleTables++
	cfg := tracker.Config{
		EventsTable:  "example-events-" + strconv.Itoa(exampleTables) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36),
		SummaryTable: "example-summary-" + strconv.Itoa(exampleTables) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36),
	}
	if err := dynamolocal.CreateTable(ctx, db, tracker.EventsTableDef(), cfg.EventsTable); err != nil {
		return nil, tracker.Config{}, err
	}
	return db, cfg, nil
}

// Put writes one event synchronously; an invalid event gets an error that
// names every bad field, and nothing is written.
func ExampleTracker_Put() {
	ctx := context.Background()
	db, cfg, err := exampleDynamoDB(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg.IPPolicy = tracker.IPAnonymize   // store 198.51.100.0, not the user's address
	cfg.Retention = 180 * 24 * time.Hour // DynamoDB's TTL prunes the table; the lake keeps history
	tr, err := tracker.New(db, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}

	err = tr.Put(ctx, tracker.Event{
		UserID:     "42",
		Type:       "login",
		UserAgent:  "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
		IP:         "198.51.100.23",
		Attributes: map[string]string{"method": "password"},
	})
	fmt.Println("login:", err)

	err = tr.Put(ctx, tracker.Event{UserID: "42", Type: "teleport", IP: "localhost"})
	var verr *tracker.ValidationError
	if errors.As(err, &verr) {
		for _, f := range verr.Fields {
			fmt.Printf("%s: %s\n", f.Field, f.Problem)
		}
	}
	fmt.Println(errors.Is(err, tracker.ErrInvalidEvent))
	// Output:
	// login: <nil>
	// event_type: "teleport" is not an allowed type
	// ip_address: "localhost" is not an IPv4 or IPv6 address
	// true
}

// An AsyncWriter keeps DynamoDB off the request path: Put validates and
// enqueues; Close drains the queue on shutdown.
func ExampleAsyncWriter() {
	ctx := context.Background()
	db, cfg, err := exampleDynamoDB(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	tr, err := tracker.New(db, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	w, err := tr.NewAsyncWriter(tracker.AsyncConfig{
		FullPolicy: tracker.DropWhenFull, // never make a request wait for DynamoDB
		OnError: func(e tracker.Event, err error) {
			slog.Error("event not written", "event_id", e.ID, "event_type", e.Type, "error", err)
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	// In a request handler (use the request's context):
	for _, page := range []string{"/", "/pricing", "/signup"} {
		err := w.Put(ctx, tracker.Event{
			UserID:     "42",
			Type:       "page_view",
			IP:         "2001:db8::17",
			Attributes: map[string]string{"url": page, "utm_source": "newsletter"},
		})
		if err != nil {
			slog.Warn("event not tracked", "error", err) // ErrQueueFull, or a *ValidationError
		}
	}

	// On shutdown, give the writer a deadline to drain.
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		fmt.Println(err)
	}
	s := w.Stats()
	fmt.Printf("accepted %d, written %d, failed %d, dropped %d\n", s.Accepted, s.Written, s.Failed, s.Dropped)
	// Output:
	// accepted 3, written 3, failed 0, dropped 0
}

// Code that tracks takes a tracker.Putter; with tracking switched off it
// gets tracker.Discard, which accepts every event and stores nothing.
func ExampleDiscard() {
	var w *tracker.AsyncWriter // nil: no events table in this environment
	var events tracker.Putter = tracker.Discard{}
	if w != nil {
		events = w
	}
	err := events.Put(context.Background(), tracker.Event{UserID: "42", Type: "login"})
	fmt.Println(err)
	// Output: <nil>
}

// Hooks shape what every writer of a tracker stores: default attributes
// under each event's own, a before-send hook that drops internal traffic
// and scrubs an attribute, and a success callback.
func ExampleConfig_hooks() {
	ctx := context.Background()
	db, cfg, err := exampleDynamoDB(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg.DefaultAttributes = map[string]string{"app_version": "2.4.1"}
	cfg.BeforeSend = func(e tracker.Event) (tracker.Event, bool) {
		if strings.HasPrefix(e.IP, "10.") {
			return e, false // internal traffic: not stored, no error
		}
		if _, ok := e.Attributes["email"]; ok {
			a := maps.Clone(e.Attributes) // never edit the caller's map
			delete(a, "email")
			e.Attributes = a
		}
		return e, true
	}
	cfg.OnSuccess = func(e tracker.Event) {
		fmt.Println("stored", e.Type, e.Attributes)
	}
	tr, err := tracker.New(db, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range []tracker.Event{
		{UserID: "42", Type: "signup", IP: "198.51.100.7", Attributes: map[string]string{"email": "a@example.com", "plan": "pro"}},
		{UserID: "ops", Type: "login", IP: "10.1.2.3"},
	} {
		if err := tr.Put(ctx, e); err != nil {
			fmt.Println(err)
		}
	}
	fmt.Printf("%+v\n", tr.Stats())
	// Output:
	// stored signup map[app_version:2.4.1 plan:pro]
	// {Written:1 Filtered:1}
}

// With a spool, events accepted by Put survive a crash of the process:
// the next writer on the same directory writes what the last one left.
func ExampleAsyncWriter_spool() {
	ctx := context.Background()
	db, cfg, err := exampleDynamoDB(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	tr, err := tracker.New(db, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	dir, err := os.MkdirTemp("", "eventspool") // in production: a directory that outlives the process
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	w, err := tr.NewAsyncWriter(tracker.AsyncConfig{SpoolDir: dir})
	if err != nil {
		fmt.Println(err) // also when another writer holds the directory
		return
	}
	for _, page := range []string{"/", "/pricing"} {
		if err := w.Put(ctx, tracker.Event{AnonymousID: "cookie-7", Type: "page_view",
			Attributes: map[string]string{tracker.AttrURL: page}}); err != nil {
			fmt.Println(err)
		}
	}
	if err := w.Close(ctx); err != nil {
		fmt.Println(err)
	}
	s := w.Stats()
	left, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	fmt.Printf("written %d, replayed %d, segment files left %d\n", s.Written, s.Replayed, len(left))
	// Output:
	// written 2, replayed 0, segment files left 0
}
