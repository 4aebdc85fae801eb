package lake_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/athena/local"
	"github.com/eventlake/eventlake/lake"
	"github.com/eventlake/eventlake/lake/laketest"
	"github.com/eventlake/eventlake/tracker"
)

// identitiesSide is one side of the identities tests: a local lake folder
// on DuckDB, or S3 and Athena.
type identitiesSide struct {
	lake  *lake.Lake
	store lake.Store
	// put writes objects of events under the keys (plus extension).
	put func(t *testing.T, objects map[string][]laketest.Event)
	// answers runs the query library where the side's queries run.
	answers func(t *testing.T, start, end time.Time) map[string][]string
	// statements counts the engine's statements (Athena), -1 locally.
	statements func() int
	// query runs one SELECT where the side's queries run, its first
	// column's values as text.
	query func(t *testing.T, sql string) []string
}

// firstColumn renders a result's first column.
func firstColumn(res *athena.Result) []string {
	var out []string
	for _, r := range res.Rows {
		out = append(out, r[0].String)
	}
	return out
}

func localSide(t *testing.T) *identitiesSide {
	ll := newLocalLake(t, lake.Config{})
	return &identitiesSide{
		lake: ll.lake, store: ll.store,
		put: func(t *testing.T, objects map[string][]laketest.Event) {
			for key, evs := range objects {
				if _, err := laketest.WriteObject(context.Background(), ll.root, key, evs, athena.FormatParquet); err != nil {
					t.Fatal(err)
				}
			}
		},
		answers:    func(t *testing.T, start, end time.Time) map[string][]string { return answers(t, ll.root, start, end) },
		statements: func() int { return -1 },
		query: func(t *testing.T, sql string) []string {
			t.Helper()
			db, err := local.Open(context.Background(), local.Config{Root: ll.root, Threads: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			res, err := db.Query(context.Background(), sql)
			if err != nil {
				t.Fatal(err)
			}
			return firstColumn(res)
		},
	}
}

func athenaSide(t *testing.T) *identitiesSide {
	a := newAWSLake(t, lake.Config{})
	return &identitiesSide{
		lake: a.lake, store: a.s3.Store,
		put: func(t *testing.T, objects map[string][]laketest.Event) {
			root := t.TempDir()
			for key, evs := range objects {
				if _, err := laketest.WriteObject(context.Background(), root, key, evs, athena.FormatParquet); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := a.s3.PutFolder(context.Background(), root); err != nil {
				t.Fatal(err)
			}
		},
		answers: func(t *testing.T, start, end time.Time) map[string][]string {
			return answersOf(t, a.runner, start, end)
		},
		statements: func() int { return len(a.athena.Statements()) },
		query: func(t *testing.T, sql string) []string {
			t.Helper()
			res, err := a.runner.Execute(context.Background(), sql, nil)
			if err != nil {
				t.Fatal(err)
			}
			return firstColumn(res)
		},
	}
}

// TestMaterializeIdentities follows a lake's identity links through its
// maintenance, on DuckDB and on (the fake) Athena over S3, and checks after
// every step that every query of the library answers exactly as over a lake
// that never materialized anything (the identities view reading every
// partition): the first materialization (by the daily compaction), a
// re-run (nothing to do), links older than the watermark arriving late (a
// visitor identified twice, the late link the first; a visitor identified
// only by the late object), which the next compaction finds (the day is
// stale), an erasure (links of the forgotten gone, earlier materializations
// and their versions too) and an expiry (the dropped days' links gone).
func TestMaterializeIdentities(t *testing.T) {
	for name, newSide := range map[string]func(*testing.T) *identitiesSide{"duckdb": localSide, "athena": athenaSide} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := newSide(t)
			const days = 10
			start := testEnd.AddDate(0, 0, -(days - 1))
			watermark := testEnd.Format(tracker.DateLayout) // the lake's clock is testEnd + 36h: yesterday
			events := laketest.Generate(laketest.Config{End: testEnd, Days: days, Users: 5, Visitors: 8, Seed: 7})
			objects := map[string][]laketest.Event{}
			for i, e := range laketest.Deliveries(events, 0.05, 4) {
				key := laketest.ObjectKey(e.Day(), "eventlake-1-"+e.Day()+"-"+string(rune('a'+i%4)))
				objects[key] = append(objects[key], e)
			}
			s.put(t, objects)
			check := func(what string, events []laketest.Event) {
				t.Helper()
				sameAnswers(t, what, s.answers(t, start, testEnd), answers(t, referenceLake(t, events), start, testEnd))
			}
			state := func() *lake.IdentitiesState {
				t.Helper()
				st, err := s.lake.Identities(ctx)
				if err != nil {
					t.Fatal(err)
				}
				return st
			}
			if state() != nil {
				t.Fatal("a materialization before any run")
			}

			// 1. The daily compaction materializes the links of the days
			// before yesterday.
			res, err := s.lake.Compact(ctx, lake.CompactOptions{})
			if err != nil {
				t.Fatal(err)
			}
			id := res.Identities
			if id == nil || id.Skipped != "" || id.Watermark != watermark || id.Rows == 0 || id.Files != 1 {
				t.Fatalf("identities %+v", id)
			}
			st := state()
			if st == nil || st.Run != id.Run || st.Watermark != watermark || st.State != lake.StateDone || st.Rows != id.Rows || len(st.Days) != days-1 {
				t.Fatalf("pointer %+v", st)
			}
			if files, _ := s.store.List(ctx, athena.LinksPrefix); len(files) != 1 || files[0].Key != "identities/run="+id.Run+"/links-0.parquet" {
				t.Errorf("identity links %v", keysOf(files))
			}
			if staged, _ := s.store.List(ctx, "maintenance/staging/"); len(staged) != 0 {
				t.Errorf("staging left: %v", keysOf(staged))
			}
			check("materialized", events)

			// 2. Nothing changed: nothing to do, no statement.
			before := s.statements()
			again, err := s.lake.MaterializeIdentities(ctx, lake.IdentitiesOptions{})
			if err != nil || again.Skipped != "current" || again.Run != id.Run || s.statements() != before {
				t.Errorf("re-run: %+v %v, %d statements", again, err, s.statements()-before)
			}

			// 3. Links older than the watermark arrive late.
			lateDay := testEnd.AddDate(0, 0, -6).Format(tracker.DateLayout)
			firstLink := map[string]laketest.Event{}
			for _, e := range events {
				if e.UserID != "" && e.AnonymousID != "" {
					if f, ok := firstLink[e.AnonymousID]; !ok || e.EventAt+e.EventID < f.EventAt+f.EventID {
						firstLink[e.AnonymousID] = e
					}
				}
			}
			var twice, once string // identified after lateDay; never identified
			for _, e := range events {
				if strings.HasPrefix(e.AnonymousID, "v-") {
					f, ok := firstLink[e.AnonymousID]
					if ok && f.Day() > lateDay && twice == "" {
						twice = e.AnonymousID
					}
					if !ok && once == "" {
						once = e.AnonymousID
					}
				}
			}
			if twice == "" || once == "" {
				t.Fatalf("no visitor to identify late: %q %q", twice, once)
			}
			late := []laketest.Event{
				{UserID: "u0003", AnonymousID: twice, EventAt: lateDay + "T08:00:00.000Z", EventID: "late-1", EventType: tracker.TypeIdentify},
				{UserID: "u0002", AnonymousID: once, EventAt: lateDay + "T08:30:00.000Z", EventID: "late-2", EventType: tracker.TypeIdentify},
			}
			s.put(t, map[string][]laketest.Event{laketest.ObjectKey(lateDay, "late-delivery"): late})
			withLate := append(slices.Clone(events), late...)
			dry, err := s.lake.MaterializeIdentities(ctx, lake.IdentitiesOptions{DryRun: true})
			if err != nil || dry.Skipped != "dry run" || !slices.Equal(dry.Stale, []string{lateDay}) {
				t.Errorf("dry run after the late object: %+v %v", dry, err)
			}
			res, err = s.lake.Compact(ctx, lake.CompactOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if id = res.Identities; id.Skipped != "" || id.Watermark != watermark || !slices.Equal(id.Stale, []string{lateDay}) || id.RunsRemoved != 1 {
				t.Fatalf("after the late object: %+v", id)
			}
			check("with late links", withLate)

			// 4. An erasure of the user the late link made the first owner
			// of the visitor identified twice.
			fres, err := s.lake.Forget(ctx, lake.ForgetRequest{UserIDs: []string{"u0003"}, Request: "TICKET-9"}, lake.ForgetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if fres.Identities == nil || fres.Identities.Skipped != "" || fres.Identities.RunsRemoved != 1 {
				t.Fatalf("erasure: identities %+v", fres.Identities)
			}
			anon := map[string]bool{"c-u0003": true, twice: true} // the linked anonymous IDs
			var kept []laketest.Event
			for _, e := range withLate {
				if e.UserID == "u0003" || (e.UserID == "" && anon[e.AnonymousID]) {
					continue
				}
				kept = append(kept, e)
			}
			check("after the erasure", kept)
			if files, _ := s.store.List(ctx, athena.LinksPrefix); len(files) != 1 || !strings.Contains(files[0].Key, fres.Identities.Run) {
				t.Errorf("identity links after the erasure: %v", keysOf(files))
			}
			vs, err := s.store.Versions(ctx, athena.LinksPrefix)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range vs {
				if !v.IsLatest || v.DeleteMarker {
					t.Errorf("a version of an earlier materialization is left: %+v", v)
				}
			}
			if s.store.Versioned() && fres.Identities.VersionsPurged == 0 {
				t.Errorf("no version purged: %+v", fres.Identities)
			}
			var audit lake.Audit
			body, _, err := s.store.Get(ctx, fres.AuditKey)
			if err != nil || json.Unmarshal(body, &audit) != nil || audit.Identities == nil || audit.Identities.Run != fres.Identities.Run {
				t.Errorf("audit record: %s %v", body, err)
			}

			// 5. An expiry: the days before the last five go, with their
			// links.
			eres, err := s.lake.Expire(ctx, lake.ExpireOptions{MaxAgeDays: 5, PurgeVersions: true})
			if err != nil {
				t.Fatal(err)
			}
			if eres.Identities == nil || eres.Identities.Skipped != "" || len(eres.Days) != days-4 {
				t.Fatalf("expiry: %d days, identities %+v", len(eres.Days), eres.Identities)
			}
			var recent []laketest.Event
			for _, e := range kept {
				if e.Day() >= eres.Before {
					recent = append(recent, e)
				}
			}
			// (Fewer days leave some queries without rows: compare them all.)
			got, want := s.answers(t, start, testEnd), answers(t, referenceLake(t, recent), start, testEnd)
			for q, w := range want {
				if !slices.Equal(got[q], w) {
					t.Errorf("after the expiry: %s answers %q, want %q", q, head(got[q]), head(w))
				}
			}
		})
	}
}

// TestIdentitiesCrashRecovery stops a materialization as if its process
// died after each step: the identities view keeps reading the previous
// materialization (and answers as before), the lock holds until it
// expires, and the next run leaves one materialization, the dead run's
// files and staging gone.
func TestIdentitiesCrashRecovery(t *testing.T) {
	for _, at := range []string{"links-unloaded", "links-copied", "links-published"} {
		t.Run(at, func(t *testing.T) {
			ctx := context.Background()
			a := newAWSLake(t, lake.Config{LockTTL: 10 * time.Minute})
			events := laketest.Generate(laketest.Config{End: testEnd, Days: 4, Users: 3, Visitors: 4, Seed: 5})
			a.load(t, events, 20, athena.FormatParquet)
			first, err := a.lake.MaterializeIdentities(ctx, lake.IdentitiesOptions{Watermark: testEnd.AddDate(0, 0, -2).Format(tracker.DateLayout)})
			if err != nil {
				t.Fatal(err)
			}
			const q = "SELECT anonymous_id, user_id, linked_at FROM identities ORDER BY anonymous_id"
			want, err := a.runner.Execute(ctx, q, nil)
			if err != nil {
				t.Fatal(err)
			}
			lake.SetHook(a.lake, func(step, day string) error {
				if step == at {
					return lake.ErrCrash
				}
				return nil
			})
			if _, err := a.lake.MaterializeIdentities(ctx, lake.IdentitiesOptions{}); !errors.Is(err, lake.ErrCrash) {
				t.Fatalf("crash: %v", err)
			}
			lake.SetHook(a.lake, nil)
			got, err := a.runner.Execute(ctx, q, nil)
			if err != nil || fmt.Sprint(got.Rows) != fmt.Sprint(want.Rows) {
				t.Errorf("after the crash the identities view answers %v (%v), want %v", got.Rows, err, want.Rows)
			}
			if st, _ := a.lake.Identities(ctx); st.Run != first.Run {
				t.Errorf("the pointer moved to %s", st.Run)
			}
			if _, err := a.lake.MaterializeIdentities(ctx, lake.IdentitiesOptions{Force: true}); !errors.Is(err, lake.ErrLocked) {
				t.Errorf("while locked: %v, want ErrLocked", err)
			}
			a.advance(11 * time.Minute)
			res, err := a.lake.Compact(ctx, lake.CompactOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Identities.Skipped != "" || res.StagingCleaned == 0 {
				t.Errorf("recovery: identities %+v, %d staging objects cleaned", res.Identities, res.StagingCleaned)
			}
			files, _ := a.s3.Store.List(ctx, athena.LinksPrefix)
			for _, f := range files {
				if !strings.Contains(f.Key, "run="+res.Identities.Run+"/") {
					t.Errorf("left after recovery: %s", f.Key)
				}
			}
			if st, _ := a.s3.Store.List(ctx, "maintenance/staging/"); len(st) != 0 {
				t.Errorf("staging left: %v", keysOf(st))
			}
			full, err := a.runner.Execute(ctx, q, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(full.Rows) < len(want.Rows) {
				t.Errorf("after recovery: %d links, before %d", len(full.Rows), len(want.Rows))
			}
		})
	}
}

// TestLinksCheckFailure: materialized files that do not hold one link per
// anonymous ID are removed again and the identities view is not switched.
func TestLinksCheckFailure(t *testing.T) {
	ctx := context.Background()
	ll := newLocalLake(t, lake.Config{})
	events := laketest.Generate(laketest.Config{End: testEnd, Days: 4, Users: 3, Visitors: 4, Seed: 5})
	if _, err := laketest.WriteLake(ctx, ll.root, events, 20, athena.FormatParquet); err != nil {
		t.Fatal(err)
	}
	// A faulty engine: every link twice (a second file with the same rows).
	lake.SetHook(ll.lake, func(step, day string) error {
		if step != "links-copied" {
			return nil
		}
		files, _ := ll.store.List(ctx, athena.LinksPrefix)
		if len(files) != 1 {
			return errors.New("no links file")
		}
		body, _, err := ll.store.Get(ctx, files[0].Key)
		if err != nil {
			return err
		}
		dup := "identities/" + strings.TrimPrefix(strings.TrimSuffix(files[0].Key, "links-0.parquet"), "identities/") + "links-1.parquet"
		_, err = ll.store.Put(ctx, dup, body, lake.Condition{})
		return err
	})
	_, err := ll.lake.MaterializeIdentities(ctx, lake.IdentitiesOptions{})
	if !errors.Is(err, lake.ErrLinksCheckFailed) {
		t.Fatalf("a faulty materialization: %v, want ErrLinksCheckFailed", err)
	}
	if st, _ := ll.lake.Identities(ctx); st != nil {
		t.Errorf("the pointer names %+v", st)
	}
	if files, _ := ll.store.List(ctx, athena.LinksPrefix); len(files) != 0 {
		t.Errorf("left after the failed check: %v", keysOf(files))
	}
	if got := ll.count(t, "SELECT count(*) FROM identities"); got == 0 {
		t.Error("the identities view lost its links")
	}
}

// TestIncrementalIdentities: when the watermark moves forward and no day
// before the current materialization's watermark changed, the next one
// builds on it and reads only the days from its watermark on; its links
// equal a full run's (Full), and every query answers as over a lake that
// never materialized anything. A late object on a day before the current
// watermark makes the next run read every day again; Force does too.
func TestIncrementalIdentities(t *testing.T) {
	for name, newSide := range map[string]func(*testing.T) *identitiesSide{"duckdb": localSide, "athena": athenaSide} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := newSide(t)
			const days = 10
			start := testEnd.AddDate(0, 0, -(days - 1))
			day := func(back int) string { return testEnd.AddDate(0, 0, -back).Format(tracker.DateLayout) }
			events := laketest.Generate(laketest.Config{End: testEnd, Days: days, Users: 6, Visitors: 10, Seed: 11})
			objects := map[string][]laketest.Event{}
			for i, e := range laketest.Deliveries(events, 0.05, 3) {
				key := laketest.ObjectKey(e.Day(), "eventlake-1-"+e.Day()+"-"+string(rune('a'+i%3)))
				objects[key] = append(objects[key], e)
			}
			s.put(t, objects)
			links := func(run string) []string {
				t.Helper()
				return s.query(t, "SELECT anonymous_id || ' ' || user_id || ' ' || CAST(linked_at AS varchar) || ' ' || event_id "+
					"FROM identity_links WHERE run = '"+run+"' ORDER BY 1")
			}

			// Up to six days back, every day read.
			first, err := s.lake.MaterializeIdentities(ctx, lake.IdentitiesOptions{Watermark: day(6)})
			if err != nil || first.Skipped != "" || first.IncrementalFrom != "" || first.Rows == 0 {
				t.Fatalf("first: %+v %v", first, err)
			}
			// Three days on: incremental on the first.
			second, err := s.lake.MaterializeIdentities(ctx, lake.IdentitiesOptions{Watermark: day(3)})
			if err != nil || second.Skipped != "" || second.IncrementalFrom != first.Run || second.Rows <= first.Rows ||
				!slices.Equal(second.Stale, []string{day(6), day(5), day(4)}) {
				t.Fatalf("second: %+v %v (first %+v)", second, err, first)
			}
			if !strings.Contains(second.String(), "incremental on "+first.Run) {
				t.Errorf("second: %s", second)
			}
			incremental := links(second.Run)
			sameAnswers(t, "incremental", s.answers(t, start, testEnd), answers(t, referenceLake(t, events), start, testEnd))
			// The same watermark read in full: the same links.
			full, err := s.lake.MaterializeIdentities(ctx, lake.IdentitiesOptions{Watermark: day(3), Full: true, Force: true})
			if err != nil || full.IncrementalFrom != "" || full.Rows != second.Rows {
				t.Fatalf("full: %+v %v", full, err)
			}
			if got := links(full.Run); !slices.Equal(got, incremental) {
				t.Errorf("incremental links differ from a full run's:\n%q\n%q", head(incremental), head(got))
			}

			// A late link on a day before the watermark: the next run reads
			// every day, and finds it.
			var visitor string
			for _, e := range events {
				if strings.HasPrefix(e.AnonymousID, "v-") && e.UserID == "" {
					visitor = e.AnonymousID
					break
				}
			}
			late := []laketest.Event{{UserID: "u0001", AnonymousID: visitor, EventAt: day(8) + "T07:00:00.000Z", EventID: "late-early-link",
				EventType: tracker.TypeIdentify}}
			s.put(t, map[string][]laketest.Event{laketest.ObjectKey(day(8), "late-delivery"): late})
			third, err := s.lake.MaterializeIdentities(ctx, lake.IdentitiesOptions{Watermark: day(1)})
			if err != nil || third.IncrementalFrom != "" || !slices.Contains(third.Stale, day(8)) {
				t.Fatalf("after a late object before the watermark: %+v %v", third, err)
			}
			withLate := append(slices.Clone(events), late...)
			sameAnswers(t, "after the late link", s.answers(t, start, testEnd), answers(t, referenceLake(t, withLate), start, testEnd))
			// Nothing changed since: a day on is incremental again.
			fourth, err := s.lake.MaterializeIdentities(ctx, lake.IdentitiesOptions{Watermark: day(0)})
			if err != nil || fourth.IncrementalFrom != third.Run {
				t.Fatalf("fourth: %+v %v", fourth, err)
			}
			sameAnswers(t, "incremental after the late link", s.answers(t, start, testEnd), answers(t, referenceLake(t, withLate), start, testEnd))
		})
	}
}
