package lake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/eventlake/eventlake/tracker"
)

// ExpireOptions configure Expire.
type ExpireOptions struct {
	// MaxAgeDays keeps the partitions of the last MaxAgeDays days, today
	// included: with 400, the day 400 days before today and every earlier
	// one are dropped. Required, at least 1.
	MaxAgeDays int
	// PurgeVersions also removes the dropped objects' noncurrent versions
	// (and older ones of those days) for good. Without it a versioned
	// bucket keeps them until its noncurrent-version expiry (30 days by
	// default), recoverable.
	PurgeVersions bool
	// DryRun lists the days that would be dropped and changes nothing.
	DryRun bool
}

// ExpireResult is what Expire did.
type ExpireResult struct {
	// Before is the first day kept.
	Before string
	Days   []DayResult
	Failed map[string]error
	// Identities is the materialization of the identity links written
	// without the dropped days' links (when days were dropped, or it was
	// stale).
	Identities *IdentitiesResult
}

// Expire drops every day partition older than MaxAgeDays: under the day's
// lock, it writes a manifest of the objects (op expire), deletes them, and
// with PurgeVersions removes the day's noncurrent versions. It is safe to
// re-run: a dropped day has no objects. Objects that arrive late for an
// expired day are dropped by the next run. Then the identity links are
// materialized again without the dropped days' (their first links go with
// them, as the identities view over every partition would lose them), the
// earlier materializations' versions purged with PurgeVersions.
func (l *Lake) Expire(ctx context.Context, opts ExpireOptions) (*ExpireResult, error) {
	if opts.MaxAgeDays < 1 {
		return nil, fmt.Errorf("lake: expire: MaxAgeDays %d: want at least 1", opts.MaxAgeDays)
	}
	before := l.today().AddDate(0, 0, -(opts.MaxAgeDays - 1)).Format(tracker.DateLayout)
	res := &ExpireResult{Before: before, Failed: map[string]error{}}
	states, err := l.Days(ctx)
	if err != nil {
		return nil, err
	}
	var days []DayState
	for _, s := range states {
		if s.Day < before {
			days = append(days, s)
		}
	}
	var errs []error
	for i, s := range days {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		var dr DayResult
		var err error
		if opts.DryRun {
			dr = DayResult{Day: s.Day, Skipped: "dry run", InputObjects: s.Objects, InputBytes: s.Bytes}
		} else {
			dr, err = l.expireDay(ctx, s.Day, opts.PurgeVersions)
		}
		if err != nil {
			res.Failed[s.Day] = err
			errs = append(errs, err)
		} else {
			res.Days = append(res.Days, dr)
		}
		l.progress(Progress{Op: "expire", Day: s.Day, N: i + 1, Of: len(days), Result: &dr, Err: err})
	}
	dropped := false
	for _, d := range res.Days {
		dropped = dropped || (d.Skipped == "" && d.InputObjects > 0)
	}
	idr, err := l.MaterializeIdentities(ctx, IdentitiesOptions{Force: dropped, DryRun: opts.DryRun, PurgeVersions: opts.PurgeVersions})
	res.Identities = idr
	if err != nil {
		errs = append(errs, fmt.Errorf("identities: %w", err))
	}
	l.progress(Progress{Op: "expire", Message: identitiesMessage(idr, err), Err: err})
	return res, errors.Join(errs...)
}

func (l *Lake) expireDay(ctx context.Context, day string, purge bool) (DayResult, error) {
	start := l.cfg.Now()
	run := l.newRunID()
	res := DayResult{Day: day, Run: run}
	release, err := l.lock(ctx, day, run, "expire")
	if err != nil {
		return res, err
	}
	defer release()
	objs, err := l.store.List(ctx, PartitionPrefix(day))
	if err != nil {
		return res, err
	}
	res.InputObjects, res.InputBytes = len(objs), sumSize(objs)
	if len(objs) == 0 && !purge {
		res.Skipped = "empty"
		return res, nil
	}
	m := &Manifest{Run: run, Op: "expire", Day: day, State: StateCopying, StartedAt: start.UTC(), Inputs: objs}
	if err := l.putManifest(ctx, m); err != nil {
		return res, err
	}
	if err := l.store.Delete(ctx, keysOf(objs)); err != nil {
		return res, fmt.Errorf("expire %s: %w", day, err)
	}
	if purge {
		if res.VersionsPurged, err = l.purgeNoncurrent(ctx, day); err != nil {
			return res, err
		}
		m.VersionsPurged = res.VersionsPurged
	}
	m.State, m.FinishedAt = StateDone, l.cfg.Now().UTC()
	if err := l.putManifest(ctx, m); err != nil {
		return res, err
	}
	res.Took = l.cfg.Now().Sub(start)
	l.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "lake expiry", slog.String("day", day), slog.String("run", run),
		slog.Int("objects", res.InputObjects), slog.Int64("bytes", res.InputBytes), slog.Int("versions_purged", res.VersionsPurged))
	return res, nil
}
