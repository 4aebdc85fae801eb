package eventlake

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
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/eventlake/eventlake/lambdas/streamtofirehose/relay"
)

// RelayProps configures NewRelay; see PipelineProps for the tunables.
type RelayProps struct {
	// Table is the events table; its stream triggers the function.
	Table awsdynamodb.ITable
	// DeliveryStream receives the NDJSON lines.
	DeliveryStream firehose.IDeliveryStream
	// KeepAsideBucket and KeepAsideKey are the lake's bucket and key: the
	// function keeps the INSERT records whose image is not an event under
	// relay.KeepAsidePrefix there, and may write nothing else.
	KeepAsideBucket awss3.IBucket
	KeepAsideKey    awskms.IKey
	// LambdasDir holds RelayFunctionName/bootstrap.
	LambdasDir string
	// QueueKey encrypts the on-failure queue; LogKey the function's logs.
	QueueKey awskms.IKey
	LogKey   awskms.IKey

	BatchSize             int
	BatchingWindow        time.Duration
	RetryAttempts         int
	MaxRecordAge          time.Duration
	ParallelizationFactor int
	MemoryMiB             int
	Timeout               time.Duration
	LogRetention          awslogs.RetentionDays
}

// Relay is the stream-to-Firehose Lambda (lambdas/streamtofirehose), a
// GoFunction whose role may only write its log group, read the events
// stream and put records to the delivery stream. Its event source mapping
// passes only INSERT records (TTL deletions never invoke it), bisects
// failing batches, retries them a bounded number of times and for a bounded
// age, accepts partial batch responses, and sends what it gives up on (the
// shard and sequence range) to an encrypted queue.
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
	fn := NewGoFunction(c, &GoFunctionProps{
		Name:        RelayFunctionName,
		LambdasDir:  props.LambdasDir,
		Description: "DynamoDB stream INSERTs to Firehose as NDJSON",
		Environment: map[string]*string{
			relay.EnvDeliveryStreamName: props.DeliveryStream.DeliveryStreamName(),
			relay.EnvKeepAsideBucket:    props.KeepAsideBucket.BucketName(),
		},
		MemoryMiB:    props.MemoryMiB,
		Timeout:      props.Timeout,
		LogRetention: props.LogRetention,
		LogKey:       props.LogKey,
	})
	props.DeliveryStream.GrantPutRecords(fn.Role)
	// Kept-aside records: s3:PutObject under errors/relay/ only (no read, no
	// delete), and a data key of the lake's key to encrypt them.
	fn.Role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("s3:PutObject"),
		Resources: jsii.Strings(*props.KeepAsideBucket.ArnForObjects(jsii.String(relay.KeepAsidePrefix + "*"))),
	}))
	props.KeepAsideKey.Grant(fn.Role, jsii.String("kms:GenerateDataKey"), jsii.String("kms:Encrypt"))

	queue := awssqs.NewQueue(c, jsii.String("OnFailure"), &awssqs.QueueProps{
		Encryption:          awssqs.QueueEncryption_KMS,
		EncryptionMasterKey: props.QueueKey,
		EnforceSSL:          jsii.Bool(true),
		RetentionPeriod:     awscdk.Duration_Days(jsii.Number(14)),
	})
	source := awslambdaeventsources.NewDynamoEventSource(streamTable(c, props.Table), &awslambdaeventsources.DynamoEventSourceProps{
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
	fn.Function.AddEventSource(source)

	return &Relay{Construct: c, Function: fn.Function, Role: fn.Role, LogGroup: fn.LogGroup, OnFailure: queue, EventSource: source}
}

// streamTable returns table as a TableV2 reference, whose stream grants name
// the stream's ARN. A (v1) Table grants dynamodb:ListStreams on "*" instead;
// for one, streamTable imports the same table (ARN, stream ARN, key) as a
// TableV2.
func streamTable(scope constructs.Construct, table awsdynamodb.ITable) awsdynamodb.ITable {
	if _, ok := table.(awsdynamodb.ITableV2); ok {
		return table
	}
	return awsdynamodb.TableV2_FromTableAttributes(scope, jsii.String("EventsTable"), &awsdynamodb.TableAttributesV2{
		TableArn:       table.TableArn(),
		TableStreamArn: table.TableStreamArn(),
		EncryptionKey:  table.EncryptionKey(),
	})
}
