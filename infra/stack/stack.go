package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/eventlake/eventlake/infra/eventlake"
)

// PipelineID is the construct ID of the pipeline in the stack. The CDK
// leaves the ID "Default" out of logical IDs, so the resources keep the
// logical IDs they had when the stack defined them directly, before the
// pipeline became a construct: updating an existing deployment keeps its
// tables, buckets and keys instead of creating new ones beside them.
const PipelineID = "Default"

// MaintenanceID is the construct ID of the lake's maintenance in the stack.
const MaintenanceID = "Maintenance"

// EventlakeStack is eventlake's own stack: the pipeline, with the HTTP
// collector unless DisableCollector and the analytics API and dashboard
// unless DisableAnalytics, the lake's maintenance, and the outputs
// applications and operators need.
type EventlakeStack struct {
	awscdk.Stack
	// Pipeline is the whole pipeline; its fields expose each concern.
	Pipeline *eventlake.Pipeline
	// Maintenance compacts the lake daily and makes the relay honour the
	// erasures' suppression list (docs/lake.md).
	Maintenance *eventlake.Maintenance
}

// NewEventlakeStack defines the pipeline in a new stack under scope. It
// returns an error, before defining anything, if the props are invalid
// (a *eventlake.PropsError names every bad field) or the pipeline cannot be
// built (see eventlake.NewPipeline). The tables' key needs a concrete region
// in props.Env.
func NewEventlakeStack(scope constructs.Construct, id string, props *EventlakeStackProps) (*EventlakeStack, error) {
	if props == nil {
		props = &EventlakeStackProps{}
	}
	if err := props.Validate(); err != nil {
		return nil, err
	}
	sprops := props.StackProps
	if sprops.Description == nil {
		sprops.Description = jsii.String("eventlake: DynamoDB -> Streams -> Lambda -> Firehose -> S3 -> Athena, with alarms and a dashboard")
		if !props.DisableCollector {
			sprops.Description = jsii.String("eventlake: HTTP collector -> DynamoDB -> Streams -> Lambda -> Firehose -> S3 -> Athena, with alarms and a dashboard")
		}
	}
	st := awscdk.NewStack(scope, jsii.String(id), &sprops)
	pp := props.pipelineProps()
	pl, err := eventlake.NewPipeline(st, PipelineID, &pp)
	if err != nil {
		return nil, err
	}
	m, err := eventlake.NewMaintenance(st, MaintenanceID, &eventlake.MaintenanceProps{Pipeline: pl})
	if err != nil {
		return nil, err
	}
	s := &EventlakeStack{Stack: st, Pipeline: pl, Maintenance: m}
	s.outputs()
	return s, nil
}

// GrantTracker grants grantee the tracker's access (Pipeline.GrantTracker).
func (s *EventlakeStack) GrantTracker(grantee awsiam.IGrantable) { s.Pipeline.GrantTracker(grantee) }

// GrantQuery grants grantee the query runner's access (Pipeline.GrantQuery).
func (s *EventlakeStack) GrantQuery(grantee awsiam.IGrantable) { s.Pipeline.GrantQuery(grantee) }

// outputs exports what applications and operators need: the names the
// tracker and the query runner are configured with.
func (s *EventlakeStack) outputs() {
	out := func(id, desc string, value *string) {
		awscdk.NewCfnOutput(s.Stack, jsii.String(id), &awscdk.CfnOutputProps{Value: value, Description: jsii.String(desc)})
	}
	p := s.Pipeline
	out("EventsTableName", "tracker.Config.EventsTable", p.Tables.Events.TableName())
	out("SummaryTableName", "tracker.Config.SummaryTable", p.Tables.Summary.TableName())
	if p.Tables.Key != nil {
		out("TablesKeyArn", "the tables' KMS key: the tracker's role needs kms:Decrypt and kms:GenerateDataKey on it", p.Tables.Key.KeyArn())
	}
	out("LakeKeyArn", "the lake's KMS key: query roles need kms:Decrypt and kms:GenerateDataKey on it", p.Lake.Key.KeyArn())
	out("LakeBucketName", "the lake: events/dt=YYYY-MM-DD/ (the UTC day of event_at)", p.Lake.Bucket.BucketName())
	out("DeliveryStreamName", "the Firehose delivery stream", p.Delivery.Stream.DeliveryStreamName())
	out("RelayFunctionName", "the stream-to-Firehose Lambda", p.Relay.Function.FunctionName())
	out("OnFailureQueueUrl", "batches the relay gave up on", p.Relay.OnFailure.QueueUrl())
	if p.Summary != nil {
		out("SummaryFunctionName", "the summarize Lambda, the events stream's second consumer", p.Summary.Function.FunctionName())
		out("SummaryOnFailureQueueUrl", "windows the summary consumer gave up on (replay those events)", p.Summary.OnFailure.QueueUrl())
	}
	if c := p.Collector; c != nil {
		out("CollectorUrl", "where clients send events (Segment's API: the endpoint or apiHost; eventlake JSON: POST /v1/events)", c.Url)
		out("CollectorWriteKeysSecretArn", "the collector's write keys: read the generated key here; add and remove keys to rotate", c.Secret.SecretArn())
		out("CollectorFunctionName", "the collector Lambda", c.Function.FunctionName())
		if c.Domain != nil {
			out("CollectorDomainTarget", "point the custom domain's DNS record (CNAME or alias) here", c.Domain.RegionalDomainName())
		}
	}
	if a := p.Analytics; a != nil {
		out("AnalyticsUrl", "the analytics API (GET api/v1/queries, api/v1/queries/{name}, analytics) and dashboard (GET dashboard); "+
			authOf(a.Options), a.Url)
		out("AnalyticsFunctionName", "the analytics Lambda", a.Function.FunctionName())
	}
	out("GlueDatabaseName", "the Athena database", p.Catalog.Database.DatabaseName())
	out("AthenaWorkGroupName", "the Athena workgroup", p.Catalog.WorkGroup.Ref())
	out("AthenaResultsBucketName", "Athena query results", p.Catalog.Results.BucketName())
	out("AlarmTopicArn", "alarm notifications", p.Monitoring.Topic.TopicArn())
	out("DashboardName", "the CloudWatch dashboard", p.Monitoring.Dashboard.DashboardName())
	out("CompactionFunctionName", "the daily lake compaction (eventlake compact runs the same)", s.Maintenance.Compaction.Function.FunctionName())
}

// authOf says how callers of the analytics API authenticate.
func authOf(o eventlake.AnalyticsOptions) string {
	if o.JwtIssuer != "" {
		return "send a bearer token of " + o.JwtIssuer
	}
	return "sign requests with SigV4 (execute-api:Invoke)"
}
