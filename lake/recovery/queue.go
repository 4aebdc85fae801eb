package recovery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/eventlake/eventlake/local/streamsource"
)

// Message is one message of the on-failure queue.
type Message struct {
	// ID identifies the message (SQS's MessageId, the file's name).
	ID string
	// Handle is what Delete needs (SQS's receipt handle, the file's name).
	Handle string
	// Body is the message: an OnFailureRecord as JSON.
	Body []byte
}

// Queue is the on-failure destination as the recovery tools read it: the
// deployed stack's SQS queue (SQSQueue) or the local stack's folder
// (DirQueue). Receive returns messages not yet deleted (at most max; none
// when the queue is empty); Delete removes one for good. A message that is
// received and not deleted comes back later (after SQS's visibility
// timeout, at once for a folder).
type Queue interface {
	Receive(ctx context.Context, max int) ([]Message, error)
	Delete(ctx context.Context, m Message) error
}

// OnFailureRecord is the record Lambda sends to a DynamoDB stream event
// source mapping's on-failure destination when it gives up on a batch: which
// function, why, and the batch's shard and sequence range (not the records
// themselves).
type OnFailureRecord struct {
	RequestContext struct {
		RequestID              string `json:"requestId"`
		FunctionARN            string `json:"functionArn"`
		Condition              string `json:"condition"`
		ApproximateInvokeCount int    `json:"approximateInvokeCount"`
	} `json:"requestContext"`
	ResponseContext struct {
		StatusCode      int    `json:"statusCode"`
		ExecutedVersion string `json:"executedVersion"`
		FunctionError   string `json:"functionError,omitempty"`
	} `json:"responseContext"`
	Version   string    `json:"version"`
	Timestamp time.Time `json:"timestamp"`
	// DDBStreamBatchInfo names the failed records.
	DDBStreamBatchInfo *StreamBatchInfo `json:"DDBStreamBatchInfo"`
}

// StreamBatchInfo is the failed batch: a shard of a stream and the first
// and last sequence numbers (inclusive), with the records' approximate
// creation times.
type StreamBatchInfo struct {
	ShardID                         string    `json:"shardId"`
	StartSequenceNumber             string    `json:"startSequenceNumber"`
	EndSequenceNumber               string    `json:"endSequenceNumber"`
	ApproximateArrivalOfFirstRecord time.Time `json:"approximateArrivalOfFirstRecord"`
	ApproximateArrivalOfLastRecord  time.Time `json:"approximateArrivalOfLastRecord"`
	BatchSize                       int       `json:"batchSize"`
	StreamARN                       string    `json:"streamArn"`
}

// ErrNotStreamBatch reports an on-failure message that names no DynamoDB
// stream batch (another source's record, or not JSON).
var ErrNotStreamBatch = errors.New("recovery: the message is not a DynamoDB stream on-failure record")

// ParseOnFailure reads an on-failure message.
func ParseOnFailure(body []byte) (OnFailureRecord, error) {
	var r OnFailureRecord
	if err := json.Unmarshal(body, &r); err != nil {
		return r, fmt.Errorf("%w: %v", ErrNotStreamBatch, err)
	}
	b := r.DDBStreamBatchInfo
	if b == nil || b.ShardID == "" || b.StreamARN == "" || !isDigits(b.StartSequenceNumber) || !isDigits(b.EndSequenceNumber) {
		return r, fmt.Errorf("%w: DDBStreamBatchInfo needs shardId, streamArn and numeric start and end sequence numbers", ErrNotStreamBatch)
	}
	if compareSeq(b.StartSequenceNumber, b.EndSequenceNumber) > 0 {
		return r, fmt.Errorf("%w: start sequence number after the end", ErrNotStreamBatch)
	}
	return r, nil
}

func isDigits(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// compareSeq compares two sequence numbers (decimal strings) numerically.
func compareSeq(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

// SQSAPI is the part of the SQS client SQSQueue uses; *sqs.Client
// satisfies it.
type SQSAPI interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// SQSQueue is the deployed on-failure queue (the stack output
// OnFailureQueueUrl).
type SQSQueue struct {
	Client SQSAPI
	URL    string
	// VisibilityTimeout hides a received message from other readers while
	// it is redriven; default 5 minutes. A message not deleted reappears
	// after it.
	VisibilityTimeout time.Duration
	// WaitTime is the long poll of each receive; default 1 second (an
	// empty answer ends a redrive).
	WaitTime time.Duration
}

// Receive receives up to max (at most 10) messages.
func (q SQSQueue) Receive(ctx context.Context, limit int) ([]Message, error) {
	vis, wait := q.VisibilityTimeout, q.WaitTime
	if vis == 0 {
		vis = 5 * time.Minute
	}
	if wait == 0 {
		wait = time.Second
	}
	out, err := q.Client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:            aws.String(q.URL),
		MaxNumberOfMessages: int32(min(max(limit, 1), 10)),
		VisibilityTimeout:   int32(vis / time.Second),
		WaitTimeSeconds:     int32(wait / time.Second),
	})
	if err != nil {
		return nil, fmt.Errorf("recovery: receive from %s: %w", q.URL, err)
	}
	msgs := make([]Message, 0, len(out.Messages))
	for _, m := range out.Messages {
		msgs = append(msgs, Message{ID: aws.ToString(m.MessageId), Handle: aws.ToString(m.ReceiptHandle), Body: []byte(aws.ToString(m.Body))})
	}
	return msgs, nil
}

// Delete deletes a received message.
func (q SQSQueue) Delete(ctx context.Context, m Message) error {
	if _, err := q.Client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(q.URL), ReceiptHandle: aws.String(m.Handle)}); err != nil {
		return fmt.Errorf("recovery: delete message %s: %w", m.ID, err)
	}
	return nil
}

// Send sends a message (for tests and for the local stack's hook).
func (q SQSQueue) Send(ctx context.Context, body []byte) error {
	if _, err := q.Client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q.URL), MessageBody: aws.String(string(body))}); err != nil {
		return fmt.Errorf("recovery: send to %s: %w", q.URL, err)
	}
	return nil
}

// DirQueue is the local stack's on-failure destination: a folder holding one
// JSON file per message, written atomically (temporary file, fsync, rename)
// so that a message survives a crash of the process that sent it. It is
// meant for one reader at a time.
type DirQueue struct {
	Dir string
}

// Send writes a message.
func (q DirQueue) Send(ctx context.Context, body []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.MkdirAll(q.Dir, 0o755); err != nil {
		return fmt.Errorf("recovery: queue folder: %w", err)
	}
	var r [6]byte
	rand.Read(r[:])
	name := fmt.Sprintf("%020d-%s.json", time.Now().UnixNano(), hex.EncodeToString(r[:]))
	tmp, err := os.CreateTemp(q.Dir, ".msg-*.tmp")
	if err != nil {
		return fmt.Errorf("recovery: queue: %w", err)
	}
	_, werr := tmp.Write(body)
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("recovery: queue: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(q.Dir, name)); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("recovery: queue: %w", err)
	}
	return nil
}

// Receive returns the oldest max messages.
func (q DirQueue) Receive(ctx context.Context, limit int) ([]Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(q.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("recovery: queue: %w", err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".json") && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var out []Message
	for _, n := range names {
		if len(out) == limit {
			break
		}
		body, err := os.ReadFile(filepath.Join(q.Dir, n))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return out, fmt.Errorf("recovery: queue: %w", err)
		}
		out = append(out, Message{ID: n, Handle: n, Body: body})
	}
	return out, nil
}

// Delete removes a message's file; a message already gone is not an error.
func (q DirQueue) Delete(ctx context.Context, m Message) error {
	if strings.ContainsAny(m.Handle, `/\`) || m.Handle == "" {
		return fmt.Errorf("recovery: queue: bad message handle %q", m.Handle)
	}
	if err := os.Remove(filepath.Join(q.Dir, m.Handle)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("recovery: queue: %w", err)
	}
	return nil
}

// OnFailureRecordOf is the record Lambda would send to the on-failure
// destination for the records f gave up on; the local stack's event source
// (local/streamsource) reports them as a Failure.
func OnFailureRecordOf(f streamsource.Failure, functionARN string) OnFailureRecord {
	var r OnFailureRecord
	r.RequestContext.RequestID = newID()
	r.RequestContext.FunctionARN = functionARN
	r.RequestContext.Condition = f.Condition
	r.RequestContext.ApproximateInvokeCount = f.Attempts
	r.ResponseContext.StatusCode = 200
	r.ResponseContext.ExecutedVersion = "$LATEST"
	r.ResponseContext.FunctionError = "Unhandled"
	r.Version = "1.0"
	r.Timestamp = time.Now().UTC()
	r.DDBStreamBatchInfo = &StreamBatchInfo{
		ShardID: f.ShardID, StartSequenceNumber: f.StartSequenceNumber, EndSequenceNumber: f.EndSequenceNumber,
		ApproximateArrivalOfFirstRecord: f.ApproximateArrivalOfFirstRecord.UTC(),
		ApproximateArrivalOfLastRecord:  f.ApproximateArrivalOfLastRecord.UTC(),
		BatchSize:                       f.BatchSize, StreamARN: f.StreamARN,
	}
	return r
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
