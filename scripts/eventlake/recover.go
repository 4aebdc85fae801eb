package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/eventlake/eventlake/internal/cli"
	"github.com/eventlake/eventlake/lake"
	"github.com/eventlake/eventlake/lake/recovery"
	"github.com/eventlake/eventlake/lambdas/streamtofirehose/relay"
	"github.com/eventlake/eventlake/local/pipeline"
	"github.com/eventlake/eventlake/tracker"
)

// target is where the recovery commands work: the deployed stack (its
// outputs as flags) or, with -local, a running local stack.
type target struct {
	local                           string
	stream, bucket, table, queueURL string
	region                          string
	timeout                         time.Duration
	needStream, needTable           bool
	needQueue                       bool
}

func (t *target) flags(fs *flag.FlagSet) {
	fs.StringVar(&t.local, "local", "", "a lake folder of a running local stack (go run ./scripts/local -events 0 -lake DIR): its DynamoDB Local, Firehose endpoint, on-failure folder and lake, from DIR/"+pipeline.StackFileName)
	fs.StringVar(&t.stream, "stream", "", "Firehose delivery stream (stack output DeliveryStreamName)")
	fs.StringVar(&t.bucket, "bucket", "", "lake bucket (stack output LakeBucketName): its suppression list, errors/ and where rejected records are kept aside")
	fs.StringVar(&t.table, "table", "", "events table (stack output EventsTableName)")
	fs.StringVar(&t.queueURL, "queue-url", "", "on-failure queue URL (stack output OnFailureQueueUrl)")
	fs.StringVar(&t.region, "region", "", "AWS region (default: from the environment or shared config)")
	fs.DurationVar(&t.timeout, "timeout", 2*time.Hour, "give up after this long")
}

// check names every missing flag (a usage error).
func (t *target) check() error {
	if t.timeout <= 0 {
		return cli.Usagef("-timeout %v: want a positive duration", t.timeout)
	}
	if t.local != "" {
		if t.stream != "" || t.bucket != "" || t.table != "" || t.queueURL != "" {
			return cli.Usagef("-local takes the stack's pieces from %s; -stream, -bucket, -table and -queue-url are for AWS", pipeline.StackFileName)
		}
		return nil
	}
	var missing []string
	for _, f := range []struct {
		need bool
		v    string
		name string
	}{{true, t.stream, "-stream"}, {true, t.bucket, "-bucket"}, {t.needTable, t.table, "-table"}, {t.needQueue, t.queueURL, "-queue-url"}} {
		if f.need && f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return cli.Usagef("missing %s (the stack's outputs), or -local DIR for the local stack", strings.Join(missing, ", "))
	}
	return nil
}

// built is what a recovery command works with.
type built struct {
	tools *recovery.Tools
	queue recovery.Queue
}

// build makes the clients and the tools.
func (t *target) build(ctx context.Context, progress io.Writer) (built, error) {
	cfg := recovery.Config{Progress: progress, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	var b built
	if t.local != "" {
		si, err := pipeline.ReadStackInfo(t.local)
		if err != nil {
			return b, err
		}
		static := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")}
		dbCfg := static.Copy()
		dbCfg.BaseEndpoint = aws.String(si.DynamoDBEndpoint)
		fhCfg := static.Copy()
		fhCfg.BaseEndpoint = aws.String(si.FirehoseEndpoint)
		cfg.Firehose = firehose.NewFromConfig(fhCfg, relay.ClientOptions)
		cfg.DeliveryStream = si.DeliveryStream
		cfg.DynamoDB = dynamodb.NewFromConfig(dbCfg)
		cfg.Streams = dynamodbstreams.NewFromConfig(dbCfg)
		cfg.EventsTable = si.EventsTable
		store, err := lake.NewFolderStore(si.LakeDir)
		if err != nil {
			return b, err
		}
		cfg.Lake = store
		b.queue = recovery.DirQueue{Dir: si.QueueDir}
	} else {
		var opts []func(*config.LoadOptions) error
		if t.region != "" {
			opts = append(opts, config.WithRegion(t.region))
		}
		awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			return b, fmt.Errorf("load AWS configuration: %w", err)
		}
		cfg.Firehose = firehose.NewFromConfig(awsCfg, relay.ClientOptions)
		cfg.DeliveryStream = t.stream
		if t.table != "" {
			cfg.DynamoDB = dynamodb.NewFromConfig(awsCfg)
			cfg.Streams = dynamodbstreams.NewFromConfig(awsCfg)
			cfg.EventsTable = t.table
		}
		store, err := lake.NewS3Store(s3.NewFromConfig(awsCfg), t.bucket)
		if err != nil {
			return b, cli.Usage(err)
		}
		cfg.Lake = store
		if t.queueURL != "" {
			b.queue = recovery.SQSQueue{Client: sqs.NewFromConfig(awsCfg), URL: t.queueURL}
		}
	}
	tools, err := recovery.New(ctx, cfg)
	b.tools = tools
	return b, err
}

func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("eventlake "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: eventlake %s %s\n\nflags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// runRedrive is `eventlake redrive`.
func runRedrive(ctx context.Context, argv []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("redrive", "[-local DIR | -stream S -bucket B -table T -queue-url U] [flags]", stderr)
	var t target
	t.flags(fs)
	slack := fs.Duration("slack", 24*time.Hour, "when the stream no longer holds a batch: also send table events whose event_at is up to this long before the batch arrived (late events)")
	acceptIncomplete := fs.Bool("accept-incomplete", false, "delete a message read back from the table even when the table held fewer events than its batch (after a wider -slack or a backfill sent the rest)")
	segments := fs.Int("segments", 4, "parallel Scan segments when reading from the table")
	if err := fs.Parse(argv); err != nil {
		return cli.Usage(err)
	}
	if fs.NArg() > 0 {
		return cli.Usagef("unexpected arguments %q", fs.Args())
	}
	t.needTable, t.needQueue = true, true
	if err := t.check(); err != nil {
		return err
	}
	if *slack < 0 || *segments < 1 {
		return cli.Usagef("-slack must not be negative and -segments at least 1")
	}
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	b, err := t.build(ctx, stderr)
	if err != nil {
		return err
	}
	sum, err := b.tools.Redrive(ctx, b.queue, recovery.RedriveOptions{Slack: *slack, Segments: *segments, AcceptIncomplete: *acceptIncomplete})
	fmt.Fprintf(stdout, "messages %d, redriven %d (stream %d, table %d), failed %d, unreadable %d, incomplete %d, records %d, events sent %d, rejected %d, kept aside %d, suppressed %d\n",
		sum.Messages, sum.Redriven, sum.FromStream, sum.FromTable, sum.Failed, sum.Unreadable, sum.Incomplete, sum.Records, sum.Events, sum.Rejected, sum.KeptAside, sum.Suppressed)
	return err
}

// runReprocess is `eventlake reprocess`.
func runReprocess(ctx context.Context, argv []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("reprocess", "[-local DIR | -stream S -bucket B [-table T]] [-firehose] [-relay] [-from-table] [-dry-run]", stderr)
	var t target
	t.flags(fs)
	fh := fs.Bool("firehose", false, "resubmit Firehose's error output (errors/ but errors/relay/)")
	rel := fs.Bool("relay", false, "resubmit the relay's kept-aside records (errors/relay/); with neither flag, both")
	fromTable := fs.Bool("from-table", false, "send a kept-aside record's current item from the events table (fixed there) instead of the kept image")
	dry := fs.Bool("dry-run", false, "list what would be resubmitted; send nothing")
	if err := fs.Parse(argv); err != nil {
		return cli.Usage(err)
	}
	if fs.NArg() > 0 {
		return cli.Usagef("unexpected arguments %q", fs.Args())
	}
	t.needTable = *fromTable
	if err := t.check(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	b, err := t.build(ctx, stderr)
	if err != nil {
		return err
	}
	sum, err := b.tools.Reprocess(ctx, recovery.ReprocessOptions{Firehose: *fh, Relay: *rel, FromTable: *fromTable, DryRun: *dry})
	fmt.Fprintf(stdout, "objects %d, done %d, done before %d, pending %d, records %d, events sent %d, kept aside %d, still rejected %d, suppressed %d\n",
		sum.Objects, sum.Done, sum.Skipped, sum.Pending, sum.Records, sum.Events, sum.KeptAside, sum.StillRejected, sum.Suppressed)
	return err
}

// runBackfill is `eventlake backfill`.
func runBackfill(ctx context.Context, argv []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("backfill", "[-local DIR | -stream S -bucket B -table T] [-from TIME] [-to TIME] [-segments N]", stderr)
	var t target
	t.flags(fs)
	from := fs.String("from", "", "first event_at to copy: 2026-11-01 or 2026-11-01T10:00:00Z (default: the beginning)")
	to := fs.String("to", "", "last event_at to copy, included (a day means its end; default: now and later)")
	segments := fs.Int("segments", 4, "parallel Scan segments (each a goroutine)")
	if err := fs.Parse(argv); err != nil {
		return cli.Usage(err)
	}
	if fs.NArg() > 0 {
		return cli.Usagef("unexpected arguments %q", fs.Args())
	}
	t.needTable = true
	if err := t.check(); err != nil {
		return err
	}
	var bad []string
	f, err := parseTime(*from, false)
	if err != nil {
		bad = append(bad, "-from: "+err.Error())
	}
	l, err := parseTime(*to, true)
	if err != nil {
		bad = append(bad, "-to: "+err.Error())
	}
	if *segments < 1 || *segments > 1000000 {
		bad = append(bad, fmt.Sprintf("-segments %d: want 1-1000000", *segments))
	}
	if !f.IsZero() && !l.IsZero() && l.Before(f) {
		bad = append(bad, "-to is before -from")
	}
	if len(bad) > 0 {
		return cli.Usage(errors.New(strings.Join(bad, "; ")))
	}
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	b, err := t.build(ctx, stderr)
	if err != nil {
		return err
	}
	sum, err := b.tools.Backfill(ctx, recovery.BackfillOptions{From: f, To: l, Segments: *segments})
	fmt.Fprintf(stdout, "items %d, pages %d, events sent %d, rejected %d, kept aside %d, suppressed %d\n", sum.Records, sum.Pages, sum.Events, sum.Rejected, sum.KeptAside, sum.Suppressed)
	return err
}

// parseTime reads a day (its start, or with end its last millisecond) or an
// RFC 3339 time; "" is the zero time.
func parseTime(s string, end bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.Parse(tracker.DateLayout, s); err == nil {
		if end {
			return d.Add(24*time.Hour - time.Millisecond), nil
		}
		return d, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a day (2026-11-01) nor an RFC 3339 time (2026-11-01T10:00:00Z)", s)
	}
	return t.UTC(), nil
}
