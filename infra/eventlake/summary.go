package eventlake

import (
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	cw "github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	cwrefs "github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawscloudwatch"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/eventlake/eventlake/lambdas/summarize/summary"
)

// Settings of the summary consumer (docs/lambda.md, "Event source mapping"):
// fixed, because the summarize Lambda is measured and costed with them.
const (
	// SummaryMemoryMiB and SummaryTimeout size the summarize Lambda: its
	// work is CPU-bound below a vCPU, and a final invocation writing 10,000
	// actors takes a few seconds.
	SummaryMemoryMiB = 512
	SummaryTimeout   = 90 * time.Second
	// SummaryBatchSize is the most stream records per aggregating
	// invocation; each invocation round-trips the window's state.
	SummaryBatchSize = 1000
	// SummaryBatchingWindow lets batches fill on a busy stream (about 3
	// aggregating invocations per window instead of up to 4 a second); it
	// is capped at the tumbling window.
	SummaryBatchingWindow = 20 * time.Second
	// SummaryRetryAttempts bounds the retries of a failing window before
	// its batch information goes to the on-failure queue.
	SummaryRetryAttempts = 10
	// SummaryStateBytesAlarm is the largest state (JSON bytes) that does not
	// alarm: Lambda ends a window whose state passes 1 MB per shard.
	SummaryStateBytesAlarm = 900_000
	// SummaryIteratorAgeSlack is added to the tumbling window for the
	// iterator age alarm: a record waits for its window to close, so the
	// iterator age is normally up to a window old.
	SummaryIteratorAgeSlack = 5 * time.Minute
)

// Names of the custom metrics the summary consumer's metric filters
// publish.
const (
	MetricSummaryWrites      = "SummaryWrites"
	MetricSummaryUnwritten   = "SummaryUnwritten"
	MetricSummaryMalformed   = "SummaryMalformed"
	MetricSummaryEarlyWrites = "SummaryEarlyWrites"
	MetricSummaryStateBytes  = "SummaryStateBytes"
)

// SummaryWritesFilterPattern matches the summarize Lambda's summary line
// when the invocation made UpdateItem calls:
// { ($.msg = "summary batch") && ($.writes > 0) }. Its value, $.writes, is
// the summary table's write bill. It counts the writes of every invocation,
// not only of final ones: an invocation in the middle of a window writes
// too when the state outgrows its bound (early writes), and a failed final
// invocation has made calls before it gave up.
func SummaryWritesFilterPattern() awslogs.IFilterPattern {
	return awslogs.FilterPattern_All(
		awslogs.FilterPattern_StringValue(jsii.String("$."+slog.MessageKey), jsii.String("="), jsii.String(summary.LogMessageSummary)),
		positive(summary.LogFieldWrites),
	)
}

// SummaryFieldFilterPattern is { $.field > 0 }, the pattern of the summary
// line's other metric filters (unwritten, malformed, early_writes,
// state_bytes).
func SummaryFieldFilterPattern(field string) awslogs.IFilterPattern { return positive(field) }

func positive(field string) awslogs.JsonPattern {
	return awslogs.FilterPattern_NumberValue(jsii.String("$."+field), jsii.String(">"), jsii.Number(0))
}

// SummaryProps configures NewSummary.
type SummaryProps struct {
	// EventsTable's stream (NEW_IMAGE) triggers the function; it writes
	// SummaryTable.
	EventsTable  awsdynamodb.ITable
	SummaryTable awsdynamodb.ITable
	// LambdasDir holds SummaryFunctionName/bootstrap.
	LambdasDir string
	// Window is the tumbling window: 1 second to 15 minutes, whole seconds
	// (PipelineProps.Validate checks it).
	Window time.Duration
	// QueueKey encrypts the on-failure queue; LogKey the function's logs,
	// which LogRetention keeps.
	QueueKey     awskms.IKey
	LogKey       awskms.IKey
	LogRetention awslogs.RetentionDays
	// Namespace holds the metric-filter metrics.
	Namespace string
	// Monitoring receives the alarms (Monitoring.AddAlarm) and a dashboard
	// row of the consumer's own.
	Monitoring *Monitoring
}

// Summary is the events stream's second consumer: the summarize Lambda
// (lambdas/summarize), a GoFunction that keeps the summary table (last
// seen, action count and identity links of every actor) with a tumbling
// window, so it writes once per active actor per window. Its role may
// write its log group, read the events stream (and decrypt it), call
// dynamodb:UpdateItem on the summary table alone (and use the summary
// table's key, when it has one the CDK knows), and send to its on-failure
// queue. Its event source mapping passes only INSERT records, never bisects
// (a failed window is a DynamoDB failure, not a poison record), retries a
// bounded number of times, accepts partial batch responses and sends what
// it gives up on to an encrypted queue. Metric filters read the Lambda's
// summary line (field names from the summary package); alarms and a
// dashboard row go to Monitoring.
type Summary struct {
	constructs.Construct
	Function    awslambda.Function
	Role        awsiam.Role
	LogGroup    awslogs.LogGroup
	OnFailure   awssqs.Queue
	EventSource awslambdaeventsources.DynamoEventSource
	// The metric filters on the summary line.
	Writes, Unwritten, Malformed, EarlyWrites, StateBytes awslogs.MetricFilter
	// Alarms are the consumer's alarms (also in Monitoring.Alarms), in
	// dashboard order.
	Alarms []cw.Alarm
}

// NewSummary defines the function, its role, log group, on-failure queue,
// event source mapping, metric filters, alarms and dashboard row.
func NewSummary(scope constructs.Construct, id string, props *SummaryProps) *Summary {
	c := constructs.NewConstruct(scope, jsii.String(id))
	windowSeconds := int(props.Window / time.Second)
	fn := NewGoFunction(c, &GoFunctionProps{
		Name:        SummaryFunctionName,
		LambdasDir:  props.LambdasDir,
		Description: "per-actor summaries (last seen, action count, identity links) from the events stream, per tumbling window",
		Environment: map[string]*string{
			summary.EnvSummaryTableName: props.SummaryTable.TableName(),
			summary.EnvWindowSeconds:    jsii.String(strconv.Itoa(windowSeconds)),
		},
		MemoryMiB:    SummaryMemoryMiB,
		Timeout:      SummaryTimeout,
		LogRetention: props.LogRetention,
		LogKey:       props.LogKey,
	})
	// The summary writer calls UpdateItem and nothing else (GrantWriteData
	// would add PutItem, BatchWriteItem, DeleteItem and DescribeTable).
	props.SummaryTable.Grant(fn.Role, jsii.String("dynamodb:UpdateItem"))
	if key := props.SummaryTable.EncryptionKey(); key != nil {
		// DynamoDB uses the table's key on the caller's behalf; these are
		// the CDK's write-data key actions without their wildcards
		// (kms:ReEncrypt*, kms:GenerateDataKey*).
		key.Grant(fn.Role, jsii.String("kms:Decrypt"), jsii.String("kms:DescribeKey"),
			jsii.String("kms:Encrypt"), jsii.String("kms:GenerateDataKey"))
	}

	queue := awssqs.NewQueue(c, jsii.String("OnFailure"), &awssqs.QueueProps{
		Encryption:          awssqs.QueueEncryption_KMS,
		EncryptionMasterKey: props.QueueKey,
		EnforceSSL:          jsii.Bool(true),
		RetentionPeriod:     awscdk.Duration_Days(jsii.Number(14)),
	})
	seconds := func(d time.Duration) awscdk.Duration { return awscdk.Duration_Seconds(jsii.Number(d.Seconds())) }
	source := awslambdaeventsources.NewDynamoEventSource(streamTable(c, props.EventsTable), &awslambdaeventsources.DynamoEventSourceProps{
		StartingPosition: awslambda.StartingPosition_TRIM_HORIZON,
		BatchSize:        jsii.Number(SummaryBatchSize),
		// Neither the CDK nor CloudFormation's schema rejects a batching
		// window together with a tumbling window. An invocation carries
		// the records of one window; the cap keeps a short window's batch
		// from waiting longer than the window itself.
		MaxBatchingWindow:       seconds(min(SummaryBatchingWindow, props.Window)),
		TumblingWindow:          seconds(props.Window),
		BisectBatchOnError:      jsii.Bool(false),
		RetryAttempts:           jsii.Number(SummaryRetryAttempts),
		ParallelizationFactor:   jsii.Number(1), // a window's state is per shard
		ReportBatchItemFailures: jsii.Bool(true),
		Filters:                 &[]*map[string]interface{}{InsertOnlyFilter()},
		OnFailure:               awslambdaeventsources.NewSqsDlq(queue),
	})
	fn.Function.AddEventSource(source)

	s := &Summary{Construct: c, Function: fn.Function, Role: fn.Role, LogGroup: fn.LogGroup, OnFailure: queue, EventSource: source}
	filter := func(id, metric, field string, pattern awslogs.IFilterPattern, unit cw.Unit) awslogs.MetricFilter {
		return awslogs.NewMetricFilter(c, jsii.String(id), &awslogs.MetricFilterProps{
			LogGroup:        fn.LogGroup,
			FilterPattern:   pattern,
			MetricNamespace: jsii.String(props.Namespace),
			MetricName:      jsii.String(metric),
			MetricValue:     jsii.String("$." + field),
			Unit:            unit,
		})
	}
	count := func(id, metric, field string) awslogs.MetricFilter {
		return filter(id, metric, field, SummaryFieldFilterPattern(field), cw.Unit_COUNT)
	}
	s.Writes = filter("WritesFilter", MetricSummaryWrites, summary.LogFieldWrites, SummaryWritesFilterPattern(), cw.Unit_COUNT)
	s.Unwritten = count("UnwrittenFilter", MetricSummaryUnwritten, summary.LogFieldUnwritten)
	s.Malformed = count("MalformedFilter", MetricSummaryMalformed, summary.LogFieldMalformed)
	s.EarlyWrites = count("EarlyWritesFilter", MetricSummaryEarlyWrites, summary.LogFieldEarlyWrites)
	s.StateBytes = filter("StateBytesFilter", MetricSummaryStateBytes, summary.LogFieldStateBytes,
		SummaryFieldFilterPattern(summary.LogFieldStateBytes), cw.Unit_BYTES)

	s.monitor(props)
	return s
}

// monitor adds the consumer's alarms to props.Monitoring and a dashboard row.
func (s *Summary) monitor(props *SummaryProps) {
	m := props.Monitoring
	sum := &cw.MetricOptions{Statistic: cw.Stats_SUM(), Period: period()}
	maximum := &cw.MetricOptions{Statistic: cw.Stats_MAXIMUM(), Period: period()}
	labelled := func(opts *cw.MetricOptions, label string) *cw.MetricOptions {
		o := *opts
		o.Label = jsii.String(label)
		return &o
	}
	fn := s.Function
	errors := fn.MetricErrors(labelled(sum, "function errors"))
	iteratorAge := fn.Metric(jsii.String("IteratorAge"), maximum)
	queueDepth := s.OnFailure.MetricApproximateNumberOfMessagesVisible(maximum)
	writes := s.Writes.Metric(labelled(sum, "UpdateItem calls"))
	unwritten := s.Unwritten.Metric(labelled(sum, "actors unwritten"))
	malformed := s.Malformed.Metric(labelled(sum, "records malformed"))
	earlyWrites := s.EarlyWrites.Metric(labelled(sum, "early writes"))
	earlyWritesHourly := s.EarlyWrites.Metric(&cw.MetricOptions{Statistic: cw.Stats_SUM(), Period: awscdk.Duration_Hours(jsii.Number(1))})
	stateBytes := s.StateBytes.Metric(maximum)
	iteratorAlarm := props.Window + SummaryIteratorAgeSlack

	add := func(a cw.Alarm) { s.Alarms = append(s.Alarms, a) }
	gte := cw.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD
	add(m.AddAlarmFor("SummaryErrors", "The summarize Lambda failed invocations in 3 periods of 5 minutes in a row: final invocations "+
		"are retried, and the shard waits; read its log.", fn.MetricErrors(sum), 1, gte, 3))
	add(m.AddAlarm("SummaryIteratorAge", fmt.Sprintf("The summarize Lambda is more than %s (the %s window plus %s) behind the events stream: "+
		"windows are not closing. Records expire from the stream after 24 hours.", iteratorAlarm, props.Window, SummaryIteratorAgeSlack),
		iteratorAge, float64(iteratorAlarm.Milliseconds()), cw.ComparisonOperator_GREATER_THAN_THRESHOLD))
	add(m.AddAlarm("SummaryOnFailureMessages", "A window of the summary consumer was given up on after every retry: its on-failure queue "+
		"holds the shard and sequence range. Those events are not counted in the summaries; replay them.", queueDepth, 1, gte))
	add(m.AddAlarmFor("SummaryUnwritten", "The summarize Lambda left actors unwritten (DynamoDB kept failing within the invocation) in 3 "+
		"periods of 5 minutes in a row; the batches are retried. Check the summary table's throttling and the function's log.",
		s.Unwritten.Metric(sum), 1, gte, 3))
	add(m.AddAlarm("SummaryMalformed", "The events stream carried items that are not events (an ID, event_at or event_id missing or "+
		"invalid): something other than the tracker writes the events table. Each is logged with its sequence number and skipped.",
		s.Malformed.Metric(sum), 1, gte))
	add(m.AddAlarm("SummaryEarlyWrites", "Within the last hour a window held more active actors than the summarize Lambda's state can "+
		"hold, so it wrote in the middle of the window (two writes for those actors). Shorten the summary window.",
		earlyWritesHourly, 1, gte))
	add(m.AddAlarm("SummaryStateBytes", fmt.Sprintf("The summary window's state passed %d bytes; Lambda ends a window early at 1 MB "+
		"per shard. Shorten the summary window.", SummaryStateBytesAlarm),
		stateBytes, SummaryStateBytesAlarm, cw.ComparisonOperator_GREATER_THAN_THRESHOLD))

	alarmRefs := make([]cwrefs.IAlarmRef, len(s.Alarms))
	for i, a := range s.Alarms {
		alarmRefs[i] = a
	}
	m.Dashboard.AddWidgets(
		graph("Summary writes (UpdateItem calls)", 6, writes),
		graph("Summary: unwritten, malformed, early writes, errors", 6, unwritten, malformed, earlyWrites, errors),
		graph("Summary iterator age (ms)", 6, iteratorAge),
		cw.NewAlarmStatusWidget(&cw.AlarmStatusWidgetProps{Title: jsii.String("Summary alarms"), Alarms: &alarmRefs, Width: jsii.Number(6), Height: jsii.Number(6)}),
	)
}
