package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/eventlake/eventlake/lambdas/streamtofirehose/relay"
	"github.com/eventlake/eventlake/local/dynamolocal"
	"github.com/eventlake/eventlake/local/pipeline"
	"github.com/eventlake/eventlake/tracker"
)

// TestForgetLocalKeepsTheUserOut runs the local stack, forgets a user with
// `eventlake forget -local` while it runs, and sends more traffic: the
// user's events through the tracker and the collector's sink, an item of
// theirs written to DynamoDB by another writer (in flight, or late), and a
// poison item of theirs. Nothing of theirs reaches the lake, the summary
// table or the error output again; a kept user's traffic is unchanged; and
// their poison record, kept aside before the erasure, is gone after it.
func TestForgetLocalKeepsTheUserOut(t *testing.T) {
	env := dynamolocal.NewEnv(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p, err := pipeline.Start(ctx, pipeline.Config{
		LakeDir: dir, Format: pipeline.FormatJSON, DynamoDB: env.Server, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		EventsTable: env.EventsTable, SummaryTable: env.SummaryTable, SummaryWindow: time.Second,
		SuppressionRefresh: 50 * time.Millisecond,
		Relay:              relay.Config{BackoffBase: time.Millisecond, BackoffMax: 20 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		cctx, ccancel := context.WithTimeout(context.Background(), time.Minute)
		defer ccancel()
		if err := p.Close(cctx); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	now := time.Now().UTC().Add(-time.Hour)
	n := 0
	put := func(user, anon string) {
		t.Helper()
		n++
		if err := p.Put(ctx, tracker.Event{UserID: user, AnonymousID: anon, Type: "page_view", At: now.Add(time.Duration(n) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	// Another writer's items, straight into the table.
	item := func(user, id, eventAt string) {
		t.Helper()
		it := map[string]types.AttributeValue{
			tracker.AttrActor:      &types.AttributeValueMemberS{Value: tracker.ActorKey(user, "")},
			tracker.AttrEventKey:   &types.AttributeValueMemberS{Value: eventAt + "#" + id},
			tracker.FieldUserID:    &types.AttributeValueMemberS{Value: user},
			tracker.FieldEventAt:   &types.AttributeValueMemberS{Value: eventAt},
			tracker.FieldEventID:   &types.AttributeValueMemberS{Value: id},
			tracker.FieldEventType: &types.AttributeValueMemberS{Value: "login"},
		}
		if _, err := env.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(env.EventsTable), Item: it}); err != nil {
			t.Fatal(err)
		}
	}

	// Before: both users, the forgotten one's visitor linked to them, and
	// a poison item of each (kept aside by the relay).
	for range 5 {
		put("keep", "")
		put("gone", "")
	}
	put("gone", "v-gone") // identify: v-gone is gone's
	put("", "v-gone")
	item("gone", "poison-gone", "2026/11/22 10:04")
	item("keep", "poison-keep", "2026/11/22 10:05")
	if _, err := p.Drain(ctx, nil); err != nil {
		t.Fatalf("drain: %v", err)
	}
	if got := countLocal(t, dir, "SELECT count(*) FROM events WHERE user_id = 'gone' OR anonymous_id = 'v-gone'"); got != 7 {
		t.Fatalf("the lake holds %d events of gone before the erasure, want 7", got)
	}
	if !strings.Contains(keptAside(t, dir), "poison-gone") {
		t.Fatal("the poison item was not kept aside")
	}

	// The erasure, while the stack runs.
	err, _, errs := runCmd(t, "forget", "-local", dir, "-format", "json", "-dynamodb-endpoint", env.Server.Endpoint,
		"-events-table", env.EventsTable, "-summary-table", env.SummaryTable, "-settle", "0", "gone")
	if err != nil || !strings.Contains(errs, "error output: 1 events") {
		t.Fatalf("forget: %v\n%s", err, errs)
	}
	time.Sleep(200 * time.Millisecond) // every component reloads the list

	// After: more traffic of both, through every way in.
	dropped := p.Suppression.Dropped()
	for range 5 {
		put("keep", "")
		put("gone", "")
		put("", "v-gone")
	}
	if errs := p.PutBatch(ctx, []tracker.Event{{UserID: "gone", Type: "login"}, {UserID: "keep", Type: "login"}}); errs != nil {
		t.Fatalf("PutBatch: %v", errs)
	}
	late := now.Add(time.Minute).Format(tracker.TimeLayout)
	item("gone", "late-gone", late)
	item("keep", "late-keep", late)
	item("gone", "poison-gone-2", "2026/11/23 11:00")
	if _, err := p.Drain(ctx, nil); err != nil {
		t.Fatalf("drain after the erasure: %v", err)
	}
	if got := p.Suppression.Dropped() - dropped; got != 11 {
		t.Errorf("the tracker dropped %d events of the forgotten actors, want 11", got)
	}
	if got := countLocal(t, dir, "SELECT count(*) FROM events WHERE user_id = 'gone' OR anonymous_id = 'v-gone'"); got != 0 {
		t.Errorf("the lake holds %d events of the forgotten actors", got)
	}
	if got := countLocal(t, dir, "SELECT count(*) FROM events_dedup WHERE user_id = 'keep'"); got != 5+5+1+1 {
		t.Errorf("the lake holds %d events of keep, want 12", got)
	}
	kept := keptAside(t, dir)
	if strings.Contains(kept, "gone") || !strings.Contains(kept, "poison-keep") {
		t.Errorf("kept aside:\n%s\nwant poison-keep only", kept)
	}
	tr, err := tracker.New(env.Client, tracker.Config{EventsTable: env.EventsTable, SummaryTable: env.SummaryTable})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		get  func(context.Context, string) (tracker.UserSummary, error)
		id   string
		want int64
	}{{tr.Summary, "gone", 0}, {tr.VisitorSummary, "v-gone", 0}, {tr.Summary, "keep", 12}} {
		s, err := c.get(ctx, c.id)
		if err != nil || s.Actions != c.want {
			t.Errorf("summary of %s: %d actions, want %d (%v)", c.id, s.Actions, c.want, err)
		}
	}
	// The events table: only what the other writer wrote after the erasure
	// (no tracker can keep it out; the relay and the summary did).
	out, err := env.Client.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(env.EventsTable), KeyConditionExpression: aws.String("#a = :a"),
		ExpressionAttributeNames:  map[string]string{"#a": tracker.AttrActor},
		ExpressionAttributeValues: map[string]types.AttributeValue{":a": &types.AttributeValueMemberS{Value: tracker.ActorKey("gone", "")}}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, it := range out.Items {
		ids = append(ids, it[tracker.FieldEventID].(*types.AttributeValueMemberS).Value)
	}
	slices.Sort(ids)
	if got := strings.Join(ids, " "); got != "late-gone poison-gone-2" {
		t.Errorf("the events table holds %q of gone, want the other writer's late-gone poison-gone-2", got)
	}
}

// keptAside returns the content of the relay's kept-aside objects.
func keptAside(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(filepath.Join(dir, filepath.FromSlash(relay.KeepAsidePrefix)), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := os.ReadFile(p)
		b.Write(body)
		return err
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return b.String()
}
