package lake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/eventlake/eventlake/internal/backoff"
	"github.com/eventlake/eventlake/tracker"
)

// ForgetRequest names the actors to erase.
type ForgetRequest struct {
	// UserIDs are the users to forget, with every anonymous ID linked to
	// them (the identities view's first link, and the hot store's
	// links).
	UserIDs []string
	// AnonymousIDs are visitors to forget who may never have identified
	// (a cookie an individual proves is theirs).
	AnonymousIDs []string
	// Request identifies the erasure in the audit record and the
	// suppression list, e.g. a ticket number: letters, digits, '.', '_' and
	// '-', at most 64. Empty means a generated one. Running the same
	// request again resumes and completes it.
	Request string
}

// ForgetOptions tune Forget. The zero value means defaults.
type ForgetOptions struct {
	// Hot is the DynamoDB side; nil leaves the hot store alone (say so
	// explicitly: the operator command requires -no-hot-store for it).
	Hot *HotStore
	// Since limits the lake's search to partitions from this day
	// (YYYY-MM-DD); empty searches every partition.
	Since string
	// Settle is how long after adding the actors to the suppression list
	// Forget waits before its last sweep of the hot store, so that every
	// tracker and relay has reloaded the list (their refresh interval,
	// DefaultSuppressionRefresh); zero means no wait (tests, or when no
	// writer runs).
	Settle time.Duration
	// DryRun finds the linked anonymous IDs and what the lake and the hot
	// store hold, and changes nothing.
	DryRun bool
}

// ForgetResult is what an erasure did (or, with DryRun, would do).
type ForgetResult struct {
	Request string
	Run     string
	// Users and Anonymous count the actors forgotten: the request's, and
	// the anonymous IDs linked to its users.
	Users, Anonymous, Linked int
	// SuppressionAdded counts the entries new to the suppression list.
	SuppressionAdded int
	Hot              HotResult
	// Found are the lake's objects that held the actors' events, per day.
	Found map[string]int64
	// Days are the rewrites of the days that held them.
	Days []DayResult
	// Remaining counts the actors' events the lake still held at the end:
	// 0 unless a day failed.
	Remaining int64
	// Errors is what was removed from the lake's error output (ErrorsPrefix:
	// Firehose's error records, the relay's kept-aside records).
	Errors ErrorsScrub
	// Identities is the materialization of the identity links written
	// without the actors (the earlier ones deleted, their versions purged).
	Identities *IdentitiesResult
	// AuditKey is the audit record's key in the lake store.
	AuditKey string
}

// RowsRemoved counts the events the rewrites left out.
func (r *ForgetResult) RowsRemoved() int64 {
	var n int64
	for _, d := range r.Days {
		n += d.Rows.Suppressed
	}
	return n
}

var requestRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// ErrNotForgotten reports an erasure that found the actors' events in the
// lake after rewriting it (a day failed or was locked): run it again.
var ErrNotForgotten = errors.New("lake: the erasure is not complete")

// Audit is the record of one erasure run, stored at
// maintenance/audit/<request>/<run>.json. It holds hashes, never the IDs.
type Audit struct {
	Version    int       `json:"version"`
	Request    string    `json:"request"`
	Run        string    `json:"run"`
	State      string    `json:"state"` // started, rewriting, done, failed
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	DryRun     bool      `json:"dry_run,omitempty"`
	// Subjects are the hashes of the actors the request named; Linked
	// those of the anonymous IDs linked to its users.
	Subjects []string `json:"subjects"`
	Linked   []string `json:"linked"`
	// Suppression: entries added to maintenance/suppression.json.
	SuppressionAdded int `json:"suppression_added"`
	// HotStore: what was deleted from which tables.
	HotStore *AuditHot `json:"hot_store,omitempty"`
	// Lake: per day, the objects replaced, events removed, versions purged
	// and the manifest of the rewrite.
	Lake []AuditDay `json:"lake"`
	// ErrorOutput: what was removed from the lake's errors/ prefix.
	ErrorOutput *ErrorsScrub `json:"error_output,omitempty"`
	// Identities: the materialization of the identity links written
	// without the actors.
	Identities *IdentitiesResult `json:"identities,omitempty"`
	Remaining  int64             `json:"remaining"`
	Errors     []string          `json:"errors,omitempty"`
}

// AuditHot is the hot store's part of an audit record.
type AuditHot struct {
	EventsTable  string `json:"events_table"`
	SummaryTable string `json:"summary_table"`
	HotResult
}

// AuditDay is one day's part of an audit record.
type AuditDay struct {
	Day             string `json:"day"`
	EventsFound     int64  `json:"events_found"`
	ObjectsReplaced int    `json:"objects_replaced"`
	BytesReplaced   int64  `json:"bytes_replaced"`
	FilesWritten    int    `json:"files_written"`
	BytesWritten    int64  `json:"bytes_written"`
	EventsRemoved   int64  `json:"events_removed"`
	VersionsPurged  int    `json:"versions_purged"`
	Manifest        string `json:"manifest,omitempty"`
	Error           string `json:"error,omitempty"`
}

func auditKey(request, run string) string { return auditPrefix + request + "/" + run + ".json" }

func (l *Lake) putAudit(ctx context.Context, a *Audit) error {
	a.Version = 1
	body, err := json.MarshalIndent(a, "", " ")
	if err != nil {
		return err
	}
	if _, err := l.store.Put(ctx, auditKey(a.Request, a.Run), body, Condition{}); err != nil {
		return fmt.Errorf("write the audit record: %w", err)
	}
	return nil
}

// Audits returns the audit records of a request, oldest run first.
func (l *Lake) Audits(ctx context.Context, request string) ([]Audit, error) {
	if !requestRE.MatchString(request) {
		return nil, fmt.Errorf("lake: request %q: want letters, digits, . _ - (at most 64)", request)
	}
	objs, err := l.store.List(ctx, auditPrefix+request+"/")
	if err != nil {
		return nil, err
	}
	var out []Audit
	for _, o := range objs {
		body, _, err := l.store.Get(ctx, o.Key)
		if err != nil {
			return nil, err
		}
		var a Audit
		if err := json.Unmarshal(body, &a); err != nil {
			return nil, fmt.Errorf("audit record %s: %w", o.Key, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// Forget erases actors from the pipeline:
//
//  1. resolve the anonymous IDs linked to the users: the identities view
//     (first link wins), and the hot store's links (a visitor summary's
//     user, or, for an anonymous ID seen on the user's events that neither
//     the lake nor a summary links to anyone, the user);
//  2. add every actor to the suppression list, so the tracker, the
//     collector, the relay and every later rewrite drop their events from
//     now on (in-flight events included);
//  3. delete their partitions of the events table and their summary items;
//  4. find the lake's objects that hold their events ("$path") and rewrite
//     each day that holds some without them, purging the day's noncurrent
//     versions; then materialize the identity links again without them
//     (MaterializeIdentities, forced), delete the earlier materializations
//     and purge their versions;
//  5. after Settle, sweep the hot store again (events written before every
//     writer reloaded the list), remove their records from the lake's error
//     output (ErrorsPrefix: Firehose's error records and the relay's
//     kept-aside images, rewritten without them or deleted, their
//     noncurrent versions purged), and search the lake again: Remaining
//     must be 0;
//  6. write the audit record (hashes and counts, no IDs) at each phase.
//
// Every step is idempotent: running the same Request again resumes it. The
// error joins the days that failed; ErrNotForgotten when events remain.
func (l *Lake) Forget(ctx context.Context, req ForgetRequest, opts ForgetOptions) (*ForgetResult, error) {
	var bad []string
	if len(req.UserIDs)+len(req.AnonymousIDs) == 0 {
		bad = append(bad, "no user or anonymous ID")
	}
	for _, id := range append(slices.Clone(req.UserIDs), req.AnonymousIDs...) {
		if id == "" || len(id) > max(tracker.MaxUserIDBytes, tracker.MaxAnonymousIDBytes) {
			bad = append(bad, fmt.Sprintf("an ID of %d bytes (1..%d)", len(id), tracker.MaxUserIDBytes))
		}
	}
	if req.Request != "" && !requestRE.MatchString(req.Request) {
		bad = append(bad, fmt.Sprintf("request %q: want letters, digits, . _ - (at most 64)", req.Request))
	}
	if opts.Since != "" && !dayRE.MatchString(opts.Since) {
		bad = append(bad, fmt.Sprintf("since %q: want YYYY-MM-DD", opts.Since))
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("lake: forget: %s", strings.Join(bad, "; "))
	}
	run := l.newRunID()
	if req.Request == "" {
		req.Request = "forget-" + run
	}
	res := &ForgetResult{Request: req.Request, Run: run, Found: map[string]int64{}}
	audit := &Audit{Request: req.Request, Run: run, State: "started", StartedAt: l.cfg.Now().UTC(), DryRun: opts.DryRun}
	res.AuditKey = auditKey(req.Request, run)
	report := func(msg string) { l.progress(Progress{Op: "forget", Message: msg}) }

	var userHashes, subjectHashes []string
	for _, u := range req.UserIDs {
		userHashes = append(userHashes, UserHash(u))
	}
	subjectHashes = append(subjectHashes, userHashes...)
	for _, a := range req.AnonymousIDs {
		subjectHashes = append(subjectHashes, AnonymousHash(a))
	}
	audit.Subjects = sortedUnique(subjectHashes)
	res.Users, res.Anonymous = len(req.UserIDs), len(req.AnonymousIDs)
	if !opts.DryRun {
		if err := l.putAudit(ctx, audit); err != nil {
			return nil, err
		}
	}
	fail := func(err error) (*ForgetResult, error) {
		audit.State, audit.FinishedAt = "failed", l.cfg.Now().UTC()
		audit.Errors = append(audit.Errors, err.Error())
		if !opts.DryRun {
			_ = l.putAudit(context.WithoutCancel(ctx), audit)
		}
		return res, err
	}

	// 1. The anonymous IDs linked to the users.
	linked, err := l.linked(ctx, req.UserIDs, opts.Hot)
	if err != nil {
		return fail(err)
	}
	anon := sortedUnique(append(slices.Clone(req.AnonymousIDs), linked...))
	res.Linked = len(linked)
	var allHashes []string
	allHashes = append(allHashes, userHashes...)
	var linkedHashes []string
	for _, a := range linked {
		linkedHashes = append(linkedHashes, AnonymousHash(a))
	}
	for _, a := range anon {
		allHashes = append(allHashes, AnonymousHash(a))
	}
	allHashes = sortedUnique(allHashes)
	audit.Linked = sortedUnique(linkedHashes)
	report(fmt.Sprintf("%d users, %d anonymous IDs (%d linked to the users)", len(req.UserIDs), len(anon), len(linked)))

	// 2. Suppress them from now on.
	addedAt := l.cfg.Now().UTC()
	if !opts.DryRun {
		entries := make([]SuppressionEntry, len(allHashes))
		for i, h := range allHashes {
			entries[i] = SuppressionEntry{Hash: h, AddedAt: addedAt, Request: req.Request}
		}
		if res.SuppressionAdded, err = AddSuppression(ctx, l.store, entries); err != nil {
			return fail(err)
		}
		audit.SuppressionAdded = res.SuppressionAdded
		report(fmt.Sprintf("suppression list: %d entries added", res.SuppressionAdded))
	}

	// 3. The hot store.
	actors := make([]string, 0, len(req.UserIDs)+len(anon))
	for _, u := range req.UserIDs {
		actors = append(actors, userPrefix+u)
	}
	for _, a := range anon {
		actors = append(actors, anonymousPrefix+a)
	}
	sweep := func() error {
		if opts.Hot == nil || opts.DryRun {
			return nil
		}
		for _, a := range actors {
			r, err := opts.Hot.DeleteActor(ctx, a)
			res.Hot.EventsDeleted += r.EventsDeleted
			res.Hot.SummaryDeleted += r.SummaryDeleted
			if err != nil {
				return err
			}
		}
		ev, sum := opts.Hot.Tables()
		audit.HotStore = &AuditHot{EventsTable: ev, SummaryTable: sum, HotResult: res.Hot}
		return nil
	}
	if err := sweep(); err != nil {
		return fail(err)
	}
	if opts.Hot != nil {
		report(fmt.Sprintf("hot store: %d events and %d summary items deleted", res.Hot.EventsDeleted, res.Hot.SummaryDeleted))
	}

	// 4. The lake: the days that hold them, and those an earlier run of
	// this request did not finish.
	found, err := l.find(ctx, allHashes, opts.Since)
	if err != nil {
		return fail(err)
	}
	res.Found = found
	days := make([]string, 0, len(found))
	for d := range found {
		days = append(days, d)
	}
	earlier, err := l.Audits(ctx, req.Request)
	if err != nil {
		return fail(err)
	}
	for _, a := range earlier {
		for _, d := range a.Lake {
			if d.Error != "" || a.State != "done" {
				days = append(days, d.Day)
			}
		}
	}
	days = sortedUnique(days)
	for _, d := range days {
		audit.Lake = append(audit.Lake, AuditDay{Day: d, EventsFound: found[d]})
	}
	report(fmt.Sprintf("lake: %d events in %d days", sumValues(found), len(days)))
	if opts.DryRun {
		list, err := l.scrubList(ctx, allHashes)
		if err != nil {
			return fail(err)
		}
		if res.Errors, err = l.scrubErrors(ctx, list, true); err != nil {
			return fail(err)
		}
		report(fmt.Sprintf("error output: %d events in %d objects", res.Errors.Events, res.Errors.Objects))
		return res, nil
	}
	audit.State = "rewriting"
	if err := l.putAudit(ctx, audit); err != nil {
		return fail(err)
	}
	hashes, err := l.suppressionHashes(ctx, allHashes)
	if err != nil {
		return fail(err)
	}
	var errs []error
	for i, day := range days {
		dr, err := l.rewriteAll(ctx, day, rewriteOpts{op: "forget", request: req.Request, hashes: hashes, force: true, purge: true})
		ad := &audit.Lake[i]
		ad.ObjectsReplaced, ad.BytesReplaced = dr.InputObjects, dr.InputBytes
		ad.FilesWritten, ad.BytesWritten = dr.OutputObjects, dr.OutputBytes
		ad.EventsRemoved, ad.VersionsPurged = dr.Rows.Suppressed, dr.VersionsPurged
		if dr.Run != "" && dr.Skipped == "" {
			ad.Manifest = manifestKey(day, dr.Run)
		}
		if err != nil {
			ad.Error = err.Error()
			errs = append(errs, err)
		} else {
			res.Days = append(res.Days, dr)
		}
		l.progress(Progress{Op: "forget", Day: day, N: i + 1, Of: len(days), Result: &dr, Err: err})
	}
	// The identity links: a materialization holds the forgotten users'
	// links (and, once their events are gone, another user may own a
	// visitor first); the old ones go for good.
	idr, err := l.MaterializeIdentities(ctx, IdentitiesOptions{Force: true, PurgeVersions: true, must: allHashes})
	res.Identities, audit.Identities = idr, idr
	if err != nil {
		errs = append(errs, fmt.Errorf("identities: %w", err))
	}
	report(identitiesMessage(idr, err))
	_ = l.putAudit(ctx, audit)

	// 5. Once every writer has the list, the last sweep and the check.
	if wait := addedAt.Add(opts.Settle).Sub(l.cfg.Now()); wait > 0 {
		report(fmt.Sprintf("waiting %s for every writer to reload the suppression list", wait.Round(time.Second)))
		if err := backoff.Sleep(ctx, wait); err != nil {
			return fail(err)
		}
	}
	if err := sweep(); err != nil {
		return fail(err)
	}
	list, err := l.scrubList(ctx, allHashes)
	if err != nil {
		return fail(err)
	}
	res.Errors, err = l.scrubErrors(ctx, list, false)
	audit.ErrorOutput = &res.Errors
	if err != nil {
		errs = append(errs, err)
	}
	report(fmt.Sprintf("error output: %d events removed (%d objects rewritten, %d deleted, %d versions purged)",
		res.Errors.Events, res.Errors.Rewritten, res.Errors.Deleted, res.Errors.VersionsPurged))
	after, err := l.find(ctx, allHashes, opts.Since)
	if err != nil {
		return fail(err)
	}
	res.Remaining = sumValues(after)
	audit.Remaining = res.Remaining
	if res.Remaining > 0 {
		errs = append(errs, fmt.Errorf("%w: %d events remain in %d days", ErrNotForgotten, res.Remaining, len(after)))
	}
	if err := errors.Join(errs...); err != nil {
		return fail(err)
	}
	audit.State, audit.FinishedAt = "done", l.cfg.Now().UTC()
	if err := l.putAudit(ctx, audit); err != nil {
		return res, err
	}
	l.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "lake erasure", slog.String("request", req.Request), slog.String("run", run),
		slog.Int("actors", len(actors)), slog.Int("linked", len(linked)), slog.Int("hot_events_deleted", res.Hot.EventsDeleted),
		slog.Int("days", len(res.Days)), slog.Int64("events_removed", res.RowsRemoved()), slog.Int("error_output_events_removed", res.Errors.Events))
	return res, nil
}

// scrubList is the suppression list the error output is scrubbed with:
// every actor on the stored list (earlier erasures' too, whose late records
// may have arrived since) and those of must.
func (l *Lake) scrubList(ctx context.Context, must []string) (*Suppression, error) {
	stored, _, err := LoadSuppression(ctx, l.store)
	if err != nil {
		return nil, err
	}
	entries := stored.Entries()
	for _, h := range must {
		entries = append(entries, SuppressionEntry{Hash: h})
	}
	return NewSuppression(entries)
}

// linked resolves the anonymous IDs linked to users (see Forget).
func (l *Lake) linked(ctx context.Context, users []string, hot *HotStore) ([]string, error) {
	if len(users) == 0 {
		return nil, nil
	}
	isUser := map[string]bool{}
	var userHashes []string
	for _, u := range users {
		isUser[u] = true
		userHashes = append(userHashes, UserHash(u))
	}
	// The hot store's candidates: anonymous IDs seen with the users.
	candidates := map[string]string{} // anonymous ID -> the user it was seen with
	if hot != nil {
		for _, u := range users {
			cs, err := hot.candidates(ctx, u)
			if err != nil {
				return nil, err
			}
			for _, c := range cs {
				candidates[c] = u
			}
		}
	}
	var anonHashes []string
	for c := range candidates {
		anonHashes = append(anonHashes, AnonymousHash(c))
	}
	sql, err := l.engine.Dialect().linkedSQL(userHashes, sortedUnique(anonHashes))
	if err != nil {
		return nil, err
	}
	rows, err := l.engine.Query(ctx, sql, nil)
	if err != nil {
		return nil, fmt.Errorf("find the anonymous IDs linked to the users: %w", err)
	}
	owner := map[string]string{} // the lake's first links
	for _, r := range rows.Rows {
		if len(r) >= 2 && r[0].Valid && r[1].Valid {
			owner[r[0].String] = r[1].String
		}
	}
	var out []string
	for a, u := range owner {
		if isUser[u] {
			out = append(out, a)
		}
	}
	for c := range candidates {
		if _, ok := owner[c]; ok {
			continue // the lake knows its first link
		}
		link, has, err := hot.visitorLink(ctx, c)
		if err != nil {
			return nil, err
		}
		if !has || link == "" || isUser[link] {
			out = append(out, c)
		}
	}
	return sortedUnique(out), nil
}

// find returns, per day, how many events of the actors of hashes the
// lake holds.
func (l *Lake) find(ctx context.Context, hashes []string, since string) (map[string]int64, error) {
	out := map[string]int64{}
	for len(hashes) > 0 {
		n := min(len(hashes), MaxSQLHashes)
		sql, err := l.engine.Dialect().findSQL(hashes[:n], since)
		if err != nil {
			return nil, err
		}
		res, err := l.engine.Query(ctx, sql, nil)
		if err != nil {
			return nil, fmt.Errorf("find the actors' events in the lake: %w", err)
		}
		for i, r := range res.Rows {
			if len(r) < 3 || !r[1].Valid {
				continue
			}
			c, err := intCell(res, i, 2)
			if err != nil {
				return nil, err
			}
			out[r[1].String] += c
		}
		hashes = hashes[n:]
	}
	return out, nil
}

func sortedUnique(ss []string) []string {
	out := slices.Clone(ss)
	slices.Sort(out)
	return slices.Compact(out)
}

func sumValues(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}
