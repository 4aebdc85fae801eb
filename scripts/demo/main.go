// Command demo shows the tracker's write path on one machine: it starts
// DynamoDB Local (or uses EVENTLAKE_DYNAMODB_ENDPOINT), creates the tables,
// writes a few hundred realistic fake events (logins, page views, clicks,
// ... over the last 7 days) through the AsyncWriter, and prints one user's
// recent activity, newest first, read back with a DynamoDB Query.
//
// Usage:
//
//	go run ./scripts/demo [-events 300] [-users 25] [-days 7] [-seed 1] [-limit 20]
//
// Ctrl-C stops it; DynamoDB Local is stopped on every exit. Exit status: 0
// done (or -h), 1 failed, 2 bad command line, 130 interrupted.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/internal/cli"
	"github.com/eventlake/eventlake/local/dynamolocal"
	"github.com/eventlake/eventlake/local/fakedata"
	"github.com/eventlake/eventlake/tracker"
)

func main() { cli.Main("demo", command) }

type config struct {
	events, users, days, limit int
	seed                       uint64
}

// command parses the flags, checking every one before anything starts, and
// runs the demo. Exit status: 0 done (or -h), 1 failed, 2 bad command line,
// 130 interrupted.
func command(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := config{}
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&cfg.events, "events", 300, "number of fake events to write")
	fs.IntVar(&cfg.users, "users", 25, "number of fake users")
	fs.IntVar(&cfg.days, "days", 7, "days of history, ending now")
	fs.Uint64Var(&cfg.seed, "seed", 1, "fake data seed")
	fs.IntVar(&cfg.limit, "limit", 20, "events of the user to show")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: go run ./scripts/demo [flags]\n\nWrites fake events to DynamoDB Local and shows one user's recent activity.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return cli.Usage(err)
	}
	var bad []string
	if fs.NArg() > 0 {
		bad = append(bad, fmt.Sprintf("unexpected arguments %q", fs.Args()))
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"-events", cfg.events}, {"-users", cfg.users}, {"-days", cfg.days}, {"-limit", cfg.limit}} {
		if f.v < 1 {
			bad = append(bad, f.name+" must be at least 1")
		}
	}
	if cfg.limit > 1000 {
		bad = append(bad, "-limit must be at most 1000")
	}
	if len(bad) > 0 {
		return cli.Usage(errors.New(strings.Join(bad, "; ")))
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return run(ctx, stdout, log, cfg)
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
	fmt.Fprintf(out, "Wrote %d events of %s over the last %d days to table %s in %v (accepted %d, written %d, retried %d, failed %d).\n",
		len(events), usersLine(countUsers(events), cfg.users), cfg.days, tr.EventsTableName(), time.Since(start).Round(time.Millisecond),
		s.Accepted, s.Written, s.Retried, s.Failed)
	if s.Failed > 0 {
		return fmt.Errorf("%d events were not written", s.Failed)
	}

	user := busiestUser(events)
	rows, err := recent(ctx, db, tr.EventsTableName(), user, cfg.limit)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nRecent activity of user %s (newest first, %d of %d events):\n\n", athena.TerminalText(user), len(rows), countOf(events, user))
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
		WithKeyCondition(expression.Key(tracker.AttrActor).Equal(expression.Value(tracker.ActorKey(user, "")))).Build()
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

// printActivity prints the rows with the results' renderer, which shows
// client-controlled text (user agents, URLs) without letting it act on the
// terminal.
func printActivity(out io.Writer, rows []row) error {
	v := func(s string) sql.NullString { return sql.NullString{String: s, Valid: true} }
	res := &athena.Result{Columns: []athena.Column{
		{Name: "time (UTC)", Type: "varchar"}, {Name: "type", Type: "varchar"}, {Name: "ip", Type: "varchar"},
		{Name: "device", Type: "varchar"}, {Name: "detail", Type: "varchar"},
	}}
	for _, r := range rows {
		at := r.EventAt
		if t, err := time.Parse(tracker.TimeLayout, r.EventAt); err == nil {
			at = t.Format("2006-01-02 15:04:05")
		}
		res.Rows = append(res.Rows, []sql.NullString{v(at), v(r.EventType), v(cmpOr(r.IPAddress, "-")), v(shortUA(r.UserAgent)), v(detail(r.Attributes))})
	}
	return res.WriteTableOptions(out, athena.TableOptions{NoFooter: true})
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
		if e.UserID != "" && !tracker.Classify(e.UserAgent).Bot {
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
		for _, e := range events {
			if e.UserID != "" {
				return e.UserID // only bots: show one of them
			}
		}
	}
	return users[0]
}

// usersLine says how many users acted, and how many were asked for when
// fewer did (busy users get more events, so with few events the quietest
// may not act at all).
func usersLine(appeared, asked int) string {
	if appeared < asked {
		return fmt.Sprintf("%d users (%d asked for; with so few events the least active did not act)", appeared, asked)
	}
	return fmt.Sprintf("%d users", appeared)
}

func countUsers(events []tracker.Event) int {
	users := map[string]bool{}
	for _, e := range events {
		if e.UserID != "" {
			users[e.UserID] = true
		}
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
