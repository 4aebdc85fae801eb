package tracker_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/eventlake/eventlake/local/dynamolocal"
	"github.com/eventlake/eventlake/local/faultdb"
	"github.com/eventlake/eventlake/tracker"
)

func newSummaryWriter(t *testing.T, env *dynamolocal.Env, db tracker.SummaryUpdater) (*tracker.Tracker, *tracker.SummaryWriter) {
	t.Helper()
	tr, err := tracker.New(env.Client, tracker.Config{EventsTable: env.EventsTable, SummaryTable: env.SummaryTable})
	if err != nil {
		t.Fatal(err)
	}
	w, err := tracker.NewSummaryWriter(db, tracker.SummaryWriterConfig{Table: env.SummaryTable})
	if err != nil {
		t.Fatal(err)
	}
	return tr, w
}

func at(min int) time.Time { return time.Date(2026, 3, 1, 9, min, 0, 0, time.UTC) }

func TestSummaryWriterLastSeenNeverGoesBackAndCountsEverything(t *testing.T) {
	t.Parallel()
	// cached: the writer remembers what it wrote and leaves out a last_seen
	// DynamoDB would refuse; uncached: DynamoDB refuses it, a second write
	// counts.
	for _, cached := range []bool{true, false} {
		t.Run(fmt.Sprintf("cache=%v", cached), func(t *testing.T) {
			t.Parallel()
			env := dynamolocal.NewEnv(t)
			tr, _ := newSummaryWriter(t, env, env.Client)
			cfg := tracker.SummaryWriterConfig{Table: env.SummaryTable}
			if !cached {
				cfg.CacheSize = -1
			}
			w, err := tracker.NewSummaryWriter(env.Client, cfg)
			if err != nil {
				t.Fatal(err)
			}
			late := 2
			if cached {
				late = 1
			}
			ctx := context.Background()
			steps := []struct {
				name      string
				delta     tracker.SummaryDelta
				want      tracker.ApplyResult
				wantSeen  time.Time
				wantCount int64
			}{
				{"first batch", tracker.SummaryDelta{UserID: "u1", Actions: 3, LastSeen: at(10), Batch: "b1"},
					tracker.ApplyResult{Writes: 1}, at(10), 3},
				{"a later batch", tracker.SummaryDelta{UserID: "u1", Actions: 2, LastSeen: at(20), Batch: "b2"},
					tracker.ApplyResult{Writes: 1}, at(20), 5},
				{"a late batch: counted, last seen kept", tracker.SummaryDelta{UserID: "u1", Actions: 4, LastSeen: at(15), Batch: "b3"},
					tracker.ApplyResult{Writes: late, LastSeenKept: true}, at(20), 9},
				{"the same time again: kept", tracker.SummaryDelta{UserID: "u1", Actions: 1, LastSeen: at(20), Batch: "b4"},
					tracker.ApplyResult{Writes: late, LastSeenKept: true}, at(20), 10},
				{"a retried batch: nothing", tracker.SummaryDelta{UserID: "u1", Actions: 1, LastSeen: at(30), Batch: "b4"},
					tracker.ApplyResult{Writes: 1, AlreadyApplied: true}, at(20), 10},
				{"no batch token: always applied", tracker.SummaryDelta{UserID: "u1", Actions: 1},
					tracker.ApplyResult{Writes: 1}, at(20), 11},
				{"nothing to write", tracker.SummaryDelta{UserID: "u1", Batch: "b5"},
					tracker.ApplyResult{}, at(20), 11},
			}
			for _, s := range steps {
				got, err := w.Apply(ctx, s.delta)
				if err != nil {
					t.Fatalf("%s: %v", s.name, err)
				}
				if !equalResult(got, s.want) {
					t.Errorf("%s: result %+v, want %+v", s.name, got, s.want)
				}
				sum, err := tr.Summary(ctx, "u1")
				if err != nil {
					t.Fatal(err)
				}
				if !sum.LastSeen.Equal(s.wantSeen) || sum.Actions != s.wantCount {
					t.Errorf("%s: summary last seen %s, %d actions; want %s, %d", s.name, sum.LastSeen, sum.Actions, s.wantSeen, s.wantCount)
				}
			}
			// Another writer (another Lambda environment) moved last_seen on:
			// this writer's memory is a lower bound, still true.
			other, _ := tracker.NewSummaryWriter(env.Client, tracker.SummaryWriterConfig{Table: env.SummaryTable})
			if _, err := other.Apply(ctx, tracker.SummaryDelta{UserID: "u1", Actions: 1, LastSeen: at(40)}); err != nil {
				t.Fatal(err)
			}
			r, err := w.Apply(ctx, tracker.SummaryDelta{UserID: "u1", Actions: 1, LastSeen: at(30), Batch: "b6"})
			if err != nil || r.Writes != 2 || !r.LastSeenKept {
				t.Errorf("after another writer: %+v, %v; want DynamoDB to refuse the older last_seen", r, err)
			}
			// A visitor with the same ID is another item.
			if _, err := w.Apply(ctx, tracker.SummaryDelta{AnonymousID: "u1", Actions: 7, LastSeen: at(1)}); err != nil {
				t.Fatal(err)
			}
			v, err := tr.VisitorSummary(ctx, "u1")
			if err != nil {
				t.Fatal(err)
			}
			if v.Actions != 7 || !v.LastSeen.Equal(at(1)) {
				t.Errorf("visitor u1 = %+v", v)
			}
		})
	}
}

// TestSummaryWriterCacheSavesTheSecondWrite: a visitor linked again later,
// a user's known visitors, a full set: one UpdateItem each once known.
func TestSummaryWriterCacheSavesTheSecondWrite(t *testing.T) {
	t.Parallel()
	env := dynamolocal.NewEnv(t)
	tr, w := newSummaryWriter(t, env, env.Client)
	ctx := context.Background()
	key := func(min int) string { return tracker.EventKey(at(min), "e") }
	for i, c := range []struct {
		delta tracker.SummaryDelta
		want  tracker.ApplyResult
	}{
		{tracker.SummaryDelta{AnonymousID: "v", Actions: 1, LastSeen: at(1), LinkedUser: "u", LinkedAt: key(1)}, tracker.ApplyResult{Writes: 1}},
		{tracker.SummaryDelta{AnonymousID: "v", Actions: 1, LastSeen: at(2), LinkedUser: "u", LinkedAt: key(2)}, tracker.ApplyResult{Writes: 1, LinkKept: true}},
		{tracker.SummaryDelta{AnonymousID: "v", LinkedUser: "w", LinkedAt: key(3)}, tracker.ApplyResult{LinkKept: true}},
		{tracker.SummaryDelta{UserID: "u", Actions: 1, AnonymousIDs: []string{"v"}}, tracker.ApplyResult{Writes: 1}},
		{tracker.SummaryDelta{UserID: "u", Actions: 1, AnonymousIDs: []string{"v"}}, tracker.ApplyResult{Writes: 1}},
	} {
		r, err := w.Apply(ctx, c.delta)
		if err != nil || r != c.want {
			t.Errorf("step %d: %+v, %v; want %+v", i, r, err, c.want)
		}
	}
	if v, _ := tr.VisitorSummary(ctx, "v"); v.UserID != "u" || v.Actions != 2 || !v.LastSeen.Equal(at(2)) {
		t.Errorf("v = %+v", v)
	}
	// A full set, learned once, is not asked again.
	var ids []string
	for i := range tracker.MaxLinkedAnonymousIDs {
		ids = append(ids, fmt.Sprintf("x%02d", i))
	}
	if _, err := w.Apply(ctx, tracker.SummaryDelta{UserID: "full", AnonymousIDs: ids}); err != nil {
		t.Fatal(err)
	}
	r, err := w.Apply(ctx, tracker.SummaryDelta{UserID: "full", Actions: 1, AnonymousIDs: []string{"late"}})
	if err != nil || r.Writes != 1 || r.AnonymousIDsDropped != 1 {
		t.Errorf("full set: %+v, %v", r, err)
	}
}

func equalResult(a, b tracker.ApplyResult) bool { return a == b }

func TestSummaryWriterAnonymousIDsAreBounded(t *testing.T) {
	t.Parallel()
	env := dynamolocal.NewEnv(t)
	tr, w := newSummaryWriter(t, env, env.Client)
	ctx := context.Background()
	ids := func(from, to int) []string {
		var s []string
		for i := from; i < to; i++ {
			s = append(s, fmt.Sprintf("v%02d", i))
		}
		return s
	}
	// 18 stored, then 5 of which 2 are stored already: 3 new, room for 2.
	if r, err := w.Apply(ctx, tracker.SummaryDelta{UserID: "u", Actions: 1, AnonymousIDs: ids(0, 18), Batch: "1"}); err != nil || r.Writes != 1 {
		t.Fatalf("apply: %+v, %v", r, err)
	}
	r, err := w.Apply(ctx, tracker.SummaryDelta{UserID: "u", Actions: 1,
		AnonymousIDs: []string{"v16", "x1", "v17", "x2", "x3"}, Batch: "2"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Writes != 2 || r.AnonymousIDsDropped != 1 {
		t.Errorf("result %+v, want 2 writes and 1 ID dropped", r)
	}
	sum, err := tr.Summary(ctx, "u")
	if err != nil {
		t.Fatal(err)
	}
	want := append(ids(0, 18), "x1", "x2")
	slices.Sort(want)
	if !slices.Equal(sum.AnonymousIDs, want) || sum.Actions != 2 {
		t.Errorf("anonymous IDs %v (%d actions), want %v (the earlier ones kept) and 2", sum.AnonymousIDs, sum.Actions, want)
	}
	// Full: more IDs are dropped, the count still goes in; a delta with more
	// than the bound keeps the first ones.
	r, err = w.Apply(ctx, tracker.SummaryDelta{UserID: "u", Actions: 1, AnonymousIDs: []string{"y"}, Batch: "3"})
	if err != nil || r.AnonymousIDsDropped != 1 {
		t.Fatalf("full set: %+v, %v", r, err)
	}
	if _, err := w.Apply(ctx, tracker.SummaryDelta{UserID: "w", AnonymousIDs: ids(0, 30), Batch: "1"}); err != nil {
		t.Fatal(err)
	}
	sw, err := tr.Summary(ctx, "w")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sw.AnonymousIDs, ids(0, tracker.MaxLinkedAnonymousIDs)) {
		t.Errorf("w: %v, want the first %d", sw.AnonymousIDs, tracker.MaxLinkedAnonymousIDs)
	}
	sum, _ = tr.Summary(ctx, "u")
	if len(sum.AnonymousIDs) != tracker.MaxLinkedAnonymousIDs || sum.Actions != 3 {
		t.Errorf("u: %d IDs, %d actions", len(sum.AnonymousIDs), sum.Actions)
	}
}

func TestSummaryWriterEarliestLinkWins(t *testing.T) {
	t.Parallel()
	env := dynamolocal.NewEnv(t)
	tr, w := newSummaryWriter(t, env, env.Client)
	ctx := context.Background()
	key := func(min int, id string) string { return tracker.EventKey(at(min), id) }
	steps := []struct {
		name     string
		user     string
		linkedAt string
		keep     bool
		want     string
	}{
		{"first link", "alice", key(20, "e5"), false, "alice"},
		{"an earlier link replaces it", "bob", key(10, "e9"), false, "bob"},
		{"a later one does not", "carol", key(30, "e1"), true, "bob"},
		{"same time, smaller event ID wins", "dave", key(10, "e1"), false, "dave"},
		{"same time, larger event ID loses", "erin", key(10, "e2"), true, "dave"},
		{"the same link again", "dave", key(10, "e1"), true, "dave"},
	}
	for i, s := range steps {
		r, err := w.Apply(ctx, tracker.SummaryDelta{AnonymousID: "cookie", LinkedUser: s.user, LinkedAt: s.linkedAt,
			Batch: fmt.Sprint(i)})
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if r.LinkKept != s.keep {
			t.Errorf("%s: LinkKept = %v, want %v", s.name, r.LinkKept, s.keep)
		}
		v, err := tr.VisitorSummary(ctx, "cookie")
		if err != nil {
			t.Fatal(err)
		}
		if v.UserID != s.want || v.Actions != 0 || !v.LastSeen.IsZero() {
			t.Errorf("%s: visitor %+v, want linked to %s, no actions", s.name, v, s.want)
		}
	}
	v, _ := tr.VisitorSummary(ctx, "cookie")
	if !v.LinkedAt.Equal(at(10)) {
		t.Errorf("LinkedAt = %s, want %s", v.LinkedAt, at(10))
	}
	// A link written by something else without linked_at (unknown time) is kept.
	_, err := env.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(env.SummaryTable), Item: map[string]types.AttributeValue{
		tracker.AttrActor: &types.AttributeValueMemberS{Value: tracker.ActorKey("", "old")}, tracker.AttrLinkedUser: &types.AttributeValueMemberS{Value: "zoe"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := w.Apply(ctx, tracker.SummaryDelta{AnonymousID: "old", Actions: 1, LinkedUser: "amy", LinkedAt: key(0, "a")})
	if err != nil || !r.LinkKept {
		t.Fatalf("apply to a link of unknown time: %+v, %v", r, err)
	}
	if v, _ := tr.VisitorSummary(ctx, "old"); v.UserID != "zoe" || v.Actions != 1 {
		t.Errorf("old = %+v, want zoe's, 1 action", v)
	}
}

func TestSummaryWriterConcurrentWriters(t *testing.T) {
	t.Parallel()
	env := dynamolocal.NewEnv(t)
	tr, w := newSummaryWriter(t, env, env.Client)
	ctx := context.Background()
	const writers, each = 16, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for g := range writers {
		wg.Go(func() {
			for i := range each {
				n := g*each + i
				d := tracker.SummaryDelta{UserID: "hot", Actions: int64(n%3 + 1), LastSeen: at(n % 50),
					AnonymousIDs: []string{fmt.Sprintf("v%03d", n)}, Batch: fmt.Sprint(n)}
				if _, err := w.Apply(ctx, d); err != nil {
					errs <- err
				}
				v := tracker.SummaryDelta{AnonymousID: "shared", LinkedUser: fmt.Sprintf("user%03d", n),
					LinkedAt: tracker.EventKey(at(59-n%50), fmt.Sprintf("e%03d", n))}
				if _, err := w.Apply(ctx, v); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var wantActions int64
	for n := range writers * each {
		wantActions += int64(n%3 + 1)
	}
	sum, err := tr.Summary(ctx, "hot")
	if err != nil {
		t.Fatal(err)
	}
	if sum.Actions != wantActions || !sum.LastSeen.Equal(at(49)) || len(sum.AnonymousIDs) != tracker.MaxLinkedAnonymousIDs {
		t.Errorf("hot = %d actions, last seen %s, %d IDs; want %d, %s, %d", sum.Actions, sum.LastSeen, len(sum.AnonymousIDs),
			wantActions, at(49), tracker.MaxLinkedAnonymousIDs)
	}
	// The earliest link: the smallest minute 59-n%50 is 10 (n%50 = 49: n =
	// 49, 99, 149), the smallest event ID among them e049.
	v, err := tr.VisitorSummary(ctx, "shared")
	if err != nil {
		t.Fatal(err)
	}
	if v.UserID != "user049" {
		t.Errorf("shared linked to %q, want user049", v.UserID)
	}
}

func TestSummaryWriterLostResponseIsNotCountedTwice(t *testing.T) {
	t.Parallel()
	env := dynamolocal.NewEnv(t)
	fdb, err := faultdb.New(env.Client, faultdb.Config{Seed: 1, TimeoutAfterRate: 1})
	if err != nil {
		t.Fatal(err)
	}
	tr, lossy := newSummaryWriter(t, env, fdb)
	_, w := newSummaryWriter(t, env, env.Client)
	ctx := context.Background()
	d := tracker.SummaryDelta{UserID: "u", Actions: 5, LastSeen: at(5), Batch: "window-1"}
	if _, err := lossy.Apply(ctx, d); !faultdb.IsInjected(err) {
		t.Fatalf("apply with a lost response: %v, want the injected timeout", err)
	}
	r, err := w.Apply(ctx, d) // the retry of the same batch
	if err != nil || !r.AlreadyApplied {
		t.Fatalf("retry: %+v, %v; want AlreadyApplied", r, err)
	}
	if sum, _ := tr.Summary(ctx, "u"); sum.Actions != 5 {
		t.Errorf("actions = %d, want 5", sum.Actions)
	}
	if st := fdb.Stats(); st.TimedOutAfter != 1 {
		t.Errorf("faults = %+v", st)
	}
}

func TestSummaryWriterErrors(t *testing.T) {
	t.Parallel()
	env := dynamolocal.NewEnv(t)
	_, w := newSummaryWriter(t, env, env.Client)
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		delta tracker.SummaryDelta
		field string
	}{
		{"no actor", tracker.SummaryDelta{Actions: 1}, tracker.FieldAnonymousID},
		{"control character", tracker.SummaryDelta{UserID: "a\x00b", Actions: 1}, tracker.FieldUserID},
		{"negative count", tracker.SummaryDelta{UserID: "a", Actions: -1}, tracker.AttrActions},
		{"bad anonymous ID", tracker.SummaryDelta{UserID: "a", AnonymousIDs: []string{""}}, tracker.FieldAnonymousID},
		{"bad link time", tracker.SummaryDelta{AnonymousID: "a", LinkedUser: "u", LinkedAt: "yesterday"}, tracker.AttrLinkedAt},
		{"long batch", tracker.SummaryDelta{UserID: "a", Batch: string(make([]byte, 65))}, tracker.AttrAppliedBatch},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := w.Apply(ctx, c.delta)
			var ae *tracker.ArgumentError
			if !errors.As(err, &ae) || ae.Field != c.field || !errors.Is(err, tracker.ErrInvalidArgument) {
				t.Errorf("error %v, want an ArgumentError on %s", err, c.field)
			}
		})
	}
	if _, err := tracker.NewSummaryWriter(env.Client, tracker.SummaryWriterConfig{}); err == nil {
		t.Error("NewSummaryWriter without a table: no error")
	}
	if _, err := tracker.NewSummaryWriter(nil, tracker.SummaryWriterConfig{Table: "t"}); err == nil {
		t.Error("NewSummaryWriter without a client: no error")
	}
	// A DynamoDB error is wrapped with the actor.
	bad, _ := tracker.NewSummaryWriter(env.Client, tracker.SummaryWriterConfig{Table: "no-such-table"})
	_, err := bad.Apply(ctx, tracker.SummaryDelta{UserID: "someone", Actions: 1})
	var rnf *types.ResourceNotFoundException
	if !errors.As(err, &rnf) || !strings.Contains(err.Error(), "u#someone") {
		t.Errorf("error %v, want ResourceNotFound naming the actor", err)
	}
}
