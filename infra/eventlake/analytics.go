package eventlake

import (
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	apigw "github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2authorizers"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	cw "github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	cwrefs "github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawscloudwatch"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/athena/remote"
	"github.com/eventlake/eventlake/lambdas/analytics/function"
)

// AnalyticsFunctionName is the analytics Lambda's directory under lambdas/
// and under PipelineProps.LambdasDir.
const AnalyticsFunctionName = "analytics"

// Settings of the analytics function (docs/dashboard.md, "On AWS"): fixed,
// because the API and the dashboard are measured and costed with them.
const (
	// AnalyticsMemoryMiB and AnalyticsTimeout size the function: it waits
	// on Athena and renders pages; the timeout stays under API Gateway's
	// 30-second integration limit (a longer query goes on in Athena, and
	// result reuse hands it to the next request).
	AnalyticsMemoryMiB = 512
	AnalyticsTimeout   = 29 * time.Second
	// AnalyticsMaxAge is how long a result is reused (the function's
	// MAX_AGE, seed 004's 5 minutes), AnalyticsQueryTimeout how long one
	// query may run (QUERY_TIMEOUT).
	AnalyticsMaxAge       = 5 * time.Minute
	AnalyticsQueryTimeout = 5 * time.Minute
	// AnalyticsDurationAlarm is the function's p99 duration that alarms: a
	// request this slow is close to API Gateway's 30 seconds.
	AnalyticsDurationAlarm = 25 * time.Second
)

// Defaults of AnalyticsOptions: a zero field means the value below.
const (
	// DefaultAnalyticsThrottleRate (requests per second) and
	// DefaultAnalyticsThrottleBurst bound the API's stage: people and
	// services reading answers, each of which may start Athena queries.
	DefaultAnalyticsThrottleRate  = 50
	DefaultAnalyticsThrottleBurst = 100
	// DefaultAnalyticsConcurrency is how many Athena queries one dashboard
	// view runs at once (the function's DASHBOARD_CONCURRENCY).
	DefaultAnalyticsConcurrency = 4
	// DefaultAnalyticsBytesScannedAlarm is the Athena bytes the function's
	// queries may scan in an hour before AnalyticsBytesScanned alarms: 25
	// GB, $0.125 at $5 per TB. A dashboard refresh over 90 days of a
	// million events reads 0.4 to 1 GB (docs/dashboard.md); one kept open
	// refreshes at most 12 times an hour.
	DefaultAnalyticsBytesScannedAlarm = 25_000_000_000
)

// MetricAnalyticsBytesScanned is the metric the analytics function's
// metric filter publishes: the bytes its Athena queries scanned.
const MetricAnalyticsBytesScanned = "AnalyticsBytesScanned"

// AnalyticsOptions configures the analytics API and dashboard
// (PipelineProps.Analytics). The zero value of every field means its
// default; PipelineProps.Validate checks them. Without a JWT issuer every
// route uses IAM authorization (callers sign with SigV4 and need
// execute-api:Invoke); with one, a JWT authorizer.
type AnalyticsOptions struct {
	// JwtIssuer, when set, authorizes the routes with a JWT authorizer of
	// this issuer (the identity provider's https URL, its tokens' "iss")
	// instead of IAM. JwtAudience (required with it) are the accepted
	// "aud" values (the API's client IDs), JwtScopes the scopes every
	// route requires (e.g. analytics:read; none: any valid token).
	JwtIssuer   string
	JwtAudience []string
	JwtScopes   []string
	// ThrottleRate (requests per second, steady) and ThrottleBurst
	// (requests at once) throttle the API's stage (429 above them).
	ThrottleRate  float64
	ThrottleBurst int
	// UserURLPrefix is the admin page's URL before a user ID, for the
	// dashboard's user links (the function's USER_URL_PREFIX), e.g.
	// https://admin.example.com/activity?user=; empty: no links.
	UserURLPrefix string
	// Concurrency is how many Athena queries one dashboard view runs at
	// once, 1 to 20 (DASHBOARD_CONCURRENCY).
	Concurrency int
	// BytesScannedAlarm is the bytes the function's Athena queries may
	// scan in an hour before the AnalyticsBytesScanned alarm fires (a
	// dashboard refreshed in a loop with max_age=0); at least 10 MB.
	BytesScannedAlarm int64
}

func (o AnalyticsOptions) withDefaults() AnalyticsOptions {
	if o.ThrottleRate == 0 {
		o.ThrottleRate = DefaultAnalyticsThrottleRate
	}
	if o.ThrottleBurst == 0 {
		o.ThrottleBurst = DefaultAnalyticsThrottleBurst
	}
	if o.Concurrency == 0 {
		o.Concurrency = DefaultAnalyticsConcurrency
	}
	if o.BytesScannedAlarm == 0 {
		o.BytesScannedAlarm = DefaultAnalyticsBytesScannedAlarm
	}
	return o
}

var (
	issuerRE = regexp.MustCompile(`^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?$`)
	// scopeRE is RFC 6749's scope-token.
	scopeRE = regexp.MustCompile(`^[\x21\x23-\x5B\x5D-\x7E]+$`)
)

// problems reports the invalid fields of o (defaults applied), each as
// Analytics.<field>.
func (o AnalyticsOptions) problems(bad func(field, format string, args ...any)) {
	if o.JwtIssuer != "" && !issuerRE.MatchString(o.JwtIssuer) {
		bad("Analytics.JwtIssuer", "%q is not an https URL such as https://example.okta.com/oauth2/default", o.JwtIssuer)
	}
	if o.JwtIssuer == "" && (len(o.JwtAudience) > 0 || len(o.JwtScopes) > 0) {
		bad("Analytics.JwtIssuer", "JwtAudience and JwtScopes apply to a JWT authorizer, which needs JwtIssuer")
	}
	if o.JwtIssuer != "" && len(o.JwtAudience) == 0 {
		bad("Analytics.JwtAudience", "a JWT authorizer needs at least one audience (the API's client ID)")
	}
	for _, a := range o.JwtAudience {
		if a == "" || strings.ContainsAny(a, " \t\r\n,") {
			bad("Analytics.JwtAudience", "%q is not an audience (no spaces or commas)", a)
		}
	}
	for _, s := range o.JwtScopes {
		if !scopeRE.MatchString(s) {
			bad("Analytics.JwtScopes", "%q is not an OAuth scope (printable characters but space, \" and \\)", s)
		}
	}
	if !(o.ThrottleRate > 0) {
		bad("Analytics.ThrottleRate", "%v is not a positive number of requests per second", o.ThrottleRate)
	}
	if o.ThrottleBurst < 1 {
		bad("Analytics.ThrottleBurst", "%d is not a positive number of requests", o.ThrottleBurst)
	}
	if o.UserURLPrefix != "" {
		u, err := url.Parse(o.UserURLPrefix)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https" && !strings.HasPrefix(o.UserURLPrefix, "/")) ||
			strings.ContainsAny(o.UserURLPrefix, " \t\r\n") {
			bad("Analytics.UserURLPrefix", "%q is not an http(s) URL or an absolute path (the dashboard appends the user ID)", o.UserURLPrefix)
		}
	}
	if o.Concurrency < 1 || o.Concurrency > 20 {
		bad("Analytics.Concurrency", "%d is outside 1..20 queries at once", o.Concurrency)
	}
	if o.BytesScannedAlarm < 10_000_000 {
		bad("Analytics.BytesScannedAlarm", "%d is below 10000000 bytes (Athena bills 10 MB per query at least)", o.BytesScannedAlarm)
	}
}

// AnalyticsProps configures NewAnalytics: the options and what the
// function uses of the pipeline.
type AnalyticsProps struct {
	AnalyticsOptions
	// Pipeline is the lake the function queries: its catalog's workgroup
	// and database (ATHENA_WORKGROUP, ATHENA_DATABASE); its role gets
	// Pipeline.GrantQuery and nothing else.
	Pipeline *Pipeline
	// LambdasDir holds AnalyticsFunctionName/bootstrap.
	LambdasDir string
	// Name names the HTTP API (API Gateway does not require it unique).
	Name string
	// LogKey encrypts the function's log and the access log, which
	// LogRetention keeps.
	LogKey       awskms.IKey
	LogRetention awslogs.RetentionDays
	// Namespace holds the metric-filter metric.
	Namespace string
	// Monitoring receives the alarms and a dashboard row of the
	// analytics' own.
	Monitoring *Monitoring
}

// Analytics is the analytics API and dashboard on AWS
// (lambdas/analytics: athena/api and athena/dashboard on Athena): the
// function (a GoFunction) whose role may query the lake and nothing else
// (GrantQuery), and an HTTP API of its own whose routes (function.RoutePaths:
// GET /api/v1/queries, /api/v1/queries/{name}, /analytics, /dashboard) send
// requests to it (payload format 2.0), each with IAM authorization or, with
// a JWT issuer, a JWT authorizer; there is no $default route, so any other
// request is a 404 from API Gateway. The $default stage deploys itself, is
// throttled and writes JSON access logs. A metric filter sums the bytes the
// function's queries scan; alarms and a dashboard row go to Monitoring.
type Analytics struct {
	constructs.Construct
	// Options are the options the analytics were built with, defaults
	// applied.
	Options    AnalyticsOptions
	Function   awslambda.Function
	Role       awsiam.Role
	LogGroup   awslogs.LogGroup
	Api        apigw.HttpApi
	Stage      apigw.HttpStage
	AccessLogs awslogs.LogGroup
	// Routes are the API's routes, in function.RoutePaths' order.
	Routes []apigw.HttpRoute
	// Authorizer is the JWT authorizer, nil with IAM authorization.
	Authorizer awsapigatewayv2authorizers.HttpJwtAuthorizer
	// Url is the API's base URL (the stage's execute-api URL).
	Url *string
	// BytesScanned sums the data_scanned_bytes of the function's "athena
	// query" lines (athena/remote).
	BytesScanned awslogs.MetricFilter
	// Alarms are the analytics' alarms (also in Monitoring.Alarms), in
	// dashboard order.
	Alarms []cw.Alarm
}

// NewAnalytics defines the function, role, log groups, HTTP API, routes,
// authorizer, stage, metric filter, alarms, dashboard row and the
// analytics' cdk-nag suppressions. props.AnalyticsOptions should be valid
// (PipelineProps.Validate checks them).
func NewAnalytics(scope constructs.Construct, id string, props *AnalyticsProps) *Analytics {
	c := constructs.NewConstruct(scope, jsii.String(id))
	o := props.AnalyticsOptions.withDefaults()
	an := &Analytics{Construct: c, Options: o}

	env := map[string]*string{
		function.EnvWorkGroup:   props.Pipeline.Catalog.WorkGroup.Ref(),
		function.EnvDatabase:    props.Pipeline.Catalog.Database.DatabaseName(),
		function.EnvMaxAge:      jsii.String(minutes(AnalyticsMaxAge)),
		function.EnvRunTimeout:  jsii.String(minutes(AnalyticsQueryTimeout)),
		function.EnvConcurrency: jsii.String(strconv.Itoa(o.Concurrency)),
	}
	if o.UserURLPrefix != "" {
		env[function.EnvUserURL] = jsii.String(o.UserURLPrefix)
	}
	fn := NewGoFunction(c, &GoFunctionProps{
		Name:         AnalyticsFunctionName,
		LambdasDir:   props.LambdasDir,
		Description:  "the analytics API and dashboard behind API Gateway, on Athena with result reuse",
		Environment:  env,
		MemoryMiB:    AnalyticsMemoryMiB,
		Timeout:      AnalyticsTimeout,
		LogRetention: props.LogRetention,
		LogKey:       props.LogKey,
	})
	an.Function, an.Role, an.LogGroup = fn.Function, fn.Role, fn.LogGroup
	props.Pipeline.GrantQuery(fn.Role)

	an.Api = apigw.NewHttpApi(c, jsii.String("Api"), &apigw.HttpApiProps{
		ApiName:            jsii.String(props.Name + "-analytics"),
		Description:        jsii.String("eventlake analytics: the query library as JSON and CSV, seed 001's GET /analytics, the dashboard"),
		CreateDefaultStage: jsii.Bool(false),
	})
	integration := awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String("Function"), fn.Function,
		&awsapigatewayv2integrations.HttpLambdaIntegrationProps{PayloadFormatVersion: apigw.PayloadFormatVersion_VERSION_2_0()})
	var authorizer apigw.IHttpRouteAuthorizer = awsapigatewayv2authorizers.NewHttpIamAuthorizer()
	var scopes *[]*string
	if o.JwtIssuer != "" {
		an.Authorizer = awsapigatewayv2authorizers.NewHttpJwtAuthorizer(jsii.String("Jwt"), jsii.String(o.JwtIssuer),
			&awsapigatewayv2authorizers.HttpJwtAuthorizerProps{JwtAudience: jsii.Strings(o.JwtAudience...)})
		authorizer = an.Authorizer
		if len(o.JwtScopes) > 0 {
			scopes = jsii.Strings(o.JwtScopes...)
		}
	}
	for _, p := range function.RoutePaths() {
		routes := an.Api.AddRoutes(&apigw.AddRoutesOptions{
			Path:                jsii.String(p),
			Methods:             &[]apigw.HttpMethod{apigw.HttpMethod_GET},
			Integration:         integration,
			Authorizer:          authorizer,
			AuthorizationScopes: scopes,
		})
		an.Routes = append(an.Routes, *routes...)
	}
	an.AccessLogs = newLogGroup(c, "AccessLogs", props.LogRetention, props.LogKey)
	an.Stage = apigw.NewHttpStage(c, jsii.String("Stage"), &apigw.HttpStageProps{
		HttpApi:    an.Api,
		StageName:  jsii.String("$default"),
		AutoDeploy: jsii.Bool(true),
		Throttle: &apigw.ThrottleSettings{
			RateLimit:  jsii.Number(o.ThrottleRate),
			BurstLimit: jsii.Number(float64(o.ThrottleBurst)),
		},
		AccessLogSettings: &accessLogSettings{
			destination: apigw.NewLogGroupLogDestination(an.AccessLogs),
			format:      awsapigateway.AccessLogFormat_Custom(jsii.String(CollectorAccessLogFormat())),
		},
	})
	an.Url = an.Stage.Url()

	an.BytesScanned = awslogs.NewMetricFilter(c, jsii.String("BytesScannedFilter"), &awslogs.MetricFilterProps{
		LogGroup:        fn.LogGroup,
		FilterPattern:   AnalyticsQueryFilterPattern(),
		MetricNamespace: jsii.String(props.Namespace),
		MetricName:      jsii.String(MetricAnalyticsBytesScanned),
		MetricValue:     jsii.String("$." + remote.LogFieldDataScanned),
		Unit:            cw.Unit_BYTES,
	})

	an.monitor(props.Monitoring)
	an.addNagSuppressions(props.Pipeline)
	return an
}

// AnalyticsQueryFilterPattern matches the function's line for each Athena
// query that succeeded: { $.msg = "athena query" } (athena/remote).
func AnalyticsQueryFilterPattern() awslogs.IFilterPattern {
	return awslogs.FilterPattern_StringValue(jsii.String("$."+slog.MessageKey), jsii.String("="), jsii.String(remote.LogMessageQuery))
}

// monitor adds the analytics' alarms to m and a dashboard row.
func (an *Analytics) monitor(m *Monitoring) {
	o := an.Options
	fn, stage := an.Function, an.Stage
	sum := &cw.MetricOptions{Statistic: cw.Stats_SUM(), Period: period()}
	labelled := func(stat *string, label string) *cw.MetricOptions {
		return &cw.MetricOptions{Statistic: stat, Period: period(), Label: jsii.String(label)}
	}
	p99 := cw.Stats_Percentile(jsii.Number(99))
	hour := awscdk.Duration_Hours(jsii.Number(1))
	gte := cw.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD

	add := func(a cw.Alarm) { an.Alarms = append(an.Alarms, a) }
	add(m.AddAlarm("AnalyticsErrors", "The analytics function failed invocations: a crash, a timeout (29 s), or a start that "+
		"failed (a bad environment: the function logs `bad configuration`); API Gateway answered 5xx. Read the function's log.",
		fn.MetricErrors(sum), 1, gte))
	add(m.AddAlarm("AnalyticsThrottles", "Lambda throttled the analytics function (the account's concurrency is used up): "+
		"API Gateway answered those requests with an error. Ask for more concurrency, or lower the API's throttle.",
		fn.MetricThrottles(sum), 1, gte))
	add(m.AddAlarm("AnalyticsDuration", fmt.Sprintf("The analytics function's p99 duration was over %s in 5 minutes: requests "+
		"come close to API Gateway's 30 seconds (a cold dashboard over a large lake; Athena queueing). The queries go on and the "+
		"next view reuses them; check Athena's queue time and the lake's compaction.", AnalyticsDurationAlarm),
		fn.MetricDuration(&cw.MetricOptions{Statistic: p99, Period: period()}), float64(AnalyticsDurationAlarm.Milliseconds()),
		cw.ComparisonOperator_GREATER_THAN_THRESHOLD))
	add(m.AddAlarm("AnalyticsServerErrors", "The analytics API answered 5xx: 502 for a query Athena failed, 504 for one that "+
		"outlived its timeout (the function logs the query and the reason), or another 5xx when the function failed or was "+
		"throttled (AnalyticsErrors, AnalyticsThrottles).", stage.MetricServerError(sum), 1, gte))
	add(m.AddAlarm("AnalyticsBytesScanned", fmt.Sprintf("The analytics function's Athena queries scanned more than %d bytes "+
		"(%.0f GB, $%.2f at $5/TB) in an hour: a dashboard refreshed in a loop (max_age=0), a service asking without the 5-minute "+
		"reuse, or a lake grown past the budget (AnalyticsOptions.BytesScannedAlarm).", o.BytesScannedAlarm,
		float64(o.BytesScannedAlarm)/1e9, float64(o.BytesScannedAlarm)/1e12*5),
		an.BytesScanned.Metric(&cw.MetricOptions{Statistic: cw.Stats_SUM(), Period: hour}), float64(o.BytesScannedAlarm),
		cw.ComparisonOperator_GREATER_THAN_THRESHOLD))

	alarmRefs := make([]cwrefs.IAlarmRef, len(an.Alarms))
	for i, a := range an.Alarms {
		alarmRefs[i] = a
	}
	m.Dashboard.AddWidgets(
		graph("Analytics requests, 4xx, 5xx", 6, stage.MetricCount(labelled(cw.Stats_SUM(), "requests")),
			stage.MetricClientError(labelled(cw.Stats_SUM(), "4xx")), stage.MetricServerError(labelled(cw.Stats_SUM(), "5xx"))),
		graph("Analytics function duration (ms), errors", 6, fn.MetricDuration(labelled(p99, "p99")),
			fn.MetricDuration(labelled(cw.Stats_Percentile(jsii.Number(50)), "p50")),
			fn.MetricErrors(labelled(cw.Stats_SUM(), "errors")), fn.MetricThrottles(labelled(cw.Stats_SUM(), "throttles"))),
		graph("Analytics: Athena bytes scanned", 6, an.BytesScanned.Metric(labelled(cw.Stats_SUM(), "bytes scanned"))),
		cw.NewAlarmStatusWidget(&cw.AlarmStatusWidgetProps{Title: jsii.String("Analytics alarms"), Alarms: &alarmRefs, Width: jsii.Number(6), Height: jsii.Number(6)}),
	)
}

// addNagSuppressions records the findings the analytics accept: the
// wildcards GrantQuery's grants carry, on the function's policy alone and
// each named. The routes need none: each has an authorizer
// (AwsSolutions-APIG4).
func (an *Analytics) addNagSuppressions(pl *Pipeline) {
	bucket := "Resource::<" + logicalID(pl.Lake.Bucket) + ".Arn>/"
	suppress(defaultPolicy(an.Role), &cdknag.NagPackSuppression{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("GrantQuery's grants: reading the events and the identity links (object wildcards under events/ and " +
			"identities/ of the lake, with the lake key's data-key actions), and reading and writing Athena's query results (the " +
			"CDK's read-write actions on objects of the results bucket); all on the pipeline's own bucket, key and workgroup."),
		AppliesTo: &[]interface{}{
			"Action::kms:GenerateDataKey*", "Action::kms:ReEncrypt*",
			"Action::s3:Abort*", "Action::s3:DeleteObject*", "Action::s3:GetBucket*", "Action::s3:GetObject*", "Action::s3:List*",
			bucket + EventsPrefix + "*", bucket + athena.LinksPrefix + "*",
			"Resource::<" + logicalID(pl.Catalog.Results) + ".Arn>/*",
		},
	})
}
