package eventlake

import (
	"fmt"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	cw "github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	firehose "github.com/aws/aws-cdk-go/awscdk/v2/awskinesisfirehose"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	cwrefs "github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawscloudwatch"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/eventlake/eventlake/lambdas/streamtofirehose/relay"
)

// Names of the custom metrics the metric filters publish.
const (
	MetricRecordsSize = "RecordsSize"
	// MetricFailedEvents counts events (not packed Firehose records) the
	// relay could not deliver after every retry of an invocation.
	MetricFailedEvents = "FailedEvents"
	// MetricRejectedEvents counts INSERT records whose image breaks the
	// schema, kept aside under errors/relay/ instead of reaching the lake.
	MetricRejectedEvents = "RejectedEvents"
)

// MonitoringProps configures NewMonitoring.
type MonitoringProps struct {
	// Namespace holds the metric-filter metrics.
	Namespace string
	// Function, LogGroup and OnFailure are the relay's.
	Function  awslambda.IFunction
	LogGroup  awslogs.ILogGroup
	OnFailure awssqs.IQueue
	// DeliveryStream is the Firehose stream; Parquet adds a conversion alarm.
	DeliveryStream firehose.IDeliveryStream
	Format         Format
	// EventsTable (with its stream) and SummaryTable are watched for throttles.
	EventsTable  awsdynamodb.ITable
	SummaryTable awsdynamodb.ITable
	// Topic, when set, receives the alarms; otherwise NewMonitoring creates
	// one encrypted with TopicKey, which CloudWatch is allowed to use.
	Topic    awssns.ITopic
	TopicKey awskms.IKey
	// AlarmEmail, when set, is subscribed to the topic.
	AlarmEmail string
	// IteratorAge and DataFreshness are the alarm thresholds.
	IteratorAge   time.Duration
	DataFreshness time.Duration
}

// Monitoring watches the pipeline end to end. Three metric filters read the
// relay's one-line JSON summary per invocation (field names from the relay
// package): events passed on to Firehose, events not delivered after every
// retry, and records rejected (kept aside) because their image breaks the
// schema. Alarms (on Lambda errors, iterator age, the on-failure queue,
// failed and rejected events, Firehose freshness, delivery, conversion and partition-count
// failures, and DynamoDB throttles) notify an SNS topic (encrypted, when the
// pipeline creates it); the dashboard shows the seed design's four counts
// side by side (records in the stream, passed on by the Lambda, received by
// Firehose, delivered to S3) and the alarms.
type Monitoring struct {
	constructs.Construct
	Topic        awssns.ITopic
	RecordsSize  awslogs.MetricFilter
	FailedEvents awslogs.MetricFilter
	Rejected     awslogs.MetricFilter
	// Alarms in dashboard order.
	Alarms    []cw.Alarm
	Dashboard cw.Dashboard
}

// RecordsSizeFilterPattern is the metric filter pattern of the relay summary
// line: { $.records_size > 0 }.
func RecordsSizeFilterPattern() awslogs.IFilterPattern {
	return awslogs.FilterPattern_NumberValue(jsii.String("$."+relay.LogFieldRecordsSize), jsii.String(">"), jsii.Number(0))
}

// FailedEventsFilterPattern is { $.failed_events > 0 }.
func FailedEventsFilterPattern() awslogs.IFilterPattern {
	return awslogs.FilterPattern_NumberValue(jsii.String("$."+relay.LogFieldFailedEvents), jsii.String(">"), jsii.Number(0))
}

// RejectedFilterPattern is { $.rejected > 0 }.
func RejectedFilterPattern() awslogs.IFilterPattern {
	return awslogs.FilterPattern_NumberValue(jsii.String("$."+relay.LogFieldRejected), jsii.String(">"), jsii.Number(0))
}

// period is the period of every alarm and graph. A function, not a package
// variable: a jsii call at package initialization would start the JSII
// runtime in every program that imports this package.
func period() awscdk.Duration { return awscdk.Duration_Minutes(jsii.Number(5)) }

// NewMonitoring defines the metric filters, topic, alarms and dashboard.
func NewMonitoring(scope constructs.Construct, id string, props *MonitoringProps) *Monitoring {
	c := constructs.NewConstruct(scope, jsii.String(id))
	m := &Monitoring{Construct: c}

	m.Topic = props.Topic
	if m.Topic == nil {
		// CloudWatch publishes to an encrypted topic only if the key lets it.
		props.TopicKey.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("AllowCloudWatchAlarmsToPublish"),
			Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
			Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey"),
			Resources:  jsii.Strings("*"),
			Conditions: &map[string]interface{}{
				"StringEquals": map[string]interface{}{"aws:SourceAccount": awscdk.Stack_Of(c).Account()},
			},
		}), jsii.Bool(false))
		m.Topic = awssns.NewTopic(c, jsii.String("Alarms"), &awssns.TopicProps{
			MasterKey:   props.TopicKey,
			EnforceSSL:  jsii.Bool(true),
			DisplayName: jsii.String("eventlake alarms"),
		})
	}
	if props.AlarmEmail != "" {
		m.Topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(props.AlarmEmail), nil))
	}

	m.RecordsSize = awslogs.NewMetricFilter(c, jsii.String("RecordsSizeFilter"), &awslogs.MetricFilterProps{
		LogGroup:        props.LogGroup,
		FilterPattern:   RecordsSizeFilterPattern(),
		MetricNamespace: jsii.String(props.Namespace),
		MetricName:      jsii.String(MetricRecordsSize),
		MetricValue:     jsii.String("$." + relay.LogFieldRecordsSize),
		Unit:            cw.Unit_COUNT,
	})
	m.FailedEvents = awslogs.NewMetricFilter(c, jsii.String("FailedEventsFilter"), &awslogs.MetricFilterProps{
		LogGroup:        props.LogGroup,
		FilterPattern:   FailedEventsFilterPattern(),
		MetricNamespace: jsii.String(props.Namespace),
		MetricName:      jsii.String(MetricFailedEvents),
		MetricValue:     jsii.String("$." + relay.LogFieldFailedEvents),
		Unit:            cw.Unit_COUNT,
	})
	m.Rejected = awslogs.NewMetricFilter(c, jsii.String("RejectedFilter"), &awslogs.MetricFilterProps{
		LogGroup:        props.LogGroup,
		FilterPattern:   RejectedFilterPattern(),
		MetricNamespace: jsii.String(props.Namespace),
		MetricName:      jsii.String(MetricRejectedEvents),
		MetricValue:     jsii.String("$." + relay.LogFieldRejected),
		Unit:            cw.Unit_COUNT,
	})
	sum := &cw.MetricOptions{Statistic: cw.Stats_SUM(), Period: period()}
	maximum := &cw.MetricOptions{Statistic: cw.Stats_MAXIMUM(), Period: period()}
	recordsSize := m.RecordsSize.Metric(&cw.MetricOptions{Statistic: cw.Stats_SUM(), Period: period(), Label: jsii.String("records passed on")})
	failedEvents := m.FailedEvents.Metric(sum)
	rejected := m.Rejected.Metric(sum)

	fn, stream := props.Function, props.DeliveryStream
	iteratorAge := fn.Metric(jsii.String("IteratorAge"), maximum)
	freshness := stream.Metric(jsii.String("DeliveryToS3.DataFreshness"), maximum)
	deliverySuccess := stream.Metric(jsii.String("DeliveryToS3.Success"), &cw.MetricOptions{Statistic: cw.Stats_MINIMUM(), Period: period()})
	queueDepth := props.OnFailure.MetricApproximateNumberOfMessagesVisible(maximum)

	m.AddAlarm("RelayErrors", "The stream relay Lambda failed an invocation (its batch is retried, then bisected).",
		fn.MetricErrors(sum), 1, cw.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD)
	m.AddAlarm("IteratorAge", fmt.Sprintf("The relay is more than %s behind the events stream; records expire from the stream after 24 hours.", props.IteratorAge),
		iteratorAge, float64(props.IteratorAge.Milliseconds()), cw.ComparisonOperator_GREATER_THAN_THRESHOLD)
	m.AddAlarm("OnFailureMessages", "A batch of stream records was given up on: the on-failure queue holds its shard and sequence range. Replay those events from the table.",
		queueDepth, 1, cw.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD)
	m.AddAlarm("FailedEvents", "Events the relay could not deliver to Firehose after every retry within an invocation (counted in events, not packed records); "+
		"their stream records were reported as batch item failures and are retried, and go to the on-failure queue (then: eventlake redrive) when the retries run out.",
		failedEvents, 1, cw.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD)
	m.AddAlarm("RejectedEvents", "Inserted items whose image breaks the event schema (malformed, no user_id/anonymous_id, event_at not ISO 8601, "+
		"line over 1,000 KiB) did not reach the lake; they are kept aside under errors/relay/. Fix the writer or the items, then: eventlake reprocess -relay.",
		rejected, 1, cw.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD)
	m.AddAlarm("DataFreshness", fmt.Sprintf("The oldest record in Firehose is older than %s: delivery to S3 is falling behind.", props.DataFreshness),
		freshness, props.DataFreshness.Seconds(), cw.ComparisonOperator_GREATER_THAN_THRESHOLD)
	m.AddAlarm("DeliveryFailures", "Firehose failed to put objects to S3 (see its log group and the errors/ prefix).",
		deliverySuccess, 1, cw.ComparisonOperator_LESS_THAN_THRESHOLD)
	m.AddAlarm("PartitionCountExceeded", "Firehose has more event-day partitions open than its limit (500 active partitions): "+
		"events of too many different days arrived within one buffer, for example in a large backfill; Firehose sends the excess to errors/.",
		stream.Metric(jsii.String("PartitionCountExceeded"), maximum), 1, cw.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD)
	if props.Format == FormatParquet {
		m.AddAlarm("ConversionFailures", "Firehose could not convert records to Parquet; they are under errors/format-conversion-failed/.",
			stream.Metric(jsii.String("FailedConversion.Records"), sum), 1, cw.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD)
	}
	for _, t := range []struct {
		id, name string
		table    awsdynamodb.ITable
	}{{"EventsThrottles", "events", props.EventsTable}, {"SummaryThrottles", "summary", props.SummaryTable}} {
		m.AddAlarm(t.id, "DynamoDB throttled reads or writes of the "+t.name+" table: on-demand capacity is adjusting or a partition is hot.",
			throttles(t.table, t.name), 1, cw.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD)
	}

	streamRecords := cw.NewMetric(&cw.MetricProps{
		Namespace:  jsii.String("AWS/DynamoDB"),
		MetricName: jsii.String("ReturnedRecordsCount"),
		DimensionsMap: &map[string]*string{
			"TableName": props.EventsTable.TableName(),
			"Operation": jsii.String("GetRecords"),
			// The stream label is the last part of the stream ARN.
			"StreamLabel": awscdk.Fn_Select(jsii.Number(3), awscdk.Fn_Split(jsii.String("/"), props.EventsTable.TableStreamArn(), jsii.Number(4))),
		},
		Statistic: cw.Stats_SUM(),
		Period:    period(),
		Label:     jsii.String("stream records read"),
	})
	incoming := stream.MetricIncomingRecords(&cw.MetricOptions{Statistic: cw.Stats_SUM(), Period: period(), Label: jsii.String("incoming records")})
	delivered := stream.Metric(jsii.String("DeliveryToS3.Records"), &cw.MetricOptions{Statistic: cw.Stats_SUM(), Period: period(), Label: jsii.String("records delivered to S3")})

	alarmRefs := make([]cwrefs.IAlarmRef, len(m.Alarms))
	for i, a := range m.Alarms {
		alarmRefs[i] = a
	}
	m.Dashboard = cw.NewDashboard(c, jsii.String("Dashboard"), &cw.DashboardProps{
		DefaultInterval: awscdk.Duration_Hours(jsii.Number(24)),
		Widgets: &[]*[]cw.IWidget{
			{
				graph("Records in the stream", 6, streamRecords),
				graph("Records the Lambda passed on", 6, recordsSize),
				graph("Firehose incoming records", 6, incoming),
				graph("Records delivered to S3", 6, delivered),
			},
			{
				graph("Relay invocations and errors", 8, fn.MetricInvocations(sum), fn.MetricErrors(sum), failedEvents, rejected),
				graph("Relay iterator age (ms)", 8, iteratorAge),
				graph("Firehose data freshness (s)", 8, freshness),
			},
			{
				graph("On-failure queue", 8, queueDepth),
				graph("DynamoDB throttles", 8, throttles(props.EventsTable, "events"), throttles(props.SummaryTable, "summary")),
				cw.NewAlarmStatusWidget(&cw.AlarmStatusWidgetProps{Title: jsii.String("Alarms"), Alarms: &alarmRefs, Width: jsii.Number(8), Height: jsii.Number(6)}),
			},
		},
	})
	// CloudFormation's AWS::CloudWatch::Dashboard schema has no Tags (cfn-lint
	// E3002 in us-east-1), yet the CDK tags dashboards: remove whatever tags
	// the pipeline or an enclosing scope adds.
	m.Dashboard.Node().DefaultChild().(awscdk.CfnResource).AddPropertyDeletionOverride(jsii.String("Tags"))
	return m
}

// graph is a dashboard graph of metrics on the left axis, 6 high.
func graph(title string, width float64, left ...cw.IMetric) cw.IWidget {
	return cw.NewGraphWidget(&cw.GraphWidgetProps{Title: jsii.String(title), Left: &left, Width: jsii.Number(width), Height: jsii.Number(6)})
}

// AddAlarm defines one alarm over a single period of metric (5 minutes for
// the pipeline's own metrics) that notifies the topic when it fires and when
// it clears, and appends it to Alarms. No data (an idle pipeline) is not a
// breach. Constructs added to the pipeline later use it for their own
// alarms; the dashboard's "Alarms" widget shows the alarms defined by
// NewMonitoring, so such a construct adds a row of its own to Dashboard
// (Summary does).
func (m *Monitoring) AddAlarm(id, description string, metric cw.IMetric, threshold float64, op cw.ComparisonOperator) cw.Alarm {
	return m.AddAlarmFor(id, description, metric, threshold, op, 1)
}

// AddAlarmFor is AddAlarm for an alarm that fires only when the metric
// breaches the threshold in periods consecutive periods.
func (m *Monitoring) AddAlarmFor(id, description string, metric cw.IMetric, threshold float64, op cw.ComparisonOperator, periods int) cw.Alarm {
	a := cw.NewAlarm(m.Construct, jsii.String(id), &cw.AlarmProps{
		Metric:             metric,
		Threshold:          jsii.Number(threshold),
		ComparisonOperator: op,
		EvaluationPeriods:  jsii.Number(float64(periods)),
		TreatMissingData:   cw.TreatMissingData_NOT_BREACHING,
		AlarmDescription:   jsii.String(description),
	})
	action := awscloudwatchactions.NewSnsAction(m.Topic)
	a.AddAlarmAction(action)
	a.AddOkAction(action)
	m.Alarms = append(m.Alarms, a)
	return a
}

// throttles is the table's read plus write throttle events per 5 minutes.
// name (lower case) labels the sum and keeps its metric IDs unique in a graph.
func throttles(t awsdynamodb.ITable, name string) cw.IMetric {
	opts := &cw.MetricOptions{Statistic: cw.Stats_SUM(), Period: period()}
	return cw.NewMathExpression(&cw.MathExpressionProps{
		Expression: jsii.String(fmt.Sprintf("FILL(%[1]sReads, 0) + FILL(%[1]sWrites, 0)", name)),
		UsingMetrics: &map[string]cw.IMetric{
			name + "Reads":  t.Metric(jsii.String("ReadThrottleEvents"), opts),
			name + "Writes": t.Metric(jsii.String("WriteThrottleEvents"), opts),
		},
		Label:  jsii.String(name + " throttled requests"),
		Period: period(),
	})
}
