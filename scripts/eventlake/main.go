// Command eventlake is the operator's command: one subcommand per job on the
// lake.
//
//	go run ./scripts/eventlake help               # the subcommands
//	go run ./scripts/eventlake help query         # one subcommand's flags (or: eventlake query -h)
//	go run ./scripts/eventlake query -list
//	go run ./scripts/eventlake query -local ./lake active_users 2026-11-22
//	go run ./scripts/eventlake redrive -local ./lake      # or -stream S -table T -queue-url U on AWS
//	go run ./scripts/eventlake reprocess -local ./lake -relay -from-table
//	go run ./scripts/eventlake backfill -stream S -table T -from 2026-11-01 -to 2026-11-07
//	go run ./scripts/eventlake compact -bucket my-lake           # docs/lake.md
//	go run ./scripts/eventlake forget -local ./lake -dynamodb-endpoint http://127.0.0.1:8000 -request T-1 42
//	go run ./scripts/eventlake expire -bucket my-lake -max-age-days 400
//
// Exit status: 0 done (or help shown), 1 the job failed, 2 a bad command line
// (nothing was done), 130 interrupted.
package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/eventlake/eventlake/internal/cli"
)

// command is one subcommand.
type command struct {
	name string
	// args is the synopsis after the name, for `eventlake help`.
	args string
	// summary is one line for `eventlake help`.
	summary string
	// run runs the subcommand with the arguments after its name. It parses
	// them with a flag.FlagSet named "eventlake <name>" writing to stderr
	// (so -h prints the flags and returns flag.ErrHelp) and returns a
	// cli.UsageError for a bad command line.
	run cli.Func
}

// commands is the subcommand table. A new job (redrive, reprocess,
// backfill, compact, forget, expire) is one line here and one file with its
// run function; help, -h and the exit statuses come with it.
var commands = []command{
	{"query", "[flags] <query> [arguments...]", "run a query of athena/queries on Athena, or on DuckDB over a local lake folder", runQuery},
	{"redrive", "[-local DIR | -stream S -table T -queue-url U] [flags]", "send the stream batches of the on-failure queue to Firehose again, then delete their messages", runRedrive},
	{"reprocess", "[-local DIR | -stream S -bucket B] [-firehose] [-relay] [-from-table] [-dry-run]", "resubmit Firehose's errors/ and the relay's kept-aside records once the cause is fixed", runReprocess},
	{"backfill", "[-local DIR | -stream S -table T] [-from TIME] [-to TIME]", "copy the events table's events (a time range, or all) into the lake", runBackfill},
	{"compact", "[flags] [YYYY-MM-DD ...]", "rewrite day partitions into a few large files, one row per event (Athena, or DuckDB with -local)", runCompact},
	{"forget", "[flags] [user_id ...]", "erase users and their linked anonymous IDs from DynamoDB, the summary and the lake; suppress them", runForget},
	{"expire", "-max-age-days N [flags]", "drop the lake partitions older than N days", runExpire},
}

func main() { cli.Main("eventlake", run) }

func lookup(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// run dispatches to a subcommand.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		writeHelp(stderr)
		return cli.Usagef("no command given")
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(rest) == 0 {
			writeHelp(stdout)
			return nil
		}
		c, ok := lookup(rest[0])
		if !ok {
			return cli.Usagef("unknown command %q (see eventlake help)", rest[0])
		}
		// The subcommand's own -h, written to standard output.
		return c.run(ctx, []string{"-h"}, stdout, stdout)
	}
	c, ok := lookup(name)
	if !ok {
		return cli.Usagef("unknown command %q (see eventlake help)", name)
	}
	return c.run(ctx, rest, stdout, stderr)
}

func writeHelp(w io.Writer) {
	var b strings.Builder
	b.WriteString("usage: eventlake <command> [flags] [arguments...]\n\ncommands:\n")
	width := 0
	for _, c := range commands {
		width = max(width, len(c.name))
	}
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-*s  %s\n  %-*s  eventlake %s %s\n", width, c.name, c.summary, width, "", c.name, c.args)
	}
	b.WriteString("\n`eventlake help <command>` or `eventlake <command> -h` shows a command's flags.\n" +
		"Exit status: 0 done, 1 failed, 2 bad command line, 130 interrupted.\n")
	io.WriteString(w, b.String())
}
