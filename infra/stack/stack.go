package stack

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/tracker"
)

// TagKey tags every resource of the stack with the stack's NamePrefix.
const TagKey = "eventlake"

// EventlakeStack is the whole pipeline in one stack. Its fields expose each
// concern's construct so applications can extend the stack (grant their own
// roles access to Tables.Events, subscribe to Monitoring.Topic, ...).
type EventlakeStack struct {
	awscdk.Stack
	// Props are the props the stack was built with, defaults applied.
	Props      EventlakeStackProps
	Tables     *Tables
	Lake       *Lake
	Catalog    *Catalog
	Delivery   *Delivery
	Relay      *Relay
	Monitoring *Monitoring
	// OpsKey encrypts the on-failure queue and the alarm topic.
	OpsKey awskms.Key
}

// NewEventlakeStack defines the pipeline in a new stack under scope. It
// validates props first (a *PropsError names every bad field) and returns an
// error, before defining anything, if the props, the query library or the
// event schema's column types are invalid. Stacks that use a customer-managed table key need a concrete
// region in props.Env.
func NewEventlakeStack(scope constructs.Construct, id string, props *EventlakeStackProps) (*EventlakeStack, error) {
	if props == nil {
		props = &EventlakeStackProps{}
	}
	if err := props.Validate(); err != nil {
		return nil, err
	}
	p := props.withDefaults()
	queries, err := athena.Queries()
	if err != nil {
		return nil, fmt.Errorf("load athena queries: %w", err)
	}
	// The schema must map to Glue and Trino types; check before defining.
	if _, err := glueColumns(tracker.EventFields()); err != nil {
		return nil, err
	}
	if _, err := athena.NewDedupView(p.NamePrefix); err != nil {
		return nil, fmt.Errorf("describe view %s: %w", athena.ViewName, err)
	}

	sprops := p.StackProps
	if sprops.Description == nil {
		sprops.Description = jsii.String("eventlake: DynamoDB -> Streams -> Lambda -> Firehose -> S3 -> Athena, with alarms and a dashboard")
	}
	st := awscdk.NewStack(scope, jsii.String(id), &sprops)
	s := &EventlakeStack{Stack: st, Props: p}
	// One tag on every resource, for cost allocation and for finding what
	// a deployment owns (and retains after `cdk destroy`).
	awscdk.Tags_Of(st).Add(jsii.String(TagKey), jsii.String(p.NamePrefix), nil)

	s.Tables = NewTables(st, "Tables")
	s.Lake = NewLake(st, "Lake", &LakeProps{
		InfrequentAccessAfterDays: p.InfrequentAccessAfterDays,
		GlacierIRAfterDays:        p.GlacierIRAfterDays,
		EventsExpirationDays:      p.EventsExpirationDays,
		ErrorOutputExpirationDays: p.ErrorOutputExpirationDays,
	})
	s.Catalog, err = NewCatalog(st, "Catalog", &CatalogProps{
		Name:                  p.NamePrefix,
		Bucket:                s.Lake.Bucket,
		Key:                   s.Lake.Key,
		AccessLogs:            s.Lake.AccessLogs,
		Format:                p.Format,
		ProjectionStart:       p.PartitionProjectionStart,
		BytesScannedCutoff:    p.BytesScannedCutoff,
		ResultsExpirationDays: p.AthenaResultsExpirationDays,
		Queries:               queries,
	})
	if err != nil {
		return nil, err
	}
	retention := retentionDays[p.LogRetentionDays]
	s.Delivery = NewDelivery(st, "Delivery", &DeliveryProps{
		Bucket:            s.Lake.Bucket,
		Key:               s.Lake.Key,
		Format:            p.Format,
		Table:             s.Catalog.CfnTable(),
		BufferingInterval: p.BufferingInterval,
		BufferingSizeMiB:  p.BufferingSizeMiB,
		LogRetention:      retention,
	})
	s.OpsKey = awskms.NewKey(st, jsii.String("OpsKey"), &awskms.KeyProps{
		Description:       jsii.String("eventlake on-failure queue and alarm topic"),
		EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy:     awscdk.RemovalPolicy_DESTROY,
		PendingWindow:     awscdk.Duration_Days(jsii.Number(7)),
	})
	s.Relay = NewRelay(st, "Relay", &RelayProps{
		Table:                 s.Tables.Events,
		DeliveryStream:        s.Delivery.Stream,
		CodeDir:               p.LambdaCodeDir,
		QueueKey:              s.OpsKey,
		BatchSize:             p.BatchSize,
		BatchingWindow:        p.BatchingWindow,
		RetryAttempts:         p.RetryAttempts,
		MaxRecordAge:          p.MaxRecordAge,
		ParallelizationFactor: p.ParallelizationFactor,
		MemoryMiB:             p.LambdaMemoryMiB,
		Timeout:               p.LambdaTimeout,
		LogRetention:          retention,
	})
	s.Monitoring = NewMonitoring(st, "Monitoring", &MonitoringProps{
		Namespace:      p.NamePrefix,
		Function:       s.Relay.Function,
		LogGroup:       s.Relay.LogGroup,
		OnFailure:      s.Relay.OnFailure,
		DeliveryStream: s.Delivery.Stream,
		Format:         p.Format,
		EventsTable:    s.Tables.Events,
		SummaryTable:   s.Tables.Summary,
		TopicKey:       s.OpsKey,
		AlarmEmail:     p.AlarmEmail,
		IteratorAge:    p.IteratorAgeAlarm,
		DataFreshness:  p.DataFreshnessAlarm,
	})

	s.outputs()
	s.addNagSuppressions()
	return s, nil
}

// outputs exports what applications and operators need: the names the
// tracker and the query runner are configured with.
func (s *EventlakeStack) outputs() {
	out := func(id, desc string, value *string) {
		awscdk.NewCfnOutput(s.Stack, jsii.String(id), &awscdk.CfnOutputProps{Value: value, Description: jsii.String(desc)})
	}
	out("EventsTableName", "tracker.Config.EventsTable", s.Tables.Events.TableName())
	out("SummaryTableName", "tracker.Config.SummaryTable", s.Tables.Summary.TableName())
	out("TablesKeyArn", "the tables' KMS key: the tracker's role needs kms:Decrypt and kms:GenerateDataKey on it", s.Tables.Key.KeyArn())
	out("LakeKeyArn", "the lake's KMS key: query roles need kms:Decrypt and kms:GenerateDataKey on it", s.Lake.Key.KeyArn())
	out("LakeBucketName", "the lake: events/dt=YYYY-MM-DD/", s.Lake.Bucket.BucketName())
	out("DeliveryStreamName", "the Firehose delivery stream", s.Delivery.Stream.DeliveryStreamName())
	out("RelayFunctionName", "the stream-to-Firehose Lambda", s.Relay.Function.FunctionName())
	out("OnFailureQueueUrl", "batches the relay gave up on", s.Relay.OnFailure.QueueUrl())
	out("GlueDatabaseName", "the Athena database", s.Catalog.Database.DatabaseName())
	out("AthenaWorkGroupName", "the Athena workgroup", s.Catalog.WorkGroup.Ref())
	out("AthenaResultsBucketName", "Athena query results", s.Catalog.Results.BucketName())
	out("AlarmTopicArn", "alarm notifications", s.Monitoring.Topic.TopicArn())
	out("DashboardName", "the CloudWatch dashboard", s.Monitoring.Dashboard.DashboardName())
}
