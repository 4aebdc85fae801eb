package lake

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/eventlake/eventlake/tracker"
)

// DayState is what a day partition holds, for planning.
type DayState struct {
	Day     string
	Objects int
	Bytes   int64
	// Compacted counts the files rewrites wrote; Runs the rewrites they
	// come from.
	Compacted, Runs int
}

// Dirty reports whether compaction has work on the day: objects it has not
// written, or files of more than one rewrite.
func (s DayState) Dirty() bool { return s.Objects > s.Compacted || s.Runs > 1 }

// Days lists every day partition of the lake with what it holds, oldest
// first. It costs one LIST request per 1,000 objects of the lake.
func (l *Lake) Days(ctx context.Context) ([]DayState, error) {
	objs, err := l.store.List(ctx, eventsPrefix)
	if err != nil {
		return nil, err
	}
	byDay := map[string]*DayState{}
	runs := map[string]map[string]bool{}
	var days []string
	for _, o := range objs {
		day, ok := DayOf(o.Key)
		if !ok {
			continue
		}
		s := byDay[day]
		if s == nil {
			s = &DayState{Day: day}
			byDay[day] = s
			runs[day] = map[string]bool{}
			days = append(days, day)
		}
		s.Objects++
		s.Bytes += o.Size
		if r := runOf(o.Key); r != "" {
			s.Compacted++
			runs[day][r] = true
		}
	}
	slices.Sort(days)
	out := make([]DayState, len(days))
	for i, d := range days {
		byDay[d].Runs = len(runs[d])
		out[i] = *byDay[d]
	}
	return out, nil
}

// CompactOptions selects the days Compact works on. The zero value compacts
// every day before today (UTC) that compaction has work on.
type CompactOptions struct {
	// Days, when set, are the days to compact (YYYY-MM-DD), today's
	// included; a clean day is skipped.
	Days []string
	// Before excludes the days from this one on when Days is empty;
	// default today (UTC): the current day still receives objects every
	// buffer interval.
	Before string
	// DryRun plans without rewriting: every day is reported with Skipped
	// "dry run".
	DryRun bool
	// Deadline, when set, is when Compact stops starting days (a Lambda's
	// deadline minus the time a day takes); the days not reached are
	// reported in CompactResult.Remaining and done by the next run.
	Deadline time.Time
}

// CompactResult is what Compact did.
type CompactResult struct {
	Days []DayResult
	// Failed are the days that failed, with their errors (also joined in
	// Compact's error).
	Failed map[string]error
	// Remaining are the days left for the next run (Deadline).
	Remaining []string
	// StagingCleaned counts the staging objects of dead runs removed.
	StagingCleaned int
	// Identities is what the materialization of the identity links did
	// after the days (see MaterializeIdentities); nil when it did not run.
	Identities *IdentitiesResult
}

// Compact rewrites each selected day whose objects are not one rewrite's
// files into a few large files (Config.TargetFileBytes), one row per event,
// sorted by user and time, without suppressed actors' events (see
// rewriteDay). It is safe to re-run: a clean day is skipped, and a day that
// received objects after its last compaction is compacted again, its
// compacted files included. A day that fails does not stop the others; the
// error joins every failure. A day locked by another run fails with
// ErrLocked.
func (l *Lake) Compact(ctx context.Context, opts CompactOptions) (*CompactResult, error) {
	res := &CompactResult{Failed: map[string]error{}}
	days := opts.Days
	for _, d := range days {
		if _, err := time.Parse(tracker.DateLayout, d); err != nil {
			return nil, fmt.Errorf("lake: compact day %q: want YYYY-MM-DD", d)
		}
	}
	if len(days) == 0 {
		before := opts.Before
		if before == "" {
			before = l.today().Format(tracker.DateLayout)
		}
		states, err := l.Days(ctx)
		if err != nil {
			return nil, err
		}
		for _, s := range states {
			if s.Day < before && s.Dirty() {
				days = append(days, s.Day)
			}
		}
	}
	hashes, err := l.suppressionHashes(ctx, nil)
	if err != nil {
		return nil, err
	}
	if !opts.DryRun {
		if res.StagingCleaned, err = l.cleanStaging(ctx); err != nil {
			return nil, err
		}
	}
	var errs []error
	for i, day := range days {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if !opts.Deadline.IsZero() && l.cfg.Now().After(opts.Deadline) {
			res.Remaining = append(res.Remaining, days[i:]...)
			break
		}
		var dr DayResult
		var err error
		if opts.DryRun {
			objs, lerr := l.store.List(ctx, PartitionPrefix(day))
			dr, err = DayResult{Day: day, Skipped: "dry run", InputObjects: len(objs), InputBytes: sumSize(objs)}, lerr
		} else {
			dr, err = l.rewriteAll(ctx, day, rewriteOpts{op: "compact", hashes: hashes})
		}
		if err != nil {
			res.Failed[day] = err
			errs = append(errs, err)
		} else {
			res.Days = append(res.Days, dr)
		}
		l.progress(Progress{Op: "compact", Day: day, N: i + 1, Of: len(days), Result: &dr, Err: err})
	}
	if err := ctx.Err(); err != nil {
		return res, errors.Join(append(errs, err)...)
	}
	if !opts.Deadline.IsZero() && l.cfg.Now().After(opts.Deadline) {
		res.Identities = &IdentitiesResult{Skipped: "deadline"}
	} else {
		idr, err := l.MaterializeIdentities(ctx, IdentitiesOptions{DryRun: opts.DryRun})
		res.Identities = idr
		if err != nil {
			errs = append(errs, fmt.Errorf("identities: %w", err))
		}
		l.progress(Progress{Op: "compact", Message: identitiesMessage(idr, err), Err: err})
	}
	return res, errors.Join(errs...)
}

// suppressionHashes returns the hashes a rewrite leaves out: must (an
// erasure's own actors) and the most recent entries of the stored list, at
// most MaxSQLHashes in all.
func (l *Lake) suppressionHashes(ctx context.Context, must []string) ([]string, error) {
	list, _, err := LoadSuppression(ctx, l.store)
	if err != nil {
		return nil, err
	}
	entries := list.Entries()
	slices.SortStableFunc(entries, func(a, b SuppressionEntry) int { return b.AddedAt.Compare(a.AddedAt) })
	out := slices.Clone(must)
	for _, e := range entries {
		if len(out) >= MaxSQLHashes {
			l.cfg.Logger.Warn("the suppression list is longer than one statement carries; its oldest entries are not applied to this rewrite",
				"entries", list.Len(), "applied", MaxSQLHashes)
			break
		}
		if !slices.Contains(out, e.Hash) {
			out = append(out, e.Hash)
		}
	}
	slices.Sort(out)
	return out, nil
}
