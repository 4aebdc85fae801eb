package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/athena/api"
	"github.com/eventlake/eventlake/athena/local"
	"github.com/eventlake/eventlake/internal/cli"
	"github.com/eventlake/eventlake/local/fakedata"
	"github.com/eventlake/eventlake/local/pipeline"
	"github.com/eventlake/eventlake/tracker"
)

// options are the command's flags.
type options struct {
	events, users, days int
	seed                uint64
	format              athena.Format
	lake                string
	rows                int
	serve               string
	writeKey            string
	lakeTypes           string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("local", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.events, "events", 10000, "number of fake events to put through the pipeline")
	fs.IntVar(&o.users, "users", 50, "number of fake users")
	fs.IntVar(&o.days, "days", 90, "days of history, ending now")
	fs.Uint64Var(&o.seed, "seed", 1, "fake data seed")
	format := fs.String("format", string(pipeline.FormatParquet), "lake object format: parquet (as deployed) or json (gzip NDJSON)")
	fs.StringVar(&o.lake, "lake", "lake", "lake folder (the objects earlier runs wrote there are removed first, nothing else)")
	fs.IntVar(&o.rows, "rows", 12, "rows of each query result to print")
	fs.StringVar(&o.serve, "serve", "", "address to serve the collector and the admin activity page on until Ctrl-C, e.g. localhost:8080")
	fs.StringVar(&o.writeKey, "write-key", DefaultWriteKey, "the collector's write key (for local use only)")
	fs.StringVar(&o.lakeTypes, "lake-types", "impression", "event types sent straight to Firehose (the lake route), comma-separated; empty for none")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: go run ./scripts/local [flags]\n\nRuns tracker -> DynamoDB Local -> stream -> Lambda handler -> Firehose endpoint -> lake -> SQL on this machine.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.format = athena.Format(*format)
	var bad []string
	if o.events < 0 {
		bad = append(bad, "-events must be at least 0 (0: no generated traffic, serve until Ctrl-C)")
	}
	if o.users < 1 {
		bad = append(bad, "-users must be at least 1")
	}
	if o.days < 1 {
		bad = append(bad, "-days must be at least 1")
	}
	if o.rows < 1 {
		bad = append(bad, "-rows must be at least 1")
	}
	if o.format != pipeline.FormatParquet && o.format != pipeline.FormatJSON {
		bad = append(bad, fmt.Sprintf("-format %q: want parquet or json", *format))
	}
	if o.lake == "" {
		bad = append(bad, "-lake must not be empty")
	} else if err := local.CheckRoot(o.lake); err != nil {
		bad = append(bad, fmt.Sprintf("-lake %q: contains a glob or quote character (* ? [ ] { } ') that DuckDB would read as syntax", o.lake))
	} else if st, err := os.Stat(o.lake); err == nil && !st.IsDir() {
		bad = append(bad, fmt.Sprintf("-lake %s: not a folder", o.lake))
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		bad = append(bad, fmt.Sprintf("-lake %s: %v", o.lake, errors.Unwrap(err)))
	}
	if o.serve != "" {
		if _, port, err := net.SplitHostPort(o.serve); err != nil {
			bad = append(bad, fmt.Sprintf("-serve %q: want host:port, e.g. localhost:8080 (%v)", o.serve, err))
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			bad = append(bad, fmt.Sprintf("-serve %q: port %q is not a number 0-65535", o.serve, port))
		}
	}
	if len(bad) > 0 {
		return o, errors.New(strings.Join(bad, "; "))
	}
	return o, nil
}

// demo runs the whole pipeline and reports to out.
func demo(ctx context.Context, o options, out io.Writer, log *slog.Logger) (err error) {
	began := time.Now()
	var ln net.Listener
	if o.serve != "" {
		// Taken first: an address in use is found now, not after the run.
		if ln, err = net.Listen("tcp", o.serve); err != nil {
			return cli.Usage(fmt.Errorf("-serve: %w", err))
		}
		defer ln.Close()
	}
	if err := pipeline.CleanLake(o.lake); err != nil {
		if errors.Is(err, pipeline.ErrForeignObjects) {
			return cli.Usage(fmt.Errorf("-lake %s: %w", o.lake, err))
		}
		return err
	}
	fmt.Fprintf(out, "eventlake, the whole pipeline on this machine\n\n")
	fmt.Fprintf(out, "Starting DynamoDB Local, the Firehose endpoint (%s into %s) and the stream's event source ...\n", o.format, o.lake)
	p, err := pipeline.Start(ctx, pipeline.Config{LakeDir: o.lake, Format: o.format, Logger: log,
		Tracker: tracker.Config{Routes: parseLakeTypes(o.lakeTypes)}})
	if err != nil {
		return err
	}
	// A dead DynamoDB Local or Firehose endpoint ends the run within
	// seconds with the reason (exit status 1), instead of retrying for as
	// long as the writer and the event source would. Deferred before Close,
	// so it runs after it.
	defer func() {
		if dead := p.Err(); dead != nil {
			err = fmt.Errorf("%w; everything else was stopped", dead)
		}
	}()
	ctx, stopOnDeath := context.WithCancel(ctx)
	defer stopOnDeath()
	go func() {
		select {
		case <-p.Dead():
			stopOnDeath()
		case <-ctx.Done():
		}
	}()
	defer func() {
		// A fresh context: on Ctrl-C ctx is done, and Close must still stop
		// everything (DynamoDB Local is killed whatever happens).
		cctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		err = errors.Join(err, p.Close(cctx))
	}()
	where := fmt.Sprintf("DynamoDB Local at %s (pid %d)", p.DynamoDB.Endpoint, p.DynamoDB.Pid())
	if !p.DynamoDB.Local() {
		where = "DynamoDB at " + cmp.Or(p.DynamoDB.Endpoint, "AWS")
	}
	fmt.Fprintf(out, "  %s, Firehose endpoint at %s, stream %s\n", where, p.Firehose.URL(), shortARN(p.StreamARN))
	srv, err := startServer(p, ln, o.writeKey, ln != nil, log)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, srv.close()) }()
	fmt.Fprintf(out, "  collector at %s (write key %q)", srv.url, o.writeKey)
	if o.lakeTypes != "" {
		fmt.Fprintf(out, "; %s go straight to Firehose (lake route)", o.lakeTypes)
	}
	fmt.Fprintf(out, "\n  ready in %v\n\n", time.Since(began).Round(time.Millisecond))
	if o.events == 0 {
		return serveOnly(ctx, p, srv, out, o)
	}

	events, err := fakedata.Generate(fakedata.Config{Users: o.users, Events: o.events, Days: o.days, Seed: o.seed})
	if err != nil {
		return err
	}
	perUser := map[string]int{}
	visitors := map[string]bool{}
	for _, e := range events {
		if e.UserID != "" {
			perUser[e.UserID]++
		} else {
			visitors[e.AnonymousID] = true
		}
	}
	viaHTTP, viaWriter := splitForHTTP(events)
	fmt.Fprintln(out, puttingLine(len(events), len(perUser), len(visitors), o.users, o.days, len(events)-len(viaWriter)))
	bar := newProgress(out, len(events))
	putStart := time.Now()
	var put atomic.Int64
	stopTicker := bar.every(250*time.Millisecond, func() pipeline.Progress { return withPut(p.Progress(), put.Load()) })
	sent := make(chan error, 1)
	go func() { sent <- srv.send(ctx, viaHTTP, func(n int) { put.Add(int64(n)) }) }()
	for _, e := range viaWriter {
		if err := p.Put(ctx, e); err != nil {
			stopTicker()
			<-sent
			return fmt.Errorf("put: %w", err)
		}
		put.Add(1)
	}
	if err := <-sent; err != nil {
		stopTicker()
		return err
	}
	counts, err := p.Drain(ctx, func(pr pipeline.Progress) { bar.show(withPut(pr, put.Load()), false) })
	stopTicker()
	if err != nil {
		return err
	}
	took := time.Since(putStart)
	bar.show(withPut(p.Progress(), put.Load()), true)
	lake, err := lakeStats(o.lake)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nEvery event is in the lake: %d rows, %d events after deduplication (events_dedup), %.1fs from the first put (%.0f events/s).\n",
		counts.Lines, counts.Events, took.Seconds(), float64(len(events))/took.Seconds())
	fmt.Fprintf(out, "  %s: %d objects in %d date partitions, %s\n\n", filepath.Join(o.lake, "events"), lake.objects, lake.partitions, athena.FormatBytes(lake.bytes))
	if counts.Events != int64(len(events)) {
		return fmt.Errorf("the lake holds %d events, %d were put", counts.Events, len(events))
	}

	if err := checkSummaries(ctx, p, out, events); err != nil {
		return err
	}

	busiest := busiestUser(perUser)
	latest := events[len(events)-1].At // Generate returns them oldest first
	for _, e := range events {
		if e.At.After(latest) {
			latest = e.At
		}
	}
	if err := runQueries(ctx, p, out, o, busiest, latest); err != nil {
		return err
	}
	fmt.Fprintf(out, "Query the lake again with: go run ./scripts/eventlake query -local %s <query> [args]\n", o.lake)
	fmt.Fprintf(out, "Done in %v.\n", time.Since(began).Round(100*time.Millisecond))
	if ln != nil {
		srv.user.Store(&busiest)
		fmt.Fprintf(out, "\nThe admin activity page is at %s/admin/activity?user=%s and the collector at %s (Ctrl-C stops everything).\n",
			srv.url, url.QueryEscape(busiest), srv.url)
		fmt.Fprintf(out, "The dashboard is at %s/dashboard, the analytics API at %s%s (seed 001: %s/analytics?timestamp=%d).\n",
			srv.url, srv.url, api.QueriesPath, srv.url, lastHit(events).Truncate(time.Hour).Add(time.Hour).Unix())
		if err := srv.wait(ctx); err != nil {
			return err
		}
		fmt.Fprintln(out, "Stopped.")
	}
	return nil
}

// puttingLine announces the puts: how many events of how many users, and
// how many users were asked for when fewer appear (the generator gives busy
// users more events, so with few events the quietest may not act at all).
func puttingLine(events, appeared, visitors, asked, days, viaHTTP int) string {
	users := fmt.Sprintf("%d user%s", appeared, plural(appeared))
	if appeared < asked {
		users += fmt.Sprintf(" (%d asked for; with so few events the least active did not act)", asked)
	}
	users += fmt.Sprintf(" and %d anonymous visitor%s", visitors, plural(visitors))
	return fmt.Sprintf("Putting %d fake event%s of %s over the last %d day%s: %d through the AsyncWriter, %d over HTTP to the collector ...",
		events, plural(events), users, days, plural(days), events-viaHTTP, viaHTTP)
}

// checkSummaries compares the summary table, kept by the summarize Lambda's
// handler on the stream, with the events put on the hot route: for every
// user and visitor the action count and the newest event's time. Events
// routed straight to Firehose (-lake-types) never reach the table's stream
// and are not in the summary.
func checkSummaries(ctx context.Context, p *pipeline.Pipeline, out io.Writer, events []tracker.Event) error {
	type want struct {
		n    int64
		last time.Time
	}
	per := map[string]*want{}
	for _, e := range events {
		if p.Tracker.Route(e.Type) == tracker.RouteLake {
			continue // never in DynamoDB, so never in its stream's summary
		}
		k := tracker.ActorKey(e.UserID, e.AnonymousID)
		w := per[k]
		if w == nil {
			w = &want{}
			per[k] = w
		}
		w.n++
		if at := e.At.UTC().Truncate(time.Millisecond); at.After(w.last) {
			w.last = at
		}
	}
	users := 0
	for k, w := range per {
		var s tracker.UserSummary
		var err error
		if id, ok := strings.CutPrefix(k, "u#"); ok {
			users++
			s, err = p.Tracker.Summary(ctx, id)
		} else {
			s, err = p.Tracker.VisitorSummary(ctx, strings.TrimPrefix(k, "a#"))
		}
		if err != nil {
			return fmt.Errorf("read the summary of %s: %w", k, err)
		}
		if s.Actions != w.n || !s.LastSeen.Equal(w.last) {
			return fmt.Errorf("the summary of %s says %d actions, last seen %s; the events put say %d, %s",
				k, s.Actions, s.LastSeen.Format(tracker.TimeLayout), w.n, w.last.Format(tracker.TimeLayout))
		}
	}
	st := p.SummarySource.Stats()
	fmt.Fprintf(out, "Every summary is right: last seen and action counts of %d users and %d visitors, kept by the summarize Lambda's handler in %d windows of %v.\n\n",
		users, len(per)-users, st.Windows, pipeline.DefaultSummaryWindow)
	return nil
}

// serveOnly keeps the local stack and the collector up, with no generated
// traffic, until ctx is done; then it moves what was sent into the lake and
// reports it.
func serveOnly(ctx context.Context, p *pipeline.Pipeline, srv *server, out io.Writer, o options) error {
	fmt.Fprintf(out, "No generated traffic (-events 0): send events to the collector at %s, for example:\n", srv.url)
	curlExamples(out, srv.url, o.writeKey)
	if o.serve != "" {
		fmt.Fprintf(out, "The admin activity page is at %s/admin/activity?user=<id>, the dashboard at %s/dashboard, the analytics API at %s%s.\n",
			srv.url, srv.url, srv.url, api.QueriesPath)
	}
	fmt.Fprintf(out, "Ctrl-C stops everything; the lake is in %s (go run ./scripts/eventlake query -local %s <query>).\n", o.lake, o.lake)
	if err := srv.wait(ctx); err != nil {
		return err
	}
	dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	counts, err := p.Drain(dctx, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nStopped: %d events in the lake (%d rows).\n", counts.Events, counts.Lines)
	return nil
}

// withPut sets the count of events put by the producer: Accepted counts
// them too, but only once the writer took them.
func withPut(pr pipeline.Progress, put int64) pipeline.Progress {
	pr.Accepted = max(pr.Accepted, put)
	return pr
}

// lastHit is the time of the latest click or impression (of the latest
// event when there is none), so that the seed 001 URL the demo prints
// shows counts.
func lastHit(events []tracker.Event) time.Time {
	var at time.Time
	for _, e := range events {
		if (e.Type == "click" || e.Type == "impression") && e.At.After(at) {
			at = e.At
		}
	}
	if at.IsZero() && len(events) > 0 {
		at = events[len(events)-1].At
	}
	return at
}

func shortARN(arn string) string {
	if i := strings.Index(arn, ":table/"); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

func busiestUser(per map[string]int) string {
	best, n := "", -1
	for u, c := range per {
		if c > n || (c == n && u < best) {
			best, n = u, c
		}
	}
	return best
}

// lakeSummary describes the lake folder's event objects.
type lakeSummary struct {
	objects, partitions int
	bytes               int64
}

func lakeStats(root string) (lakeSummary, error) {
	var s lakeSummary
	parts := map[string]bool{}
	err := filepath.WalkDir(filepath.Join(root, "events"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		s.objects++
		s.bytes += info.Size()
		parts[filepath.Base(filepath.Dir(path))] = true
		return nil
	})
	s.partitions = len(parts)
	if err != nil {
		return s, fmt.Errorf("list the lake: %w", err)
	}
	return s, nil
}

// runQueries runs every query of the library on the lake and prints each
// result as a table of at most o.rows rows.
func runQueries(ctx context.Context, p *pipeline.Pipeline, out io.Writer, o options, user string, latest time.Time) error {
	queries, err := athena.Queries()
	if err != nil {
		return err
	}
	db, err := p.Lake(ctx)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	fmt.Fprintf(out, "Running the %d Athena queries of athena/queries on DuckDB over the lake (SQL unchanged):\n\n", len(queries))
	for _, q := range queries {
		args, err := queryArgs(q, now, latest, o.days, user)
		if err != nil {
			return err
		}
		res, err := db.Run(ctx, q, args)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "== %s: %s\n", q.Name, summary(q.Description))
		if len(args) > 0 {
			fmt.Fprintf(out, "   %s\n", argsLine(args))
		}
		fmt.Fprintln(out)
		if err := res.WriteTableOptions(out, athena.TableOptions{Indent: "   ", MaxRows: o.rows, MaxCellWidth: maxCell, NoFooter: true}); err != nil {
			return err
		}
		more := ""
		if shown := min(o.rows, len(res.Rows)); len(res.Rows) > shown {
			more = fmt.Sprintf(", %d shown", shown)
		}
		fmt.Fprintf(out, "   (%d row%s%s; %s)\n\n", len(res.Rows), plural(len(res.Rows)), more, res.Stats.Summary())
	}
	return nil
}

// queryArgs returns the arguments the demo runs q with (see paramValues):
// now is when the queries run, latest the newest event's time, days the
// history's length and user the busiest user.
func queryArgs(q athena.Query, now, latest time.Time, days int, user string) ([]athena.Arg, error) {
	args, err := q.Args(paramValues(q, now, latest, days, user)...)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", q.Name, err)
	}
	return args, nil
}

// argsLine is the line the demo prints under a query's name: each
// parameter once, name=value.
func argsLine(args []athena.Arg) string {
	var ps []string
	for _, a := range args {
		if p := a.Param.Name + "=" + athena.TerminalText(a.Text); !slices.Contains(ps, p) {
			ps = append(ps, p)
		}
	}
	return strings.Join(ps, ", ")
}

// maxCell is the most terminal columns of a cell the demo prints.
const maxCell = 60

// summary is the first sentence of a query's header comment, on one line.
func summary(desc string) string {
	desc, _, _ = strings.Cut(desc, "Parameters:")
	desc = strings.Join(strings.Fields(desc), " ")
	if i := strings.Index(desc, ". "); i >= 0 {
		desc = desc[:i+1]
	}
	return desc
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// paramValues chooses a value for each of q's parameters that makes sense
// for the generated history ending now: windows of the last 30 days (or
// -days) that end today, from the first day's midnight whether the window
// is of dates or timestamps (the whole history for the signups' attribution
// and conversions); the hour of the latest event; the busiest user;
// thresholds above one household's networks and devices.
func paramValues(q athena.Query, now, latest time.Time, days int, user string) []string {
	today := now.Truncate(24 * time.Hour)
	window := min(30, days)
	if q.Name == "signup_attribution" || q.Name == "campaign_conversions" {
		window = days // signups are rarer: the whole history
	}
	var vals []string
	for _, p := range q.Inputs() {
		vals = append(vals, paramValue(p, latest, today, window, user))
	}
	return vals
}

func paramValue(p athena.Param, latest, today time.Time, window int, user string) string {
	day := func(t time.Time) string { return t.Format(tracker.DateLayout) }
	ts := func(t time.Time) string { return t.Format(time.RFC3339) }
	switch p.Kind {
	case athena.Date:
		switch p.Name {
		case "from_day", "since", "from":
			return day(today.AddDate(0, 0, -window+1))
		default: // as_of, to_day, to, ...
			return day(today)
		}
	case athena.Timestamp:
		switch p.Name {
		case "since", "from":
			return ts(today.AddDate(0, 0, -window+1))
		case "to":
			return ts(today.AddDate(0, 0, 1))
		default: // at: the end of the hour of the latest event
			return ts(latest.Truncate(time.Hour).Add(time.Hour))
		}
	case athena.Bigint:
		switch p.Name {
		case "days":
			return strconv.Itoa(max(1, window/3))
		case "max_networks": // more than a household's and a phone's
			return "4"
		case "max_devices":
			return "3"
		default: // lookback and other day counts
			return strconv.Itoa(window)
		}
	default: // varchar: a user
		return user
	}
}
