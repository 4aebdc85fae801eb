package dynamolocal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/logging"

	"github.com/eventlake/eventlake/tracker"
)

// sdkLog collects what the SDK logs.
type sdkLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *sdkLog) Logf(c logging.Classification, format string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, string(c)+" "+fmt.Sprintf(format, v...))
}

func (l *sdkLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// badCRC32 rewrites X-Amz-Crc32 on responses that carry one.
type badCRC32 struct{ rt http.RoundTripper }

func (b badCRC32) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := b.rt.RoundTrip(r)
	if err == nil && resp.Header.Get("X-Amz-Crc32") != "" {
		resp.Header.Set("X-Amz-Crc32", "1")
	}
	return resp, err
}

// TestConditionalCheckFailureIsQuiet: DynamoDB Local answers errors without
// an X-Amz-Crc32 header, which the SDK's checksum validation read as
// checksum 0 and reported on every ConditionalCheckFailedException as
// "failed to close HTTP response body ... did not match expected checksum".
// Clients made here check the checksum only when the response has one: the
// error is quiet, and a wrong checksum is still reported.
func TestConditionalCheckFailureIsQuiet(t *testing.T) {
	env := NewEnv(t)
	ctx := context.Background()
	var logs sdkLog
	db, err := env.Server.Client(ctx, func(o *dynamodb.Options) { o.Logger = &logs })
	if err != nil {
		t.Fatal(err)
	}
	item := map[string]types.AttributeValue{
		tracker.EventsTableDef().PartitionKey: &types.AttributeValueMemberS{Value: "u"},
		tracker.EventsTableDef().SortKey:      &types.AttributeValueMemberS{Value: "k"},
	}
	put := func(db *dynamodb.Client) error {
		_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(env.EventsTable), Item: item,
			ConditionExpression: aws.String("attribute_not_exists(#k)"), ExpressionAttributeNames: map[string]string{"#k": tracker.EventsTableDef().SortKey}})
		return err
	}
	if err := put(db); err != nil {
		t.Fatal(err)
	}
	var ccf *types.ConditionalCheckFailedException
	for range 3 {
		if err := put(db); !errors.As(err, &ccf) {
			t.Fatalf("second put: %v, want ConditionalCheckFailedException", err)
		}
	}
	if s := logs.String(); strings.Contains(s, "checksum") {
		t.Errorf("the SDK logged:\n%s", s)
	}

	// A response whose checksum is wrong is still caught.
	var bad sdkLog
	db, err = env.Server.Client(ctx, func(o *dynamodb.Options) {
		o.Logger = &bad
		o.HTTPClient = &http.Client{Transport: badCRC32{http.DefaultTransport}}
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(env.EventsTable)}); err != nil {
		t.Fatal(err)
	}
	if s := bad.String(); !strings.Contains(s, "did not match expected checksum") {
		t.Errorf("a wrong X-Amz-Crc32 went unnoticed; the SDK logged %q", s)
	}
}
