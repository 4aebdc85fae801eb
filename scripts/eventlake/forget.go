package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/eventlake/eventlake/internal/cli"
	"github.com/eventlake/eventlake/lake"
)

// stringsFlag collects a repeated flag.
type stringsFlag []string

func (s *stringsFlag) String() string     { return strings.Join(*s, ",") }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }

// runForget is `eventlake forget`: it erases users (and the anonymous IDs
// linked to them) from the hot store, the summary and the lake, and adds
// them to the suppression list (see lake.Lake.Forget).
func runForget(ctx context.Context, argv []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("eventlake forget", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := addLakeFlags(fs)
	f.addHotFlags(fs)
	var anon stringsFlag
	fs.Var(&anon, "anonymous", "an anonymous ID (cookie) to forget as well; repeatable")
	idsFrom := fs.String("ids-from", "", "read user IDs from this file, one per line (- for standard input), so they stay out of shell history")
	request := fs.String("request", "", "the erasure request's ID (a ticket: letters, digits, . _ -); default a generated one; run the same request again to resume it")
	since := fs.String("since", "", "search only the partitions from this day (YYYY-MM-DD); default every partition")
	settle := fs.Duration("settle", lake.DefaultSuppressionRefresh+30*time.Second, "wait this long after adding to the suppression list before the last sweep of the hot store (the writers' refresh interval)")
	dry := fs.Bool("dry-run", false, "find the linked anonymous IDs and where the events are; change nothing")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: eventlake forget [flags] [user_id ...]\n\n"+
			"Erases the users, and the anonymous IDs the identities view links to them, from the\n"+
			"events table, the summary table, every lake partition and the lake's error output\n"+
			"(errors/: Firehose's error records, the relay's kept-aside records; noncurrent versions\n"+
			"included), adds them to the suppression list, and writes an audit record.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(argv); err != nil {
		return cli.Usage(err)
	}
	bad := f.check()
	users := fs.Args()
	for _, u := range users {
		if strings.HasPrefix(u, "-") {
			bad = append(bad, fmt.Sprintf("%q after the first user ID: flags go before the IDs (an ID that starts with - goes in -ids-from)", u))
		}
	}
	if *idsFrom != "" {
		ids, err := readIDs(*idsFrom)
		if err != nil {
			bad = append(bad, fmt.Sprintf("-ids-from %s: %v", *idsFrom, err))
		}
		users = append(users, ids...)
	}
	if len(users)+len(anon) == 0 {
		bad = append(bad, "no user ID given (arguments or -ids-from) and no -anonymous")
	}
	if *settle < 0 {
		bad = append(bad, fmt.Sprintf("-settle %v: want 0 or more", *settle))
	}
	if len(bad) > 0 {
		return cli.Usage(errors.New(strings.Join(bad, "; ")))
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	o, err := f.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer o.close()
	start := time.Now()
	res, err := o.lake.Forget(ctx, lake.ForgetRequest{UserIDs: users, AnonymousIDs: anon, Request: *request},
		lake.ForgetOptions{Hot: o.hot, Since: *since, Settle: *settle, DryRun: *dry})
	if res == nil {
		if strings.HasPrefix(err.Error(), "lake: forget: ") {
			return cli.Usage(err)
		}
		return err
	}
	if f.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", " ")
		if werr := enc.Encode(res); werr != nil {
			return werr
		}
	} else if werr := daysTable(res.Days).WriteTable(stdout); werr != nil {
		return werr
	}
	verb := "forgot"
	if *dry {
		verb = "dry run, would forget"
	}
	fmt.Fprintf(stderr, "forget %s: request %s: %s %d users and %d anonymous IDs (%d linked); suppression list +%d; hot store: %d events, %d summary items deleted; lake: %d events in %d days found, %d removed, %d left; error output: %d events; audit %s; %s\n",
		o.where, res.Request, verb, res.Users, res.Anonymous+res.Linked, res.Linked, res.SuppressionAdded,
		res.Hot.EventsDeleted, res.Hot.SummaryDeleted, sumFound(res.Found), len(res.Found), res.RowsRemoved(), res.Remaining,
		res.Errors.Events, res.AuditKey, time.Since(start).Round(time.Millisecond))
	if res.Identities != nil {
		fmt.Fprintln(stderr, res.Identities)
	}
	if o.hot == nil && !*dry {
		fmt.Fprintln(stderr, "forget: the hot store was left alone (-no-hot-store)")
	}
	return err
}

func sumFound(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// readIDs reads one ID per line from a file or standard input ("-"),
// ignoring blank lines.
func readIDs(path string) ([]string, error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		fh, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer fh.Close()
		r = fh
	}
	var out []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out, sc.Err()
}
