// Command demo shows the tracker's write path on one machine: it starts
// DynamoDB Local (or uses EVENTLAKE_DYNAMODB_ENDPOINT), creates the tables,
// writes a few hundred realistic fake events (logins, page views, clicks,
// ... over the last 7 days) through the AsyncWriter, and prints one user's
// recent activity, newest first, read back with a DynamoDB Query.
//
// Usage:
//
//	go run ./scripts/demo [-events 300] [-users 25] [-days 7] [-seed 1]
//
// Ctrl-C stops it; DynamoDB Local is stopped on every exit.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/eventlake/eventlake/local/dynamolocal"
	"github.com/eventlake/eventlake/local/fakedata"
	"github.com/eventlake/eventlake/tracker"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg := config{}
	flag.IntVar(&cfg.events, "events", 300, "number of fake events to write")
	flag.IntVar(&cfg.users, "users", 25, "number of fake users")
	flag.IntVar(&cfg.days, "days", 7, "days of history, ending now")
	flag.Uint64Var(&cfg.seed, "seed", 1, "fake data seed")
	flag.IntVar(&cfg.limit, "limit", 20, "events of the user to show")
	flag.Parse()
	if err := run(ctx, os.Stdout, log, cfg); err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "interrupted")
		} else {
			log.Error("demo failed", "error", err.Error())
		}
		stop()
		os.Exit(1)
	}
}

type config struct {
	events, users, days, limit int
	seed                       uint64
}

func run(ctx context.Context, out io.Writer, log *slog.Logger, cfg config) error {
	start := time.Now()
	srv, err := dynamolocal.Start(ctx, dynamolocal.Options{})
	if err != nil {
		return fmt.Errorf("start DynamoDB Local: %w", err)
	}
	defer srv.Stop()
	where := "DynamoDB Local at " + srv.Endpoint
	if !srv.Local() {
		where = "the DynamoDB endpoint from " + dynamolocal.EnvEndpoint + " (" + cmpOr(srv.Endpoint, "AWS") + ")"
	}
	fmt.Fprintf(out, "Using %s (ready in %v).\n", where, time.Since(start).Round(time.Millisecond))

	db, err := srv.Client(ctx)
	if err != nil {
		return err
	}
	if err := dynamolocal.CreateTables(ctx, db, dynamolocal.EventsTableName, dynamolocal.SummaryTableName); err != nil {
		return err
	}
	tr, err := tracker.New(db, tracker.Config{EventsTable: dynamolocal.EventsTableName, SummaryTable: dynamolocal.SummaryTableName})
	if err != nil {
		return err
	}

	events, err := fakedata.Generate(fakedata.Config{Users: cfg.users, Events: cfg.events, Days: cfg.days, Seed: cfg.seed})
	if err != nil {
		return err
	}
	if len(events) == 0 {
		return errors.New("no events to write")
	}
	w, err := tr.NewAsyncWriter(tracker.AsyncConfig{Logger: log, FullPolicy: tracker.WaitWhenFull}) // a loader: wait, never drop
	if err != nil {
		return err
	}
	start = time.Now()
	for _, e := range events {
		if err := w.Put(ctx, e); err != nil {
			_ = w.Close(ctx)
			return fmt.Errorf("put event: %w", err)
		}
	}
	if err := w.Close(ctx); err != nil {
		return err
	}
	s := w.Stats()
	fmt.Fprintf(out, "Wrote %d events of %d users over the last %d days to table %s in %v (accepted %d, written %d, retried %d, failed %d).\n",
		len(events), countUsers(events), cfg.days, tr.EventsTableName(), time.Since(start).Round(time.Millisecond),
		s.Accepted, s.Written, s.Retried, s.Failed)
	if s.Failed > 0 {
		return fmt.Errorf("%d events were not written", s.Failed)
	}

	user := busiestUser(events)
	rows, err := recent(ctx, db, tr.EventsTableName(), user, cfg.limit)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nRecent activity of user %s (newest first, %d of %d events):\n\n", user, len(rows), countOf(events, user))
	return printActivity(out, rows)
}

// row is the part of a stored event the demo shows.
type row struct {
	EventAt    string            `dynamodbav:"event_at"`
	EventType  string            `dynamodbav:"event_type"`
	IPAddress  string            `dynamodbav:"ip_address"`
	UserAgent  string            `dynamodbav:"user_agent"`
	Attributes map[string]string `dynamodbav:"attributes"`
}

// recent reads a user's newest events straight from the table: a Query on
// the partition key, sort key descending.
func recent(ctx context.Context, db *dynamodb.Client, table, user string, limit int) ([]row, error) {
	ex, err := expression.NewBuilder().
		WithKeyCondition(expression.Key(tracker.FieldUserID).Equal(expression.Value(user))).Build()
	if err != nil {
		return nil, fmt.Errorf("build query: %w", err)
	}
	resp, err := db.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(table),
		KeyConditionExpression:    ex.KeyCondition(),
		ExpressionAttributeNames:  ex.Names(),
		ExpressionAttributeValues: ex.Values(),
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(int32(limit)),
	})
	if err != nil {
		return nil, fmt.Errorf("query recent events of user %s: %w", user, err)
	}
	var rows []row
	if err := attributevalue.UnmarshalListOfMaps(resp.Items, &rows); err != nil {
		return nil, fmt.Errorf("decode events of user %s: %w", user, err)
	}
	return rows, nil
}

func printActivity(out io.Writer, rows []row) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME (UTC)\tTYPE\tIP\tDEVICE\tDETAIL")
	for _, r := range rows {
		at := r.EventAt
		if t, err := time.Parse(tracker.TimeLayout, r.EventAt); err == nil {
			at = t.Format("2006-01-02 15:04:05")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", at, r.EventType, cmpOr(r.IPAddress, "-"), shortUA(r.UserAgent), detail(r.Attributes))
	}
	return tw.Flush()
}

// shortUA describes a User-Agent header in a few words: "Chrome
// 138.0.0.0 on Windows 10".
func shortUA(ua string) string {
	s := tracker.ParseUserAgent(ua).String()
	if s == "" {
		s = ua
	}
	if r := []rune(s); len(r) > 48 {
		s = string(r[:47]) + "…"
	}
	return cmpOr(s, "-")
}

// detail picks the most telling attribute of an event.
func detail(attrs map[string]string) string {
	for _, k := range []string{"url", "method", "plan", "element"} {
		if v := attrs[k]; v != "" {
			v = strings.TrimPrefix(v, "https://app.example.com")
			if c := attrs["utm_campaign"]; c != "" {
				v += " (campaign " + c + ")"
			}
			return k + "=" + v
		}
	}
	return ""
}

func busiestUser(events []tracker.Event) string {
	counts := map[string]int{}
	for _, e := range events {
		if !strings.HasPrefix(e.UserID, "crawler-") {
			counts[e.UserID]++
		}
	}
	users := make([]string, 0, len(counts))
	for u := range counts {
		users = append(users, u)
	}
	slices.SortFunc(users, func(a, b string) int {
		if counts[a] != counts[b] {
			return counts[b] - counts[a]
		}
		return strings.Compare(a, b)
	})
	if len(users) == 0 {
		return events[0].UserID // only crawlers: show one of them
	}
	return users[0]
}

func countUsers(events []tracker.Event) int {
	users := map[string]bool{}
	for _, e := range events {
		users[e.UserID] = true
	}
	return len(users)
}

func countOf(events []tracker.Event, user string) int {
	n := 0
	for _, e := range events {
		if e.UserID == user {
			n++
		}
	}
	return n
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
