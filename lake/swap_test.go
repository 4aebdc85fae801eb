package lake_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/athena/remote"
	"github.com/eventlake/eventlake/lake"
	"github.com/eventlake/eventlake/lake/athenaengine"
	"github.com/eventlake/eventlake/lake/duckengine"
	"github.com/eventlake/eventlake/lake/laketest"
)

// awsLake is the AWS side on one machine: gofakes3 for S3, the fake Athena
// endpoint over it, and a Lake on both.
type awsLake struct {
	s3     *laketest.S3
	athena *laketest.Athena
	runner *remote.Runner
	lake   *lake.Lake
	now    *atomic.Pointer[time.Time]
}

func newAWSLake(t testing.TB, cfg lake.Config) *awsLake {
	t.Helper()
	s3 := laketest.NewS3(t, "eventlake-lake")
	fa := laketest.NewAthena(t, s3)
	runner := fa.Runner()
	now := &atomic.Pointer[time.Time]{}
	start := testEnd.Add(36 * time.Hour)
	now.Store(&start)
	cfg.Now = func() time.Time { return *now.Load() }
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	l, err := lake.New(s3.Store, athenaengine.New(runner, s3.Store), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &awsLake{s3: s3, athena: fa, runner: runner, lake: l, now: now}
}

func (a *awsLake) advance(d time.Duration) {
	t := a.now.Load().Add(d)
	a.now.Store(&t)
}

// count runs a one-number query on Athena.
func (a *awsLake) count(t testing.TB, sql string) int64 {
	t.Helper()
	res, err := a.runner.Execute(context.Background(), sql, nil)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	n, err := strconv.ParseInt(res.Rows[0][0].String, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// load writes a generated lake to a folder and uploads it.
func (a *awsLake) load(t testing.TB, deliveries []laketest.Event, perObject int, format athena.Format) []string {
	t.Helper()
	root := t.TempDir()
	if _, err := laketest.WriteLake(context.Background(), root, deliveries, perObject, format); err != nil {
		t.Fatal(err)
	}
	keys, err := a.s3.PutFolder(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestCompactAthena runs compaction as on AWS: Athena's UNLOAD of the
// rewrite into the staging prefix, then the swap with S3 copies and deletes,
// against the real S3 and Athena clients.
func TestCompactAthena(t *testing.T) {
	ctx := context.Background()
	a := newAWSLake(t, lake.Config{})
	events := laketest.Generate(laketest.Config{End: testEnd, Days: 3, Users: 4, Visitors: 4})
	deliveries := laketest.Deliveries(events, 0.05, 3)
	inputs := a.load(t, deliveries, 12, athena.FormatParquet)
	if got := a.count(t, "SELECT count(*) FROM events"); got != int64(len(deliveries)) {
		t.Fatalf("before: %d rows, want %d", got, len(deliveries))
	}
	const identities = "SELECT anonymous_id, user_id, linked_at FROM identities ORDER BY anonymous_id"
	fullScan, err := a.runner.Execute(ctx, identities, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.lake.Compact(ctx, lake.CompactOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Days) != 3 {
		t.Fatalf("%+v", res)
	}
	if got := a.count(t, "SELECT count(*) FROM events"); got != int64(len(events)) {
		t.Errorf("after: events = %d, want %d", got, len(events))
	}
	if got := a.count(t, "SELECT count(*) FROM events_dedup"); got != int64(len(events)) {
		t.Errorf("after: events_dedup = %d, want %d", got, len(events))
	}
	objs, _ := a.s3.Store.List(ctx, "events/")
	for _, o := range objs {
		if !strings.Contains(o.Key, "/compacted-") || !strings.HasSuffix(o.Key, ".parquet") {
			t.Errorf("object %s after compaction", o.Key)
		}
	}
	if len(objs) != 3 {
		t.Errorf("%d objects, want one per day", len(objs))
	}
	// The rewrite ran on Athena: an UNLOAD that reads the listed objects by
	// "$path" into the staging prefix. Then the identity links of the days
	// before yesterday: an UNLOAD of the first links, and the view replaced
	// with the run and the watermark as literals.
	var unloads, links, views int
	id := res.Identities
	if id == nil || id.Skipped != "" || id.Watermark != testEnd.Format("2006-01-02") || id.Rows == 0 || id.Files == 0 {
		t.Fatalf("identities %+v", id)
	}
	for _, s := range a.athena.Statements() {
		switch {
		case strings.HasPrefix(s, "UNLOAD (\nSELECT anonymous_id, user_id, linked_at, event_id, 1 AS bucket"):
			links++
			if !strings.Contains(s, "FROM events\n") || !strings.Contains(s, "WHERE dt < '"+id.Watermark+"'") {
				t.Errorf("links unload %.400s", s)
			}
		case strings.HasPrefix(s, "UNLOAD ("):
			unloads++
			if !strings.Contains(s, `"$path" IN ('s3://eventlake-lake/events/dt=`) || !strings.Contains(s, "TO 's3://eventlake-lake/maintenance/staging/") {
				t.Errorf("unload %.300s", s)
			}
		case strings.HasPrefix(s, "CREATE OR REPLACE VIEW eventlake.identities AS"):
			views++
			if !strings.Contains(s, "FROM eventlake.identity_links\n    WHERE run = '"+id.Run+"'") || !strings.Contains(s, "WHERE dt >= '"+id.Watermark+"'") {
				t.Errorf("view %s", s)
			}
		}
	}
	if unloads != 3 || links != 1 || views != 1 {
		t.Errorf("%d UNLOADs, %d of links, %d views replaced; want 3, 1, 1", unloads, links, views)
	}
	materialized, err := a.runner.Execute(ctx, identities, nil)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(materialized.Rows) != fmt.Sprint(fullScan.Rows) || len(fullScan.Rows) == 0 {
		t.Errorf("identities through the materialization:\n%v\nover every partition:\n%v", materialized.Rows, fullScan.Rows)
	}
	if files, _ := a.s3.Store.List(ctx, "identities/"); len(files) != id.Files || !strings.HasPrefix(files[0].Key, "identities/run="+id.Run+"/links-") {
		t.Errorf("identity links %v", keysOf(files))
	}
	// The replaced objects are noncurrent versions now: recoverable.
	vs, err := a.s3.Store.Versions(ctx, "events/")
	if err != nil {
		t.Fatal(err)
	}
	noncurrent := map[string]bool{}
	for _, v := range vs {
		if !v.IsLatest && !v.DeleteMarker {
			noncurrent[v.Key] = true
		}
	}
	for _, k := range inputs {
		if strings.HasPrefix(k, "events/") && !noncurrent[k] {
			t.Errorf("%s has no noncurrent version", k)
		}
	}
	if st, _ := a.s3.Store.List(ctx, "maintenance/staging/"); len(st) != 0 {
		t.Errorf("staging left: %v", keysOf(st))
	}
	// Re-run: nothing to do, no statement run.
	before := len(a.athena.Statements())
	again, err := a.lake.Compact(ctx, lake.CompactOptions{})
	if err != nil || len(again.Days) != 0 || len(a.athena.Statements()) != before || again.Identities.Skipped != "current" {
		t.Errorf("re-run: %+v %v, %d statements", again, err, len(a.athena.Statements())-before)
	}
}

// TestSwapEveryStep stops after each step of a rewrite and asks both
// engines what a query would see there: events_dedup is exact at every
// step; the events table counts the day's rows twice while the new files
// and the replaced objects are both in the partition, and exactly once
// after.
func TestSwapEveryStep(t *testing.T) {
	ctx := context.Background()
	events := laketest.Generate(laketest.Config{End: testEnd, Days: 1, Users: 5, Visitors: 5})
	deliveries := laketest.Deliveries(events, 0.1, 5)
	want := int64(len(events))
	raw := int64(len(deliveries))
	steps := map[string]int64{"unloaded": raw, "copied": raw + want, "verified": raw + want, "deleted": want}

	check := func(t *testing.T, count func(string) (int64, error), l *lake.Lake) {
		seen := map[string]bool{}
		lake.SetHook(l, func(step, day string) error {
			seen[step] = true
			dedup, err := count("SELECT count(*) FROM events_dedup")
			if err != nil {
				return err
			}
			table, err := count("SELECT count(*) FROM events")
			if err != nil {
				return err
			}
			if dedup != want {
				t.Errorf("after %s: events_dedup = %d, want %d", step, dedup, want)
			}
			if table != steps[step] {
				t.Errorf("after %s: events = %d, want %d", step, table, steps[step])
			}
			return nil
		})
		if _, err := l.Compact(ctx, lake.CompactOptions{}); err != nil {
			t.Fatal(err)
		}
		for s := range steps {
			if !seen[s] {
				t.Errorf("step %s never reached", s)
			}
		}
	}
	t.Run("duckdb", func(t *testing.T) {
		ll := newLocalLake(t, lake.Config{})
		if _, err := laketest.WriteLake(ctx, ll.root, deliveries, 10, athena.FormatParquet); err != nil {
			t.Fatal(err)
		}
		check(t, func(sql string) (int64, error) {
			res, err := ll.engine.DB().Query(ctx, sql)
			if err != nil {
				return 0, err
			}
			return strconv.ParseInt(res.Rows[0][0].String, 10, 64)
		}, ll.lake)
	})
	t.Run("athena", func(t *testing.T) {
		a := newAWSLake(t, lake.Config{})
		a.load(t, deliveries, 10, athena.FormatParquet)
		check(t, func(sql string) (int64, error) {
			res, err := a.runner.Execute(ctx, sql, nil)
			if err != nil {
				return 0, err
			}
			return strconv.ParseInt(res.Rows[0][0].String, 10, 64)
		}, a.lake)
	})
}

// TestQueriesDuringCompaction runs queries concurrently with compactions of
// every day: each answer of events_dedup is exact or a clear error about a
// file that went away (retry it); never a wrong count.
func TestQueriesDuringCompaction(t *testing.T) {
	ctx := context.Background()
	ll := newLocalLake(t, lake.Config{})
	events := laketest.Generate(laketest.Config{End: testEnd, Days: 6, Users: 6, Visitors: 6})
	deliveries := laketest.Deliveries(events, 0.05, 9)
	if _, err := laketest.WriteLake(ctx, ll.root, deliveries, 8, athena.FormatParquet); err != nil {
		t.Fatal(err)
	}
	// A reader of its own, as an analyst's session would be.
	reader, err := duckengine.New(ctx, ll.store, duckengine.Config{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	var (
		wg              sync.WaitGroup
		stop            atomic.Bool
		exact, retrying atomic.Int64
	)
	wg.Go(func() {
		for !stop.Load() {
			res, err := reader.DB().Query(ctx, "SELECT count(*) FROM events_dedup")
			if err != nil {
				msg := err.Error()
				if !strings.Contains(msg, "No such file") && !strings.Contains(msg, "No files found") && !strings.Contains(msg, "Cannot open file") && !strings.Contains(msg, "No such file or directory") {
					t.Errorf("a query failed with an unclear error: %v", err)
				}
				if retrying.Add(1) == 1 {
					t.Logf("first retryable error: %v", err)
				}
				continue
			}
			if n, _ := strconv.Atoi(res.Rows[0][0].String); n != len(events) {
				t.Errorf("a query during compaction counted %d, want %d", n, len(events))
			}
			exact.Add(1)
		}
	})
	for range 2 {
		// Compact, then make every day dirty again with a copy of one of
		// its events, so the second round rewrites compacted files too.
		if _, err := ll.lake.Compact(ctx, lake.CompactOptions{}); err != nil {
			t.Error(err)
		}
		byDay := map[string]laketest.Event{}
		for _, e := range events {
			byDay[e.Day()] = e
		}
		for day, e := range byDay {
			if _, err := laketest.WriteObject(ctx, ll.root, laketest.ObjectKey(day, "redelivery"), []laketest.Event{e}, athena.FormatParquet); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := ll.lake.Compact(ctx, lake.CompactOptions{}); err != nil {
		t.Error(err)
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("%d exact answers, %d retryable errors during compaction", exact.Load(), retrying.Load())
	if exact.Load() == 0 {
		t.Error("no query completed during compaction")
	}
	if got := ll.count(t, "SELECT count(*) FROM events"); got != int64(len(events)) {
		t.Errorf("after: events = %d, want %d", got, len(events))
	}
}

// TestCrashRecovery stops a rewrite as if its process died at each step;
// queries stay exact in events_dedup; the day's lock blocks other runs until
// it expires; the next run takes it over and leaves the day exact.
func TestCrashRecovery(t *testing.T) {
	for _, at := range []string{"unloaded", "copied", "verified", "deleted"} {
		t.Run(at, func(t *testing.T) {
			ctx := context.Background()
			a := newAWSLake(t, lake.Config{LockTTL: 10 * time.Minute})
			events := laketest.Generate(laketest.Config{End: testEnd, Days: 1, Users: 3, Visitors: 3})
			deliveries := laketest.Deliveries(events, 0.1, 11)
			a.load(t, deliveries, 10, athena.FormatParquet)
			lake.SetHook(a.lake, func(step, day string) error {
				if step == at {
					return lake.ErrCrash
				}
				return nil
			})
			if _, err := a.lake.Compact(ctx, lake.CompactOptions{}); !errors.Is(err, lake.ErrCrash) {
				t.Fatalf("crash: %v", err)
			}
			lake.SetHook(a.lake, nil)
			if got := a.count(t, "SELECT count(*) FROM events_dedup"); got != int64(len(events)) {
				t.Errorf("after the crash: events_dedup = %d, want %d", got, len(events))
			}
			// The dead run's lock holds until it expires (a run that died
			// after deleting the inputs left a clean day: nothing to lock).
			if _, err := a.lake.Compact(ctx, lake.CompactOptions{}); at != "deleted" && !errors.Is(err, lake.ErrLocked) {
				t.Errorf("while locked: %v, want ErrLocked", err)
			}
			a.advance(11 * time.Minute)
			res, err := a.lake.Compact(ctx, lake.CompactOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if at == "deleted" {
				// The dead run had swapped already: the day is clean.
				if len(res.Days) != 0 {
					t.Errorf("recovery after the swap: %+v", res.Days)
				}
			} else if len(res.Days) != 1 {
				t.Errorf("recovery: %+v", res)
			}
			if got := a.count(t, "SELECT count(*) FROM events"); got != int64(len(events)) {
				t.Errorf("after recovery: events = %d, want %d", got, len(events))
			}
			if got := a.count(t, "SELECT count(*) FROM events_dedup"); got != int64(len(events)) {
				t.Errorf("after recovery: events_dedup = %d, want %d", got, len(events))
			}
			if res.StagingCleaned == 0 && at != "deleted" {
				t.Errorf("the dead run's staging was not cleaned")
			}
			if st, _ := a.s3.Store.List(ctx, "maintenance/staging/"); len(st) != 0 && at != "deleted" {
				t.Errorf("staging left: %v", keysOf(st))
			}
		})
	}
}

// TestCheckFailure: when the rewritten files do not hold exactly the
// inputs' events, nothing is deleted and the new files are removed.
func TestCheckFailure(t *testing.T) {
	ctx := context.Background()
	ll := newLocalLake(t, lake.Config{})
	events := laketest.Generate(laketest.Config{End: testEnd, Days: 1, Users: 3, Visitors: 3})
	keys, err := laketest.WriteLake(ctx, ll.root, events, 10, athena.FormatParquet)
	if err != nil {
		t.Fatal(err)
	}
	// Corrupt the rewrite after it was copied: add an object with an event
	// the inputs do not have under the new file's run, as a faulty engine
	// might write.
	lake.SetHook(ll.lake, func(step, day string) error {
		if step != "copied" {
			return nil
		}
		objs, _ := ll.store.List(ctx, lake.PartitionPrefix(day))
		for _, o := range objs {
			if strings.Contains(o.Key, "/compacted-") {
				// Replace the new file's content with fewer rows.
				_, err := laketest.WriteObject(ctx, ll.root, strings.TrimSuffix(o.Key, ".parquet"), events[:1], athena.FormatParquet)
				return err
			}
		}
		return fmt.Errorf("no compacted file in %v", keysOf(objs))
	})
	_, err = ll.lake.Compact(ctx, lake.CompactOptions{})
	if !errors.Is(err, lake.ErrCheckFailed) {
		t.Fatalf("compact with a bad rewrite: %v, want ErrCheckFailed", err)
	}
	objs, _ := ll.store.List(ctx, "events/")
	if fmt.Sprint(keysOf(objs)) != fmt.Sprint(keys) {
		t.Errorf("after a failed check the lake holds %v, want %v", keysOf(objs), keys)
	}
	ms, _ := ll.lake.Manifests(ctx, events[0].Day())
	if len(ms) != 1 || ms[0].State != lake.StateAborted || !strings.Contains(ms[0].Error, "failed their check") {
		t.Errorf("manifest %+v", ms)
	}
	if got := ll.count(t, "SELECT count(*) FROM events"); got != int64(len(events)) {
		t.Errorf("events = %d, want %d", got, len(events))
	}
}
