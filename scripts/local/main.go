// Command local runs the whole eventlake pipeline on this machine, offline:
// it starts DynamoDB Local and creates the tables, starts the
// Firehose-compatible endpoint writing the lake folder, reads the table's
// stream with the local event source mapping and invokes the real stream
// Lambda handler, generates realistic fake activity and puts it through the
// tracker's AsyncWriter with a progress display, waits until the lake holds
// every event, then runs every Athena query of athena/queries locally on
// DuckDB and prints the results as tables.
//
//	go run ./scripts/local [-events 10000] [-users 50] [-days 90] [-format parquet|json]
//	                       [-lake ./lake] [-seed 1] [-rows 12] [-serve localhost:8080]
//
// The lake folder's events/ is emptied first, so the lake holds this run's
// events only (events/dt=YYYY-MM-DD/*.parquet or *.gz, filed by the date of
// each event, as if the history had arrived day by day). With -serve the
// admin activity page stays up at that address until Ctrl-C. Everything the
// command starts is stopped on exit, Ctrl-C included; DynamoDB Local is
// killed.
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
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	case ctx.Err() != nil:
		fmt.Fprintln(os.Stderr, "\ninterrupted: everything started was stopped")
		os.Exit(130)
	default:
		fmt.Fprintln(os.Stderr, "local:", err)
		os.Exit(1)
	}
}

// run parses args and runs the demo, writing the report to stdout and logs
// (warnings and errors, JSON) to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return demo(ctx, opts, stdout, log)
}
