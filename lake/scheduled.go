package lake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/eventlake/eventlake/athena"
)

// Environment of the scheduled compaction Lambda (lambdas/lakecompact), set
// by the CDK construct eventlake.NewMaintenance.
const (
	// EnvLakeBucket names the lake bucket.
	EnvLakeBucket = "LAKE_BUCKET"
	// EnvWorkGroup and EnvDatabase are the Athena workgroup and the Glue
	// database of the events table.
	EnvWorkGroup = "ATHENA_WORKGROUP"
	EnvDatabase  = "GLUE_DATABASE"
	// EnvFormat is the table's format: parquet (default) or json.
	EnvFormat = "LAKE_FORMAT"
	// EnvTargetFileBytes optionally overrides Config.TargetFileBytes.
	EnvTargetFileBytes = "TARGET_FILE_BYTES"
	// EnvSuppressionBucket, on the relay (and on any writer), names the
	// bucket whose suppression list it honours (the lake bucket).
	EnvSuppressionBucket = "SUPPRESSION_BUCKET"
)

// Field names of the scheduled compaction's summary log line, which the
// CDK construct's metric filters read.
const (
	LogMessageCompaction    = "scheduled compaction"
	LogFieldDaysCompacted   = "days_compacted"
	LogFieldDaysFailed      = "days_failed"
	LogFieldDaysRemaining   = "days_remaining"
	LogFieldObjectsReplaced = "objects_replaced"
	LogFieldFilesWritten    = "files_written"
	LogFieldDuplicates      = "duplicates_removed"
	// LogFieldSuppressedEvents (suppressed_events) counts the events of
	// forgotten actors left out, as in SuppressingFirehose's line.

	// LogFieldIdentitiesWatermark is the watermark of the materialization
	// of the identity links the identities view reads after the run (empty
	// when there is none), LogFieldIdentitiesLinks its links, and
	// LogFieldIdentities what the run did to it: "materialized", or why not
	// ("current", "empty", "deadline", "failed").
	LogFieldIdentitiesWatermark = "identities_watermark"
	LogFieldIdentitiesLinks     = "identities_links"
	LogFieldIdentities          = "identities"
)

// ScheduledConfig is the scheduled compaction's configuration, read from
// the environment by ScheduledConfigFromEnv.
type ScheduledConfig struct {
	Bucket, WorkGroup, Database string
	Format                      athena.Format
	TargetFileBytes             int64
}

// ScheduledConfigFromEnv reads the configuration through getenv
// (os.Getenv in main); the error names every bad variable.
func ScheduledConfigFromEnv(getenv func(string) string) (ScheduledConfig, error) {
	c := ScheduledConfig{
		Bucket: getenv(EnvLakeBucket), WorkGroup: getenv(EnvWorkGroup), Database: getenv(EnvDatabase),
		Format: athena.Format(getenv(EnvFormat)),
	}
	var bad []string
	for _, v := range []struct{ name, val string }{{EnvLakeBucket, c.Bucket}, {EnvWorkGroup, c.WorkGroup}, {EnvDatabase, c.Database}} {
		if v.val == "" {
			bad = append(bad, v.name+" is not set")
		}
	}
	switch c.Format {
	case "":
		c.Format = athena.FormatParquet
	case athena.FormatParquet, athena.FormatJSON:
	default:
		bad = append(bad, fmt.Sprintf("%s=%q: want parquet or json", EnvFormat, c.Format))
	}
	if v := getenv(EnvTargetFileBytes); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1<<20 {
			bad = append(bad, fmt.Sprintf("%s=%q: want a number of bytes of at least 1 MiB", EnvTargetFileBytes, v))
		}
		c.TargetFileBytes = n
	}
	if len(bad) > 0 {
		return c, fmt.Errorf("lake: scheduled compaction: %s", strings.Join(bad, "; "))
	}
	return c, nil
}

// ScheduledResult is what one scheduled run did.
type ScheduledResult struct {
	DaysCompacted int `json:"days_compacted"`
	DaysFailed    int `json:"days_failed"`
	DaysRemaining int `json:"days_remaining"`
	// Identities is what the run did to the materialization of the
	// identity links (see LogFieldIdentities), IdentitiesWatermark the
	// watermark the identities view reads from afterwards.
	Identities          string `json:"identities"`
	IdentitiesWatermark string `json:"identities_watermark,omitempty"`
}

// DefaultDayBudget is the time a scheduled run keeps free for the day it
// starts last: a day is not started when less than this remains before the
// Lambda's deadline.
const DefaultDayBudget = 3 * time.Minute

// CompactScheduled is the scheduled Lambda's handler (EventBridge Scheduler
// invokes it daily): it compacts every dirty day before today and
// materializes the identity links up to yesterday (see Compact), stops
// starting days DefaultDayBudget before ctx's deadline (the rest is done by
// the next run, and reported as days_remaining), logs one summary line
// (LogMessageCompaction) and fails when a day failed, so the function's
// Errors alarm fires. A day locked by an operator's run counts as failed.
func (l *Lake) CompactScheduled(ctx context.Context) (ScheduledResult, error) {
	opts := CompactOptions{}
	if dl, ok := ctx.Deadline(); ok {
		opts.Deadline = dl.Add(-DefaultDayBudget)
	}
	res, err := l.Compact(ctx, opts)
	var out ScheduledResult
	var objs, files int
	var dups, suppressed int64
	if res != nil {
		out = ScheduledResult{DaysFailed: len(res.Failed), DaysRemaining: len(res.Remaining)}
		for _, d := range res.Days {
			if d.Skipped == "" {
				out.DaysCompacted++
				objs += d.InputObjects
				files += d.OutputObjects
				dups += d.Duplicates()
				suppressed += d.Rows.Suppressed
			}
		}
	}
	var links int64
	if res != nil && res.Identities != nil {
		id := res.Identities
		switch {
		case id.Skipped != "":
			out.Identities = id.Skipped
		case id.Run == "":
			out.Identities = "failed"
		default:
			out.Identities = "materialized"
		}
		if id.Run != "" {
			out.IdentitiesWatermark, links = id.Watermark, id.Rows
		}
	}
	level := slog.LevelInfo
	if err != nil {
		level = slog.LevelError
	}
	attrs := []slog.Attr{
		slog.Int(LogFieldDaysCompacted, out.DaysCompacted), slog.Int(LogFieldDaysFailed, out.DaysFailed),
		slog.Int(LogFieldDaysRemaining, out.DaysRemaining), slog.Int(LogFieldObjectsReplaced, objs),
		slog.Int(LogFieldFilesWritten, files), slog.Int64(LogFieldDuplicates, dups), slog.Int64(LogFieldSuppressedEvents, suppressed),
		slog.String(LogFieldIdentities, out.Identities), slog.String(LogFieldIdentitiesWatermark, out.IdentitiesWatermark),
		slog.Int64(LogFieldIdentitiesLinks, links),
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	l.cfg.Logger.LogAttrs(ctx, level, LogMessageCompaction, attrs...)
	if err != nil {
		return out, fmt.Errorf("scheduled compaction: %w", err)
	}
	if res == nil {
		return out, errors.New("scheduled compaction: no result")
	}
	return out, nil
}
