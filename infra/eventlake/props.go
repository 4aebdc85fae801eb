package eventlake

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"

	"github.com/eventlake/eventlake/lambdas/summarize/summary"
	"github.com/eventlake/eventlake/tracker"
)

// Format is the storage format of the objects Firehose writes to the lake.
type Format string

const (
	// FormatParquet converts every record to Apache Parquet (GZIP pages) with
	// Firehose record format conversion, using the Glue table's schema. Athena
	// then reads only the columns a query uses. It is the default.
	FormatParquet Format = "parquet"
	// FormatJSON writes the relay's NDJSON lines unchanged (one per line),
	// GZIP-compressed: human-readable and without the conversion charge.
	FormatJSON Format = "json"
)

// RelayFunctionName is the relay Lambda's directory under lambdas/ and
// under PipelineProps.LambdasDir.
const RelayFunctionName = "streamtofirehose"

// SummaryFunctionName is the summarize Lambda's directory under lambdas/
// and under PipelineProps.LambdasDir.
const SummaryFunctionName = "summarize"

// Defaults of PipelineProps: a zero field means the value below.
const (
	DefaultNamePrefix                      = "eventlake"
	DefaultLambdasDir                      = "build/lambdas"
	DefaultFormat                          = FormatParquet
	DefaultTableClass                      = awsdynamodb.TableClass_STANDARD
	DefaultBufferingInterval               = 5 * time.Minute
	DefaultBufferingSizeMiB                = 128
	DefaultBatchSize                       = 1000
	DefaultBatchingWindow                  = 10 * time.Second
	DefaultRetryAttempts                   = 10
	DefaultMaxRecordAge                    = 12 * time.Hour
	DefaultParallelizationFactor           = 1
	DefaultLambdaMemoryMiB                 = 256
	DefaultLambdaTimeout                   = time.Minute
	DefaultLogRetentionDays                = 30
	DefaultBytesScannedCutoff              = 10 << 30 // 10 GiB, $0.05 a query at $5/TB
	DefaultInfrequentAccessAfterDays       = 30
	DefaultGlacierIRAfterDays              = 90
	DefaultErrorOutputExpirationDays       = 30
	DefaultNoncurrentVersionExpirationDays = 30
	DefaultAthenaResultsExpirationDays     = 30
	DefaultIteratorAgeAlarm                = 10 * time.Minute
	DefaultPartitionProjectionStart        = "2020-01-01"
	// DefaultSummaryWindow is the summary consumer's tumbling window, the
	// summarize Lambda's own default (summary.DefaultWindow).
	DefaultSummaryWindow = summary.DefaultWindow
)

// Limits of Firehose dynamic partitioning, which the delivery stream uses.
const (
	// MinBufferingSizeMiB and MinBufferingInterval are the smallest buffers
	// Firehose accepts with dynamic partitioning (and, for the size, with
	// record format conversion).
	MinBufferingSizeMiB  = 64
	MinBufferingInterval = time.Minute
	// MaxEventsPerRecord is the most JSON objects Firehose's multi-record
	// deaggregation splits one record into: the relay must pack at most this
	// many events into one Firehose record.
	MaxEventsPerRecord = 500
)

// PipelineProps configures NewPipeline. The zero value of every field means
// its default (the Default* constants); Validate reports values AWS would
// reject before anything is defined.
type PipelineProps struct {
	// NamePrefix names what AWS cannot name for us: the Glue database and the
	// Athena workgroup are called NamePrefix, the custom CloudWatch metrics
	// live in the NamePrefix namespace, and every resource is tagged
	// eventlake=NamePrefix. Add a second pipeline to one account and region
	// with another prefix. Lower-case letters, digits and "_", starting with
	// a letter, at most 32 characters.
	NamePrefix string

	// LambdasDir holds one directory per Go Lambda the pipeline ships, each
	// with the arm64 "bootstrap" binary `make lambdas` builds
	// (LambdasDir/streamtofirehose/bootstrap for the relay). Relative paths
	// are relative to the CDK app's working directory.
	LambdasDir string

	// EventsTable, when set, is an existing events table (keys as
	// tracker.EventsTableDef()) whose stream feeds the pipeline instead of one the
	// pipeline creates. Its stream must be enabled with the NEW_IMAGE (or
	// NEW_AND_OLD_IMAGES) view: import it with its TableStreamArn, and with
	// its EncryptionKey when it has a customer-managed key.
	EventsTable awsdynamodb.ITable
	// SummaryTable, when set, is an existing per-user summary table (keys as
	// tracker.SummaryTableDef()).
	SummaryTable awsdynamodb.ITable
	// TableClass (awsdynamodb.TableClass_STANDARD or
	// TableClass_STANDARD_INFREQUENT_ACCESS) and Billing (default on-demand)
	// apply to the tables the pipeline creates.
	TableClass awsdynamodb.TableClass
	Billing    awsdynamodb.Billing

	// Format is the lake's storage format: FormatParquet or FormatJSON.
	Format Format

	// BufferingInterval (1 to 15 minutes) and BufferingSizeMiB (64 to 128
	// MiB) are Firehose's buffering hints: an object is written per event day
	// when either is reached. Dynamic partitioning can delay delivery up to
	// 1.5 times the interval.
	BufferingInterval time.Duration
	BufferingSizeMiB  int

	// BatchSize (1 to 10,000 stream records) and BatchingWindow (up to 5
	// minutes) bound each invocation of the relay.
	BatchSize      int
	BatchingWindow time.Duration

	// RetryAttempts (1 to 10,000) and MaxRecordAge (1 minute to 7 days; stream
	// records live 24 hours) bound how long a failing batch is retried before
	// its shard and sequence range go to the on-failure queue.
	RetryAttempts int
	MaxRecordAge  time.Duration

	// ParallelizationFactor is the number of concurrent batches per stream
	// shard, 1 to 10.
	ParallelizationFactor int

	// LambdaMemoryMiB (128 to 10,240) and LambdaTimeout (up to 15 minutes) size
	// the relay. It retries failed Firehose puts within the time the
	// invocation has left.
	LambdaMemoryMiB int
	LambdaTimeout   time.Duration

	// LogRetentionDays is how long CloudWatch keeps the Lambda's and
	// Firehose's logs; one of the values CloudWatch Logs accepts (1, 3, 5, 7,
	// 14, 30, 60, 90, ...).
	LogRetentionDays int

	// AlarmTopic, when set, receives the alarms instead of a topic the
	// pipeline creates. If it is encrypted, its key must let
	// cloudwatch.amazonaws.com use it.
	AlarmTopic awssns.ITopic
	// AlarmEmail, when set, subscribes this address to the alarm topic. The
	// subscription must be confirmed from the email AWS sends.
	AlarmEmail string

	// BytesScannedCutoff cancels an Athena query of the workgroup that scans
	// more bytes than this; at least 10 MB.
	BytesScannedCutoff int64

	// InfrequentAccessAfterDays (at least 30) and GlacierIRAfterDays (at
	// least 30 days later) move event objects to S3 Standard-IA and then to
	// Glacier Instant Retrieval, both of which Athena reads directly.
	InfrequentAccessAfterDays int
	GlacierIRAfterDays        int

	// EventsExpirationDays expires event objects this many days after they
	// land; zero keeps them forever.
	EventsExpirationDays int

	// ErrorOutputExpirationDays expires Firehose's error output (records it
	// could not partition, convert or deliver) after this many days.
	ErrorOutputExpirationDays int

	// NoncurrentVersionExpirationDays deletes an object version of the lake
	// bucket this many days after it was overwritten, deleted or expired
	// (the bucket is versioned, so a deletion can be undone until then).
	NoncurrentVersionExpirationDays int

	// AthenaResultsExpirationDays deletes Athena query results after this many
	// days.
	AthenaResultsExpirationDays int

	// IteratorAgeAlarm alarms when the oldest stream record the relay reads
	// is older than this.
	IteratorAgeAlarm time.Duration

	// DataFreshnessAlarm alarms when the oldest record in Firehose is older
	// than this; the default is 1.5 times BufferingInterval plus 15 minutes.
	DataFreshnessAlarm time.Duration

	// PartitionProjectionStart is the first dt partition (YYYY-MM-DD) Athena
	// projects; data in older partitions is invisible to queries.
	PartitionProjectionStart string

	// DisableSummary leaves the summary consumer out: no summarize Lambda,
	// event source mapping, queue, metric filters or alarms of its own. The
	// summary table is still there (or passed in), kept only by what the
	// application writes to it.
	DisableSummary bool
	// SummaryWindow is the summary consumer's tumbling window: one summary
	// write per active actor per window, so a longer window is cheaper and
	// the summaries staler. 1 second to 15 minutes, whole seconds. It sets
	// both the event source mapping's TumblingWindowInSeconds and the
	// function's SUMMARY_WINDOW_SECONDS.
	SummaryWindow time.Duration

	// Collector, when set, adds the HTTP collector: an API Gateway HTTP API,
	// the collector Lambda and a secret holding its write keys (see
	// Collector). It is opt-in because it is a public endpoint: nil leaves
	// it out (eventlake's own stack sets it unless told not to).
	Collector *CollectorOptions

	// Analytics, when set, adds the analytics API and dashboard: an API
	// Gateway HTTP API of its own (IAM authorization on every route, or a
	// JWT authorizer) and the analytics Lambda on Athena (see Analytics).
	// It is opt-in, as the collector is: nil leaves it out (eventlake's
	// own stack sets it unless told not to).
	Analytics *AnalyticsOptions
}

// ErrInvalidProps is matched (errors.Is) by every *PropsError.
var ErrInvalidProps = errors.New("invalid eventlake props")

// PropsError lists every invalid field of a PipelineProps.
type PropsError struct {
	// Problems holds one entry per bad field, in field order.
	Problems []FieldProblem
}

// FieldProblem is one invalid field and why.
type FieldProblem struct {
	Field  string
	Reason string
}

func (e *PropsError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Field + ": " + p.Reason
	}
	return "eventlake props: " + strings.Join(parts, "; ")
}

// Is reports whether target is ErrInvalidProps.
func (e *PropsError) Is(target error) bool { return target == ErrInvalidProps }

// WithDefaults returns p with every zero field set to its default.
func (p PipelineProps) WithDefaults() PipelineProps {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if p.NamePrefix == "" {
		p.NamePrefix = DefaultNamePrefix
	}
	if p.LambdasDir == "" {
		p.LambdasDir = DefaultLambdasDir
	}
	if p.Format == "" {
		p.Format = DefaultFormat
	}
	if p.TableClass == "" {
		p.TableClass = DefaultTableClass
	}
	defDur(&p.BufferingInterval, DefaultBufferingInterval)
	def(&p.BufferingSizeMiB, DefaultBufferingSizeMiB)
	def(&p.BatchSize, DefaultBatchSize)
	defDur(&p.BatchingWindow, DefaultBatchingWindow)
	def(&p.RetryAttempts, DefaultRetryAttempts)
	defDur(&p.MaxRecordAge, DefaultMaxRecordAge)
	def(&p.ParallelizationFactor, DefaultParallelizationFactor)
	def(&p.LambdaMemoryMiB, DefaultLambdaMemoryMiB)
	defDur(&p.LambdaTimeout, DefaultLambdaTimeout)
	def(&p.LogRetentionDays, DefaultLogRetentionDays)
	if p.BytesScannedCutoff == 0 {
		p.BytesScannedCutoff = DefaultBytesScannedCutoff
	}
	def(&p.InfrequentAccessAfterDays, DefaultInfrequentAccessAfterDays)
	def(&p.GlacierIRAfterDays, DefaultGlacierIRAfterDays)
	def(&p.ErrorOutputExpirationDays, DefaultErrorOutputExpirationDays)
	def(&p.NoncurrentVersionExpirationDays, DefaultNoncurrentVersionExpirationDays)
	def(&p.AthenaResultsExpirationDays, DefaultAthenaResultsExpirationDays)
	defDur(&p.IteratorAgeAlarm, DefaultIteratorAgeAlarm)
	// Dynamic partitioning may hold a buffer up to 1.5 times the interval.
	defDur(&p.DataFreshnessAlarm, p.BufferingInterval*3/2+15*time.Minute)
	if p.PartitionProjectionStart == "" {
		p.PartitionProjectionStart = DefaultPartitionProjectionStart
	}
	defDur(&p.SummaryWindow, DefaultSummaryWindow)
	if p.Collector != nil {
		c := p.Collector.withDefaults()
		p.Collector = &c
	}
	if p.Analytics != nil {
		a := p.Analytics.withDefaults()
		p.Analytics = &a
	}
	return p
}

// LambdaCodeDir is the directory of the named Lambda's bootstrap binary:
// LambdasDir/name.
func (p PipelineProps) LambdaCodeDir(name string) string {
	return filepath.Join(p.WithDefaults().LambdasDir, name)
}

var (
	namePrefixRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)
	// emailRE is deliberately loose: SNS rejects what it cannot deliver, this
	// only catches values that are clearly not an address.
	emailRE = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
)

// retentionDays maps the day counts CloudWatch Logs accepts to the CDK enum.
var retentionDays = map[int]awslogs.RetentionDays{
	1: awslogs.RetentionDays_ONE_DAY, 3: awslogs.RetentionDays_THREE_DAYS,
	5: awslogs.RetentionDays_FIVE_DAYS, 7: awslogs.RetentionDays_ONE_WEEK,
	14: awslogs.RetentionDays_TWO_WEEKS, 30: awslogs.RetentionDays_ONE_MONTH,
	60: awslogs.RetentionDays_TWO_MONTHS, 90: awslogs.RetentionDays_THREE_MONTHS,
	120: awslogs.RetentionDays_FOUR_MONTHS, 150: awslogs.RetentionDays_FIVE_MONTHS,
	180: awslogs.RetentionDays_SIX_MONTHS, 365: awslogs.RetentionDays_ONE_YEAR,
	400: awslogs.RetentionDays_THIRTEEN_MONTHS, 545: awslogs.RetentionDays_EIGHTEEN_MONTHS,
	731: awslogs.RetentionDays_TWO_YEARS, 1096: awslogs.RetentionDays_THREE_YEARS,
	1827: awslogs.RetentionDays_FIVE_YEARS, 2192: awslogs.RetentionDays_SIX_YEARS,
	2557: awslogs.RetentionDays_SEVEN_YEARS, 2922: awslogs.RetentionDays_EIGHT_YEARS,
	3288: awslogs.RetentionDays_NINE_YEARS, 3653: awslogs.RetentionDays_TEN_YEARS,
}

// Validate applies the defaults and reports, in one *PropsError, every field
// whose value AWS would reject or that would break the pipeline, including a
// LambdasDir without the bootstrap binary of a Lambda the pipeline ships
// (the relay's, the summarize Lambda's unless DisableSummary, the
// collector's with Collector, the analytics Lambda's with Analytics). It
// returns nil when p is usable. It does not look into existing tables; NewPipeline checks that the
// events table has a stream.
func (p PipelineProps) Validate() error {
	summaryWindowSet := p.SummaryWindow != 0
	p = p.WithDefaults()
	var probs []FieldProblem
	bad := func(field, format string, args ...any) {
		probs = append(probs, FieldProblem{Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	inRange := func(field string, v, lo, hi int, unit string) {
		if v < lo || v > hi {
			bad(field, "%d is outside %d..%d %s", v, lo, hi, unit)
		}
	}
	durRange := func(field string, v, lo, hi time.Duration) {
		if v < lo || v > hi {
			bad(field, "%s is outside %s..%s", v, lo, hi)
		}
	}

	if !namePrefixRE.MatchString(p.NamePrefix) {
		bad("NamePrefix", "%q must be 1-32 lower-case letters, digits or _ starting with a letter", p.NamePrefix)
	}
	var missing []string
	for _, name := range p.functionNames() {
		dir := filepath.Join(p.LambdasDir, name)
		if st, err := os.Stat(filepath.Join(dir, "bootstrap")); err != nil || !st.Mode().IsRegular() {
			missing = append(missing, dir)
		}
	}
	if len(missing) > 0 {
		bad("LambdasDir", "%s has no bootstrap binary: run `make lambdas`", strings.Join(missing, " and "))
	}
	bothExisting := p.EventsTable != nil && p.SummaryTable != nil
	switch p.TableClass {
	case awsdynamodb.TableClass_STANDARD:
	case awsdynamodb.TableClass_STANDARD_INFREQUENT_ACCESS:
		if bothExisting {
			bad("TableClass", "applies to the tables the pipeline creates, and both tables were passed in")
		}
	default:
		bad("TableClass", "%q is neither %s nor %s", p.TableClass,
			awsdynamodb.TableClass_STANDARD, awsdynamodb.TableClass_STANDARD_INFREQUENT_ACCESS)
	}
	if p.Billing != nil && bothExisting {
		bad("Billing", "applies to the tables the pipeline creates, and both tables were passed in")
	}
	switch p.Format {
	case FormatParquet, FormatJSON:
	default:
		bad("Format", "%q is neither %q nor %q", p.Format, FormatParquet, FormatJSON)
	}
	durRange("BufferingInterval", p.BufferingInterval, MinBufferingInterval, 15*time.Minute)
	if p.BufferingInterval%time.Second != 0 {
		bad("BufferingInterval", "%s is not a whole number of seconds", p.BufferingInterval)
	}
	inRange("BufferingSizeMiB", p.BufferingSizeMiB, MinBufferingSizeMiB, 128, "MiB (dynamic partitioning needs at least 64)")
	inRange("BatchSize", p.BatchSize, 1, 10000, "records")
	durRange("BatchingWindow", p.BatchingWindow, 0, 5*time.Minute)
	inRange("RetryAttempts", p.RetryAttempts, 1, 10000, "attempts")
	durRange("MaxRecordAge", p.MaxRecordAge, time.Minute, 7*24*time.Hour)
	inRange("ParallelizationFactor", p.ParallelizationFactor, 1, 10, "batches per shard")
	inRange("LambdaMemoryMiB", p.LambdaMemoryMiB, 128, 10240, "MiB")
	durRange("LambdaTimeout", p.LambdaTimeout, time.Second, 15*time.Minute)
	if _, ok := retentionDays[p.LogRetentionDays]; !ok {
		bad("LogRetentionDays", "%d is not a retention CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)", p.LogRetentionDays)
	}
	if p.AlarmEmail != "" && !emailRE.MatchString(p.AlarmEmail) {
		bad("AlarmEmail", "%q is not an email address", p.AlarmEmail)
	}
	if p.BytesScannedCutoff < 10_000_000 {
		bad("BytesScannedCutoff", "%d is below Athena's minimum of 10000000 bytes", p.BytesScannedCutoff)
	}
	if p.InfrequentAccessAfterDays < 30 {
		bad("InfrequentAccessAfterDays", "%d is below S3's minimum of 30 days", p.InfrequentAccessAfterDays)
	}
	if p.GlacierIRAfterDays < p.InfrequentAccessAfterDays+30 {
		bad("GlacierIRAfterDays", "%d must be at least 30 days after InfrequentAccessAfterDays (%d)", p.GlacierIRAfterDays, p.InfrequentAccessAfterDays)
	}
	if p.EventsExpirationDays < 0 || (p.EventsExpirationDays > 0 && p.EventsExpirationDays <= p.GlacierIRAfterDays) {
		bad("EventsExpirationDays", "%d must be 0 (keep forever) or after GlacierIRAfterDays (%d)", p.EventsExpirationDays, p.GlacierIRAfterDays)
	}
	if p.ErrorOutputExpirationDays < 1 {
		bad("ErrorOutputExpirationDays", "%d is not a positive number of days", p.ErrorOutputExpirationDays)
	}
	if p.NoncurrentVersionExpirationDays < 1 {
		bad("NoncurrentVersionExpirationDays", "%d is not a positive number of days", p.NoncurrentVersionExpirationDays)
	}
	if p.AthenaResultsExpirationDays < 1 {
		bad("AthenaResultsExpirationDays", "%d is not a positive number of days", p.AthenaResultsExpirationDays)
	}
	durRange("IteratorAgeAlarm", p.IteratorAgeAlarm, time.Minute, 24*time.Hour)
	durRange("DataFreshnessAlarm", p.DataFreshnessAlarm, time.Minute, 24*time.Hour)
	if _, err := time.Parse(tracker.DateLayout, p.PartitionProjectionStart); err != nil {
		bad("PartitionProjectionStart", "%q is not a YYYY-MM-DD date", p.PartitionProjectionStart)
	}
	if p.DisableSummary && summaryWindowSet {
		bad("SummaryWindow", "applies to the summary consumer, and DisableSummary leaves it out")
	} else if p.SummaryWindow < time.Second || p.SummaryWindow > summary.MaxWindow || p.SummaryWindow%time.Second != 0 {
		bad("SummaryWindow", "%s is not a whole number of seconds from 1s to %s (Lambda's tumbling window)", p.SummaryWindow, summary.MaxWindow)
	}
	if p.Collector != nil {
		p.Collector.problems(bad)
	}
	if p.Analytics != nil {
		p.Analytics.problems(bad)
	}
	if len(probs) > 0 {
		return &PropsError{Problems: probs}
	}
	return nil
}

// functionNames are the Lambdas the pipeline ships with p: their
// directories under LambdasDir.
func (p PipelineProps) functionNames() []string {
	names := []string{RelayFunctionName}
	if !p.DisableSummary {
		names = append(names, SummaryFunctionName)
	}
	if p.Collector != nil {
		names = append(names, CollectorFunctionName)
	}
	if p.Analytics != nil {
		names = append(names, AnalyticsFunctionName)
	}
	return names
}
