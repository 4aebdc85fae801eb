package eventlake

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	cw "github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsscheduler"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsschedulertargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/lake"
)

// Defaults of MaintenanceProps.
const (
	// CompactionFunctionName is the scheduled compaction's directory under
	// lambdas/ and LambdasDir.
	CompactionFunctionName = "lakecompact"
	// DefaultCompactionHour and DefaultCompactionMinute: 01:30 UTC, when
	// Firehose has delivered the previous day (its buffer delays delivery
	// up to 1.5 x the interval).
	DefaultCompactionHour   = 1
	DefaultCompactionMinute = 30
	// DefaultCompactionMemoryMiB and DefaultCompactionTimeout size the
	// function: it waits on Athena and S3, so memory matters little.
	DefaultCompactionMemoryMiB = 256
	DefaultCompactionTimeout   = 15 * time.Minute
	// MaintenancePrefix holds the lake's own documents (manifests, audit
	// records, locks, the suppression list, the rewrites' staging).
	MaintenancePrefix = "maintenance/"
	// StagingExpirationDays expires what rewrites that died left in the
	// staging prefix (the next run cleans it too).
	StagingExpirationDays = 3
)

// MaintenanceProps configures NewMaintenance. Apart from Pipeline, the zero
// value of every field means its default.
type MaintenanceProps struct {
	// Pipeline is the pipeline whose lake is maintained (required).
	Pipeline *Pipeline
	// Hour and Minute (UTC) of the daily compaction; default 01:30.
	Hour, Minute *int
	// TargetFileBytes sizes compacted files; default
	// lake.DefaultTargetFileBytes (256 MiB).
	TargetFileBytes int64
	// MemoryMiB and Timeout size the compaction function.
	MemoryMiB int
	Timeout   time.Duration
}

// Maintenance keeps a pipeline's lake right (package lake, docs/lake.md):
// the daily compaction (an EventBridge Scheduler schedule invoking the
// lakecompact Lambda, which rewrites each day that received objects with
// Athena's UNLOAD and swaps the files in S3), an alarm when it fails, and
// the suppression list that erasures write: the relay, the summary consumer
// and the collector read it (SUPPRESSION_BUCKET) and drop forgotten actors'
// events; applications that run the tracker get read access with
// GrantSuppressionRead, operators the rights of `eventlake
// compact|forget|expire` with GrantOperate.
type Maintenance struct {
	constructs.Construct
	Compaction *GoFunction
	Schedule   awsscheduler.Schedule
	// DeadLetter receives the schedule's invocations that failed to start.
	DeadLetter awssqs.Queue
	// Failed alarms when a compaction run fails (a day failed, or the
	// function did); Stuck when a run ended with days left for the next one
	// three days running (a backlog larger than a run can do).
	Failed, Stuck cw.Alarm
	pipeline      *Pipeline
	scheduleRole  awsiam.Role
}

// NewMaintenance defines the maintenance of props.Pipeline's lake under
// scope. It fails, before defining anything, without a pipeline or with a
// bad time or size.
func NewMaintenance(scope constructs.Construct, id string, props *MaintenanceProps) (*Maintenance, error) {
	if props == nil || props.Pipeline == nil {
		return nil, errors.New("eventlake: NewMaintenance needs the Pipeline")
	}
	p := *props
	var bad []FieldProblem
	hour, minute := DefaultCompactionHour, DefaultCompactionMinute
	if p.Hour != nil {
		hour = *p.Hour
	}
	if p.Minute != nil {
		minute = *p.Minute
	}
	if hour < 0 || hour > 23 || minute < 0 || minute > 59 {
		bad = append(bad, FieldProblem{"Hour, Minute", fmt.Sprintf("%d:%d is not a time of day", hour, minute)})
	}
	if p.TargetFileBytes != 0 && (p.TargetFileBytes < 1<<20 || p.TargetFileBytes > 5<<30) {
		bad = append(bad, FieldProblem{"TargetFileBytes", fmt.Sprintf("%d: want 1 MiB to 5 GiB", p.TargetFileBytes)})
	}
	if p.MemoryMiB == 0 {
		p.MemoryMiB = DefaultCompactionMemoryMiB
	}
	if p.Timeout == 0 {
		p.Timeout = DefaultCompactionTimeout
	}
	if p.MemoryMiB < 128 || p.MemoryMiB > 10240 {
		bad = append(bad, FieldProblem{"MemoryMiB", fmt.Sprintf("%d: want 128 to 10240", p.MemoryMiB)})
	}
	if p.Timeout < 5*time.Minute || p.Timeout > 15*time.Minute {
		bad = append(bad, FieldProblem{"Timeout", fmt.Sprintf("%v: want 5 to 15 minutes (a run keeps %v for its last day)", p.Timeout, lake.DefaultDayBudget)})
	}
	if len(bad) > 0 {
		return nil, &PropsError{Problems: bad}
	}
	pl := p.Pipeline
	c := constructs.NewConstruct(scope, jsii.String(id))
	awscdk.Tags_Of(c).Add(jsii.String(TagKey), jsii.String(pl.Props.NamePrefix), nil)
	m := &Maintenance{Construct: c, pipeline: pl}
	env := map[string]*string{
		lake.EnvLakeBucket: pl.Lake.Bucket.BucketName(),
		lake.EnvWorkGroup:  pl.Catalog.WorkGroup.Ref(),
		lake.EnvDatabase:   pl.Catalog.Database.DatabaseName(),
		lake.EnvFormat:     jsii.String(string(pl.Props.Format)),
	}
	if p.TargetFileBytes != 0 {
		env[lake.EnvTargetFileBytes] = jsii.String(strconv.FormatInt(p.TargetFileBytes, 10))
	}
	m.Compaction = NewGoFunction(c, &GoFunctionProps{
		Name:         CompactionFunctionName,
		LambdasDir:   pl.Props.LambdasDir,
		Description:  "daily lake compaction (Athena UNLOAD, S3 swap)",
		Environment:  env,
		MemoryMiB:    p.MemoryMiB,
		Timeout:      p.Timeout,
		LogRetention: retentionDays[pl.Props.LogRetentionDays],
		LogKey:       pl.OpsKey,
	})
	m.grantRewrite(m.Compaction.Role)

	m.DeadLetter = awssqs.NewQueue(c, jsii.String("DeadLetter"), &awssqs.QueueProps{
		Encryption:          awssqs.QueueEncryption_KMS,
		EncryptionMasterKey: pl.OpsKey,
		EnforceSSL:          jsii.Bool(true),
		RetentionPeriod:     awscdk.Duration_Days(jsii.Number(14)),
	})
	// The schedule's role of our own (the target grants it the invoke), so
	// its policy is this construct's and trusts the scheduler of this
	// account only.
	scheduleRole := awsiam.NewRole(c, jsii.String("ScheduleRole"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("scheduler.amazonaws.com"), &awsiam.ServicePrincipalOpts{
			Conditions: &map[string]interface{}{"StringEquals": map[string]interface{}{"aws:SourceAccount": awscdk.Stack_Of(c).Account()}},
		}),
		Description: jsii.String("eventlake: EventBridge Scheduler invokes the daily lake compaction"),
	})
	m.scheduleRole = scheduleRole
	m.Schedule = awsscheduler.NewSchedule(c, jsii.String("Daily"), &awsscheduler.ScheduleProps{
		Description: jsii.String(fmt.Sprintf("eventlake: compact the lake's days that received objects, daily at %02d:%02d UTC", hour, minute)),
		Schedule: awsscheduler.ScheduleExpression_Cron(&awsscheduler.CronOptionsWithTimezone{
			Minute: jsii.String(strconv.Itoa(minute)), Hour: jsii.String(strconv.Itoa(hour)),
		}),
		Target: awsschedulertargets.NewLambdaInvoke(m.Compaction.Function, &awsschedulertargets.ScheduleTargetBaseProps{
			DeadLetterQueue: m.DeadLetter,
			Role:            scheduleRole,
			RetryAttempts:   jsii.Number(2),
			MaxEventAge:     awscdk.Duration_Hours(jsii.Number(6)),
		}),
	})

	mon := pl.Monitoring
	m.Failed = mon.AddAlarm("CompactionFailed", "The daily lake compaction failed (a day failed or the function did): read the lakecompact log; "+
		"rerun with `eventlake compact`. Queries stay right (events_dedup); the events table may count a day twice until it succeeds.",
		m.Compaction.Function.MetricErrors(&cw.MetricOptions{Period: awscdk.Duration_Hours(jsii.Number(1)), Statistic: cw.Stats_SUM()}),
		1, cw.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD)
	remaining := m.Compaction.LogGroup.AddMetricFilter(jsii.String("DaysRemaining"), &awslogs.MetricFilterOptions{
		MetricNamespace: jsii.String(pl.Props.NamePrefix),
		MetricName:      jsii.String(MetricCompactionDaysRemaining),
		MetricValue:     jsii.String("$." + lake.LogFieldDaysRemaining),
		FilterPattern:   CompactionSummaryFilterPattern(),
	})
	stuck := cw.NewAlarm(mon.Construct, jsii.String("CompactionBacklog"), &cw.AlarmProps{
		Metric:             remaining.Metric(&cw.MetricOptions{Statistic: cw.Stats_MINIMUM(), Period: awscdk.Duration_Days(jsii.Number(1))}),
		Threshold:          jsii.Number(1),
		ComparisonOperator: cw.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		EvaluationPeriods:  jsii.Number(3),
		TreatMissingData:   cw.TreatMissingData_NOT_BREACHING,
		AlarmDescription: jsii.String("The daily compaction left days for the next run three days running: run `eventlake compact` " +
			"once to catch up (a first run on a long history, or a burst of late objects)."),
	})
	action := awscloudwatchactions.NewSnsAction(mon.Topic)
	stuck.AddAlarmAction(action)
	stuck.AddOkAction(action)
	mon.Alarms = append(mon.Alarms, stuck)
	m.Stuck = stuck
	mon.AddAlarm("CompactionNotInvoked", "The schedule could not invoke the lake compaction (its dead-letter queue holds the attempt).",
		m.DeadLetter.MetricApproximateNumberOfMessagesVisible(&cw.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5)), Statistic: cw.Stats_MAXIMUM()}),
		1, cw.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD)

	// What rewrites that died leave in staging expires; the next run cleans
	// it too.
	pl.Lake.Bucket.AddLifecycleRule(&awss3.LifecycleRule{
		Id:                                  jsii.String("maintenance-staging"),
		Prefix:                              jsii.String(MaintenancePrefix + "staging/"),
		Expiration:                          awscdk.Duration_Days(jsii.Number(StagingExpirationDays)),
		NoncurrentVersionExpiration:         awscdk.Duration_Days(jsii.Number(1)),
		AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(1)),
	})

	// Every function that lets events in or writes what they say honours
	// the suppression list: the relay (nothing of a forgotten actor reaches
	// the lake), the summary consumer (their summaries are not recreated)
	// and the collector (their events are not stored).
	m.honour(pl.Relay.Function, pl.Relay.Role)
	if pl.Summary != nil {
		m.honour(pl.Summary.Function, pl.Summary.Role)
	}
	if pl.Collector != nil {
		m.honour(pl.Collector.Function, pl.Collector.Role)
	}

	m.addNagSuppressions()
	return m, nil
}

// MetricCompactionDaysRemaining is the metric the compaction's summary line
// publishes: days left for the next run.
const MetricCompactionDaysRemaining = "CompactionDaysRemaining"

// CompactionSummaryFilterPattern matches the compaction's summary line
// ({ $.msg = "scheduled compaction" }).
func CompactionSummaryFilterPattern() awslogs.IFilterPattern {
	return awslogs.FilterPattern_StringValue(jsii.String("$.msg"), jsii.String("="), jsii.String(lake.LogMessageCompaction))
}

func objectArn(pl *Pipeline, pattern string) *string {
	return pl.Lake.Bucket.ArnForObjects(jsii.String(pattern))
}

// grantRewrite lets grantee rewrite the lake: run Athena queries (UNLOAD
// included) in the workgroup; read the Glue tables and views and replace
// the identities view (glue:UpdateTable on it alone); list the bucket and
// its versions; read, write and delete objects and versions under events/,
// identities/ and maintenance/ (never errors/); use the lake key.
func (m *Maintenance) grantRewrite(grantee awsiam.IGrantable) {
	pl := m.pipeline
	c := pl.Catalog
	st := awscdk.Stack_Of(pl.Construct)
	glue := func(resource string, name *string) *string {
		return st.FormatArn(&awscdk.ArnComponents{Service: jsii.String("glue"), Resource: jsii.String(resource), ResourceName: name})
	}
	awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee: grantee,
		Actions: jsii.Strings("athena:StartQueryExecution", "athena:StopQueryExecution", "athena:GetQueryExecution",
			"athena:GetQueryResults", "athena:GetWorkGroup"),
		ResourceArns: &[]*string{st.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("athena"), Resource: jsii.String("workgroup"), ResourceName: c.WorkGroup.Ref(),
		})},
	})
	db := c.Database.DatabaseName()
	table := func(name string) *string {
		return glue("table", awscdk.Fn_Join(jsii.String("/"), &[]*string{db, jsii.String(name)}))
	}
	awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee: grantee,
		Actions: jsii.Strings("glue:GetDatabase", "glue:GetTable"),
		ResourceArns: &[]*string{glue("catalog", nil), glue("database", db),
			table(athena.TableName), table(athena.LinksTable), table(athena.ViewName), table(athena.IdentitiesView)},
	})
	// After materializing the identity links, the maintenance replaces the
	// identities view (CREATE OR REPLACE VIEW through the workgroup), which
	// updates this one Glue table; it creates and deletes none.
	awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee:      grantee,
		Actions:      jsii.Strings("glue:UpdateTable"),
		ResourceArns: &[]*string{glue("catalog", nil), glue("database", db), table(athena.IdentitiesView)},
	})
	// Athena writes each statement's result (and UNLOAD's manifest) to the
	// workgroup's result location with the caller's rights.
	awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee:      grantee,
		Actions:      jsii.Strings("s3:GetBucketLocation", "s3:ListBucket"),
		ResourceArns: &[]*string{c.Results.BucketArn()},
	})
	awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee:      grantee,
		Actions:      jsii.Strings("s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"),
		ResourceArns: &[]*string{c.Results.ArnForObjects(jsii.String("*"))},
	})
	awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee:      grantee,
		Actions:      jsii.Strings("s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketLocation"),
		ResourceArns: &[]*string{pl.Lake.Bucket.BucketArn()},
	})
	awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee: grantee,
		Actions: jsii.Strings("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion",
			"s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"),
		ResourceArns: &[]*string{objectArn(pl, EventsPrefix+"*"), objectArn(pl, athena.LinksPrefix+"*"), objectArn(pl, MaintenancePrefix+"*")},
	})
	awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee:      grantee,
		Actions:      jsii.Strings("kms:Decrypt", "kms:GenerateDataKey"),
		ResourceArns: &[]*string{pl.Lake.Key.KeyArn()},
	})
}

// honour sets fn's SUPPRESSION_BUCKET to the lake bucket and lets role
// read the list.
func (m *Maintenance) honour(fn awslambda.Function, role awsiam.IGrantable) {
	fn.AddEnvironment(jsii.String(lake.EnvSuppressionBucket), m.pipeline.Lake.Bucket.BucketName(), nil)
	m.GrantSuppressionRead(role)
}

// GrantSuppressionRead lets grantee read the suppression list (the lake
// bucket's maintenance/suppression.json, with the lake key): the role of an
// application that wires lake.SuppressionCache into tracker.Config's
// BeforeSend, with SUPPRESSION_BUCKET set to Lake.Bucket.BucketName().
func (m *Maintenance) GrantSuppressionRead(grantee awsiam.IGrantable) {
	pl := m.pipeline
	awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee:      grantee,
		Actions:      jsii.Strings("s3:GetObject"),
		ResourceArns: &[]*string{objectArn(pl, lake.SuppressionKey)},
	})
	awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee:      grantee,
		Actions:      jsii.Strings("kms:Decrypt"),
		ResourceArns: &[]*string{pl.Lake.Key.KeyArn()},
	})
}

// GrantOperate lets grantee (an operator's role) run `eventlake compact`,
// `forget` and `expire` against this deployment: rewrite the lake (as the
// compaction function may), read, rewrite and delete objects and versions
// of the lake's error output (forget scrubs the forgotten actors' records
// from errors/; the compaction function never touches it), and read and
// delete the events and summary items of the tables (forget).
func (m *Maintenance) GrantOperate(grantee awsiam.IGrantable) {
	m.grantRewrite(grantee)
	pl := m.pipeline
	awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee:      grantee,
		Actions:      jsii.Strings("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"),
		ResourceArns: &[]*string{objectArn(pl, ErrorsPrefix+"*")},
	})
	pl.Tables.Events.Grant(grantee, jsii.String("dynamodb:Query"), jsii.String("dynamodb:BatchWriteItem"), jsii.String("dynamodb:DescribeTable"))
	pl.Tables.Summary.Grant(grantee, jsii.String("dynamodb:GetItem"), jsii.String("dynamodb:DeleteItem"), jsii.String("dynamodb:DescribeTable"))
	if pl.Tables.Key != nil {
		pl.Tables.Key.GrantEncryptDecrypt(grantee)
	}
}

func (m *Maintenance) addNagSuppressions() {
	pl := m.pipeline
	bucket := "Resource::<" + logicalID(pl.Lake.Bucket) + ".Arn>/"
	suppress(defaultPolicy(m.Compaction.Role), &cdknag.NagPackSuppression{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("Compaction rewrites objects with generated names under events/ (Firehose's objects and its own files), " +
			"writes the identity links' materializations under identities/ and keeps its manifests, locks, staging and the " +
			"suppression list under maintenance/; it needs those three prefixes of the object ARN with a wildcard. It never " +
			"touches errors/. The Glue and workgroup grants are GrantQuery's, plus glue:UpdateTable on the identities view alone."),
		AppliesTo: &[]interface{}{bucket + EventsPrefix + "*", bucket + athena.LinksPrefix + "*", bucket + MaintenancePrefix + "*",
			"Resource::<" + logicalID(pl.Catalog.Results) + ".Arn>/*"},
	})
	suppress(defaultPolicy(m.scheduleRole), &cdknag.NagPackSuppression{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("The schedule target's grant (the CDK's grantInvoke) covers the compaction function and its versions " +
			"and aliases (function ARN with :*); the role invokes nothing else."),
		AppliesTo: &[]interface{}{"Resource::<" + logicalID(m.Compaction.Function) + ".Arn>:*"},
	})
	suppress(m.DeadLetter.Node().DefaultChild(), &cdknag.NagPackSuppression{
		Id: jsii.String("AwsSolutions-SQS3"),
		Reason: jsii.String("This queue is itself the dead-letter queue of the compaction schedule: it holds the invocations " +
			"the scheduler could not make, for operators, and an alarm watches it."),
	})
}
