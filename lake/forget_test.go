package lake_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/lake"
	"github.com/eventlake/eventlake/lake/laketest"
	"github.com/eventlake/eventlake/local/dynamolocal"
)

// forgetCase runs an erasure of the world's two users on a lake (through
// count, the engine's answer to a one-number query) and checks every place
// they were.
func forgetCase(t *testing.T, w *world, l *lake.Lake, st lake.Store, count func(string) int64, env *dynamolocal.Env) {
	ctx := context.Background()
	linked := w.linked(w.forget)
	for _, want := range []string{"c-u0002", "v-0001", "hot-cookie"} {
		if !linked[want] {
			t.Fatalf("the world's own expectation misses %s: %v", want, linked)
		}
	}
	if linked["v-shared"] {
		t.Fatal("v-shared is u0004's")
	}
	var kept int64
	for _, e := range w.events {
		if !w.forgotten(e, w.forget, linked) {
			kept++
		}
	}
	hotBefore, sumBefore := hotCounts(t, env)
	// Their poison records (kept aside by the relay) and conversion
	// failures (Firehose's error output), beside other users'.
	seedErrors(t, st)
	errorsBefore, _ := st.List(ctx, lake.ErrorsPrefix)

	// A dry run changes nothing and finds the same.
	dry, err := l.Forget(ctx, lake.ForgetRequest{UserIDs: w.forget}, lake.ForgetOptions{Hot: newHot(t, env), DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if dry.Linked != len(linked) || len(dry.Found) == 0 || dry.Errors.Events != seededForgotten {
		t.Errorf("dry run: %d linked (want %d), found %v, error output %+v", dry.Linked, len(linked), dry.Found, dry.Errors)
	}
	if after, _ := st.List(ctx, lake.ErrorsPrefix); fmt.Sprint(after) != fmt.Sprint(errorsBefore) {
		t.Error("a dry run changed the error output")
	}
	if h, s := hotCounts(t, env); fmt.Sprint(h, s) != fmt.Sprint(hotBefore, sumBefore) {
		t.Error("a dry run changed the hot store")
	}
	if list, _, _ := lake.LoadSuppression(ctx, st); list.Len() != 0 {
		t.Error("a dry run added to the suppression list")
	}

	res, err := l.Forget(ctx, lake.ForgetRequest{UserIDs: w.forget, Request: "ticket-42"}, lake.ForgetOptions{Hot: newHot(t, env)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Remaining != 0 || res.Linked != len(linked) || res.SuppressionAdded != 2+len(linked) {
		t.Errorf("result %+v (linked %v)", res, linked)
	}
	// The lake: exactly the other events are left, once each.
	if got := count("SELECT count(*) FROM events_dedup"); got != kept {
		t.Errorf("events_dedup = %d, want %d", got, kept)
	}
	var anon []string
	for a := range linked {
		anon = append(anon, "'"+a+"'")
	}
	pred := fmt.Sprintf("user_id IN ('u0002', 's0001') OR (user_id IS NULL AND anonymous_id IN (%s))", strings.Join(anon, ", "))
	if n := count("SELECT count(*) FROM events WHERE " + pred); n != 0 {
		t.Errorf("%d rows of forgotten actors left in the lake", n)
	}
	if n := count("SELECT count(*) FROM events WHERE anonymous_id = 'v-shared' AND user_id IS NULL"); n != 2 {
		t.Errorf("v-shared's anonymous events (u0004's): %d, want 2", n)
	}
	if n := count("SELECT count(*) FROM events WHERE user_id = 'u0003' AND anonymous_id = 'v-0001'"); n != 1 {
		t.Errorf("u0003's event on s0001's browser: %d, want 1", n)
	}
	if n := count("SELECT count(*) FROM identities WHERE user_id IN ('u0002', 's0001')"); n != 0 {
		t.Errorf("identities still links %d anonymous IDs to the forgotten users", n)
	}
	// Only the days that held them were rewritten, each purged.
	if len(res.Days) != len(res.Found) || res.RowsRemoved() == 0 {
		t.Errorf("%d days rewritten, %d found, %d rows removed", len(res.Days), len(res.Found), res.RowsRemoved())
	}
	if st.Versioned() {
		vs, err := st.Versions(ctx, "events/")
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			day, _ := lake.DayOf(v.Key)
			if _, rewritten := res.Found[day]; rewritten && (!v.IsLatest || v.DeleteMarker) {
				t.Errorf("noncurrent version left in a day that held forgotten events: %+v", v)
			}
		}
	}
	// The error output: their records are gone, the others are there.
	checkErrors(t, st, res.Errors)
	// The hot store: their partitions and summaries are gone, the rest is
	// as it was.
	hotAfter, sumAfter := hotCounts(t, env)
	gone := actorsOf(w.forget, linked)
	for actor, n := range hotBefore {
		if slices.Contains(gone, actor) {
			if hotAfter[actor] != 0 {
				t.Errorf("hot store: %s still has %d events", actor, hotAfter[actor])
			}
		} else if hotAfter[actor] != n {
			t.Errorf("hot store: %s has %d events, had %d", actor, hotAfter[actor], n)
		}
	}
	for actor := range sumBefore {
		if slices.Contains(gone, actor) == sumAfter[actor] {
			t.Errorf("summary of %s: present %t after the erasure", actor, sumAfter[actor])
		}
	}
	if hotBefore["u#u0002"] == 0 || hotBefore["a#hot-cookie"] == 0 || res.Hot.EventsDeleted == 0 || res.Hot.SummaryDeleted != 4 {
		t.Errorf("hot store before %s; deleted %+v", describeCounts(hotBefore), res.Hot)
	}
	// The suppression list and the audit record hold no ID in clear.
	list, _, err := lake.LoadSuppression(ctx, st)
	if err != nil || !list.Suppressed("u0002", "") || !list.Suppressed("", "hot-cookie") || list.Suppressed("", "v-shared") || list.Suppressed("u0003", "v-0001") {
		t.Errorf("suppression list: %v", err)
	}
	audits, err := l.Audits(ctx, "ticket-42")
	if err != nil || len(audits) != 1 || audits[0].State != "done" || audits[0].HotStore == nil || len(audits[0].Lake) != len(res.Found) ||
		audits[0].ErrorOutput == nil || *audits[0].ErrorOutput != res.Errors {
		t.Fatalf("audits %+v %v", audits, err)
	}
	for _, key := range []string{lake.SuppressionKey, res.AuditKey} {
		body, _, err := st.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"u0002", "s0001", "c-u0002", "v-0001", "hot-cookie"} {
			if bytes.Contains(body, []byte(id)) {
				t.Errorf("%s names %s", key, id)
			}
		}
	}
	manifests := 0
	for _, d := range audits[0].Lake {
		if d.Manifest != "" {
			manifests++
		}
		if d.EventsRemoved == 0 || d.EventsFound == 0 {
			t.Errorf("audit of %s: %+v", d.Day, d)
		}
	}
	if manifests != len(res.Found) {
		t.Errorf("%d manifests in the audit, want %d", manifests, len(res.Found))
	}

	// A re-run changes nothing.
	objs, _ := st.List(ctx, "events/")
	again, err := l.Forget(ctx, lake.ForgetRequest{UserIDs: w.forget, Request: "ticket-42"}, lake.ForgetOptions{Hot: newHot(t, env)})
	if err != nil {
		t.Fatal(err)
	}
	if again.SuppressionAdded != 0 || again.Hot.EventsDeleted != 0 || len(again.Days) != 0 || len(again.Found) != 0 || again.Errors.Events != 0 {
		t.Errorf("re-run: %+v", again)
	}
	objs2, _ := st.List(ctx, "events/")
	if fmt.Sprint(objs) != fmt.Sprint(objs2) {
		t.Error("a re-run changed the lake")
	}
}

func TestForgetLocal(t *testing.T) {
	ctx := context.Background()
	w := newWorld(5)
	ll := newLocalLake(t, lake.Config{})
	if _, err := laketest.WriteLake(ctx, ll.root, laketest.Deliveries(w.events, 0.05, 2), 12, athena.FormatParquet); err != nil {
		t.Fatal(err)
	}
	env := dynamolocal.NewEnv(t)
	w.seedHot(t, env)
	forgetCase(t, w, ll.lake, ll.store, func(sql string) int64 { return ll.count(t, sql) }, env)
}

func TestForgetAthena(t *testing.T) {
	w := newWorld(4)
	a := newAWSLake(t, lake.Config{})
	a.load(t, laketest.Deliveries(w.events, 0.05, 2), 12, athena.FormatParquet)
	// Compact first, so the forgotten users' events are also in noncurrent
	// versions of the objects compaction replaced.
	if _, err := a.lake.Compact(context.Background(), lake.CompactOptions{}); err != nil {
		t.Fatal(err)
	}
	env := dynamolocal.NewEnv(t)
	w.seedHot(t, env)
	forgetCase(t, w, a.lake, a.s3.Store, func(sql string) int64 { return a.count(t, sql) }, env)
}

func TestForgetRequests(t *testing.T) {
	ll := newLocalLake(t, lake.Config{})
	ctx := context.Background()
	for _, c := range []struct {
		req  lake.ForgetRequest
		want string
	}{
		{lake.ForgetRequest{}, "no user or anonymous ID"},
		{lake.ForgetRequest{UserIDs: []string{""}}, "an ID of 0 bytes"},
		{lake.ForgetRequest{UserIDs: []string{strings.Repeat("x", 300)}}, "an ID of 300 bytes"},
		{lake.ForgetRequest{UserIDs: []string{"1"}, Request: "a b"}, `request "a b"`},
	} {
		if _, err := ll.lake.Forget(ctx, c.req, lake.ForgetOptions{}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.req, err, c.want)
		}
	}
	// A visitor alone, without a hot store, in an empty lake.
	res, err := ll.lake.Forget(ctx, lake.ForgetRequest{AnonymousIDs: []string{"cookie-1"}}, lake.ForgetOptions{})
	if err != nil || res.SuppressionAdded != 1 || res.Remaining != 0 {
		t.Errorf("%+v %v", res, err)
	}
	if !errors.Is(lake.ErrNotForgotten, lake.ErrNotForgotten) {
		t.Fatal()
	}
}
