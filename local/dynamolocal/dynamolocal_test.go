package dynamolocal

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/eventlake/eventlake/tracker"
)

func TestTablesMatchDefinitions(t *testing.T) {
	env := NewEnv(t)
	ctx := context.Background()
	out, err := env.Client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(env.EventsTable)})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[types.KeyType]string{}
	for _, k := range out.Table.KeySchema {
		keys[k.KeyType] = aws.ToString(k.AttributeName)
	}
	def := tracker.EventsTableDef()
	if keys[types.KeyTypeHash] != def.PartitionKey || keys[types.KeyTypeRange] != def.SortKey {
		t.Errorf("key schema = %v, want %s/%s", keys, def.PartitionKey, def.SortKey)
	}
	if out.Table.StreamSpecification == nil || out.Table.StreamSpecification.StreamViewType != types.StreamViewTypeNewImage {
		t.Errorf("stream = %+v, want NEW_IMAGE", out.Table.StreamSpecification)
	}
	if out.Table.LatestStreamArn == nil {
		t.Error("no stream ARN")
	}
	ttl, err := env.Client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(env.EventsTable)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(ttl.TimeToLiveDescription.AttributeName) != tracker.AttrExpiresAt {
		t.Errorf("TTL attribute = %q", aws.ToString(ttl.TimeToLiveDescription.AttributeName))
	}
	sum, err := env.Client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(env.SummaryTable)})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Table.StreamSpecification != nil && aws.ToBool(sum.Table.StreamSpecification.StreamEnabled) {
		t.Error("summary table must have no stream: summary writes must never reach the analytics pipeline")
	}
	// CreateTable is idempotent.
	if err := CreateTable(ctx, env.Client, tracker.EventsTableDef(), env.EventsTable); err != nil {
		t.Fatal(err)
	}
}

func TestStartFailsClearlyWithoutJar(t *testing.T) {
	t.Setenv(EnvJarDir, t.TempDir())
	t.Setenv(EnvEndpoint, "")
	_, err := Start(context.Background(), Options{})
	if err == nil {
		t.Fatal("Start succeeded without a jar")
	}
}

func TestExternalEndpoint(t *testing.T) {
	t.Setenv(EnvEndpoint, "http://127.0.0.1:1")
	s, err := Start(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Endpoint != "http://127.0.0.1:1" || s.Local() {
		t.Fatalf("server = %+v, want the external endpoint", s)
	}
}
