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
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/local/fakedata"
	"github.com/eventlake/eventlake/local/pipeline"
	"github.com/eventlake/eventlake/tracker"
	"github.com/eventlake/eventlake/tracker/admin"
)

// options are the command's flags.
type options struct {
	events, users, days int
	seed                uint64
	format              athena.Format
	lake                string
	rows                int
	serve               string
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
	fs.StringVar(&o.lake, "lake", "lake", "lake folder (its events/ is emptied first)")
	fs.IntVar(&o.rows, "rows", 12, "rows of each query result to print")
	fs.StringVar(&o.serve, "serve", "", "address to keep serving the admin activity page on until Ctrl-C, e.g. localhost:8080")
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
	if o.events < 1 {
		bad = append(bad, "-events must be at least 1")
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
	}
	if len(bad) > 0 {
		return o, errors.New(strings.Join(bad, "; "))
	}
	return o, nil
}

// demo runs the whole pipeline and reports to out.
func demo(ctx context.Context, o options, out io.Writer, log *slog.Logger) (err error) {
	began := time.Now()
	if err := pipeline.CleanLake(o.lake); err != nil {
		return err
	}
	fmt.Fprintf(out, "eventlake, the whole pipeline on this machine\n\n")
	fmt.Fprintf(out, "Starting DynamoDB Local, the Firehose endpoint (%s into %s) and the stream's event source ...\n", o.format, o.lake)
	p, err := pipeline.Start(ctx, pipeline.Config{LakeDir: o.lake, Format: o.format, Backfill: true, Logger: log})
	if err != nil {
		return err
	}
	defer func() {
		// A fresh context: on Ctrl-C ctx is done, and Close must still stop
		// everything (DynamoDB Local is killed whatever happens).
		cctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		err = errors.Join(err, p.Close(cctx))
	}()
	where := "DynamoDB Local at " + p.DynamoDB.Endpoint
	if !p.DynamoDB.Local() {
		where = "DynamoDB at " + cmp.Or(p.DynamoDB.Endpoint, "AWS")
	}
	fmt.Fprintf(out, "  %s, Firehose endpoint at %s, stream %s\n", where, p.Firehose.URL(), shortARN(p.StreamARN))
	fmt.Fprintf(out, "  ready in %v\n\n", time.Since(began).Round(time.Millisecond))

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
	fmt.Fprintf(out, "Putting %d fake events of %d users and %d anonymous visitors over the last %d days through the AsyncWriter ...\n",
		len(events), len(perUser), len(visitors), o.days)
	bar := newProgress(out, len(events))
	putStart := time.Now()
	var put atomic.Int64
	stopTicker := bar.every(250*time.Millisecond, func() pipeline.Progress { return withPut(p.Progress(), put.Load()) })
	for _, e := range events {
		if err := p.Put(ctx, e); err != nil {
			stopTicker()
			return fmt.Errorf("put: %w", err)
		}
		put.Add(1)
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
	fmt.Fprintf(out, "Query the lake again with: go run ./scripts/query -local %s <query> [args]\n", o.lake)
	fmt.Fprintf(out, "Done in %v.\n", time.Since(began).Round(100*time.Millisecond))
	if o.serve != "" {
		return serve(ctx, p, out, o.serve, busiest, log)
	}
	return nil
}

// withPut sets the count of events put by the producer: Accepted counts
// them too, but only once the writer took them.
func withPut(pr pipeline.Progress, put int64) pipeline.Progress {
	pr.Accepted = max(pr.Accepted, put)
	return pr
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
		values := paramValues(q, now, latest, o.days, user)
		args, err := q.Args(values...)
		if err != nil {
			return fmt.Errorf("query %s: %w", q.Name, err)
		}
		res, err := db.Run(ctx, q, args)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "== %s: %s\n", q.Name, summary(q.Description))
		if len(args) > 0 {
			var ps []string
			for _, a := range args {
				if !slices.Contains(ps, a.Param.Name+"="+a.Text) {
					ps = append(ps, a.Param.Name+"="+a.Text)
				}
			}
			fmt.Fprintf(out, "   %s\n", strings.Join(ps, ", "))
		}
		fmt.Fprintln(out)
		shown := displayed(res, o.rows)
		var table strings.Builder
		if err := shown.WriteTable(&table); err != nil {
			return err
		}
		lines := strings.Split(strings.TrimRight(table.String(), "\n"), "\n")
		for _, line := range lines[:len(lines)-1] { // without its "(n rows)"
			fmt.Fprintf(out, "   %s\n", line)
		}
		more := ""
		if len(res.Rows) > len(shown.Rows) {
			more = fmt.Sprintf(", %d shown", len(shown.Rows))
		}
		fmt.Fprintf(out, "   (%d row%s%s; %s)\n\n", len(res.Rows), plural(len(res.Rows)), more, res.Stats.Summary())
	}
	return nil
}

// maxCell is the most characters of a cell the demo prints.
const maxCell = 60

// displayed returns the first rows of res with long cells shortened.
func displayed(res *athena.Result, rows int) *athena.Result {
	shown := &athena.Result{Columns: res.Columns, Stats: res.Stats}
	for _, r := range res.Rows[:min(rows, len(res.Rows))] {
		row := slices.Clone(r)
		for i, v := range row {
			if v.Valid && utf8.RuneCountInString(v.String) > maxCell {
				row[i].String = string([]rune(v.String)[:maxCell-1]) + "…"
			}
		}
		shown.Rows = append(shown.Rows, row)
	}
	return shown
}

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
// for the generated history ending now: windows that end today, the last
// 30 days where a window is asked for (the whole history for the signups'
// attribution and conversions), the hour of the latest event, the busiest
// user, thresholds above one household's networks and devices.
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
			return ts(today.AddDate(0, 0, -window))
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

// serve serves the admin activity page until ctx is done.
func serve(ctx context.Context, p *pipeline.Pipeline, out io.Writer, addr, user string, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("serve the admin page: %w", err)
	}
	page, err := admin.NewHandler(p.Tracker, admin.Options{Logger: log})
	if err != nil {
		ln.Close()
		return fmt.Errorf("serve the admin page: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /admin/activity", page)
	mux.Handle("GET /{$}", http.RedirectHandler("/admin/activity?user="+url.QueryEscape(user), http.StatusFound))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(out, "\nThe admin activity page is at http://%s/admin/activity?user=%s (Ctrl-C stops everything).\n",
		ln.Addr(), url.QueryEscape(user))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve the admin page: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("stop the admin page: %w", err)
	}
	fmt.Fprintln(out, "Stopped.")
	return nil
}
