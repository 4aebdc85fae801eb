package recovery_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/eventlake/eventlake/lake"
	"github.com/eventlake/eventlake/lake/recovery"
	"github.com/eventlake/eventlake/lambdas/streamtofirehose/relay"
	"github.com/eventlake/eventlake/local/dynamolocal"
	"github.com/eventlake/eventlake/local/firehoselocal"
	"github.com/eventlake/eventlake/tracker"
)

// trimmed is a Streams client whose records are gone, as 24 hours after.
type trimmed struct{}

func (trimmed) DescribeStream(context.Context, *dynamodbstreams.DescribeStreamInput, ...func(*dynamodbstreams.Options)) (*dynamodbstreams.DescribeStreamOutput, error) {
	return nil, &types.TrimmedDataAccessException{Message: aws.String("trimmed")}
}
func (trimmed) GetShardIterator(context.Context, *dynamodbstreams.GetShardIteratorInput, ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error) {
	return nil, &types.TrimmedDataAccessException{Message: aws.String("trimmed")}
}
func (trimmed) GetRecords(context.Context, *dynamodbstreams.GetRecordsInput, ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error) {
	return nil, &types.TrimmedDataAccessException{Message: aws.String("trimmed")}
}

// TestBackfillAndRedriveFromTheTable stores events with the tracker in
// DynamoDB Local, then backfills a time range (only its events reach
// Firehose, under their days) and redrives an on-failure message whose
// records the stream no longer holds (the table's events of that range are
// sent, the message deleted).
func TestBackfillAndRedriveFromTheTable(t *testing.T) {
	env := dynamolocal.NewEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	tr, err := tracker.New(env.Client, tracker.Config{EventsTable: env.EventsTable})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Now().UTC().Add(-10 * 24 * time.Hour).Truncate(time.Hour)
	for i := range 60 {
		if err := tr.Put(ctx, tracker.Event{UserID: "u" + strconv.Itoa(i%5), Type: "login", ID: "e-" + strconv.Itoa(i), At: base.Add(time.Duration(i) * 4 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	fh, err := firehoselocal.Start(firehoselocal.Options{Streams: []string{"s"}, BufferInterval: time.Hour,
		Prefix: firehoselocal.EventDayPrefix, Partitioning: firehoselocal.EventDayPartitioning()})
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	store, err := lake.NewFolderStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tools, err := recovery.New(ctx, recovery.Config{Firehose: fh.Client(relay.ClientOptions), DeliveryStream: "s",
		DynamoDB: env.Client, EventsTable: env.EventsTable, Streams: trimmed{}, Lake: store})
	if err != nil {
		t.Fatal(err)
	}
	from, to := base.Add(24*time.Hour), base.Add(72*time.Hour-time.Millisecond) // events 6..17
	sum, err := tools.Backfill(ctx, recovery.BackfillOptions{From: from, To: to, Segments: 3})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Events != 12 || sum.Records != 12 {
		t.Errorf("backfill sent %+v, want the 12 events of the range", sum)
	}
	fh.Flush(ctx)
	got := map[string]bool{}
	for _, l := range fh.MemorySink().Lines() {
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatal(err)
		}
		got[m[tracker.FieldEventID].(string)] = true
	}
	for i := 6; i < 18; i++ {
		if !got["e-"+strconv.Itoa(i)] {
			t.Errorf("e-%d not backfilled", i)
		}
	}
	for _, o := range fh.MemorySink().Objects() {
		if !strings.HasPrefix(o.Key, "events/dt=") {
			t.Errorf("object %s", o.Key)
		}
	}

	// A redrive of a batch the stream no longer holds.
	fh.MemorySink().Reset()
	q := recovery.DirQueue{Dir: t.TempDir()}
	var rec recovery.OnFailureRecord
	rec.DDBStreamBatchInfo = &recovery.StreamBatchInfo{ShardID: "shardId-1", StartSequenceNumber: "100", EndSequenceNumber: "200",
		ApproximateArrivalOfFirstRecord: base.Add(40 * time.Hour), ApproximateArrivalOfLastRecord: base.Add(48 * time.Hour),
		BatchSize: 3, StreamARN: "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/x"}
	body, _ := json.Marshal(rec)
	if err := q.Send(ctx, body); err != nil {
		t.Fatal(err)
	}
	if err := q.Send(ctx, []byte(`{"not":"a stream batch"}`)); err != nil {
		t.Fatal(err)
	}
	rs, err := tools.Redrive(ctx, q, recovery.RedriveOptions{Slack: 8 * time.Hour})
	if err == nil || rs.Redriven != 1 || rs.FromTable != 1 || rs.Unreadable != 1 {
		t.Errorf("redrive %+v, %v: want one redriven from the table and one unreadable message left", rs, err)
	}
	// event_at in [arrival first - 8h, arrival last + 5m]: events 8..12.
	if rs.Events != 5 {
		t.Errorf("redrive sent %d events, want 5", rs.Events)
	}
	if left, _ := q.Receive(ctx, 10); len(left) != 1 || !strings.Contains(string(left[0].Body), "not") {
		t.Errorf("left in the queue: %v", left)
	}

	// A batch of 10 records whose range holds 5 events: the others are
	// older than the slack (late events). The 5 are sent, the message stays
	// (ErrIncomplete); with AcceptIncomplete it goes.
	q = recovery.DirQueue{Dir: t.TempDir()}
	rec.DDBStreamBatchInfo.BatchSize = 10
	body, _ = json.Marshal(rec)
	if err := q.Send(ctx, body); err != nil {
		t.Fatal(err)
	}
	rs, err = tools.Redrive(ctx, q, recovery.RedriveOptions{Slack: 8 * time.Hour})
	if !errors.Is(err, recovery.ErrIncomplete) || rs.Incomplete != 1 || rs.Redriven != 0 || rs.Events != 5 {
		t.Errorf("short redrive %+v, %v: want the 5 events sent and the message kept", rs, err)
	}
	if left, _ := q.Receive(ctx, 10); len(left) != 1 {
		t.Errorf("left in the queue after a short redrive: %d messages", len(left))
	}
	// A wider slack finds the batch's older events: nothing is missing.
	rs, err = tools.Redrive(ctx, q, recovery.RedriveOptions{Slack: 30 * time.Hour})
	if err != nil || rs.Redriven != 1 || rs.Incomplete != 0 || rs.Events < 10 {
		t.Errorf("wider redrive %+v, %v", rs, err)
	}
	if err := q.Send(ctx, body); err != nil {
		t.Fatal(err)
	}
	rs, err = tools.Redrive(ctx, q, recovery.RedriveOptions{Slack: 8 * time.Hour, AcceptIncomplete: true})
	if err != nil || rs.Redriven != 1 || rs.Incomplete != 0 {
		t.Errorf("accepted short redrive %+v, %v", rs, err)
	}
	if left, _ := q.Receive(ctx, 10); len(left) != 0 {
		t.Errorf("left in the queue after -accept-incomplete: %d messages", len(left))
	}
}

// sqsDouble answers the three SQS JSON-protocol operations SQSQueue uses,
// so the real SDK client is exercised on the wire. (No SQS emulator that
// speaks the JSON protocol of aws-sdk-go-v2's SQS client runs here.)
type sqsDouble struct {
	mu   sync.Mutex
	msgs map[string]string // receipt handle -> body
	n    int
}

func (d *sqsDouble) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var in map[string]any
	json.Unmarshal(body, &in)
	d.mu.Lock()
	defer d.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	switch strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "AmazonSQS.") {
	case "SendMessage":
		d.n++
		d.msgs["rh-"+strconv.Itoa(d.n)] = in["MessageBody"].(string)
		json.NewEncoder(w).Encode(map[string]string{"MessageId": "m-" + strconv.Itoa(d.n), "MD5OfMessageBody": md5hex(in["MessageBody"].(string))})
	case "ReceiveMessage":
		var out []map[string]string
		for h, b := range d.msgs {
			out = append(out, map[string]string{"MessageId": "m-" + strings.TrimPrefix(h, "rh-"), "ReceiptHandle": h, "Body": b, "MD5OfBody": md5hex(b)})
		}
		json.NewEncoder(w).Encode(map[string]any{"Messages": out})
	case "DeleteMessage":
		delete(d.msgs, in["ReceiptHandle"].(string))
		w.Write([]byte("{}"))
	default:
		w.WriteHeader(400)
		w.Write([]byte(`{"__type":"UnknownOperationException"}`))
	}
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestSQSQueue(t *testing.T) {
	d := &sqsDouble{msgs: map[string]string{}}
	srv := httptest.NewServer(d)
	defer srv.Close()
	client := sqs.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", ""),
		BaseEndpoint: aws.String(srv.URL)})
	q := recovery.SQSQueue{Client: client, URL: srv.URL + "/000000000000/onfailure"}
	ctx := context.Background()
	if err := q.Send(ctx, []byte(`{"x":1}`)); err != nil {
		t.Fatal(err)
	}
	msgs, err := q.Receive(ctx, 10)
	if err != nil || len(msgs) != 1 || string(msgs[0].Body) != `{"x":1}` || msgs[0].Handle == "" {
		t.Fatalf("receive %+v, %v", msgs, err)
	}
	if err := q.Delete(ctx, msgs[0]); err != nil {
		t.Fatal(err)
	}
	if msgs, _ := q.Receive(ctx, 10); len(msgs) != 0 {
		t.Errorf("after delete: %v", msgs)
	}
}

func TestParseOnFailure(t *testing.T) {
	good := `{"requestContext":{"requestId":"r","functionArn":"arn:aws:lambda:us-east-2:123456789012:function:f","condition":"RetryAttemptsExhausted","approximateInvokeCount":4},
"responseContext":{"statusCode":200,"executedVersion":"$LATEST","functionError":"Unhandled"},"version":"1.0","timestamp":"2019-11-14T00:13:49.717Z",
"DDBStreamBatchInfo":{"shardId":"shardId-00000001573689847184-864758bb","startSequenceNumber":"800000000003126276362","endSequenceNumber":"800000000003126276362",
"approximateArrivalOfFirstRecord":"2019-11-14T00:13:19Z","approximateArrivalOfLastRecord":"2019-11-14T00:13:19Z","batchSize":1,
"streamArn":"arn:aws:dynamodb:us-east-2:123456789012:table/mytable/stream/2019-10-22T18:02:14.058"}}`
	r, err := recovery.ParseOnFailure([]byte(good))
	if err != nil || r.DDBStreamBatchInfo.BatchSize != 1 || r.RequestContext.ApproximateInvokeCount != 4 {
		t.Errorf("ParseOnFailure = %+v, %v", r, err)
	}
	for _, bad := range []string{``, `{}`, `{"DDBStreamBatchInfo":{"shardId":"s","streamArn":"a","startSequenceNumber":"9","endSequenceNumber":"1"}}`,
		`{"DDBStreamBatchInfo":{"shardId":"s","streamArn":"a","startSequenceNumber":"x","endSequenceNumber":"1"}}`} {
		if _, err := recovery.ParseOnFailure([]byte(bad)); !errors.Is(err, recovery.ErrNotStreamBatch) {
			t.Errorf("ParseOnFailure(%q) = %v", bad, err)
		}
	}
}
