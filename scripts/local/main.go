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
// Every flag is checked before anything is started or removed. The objects
// that earlier runs wrote to the lake folder (listed in its
// .eventlake-objects) are removed first, so the lake holds this run's
// events only (events/dt=YYYY-MM-DD/*.parquet or *.gz, filed by the date of
// each event, as if the history had arrived day by day); nothing else is
// ever removed, and a lake folder whose events/ holds objects no run wrote
// is refused. With -serve the admin activity page and the collector stay up
// at that address until Ctrl-C. Everything the command starts is stopped on
// exit, Ctrl-C included; DynamoDB Local is killed.
//
// Exit status: 0 done (or -h), 1 failed, 2 bad command line, 130
// interrupted.
package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/eventlake/eventlake/internal/cli"
)

func main() { cli.Main("local", run) }

// run parses args and runs the demo, writing the report to stdout and logs
// (warnings and errors, JSON) to stderr. A bad command line is a
// cli.UsageError, found before anything is started or removed.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts, err := parseFlags(args, stderr)
	if err != nil {
		return cli.Usage(err)
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return demo(ctx, opts, stdout, log)
}
