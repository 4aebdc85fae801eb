package lake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/tracker"
)

// IdentitiesLagDays is how many days before today (UTC) the watermark of a
// materialization of the identity links lies by default: with 1, the links
// of every day before yesterday are materialized, and the identities view
// reads the partitions of yesterday and today (which still receive late
// deliveries: Firehose delivers up to 1.5 buffer intervals late) with the
// question's own.
const IdentitiesLagDays = 1

// Keys of the identity links' materializations (see IdentitiesState).
const (
	identitiesRunsPrefix = "maintenance/identities/runs/"
	identitiesLockKey    = locksPrefix + "identities"
)

// ErrLinksCheckFailed reports a materialization of the identity links whose
// files do not hold one row per anonymous ID, or hold a link of a
// suppressed actor. The identities view was not switched to it; its files
// were removed again.
var ErrLinksCheckFailed = errors.New("lake: the materialized identity links failed their check")

// IdentitiesState describes a materialization of the identity links: the
// first link of every anonymous ID among the events of the days before its
// watermark, written as Parquet under athena.LinksPrefix + "run=<run>/".
// The current one is stored at athena.LinksPointerKey (what a local lake's
// query runner defines the identities view from; on AWS the view in the
// Glue catalog names the run, and the document is the maintenance's record),
// and every run's at maintenance/identities/runs/<run>.json.
type IdentitiesState struct {
	athena.Links
	Version int `json:"version"`
	// State is StateCopying while the files are written and checked,
	// StateDone once the identities view reads them, StateAborted when the
	// run failed before that.
	State string `json:"state"`
	// Rows is the number of anonymous IDs linked.
	Rows  int64    `json:"rows"`
	Files []Object `json:"files"`
	// Days fingerprints the objects of every day before the watermark as
	// the run listed them before reading: a day whose objects differ later
	// (late objects, a rewrite, an expiry) makes the materialization stale.
	Days       map[string]string `json:"days"`
	StartedAt  time.Time         `json:"started_at"`
	FinishedAt time.Time         `json:"finished_at,omitzero"`
	Error      string            `json:"error,omitempty"`
}

// IdentitiesResult is what MaterializeIdentities did.
type IdentitiesResult struct {
	// Run and Watermark name the materialization the identities view reads
	// afterwards (the current one when Skipped).
	Run       string `json:"run,omitempty"`
	Watermark string `json:"watermark"`
	// Skipped says why nothing was written: "current" (the materialization
	// is up to date), "empty" (no day before the watermark, none yet),
	// "dry run", "deadline" (a scheduled run left it for the next one).
	Skipped string `json:"skipped,omitempty"`
	// Stale lists the days before the watermark whose objects changed since
	// the current materialization read them (with a new watermark, also the
	// days it adds).
	Stale []string `json:"stale,omitempty"`
	// IncrementalFrom is the previous materialization this one was built
	// on (its links stood for the days before its watermark, and only the
	// days from there were read); empty when every day before the
	// watermark was read.
	IncrementalFrom string `json:"incremental_from,omitempty"`
	// Rows are the anonymous IDs linked, Files and Bytes what was written.
	Rows  int64 `json:"rows"`
	Files int   `json:"files"`
	Bytes int64 `json:"bytes"`
	// RunsRemoved counts the earlier materializations deleted after the
	// switch; VersionsPurged their noncurrent versions removed for good (an
	// erasure; an expiry with PurgeVersions).
	RunsRemoved    int           `json:"runs_removed,omitempty"`
	VersionsPurged int           `json:"versions_purged,omitempty"`
	Took           time.Duration `json:"took"`
}

// String describes the result in a line, for progress reports.
func (r *IdentitiesResult) String() string {
	if r == nil {
		return "identities: not materialized"
	}
	switch r.Skipped {
	case "":
		how := "every day read"
		if r.IncrementalFrom != "" {
			how = "incremental on " + r.IncrementalFrom
		}
		return fmt.Sprintf("identities: %d links before %s materialized (run %s, %d files, %s; %d stale days; %s)",
			r.Rows, r.Watermark, r.Run, r.Files, athena.FormatBytes(r.Bytes), len(r.Stale), how)
	case "current":
		return fmt.Sprintf("identities: the materialization %s (%d links before %s) is current", r.Run, r.Rows, r.Watermark)
	case "dry run":
		if r.Run == "" {
			return fmt.Sprintf("identities: would materialize the links before %s", r.Watermark)
		}
		return fmt.Sprintf("identities: would materialize the links before %s (%d stale days since %s)", r.Watermark, len(r.Stale), r.Run)
	default:
		return fmt.Sprintf("identities: not materialized (%s)", r.Skipped)
	}
}

func identitiesMessage(r *IdentitiesResult, err error) string {
	if err != nil {
		return "identities: FAILED: " + err.Error()
	}
	return r.String()
}

// IdentitiesOptions tune MaterializeIdentities. The zero value materializes
// up to the default watermark when the current materialization is stale.
type IdentitiesOptions struct {
	// Watermark is the first day (YYYY-MM-DD) whose events are not
	// materialized: the identities view reads the partitions from it on.
	// Default today (UTC) minus IdentitiesLagDays.
	Watermark string
	// Force writes a new materialization even when the current one is up
	// to date (an erasure and an expiry remove links, which the day
	// fingerprints may not show), reading every day before the watermark.
	Force bool
	// Full reads every day before the watermark even when the current
	// materialization could stand for the days before its own watermark
	// (none of them changed since): a check of the incremental runs.
	Full bool
	// DryRun reports whether a materialization is due and changes nothing.
	DryRun bool
	// PurgeVersions removes the noncurrent versions of every earlier
	// materialization for good (an erasure does: they hold the forgotten
	// actors' links).
	PurgeVersions bool

	// must are hashes left out whatever the stored list says (an erasure's
	// own actors).
	must []string
}

// MaterializeIdentities writes the identity links of the lake's history up
// to a watermark and switches the identities view to them, so that a query
// resolves people from the materialized links plus the partitions from the
// watermark on, instead of the ID columns of every partition:
//
//  1. list the events; a materialization is due when there is none yet, the
//     watermark moved, a day before it changed since the current one read
//     it (a late object, a rewrite, an expiry: the day's objects are
//     fingerprinted), or Force;
//  2. lock the identities (maintenance/locks/identities; ErrLocked when
//     another run holds it), read the suppression list and the current
//     materialization again;
//  3. UNLOAD/COPY the first link per anonymous ID of the events before the
//     watermark, without suppressed actors' links (sql/identities.sql), into
//     a staging prefix of its own. When the watermark moved forward and no
//     day before the current materialization's watermark changed (the
//     nightly case), the current links stand for those days and only the
//     days from its watermark on are read (incremental; not with Force or
//     Full);
//  4. record the run (state copying), copy the staged files to
//     identities/run=<run>/links-<n>.parquet;
//  5. check them (sql/links_check.sql: one row per anonymous ID, no
//     suppressed actor); on a mismatch delete them (ErrLinksCheckFailed);
//  6. switch: the engine replaces the identities view (Athena: CREATE OR
//     REPLACE VIEW in the workgroup; DuckDB: nothing, the pointer is the
//     switch), then the pointer athena.LinksPointerKey is written;
//  7. delete every other materialization (with PurgeVersions, their
//     noncurrent versions too) and the staging files, unlock.
//
// Until step 6 the view reads the previous materialization (or every
// partition), which stays right; a run that dies leaves the view as it was
// and its files for the next run to delete. A query that started before the
// switch and opens a deleted file after it fails; run it again.
func (l *Lake) MaterializeIdentities(ctx context.Context, opts IdentitiesOptions) (res *IdentitiesResult, err error) {
	start := l.cfg.Now()
	w := opts.Watermark
	if w == "" {
		w = l.today().AddDate(0, 0, -IdentitiesLagDays).Format(tracker.DateLayout)
	}
	if _, err := time.Parse(tracker.DateLayout, w); err != nil {
		return nil, fmt.Errorf("lake: identities watermark %q: want YYYY-MM-DD", w)
	}
	res = &IdentitiesResult{Watermark: w}
	objs, err := l.store.List(ctx, eventsPrefix)
	if err != nil {
		return res, err
	}
	days := dayFingerprints(objs, w)
	cur, err := l.Identities(ctx)
	if err != nil {
		return res, err
	}
	if cur != nil {
		res.Run, res.Rows = cur.Run, cur.Rows
		for d, fp := range days {
			if cur.Days[d] != fp {
				res.Stale = append(res.Stale, d)
			}
		}
		for d := range cur.Days {
			if _, ok := days[d]; !ok {
				res.Stale = append(res.Stale, d)
			}
		}
		slices.Sort(res.Stale)
	}
	switch {
	case cur == nil && len(days) == 0 && !opts.Force:
		res.Skipped = "empty"
		return res, nil
	case cur != nil && cur.Watermark == w && len(res.Stale) == 0 && !opts.Force:
		res.Skipped = "current"
		return res, nil
	case opts.DryRun:
		res.Skipped = "dry run"
		return res, nil
	}
	res.Run, res.Rows = "", 0

	run := l.newRunID()
	release, err := l.lockObject(ctx, identitiesLockKey, "identities", run, "identities")
	if err != nil {
		return res, err
	}
	crashed := false
	defer func() {
		if !crashed {
			release()
		}
	}()
	// Read after taking the lock: a run that read an older list and still
	// holds the lock (an erasure began meanwhile) publishes before this one.
	hashes, err := l.suppressionHashes(ctx, opts.must)
	if err != nil {
		return res, err
	}
	// The incremental form builds on the current materialization's files,
	// which only a run holding the lock deletes: read it again under the
	// lock, and build on it only if it is the one whose days were compared.
	var prev *athena.Links
	if cur != nil && !opts.Force && !opts.Full && cur.Watermark < w && staleBefore(res.Stale, cur.Watermark) == 0 {
		now, err := l.Identities(ctx)
		if err != nil {
			return res, err
		}
		if now != nil && now.Run == cur.Run && now.State == StateDone {
			prev = &now.Links
			res.IncrementalFrom = now.Run
		}
	}
	d := l.engine.Dialect()
	sql, err := d.identitiesSQL(w, hashes, prev)
	if err != nil {
		return res, err
	}
	state := &IdentitiesState{Links: athena.Links{Run: run, Watermark: w}, State: StateCopying, Days: days, StartedAt: start.UTC()}
	staging := stagingPrefix + run + "/"
	runPrefix := athena.LinksPrefix + athena.LinksPartition + "=" + run + "/"
	var outputs []Object
	published := false
	defer func() {
		if err == nil || crashed {
			return
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if !published {
			// Whatever the run's folder holds: no view names it.
			if objs, lerr := l.store.List(cctx, runPrefix); lerr == nil && len(objs) > 0 {
				_ = l.store.Delete(cctx, keysOf(objs))
			}
			state.State = StateAborted
		}
		state.Error, state.FinishedAt = err.Error(), l.cfg.Now().UTC()
		_ = l.putIdentitiesRun(cctx, state)
		if staged, lerr := l.store.List(cctx, staging); lerr == nil && len(staged) > 0 {
			_ = l.store.Delete(cctx, keysOf(staged))
		}
		l.cfg.Logger.LogAttrs(ctx, slog.LevelError, "lake identities failed", slog.String("run", run), slog.String("watermark", w),
			slog.Bool("published", published), slog.String("error", err.Error()))
	}()
	stop := func(step string) error {
		if err := l.step(step, "identities"); err != nil {
			if errors.Is(err, errCrash) {
				crashed = true
			}
			return err
		}
		return nil
	}

	if err := l.engine.Unload(ctx, sql, nil, staging, athena.FormatParquet); err != nil {
		return res, fmt.Errorf("materialize the identity links: %w", err)
	}
	if err := stop("links-unloaded"); err != nil {
		return res, err
	}
	outputs, staged, err := l.placeStaged(ctx, staging,
		func(i int) string { return fmt.Sprintf("%slinks-%d.parquet", runPrefix, i) },
		func(planned []Object) error {
			state.Files = planned
			return l.putIdentitiesRun(ctx, state)
		})
	if err != nil {
		return res, err
	}
	state.Files = outputs
	if err := stop("links-copied"); err != nil {
		return res, err
	}

	csql, err := d.linksCheckSQL(run, hashes)
	if err != nil {
		return res, err
	}
	cres, err := l.engine.Query(ctx, csql, nil)
	if err != nil {
		return res, fmt.Errorf("check the identity links %s: %w", run, err)
	}
	var counts [3]int64
	for i := range counts {
		if counts[i], err = intCell(cres, 0, i); err != nil {
			return res, fmt.Errorf("check the identity links %s: %w", run, err)
		}
	}
	if counts[0] != counts[1] || counts[2] != 0 {
		return res, fmt.Errorf("%w: %d links for %d anonymous IDs, %d of suppressed actors", ErrLinksCheckFailed, counts[0], counts[1], counts[2])
	}
	state.Rows = counts[0]

	if err := l.engine.PublishLinks(ctx, state.Links); err != nil {
		return res, fmt.Errorf("switch the identities view to %s: %w", run, err)
	}
	published = true
	if err := stop("links-published"); err != nil {
		return res, err
	}
	state.State, state.FinishedAt = StateDone, l.cfg.Now().UTC()
	if err := l.putIdentitiesRun(ctx, state); err != nil {
		return res, err
	}
	if err := l.putIdentities(ctx, state); err != nil {
		return res, err
	}
	res.Run, res.Rows, res.Files, res.Bytes = run, state.Rows, len(outputs), sumSize(outputs)

	// Every other materialization goes: the view no longer names it.
	all, err := l.store.List(ctx, athena.LinksPrefix)
	if err != nil {
		return res, err
	}
	var old []string
	runs := map[string]bool{}
	for _, o := range all {
		if !strings.HasPrefix(o.Key, runPrefix) {
			old = append(old, o.Key)
			r, _, _ := strings.Cut(strings.TrimPrefix(o.Key, athena.LinksPrefix), "/")
			runs[r] = true
		}
	}
	if len(old) > 0 {
		if err := l.store.Delete(ctx, old); err != nil {
			return res, fmt.Errorf("delete the earlier identity links: %w", err)
		}
	}
	res.RunsRemoved = len(runs)
	if opts.PurgeVersions && l.store.Versioned() {
		vs, err := l.store.Versions(ctx, athena.LinksPrefix)
		if err != nil {
			return res, err
		}
		vs = slices.DeleteFunc(vs, func(v Version) bool { return v.IsLatest && !v.DeleteMarker })
		if len(vs) > 0 {
			if err := l.store.DeleteVersions(ctx, vs); err != nil {
				return res, fmt.Errorf("purge the earlier identity links' versions: %w", err)
			}
		}
		res.VersionsPurged = len(vs)
	}
	if len(staged) > 0 {
		if err := l.store.Delete(ctx, keysOf(staged)); err != nil {
			return res, err
		}
	}
	res.Took = l.cfg.Now().Sub(start)
	l.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "lake identities", slog.String("run", run), slog.String("watermark", w),
		slog.Int64("links", res.Rows), slog.Int("files", res.Files), slog.Int64("bytes", res.Bytes),
		slog.Int("stale_days", len(res.Stale)), slog.Int("runs_removed", res.RunsRemoved),
		slog.Int("versions_purged", res.VersionsPurged), slog.Duration("took", res.Took))
	return res, nil
}

// Identities returns the current materialization of the identity links,
// nil when there is none (the identities view reads every partition).
func (l *Lake) Identities(ctx context.Context) (*IdentitiesState, error) {
	body, _, err := l.store.Get(ctx, athena.LinksPointerKey)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the identity links pointer: %w", err)
	}
	var s IdentitiesState
	if err := json.Unmarshal(body, &s); err != nil {
		return nil, fmt.Errorf("the identity links pointer %s: %w", athena.LinksPointerKey, err)
	}
	if err := s.Check(); err != nil {
		return nil, fmt.Errorf("the identity links pointer %s: %w", athena.LinksPointerKey, err)
	}
	return &s, nil
}

func (l *Lake) putIdentitiesRun(ctx context.Context, s *IdentitiesState) error {
	return l.putJSON(ctx, identitiesRunsPrefix+s.Run+".json", s)
}

func (l *Lake) putIdentities(ctx context.Context, s *IdentitiesState) error {
	return l.putJSON(ctx, athena.LinksPointerKey, s)
}

func (l *Lake) putJSON(ctx context.Context, key string, s *IdentitiesState) error {
	s.Version = 1
	body, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return err
	}
	if _, err := l.store.Put(ctx, key, body, Condition{}); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}

// dayFingerprints fingerprints the objects of every day before watermark:
// the SHA-256 of their keys, sizes and ETags.
func dayFingerprints(objs []Object, watermark string) map[string]string {
	byDay := map[string][]Object{}
	for _, o := range objs {
		if day, ok := DayOf(o.Key); ok && day < watermark {
			byDay[day] = append(byDay[day], o)
		}
	}
	out := make(map[string]string, len(byDay))
	for _, day := range slices.Sorted(maps.Keys(byDay)) {
		os := byDay[day]
		slices.SortFunc(os, func(a, b Object) int { return strings.Compare(a.Key, b.Key) })
		h := sha256.New()
		for _, o := range os {
			fmt.Fprintf(h, "%s\t%d\t%s\n", o.Key, o.Size, o.ETag)
		}
		out[day] = hex.EncodeToString(h.Sum(nil)[:16])
	}
	return out
}

// staleBefore counts the stale days before day.
func staleBefore(stale []string, day string) int {
	n := 0
	for _, d := range stale {
		if d < day {
			n++
		}
	}
	return n
}
