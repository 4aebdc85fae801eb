package stack

import (
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	firehose "github.com/aws/aws-cdk-go/awscdk/v2/awskinesisfirehose"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/eventlake/eventlake/lambdas/streamtofirehose/relay"
)

// RelayProps configures NewRelay; see EventlakeStackProps for the tunables.
type RelayProps struct {
	// Table is the events table; its stream triggers the function.
	Table awsdynamodb.ITable
	// DeliveryStream receives the NDJSON lines.
	DeliveryStream firehose.IDeliveryStream
	// CodeDir holds the arm64 bootstrap binary.
	CodeDir string
	// QueueKey encrypts the on-failure queue.
	QueueKey awskms.IKey

	BatchSize             int
	BatchingWindow        time.Duration
	RetryAttempts         int
	MaxRecordAge          time.Duration
	ParallelizationFactor int
	MemoryMiB             int
	Timeout               time.Duration
	LogRetention          awslogs.RetentionDays
}

// Relay is the stream-to-Firehose Lambda (lambdas/streamtofirehose): arm64
// on provided.al2023, with its own log group and a role that may only write
// that log group, read the events stream and put records to the delivery
// stream. Its event source mapping passes only INSERT records (TTL deletions
// never invoke it), bisects failing batches, retries them a bounded number of
// times and for a bounded age, accepts partial batch responses, and sends
// what it gives up on (the shard and sequence range) to an encrypted queue.
type Relay struct {
	constructs.Construct
	Function    awslambda.Function
	Role        awsiam.Role
	LogGroup    awslogs.LogGroup
	OnFailure   awssqs.Queue
	EventSource awslambdaeventsources.DynamoEventSource
}

// InsertOnlyFilter is the event source mapping's filter: {"eventName":["INSERT"]}.
func InsertOnlyFilter() *map[string]interface{} {
	return awslambda.FilterCriteria_Filter(&map[string]interface{}{
		"eventName": awslambda.FilterRule_IsEqual(jsii.String("INSERT")),
	})
}

// NewRelay defines the function, its role, log group, on-failure queue and
// event source mapping.
func NewRelay(scope constructs.Construct, id string, props *RelayProps) *Relay {
	c := constructs.NewConstruct(scope, jsii.String(id))
	logGroup := awslogs.NewLogGroup(c, jsii.String("Logs"), &awslogs.LogGroupProps{
		Retention:     props.LogRetention,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	role := awsiam.NewRole(c, jsii.String("Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("eventlake stream relay: read the events stream, put to Firehose, write its log group"),
	})
	logGroup.GrantWrite(role)

	fn := awslambda.NewFunction(c, jsii.String("Function"), &awslambda.FunctionProps{
		Description:  jsii.String("eventlake: DynamoDB stream INSERTs to Firehose as NDJSON"),
		Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture: awslambda.Architecture_ARM_64(),
		Handler:      jsii.String("bootstrap"),
		Code:         awslambda.Code_FromAsset(jsii.String(props.CodeDir), nil),
		MemorySize:   jsii.Number(float64(props.MemoryMiB)),
		Timeout:      awscdk.Duration_Seconds(jsii.Number(props.Timeout.Seconds())),
		Role:         role,
		LogGroup:     logGroup,
		Environment: &map[string]*string{
			relay.EnvDeliveryStreamName: props.DeliveryStream.DeliveryStreamName(),
		},
	})
	props.DeliveryStream.GrantPutRecords(role)

	queue := awssqs.NewQueue(c, jsii.String("OnFailure"), &awssqs.QueueProps{
		Encryption:          awssqs.QueueEncryption_KMS,
		EncryptionMasterKey: props.QueueKey,
		EnforceSSL:          jsii.Bool(true),
		RetentionPeriod:     awscdk.Duration_Days(jsii.Number(14)),
	})
	source := awslambdaeventsources.NewDynamoEventSource(props.Table, &awslambdaeventsources.DynamoEventSourceProps{
		StartingPosition:        awslambda.StartingPosition_TRIM_HORIZON,
		BatchSize:               jsii.Number(float64(props.BatchSize)),
		MaxBatchingWindow:       awscdk.Duration_Seconds(jsii.Number(props.BatchingWindow.Seconds())),
		BisectBatchOnError:      jsii.Bool(true),
		RetryAttempts:           jsii.Number(float64(props.RetryAttempts)),
		MaxRecordAge:            awscdk.Duration_Seconds(jsii.Number(props.MaxRecordAge.Seconds())),
		ParallelizationFactor:   jsii.Number(float64(props.ParallelizationFactor)),
		ReportBatchItemFailures: jsii.Bool(true),
		Filters:                 &[]*map[string]interface{}{InsertOnlyFilter()},
		OnFailure:               awslambdaeventsources.NewSqsDlq(queue),
	})
	fn.AddEventSource(source)

	return &Relay{Construct: c, Function: fn, Role: role, LogGroup: logGroup, OnFailure: queue, EventSource: source}
}
