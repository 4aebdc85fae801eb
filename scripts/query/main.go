// Command query runs a query of athena/queries on Athena, or with -local on
// DuckDB over a folder laid out like the lake bucket, and prints the rows as
// an aligned table or CSV; the data scanned (and on Athena its cost) goes to
// standard error.
//
//	go run ./scripts/query -list
//	go run ./scripts/query logins_per_day
//	go run ./scripts/query -workgroup eventlake -database eventlake user_recent_activity 42 2026-11-01T00:00:00Z
//	go run ./scripts/query -local ./lake -format csv active_users 2026-11-22
//
// Arguments follow the query's parameters (see -list) as plain values; the
// command quotes them as SQL literals for Athena. AWS credentials and region
// come from the usual SDK sources (environment, shared config, role).
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
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	sdkathena "github.com/aws/aws-sdk-go-v2/service/athena"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/athena/local"
	"github.com/eventlake/eventlake/athena/remote"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run is the command; it returns the exit status: 0 ok, 1 the query failed,
// 2 bad usage.
func run(ctx context.Context, argv []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("query", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		list      = fs.Bool("list", false, "list the queries with their parameters and descriptions")
		workgroup = fs.String("workgroup", athena.DefaultDatabase, "Athena workgroup")
		database  = fs.String("database", athena.DefaultDatabase, "Glue database of the events table")
		catalog   = fs.String("catalog", "AwsDataCatalog", "Athena data catalog")
		output    = fs.String("output", "", "s3:// result location, for a workgroup without one")
		region    = fs.String("region", "", "AWS region (default: from the environment or shared config)")
		endpoint  = fs.String("endpoint", "", "Athena endpoint URL (default: the region's)")
		format    = fs.String("format", "table", "output: table or csv")
		localDir  = fs.String("local", "", "run on DuckDB over this lake folder (events/dt=YYYY-MM-DD/*.gz|*.parquet) instead of Athena")
		localFmt  = fs.String("local-format", "", "with -local: read only json or parquet objects (default both)")
		timeout   = fs.Duration("timeout", 30*time.Minute, "give up (and cancel the Athena query) after this long")
	)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: query [flags] <name> [arguments...]\n       query -list\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(argv); err != nil {
		return 2
	}
	if *list {
		if err := listQueries(stdout); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		return 0
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	if *format != "table" && *format != "csv" {
		fmt.Fprintf(stderr, "-format %q: want table or csv\n", *format)
		return 2
	}
	q, err := athena.Lookup(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(stderr, "%v (see -list)\n", err)
		return 2
	}
	args, err := q.Args(fs.Args()[1:]...)
	if err != nil {
		fmt.Fprintf(stderr, "%v\nusage: query %s %s\n", err, q.Name, q.Usage())
		return 2
	}

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	var runner athena.Runner
	if *localDir != "" {
		db, err := local.Open(ctx, local.Config{Root: *localDir, Format: athena.Format(*localFmt)})
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		defer db.Close()
		runner = db
	} else {
		var opts []func(*config.LoadOptions) error
		if *region != "" {
			opts = append(opts, config.WithRegion(*region))
		}
		cfg, err := config.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			fmt.Fprintf(stderr, "load AWS config: %v\n", err)
			return 1
		}
		client := sdkathena.NewFromConfig(cfg, func(o *sdkathena.Options) {
			if *endpoint != "" {
				o.BaseEndpoint = endpoint
			}
		})
		runner = remote.New(client, remote.Config{
			WorkGroup:      *workgroup,
			Database:       *database,
			Catalog:        *catalog,
			OutputLocation: *output,
			Logger:         slog.New(slog.NewJSONHandler(io.Discard, nil)),
		})
	}

	res, err := runner.Run(ctx, q, args)
	if err != nil {
		fmt.Fprintln(stderr, err)
		var qerr *remote.QueryError
		if errors.As(err, &qerr) {
			fmt.Fprintf(stderr, "cost: $%.6f for %s scanned\n", athena.Cost(qerr.BytesScanned), athena.FormatBytes(qerr.BytesScanned))
		}
		return 1
	}
	if *format == "csv" {
		err = res.WriteCSV(stdout)
	} else {
		err = res.WriteTable(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintln(stderr, res.Stats.Summary())
	return 0
}

func listQueries(w io.Writer) error {
	qs, err := athena.Queries()
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, q := range qs {
		fmt.Fprintf(&b, "%s %s\n", q.Name, q.Usage())
		summary, _, _ := strings.Cut(q.Description, "\n\n")
		for _, l := range strings.Split(summary, "\n") {
			fmt.Fprintf(&b, "    %s\n", l)
		}
		for _, p := range q.Inputs() {
			fmt.Fprintf(&b, "    %s (%s, an Athena %s literal): %s\n", p.Name, p.Kind, p.Kind.SQLType(), p.Doc)
		}
		b.WriteString("\n")
	}
	_, err = io.WriteString(w, b.String())
	return err
}
