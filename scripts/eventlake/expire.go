package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/internal/cli"
	"github.com/eventlake/eventlake/lake"
)

// runExpire is `eventlake expire`: it drops the day partitions older than
// -max-age-days (see lake.Lake.Expire). The hot store expires by DynamoDB
// TTL (tracker.Config.Retention), not by this command.
func runExpire(ctx context.Context, argv []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("eventlake expire", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := addLakeFlags(fs)
	maxAge := fs.Int("max-age-days", 0, "keep the partitions of the last N days, today included (required)")
	purge := fs.Bool("purge-versions", false, "also remove the dropped objects' noncurrent versions for good (otherwise the bucket's noncurrent-version expiry does, and they stay recoverable until then)")
	dry := fs.Bool("dry-run", false, "list the days that would be dropped, change nothing")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: eventlake expire -max-age-days N [flags]\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(argv); err != nil {
		return cli.Usage(err)
	}
	bad := f.check()
	if *maxAge < 1 {
		bad = append(bad, fmt.Sprintf("-max-age-days %d: want at least 1", *maxAge))
	}
	if fs.NArg() > 0 {
		bad = append(bad, fmt.Sprintf("unexpected arguments %q", fs.Args()))
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
	res, err := o.lake.Expire(ctx, lake.ExpireOptions{MaxAgeDays: *maxAge, PurgeVersions: *purge, DryRun: *dry})
	if res == nil {
		return err
	}
	if werr := writeDays(stdout, f.json, res.Days); werr != nil {
		return werr
	}
	var objs, versions int
	var bytes int64
	for _, d := range res.Days {
		objs += d.InputObjects
		bytes += d.InputBytes
		versions += d.VersionsPurged
	}
	verb := "dropped"
	if *dry {
		verb = "would drop"
	}
	fmt.Fprintf(stderr, "expire %s: days before %s: %s %d days, %d objects (%s), %d versions purged, %d failed, %s\n",
		o.where, res.Before, verb, len(res.Days), objs, athena.FormatBytes(bytes), versions, len(res.Failed), time.Since(start).Round(time.Millisecond))
	if res.Identities != nil {
		fmt.Fprintln(stderr, res.Identities)
	}
	return err
}
