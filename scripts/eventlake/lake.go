package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	sdkathena "github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/athena/local"
	"github.com/eventlake/eventlake/athena/remote"
	"github.com/eventlake/eventlake/lake"
	"github.com/eventlake/eventlake/lake/athenaengine"
	"github.com/eventlake/eventlake/lake/duckengine"
	"github.com/eventlake/eventlake/local/dynamolocal"
)

// lakeFlags are the flags every lake maintenance command (compact, forget,
// expire) shares: where the lake is, and how to rewrite it.
type lakeFlags struct {
	local, bucket                         string
	workgroup, database, catalog, output  string
	region, athenaEndpoint, s3Endpoint    string
	format, targetSize                    string
	lockTTL, timeout                      time.Duration
	targetBytes                           int64
	threads                               int
	json                                  bool
	dynamoEndpoint, eventsTable, sumTable string
	noHotStore, hot                       bool
	dynamoUsage                           string
}

func addLakeFlags(fs *flag.FlagSet) *lakeFlags {
	f := &lakeFlags{}
	fs.StringVar(&f.local, "local", "", "a local lake folder (events/dt=YYYY-MM-DD/...), rewritten with DuckDB, instead of AWS")
	fs.StringVar(&f.bucket, "bucket", "", "the lake bucket on AWS (stack output LakeBucketName); rewritten with Athena")
	fs.StringVar(&f.workgroup, "workgroup", athena.DefaultDatabase, "Athena workgroup")
	fs.StringVar(&f.database, "database", athena.DefaultDatabase, "Glue database of the events table")
	fs.StringVar(&f.catalog, "catalog", "AwsDataCatalog", "Athena data catalog")
	fs.StringVar(&f.output, "output", "", "s3:// result location, for a workgroup without one")
	fs.StringVar(&f.region, "region", "", "AWS region (default: from the environment or shared config)")
	fs.StringVar(&f.athenaEndpoint, "athena-endpoint", "", "Athena endpoint URL (default: the region's)")
	fs.StringVar(&f.s3Endpoint, "s3-endpoint", "", "S3 endpoint URL of an S3-compatible server, addressed path-style (default: the region's)")
	fs.StringVar(&f.format, "format", string(athena.FormatParquet), "what rewrites write: parquet or json (the Glue table's format, eventlake:format)")
	fs.StringVar(&f.targetSize, "target-size", "256MiB", "the size of the files a rewrite writes (a day smaller than this is one file); bytes, or with KiB, MiB, GiB")
	fs.DurationVar(&f.lockTTL, "lock-ttl", lake.DefaultLockTTL, "how long a day's lock holds before another run may take it over")
	fs.DurationVar(&f.timeout, "timeout", 6*time.Hour, "give up (and cancel the running Athena query) after this long")
	fs.IntVar(&f.threads, "threads", 0, "with -local: DuckDB threads (default one per CPU)")
	fs.BoolVar(&f.json, "json", false, "print the result as JSON instead of a table")
	return f
}

// addHotFlags adds the DynamoDB flags of the commands that touch the hot
// store.
func (f *lakeFlags) addHotFlags(fs *flag.FlagSet) {
	f.hot = true
	fs.StringVar(&f.eventsTable, "events-table", "", "the events table (stack output EventsTableName; with -local default "+dynamolocal.EventsTableName+")")
	fs.StringVar(&f.sumTable, "summary-table", "", "the summary table (stack output SummaryTableName; with -local default "+dynamolocal.SummaryTableName+")")
	fs.StringVar(&f.dynamoEndpoint, "dynamodb-endpoint", "", "DynamoDB endpoint URL, e.g. DynamoDB Local's (required with -local unless -no-hot-store)")
	fs.BoolVar(&f.noHotStore, "no-hot-store", false, "leave DynamoDB alone (only when the events are no longer there, e.g. expired by TTL)")
}

var sizeRE = regexp.MustCompile(`^(\d+)(B|KiB|MiB|GiB)?$`)

// check returns every problem with the flags.
func (f *lakeFlags) check() []string {
	var bad []string
	switch {
	case f.local != "" && f.bucket != "":
		bad = append(bad, "-local and -bucket: choose one")
	case f.local == "" && f.bucket == "":
		bad = append(bad, "no lake: give -local DIR or -bucket NAME")
	case f.local != "":
		if err := local.CheckRoot(f.local); err != nil {
			bad = append(bad, "-local: "+err.Error())
		} else if st, err := os.Stat(f.local); err != nil {
			bad = append(bad, fmt.Sprintf("-local %s: no such lake folder (%v)", f.local, errors.Unwrap(err)))
		} else if !st.IsDir() {
			bad = append(bad, fmt.Sprintf("-local %s: not a folder", f.local))
		}
	case strings.ContainsAny(f.bucket, "/ ") || strings.HasPrefix(f.bucket, "s3:"):
		bad = append(bad, fmt.Sprintf("-bucket %q: the bucket's name, not a URL", f.bucket))
	}
	if f.format != string(athena.FormatParquet) && f.format != string(athena.FormatJSON) {
		bad = append(bad, fmt.Sprintf("-format %q: want parquet or json", f.format))
	}
	if m := sizeRE.FindStringSubmatch(f.targetSize); m == nil {
		bad = append(bad, fmt.Sprintf("-target-size %q: want bytes, or a number with KiB, MiB or GiB", f.targetSize))
	} else {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		n <<= map[string]int{"": 0, "B": 0, "KiB": 10, "MiB": 20, "GiB": 30}[m[2]]
		if n < 1<<20 || n > 5<<30 {
			bad = append(bad, fmt.Sprintf("-target-size %s: want 1MiB to 5GiB", f.targetSize))
		}
		f.targetBytes = n
	}
	if f.lockTTL < time.Minute {
		bad = append(bad, fmt.Sprintf("-lock-ttl %v: want at least 1m", f.lockTTL))
	}
	if f.timeout <= 0 {
		bad = append(bad, fmt.Sprintf("-timeout %v: want a positive duration", f.timeout))
	}
	if f.threads < 0 {
		bad = append(bad, fmt.Sprintf("-threads %d: want 0 or more", f.threads))
	}
	if f.hot {
		switch {
		case f.noHotStore && (f.eventsTable != "" || f.sumTable != "" || f.dynamoEndpoint != ""):
			bad = append(bad, "-no-hot-store with DynamoDB flags: choose")
		case f.noHotStore:
		case f.local != "":
			if f.dynamoEndpoint == "" {
				bad = append(bad, "-local needs -dynamodb-endpoint (DynamoDB Local's URL), or -no-hot-store")
			}
			if f.eventsTable == "" {
				f.eventsTable = dynamolocal.EventsTableName
			}
			if f.sumTable == "" {
				f.sumTable = dynamolocal.SummaryTableName
			}
		case f.eventsTable == "" || f.sumTable == "":
			bad = append(bad, "-events-table and -summary-table are required (stack outputs EventsTableName, SummaryTableName), or -no-hot-store")
		}
	}
	return bad
}

// opened is a lake ready for a command.
type opened struct {
	lake *lake.Lake
	hot  *lake.HotStore
	// where names the lake for messages.
	where string
	close func()
}

// open builds the store, the engine (and the hot store) the flags name.
// Progress lines go to stderr.
func (f *lakeFlags) open(ctx context.Context, stderr io.Writer) (*opened, error) {
	cfg := lake.Config{
		Format:          athena.Format(f.format),
		TargetFileBytes: f.targetBytes,
		LockTTL:         f.lockTTL,
		Logger:          slog.New(slog.DiscardHandler),
		Progress:        progressPrinter(stderr),
	}
	o := &opened{close: func() {}}
	if f.local != "" {
		st, err := lake.NewFolderStore(f.local)
		if err != nil {
			return nil, err
		}
		eng, err := duckengine.New(ctx, st, duckengine.Config{Threads: f.threads})
		if err != nil {
			return nil, err
		}
		o.close = func() { eng.Close() }
		if o.lake, err = lake.New(st, eng, cfg); err != nil {
			eng.Close()
			return nil, err
		}
		o.where = st.Root()
		if f.hot && !f.noHotStore {
			db, err := (&dynamolocal.Server{Endpoint: f.dynamoEndpoint}).Client(ctx)
			if err != nil {
				eng.Close()
				return nil, err
			}
			if o.hot, err = lake.NewHotStore(db, f.eventsTable, f.sumTable); err != nil {
				eng.Close()
				return nil, err
			}
		}
		return o, nil
	}
	var opts []func(*config.LoadOptions) error
	if f.region != "" {
		opts = append(opts, config.WithRegion(f.region))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	s3c := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if f.s3Endpoint != "" {
			o.BaseEndpoint = aws.String(f.s3Endpoint)
			o.UsePathStyle = true
		}
	})
	st, err := lake.NewS3Store(s3c, f.bucket)
	if err != nil {
		return nil, err
	}
	ath := sdkathena.NewFromConfig(awsCfg, func(o *sdkathena.Options) {
		if f.athenaEndpoint != "" {
			o.BaseEndpoint = aws.String(f.athenaEndpoint)
		}
	})
	runner := remote.New(ath, remote.Config{
		WorkGroup: f.workgroup, Database: f.database, Catalog: f.catalog, OutputLocation: f.output,
		Logger: slog.New(slog.DiscardHandler),
	})
	if o.lake, err = lake.New(st, athenaengine.New(runner, st), cfg); err != nil {
		return nil, err
	}
	o.where = "s3://" + f.bucket
	if f.hot && !f.noHotStore {
		db := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
			if f.dynamoEndpoint != "" {
				o.BaseEndpoint = aws.String(f.dynamoEndpoint)
			}
		})
		if o.hot, err = lake.NewHotStore(db, f.eventsTable, f.sumTable); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// progressPrinter prints one line per day and per phase.
func progressPrinter(w io.Writer) func(lake.Progress) {
	return func(p lake.Progress) {
		switch {
		case p.Message != "":
			fmt.Fprintf(w, "%s: %s\n", p.Op, p.Message)
		case p.Err != nil:
			fmt.Fprintf(w, "%s %s [%d/%d]: FAILED: %v\n", p.Op, p.Day, p.N, p.Of, p.Err)
		case p.Result != nil:
			fmt.Fprintf(w, "%s %s [%d/%d]: %s\n", p.Op, p.Day, p.N, p.Of, describeDay(p.Op, *p.Result))
		}
	}
}

func describeDay(op string, r lake.DayResult) string {
	if r.Skipped != "" {
		return fmt.Sprintf("%s (%d objects, %s)", r.Skipped, r.InputObjects, athena.FormatBytes(r.InputBytes))
	}
	if op == "expire" {
		s := fmt.Sprintf("%d objects (%s) dropped", r.InputObjects, athena.FormatBytes(r.InputBytes))
		if r.VersionsPurged > 0 {
			s += fmt.Sprintf(", %d versions purged", r.VersionsPurged)
		}
		return s
	}
	s := fmt.Sprintf("%d objects (%s) -> %d files (%s), %d events", r.InputObjects, athena.FormatBytes(r.InputBytes),
		r.OutputObjects, athena.FormatBytes(r.OutputBytes), r.Rows.Written)
	if d := r.Duplicates(); d > 0 {
		s += fmt.Sprintf(", %d duplicates removed", d)
	}
	if r.Rows.Suppressed > 0 {
		s += fmt.Sprintf(", %d events of forgotten actors removed", r.Rows.Suppressed)
	}
	if r.VersionsPurged > 0 {
		s += fmt.Sprintf(", %d versions purged", r.VersionsPurged)
	}
	return s + fmt.Sprintf(", %s", r.Took.Round(time.Millisecond))
}

// daysTable renders day results with the repository's one table renderer.
func daysTable(days []lake.DayResult) *athena.Result {
	res := &athena.Result{Columns: []athena.Column{
		{Name: "day", Type: "varchar"}, {Name: "done", Type: "varchar"},
		{Name: "objects_before", Type: "bigint"}, {Name: "bytes_before", Type: "bigint"},
		{Name: "files_after", Type: "bigint"}, {Name: "bytes_after", Type: "bigint"},
		{Name: "duplicates", Type: "bigint"}, {Name: "forgotten", Type: "bigint"}, {Name: "versions_purged", Type: "bigint"},
	}}
	for _, d := range days {
		done := "rewritten"
		if d.Skipped != "" {
			done = d.Skipped
		}
		res.Rows = append(res.Rows, cells(d.Day, done, d.InputObjects, d.InputBytes, d.OutputObjects, d.OutputBytes,
			d.Duplicates(), d.Rows.Suppressed, d.VersionsPurged))
	}
	return res
}

func cells(vals ...any) []sql.NullString {
	out := make([]sql.NullString, len(vals))
	for i, v := range vals {
		out[i] = sql.NullString{String: fmt.Sprint(v), Valid: true}
	}
	return out
}
