package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/lambdas/streamtofirehose/relay"
	"github.com/eventlake/eventlake/local/dynamolocal"
	"github.com/eventlake/eventlake/local/faultdb"
	"github.com/eventlake/eventlake/local/firehoselocal"
	"github.com/eventlake/eventlake/local/pipeline"
	"github.com/eventlake/eventlake/local/streamsource"
	"github.com/eventlake/eventlake/tracker"
)

// The writer this test kills is the test binary run again; these variables
// tell it what to do.
const (
	spoolChildEnv    = "EVENTLAKE_RECOVERY_SPOOL_CHILD" // the spool folder
	spoolEndpointEnv = "EVENTLAKE_RECOVERY_ENDPOINT"
	spoolTableEnv    = "EVENTLAKE_RECOVERY_TABLE"
	spoolKillAfter   = 150 // accepted events before the kill
)

// spoolChild puts events with caller IDs spool-<n> through an AsyncWriter
// with a spool, printing n for every Put that returned nil, until it is
// killed; DynamoDB stalls after 30 writes, so at the kill events are
// written, in flight and queued.
func spoolChild(dir string) int {
	ctx := context.Background()
	srv, err := dynamolocal.Start(ctx, dynamolocal.Options{Endpoint: os.Getenv(spoolEndpointEnv)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	client, err := srv.Client(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fdb, err := faultdb.New(client, faultdb.Config{Seed: 3})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	tr, err := tracker.New(fdb, tracker.Config{EventsTable: os.Getenv(spoolTableEnv)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	w, err := tr.NewAsyncWriter(tracker.AsyncConfig{SpoolDir: dir, Workers: 2, FullPolicy: tracker.WaitWhenFull})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	go func() {
		for w.Stats().Written < 30 {
			time.Sleep(time.Millisecond)
		}
		fdb.Stall()
	}()
	for n := 0; ; n++ {
		e := tracker.Event{UserID: "spool-user", Type: "click", ID: "spool-" + strconv.Itoa(n),
			At: time.Now().Add(-time.Duration(n%3) * 24 * time.Hour)}
		if err := w.Put(ctx, e); err != nil {
			fmt.Fprintln(os.Stderr, "put:", err)
			return 2
		}
		fmt.Fprintln(os.Stdout, n)
		time.Sleep(time.Millisecond)
	}
}

// TestRecoveryEndToEnd is the test issue 14 asks for, on the local stack:
// events a week late, a caller-ID conflict, a poison item written by
// another writer, a Firehose outage longer than the relay's and the event
// source's retries, events whose format conversion fails, and a writer with
// a spool killed with SIGKILL; then eventlake redrive and reprocess, as an
// operator runs them (-local). Afterwards events_dedup holds exactly the
// expected events, each under its own day, none twice, and every conflict
// was reported.
func TestRecoveryEndToEnd(t *testing.T) {
	if dir := os.Getenv(spoolChildEnv); dir != "" {
		os.Exit(spoolChild(dir))
	}
	env := dynamolocal.NewEnv(t)
	lake := t.TempDir()
	var conflicts []error
	var confMu sync.Mutex
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	p, err := pipeline.Start(ctx, pipeline.Config{
		LakeDir: lake, Format: pipeline.FormatJSON, DynamoDB: env.Server, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		EventsTable: env.EventsTable, SummaryTable: env.SummaryTable, NoSummary: true,
		Async: tracker.AsyncConfig{OnError: func(e tracker.Event, err error) {
			confMu.Lock()
			conflicts = append(conflicts, err)
			confMu.Unlock()
		}},
		Relay: relay.Config{BackoffBase: time.Millisecond, BackoffMax: 20 * time.Millisecond, SafetyMargin: time.Second},
		Source: streamsource.Config{FunctionTimeout: 2 * time.Second, MaxRetries: 1,
			RetryBaseDelay: 10 * time.Millisecond, RetryMaxDelay: 50 * time.Millisecond},
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

	want := map[string]string{} // event_id -> the day it must be filed under
	now := time.Now().UTC()
	weekAgo := now.Add(-7 * 24 * time.Hour)
	put := func(id string, at time.Time, typ string) {
		t.Helper()
		if err := p.Put(ctx, tracker.Event{UserID: "user-" + strconv.Itoa(len(want)%7), Type: typ, ID: id, At: at}); err != nil {
			t.Fatal(err)
		}
		want[id] = at.UTC().Format(tracker.DateLayout)
	}

	// 1. Normal traffic, a quarter of it a week late.
	for i := range 120 {
		at := now.Add(-time.Duration(i) * time.Minute)
		if i%4 == 0 {
			at = weekAgo.Add(time.Duration(i) * time.Second)
		}
		put("a-"+strconv.Itoa(i), at, "login")
	}
	// A caller-ID conflict: another event with the same user, millisecond
	// and ID. The first is kept, the second reported.
	clash := now.Add(-time.Hour).Truncate(time.Millisecond)
	if err := p.Put(ctx, tracker.Event{UserID: "clash", Type: "login", ID: "clash-1", At: clash}); err != nil {
		t.Fatal(err)
	}
	want["clash-1"] = clash.Format(tracker.DateLayout)
	if err := p.Writer.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Put(ctx, tracker.Event{UserID: "clash", Type: "logout", ID: "clash-1", At: clash}); err != nil {
		t.Fatal(err)
	}
	// A poison item from another writer: its event_at is not ISO 8601.
	poisonKey := map[string]types.AttributeValue{
		tracker.AttrActor:    &types.AttributeValueMemberS{Value: "u#poisoned"},
		tracker.AttrEventKey: &types.AttributeValueMemberS{Value: "2026/11/22 10:04#poison-1"},
	}
	poison := map[string]types.AttributeValue{
		tracker.FieldUserID: &types.AttributeValueMemberS{Value: "poisoned"}, tracker.FieldEventAt: &types.AttributeValueMemberS{Value: "2026/11/22 10:04"},
		tracker.FieldEventID: &types.AttributeValueMemberS{Value: "poison-1"}, tracker.FieldEventType: &types.AttributeValueMemberS{Value: "login"},
	}
	for k, v := range poisonKey {
		poison[k] = v
	}
	if _, err := env.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(env.EventsTable), Item: poison}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Drain(ctx, nil); err != nil {
		t.Fatalf("drain before the outage: %v", err)
	}

	// 2. A Firehose outage longer than the relay's and the mapping's
	// retries: the batches go to the on-failure queue.
	if err := p.Firehose.SetFaults(firehoselocal.Faults{ThrottleRate: 1}); err != nil {
		t.Fatal(err)
	}
	for i := range 80 {
		put("b-"+strconv.Itoa(i), now.Add(-time.Duration(i)*time.Second), "page_view")
	}
	if err := p.Writer.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for failed := 0; failed < 80; {
		select {
		case <-ctx.Done():
			t.Fatalf("only %d records reached the on-failure queue", failed)
		case <-time.After(100 * time.Millisecond):
		}
		failed = int(p.Source.Stats().Failed)
	}
	if err := p.Firehose.SetFaults(firehoselocal.Faults{}); err != nil {
		t.Fatal(err)
	}
	if err := p.Firehose.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	// 3. Format conversion fails for a while (a schema drift, since
	// fixed): Firehose writes those events under errors/.
	if err := p.Firehose.SetFaults(firehoselocal.Faults{ConversionFailureRate: 1}); err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		put("c-"+strconv.Itoa(i), now.Add(-time.Duration(i)*time.Hour), "click")
	}
	_, err = p.Drain(ctx, nil)
	if !errors.Is(err, pipeline.ErrIncomplete) {
		t.Fatalf("drain with the outage's batches in the queue: %v, want ErrIncomplete", err)
	}
	if err := p.Firehose.SetFaults(firehoselocal.Faults{}); err != nil {
		t.Fatal(err)
	}

	// 4. A writer with a spool killed with SIGKILL, then started again.
	spool := t.TempDir()
	accepted := killSpoolWriter(t, spool, env)
	for n := range accepted {
		want["spool-"+strconv.Itoa(n)] = now.Add(-time.Duration(n%3) * 24 * time.Hour).Format(tracker.DateLayout)
	}
	w, err := p.Tracker.NewAsyncWriter(tracker.AsyncConfig{SpoolDir: spool})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if s := w.Stats(); s.Replayed == 0 || s.Failed != 0 {
		t.Errorf("the restarted writer replayed %+v", s)
	}

	// 5. The operator: fix the poison item, then redrive and reprocess.
	if _, err := env.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(env.EventsTable), Key: poisonKey,
		UpdateExpression:          aws.String("SET #at = :at"),
		ExpressionAttributeNames:  map[string]string{"#at": tracker.FieldEventAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{":at": &types.AttributeValueMemberS{Value: "2026-11-22T10:04:00.000Z"}},
	}); err != nil {
		t.Fatal(err)
	}
	want["poison-1"] = "2026-11-22"
	if _, err := p.Drain(ctx, nil); !errors.Is(err, pipeline.ErrIncomplete) {
		t.Fatalf("drain after the restart: %v", err)
	}
	for _, args := range [][]string{{"redrive", "-local", lake}, {"reprocess", "-local", lake, "-from-table"}} {
		var out, errOut bytes.Buffer
		if err := run(ctx, args, &out, &errOut); err != nil {
			t.Fatalf("eventlake %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
		}
		t.Logf("eventlake %s:\n%s%s", args[0], errOut.String(), out.String())
	}
	// Run again: nothing left to do, nothing sent twice that matters.
	var out bytes.Buffer
	if err := run(ctx, []string{"reprocess", "-local", lake}, &out, &bytes.Buffer{}); err != nil || !strings.Contains(out.String(), "done 0,") {
		t.Errorf("second reprocess: %v: %s", err, out.String())
	}
	if msgs, _ := p.Queue.Receive(ctx, 10); len(msgs) != 0 {
		t.Errorf("%d messages left in the on-failure queue", len(msgs))
	}
	if err := p.Firehose.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	// Exactly the expected events, each in its own day, none twice.
	db, err := p.Lake(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res, err := db.Query(ctx, "SELECT event_id, dt, event_type, count(*) OVER (PARTITION BY event_id) FROM "+athena.ViewName)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range res.Rows {
		id, dt := r[0].String, r[1].String
		if r[3].String != "1" {
			t.Errorf("event %s is in events_dedup %s times", id, r[3].String)
		}
		got[id] = dt
		if id == "clash-1" && r[2].String != "login" {
			t.Errorf("the conflict's loser (%s) reached the lake", r[2].String)
		}
	}
	var missing, extra, misfiled []string
	for id, day := range want {
		switch g, ok := got[id]; {
		case !ok:
			missing = append(missing, id)
		case g != day:
			misfiled = append(misfiled, id+" in "+g+", not "+day)
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			extra = append(extra, id)
		}
	}
	sort.Strings(missing)
	if len(missing)+len(extra)+len(misfiled) > 0 {
		t.Errorf("events_dedup has %d events, want %d: missing %v, unexpected %v, misfiled %v", len(got), len(want), missing, extra, misfiled)
	}
	confMu.Lock()
	defer confMu.Unlock()
	if len(conflicts) != 1 || !errors.Is(conflicts[0], tracker.ErrDuplicateEvent) {
		t.Errorf("conflicts reported: %v, want the one ErrDuplicateEvent", conflicts)
	}
	// The week-late events are in that day's answer.
	day := weekAgo.Format(tracker.DateLayout)
	res, err = db.Query(ctx, "SELECT count(*) FROM "+athena.ViewName+" WHERE dt = '"+day+"' AND event_type = 'login'")
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows[0][0].String != "30" {
		t.Errorf("%s events of %s in the lake, want the 30 sent a week late", res.Rows[0][0].String, day)
	}
	t.Logf("%d events in events_dedup; firehose %+v; source %+v", len(got), p.Firehose.Stats(), p.Source.Stats())
}

// killSpoolWriter runs the spool child, kills it with SIGKILL after
// spoolKillAfter accepted events and returns how many it accepted.
func killSpoolWriter(t *testing.T, dir string, env *dynamolocal.Env) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestRecoveryEndToEnd$")
	cmd.Env = append(os.Environ(), spoolChildEnv+"="+dir, spoolEndpointEnv+"="+env.Server.Endpoint, spoolTableEnv+"="+env.EventsTable)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	accepted, killed := 0, false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		n, err := strconv.Atoi(sc.Text())
		if err != nil || n != accepted {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child printed %q after %d", sc.Text(), accepted)
		}
		if accepted++; accepted == spoolKillAfter && !killed {
			cmd.Process.Signal(syscall.SIGKILL)
			killed = true
		}
	}
	cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !killed || !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the writer was not killed with SIGKILL (accepted %d): %s", accepted, stderr.String())
	}
	return accepted
}
