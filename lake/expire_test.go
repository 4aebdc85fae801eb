package lake_test

import (
	"context"
	"testing"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/lake"
	"github.com/eventlake/eventlake/lake/laketest"
	"github.com/eventlake/eventlake/tracker"
)

func TestExpire(t *testing.T) {
	ctx := context.Background()
	events := laketest.Generate(laketest.Config{End: testEnd, Days: 10, Users: 3, Visitors: 2})
	// Today is testEnd + 1: keeping 5 days keeps testEnd-3 .. testEnd+1.
	firstKept := testEnd.AddDate(0, 0, -3).Format(tracker.DateLayout)
	var kept int64
	dropped := map[string]bool{}
	for _, e := range events {
		if e.Day() >= firstKept {
			kept++
		} else {
			dropped[e.Day()] = true
		}
	}
	for _, purge := range []bool{false, true} {
		name := "keep versions"
		if purge {
			name = "purge versions"
		}
		t.Run(name, func(t *testing.T) {
			a := newAWSLake(t, lake.Config{})
			a.load(t, events, 20, athena.FormatParquet)
			dry, err := a.lake.Expire(ctx, lake.ExpireOptions{MaxAgeDays: 5, DryRun: true})
			if err != nil || len(dry.Days) != len(dropped) || dry.Before != firstKept {
				t.Fatalf("dry run: %+v %v", dry, err)
			}
			if got := a.count(t, "SELECT count(*) FROM events"); got != int64(len(events)) {
				t.Fatalf("a dry run dropped events: %d left of %d", got, len(events))
			}
			res, err := a.lake.Expire(ctx, lake.ExpireOptions{MaxAgeDays: 5, PurgeVersions: purge})
			if err != nil || len(res.Days) != len(dropped) {
				t.Fatalf("%+v %v", res, err)
			}
			if got := a.count(t, "SELECT count(*) FROM events"); got != kept {
				t.Errorf("events = %d, want %d", got, kept)
			}
			if got := a.count(t, "SELECT count(*) FROM events WHERE dt < '"+firstKept+"'"); got != 0 {
				t.Errorf("%d events left before %s", got, firstKept)
			}
			vs, err := a.s3.Store.Versions(ctx, "events/")
			if err != nil {
				t.Fatal(err)
			}
			noncurrent := 0
			for _, v := range vs {
				if !v.IsLatest {
					noncurrent++
				}
			}
			if purge && noncurrent != 0 || !purge && noncurrent == 0 {
				t.Errorf("purge %t: %d noncurrent versions", purge, noncurrent)
			}
			for _, d := range res.Days {
				ms, err := a.lake.Manifests(ctx, d.Day)
				if err != nil || len(ms) != 1 || ms[0].Op != "expire" || ms[0].State != lake.StateDone || len(ms[0].Inputs) != d.InputObjects {
					t.Errorf("manifest of %s: %+v %v", d.Day, ms, err)
				}
			}
			again, err := a.lake.Expire(ctx, lake.ExpireOptions{MaxAgeDays: 5, PurgeVersions: purge})
			if err != nil || len(again.Days) != 0 {
				t.Errorf("re-run: %+v %v", again, err)
			}
		})
	}
	t.Run("local", func(t *testing.T) {
		ll := newLocalLake(t, lake.Config{})
		if _, err := laketest.WriteLake(ctx, ll.root, events, 20, athena.FormatJSON); err != nil {
			t.Fatal(err)
		}
		if _, err := ll.lake.Expire(ctx, lake.ExpireOptions{MaxAgeDays: 5}); err != nil {
			t.Fatal(err)
		}
		if got := ll.count(t, "SELECT count(*) FROM events"); got != kept {
			t.Errorf("events = %d, want %d", got, kept)
		}
		if _, err := ll.lake.Expire(ctx, lake.ExpireOptions{}); err == nil {
			t.Error("MaxAgeDays 0 accepted")
		}
	})
}
