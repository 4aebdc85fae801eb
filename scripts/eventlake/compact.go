package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/internal/cli"
	"github.com/eventlake/eventlake/lake"
	"github.com/eventlake/eventlake/tracker"
)

// runCompact is `eventlake compact`: it rewrites each day partition that
// holds more than one compaction's files into a few large files, one row
// per event, sorted by user and time (see lake.Lake.Compact).
func runCompact(ctx context.Context, argv []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("eventlake compact", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := addLakeFlags(fs)
	before := fs.String("before", "", "with no days given: compact the days before this one (default today, UTC)")
	dry := fs.Bool("dry-run", false, "list the days that would be compacted, change nothing")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: eventlake compact [flags] [YYYY-MM-DD ...]\n\n"+
			"Without days: every day before -before (default today) whose partition holds objects\n"+
			"that compaction has not written. Safe to re-run.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(argv); err != nil {
		return cli.Usage(err)
	}
	bad := f.check()
	if *before != "" {
		if _, err := time.Parse(tracker.DateLayout, *before); err != nil {
			bad = append(bad, fmt.Sprintf("-before %q: want YYYY-MM-DD", *before))
		}
	}
	days := fs.Args()
	for _, d := range days {
		if _, err := time.Parse(tracker.DateLayout, d); err != nil {
			bad = append(bad, fmt.Sprintf("day %q: want YYYY-MM-DD", d))
		}
	}
	if len(days) > 0 && *before != "" {
		bad = append(bad, "-before applies when no days are given")
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
	res, err := o.lake.Compact(ctx, lake.CompactOptions{Days: days, Before: *before, DryRun: *dry})
	if res == nil {
		return err
	}
	if werr := writeDays(stdout, f.json, res.Days); werr != nil {
		return werr
	}
	var objs, files int
	var in, out, dups int64
	rewritten := 0
	for _, d := range res.Days {
		if d.Skipped == "" {
			rewritten++
			objs += d.InputObjects
			files += d.OutputObjects
			in += d.InputBytes
			out += d.OutputBytes
			dups += d.Duplicates()
		}
	}
	fmt.Fprintf(stderr, "compact %s: %d days rewritten, %d skipped, %d failed: %d objects (%s) -> %d files (%s), %d duplicates removed, %s\n",
		o.where, rewritten, len(res.Days)-rewritten, len(res.Failed), objs, athena.FormatBytes(in), files, athena.FormatBytes(out), dups, time.Since(start).Round(time.Millisecond))
	if res.Identities != nil {
		fmt.Fprintln(stderr, res.Identities) // the materialized identity links (docs/lake.md)
	}
	if errors.Is(err, lake.ErrLocked) {
		return fmt.Errorf("%w\n(another run holds a day: run again later)", err)
	}
	return err
}

// writeDays prints day results as a table or JSON.
func writeDays(w io.Writer, asJSON bool, days []lake.DayResult) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", " ")
		if days == nil {
			days = []lake.DayResult{}
		}
		return enc.Encode(days)
	}
	return daysTable(days).WriteTable(w)
}
