package eventlake

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"

	"github.com/eventlake/eventlake/athena/remote"
	"github.com/eventlake/eventlake/lambdas/analytics/function"
)

// analyticsStack is the pipeline with the analytics API and dashboard with
// their defaults (IAM authorization), as eventlake's stack deploys them,
// without the collector (whose API would be a second one).
func analyticsStack(t *testing.T) *synthesized {
	return synth(t, "analytics-defaults", func(st awscdk.Stack) (*Pipeline, error) {
		return NewPipeline(st, "Pipeline", withLambdas(PipelineProps{Analytics: &AnalyticsOptions{}}))
	})
}

// tunedAnalytics are the analytics of analyticsJwtStack: every option set,
// a JWT authorizer among them.
var tunedAnalytics = AnalyticsOptions{
	JwtIssuer:         "https://example.okta.com/oauth2/default",
	JwtAudience:       []string{"0oa1analytics", "0oa2cli"},
	JwtScopes:         []string{"analytics:read"},
	ThrottleRate:      20,
	ThrottleBurst:     40,
	UserURLPrefix:     "https://admin.shop.example/activity?user=",
	Concurrency:       6,
	BytesScannedAlarm: 50_000_000_000,
}

// analyticsJwtStack is the JSON pipeline with tuned analytics behind a JWT
// authorizer and a role granted GrantQuery alone, whose grants the
// analytics function's must equal.
func analyticsJwtStack(t *testing.T) *synthesized {
	return synth(t, "analytics-jwt", func(st awscdk.Stack) (*Pipeline, error) {
		pl, err := NewPipeline(st, "Pipeline", withLambdas(PipelineProps{
			NamePrefix: "lake_jwt", Format: FormatJSON, LogRetentionDays: 90, Analytics: &tunedAnalytics,
		}))
		if err == nil {
			role := awsiam.NewRole(st, jsii.String("QueryRole"), &awsiam.RoleProps{
				AssumedBy: awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
			})
			pl.GrantQuery(role)
			suppressTestRoles(role)
		}
		return pl, err
	})
}

// analyticsVariants are the synthesized variants with analytics.
var analyticsVariants = []struct {
	name string
	get  func(*testing.T) *synthesized
}{{"defaults", analyticsStack}, {"jwt", analyticsJwtStack}}

func TestAnalyticsFunction(t *testing.T) {
	s := analyticsStack(t)
	an := s.Pipeline.Analytics
	check(t, "function", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::Lambda::Function"), obj{
			"Runtime":       "provided.al2023",
			"Architectures": arr{"arm64"},
			"Handler":       "bootstrap",
			"MemorySize":    AnalyticsMemoryMiB,
			"Timeout":       AnalyticsTimeout.Seconds(),
			"Role":          getAtt(s.id(an.Role), "Arn"),
			"LoggingConfig": obj{"LogGroup": ref(s.id(an.LogGroup))},
			"Environment": assertions.Match_Exact(obj{"Variables": obj{
				function.EnvWorkGroup:   ref(s.id(s.Pipeline.Catalog.WorkGroup)),
				function.EnvDatabase:    ref(s.id(s.Pipeline.Catalog.Database)),
				function.EnvMaxAge:      "5m",
				function.EnvRunTimeout:  "5m",
				function.EnvConcurrency: "4",
			}}),
		})
	})
	s.checkGoFunction(t, "analytics", an.Function, an.Role)
	if AnalyticsTimeout >= 30*time.Second {
		t.Errorf("timeout %s is not under API Gateway's 30-second integration limit", AnalyticsTimeout)
	}
	check(t, "tuned environment", func() {
		j := analyticsJwtStack(t)
		j.Template.HasResourceProperties(jsii.String("AWS::Lambda::Function"), obj{
			"Role": getAtt(j.id(j.Pipeline.Analytics.Role), "Arn"),
			"Environment": assertions.Match_Exact(obj{"Variables": obj{
				function.EnvWorkGroup:   ref(j.id(j.Pipeline.Catalog.WorkGroup)),
				function.EnvDatabase:    ref(j.id(j.Pipeline.Catalog.Database)),
				function.EnvMaxAge:      "5m",
				function.EnvRunTimeout:  "5m",
				function.EnvConcurrency: "6",
				function.EnvUserURL:     tunedAnalytics.UserURLPrefix,
			}}),
		})
	})
}

// TestAnalyticsEnvironmentIsWhatTheFunctionReads reads each variant's
// synthesized environment with the function's own parser, as its main
// does at cold start: it starts, with the options it was built with.
func TestAnalyticsEnvironmentIsWhatTheFunctionReads(t *testing.T) {
	for _, v := range analyticsVariants {
		t.Run(v.name, func(t *testing.T) {
			s := v.get(t)
			vars := s.functionEnv(t, s.Pipeline.Analytics.Function)
			cfg, err := function.ConfigFromEnv(func(k string) string { return vars[k] })
			if err != nil {
				t.Fatal(err)
			}
			o := s.Pipeline.Analytics.Options
			if cfg.WorkGroup == "" || cfg.Database == "" || cfg.MaxAge != AnalyticsMaxAge || cfg.RunTimeout != AnalyticsQueryTimeout ||
				cfg.Concurrency != o.Concurrency || cfg.UserURL != o.UserURLPrefix || cfg.QueriesURL != "" {
				t.Errorf("config %+v from options %+v", cfg, o)
			}
		})
	}
}

// TestAnalyticsGrants: the function's role may write its log and do what
// GrantQuery grants, exactly: the grants of a role given GrantQuery alone.
// It can never write the tables, the lake or the collector's keys.
func TestAnalyticsGrants(t *testing.T) {
	s := analyticsJwtStack(t)
	an := s.Pipeline.Analytics
	query := s.one(t, "AWS::IAM::Role", func(r resource) bool { return strings.HasPrefix(r.ID, "QueryRole") })
	want := s.rolePolicyGrants(t, query.ID)
	if len(want) < 10 {
		t.Fatalf("GrantQuery granted %d actions: %v", len(want), sortedKeys(want))
	}
	for _, a := range []string{"logs:CreateLogStream", "logs:PutLogEvents"} {
		want[a+" "+show(getAtt(s.id(an.LogGroup), "Arn"))] = true
	}
	got := s.rolePolicyGrants(t, s.id(an.Role))
	if !reflect.DeepEqual(got, want) {
		t.Errorf("analytics role grants:\n got %v\nwant %v", sortedKeys(got), sortedKeys(want))
	}
	for g := range got {
		action, res, _ := strings.Cut(g, " ")
		if strings.HasPrefix(action, "dynamodb:") || strings.HasPrefix(action, "secretsmanager:") || strings.HasPrefix(action, "firehose:") ||
			(strings.HasPrefix(action, "s3:") && strings.Contains(res, s.id(s.Pipeline.Lake.Bucket)) &&
				(strings.Contains(action, "Put") || strings.Contains(action, "Delete"))) || res == "*" {
			t.Errorf("the analytics function may %s", g)
		}
	}
	role := s.one(t, "AWS::IAM::Role", func(x resource) bool { return x.ID == s.id(an.Role) })
	if role.Props["ManagedPolicyArns"] != nil {
		t.Errorf("analytics role has managed policies %v", role.Props["ManagedPolicyArns"])
	}
}

// TestAnalyticsApi pins the HTTP API of the defaults: the function's
// routes, each GET with IAM authorization, no $default route (any other
// request is API Gateway's 404), payload format 2.0, a self-deploying
// $default stage with throttling and JSON access logs, and permission for
// this API alone to invoke the function.
func TestAnalyticsApi(t *testing.T) {
	s := analyticsStack(t)
	an := s.Pipeline.Analytics
	api := ref(s.id(an.Api))
	check(t, "api", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::ApiGatewayV2::Api"), obj{
			"ProtocolType":      "HTTP",
			"Name":              DefaultNamePrefix + "-analytics",
			"CorsConfiguration": assertions.Match_Absent(),
		})
	})
	integration := s.one(t, "AWS::ApiGatewayV2::Integration", nil)
	check(t, "integration", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::ApiGatewayV2::Integration"), obj{
			"ApiId":                api,
			"IntegrationType":      "AWS_PROXY",
			"IntegrationUri":       getAtt(s.id(an.Function), "Arn"),
			"PayloadFormatVersion": "2.0",
		})
	})
	var keys []string
	for _, r := range s.resources("AWS::ApiGatewayV2::Route") {
		keys = append(keys, r.Props["RouteKey"].(string))
		if r.Props["AuthorizationType"] != "AWS_IAM" || r.Props["AuthorizerId"] != nil || r.Props["AuthorizationScopes"] != nil {
			t.Errorf("route %v is not IAM-authorized: %v", r.Props["RouteKey"], r.Props)
		}
		if show(r.Props["ApiId"]) != show(api) || show(r.Props["Target"]) != "integrations/${"+integration.ID+"}" {
			t.Errorf("route %v targets %v on %v", r.Props["RouteKey"], r.Props["Target"], r.Props["ApiId"])
		}
	}
	sort.Strings(keys)
	if want := []string{"GET /analytics", "GET /api/v1/queries", "GET /api/v1/queries/{name}", "GET /dashboard"}; !reflect.DeepEqual(keys, want) {
		t.Errorf("routes %v, want %v", keys, want)
	}
	if len(an.Routes) != len(function.RoutePaths()) {
		t.Errorf("%d routes for %d paths", len(an.Routes), len(function.RoutePaths()))
	}
	check(t, "stage", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::ApiGatewayV2::Stage"), obj{
			"ApiId":      api,
			"StageName":  "$default",
			"AutoDeploy": true,
			"DefaultRouteSettings": assertions.Match_Exact(obj{
				"ThrottlingRateLimit":  DefaultAnalyticsThrottleRate,
				"ThrottlingBurstLimit": DefaultAnalyticsThrottleBurst,
			}),
			"AccessLogSettings": assertions.Match_Exact(obj{
				"DestinationArn": getAtt(s.id(an.AccessLogs), "Arn"),
				"Format":         CollectorAccessLogFormat(),
			}),
		})
	})
	for _, lg := range []string{s.id(an.LogGroup), s.id(an.AccessLogs)} {
		r := s.one(t, "AWS::Logs::LogGroup", func(x resource) bool { return x.ID == lg })
		if r.Props["RetentionInDays"] != float64(DefaultLogRetentionDays) || show(r.Props["KmsKeyId"]) != show(getAtt(s.id(s.Pipeline.OpsKey), "Arn")) {
			t.Errorf("log group %s: %v", lg, r.Props)
		}
	}
	perms := s.resources("AWS::Lambda::Permission")
	if len(perms) == 0 {
		t.Fatal("API Gateway may not invoke the analytics function")
	}
	for _, p := range perms {
		src := show(p.Props["SourceArn"])
		if p.Props["Principal"] != "apigateway.amazonaws.com" || p.Props["Action"] != "lambda:InvokeFunction" ||
			show(p.Props["FunctionName"]) != show(getAtt(s.id(an.Function), "Arn")) ||
			!strings.HasPrefix(src, "arn:aws:execute-api:us-east-1:${AWS::AccountId}:${"+s.id(an.Api)+"}/*/*/") {
			t.Errorf("permission %s: %v", p.ID, p.Props)
		}
	}
	if got := render(s.Stack.Resolve(an.Url)); !strings.Contains(got, ".execute-api.us-east-1.") || !strings.HasSuffix(got, "/") {
		t.Errorf("url %s", got)
	}
}

// TestAnalyticsJwt: with a JWT issuer, every route uses one JWT authorizer
// of that issuer and audience, and requires the scopes.
func TestAnalyticsJwt(t *testing.T) {
	s := analyticsJwtStack(t)
	an := s.Pipeline.Analytics
	if an.Authorizer == nil {
		t.Fatal("no JWT authorizer")
	}
	auth := s.one(t, "AWS::ApiGatewayV2::Authorizer", nil)
	check(t, "authorizer", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::ApiGatewayV2::Authorizer"), obj{
			"ApiId":          ref(s.id(an.Api)),
			"AuthorizerType": "JWT",
			"IdentitySource": arr{"$request.header.Authorization"},
			"JwtConfiguration": assertions.Match_Exact(obj{
				"Issuer":   tunedAnalytics.JwtIssuer,
				"Audience": arr{"0oa1analytics", "0oa2cli"},
			}),
		})
	})
	routes := s.resources("AWS::ApiGatewayV2::Route")
	if len(routes) != 4 {
		t.Errorf("%d routes", len(routes))
	}
	for _, r := range routes {
		if r.Props["AuthorizationType"] != "JWT" || show(r.Props["AuthorizerId"]) != show(ref(auth.ID)) ||
			!reflect.DeepEqual(r.Props["AuthorizationScopes"], arr{"analytics:read"}) {
			t.Errorf("route %v: %v", r.Props["RouteKey"], r.Props)
		}
	}
	check(t, "stage throttling", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::ApiGatewayV2::Stage"), obj{
			"DefaultRouteSettings": assertions.Match_Exact(obj{"ThrottlingRateLimit": 20, "ThrottlingBurstLimit": 40}),
		})
	})
	check(t, "api name", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::ApiGatewayV2::Api"), obj{"Name": "lake_jwt-analytics"})
	})
	for _, lg := range []string{s.id(an.LogGroup), s.id(an.AccessLogs)} {
		r := s.one(t, "AWS::Logs::LogGroup", func(x resource) bool { return x.ID == lg })
		if r.Props["RetentionInDays"] != float64(90) {
			t.Errorf("log group %s keeps %v days", lg, r.Props["RetentionInDays"])
		}
	}
}

// TestAnalyticsMetricFilter pins the bytes-scanned filter: the runner's
// "athena query" lines, summing data_scanned_bytes.
func TestAnalyticsMetricFilter(t *testing.T) {
	s := analyticsStack(t)
	an := s.Pipeline.Analytics
	check(t, "metric filter", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::Logs::MetricFilter"), obj{
			"LogGroupName":  ref(s.id(an.LogGroup)),
			"FilterPattern": `{ $.msg = "athena query" }`,
			"MetricTransformations": arr{obj{
				"MetricName":      MetricAnalyticsBytesScanned,
				"MetricNamespace": DefaultNamePrefix,
				"MetricValue":     "$.data_scanned_bytes",
				"Unit":            "Bytes",
			}},
		})
	})
	if remote.LogMessageQuery != "athena query" || remote.LogFieldDataScanned != "data_scanned_bytes" {
		t.Errorf("the runner logs %q with %q", remote.LogMessageQuery, remote.LogFieldDataScanned)
	}
}

// TestAnalyticsAlarms pins each alarm of the analytics: metric, statistic,
// period, threshold and operator, and the tuned bytes budget.
func TestAnalyticsAlarms(t *testing.T) {
	for _, v := range analyticsVariants {
		t.Run(v.name, func(t *testing.T) {
			s := v.get(t)
			an := s.Pipeline.Analytics
			fn, api := show(ref(s.id(an.Function))), show(ref(s.id(an.Api)))
			gte, gt := "GreaterThanOrEqualToThreshold", "GreaterThanThreshold"
			ns := s.Pipeline.Props.NamePrefix
			want := map[string]alarmSpec{
				"AWS/Lambda Errors " + fn:                    {"Errors", "Sum", 300, 1, gte, 1},
				"AWS/Lambda Throttles " + fn:                 {"Throttles", "Sum", 300, 1, gte, 1},
				"AWS/Lambda Duration " + fn:                  {"Duration", "p99", 300, 25000, gt, 1},
				"AWS/ApiGateway 5xx " + api + " $default":    {"5xx", "Sum", 300, 1, gte, 1},
				ns + " " + MetricAnalyticsBytesScanned + " ": {MetricAnalyticsBytesScanned, "Sum", 3600, float64(an.Options.BytesScannedAlarm), gt, 1},
			}
			got := s.alarmSpecs(t, an.Alarms)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("analytics alarms:\n got %v\nwant %v", got, want)
			}
		})
	}
	if j := analyticsJwtStack(t); j.Pipeline.Analytics.Options.BytesScannedAlarm != tunedAnalytics.BytesScannedAlarm {
		t.Errorf("tuned bytes alarm %d", j.Pipeline.Analytics.Options.BytesScannedAlarm)
	}
}

// TestAnalyticsDashboardRow: the dashboard has the analytics' row.
func TestAnalyticsDashboardRow(t *testing.T) {
	s := analyticsStack(t)
	body, _ := json.Marshal(s.one(t, "AWS::CloudWatch::Dashboard", nil).Props)
	for _, want := range []string{"Analytics requests, 4xx, 5xx", "Analytics function duration (ms), errors",
		"Analytics: Athena bytes scanned", "Analytics alarms", MetricAnalyticsBytesScanned} {
		if !strings.Contains(string(body), want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
}

// TestAnalyticsLeftOut: without PipelineProps.Analytics (the construct's
// default) there is no analytics function, API or metric.
func TestAnalyticsLeftOut(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			s := v.get(t)
			if s.Pipeline.Analytics != nil {
				t.Fatal("Pipeline.Analytics is set")
			}
			for _, m := range s.resources("AWS::Logs::MetricFilter") {
				if name := path(m.Props, "MetricTransformations", 0, "MetricName").(string); name == MetricAnalyticsBytesScanned {
					t.Errorf("metric filter %s without the analytics", name)
				}
			}
			for _, r := range s.resources("AWS::ApiGatewayV2::Api") {
				if strings.HasSuffix(show(r.Props["Name"]), "-analytics") {
					t.Errorf("analytics API %s", r.ID)
				}
			}
			body, _ := json.Marshal(s.one(t, "AWS::CloudWatch::Dashboard", nil).Props)
			if strings.Contains(string(body), "Analytics") {
				t.Errorf("dashboard shows the analytics")
			}
		})
	}
}

func TestValidateAnalyticsOptions(t *testing.T) {
	// A build without the analytics function: enough only without them.
	partial := someLambdas(t, RelayFunctionName, SummaryFunctionName)
	if err := (PipelineProps{LambdasDir: partial}).Validate(); err != nil {
		t.Errorf("without the analytics: %v", err)
	}
	err := (PipelineProps{LambdasDir: partial, Analytics: &AnalyticsOptions{}}).Validate()
	if err == nil || !strings.Contains(err.Error(), "LambdasDir: "+filepath.Join(partial, AnalyticsFunctionName)+" has no bootstrap binary") {
		t.Errorf("with the analytics and no binary: %v", err)
	}

	for _, tc := range []struct {
		name   string
		opts   AnalyticsOptions
		fields []string
	}{
		{"defaults", AnalyticsOptions{}, nil},
		{"everything", tunedAnalytics, nil},
		{"JWT without scopes", AnalyticsOptions{JwtIssuer: "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123", JwtAudience: []string{"7abc"}}, nil},
		{"admin path", AnalyticsOptions{UserURLPrefix: "/admin/activity?user="}, nil},
		{"issuer over http", AnalyticsOptions{JwtIssuer: "http://example.okta.com", JwtAudience: []string{"a"}}, []string{"Analytics.JwtIssuer"}},
		{"issuer without audience", AnalyticsOptions{JwtIssuer: "https://example.okta.com"}, []string{"Analytics.JwtAudience"}},
		{"audience without issuer", AnalyticsOptions{JwtAudience: []string{"a"}}, []string{"Analytics.JwtIssuer"}},
		{"scopes without issuer", AnalyticsOptions{JwtScopes: []string{"analytics:read"}}, []string{"Analytics.JwtIssuer"}},
		{"audience with a comma", AnalyticsOptions{JwtIssuer: "https://example.okta.com", JwtAudience: []string{"a,b"}}, []string{"Analytics.JwtAudience"}},
		{"scope with a space", AnalyticsOptions{JwtIssuer: "https://example.okta.com", JwtAudience: []string{"a"}, JwtScopes: []string{"analytics read"}},
			[]string{"Analytics.JwtScopes"}},
		{"negative rate", AnalyticsOptions{ThrottleRate: -1}, []string{"Analytics.ThrottleRate"}},
		{"negative burst", AnalyticsOptions{ThrottleBurst: -1}, []string{"Analytics.ThrottleBurst"}},
		{"user URL", AnalyticsOptions{UserURLPrefix: "admin.example.com/?user="}, []string{"Analytics.UserURLPrefix"}},
		{"concurrency", AnalyticsOptions{Concurrency: 21}, []string{"Analytics.Concurrency"}},
		{"bytes alarm", AnalyticsOptions{BytesScannedAlarm: 1_000}, []string{"Analytics.BytesScannedAlarm"}},
		{"several at once", AnalyticsOptions{ThrottleRate: -1, Concurrency: -2, BytesScannedAlarm: 5},
			[]string{"Analytics.ThrottleRate", "Analytics.Concurrency", "Analytics.BytesScannedAlarm"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			err := (PipelineProps{LambdasDir: lambdasDir, Analytics: &opts}).Validate()
			checkProblemFields(t, err, tc.fields)
		})
	}
	opts := &AnalyticsOptions{}
	if p := (PipelineProps{Analytics: opts}).WithDefaults(); p.Analytics.ThrottleRate != DefaultAnalyticsThrottleRate ||
		p.Analytics.Concurrency != DefaultAnalyticsConcurrency || p.Analytics.BytesScannedAlarm != DefaultAnalyticsBytesScannedAlarm ||
		opts.ThrottleRate != 0 {
		t.Errorf("WithDefaults: %+v, caller's %+v", p.Analytics, opts)
	}
}

// TestAnalyticsNagSuppressions: the analytics add one suppression, on the
// function's policy, naming each wildcard it accepts; nothing on the routes
// or the API.
func TestAnalyticsNagSuppressions(t *testing.T) {
	s := analyticsStack(t)
	pl, an := s.Pipeline, s.Pipeline.Analytics
	bucket := "Resource::<" + s.id(pl.Lake.Bucket) + ".Arn>/"
	policy := logicalID(defaultPolicy(an.Role))
	want := []string{"AwsSolutions-IAM5 Action::kms:GenerateDataKey* Action::kms:ReEncrypt* Action::s3:Abort* Action::s3:DeleteObject* " +
		"Action::s3:GetBucket* Action::s3:GetObject* Action::s3:List* " + bucket + "events/* " + bucket + "identities/* " +
		"Resource::<" + s.id(pl.Catalog.Results) + ".Arn>/*"}
	own := map[string]bool{policy: true, s.id(an.Api): true, s.id(an.Stage): true, s.id(an.Function): true, s.id(an.Role): true}
	for _, r := range an.Routes {
		own[s.id(r)] = true
	}
	for id, v := range s.JSON["Resources"].(obj) {
		if !own[id] {
			continue
		}
		rules, _ := path(v, "Metadata", "cdk_nag", "rules_to_suppress").(arr)
		var got []string
		for _, r := range rules {
			r := r.(obj)
			entry := r["id"].(string)
			for _, a := range asArr(r["applies_to"]) {
				entry += " " + a.(string)
			}
			got = append(got, entry)
		}
		if id == policy {
			if !reflect.DeepEqual(got, want) {
				t.Errorf("function policy suppressions:\n got %v\nwant %v", got, want)
			}
		} else if len(got) > 0 {
			t.Errorf("%s suppresses %v", id, got)
		}
	}
}
