package recovery_test

import (
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/eventlake/eventlake/lake/recovery"
)

// onFailureSample is an on-failure record as Lambda sends it for a DynamoDB
// stream event source mapping (the shape AWS documents).
const onFailureSample = `{"requestContext":{"requestId":"316aa6d0-8154-xmpl-9af7-85d5f4a6bc81","functionArn":"arn:aws:lambda:us-east-2:123456789012:function:myfunction","condition":"RetryAttemptsExhausted","approximateInvokeCount":1},` +
	`"responseContext":{"statusCode":200,"executedVersion":"$LATEST","functionError":"Unhandled"},"version":"1.0","timestamp":"2019-11-14T00:13:49.717Z",` +
	`"DDBStreamBatchInfo":{"shardId":"shardId-00000001573689847184-864758bb","startSequenceNumber":"800000000003126276362","endSequenceNumber":"800000000003126276362",` +
	`"approximateArrivalOfFirstRecord":"2019-11-14T00:12:09Z","approximateArrivalOfLastRecord":"2019-11-14T00:12:09Z","batchSize":1,` +
	`"streamArn":"arn:aws:dynamodb:us-east-2:123456789012:table/mytable/stream/2019-10-22T18:02:14.058"}}`

// FuzzParseOnFailure: an on-failure queue message is outside input (any
// sender to the queue, another source's record). ParseOnFailure accepts
// exactly the JSON records whose DDBStreamBatchInfo names a shard, a
// stream and a range of decimal sequence numbers (at most 64 digits) whose
// start is not after its end, judged here with math/big; it refuses
// everything else with ErrNotStreamBatch; and what it accepts survives a
// round trip through its JSON encoding unchanged.
func FuzzParseOnFailure(f *testing.F) {
	f.Add([]byte(onFailureSample))
	for _, s := range []string{
		``, `null`, `{}`, `[]`, `"x"`, `{"DDBStreamBatchInfo":null}`,
		`{"DDBStreamBatchInfo":{"shardId":"s","streamArn":"a","startSequenceNumber":"9","endSequenceNumber":"1"}}`,
		`{"DDBStreamBatchInfo":{"shardId":"s","streamArn":"a","startSequenceNumber":"x","endSequenceNumber":"1"}}`,
		`{"DDBStreamBatchInfo":{"shardId":"s","streamArn":"a","startSequenceNumber":"0009","endSequenceNumber":"10"}}`,
		`{"DDBStreamBatchInfo":{"shardId":"s","streamArn":"a","startSequenceNumber":"10","endSequenceNumber":"0009"}}`,
		`{"DDBStreamBatchInfo":{"shardId":"s","streamArn":"a","startSequenceNumber":"000","endSequenceNumber":"0"}}`,
		`{"DDBStreamBatchInfo":{"shardId":"s","streamArn":"a","startSequenceNumber":"-1","endSequenceNumber":"1"}}`,
		`{"DDBStreamBatchInfo":{"shardId":"s","streamArn":"a","startSequenceNumber":"1 ","endSequenceNumber":"1"}}`,
		`{"DDBStreamBatchInfo":{"shardId":"s","streamArn":"a","startSequenceNumber":1,"endSequenceNumber":"1"}}`,
		`{"DDBStreamBatchInfo":{"shardId":"","streamArn":"a","startSequenceNumber":"1","endSequenceNumber":"1"}}`,
		`{"ddbstreambatchinfo":{"SHARDID":"s","StreamArn":"a","startsequencenumber":"1","endSequenceNumber":"2"}}`,
		`{"DDBStreamBatchInfo":{"shardId":"s","streamArn":"a","startSequenceNumber":"1","endSequenceNumber":"2"},"DDBStreamBatchInfo":{"shardId":"t"}}`,
		`{"DDBStreamBatchInfo":{"shardId":"s","streamArn":"a","startSequenceNumber":"` + strings.Repeat("9", 64) + `","endSequenceNumber":"` + strings.Repeat("9", 64) + `"}}`,
		`{"DDBStreamBatchInfo":{"shardId":"s","streamArn":"a","startSequenceNumber":"1","endSequenceNumber":"` + strings.Repeat("9", 65) + `"}}`,
		`{"timestamp":"not a time","DDBStreamBatchInfo":{"shardId":"s","streamArn":"a","startSequenceNumber":"1","endSequenceNumber":"2"}}`,
		`{"timestamp":"2019-11-14T00:13:49.717+14:00","DDBStreamBatchInfo":{"shardId":"s","streamArn":"a","startSequenceNumber":"1","endSequenceNumber":"2","batchSize":-5}}`,
		// Another source's record: an SQS or Kinesis batch, an S3 event.
		`{"requestContext":{"condition":"RetryAttemptsExhausted"},"KinesisBatchInfo":{"shardId":"shardId-000000000000","startSequenceNumber":"1","endSequenceNumber":"2","streamArn":"arn:aws:kinesis:us-east-2:123456789012:stream/s"}}`,
		`{"Records":[{"eventSource":"aws:s3"}]}`,
		onFailureSample[:len(onFailureSample)/2],
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := recovery.ParseOnFailure(body)
		want := wantOnFailure(body)
		if err != nil {
			if !errors.Is(err, recovery.ErrNotStreamBatch) {
				t.Fatalf("ParseOnFailure(%q) = %v, not an ErrNotStreamBatch", body, err)
			}
			if want {
				t.Fatalf("ParseOnFailure(%q) refused a valid record: %v", body, err)
			}
			return
		}
		if !want {
			t.Fatalf("ParseOnFailure(%q) accepted %+v", body, r.DDBStreamBatchInfo)
		}
		b := r.DDBStreamBatchInfo
		if b == nil || b.ShardID == "" || b.StreamARN == "" {
			t.Fatalf("ParseOnFailure(%q) = %+v: no shard or stream", body, b)
		}
		start, end := seqOf(t, b.StartSequenceNumber), seqOf(t, b.EndSequenceNumber)
		if start.Cmp(end) > 0 {
			t.Fatalf("ParseOnFailure(%q): start %s after end %s", body, b.StartSequenceNumber, b.EndSequenceNumber)
		}
		// What a redrive sends back to the queue (it keeps the record) or
		// writes to a DirQueue reads back as the same record.
		again, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("the accepted record %+v does not encode: %v", r, err)
		}
		r2, err := recovery.ParseOnFailure(again)
		if err != nil {
			t.Fatalf("the accepted record's encoding %s is refused: %v", again, err)
		}
		b2 := r2.DDBStreamBatchInfo
		if r2.RequestContext != r.RequestContext || r2.ResponseContext != r.ResponseContext || r2.Version != r.Version || !r2.Timestamp.Equal(r.Timestamp) ||
			b2.ShardID != b.ShardID || b2.StreamARN != b.StreamARN || b2.StartSequenceNumber != b.StartSequenceNumber ||
			b2.EndSequenceNumber != b.EndSequenceNumber || b2.BatchSize != b.BatchSize ||
			!b2.ApproximateArrivalOfFirstRecord.Equal(b.ApproximateArrivalOfFirstRecord) || !b2.ApproximateArrivalOfLastRecord.Equal(b.ApproximateArrivalOfLastRecord) {
			t.Fatalf("round trip of %q:\n%+v %+v\nbecame\n%+v %+v", body, r, *b, r2, *b2)
		}
	})
}

// wantOnFailure is the rule ParseOnFailure documents, written without its
// code: the body decodes as the record, and its batch info names a shard, a
// stream and numeric sequence numbers (1 to 64 digits), start <= end.
func wantOnFailure(body []byte) bool {
	var r recovery.OnFailureRecord
	if json.Unmarshal(body, &r) != nil || r.DDBStreamBatchInfo == nil {
		return false
	}
	b := r.DDBStreamBatchInfo
	if b.ShardID == "" || b.StreamARN == "" {
		return false
	}
	start, ok1 := new(big.Int).SetString(b.StartSequenceNumber, 10)
	end, ok2 := new(big.Int).SetString(b.EndSequenceNumber, 10)
	digits := func(s string) bool {
		return len(s) >= 1 && len(s) <= 64 && strings.Trim(s, "0123456789") == ""
	}
	return ok1 && ok2 && digits(b.StartSequenceNumber) && digits(b.EndSequenceNumber) && start.Cmp(end) <= 0
}

func seqOf(t *testing.T, s string) *big.Int {
	t.Helper()
	n, ok := new(big.Int).SetString(s, 10)
	if !ok || n.Sign() < 0 {
		t.Fatalf("sequence number %q is not a decimal number", s)
	}
	return n
}
