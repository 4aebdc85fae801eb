package tracker_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/eventlake/eventlake/internal/dynamolocal"
	"github.com/eventlake/eventlake/tracker"
)

func TestPutSmoke(t *testing.T) {
	env := dynamolocal.NewEnv(t)
	tr, err := tracker.New(env.Client, tracker.Config{EventsTable: env.EventsTable, SummaryTable: env.SummaryTable})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := tr.Put(ctx, tracker.Event{UserID: "42", Type: "login", IP: "::ffff:10.1.2.3", UserAgent: "curl/8"}); err != nil {
		t.Fatal(err)
	}
	out, err := env.Client.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(env.EventsTable)})
	if err != nil {
		t.Fatal(err)
	}
	if out.Count != 1 {
		t.Fatalf("count = %d", out.Count)
	}
	t.Logf("%#v", out.Items[0])
}
