package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	sdkathena "github.com/aws/aws-sdk-go-v2/service/athena"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/athena/local"
	"github.com/eventlake/eventlake/athena/remote"
	"github.com/eventlake/eventlake/internal/cli"
)

// runQuery is `eventlake query`: it runs a query of athena/queries on
// Athena, or with -local on DuckDB over a folder laid out like the lake
// bucket, and prints the rows as an aligned table, CSV or JSON; the data
// scanned (and on Athena its cost) goes to standard error.
//
// Arguments follow the query's parameters (see -list) as plain values; the
// command quotes them as SQL literals for Athena. AWS credentials and region
// come from the usual SDK sources (environment, shared config, role).
func runQuery(ctx context.Context, argv []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("eventlake query", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		list      = fs.Bool("list", false, "list the queries with their parameters and descriptions")
		workgroup = fs.String("workgroup", athena.DefaultDatabase, "Athena workgroup")
		database  = fs.String("database", athena.DefaultDatabase, "Glue database of the events table")
		catalog   = fs.String("catalog", "AwsDataCatalog", "Athena data catalog")
		output    = fs.String("output", "", "s3:// result location, for a workgroup without one")
		region    = fs.String("region", "", "AWS region (default: from the environment or shared config)")
		endpoint  = fs.String("endpoint", "", "Athena endpoint URL (default: the region's)")
		format    = fs.String("format", "table", "output: table (for a terminal: control characters made visible), csv (cells a spreadsheet would run as formulas get a leading '), or json")
		raw       = fs.Bool("raw", false, "with -format csv: every value exactly as stored, formulas included")
		localDir  = fs.String("local", "", "run on DuckDB over this existing lake folder (events/dt=YYYY-MM-DD/*.gz|*.parquet) instead of Athena")
		localFmt  = fs.String("local-format", "", "with -local: read only json or parquet objects (default both)")
		timeout   = fs.Duration("timeout", 30*time.Minute, "give up (and cancel the Athena query) after this long")
	)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: eventlake query [flags] <query> [arguments...]\n       eventlake query -list\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(argv); err != nil {
		return cli.Usage(err)
	}
	if *list {
		if fs.NArg() > 0 {
			return cli.Usagef("-list takes no arguments, got %q", fs.Args())
		}
		return listQueries(stdout)
	}

	// Every flag and argument is checked before anything is opened.
	var bad []string
	switch *format {
	case "table", "json":
		if *raw {
			bad = append(bad, fmt.Sprintf("-raw applies to -format csv (table output is always made safe for a terminal, JSON is always escaped), not %s", *format))
		}
	case "csv":
	default:
		bad = append(bad, fmt.Sprintf("-format %q: want table, csv or json", *format))
	}
	if *timeout <= 0 {
		bad = append(bad, fmt.Sprintf("-timeout %v: want a positive duration", *timeout))
	}
	if *localFmt != "" && *localFmt != string(athena.FormatJSON) && *localFmt != string(athena.FormatParquet) {
		bad = append(bad, fmt.Sprintf("-local-format %q: want json or parquet", *localFmt))
	}
	if *localDir != "" {
		if err := local.CheckRoot(*localDir); err != nil {
			bad = append(bad, "-local: "+err.Error())
		} else if st, err := os.Stat(*localDir); err != nil {
			bad = append(bad, fmt.Sprintf("-local %s: no such lake folder (%v)", *localDir, errors.Unwrap(err)))
		} else if !st.IsDir() {
			bad = append(bad, fmt.Sprintf("-local %s: not a folder", *localDir))
		}
	} else if *localFmt != "" {
		bad = append(bad, "-local-format needs -local")
	}
	if len(bad) > 0 {
		return cli.Usage(errors.New(strings.Join(bad, "; ")))
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return cli.Usagef("no query given (see -list)")
	}
	q, err := athena.Lookup(fs.Arg(0))
	if err != nil {
		return cli.Usagef("%v (see -list)", err)
	}
	args, err := q.Args(fs.Args()[1:]...)
	if err != nil {
		return cli.Usagef("%v\nusage: eventlake query %s %s", err, q.Name, q.Usage())
	}

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	var runner athena.Runner
	if *localDir != "" {
		db, err := local.Open(ctx, local.Config{Root: *localDir, Format: athena.Format(*localFmt)})
		if err != nil {
			return err
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
			return fmt.Errorf("load AWS config: %w", err)
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
			Logger:         slog.New(slog.DiscardHandler),
		})
	}

	res, err := runner.Run(ctx, q, args)
	if err != nil {
		var qerr *remote.QueryError
		if errors.As(err, &qerr) {
			err = fmt.Errorf("%w\ncost: $%.6f for %s scanned", err, athena.Cost(qerr.BytesScanned), athena.FormatBytes(qerr.BytesScanned))
		}
		return err
	}
	switch {
	case *format == "csv" && *raw:
		err = res.WriteRawCSV(stdout)
	case *format == "csv":
		err = res.WriteCSV(stdout)
	case *format == "json":
		err = res.WriteJSON(stdout)
	default:
		err = res.WriteTable(stdout)
	}
	if err != nil {
		return fmt.Errorf("write the result: %w", err)
	}
	fmt.Fprintln(stderr, res.Stats.Summary())
	return nil
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
			kind := string(p.Kind)
			if r := p.Range(); r != "" {
				kind += " " + r
			}
			extra := ""
			if p.Kind == athena.Timestamp {
				extra = "; or Unix epoch seconds"
			}
			fmt.Fprintf(&b, "    %s (%s, an Athena %s literal%s): %s\n", p.Name, kind, p.Kind.SQLType(), extra, p.Doc)
		}
		b.WriteString("\n")
	}
	_, err = io.WriteString(w, b.String())
	return err
}
