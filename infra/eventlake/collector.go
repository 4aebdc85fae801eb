package eventlake

import (
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	apigw "github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscertificatemanager"
	cw "github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	firehose "github.com/aws/aws-cdk-go/awscdk/v2/awskinesisfirehose"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	cwrefs "github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawscloudwatch"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/eventlake/eventlake/collector"
	"github.com/eventlake/eventlake/lambdas/collector/function"
	"github.com/eventlake/eventlake/tracker"
)

// CollectorFunctionName is the collector Lambda's directory under lambdas/
// and under PipelineProps.LambdasDir.
const CollectorFunctionName = "collector"

// Settings of the collector (docs/collector.md, "Deploying"): fixed,
// because the collector is measured and costed with them.
const (
	// CollectorMemoryMiB and CollectorTimeout size the collector Lambda:
	// its work is I/O (DynamoDB, Firehose) and a few µs of CPU per event;
	// the timeout stays well under API Gateway's 30 s, and the Firehose
	// retries stop 1 s before it.
	CollectorMemoryMiB = 256
	CollectorTimeout   = 10 * time.Second
	// CollectorWriteKeyLength is the length of the write key the secret is
	// created with (letters and digits).
	CollectorWriteKeyLength = 32
	// CollectorCORSMaxAge is how long browsers may cache a preflight answer.
	CollectorCORSMaxAge = 2 * time.Hour
	// CollectorLatencyAlarm is the API's p99 latency that alarms when it is
	// passed in CollectorLatencyAlarmPeriods periods of 5 minutes in a row.
	CollectorLatencyAlarm        = 2 * time.Second
	CollectorLatencyAlarmPeriods = 3
)

// Defaults of CollectorOptions: a zero field means the value below.
const (
	// DefaultCollectorThrottleRate (requests per second) and
	// DefaultCollectorThrottleBurst bound the API's $default stage, well
	// under the account's API Gateway quota (10,000 a second, bursts of
	// 5,000) and the default Lambda concurrency (1,000).
	DefaultCollectorThrottleRate  = 500
	DefaultCollectorThrottleBurst = 1000
	// DefaultCollectorIPPolicy keeps clients' addresses, as the tracker does.
	DefaultCollectorIPPolicy = "keep"
)

// Names of the custom metrics the collector's metric filters publish.
const (
	MetricCollectorNotStored         = "CollectorNotStored"
	MetricCollectorThrottled         = "CollectorThrottled"
	MetricCollectorKeyReloadFailures = "CollectorKeyReloadFailures"
)

// AccessLogFieldStatus is the access log's HTTP status field, a JSON number
// (every other field is a string).
const AccessLogFieldStatus = "status"

// accessLogFields are the API's access log fields in order: name and
// $context variable.
var accessLogFields = [][2]string{
	{"requestId", "$context.requestId"},
	{"ip", "$context.identity.sourceIp"},
	{"requestTime", "$context.requestTime"},
	{"httpMethod", "$context.httpMethod"},
	{"path", "$context.path"},
	{"routeKey", "$context.routeKey"},
	{AccessLogFieldStatus, "$context.status"},
	{"responseLength", "$context.responseLength"},
	{"integrationLatency", "$context.integrationLatency"},
	{"responseLatency", "$context.responseLatency"},
	{"integrationErrorMessage", "$context.integrationErrorMessage"},
}

// CollectorAccessLogFormat is the API's access log format: one JSON object
// per request with the fields of docs/infra.md. The status is a number, so
// a metric filter can compare it ({ $.status = 429 }); the other values are
// strings, because API Gateway writes "-" for a value it does not have (no
// integration latency when it throttled the request).
func CollectorAccessLogFormat() string {
	parts := make([]string, len(accessLogFields))
	for i, f := range accessLogFields {
		if f[0] == AccessLogFieldStatus {
			parts[i] = strconv.Quote(f[0]) + ":" + f[1]
		} else {
			parts[i] = strconv.Quote(f[0]) + ":" + strconv.Quote(f[1])
		}
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// CollectorNotStoredFilterPattern matches the collector's line for events
// it answered 503 for: { $.msg = "events not stored" }; its value,
// $.not_stored, counts the events.
func CollectorNotStoredFilterPattern() awslogs.IFilterPattern {
	return awslogs.FilterPattern_StringValue(jsii.String("$."+slog.MessageKey), jsii.String("="), jsii.String(collector.LogMessageNotStored))
}

// CollectorKeyReloadFilterPattern matches the line of a failed reload of
// the write keys: { $.msg = "reload write keys" }.
func CollectorKeyReloadFilterPattern() awslogs.IFilterPattern {
	return awslogs.FilterPattern_StringValue(jsii.String("$."+slog.MessageKey), jsii.String("="), jsii.String(function.LogMessageReloadKeys))
}

// CollectorThrottledFilterPattern matches the access log line of a request
// API Gateway throttled: { $.status = 429 }.
func CollectorThrottledFilterPattern() awslogs.IFilterPattern {
	return awslogs.FilterPattern_NumberValue(jsii.String("$."+AccessLogFieldStatus), jsii.String("="), jsii.Number(429))
}

// CollectorOptions configures the HTTP collector (PipelineProps.Collector).
// The zero value of every field means its default; PipelineProps.Validate
// checks them.
type CollectorOptions struct {
	// Routes routes event types to tracker.RouteHot (DynamoDB, then the
	// stream and the relay to the lake) or tracker.RouteLake (straight to
	// Firehose: cheaper, but not in DynamoDB, so neither the admin page
	// nor the summaries see it). A type it does not name takes the hot
	// route; every type it names must be one of tracker.DefaultEventTypes()
	// (the collector's allowlist). A lake entry grants the function
	// firehose:PutRecordBatch on the delivery stream. The function's ROUTES.
	Routes map[string]tracker.Route
	// ThrottleRate (requests per second, steady) and ThrottleBurst
	// (requests at once) throttle the API's stage; API Gateway answers
	// requests over them with 429, which Segment's libraries retry.
	ThrottleRate  float64
	ThrottleBurst int
	// AllowedOrigins are the origins browsers may send events from
	// ("https://shop.example": scheme, host and port), or "*" alone for any;
	// API Gateway answers their CORS preflights. Empty means no CORS:
	// server-side clients can send, scripts on web pages cannot.
	AllowedOrigins []string
	// DomainName and CertificateArn (both or neither) serve the API at
	// https://DomainName/ with an ACM certificate of the stack's region,
	// and disable the execute-api endpoint. Point the name's DNS record at
	// Collector.Domain's regional domain name (the stack's output
	// CollectorDomainTarget).
	DomainName     string
	CertificateArn string
	// IPPolicy is what the tracker does with clients' addresses: "keep"
	// (the default), "anonymize" or "drop". The function's IP_POLICY.
	IPPolicy string
	// RetentionDays sets the DynamoDB TTL of the events the collector
	// stores on the hot route (expires_at = event_at + RetentionDays);
	// zero stores them without one. The lake keeps them either way. The
	// function's RETENTION_DAYS.
	RetentionDays int
}

func (o CollectorOptions) withDefaults() CollectorOptions {
	if o.ThrottleRate == 0 {
		o.ThrottleRate = DefaultCollectorThrottleRate
	}
	if o.ThrottleBurst == 0 {
		o.ThrottleBurst = DefaultCollectorThrottleBurst
	}
	if o.IPPolicy == "" {
		o.IPPolicy = DefaultCollectorIPPolicy
	}
	return o
}

// takesLake reports whether a type takes the lake route.
func (o CollectorOptions) takesLake() bool {
	for _, r := range o.Routes {
		if r == tracker.RouteLake {
			return true
		}
	}
	return false
}

// routesValue renders Routes as the function's ROUTES: type=route pairs,
// sorted, comma-separated.
func (o CollectorOptions) routesValue() string {
	pairs := make([]string, 0, len(o.Routes))
	for typ, r := range o.Routes {
		pairs = append(pairs, typ+"="+string(r))
	}
	sort.Strings(pairs)
	return strings.Join(pairs, ",")
}

var (
	originRE = regexp.MustCompile(`^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$`)
	domainRE = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$`)
	acmARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:acm:([a-z0-9-]+):[0-9]{12}:certificate/[A-Za-z0-9-]+$`)
)

// problems reports the invalid fields of o (defaults applied), each as
// Collector.<field>.
func (o CollectorOptions) problems(bad func(field, format string, args ...any)) {
	allowed := map[string]bool{}
	for _, t := range tracker.DefaultEventTypes() {
		allowed[t] = true
	}
	types := make([]string, 0, len(o.Routes))
	for typ := range o.Routes {
		types = append(types, typ)
	}
	sort.Strings(types)
	for _, typ := range types {
		switch r := o.Routes[typ]; {
		case !allowed[typ]:
			bad("Collector.Routes", "%q is not one of the collector's event types (tracker.DefaultEventTypes()): the function would refuse to start", typ)
		case r != tracker.RouteHot && r != tracker.RouteLake:
			bad("Collector.Routes", "%s: route %q is neither %q nor %q", typ, r, tracker.RouteHot, tracker.RouteLake)
		}
	}
	if !(o.ThrottleRate > 0) {
		bad("Collector.ThrottleRate", "%v is not a positive number of requests per second", o.ThrottleRate)
	}
	if o.ThrottleBurst < 1 {
		bad("Collector.ThrottleBurst", "%d is not a positive number of requests", o.ThrottleBurst)
	}
	for _, origin := range o.AllowedOrigins {
		switch {
		case origin == "*" && len(o.AllowedOrigins) > 1:
			bad("Collector.AllowedOrigins", `"*" allows every origin and cannot be listed with others`)
		case origin != "*" && !originRE.MatchString(origin):
			bad("Collector.AllowedOrigins", "%q is not an origin such as https://shop.example (scheme, host, optional port; no path)", origin)
		}
	}
	if (o.DomainName == "") != (o.CertificateArn == "") {
		bad("Collector.DomainName", "a custom domain needs both DomainName and CertificateArn")
	}
	if o.DomainName != "" && !domainRE.MatchString(o.DomainName) {
		bad("Collector.DomainName", "%q is not a lower-case domain name such as events.example.com", o.DomainName)
	}
	if o.CertificateArn != "" && !acmARNRE.MatchString(o.CertificateArn) {
		bad("Collector.CertificateArn", "%q is not an ACM certificate ARN", o.CertificateArn)
	}
	switch o.IPPolicy {
	case "keep", "anonymize", "drop":
	default:
		bad("Collector.IPPolicy", "%q is not keep, anonymize or drop", o.IPPolicy)
	}
	if o.RetentionDays < 0 {
		bad("Collector.RetentionDays", "%d is negative (0 stores events without a TTL)", o.RetentionDays)
	}
}

// checkCollectorCertificate returns an error when the custom domain's
// certificate is in another region than the stack (when the stack's region
// is known): a regional API Gateway domain needs a certificate of its own
// region.
func checkCollectorCertificate(scope constructs.Construct, o *CollectorOptions) error {
	if o == nil || o.CertificateArn == "" {
		return nil
	}
	region := awscdk.Stack_Of(scope).Region()
	m := acmARNRE.FindStringSubmatch(o.CertificateArn)
	if m == nil || region == nil || *awscdk.Token_IsUnresolved(region) {
		return nil
	}
	if m[1] != *region {
		return fmt.Errorf("eventlake: Collector.CertificateArn is a certificate of %s, and the stack is in %s: "+
			"a regional API Gateway domain needs a certificate of its own region", m[1], *region)
	}
	return nil
}

// CollectorProps configures NewCollector: the options and what the
// collector uses of the pipeline.
type CollectorProps struct {
	CollectorOptions
	// EventsTable receives the hot route's events (PutItem);
	// DeliveryStream the lake route's (PutRecordBatch).
	EventsTable    awsdynamodb.ITable
	DeliveryStream firehose.IDeliveryStream
	// LambdasDir holds CollectorFunctionName/bootstrap.
	LambdasDir string
	// Name names the HTTP API (API Gateway does not require it unique).
	Name string
	// SecretKey encrypts the write keys' secret; LogKey the function's log
	// and the access log, which LogRetention keeps.
	SecretKey    awskms.IKey
	LogKey       awskms.IKey
	LogRetention awslogs.RetentionDays
	// Namespace holds the metric-filter metrics.
	Namespace string
	// Monitoring receives the alarms (Monitoring.AddAlarm) and a dashboard
	// row of the collector's own.
	Monitoring *Monitoring
}

// Collector is the HTTP collector (package collector, lambdas/collector):
// a Secrets Manager secret holding the write keys (a generated one to
// begin with), the collector Lambda (a GoFunction) and an API Gateway HTTP
// API whose $default route sends every request to it (payload format 2.0).
// The function's role may write its log group, call dynamodb:PutItem on the
// events table (with its key), read the secret (and decrypt it), and, when
// a type takes the lake route, call firehose:PutRecordBatch on the delivery
// stream. The API's $default stage deploys itself, is throttled, writes
// JSON access logs to an encrypted log group, answers CORS preflights for
// the allowed origins, and may be served under a custom domain. Metric
// filters read the function's log (names from the collector and function
// packages) and the access log; alarms and a dashboard row go to
// Monitoring.
type Collector struct {
	constructs.Construct
	// Options are the options the collector was built with, defaults applied.
	Options CollectorOptions
	// Secret holds the write keys (function.ParseKeys' formats).
	Secret   awssecretsmanager.Secret
	Function awslambda.Function
	Role     awsiam.Role
	LogGroup awslogs.LogGroup
	Api      apigw.HttpApi
	Stage    apigw.HttpStage
	// AccessLogs is the API's access log group.
	AccessLogs awslogs.LogGroup
	// Domain is the custom domain and Mapping maps it to the stage; both
	// nil without one.
	Domain  apigw.DomainName
	Mapping apigw.ApiMapping
	// Url is where clients send events: https://DomainName/ with a custom
	// domain, else the stage's execute-api URL.
	Url *string
	// The metric filters: events answered 503 and failed key reloads (the
	// function's log), throttled requests (the access log).
	NotStored, KeyReloadFailures, Throttled awslogs.MetricFilter
	// Alarms are the collector's alarms (also in Monitoring.Alarms), in
	// dashboard order.
	Alarms []cw.Alarm
}

// accessLogSettings is the stage's access log destination and format: the
// CDK's IAccessLogSettings is an interface in Go, which a Go value
// implements (jsii passes its methods to the CDK).
type accessLogSettings struct {
	destination apigw.IAccessLogDestination
	format      awsapigateway.AccessLogFormat
}

func (a *accessLogSettings) Destination() apigw.IAccessLogDestination { return a.destination }
func (a *accessLogSettings) Format() awsapigateway.AccessLogFormat    { return a.format }

// minutes renders a whole number of minutes as a Go duration ("5m").
func minutes(d time.Duration) string { return strconv.Itoa(int(d/time.Minute)) + "m" }

// NewCollector defines the secret, function, role, log groups, HTTP API,
// stage, optional custom domain, metric filters, alarms, dashboard row and
// the collector's cdk-nag suppressions. props.CollectorOptions should be
// valid (PipelineProps.Validate checks them).
func NewCollector(scope constructs.Construct, id string, props *CollectorProps) *Collector {
	c := constructs.NewConstruct(scope, jsii.String(id))
	o := props.CollectorOptions.withDefaults()
	col := &Collector{Construct: c, Options: o}

	col.Secret = awssecretsmanager.NewSecret(c, jsii.String("WriteKeys"), &awssecretsmanager.SecretProps{
		Description: jsii.String("eventlake collector write keys: one key, or several separated by commas " +
			`(or {"write_keys": [...]}); the collector reads them again every ` + minutes(function.DefaultRefresh)),
		EncryptionKey: props.SecretKey,
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			PasswordLength:     jsii.Number(CollectorWriteKeyLength),
			ExcludePunctuation: jsii.Bool(true),
			IncludeSpace:       jsii.Bool(false),
		},
		// The secret is encrypted with the ops key, which goes with the
		// stack: a retained secret could not be read.
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})

	env := map[string]*string{
		function.EnvEventsTable:      props.EventsTable.TableName(),
		function.EnvWriteKeysSecret:  col.Secret.SecretArn(),
		function.EnvWriteKeysRefresh: jsii.String(minutes(function.DefaultRefresh)),
		function.EnvIPPolicy:         jsii.String(o.IPPolicy),
		function.EnvRetentionDays:    jsii.String(strconv.Itoa(o.RetentionDays)),
	}
	if len(o.Routes) > 0 {
		env[function.EnvRoutes] = jsii.String(o.routesValue())
	}
	if o.takesLake() {
		env[function.EnvDeliveryStream] = props.DeliveryStream.DeliveryStreamName()
	}
	fn := NewGoFunction(c, &GoFunctionProps{
		Name:         CollectorFunctionName,
		LambdasDir:   props.LambdasDir,
		Description:  "the HTTP collector behind API Gateway: Segment's API, eventlake JSON, the seeds' formats",
		Environment:  env,
		MemoryMiB:    CollectorMemoryMiB,
		Timeout:      CollectorTimeout,
		LogRetention: props.LogRetention,
		LogKey:       props.LogKey,
	})
	col.Function, col.Role, col.LogGroup = fn.Function, fn.Role, fn.LogGroup

	// The tracker writes each hot event with a conditional PutItem and
	// nothing else (GrantWriteData would add BatchWriteItem, UpdateItem,
	// DeleteItem and DescribeTable).
	props.EventsTable.Grant(fn.Role, jsii.String("dynamodb:PutItem"))
	if key := props.EventsTable.EncryptionKey(); key != nil {
		// The CDK's write-data key actions without their wildcards, as the
		// summary consumer's.
		key.Grant(fn.Role, jsii.String("kms:Decrypt"), jsii.String("kms:DescribeKey"),
			jsii.String("kms:Encrypt"), jsii.String("kms:GenerateDataKey"))
	}
	if o.takesLake() {
		// The lake route sends with PutRecordBatch alone.
		props.DeliveryStream.Grant(fn.Role, jsii.String("firehose:PutRecordBatch"))
	}
	col.Secret.GrantRead(fn.Role, nil)

	var cors *apigw.CorsPreflightOptions
	if len(o.AllowedOrigins) > 0 {
		cors = &apigw.CorsPreflightOptions{
			AllowOrigins: jsii.Strings(o.AllowedOrigins...),
			AllowMethods: &[]apigw.CorsHttpMethod{apigw.CorsHttpMethod_POST, apigw.CorsHttpMethod_OPTIONS},
			AllowHeaders: jsii.Strings("authorization", "content-type", "content-encoding", "x-retry-count"),
			MaxAge:       awscdk.Duration_Seconds(jsii.Number(CollectorCORSMaxAge.Seconds())),
		}
	}
	col.Api = apigw.NewHttpApi(c, jsii.String("Api"), &apigw.HttpApiProps{
		ApiName:     jsii.String(props.Name + "-collector"),
		Description: jsii.String("eventlake collector: events over HTTP (Segment's API, eventlake JSON, the seeds' formats)"),
		DefaultIntegration: awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String("Function"), fn.Function,
			&awsapigatewayv2integrations.HttpLambdaIntegrationProps{PayloadFormatVersion: apigw.PayloadFormatVersion_VERSION_2_0()}),
		CreateDefaultStage:        jsii.Bool(false),
		CorsPreflight:             cors,
		DisableExecuteApiEndpoint: jsii.Bool(o.DomainName != ""),
	})
	col.AccessLogs = newLogGroup(c, "AccessLogs", props.LogRetention, props.LogKey)
	col.Stage = apigw.NewHttpStage(c, jsii.String("Stage"), &apigw.HttpStageProps{
		HttpApi:    col.Api,
		StageName:  jsii.String("$default"),
		AutoDeploy: jsii.Bool(true),
		Throttle: &apigw.ThrottleSettings{
			RateLimit:  jsii.Number(o.ThrottleRate),
			BurstLimit: jsii.Number(float64(o.ThrottleBurst)),
		},
		AccessLogSettings: &accessLogSettings{
			destination: apigw.NewLogGroupLogDestination(col.AccessLogs),
			format:      awsapigateway.AccessLogFormat_Custom(jsii.String(CollectorAccessLogFormat())),
		},
	})
	col.Url = col.Stage.Url()
	if o.DomainName != "" {
		col.Domain = apigw.NewDomainName(c, jsii.String("Domain"), &apigw.DomainNameProps{
			DomainName:     jsii.String(o.DomainName),
			Certificate:    awscertificatemanager.Certificate_FromCertificateArn(c, jsii.String("Certificate"), jsii.String(o.CertificateArn)),
			EndpointType:   apigw.EndpointType_REGIONAL,
			SecurityPolicy: apigw.SecurityPolicy_TLS_1_2,
		})
		col.Mapping = apigw.NewApiMapping(c, jsii.String("ApiMapping"), &apigw.ApiMappingProps{
			Api:        col.Api,
			DomainName: col.Domain,
			Stage:      col.Stage,
		})
		col.Url = jsii.String("https://" + o.DomainName + "/")
	}

	filter := func(id, metric string, lg awslogs.ILogGroup, pattern awslogs.IFilterPattern, value string) awslogs.MetricFilter {
		return awslogs.NewMetricFilter(c, jsii.String(id), &awslogs.MetricFilterProps{
			LogGroup:        lg,
			FilterPattern:   pattern,
			MetricNamespace: jsii.String(props.Namespace),
			MetricName:      jsii.String(metric),
			MetricValue:     jsii.String(value),
			Unit:            cw.Unit_COUNT,
		})
	}
	col.NotStored = filter("NotStoredFilter", MetricCollectorNotStored, fn.LogGroup, CollectorNotStoredFilterPattern(), "$."+collector.LogFieldNotStored)
	col.KeyReloadFailures = filter("KeyReloadFilter", MetricCollectorKeyReloadFailures, fn.LogGroup, CollectorKeyReloadFilterPattern(), "1")
	col.Throttled = filter("ThrottledFilter", MetricCollectorThrottled, col.AccessLogs, CollectorThrottledFilterPattern(), "1")

	col.monitor(props)
	col.addNagSuppressions()
	return col
}

// monitor adds the collector's alarms to props.Monitoring and a dashboard
// row.
func (col *Collector) monitor(props *CollectorProps) {
	m := props.Monitoring
	o := col.Options
	sum := &cw.MetricOptions{Statistic: cw.Stats_SUM(), Period: period()}
	labelled := func(stat *string, label string) *cw.MetricOptions {
		return &cw.MetricOptions{Statistic: stat, Period: period(), Label: jsii.String(label)}
	}
	fn, stage := col.Function, col.Stage
	p99 := cw.Stats_Percentile(jsii.Number(99))

	add := func(a cw.Alarm) { col.Alarms = append(col.Alarms, a) }
	gte := cw.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD
	add(m.AddAlarm("CollectorServerErrors", "The collector's API answered 5xx: 503 for events DynamoDB or Firehose did not store "+
		"(CollectorNotStored), another 5xx when the function failed, timed out or was throttled (CollectorErrors, "+
		"CollectorFunctionThrottles). Clients retry; read the function's log and the access log.", stage.MetricServerError(sum), 1, gte))
	add(m.AddAlarmFor("CollectorLatency", fmt.Sprintf("The collector's p99 latency was over %s in %d periods of 5 minutes in a row: "+
		"DynamoDB or Firehose is slow or retrying, or cold starts dominate. Compare the integration latency and the tables' throttles.",
		CollectorLatencyAlarm, CollectorLatencyAlarmPeriods),
		stage.MetricLatency(&cw.MetricOptions{Statistic: p99, Period: period()}), float64(CollectorLatencyAlarm.Milliseconds()),
		cw.ComparisonOperator_GREATER_THAN_THRESHOLD, CollectorLatencyAlarmPeriods))
	add(m.AddAlarm("CollectorThrottled", fmt.Sprintf("API Gateway answered 429 to requests over the stage's throttle (%g requests a second, "+
		"bursts of %d). Segment's libraries retry later; if it is real traffic, raise the throttle (CollectorOptions.ThrottleRate "+
		"and ThrottleBurst; eventlake:collectorThrottleRate and collectorThrottleBurst).",
		o.ThrottleRate, o.ThrottleBurst), col.Throttled.Metric(sum), 1, gte))
	add(m.AddAlarm("CollectorFunctionThrottles", "Lambda throttled the collector function (the account's concurrency is used up): "+
		"API Gateway answered those requests with an error and clients retry. Ask for more concurrency or lower the stage's throttle.",
		fn.MetricThrottles(sum), 1, gte))
	add(m.AddAlarm("CollectorErrors", "The collector function failed invocations: a crash, a timeout, or a start that failed "+
		"(a bad environment, unreadable write keys); API Gateway answered 5xx. Read the function's log.",
		fn.MetricErrors(sum), 1, gte))
	add(m.AddAlarm("CollectorNotStored", "The collector answered 503 for events DynamoDB or Firehose did not store after their "+
		"retries; clients send them again. Check the events table's throttles and Firehose.", col.NotStored.Metric(sum), 1, gte))
	add(m.AddAlarm("CollectorKeyReloadFailures", "The collector could not read the write keys' secret again: it keeps the keys it "+
		"has and retries after 30 s, so a key added to the secret is not accepted yet. Check the secret, its key and the function's role.",
		col.KeyReloadFailures.Metric(sum), 1, gte))

	alarmRefs := make([]cwrefs.IAlarmRef, len(col.Alarms))
	for i, a := range col.Alarms {
		alarmRefs[i] = a
	}
	m.Dashboard.AddWidgets(
		graph("Collector requests, 4xx, 5xx", 6, stage.MetricCount(labelled(cw.Stats_SUM(), "requests")),
			stage.MetricClientError(labelled(cw.Stats_SUM(), "4xx")), stage.MetricServerError(labelled(cw.Stats_SUM(), "5xx"))),
		graph("Collector latency (ms)", 6, stage.MetricLatency(labelled(cw.Stats_Percentile(jsii.Number(50)), "p50")),
			stage.MetricLatency(labelled(p99, "p99")), stage.MetricIntegrationLatency(labelled(p99, "integration p99"))),
		graph("Collector: not stored, throttled, key reloads, errors", 6,
			col.NotStored.Metric(labelled(cw.Stats_SUM(), "events not stored")),
			col.Throttled.Metric(labelled(cw.Stats_SUM(), "429 throttled")),
			fn.MetricThrottles(labelled(cw.Stats_SUM(), "function throttles")),
			col.KeyReloadFailures.Metric(labelled(cw.Stats_SUM(), "key reload failures")),
			fn.MetricErrors(labelled(cw.Stats_SUM(), "function errors"))),
		cw.NewAlarmStatusWidget(&cw.AlarmStatusWidgetProps{Title: jsii.String("Collector alarms"), Alarms: &alarmRefs, Width: jsii.Number(6), Height: jsii.Number(6)}),
	)
}

// addNagSuppressions records the two cdk-nag findings the collector's
// design accepts, each on its one resource.
func (col *Collector) addNagSuppressions() {
	suppress(col.Secret.Node().DefaultChild(), &cdknag.NagPackSuppression{
		Id: jsii.String("AwsSolutions-SMG4"),
		Reason: jsii.String("The write keys are rotated by hand, several valid at once: put the new key in beside the old one, " +
			"move the clients over, remove the old key. Automatic rotation would replace the one key clients hold."),
	})
	route := col.Api.Node().FindChild(jsii.String("DefaultRoute")).Node().DefaultChild()
	suppress(route, &cdknag.NagPackSuppression{
		Id: jsii.String("AwsSolutions-APIG4"),
		Reason: jsii.String("The collector authenticates every request itself with a write key (HTTP Basic, query or body, " +
			"as Segment's protocol sends it), checked in the Lambda against the keys in Secrets Manager."),
	})
}
