package lake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/eventlake/eventlake/athena"
)

// ErrCheckFailed reports a rewrite whose new files do not hold exactly the
// events of the objects they were to replace (sql/verify.sql). Nothing was
// deleted: the new files were removed again, the day is as it was.
var ErrCheckFailed = errors.New("lake: the rewritten files failed their check")

// DayResult is what a rewrite (or an expiry) did to one day.
type DayResult struct {
	Day string `json:"day"`
	Run string `json:"run,omitempty"`
	// Skipped says why nothing was done: "clean" (compacted already),
	// "empty" (no objects), "dry run".
	Skipped string `json:"skipped,omitempty"`
	// Objects replaced (or expired) and their bytes.
	InputObjects int   `json:"input_objects"`
	InputBytes   int64 `json:"input_bytes"`
	// Files written and their bytes.
	OutputObjects int       `json:"output_objects"`
	OutputBytes   int64     `json:"output_bytes"`
	Rows          RowCounts `json:"rows"`
	// VersionsPurged counts noncurrent versions and delete markers removed
	// for good.
	VersionsPurged int `json:"versions_purged,omitempty"`
	// Passes counts the rewrites of the day in this run: more than one when
	// it held more than MaxRewriteInputs objects.
	Passes int           `json:"passes,omitempty"`
	Took   time.Duration `json:"took"`
	// left is the number of objects a pass did not read (MaxRewriteInputs).
	left int
}

// add accumulates the next pass of the same day. A pass reads the files
// of the pass before it again (they sort first); they are counted once.
func (r *DayResult) add(n DayResult) {
	if r.Passes == 0 {
		*r = n
		r.Passes = 1
		return
	}
	r.Run = n.Run
	r.InputObjects += n.InputObjects - r.OutputObjects
	r.InputBytes += n.InputBytes - r.OutputBytes
	r.Rows.Input += n.Rows.Input - r.Rows.Written
	r.Rows.Distinct += n.Rows.Distinct - r.Rows.Written
	r.Rows.Suppressed += n.Rows.Suppressed
	r.Rows.Written = n.Rows.Written
	r.OutputObjects, r.OutputBytes = n.OutputObjects, n.OutputBytes
	r.VersionsPurged += n.VersionsPurged
	r.Took += n.Took
	r.Passes++
	r.left = n.left
}

// Duplicates is the number of duplicate deliveries the rewrite removed.
func (r DayResult) Duplicates() int64 { return r.Rows.Input - r.Rows.Distinct }

// rewriteOpts says what kind of rewrite to run.
type rewriteOpts struct {
	op      string   // "compact" or "forget"
	request string   // the erasure request
	hashes  []string // suppressed actors to leave out
	// force rewrites a day that is compacted already (erasure).
	force bool
	// purge removes the partition's noncurrent versions afterwards, even
	// when no suppressed event was found (erasure).
	purge bool
}

// clean reports whether a day's objects are the files of one rewrite and
// nothing else: compaction has nothing to do there.
func clean(objs []Object) bool {
	run := ""
	for _, o := range objs {
		r := runOf(o.Key)
		if r == "" || (run != "" && r != run) {
			return false
		}
		run = r
	}
	return run != ""
}

func (l *Lake) extension() string {
	if l.cfg.Format == athena.FormatJSON {
		return ".gz"
	}
	return ".parquet"
}

// rewriteDay rewrites one day partition:
//
//  1. lock the day; list its objects (the inputs);
//  2. UNLOAD/COPY the kept rows (sql/rewrite.sql) into a staging prefix of
//     its own;
//  3. write the manifest (state copying);
//  4. copy the staged files into the partition as compacted-<run>-<n>: from
//     here until step 6 queries see the day twice, which events_dedup
//     removes;
//  5. check the new files against the inputs (sql/verify.sql): on a
//     mismatch, delete the new files and fail with ErrCheckFailed;
//  6. delete the inputs (in a versioned bucket they stay recoverable as
//     noncurrent versions);
//  7. purge the partition's noncurrent versions when events were left out
//     for suppression (and always for an erasure);
//  8. mark the manifest done, delete the staging prefix, unlock.
//
// Objects that arrive after step 1 are not read and not deleted: the next
// run picks them up.
func (l *Lake) rewriteDay(ctx context.Context, day string, o rewriteOpts) (res DayResult, err error) {
	start := l.cfg.Now()
	res.Day = day
	run := l.newRunID()
	res.Run = run
	release, err := l.lock(ctx, day, run, o.op)
	if err != nil {
		return res, err
	}
	crashed := false
	defer func() {
		if !crashed {
			release()
		}
	}()
	inputs, err := l.store.List(ctx, PartitionPrefix(day))
	if err != nil {
		return res, err
	}
	switch {
	case len(inputs) == 0:
		res.Skipped = "empty"
		return res, nil
	case !o.force && clean(inputs):
		res.Skipped = "clean"
		res.InputObjects, res.InputBytes = len(inputs), sumSize(inputs)
		return res, nil
	}
	if len(inputs) > l.cfg.maxInputs {
		// The compacted files first (they hold most of the day), then the
		// oldest objects; the rest is the next pass's.
		slices.SortStableFunc(inputs, func(a, b Object) int {
			if ca, cb := isCompacted(a.Key), isCompacted(b.Key); ca != cb {
				if ca {
					return -1
				}
				return 1
			}
			return a.LastModified.Compare(b.LastModified)
		})
		res.left = len(inputs) - l.cfg.maxInputs
		inputs = inputs[:l.cfg.maxInputs]
	}
	res.InputObjects, res.InputBytes = len(inputs), sumSize(inputs)
	d := l.engine.Dialect()
	uris := make([]string, len(inputs))
	for i, in := range inputs {
		uris[i] = l.store.URI(in.Key)
	}
	buckets := int(min((res.InputBytes+l.cfg.TargetFileBytes-1)/l.cfg.TargetFileBytes, MaxBuckets))
	buckets = max(buckets, 1)
	sql, err := d.rewriteSQL(day, uris, buckets, o.hashes)
	if err != nil {
		return res, err
	}
	staging := stagingPrefix + run + "/"
	m := &Manifest{Run: run, Op: o.op, Request: o.request, Day: day, State: StateCopying, Format: string(l.cfg.Format), StartedAt: start.UTC(), Inputs: inputs}
	var outputs []Object
	swapped := false // inputs deleted: from here on, roll forward
	defer func() {
		if err == nil || crashed {
			return
		}
		// Undo what the failed run left, without its context (which may
		// be what failed).
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if !swapped && len(outputs) > 0 {
			_ = l.store.Delete(cctx, keysOf(outputs))
			m.State = StateAborted
		}
		m.Error = err.Error()
		m.FinishedAt = l.cfg.Now().UTC()
		_ = l.putManifest(cctx, m)
		if staged, lerr := l.store.List(cctx, staging); lerr == nil && len(staged) > 0 {
			_ = l.store.Delete(cctx, keysOf(staged))
		}
		l.cfg.Logger.LogAttrs(ctx, slog.LevelError, "lake rewrite failed", slog.String("op", o.op), slog.String("day", day),
			slog.String("run", run), slog.Bool("inputs_deleted", swapped), slog.String("error", err.Error()))
	}()
	stop := func(step string) error {
		if err := l.step(step, day); err != nil {
			if errors.Is(err, errCrash) {
				crashed = true
			}
			return err
		}
		return nil
	}

	if err := l.engine.Unload(ctx, sql, keysOf(inputs), staging, l.cfg.Format); err != nil {
		return res, fmt.Errorf("rewrite %s: %w", day, err)
	}
	if err := stop("unloaded"); err != nil {
		return res, err
	}
	outputs, staged, err := l.placeStaged(ctx, staging,
		func(i int) string {
			return fmt.Sprintf("%s%s%s-%d%s", PartitionPrefix(day), CompactedPrefix, run, i, l.extension())
		},
		func(planned []Object) error {
			m.Outputs = planned
			return l.putManifest(ctx, m)
		})
	if err != nil {
		return res, err
	}
	m.Outputs = outputs
	if err := stop("copied"); err != nil {
		return res, err
	}

	// The check: the new files hold exactly one row per kept event of the
	// inputs.
	outURIs := make([]string, len(outputs))
	for i, out := range outputs {
		outURIs[i] = l.store.URI(out.Key)
	}
	vsql, err := d.verifySQL(day, uris, outURIs, o.hashes)
	if err != nil {
		return res, err
	}
	vres, err := l.engine.Query(ctx, vsql, append(keysOf(inputs), keysOf(outputs)...))
	if err != nil {
		return res, fmt.Errorf("check the rewrite of %s: %w", day, err)
	}
	var counts [6]int64
	for i := range counts {
		if counts[i], err = intCell(vres, 0, i); err != nil {
			return res, fmt.Errorf("check the rewrite of %s: %w", day, err)
		}
	}
	rows := RowCounts{Input: counts[0], Distinct: counts[1], Suppressed: counts[2], Written: counts[3]}
	outDistinct, union := counts[4], counts[5]
	m.Rows, res.Rows = rows, rows
	if want := rows.Distinct - rows.Suppressed; rows.Written != want || outDistinct != rows.Written || union != want {
		return res, fmt.Errorf("%s: %w: %d rows written, %d distinct among them, %d in the union with the inputs; want %d (%d distinct events in %d input rows, %d suppressed)",
			day, ErrCheckFailed, rows.Written, outDistinct, union, want, rows.Distinct, rows.Input, rows.Suppressed)
	}
	if err := stop("verified"); err != nil {
		return res, err
	}

	swapped = true
	if err := l.store.Delete(ctx, keysOf(inputs)); err != nil {
		return res, fmt.Errorf("delete the objects compacted into %s: %w", day, err)
	}
	if err := stop("deleted"); err != nil {
		return res, err
	}
	if o.purge || rows.Suppressed > 0 {
		n, err := l.purgeNoncurrent(ctx, day)
		res.VersionsPurged, m.VersionsPurged = n, n
		if err != nil {
			return res, err
		}
	}
	m.State, m.FinishedAt = StateDone, l.cfg.Now().UTC()
	if err := l.putManifest(ctx, m); err != nil {
		return res, err
	}
	if len(staged) > 0 {
		if err := l.store.Delete(ctx, keysOf(staged)); err != nil {
			return res, err
		}
	}
	res.OutputObjects, res.OutputBytes = len(outputs), sumSize(outputs)
	res.Took = l.cfg.Now().Sub(start)
	l.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "lake rewrite", slog.String("op", o.op), slog.String("day", day), slog.String("run", run),
		slog.Int("input_objects", res.InputObjects), slog.Int64("input_bytes", res.InputBytes),
		slog.Int("output_objects", res.OutputObjects), slog.Int64("output_bytes", res.OutputBytes),
		slog.Int64("input_rows", rows.Input), slog.Int64("duplicates", res.Duplicates()), slog.Int64("suppressed", rows.Suppressed),
		slog.Int64("written", rows.Written), slog.Int("versions_purged", res.VersionsPurged), slog.Duration("took", res.Took))
	return res, nil
}

// rewriteAll rewrites a day in as many passes as its objects need
// (MaxRewriteInputs each), and returns their sum.
func (l *Lake) rewriteAll(ctx context.Context, day string, o rewriteOpts) (DayResult, error) {
	var total DayResult
	for {
		r, err := l.rewriteDay(ctx, day, o)
		if err != nil {
			if total.Passes > 0 {
				total.add(r)
				return total, err
			}
			return r, err
		}
		if r.Skipped != "" && total.Passes > 0 {
			return total, nil
		}
		total.add(r)
		if r.left == 0 || r.Skipped != "" {
			return total, nil
		}
		o.force = true // the next pass reads this pass's files with the rest
	}
}

// purgeNoncurrent removes every noncurrent version and delete marker of a
// day's partition for good; current objects stay.
func (l *Lake) purgeNoncurrent(ctx context.Context, day string) (int, error) {
	if !l.store.Versioned() {
		return 0, nil
	}
	vs, err := l.store.Versions(ctx, PartitionPrefix(day))
	if err != nil {
		return 0, err
	}
	vs = slices.DeleteFunc(vs, func(v Version) bool { return v.IsLatest && !v.DeleteMarker })
	if len(vs) == 0 {
		return 0, nil
	}
	if err := l.store.DeleteVersions(ctx, vs); err != nil {
		return 0, fmt.Errorf("purge the noncurrent versions of %s: %w", day, err)
	}
	return len(vs), nil
}

// cleanStaging removes what runs that died left in the staging prefix:
// the staging of every run that started more than the lock TTL ago (its
// lock has expired, so it no longer runs), by the time in its run ID.
func (l *Lake) cleanStaging(ctx context.Context) (int, error) {
	objs, err := l.store.List(ctx, stagingPrefix)
	if err != nil {
		return 0, err
	}
	cutoff := l.cfg.Now().Add(-l.cfg.LockTTL)
	var old []string
	for _, o := range objs {
		run, _, _ := strings.Cut(strings.TrimPrefix(o.Key, stagingPrefix), "/")
		stamp, _, _ := strings.Cut(run, "-")
		started, err := time.Parse("20060102T150405Z", stamp)
		if err != nil || started.Before(cutoff) {
			old = append(old, o.Key)
		}
	}
	if len(old) == 0 {
		return 0, nil
	}
	return len(old), l.store.Delete(ctx, old)
}

// placeStaged lists the files an engine wrote under staging, names each
// non-empty one (name(i)), hands the planned objects to record before any
// copy (so that the run's manifest lists what it is about to write, and a
// run that dies while copying leaves a record of it), then copies each into
// place. It returns the objects written (those written before a failure
// too, for the caller to delete) and the staged files it found.
func (l *Lake) placeStaged(ctx context.Context, staging string, name func(i int) string, record func(planned []Object) error) (outputs, staged []Object, err error) {
	all, err := l.store.List(ctx, staging)
	if err != nil {
		return nil, nil, err
	}
	staged = slices.DeleteFunc(slices.Clone(all), func(o Object) bool { return o.Size == 0 })
	planned := make([]Object, len(staged))
	for i, s := range staged {
		planned[i] = Object{Key: name(i), Size: s.Size}
	}
	if err := record(planned); err != nil {
		return nil, all, err
	}
	for i, s := range staged {
		obj, err := l.store.Copy(ctx, s.Key, planned[i].Key)
		if err != nil {
			return outputs, all, err
		}
		obj.Size = s.Size
		outputs = append(outputs, obj)
	}
	return outputs, all, nil
}
