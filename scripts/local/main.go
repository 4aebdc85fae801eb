// Command local runs the whole eventlake pipeline on this machine, offline:
// it starts DynamoDB Local and creates the tables, starts the
// Firehose-compatible endpoint writing the lake folder, reads the table's
// stream with the local event source mapping and invokes the real stream
// Lambda handler, generates realistic fake activity and puts it through the
// tracker's AsyncWriter and, a tenth of it, over HTTP through the collector
// (package collector) with a progress display, waits until the lake holds
// every event, then runs every Athena query of athena/queries locally on
// DuckDB and prints the results as tables.
//
//	go run ./scripts/local [-events 10000] [-users 50] [-days 90] [-format parquet|json]
//	                       [-lake ./lake] [-seed 1] [-rows 12] [-serve localhost:8080]
//	                       [-write-key local-write-key] [-lake-types impression]
//
// The collector listens on -serve's address beside the admin page (on a
// free loopback port without -serve), with the write key -write-key
// (default "local-write-key", for local use only); -lake-types names the
// event types routed straight to Firehose (the lake route). With -events 0
// nothing is generated: the stack and the collector stay up until Ctrl-C,
// for events sent by hand, an app or a test.
//
// The lake folder's events/ is emptied first, so the lake holds this run's
// events only (events/dt=YYYY-MM-DD/*.parquet or *.gz, filed by the date of
// each event, as if the history had arrived day by day). With -serve the
// admin activity page and the collector stay up at that address until
// Ctrl-C. Everything the
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
	interrupted := ctx.Err() != nil // before stop, which cancels ctx
	stop()
	os.Exit(exitCode(err, interrupted, os.Stderr))
}

// exitCode reports how run ended on stderr and returns the exit status: 0,
// 2 for a bad command line (-h included), 130 after Ctrl-C or SIGTERM, 1
// for any other failure.
func exitCode(err error, interrupted bool, stderr io.Writer) int {
	var usage usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 2
	case errors.As(err, &usage):
		fmt.Fprintln(stderr, "local:", err)
		return 2
	case interrupted:
		fmt.Fprintln(stderr, "\ninterrupted: everything started was stopped")
		return 130
	default:
		fmt.Fprintln(stderr, "local:", err)
		return 1
	}
}

// usageError is a bad command line.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// run parses args and runs the demo, writing the report to stdout and logs
// (warnings and errors, JSON) to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts, err := parseFlags(args, stderr)
	if err != nil {
		return usageError{err}
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return demo(ctx, opts, stdout, log)
}
