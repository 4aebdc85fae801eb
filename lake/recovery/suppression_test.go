package recovery_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/eventlake/eventlake/lake"
	"github.com/eventlake/eventlake/lake/recovery"
	"github.com/eventlake/eventlake/lambdas/streamtofirehose/relay"
	"github.com/eventlake/eventlake/local/dynamolocal"
	"github.com/eventlake/eventlake/local/firehoselocal"
	"github.com/eventlake/eventlake/tracker"
)

// TestRecoveryLeavesOutForgottenActors: with a forgotten user and a
// forgotten visitor on the lake's suppression list, backfill, redrive (from
// the stream and from the table) and reprocess (Firehose's error output and
// the relay's kept-aside records) send every other event and none of
// theirs, and count what they left out. The kept user's event on the
// forgotten visitor's browser is the kept user's and is sent.
func TestRecoveryLeavesOutForgottenActors(t *testing.T) {
	env := dynamolocal.NewEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	tr, err := tracker.New(env.Client, tracker.Config{EventsTable: env.EventsTable})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Now().UTC().Add(-2 * 24 * time.Hour).Truncate(time.Hour)
	evs := []tracker.Event{
		{UserID: "keep", ID: "k-1"}, {UserID: "gone", ID: "g-1"}, {AnonymousID: "a-gone", ID: "ga-1"},
		{UserID: "keep", AnonymousID: "a-gone", ID: "k-2"}, {AnonymousID: "a-keep", ID: "ak-1"}, {UserID: "gone", ID: "g-2"},
	}
	for i, e := range evs {
		e.Type, e.At = "login", base.Add(time.Duration(i)*time.Minute)
		if err := tr.Put(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	const wantSent, wantLeftOut = "ak-1 k-1 k-2", 3

	store, err := lake.NewFolderStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lake.AddSuppression(ctx, store, []lake.SuppressionEntry{{Hash: lake.UserHash("gone")}, {Hash: lake.AnonymousHash("a-gone")}}); err != nil {
		t.Fatal(err)
	}
	fh, err := firehoselocal.Start(firehoselocal.Options{Streams: []string{"s"}, BufferInterval: time.Hour,
		Prefix: firehoselocal.EventDayPrefix, Partitioning: firehoselocal.EventDayPartitioning()})
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	streams, err := env.Server.StreamsClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tools, err := recovery.New(ctx, recovery.Config{Firehose: fh.Client(relay.ClientOptions), DeliveryStream: "s",
		DynamoDB: env.Client, EventsTable: env.EventsTable, Streams: streams, Lake: store})
	if err != nil {
		t.Fatal(err)
	}
	sent := func() string {
		t.Helper()
		if err := fh.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, l := range fh.MemorySink().Lines() {
			var m map[string]any
			if err := json.Unmarshal(l, &m); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, m[tracker.FieldEventID].(string))
		}
		fh.MemorySink().Reset()
		slices.Sort(ids)
		return strings.Join(ids, " ")
	}

	t.Run("backfill", func(t *testing.T) {
		sum, err := tools.Backfill(ctx, recovery.BackfillOptions{Segments: 2})
		if err != nil || sum.Suppressed != wantLeftOut || sum.Events != 3 || sum.Records != len(evs) {
			t.Errorf("backfill %+v, %v", sum, err)
		}
		if got := sent(); got != wantSent {
			t.Errorf("backfill sent %q, want %q", got, wantSent)
		}
	})

	t.Run("redrive from the stream", func(t *testing.T) {
		desc, err := env.Client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(env.EventsTable)})
		if err != nil {
			t.Fatal(err)
		}
		arn := aws.ToString(desc.Table.LatestStreamArn)
		sd, err := streams.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: &arn})
		if err != nil || len(sd.StreamDescription.Shards) == 0 {
			t.Fatalf("describe stream: %v", err)
		}
		shard := aws.ToString(sd.StreamDescription.Shards[0].ShardId)
		it, err := streams.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{StreamArn: &arn, ShardId: &shard, ShardIteratorType: streamtypes.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		recs, err := streams.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: it.ShardIterator})
		if err != nil || len(recs.Records) != len(evs) {
			t.Fatalf("%d stream records, %v", len(recs.Records), err)
		}
		var rec recovery.OnFailureRecord
		rec.DDBStreamBatchInfo = &recovery.StreamBatchInfo{ShardID: shard, StreamARN: arn, BatchSize: len(evs),
			StartSequenceNumber:             aws.ToString(recs.Records[0].Dynamodb.SequenceNumber),
			EndSequenceNumber:               aws.ToString(recs.Records[len(evs)-1].Dynamodb.SequenceNumber),
			ApproximateArrivalOfFirstRecord: time.Now(), ApproximateArrivalOfLastRecord: time.Now()}
		body, _ := json.Marshal(rec)
		q := recovery.DirQueue{Dir: t.TempDir()}
		if err := q.Send(ctx, body); err != nil {
			t.Fatal(err)
		}
		sum, err := tools.Redrive(ctx, q, recovery.RedriveOptions{})
		if err != nil || sum.FromStream != 1 || sum.Suppressed != wantLeftOut || sum.Events != 3 || sum.Records != len(evs) {
			t.Errorf("redrive %+v, %v", sum, err)
		}
		if got := sent(); got != wantSent {
			t.Errorf("redrive sent %q, want %q", got, wantSent)
		}
	})

	t.Run("reprocess", func(t *testing.T) {
		// Firehose's error output: one record per event, as a format
		// conversion failure writes it.
		var lines []byte
		for _, e := range evs {
			img := image(t, e, base)
			line, err := relay.AppendLine(nil, img)
			if err != nil {
				t.Fatal(err)
			}
			rec, _ := json.Marshal(firehoselocal.ErrorRecord{AttemptsMade: 1, LastErrorCode: firehoselocal.ErrorCodeMalformedData, RawData: line})
			lines = append(append(lines, rec...), '\n')
		}
		day := base.Format(tracker.DateLayout)
		if _, err := store.Put(ctx, "errors/format-conversion-failed/dt="+day+"/s-1", lines, lake.Condition{}); err != nil {
			t.Fatal(err)
		}
		// The relay's kept-aside records (images of an older relay's
		// rejects, fine with this one).
		var kept []byte
		for i, e := range evs {
			img, _ := json.Marshal(image(t, e, base))
			rec, _ := json.Marshal(relay.KeptAsideRecord{Reason: "malformed", Problem: "test", SequenceNumber: fmt.Sprint(i), StreamEventID: fmt.Sprint("id-", i), NewImage: img})
			kept = append(append(kept, rec...), '\n')
		}
		if _, err := store.Put(ctx, relay.KeepAsidePrefix+"dt="+day+"/id-0.ndjson", kept, lake.Condition{}); err != nil {
			t.Fatal(err)
		}
		dry, err := tools.Reprocess(ctx, recovery.ReprocessOptions{DryRun: true})
		if err != nil || dry.Suppressed != 2*wantLeftOut {
			t.Errorf("dry run %+v, %v", dry, err)
		}
		if got := sent(); got != "" {
			t.Errorf("a dry run sent %q", got)
		}
		sum, err := tools.Reprocess(ctx, recovery.ReprocessOptions{})
		if err != nil || sum.Done != 2 || sum.Suppressed != 2*wantLeftOut || sum.Events != 6 {
			t.Errorf("reprocess %+v, %v", sum, err)
		}
		if got, want := sent(), "ak-1 ak-1 k-1 k-1 k-2 k-2"; got != want {
			t.Errorf("reprocess sent %q, want %q", got, want)
		}
	})
}

// image is e's item as the tracker writes it (at base + its index's
// minutes, as the test put them), as a stream image.
func image(t *testing.T, e tracker.Event, base time.Time) map[string]events.DynamoDBAttributeValue {
	t.Helper()
	i := map[string]int{"k-1": 0, "g-1": 1, "ga-1": 2, "k-2": 3, "ak-1": 4, "g-2": 5}[e.ID]
	at := base.Add(time.Duration(i) * time.Minute)
	img := map[string]events.DynamoDBAttributeValue{
		tracker.AttrActor:      events.NewStringAttribute(tracker.ActorKey(e.UserID, e.AnonymousID)),
		tracker.AttrEventKey:   events.NewStringAttribute(tracker.EventKey(at, e.ID)),
		tracker.FieldEventAt:   events.NewStringAttribute(at.Format(tracker.TimeLayout)),
		tracker.FieldEventID:   events.NewStringAttribute(e.ID),
		tracker.FieldEventType: events.NewStringAttribute("login"),
		tracker.FieldIsBot:     events.NewBooleanAttribute(false),
	}
	if e.UserID != "" {
		img[tracker.FieldUserID] = events.NewStringAttribute(e.UserID)
	}
	if e.AnonymousID != "" {
		img[tracker.FieldAnonymousID] = events.NewStringAttribute(e.AnonymousID)
	}
	return img
}
