package eventlake

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/eventlake/eventlake/collector"
	"github.com/eventlake/eventlake/lambdas/collector/function"
	"github.com/eventlake/eventlake/tracker"
)

// collectorRoute is the API's $default route (its CloudFormation resource).
func collectorRoute(col *Collector) constructs.IConstruct {
	return col.Api.Node().FindChild(jsii.String("DefaultRoute")).Node().DefaultChild()
}

// collectorVariants are the synthesized variants with a collector: its
// defaults, every option set (a custom domain among them), and one on
// existing tables with a lake route.
var collectorVariants = []struct {
	name string
	get  func(*testing.T) *synthesized
}{{"defaults", defaultStack}, {"tuned", jsonStack}, {"existing tables", existingStack}}

func TestCollectorFunction(t *testing.T) {
	s := defaultStack(t)
	col := s.Pipeline.Collector
	check(t, "function", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::Lambda::Function"), obj{
			"Runtime":       "provided.al2023",
			"Architectures": arr{"arm64"},
			"Handler":       "bootstrap",
			"MemorySize":    CollectorMemoryMiB,
			"Timeout":       CollectorTimeout.Seconds(),
			"Role":          getAtt(s.id(col.Role), "Arn"),
			"LoggingConfig": obj{"LogGroup": ref(s.id(col.LogGroup))},
			// The defaults: every type on the hot route, so neither ROUTES
			// nor the delivery stream; API Gateway does CORS and supplies
			// the client's address, so neither ALLOWED_ORIGINS nor
			// TRUSTED_PROXIES.
			"Environment": assertions.Match_Exact(obj{"Variables": obj{
				function.EnvEventsTable:      ref(s.id(s.Pipeline.Tables.Events)),
				function.EnvWriteKeysSecret:  ref(s.id(col.Secret)),
				function.EnvWriteKeysRefresh: "5m",
				function.EnvIPPolicy:         "keep",
				function.EnvRetentionDays:    "0",
			}}),
		})
	})
	check(t, "its log group is encrypted and keeps logs for the default retention", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::Logs::LogGroup"), obj{
			"RetentionInDays": DefaultLogRetentionDays,
			"KmsKeyId":        getAtt(s.id(s.Pipeline.OpsKey), "Arn"),
		})
	})
	s.checkGoFunction(t, "collector", col.Function, col.Role)
}

// TestCollectorTunedEnvironment: every option reaches the function.
func TestCollectorTunedEnvironment(t *testing.T) {
	s := jsonStack(t)
	col := s.Pipeline.Collector
	check(t, "environment", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::Lambda::Function"), obj{
			"Role": getAtt(s.id(col.Role), "Arn"),
			"Environment": assertions.Match_Exact(obj{"Variables": obj{
				function.EnvEventsTable:      ref(s.id(s.Pipeline.Tables.Events)),
				function.EnvDeliveryStream:   ref(s.id(s.Pipeline.Delivery.Stream)),
				function.EnvRoutes:           "click=lake,login=hot,page_view=lake",
				function.EnvWriteKeysSecret:  ref(s.id(col.Secret)),
				function.EnvWriteKeysRefresh: "5m",
				function.EnvIPPolicy:         "anonymize",
				function.EnvRetentionDays:    "180",
				// The stack's log retention.
			}}),
		})
	})
	check(t, "log retention", func() {
		for _, lg := range []constructs.IConstruct{col.LogGroup, col.AccessLogs} {
			r := s.one(t, "AWS::Logs::LogGroup", func(x resource) bool { return x.ID == s.id(lg) })
			if r.Props["RetentionInDays"] != float64(jsonProps.LogRetentionDays) {
				t.Errorf("log group %s keeps %v days", r.ID, r.Props["RetentionInDays"])
			}
		}
	})
}

// TestCollectorEnvironmentIsWhatTheFunctionReads reads every variant's
// synthesized environment with the function's own parser
// (function.ConfigFromEnv, as main does at cold start), CloudFormation's
// references replaced by sample values: it starts, with the options the
// variant was built with.
func TestCollectorEnvironmentIsWhatTheFunctionReads(t *testing.T) {
	for _, v := range collectorVariants {
		t.Run(v.name, func(t *testing.T) {
			s := v.get(t)
			col := s.Pipeline.Collector
			vars := s.functionEnv(t, s.Pipeline.Collector.Function)
			cfg, err := function.ConfigFromEnv(func(k string) string { return vars[k] })
			if err != nil {
				t.Fatal(err)
			}
			o := col.Options
			wantRoutes := o.Routes
			if len(wantRoutes) == 0 {
				wantRoutes = nil
			}
			if !reflect.DeepEqual(cfg.Routes, wantRoutes) {
				t.Errorf("routes %v, want %v", cfg.Routes, o.Routes)
			}
			if cfg.KeysSecret == "" || cfg.KeysParameter != "" || cfg.Refresh != function.DefaultRefresh {
				t.Errorf("keys from %q / %q every %s", cfg.KeysSecret, cfg.KeysParameter, cfg.Refresh)
			}
			if cfg.Retention != time.Duration(o.RetentionDays)*24*time.Hour {
				t.Errorf("retention %s, want %d days", cfg.Retention, o.RetentionDays)
			}
			if want := map[string]tracker.IPPolicy{"keep": tracker.IPKeep, "anonymize": tracker.IPAnonymize, "drop": tracker.IPDrop}[o.IPPolicy]; cfg.IPPolicy != want {
				t.Errorf("IP policy %v, want %s", cfg.IPPolicy, o.IPPolicy)
			}
			if len(cfg.AllowedOrigins) != 0 || len(cfg.TrustedProxies) != 0 {
				t.Errorf("the function does CORS (%v) or trusts proxies (%v) behind API Gateway", cfg.AllowedOrigins, cfg.TrustedProxies)
			}
			if (cfg.DeliveryStream != "") != o.takesLake() {
				t.Errorf("delivery stream %q with routes %v", cfg.DeliveryStream, o.Routes)
			}
		})
	}
}

// TestCollectorGrants pins the collector role's policy in each variant:
// write its log group, PutItem on the events table with its key, read the
// secret, and PutRecordBatch on the delivery stream only when a type takes
// the lake route; nothing on "*".
func TestCollectorGrants(t *testing.T) {
	for _, v := range collectorVariants {
		t.Run(v.name, func(t *testing.T) {
			s := v.get(t)
			pl := s.Pipeline
			col := pl.Collector
			want := map[string]bool{}
			for _, a := range []string{"logs:CreateLogStream", "logs:PutLogEvents"} {
				want[a+" "+show(getAtt(s.id(col.LogGroup), "Arn"))] = true
			}
			for _, a := range []string{"secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"} {
				want[a+" "+show(ref(s.id(col.Secret)))] = true
			}
			// The existing events table's ARN and key as imported.
			table, key := existingEventsArn, existingKeyArn
			if pl.Props.EventsTable == nil {
				table, key = show(getAtt(s.id(pl.Tables.Events), "Arn")), show(getAtt(s.id(pl.Tables.Key), "Arn"))
			}
			want["dynamodb:PutItem "+table] = true
			for _, a := range []string{"kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"} {
				want[a+" "+key] = true
			}
			if col.Options.takesLake() {
				want["firehose:PutRecordBatch "+show(getAtt(s.id(pl.Delivery.Stream), "Arn"))] = true
			}
			if got := s.rolePolicyGrants(t, s.id(col.Role)); !reflect.DeepEqual(got, want) {
				t.Errorf("collector role grants:\n got %v\nwant %v", sortedKeys(got), sortedKeys(want))
			}
		})
	}
}

// TestCollectorSecret: the write keys' secret is generated (32 letters and
// digits, no name), encrypted with the ops key, deleted with the stack (as
// its key is), and only the collector's role may decrypt it through
// Secrets Manager besides the account's own policies.
func TestCollectorSecret(t *testing.T) {
	s := defaultStack(t)
	col := s.Pipeline.Collector
	check(t, "secret", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::SecretsManager::Secret"), obj{
			"KmsKeyId":             getAtt(s.id(s.Pipeline.OpsKey), "Arn"),
			"GenerateSecretString": assertions.Match_Exact(obj{"PasswordLength": CollectorWriteKeyLength, "ExcludePunctuation": true, "IncludeSpace": false}),
			"Name":                 assertions.Match_Absent(),
			"SecretString":         assertions.Match_Absent(),
		})
	})
	sec := s.one(t, "AWS::SecretsManager::Secret", nil)
	if sec.Raw["DeletionPolicy"] != "Delete" {
		t.Errorf("secret deletion policy %v", sec.Raw["DeletionPolicy"])
	}
	ops := s.one(t, "AWS::KMS::Key", func(r resource) bool { return r.ID == s.id(s.Pipeline.OpsKey) })
	found := false
	for _, st := range path(ops.Props, "KeyPolicy", "Statement").(arr) {
		if show(path(st, "Principal", "AWS")) != show(getAtt(s.id(col.Role), "Arn")) {
			continue
		}
		found = true
		if path(st, "Action") != "kms:Decrypt" || path(st, "Condition", "StringEquals", "kms:ViaService") != "secretsmanager.us-east-1.amazonaws.com" {
			t.Errorf("ops key lets the collector %v", st)
		}
	}
	if !found {
		t.Error("the ops key policy does not let the collector decrypt the secret through Secrets Manager")
	}
	// The generated value is one key as function.ParseKeys reads it.
	keys, err := function.ParseKeys(strings.Repeat("Ab3", CollectorWriteKeyLength/3) + "xy")
	if err != nil || len(keys) != 1 {
		t.Errorf("a generated key parses as %v, %v", keys, err)
	}
}

// TestCollectorApi pins the HTTP API of the defaults: payload format 2.0,
// one $default route to the function, a self-deploying $default stage
// with throttling and JSON access logs, no CORS, the execute-api endpoint.
func TestCollectorApi(t *testing.T) {
	s := defaultStack(t)
	col := s.Pipeline.Collector
	api := ref(s.id(col.Api))
	check(t, "api", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::ApiGatewayV2::Api"), obj{
			"ProtocolType":              "HTTP",
			"Name":                      DefaultNamePrefix + "-collector",
			"DisableExecuteApiEndpoint": false,
			"CorsConfiguration":         assertions.Match_Absent(),
		})
	})
	integration := s.one(t, "AWS::ApiGatewayV2::Integration", nil)
	check(t, "integration", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::ApiGatewayV2::Integration"), obj{
			"ApiId":                api,
			"IntegrationType":      "AWS_PROXY",
			"IntegrationUri":       getAtt(s.id(col.Function), "Arn"),
			"PayloadFormatVersion": "2.0",
		})
	})
	check(t, "route", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::ApiGatewayV2::Route"), obj{
			"ApiId":             api,
			"RouteKey":          "$default",
			"AuthorizationType": "NONE",
			"Target":            obj{"Fn::Join": arr{"", arr{"integrations/", ref(integration.ID)}}},
		})
	})
	check(t, "stage", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::ApiGatewayV2::Stage"), obj{
			"ApiId":      api,
			"StageName":  "$default",
			"AutoDeploy": true,
			"DefaultRouteSettings": assertions.Match_Exact(obj{
				"ThrottlingRateLimit":  DefaultCollectorThrottleRate,
				"ThrottlingBurstLimit": DefaultCollectorThrottleBurst,
			}),
			"AccessLogSettings": assertions.Match_Exact(obj{
				"DestinationArn": getAtt(s.id(col.AccessLogs), "Arn"),
				"Format":         CollectorAccessLogFormat(),
			}),
		})
	})
	check(t, "access log group", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::Logs::LogGroup"), obj{
			"RetentionInDays": DefaultLogRetentionDays,
			"KmsKeyId":        getAtt(s.id(s.Pipeline.OpsKey), "Arn"),
		})
	})
	check(t, "API Gateway may invoke the function, from this API only", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::Lambda::Permission"), obj{
			"Action":       "lambda:InvokeFunction",
			"FunctionName": getAtt(s.id(col.Function), "Arn"),
			"Principal":    "apigateway.amazonaws.com",
			"SourceArn": obj{"Fn::Join": arr{"", arr{
				"arn:aws:execute-api:us-east-1:", ref("AWS::AccountId"), ":", api, "/*/*",
			}}},
		})
	})
	if *col.Url == "" || col.Domain != nil || col.Mapping != nil {
		t.Errorf("url %v, domain %v, mapping %v", *col.Url, col.Domain, col.Mapping)
	}
	if !strings.Contains(render(s.Stack.Resolve(col.Url)), ".execute-api.us-east-1.") {
		t.Errorf("url %s", render(s.Stack.Resolve(col.Url)))
	}
}

// TestCollectorTunedApi: the tuned options reach the API: CORS, throttling,
// and the custom domain (TLS 1.2, regional, the certificate), mapped to the
// stage, with the execute-api endpoint disabled.
func TestCollectorTunedApi(t *testing.T) {
	s := jsonStack(t)
	col := s.Pipeline.Collector
	api := ref(s.id(col.Api))
	check(t, "api with CORS and without the execute-api endpoint", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::ApiGatewayV2::Api"), obj{
			"Name":                      jsonProps.NamePrefix + "-collector",
			"DisableExecuteApiEndpoint": true,
			"CorsConfiguration": assertions.Match_Exact(obj{
				"AllowOrigins": arr{"https://shop.example", "http://localhost:3000"},
				"AllowMethods": arr{"POST", "OPTIONS"},
				"AllowHeaders": arr{"authorization", "content-type", "content-encoding", "x-retry-count"},
				"MaxAge":       CollectorCORSMaxAge.Seconds(),
			}),
		})
	})
	check(t, "stage throttling", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::ApiGatewayV2::Stage"), obj{
			"DefaultRouteSettings": assertions.Match_Exact(obj{"ThrottlingRateLimit": 50.5, "ThrottlingBurstLimit": 120}),
		})
	})
	check(t, "domain", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::ApiGatewayV2::DomainName"), obj{
			"DomainName": tunedCollector.DomainName,
			"DomainNameConfigurations": assertions.Match_Exact(arr{obj{
				"CertificateArn": tunedCollector.CertificateArn,
				"EndpointType":   "REGIONAL",
				"SecurityPolicy": "TLS_1_2",
			}}),
		})
	})
	check(t, "mapping", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::ApiGatewayV2::ApiMapping"), obj{
			"ApiId":         api,
			"DomainName":    ref(s.id(col.Domain)),
			"Stage":         "$default", // the stage's name, with a DependsOn on it
			"ApiMappingKey": assertions.Match_Absent(),
		})
	})
	mapping := s.one(t, "AWS::ApiGatewayV2::ApiMapping", nil)
	if got := mapping.Raw["DependsOn"]; !reflect.DeepEqual(got, arr{s.id(col.Stage)}) {
		t.Errorf("mapping DependsOn %v", got)
	}
	if got, want := *col.Url, "https://"+tunedCollector.DomainName+"/"; got != want {
		t.Errorf("url %s, want %s", got, want)
	}
}

// TestCollectorAccessLogFormat renders the synthesized access log format
// with what API Gateway puts in its variables, for a request it served and
// for one it throttled (no integration: "-" for the integration's values):
// each line is JSON with the status a number, and the throttled-requests
// filter counts the 429 alone.
func TestCollectorAccessLogFormat(t *testing.T) {
	s := defaultStack(t)
	stage := s.one(t, "AWS::ApiGatewayV2::Stage", nil)
	format := path(stage.Props, "AccessLogSettings", "Format").(string)
	throttled := s.metricFilters(t)[MetricCollectorThrottled]
	for _, tc := range []struct {
		name   string
		values map[string]string
		count  bool
	}{
		{"served", map[string]string{"status": "200", "integrationLatency": "23", "integrationErrorMessage": "-"}, false},
		{"the function failed", map[string]string{"status": "500", "integrationLatency": "10003",
			"integrationErrorMessage": "The Lambda function returned the following error: Task timed out"}, false},
		{"throttled", map[string]string{"status": "429", "integrationLatency": "-", "integrationErrorMessage": "-"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			line := format
			for _, f := range accessLogFields {
				v, ok := tc.values[f[0]]
				if !ok {
					v = map[string]string{"requestId": "Ab1cDEfGhIjKl=", "ip": "198.51.100.23", "requestTime": "22/Nov/2026:10:04:05 +0000",
						"httpMethod": "POST", "path": "/v1/batch", "routeKey": "$default", "responseLength": "35", "responseLatency": "41"}[f[0]]
				}
				line = strings.ReplaceAll(line, f[1]+`"`, v+`"`) // quoted values
				line = strings.ReplaceAll(line, f[1]+",", v+",") // the number
			}
			var ev map[string]interface{}
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatalf("access log line is not JSON: %v\n%s", err, line)
			}
			for _, f := range accessLogFields {
				if _, ok := ev[f[0]]; !ok {
					t.Errorf("no %s in %s", f[0], line)
				}
			}
			if _, ok := ev[AccessLogFieldStatus].(float64); !ok {
				t.Errorf("status is not a number: %s", line)
			}
			v, matched := throttled.apply(ev)
			if matched != tc.count || (matched && v != 1) {
				t.Errorf("throttled filter matched %v with %v on %s", matched, v, line)
			}
		})
	}
	// The fields the spec names, in that order.
	var names []string
	for _, f := range accessLogFields {
		names = append(names, f[0])
	}
	if want := []string{"requestId", "ip", "requestTime", "httpMethod", "path", "routeKey", "status", "responseLength",
		"integrationLatency", "responseLatency", "integrationErrorMessage"}; !reflect.DeepEqual(names, want) {
		t.Errorf("access log fields %v", names)
	}
}

func TestCollectorMetricFilters(t *testing.T) {
	s := defaultStack(t)
	col := s.Pipeline.Collector
	for _, tc := range []struct{ metric, pattern, value, logGroup string }{
		{MetricCollectorNotStored, `{ $.msg = "` + collector.LogMessageNotStored + `" }`, "$." + collector.LogFieldNotStored, s.id(col.LogGroup)},
		{MetricCollectorKeyReloadFailures, `{ $.msg = "` + function.LogMessageReloadKeys + `" }`, "1", s.id(col.LogGroup)},
		{MetricCollectorThrottled, `{ $.` + AccessLogFieldStatus + ` = 429 }`, "1", s.id(col.AccessLogs)},
	} {
		check(t, "metric filter "+tc.metric, func() {
			s.Template.HasResourceProperties(jsii.String("AWS::Logs::MetricFilter"), obj{
				"LogGroupName":  ref(tc.logGroup),
				"FilterPattern": tc.pattern,
				"MetricTransformations": arr{obj{
					"MetricName":      tc.metric,
					"MetricNamespace": DefaultNamePrefix,
					"MetricValue":     tc.value,
					"Unit":            "Count",
				}},
			})
		})
	}
	// The spec's patterns, literally.
	for _, p := range []string{`{ $.msg = "events not stored" }`, `{ $.msg = "reload write keys" }`, `{ $.status = 429 }`} {
		check(t, p, func() {
			s.Template.HasResourceProperties(jsii.String("AWS::Logs::MetricFilter"), obj{"FilterPattern": p})
		})
	}
}

// TestCollectorAlarms pins each alarm of the collector: its metric,
// statistic, period, threshold, operator and the number of periods.
func TestCollectorAlarms(t *testing.T) {
	s := defaultStack(t)
	col := s.Pipeline.Collector
	fn, api := show(ref(s.id(col.Function))), show(ref(s.id(col.Api)))
	gte, gt := "GreaterThanOrEqualToThreshold", "GreaterThanThreshold"
	stage := api + " $default"
	want := map[string]alarmSpec{
		"AWS/ApiGateway 5xx " + stage:                                    {"5xx", "Sum", 300, 1, gte, 1},
		"AWS/ApiGateway Latency " + stage:                                {"Latency", "p99", 300, 2000, gt, 3},
		"AWS/Lambda Throttles " + fn:                                     {"Throttles", "Sum", 300, 1, gte, 1},
		"AWS/Lambda Errors " + fn:                                        {"Errors", "Sum", 300, 1, gte, 1},
		DefaultNamePrefix + " " + MetricCollectorNotStored + " ":         {MetricCollectorNotStored, "Sum", 300, 1, gte, 1},
		DefaultNamePrefix + " " + MetricCollectorThrottled + " ":         {MetricCollectorThrottled, "Sum", 300, 1, gte, 1},
		DefaultNamePrefix + " " + MetricCollectorKeyReloadFailures + " ": {MetricCollectorKeyReloadFailures, "Sum", 300, 1, gte, 1},
	}
	got := s.alarmSpecs(t, col.Alarms)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("collector alarms:\n got %v\nwant %v", got, want)
	}
}

func asArr(v interface{}) arr {
	a, _ := v.(arr)
	return a
}

// TestCollectorLeftOut: without PipelineProps.Collector (the construct's
// default) there is no secret, API, collector function or collector
// metric.
func TestCollectorLeftOut(t *testing.T) {
	s := noSummaryStack(t)
	if s.Pipeline.Collector != nil {
		t.Fatal("Pipeline.Collector is set")
	}
	for _, typ := range []string{"AWS::SecretsManager::Secret", "AWS::ApiGatewayV2::Api", "AWS::ApiGatewayV2::Stage", "AWS::Lambda::Permission"} {
		check(t, typ, func() { s.Template.ResourceCountIs(jsii.String(typ), jsii.Number(0)) })
	}
	for _, m := range s.resources("AWS::Logs::MetricFilter") {
		if name := path(m.Props, "MetricTransformations", 0, "MetricName").(string); strings.HasPrefix(name, "Collector") {
			t.Errorf("metric filter %s without the collector", name)
		}
	}
	body, _ := json.Marshal(s.one(t, "AWS::CloudWatch::Dashboard", nil).Props)
	if strings.Contains(string(body), "Collector") {
		t.Errorf("dashboard shows the collector: %s", body)
	}
}

func TestValidateCollectorOptions(t *testing.T) {
	// A build without the collector: enough only without it.
	noCollector := someLambdas(t, RelayFunctionName, SummaryFunctionName)
	if err := (PipelineProps{LambdasDir: noCollector}).Validate(); err != nil {
		t.Errorf("without the collector: %v", err)
	}
	err := (PipelineProps{LambdasDir: noCollector, Collector: &CollectorOptions{}}).Validate()
	if err == nil || !strings.Contains(err.Error(), "LambdasDir: "+filepath.Join(noCollector, CollectorFunctionName)+" has no bootstrap binary") {
		t.Errorf("with the collector and no binary: %v", err)
	}

	lake, hot := tracker.RouteLake, tracker.RouteHot
	for _, tc := range []struct {
		name   string
		opts   CollectorOptions
		fields []string
	}{
		{"defaults", CollectorOptions{}, nil},
		{"everything", tunedCollector, nil},
		{"any origin", CollectorOptions{AllowedOrigins: []string{"*"}}, nil},
		{"every route", CollectorOptions{Routes: map[string]tracker.Route{"page_view": lake, "impression": lake, "click": lake, "purchase": hot}}, nil},
		{"drop IPs", CollectorOptions{IPPolicy: "drop"}, nil},
		{"unknown type", CollectorOptions{Routes: map[string]tracker.Route{"teleported": lake}}, []string{"Collector.Routes"}},
		{"unknown route", CollectorOptions{Routes: map[string]tracker.Route{"click": "cold"}}, []string{"Collector.Routes"}},
		{"negative rate", CollectorOptions{ThrottleRate: -1}, []string{"Collector.ThrottleRate"}},
		{"negative burst", CollectorOptions{ThrottleBurst: -5}, []string{"Collector.ThrottleBurst"}},
		{"origin with a path", CollectorOptions{AllowedOrigins: []string{"https://shop.example/"}}, []string{"Collector.AllowedOrigins"}},
		{"origin without a scheme", CollectorOptions{AllowedOrigins: []string{"shop.example"}}, []string{"Collector.AllowedOrigins"}},
		{"any origin and others", CollectorOptions{AllowedOrigins: []string{"*", "https://shop.example"}}, []string{"Collector.AllowedOrigins"}},
		{"domain without a certificate", CollectorOptions{DomainName: "events.example.com"}, []string{"Collector.DomainName"}},
		{"certificate without a domain", CollectorOptions{CertificateArn: tunedCollector.CertificateArn}, []string{"Collector.DomainName"}},
		{"bad domain", CollectorOptions{DomainName: "Events.Example.com", CertificateArn: tunedCollector.CertificateArn}, []string{"Collector.DomainName"}},
		{"bad certificate", CollectorOptions{DomainName: "events.example.com", CertificateArn: "arn:aws:iam::123456789012:server-certificate/x"},
			[]string{"Collector.CertificateArn"}},
		{"IP policy", CollectorOptions{IPPolicy: "hide"}, []string{"Collector.IPPolicy"}},
		{"negative retention", CollectorOptions{RetentionDays: -1}, []string{"Collector.RetentionDays"}},
		{"several at once", CollectorOptions{ThrottleRate: -1, IPPolicy: "hide", RetentionDays: -1},
			[]string{"Collector.ThrottleRate", "Collector.IPPolicy", "Collector.RetentionDays"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			err := (PipelineProps{LambdasDir: lambdasDir, Collector: &opts}).Validate()
			checkProblemFields(t, err, tc.fields)
		})
	}
	// WithDefaults fills a copy: the caller's options stay as they were.
	opts := &CollectorOptions{}
	if p := (PipelineProps{Collector: opts}).WithDefaults(); p.Collector.ThrottleRate != DefaultCollectorThrottleRate ||
		p.Collector.ThrottleBurst != DefaultCollectorThrottleBurst || p.Collector.IPPolicy != DefaultCollectorIPPolicy || opts.ThrottleRate != 0 {
		t.Errorf("WithDefaults: %+v, caller's %+v", p.Collector, opts)
	}
}

// TestCollectorCertificateOfAnotherRegion: NewPipeline refuses, before
// defining anything, a certificate of another region than the stack's.
func TestCollectorCertificateOfAnotherRegion(t *testing.T) {
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
	st := awscdk.NewStack(app, jsii.String("Certificate"), &awscdk.StackProps{Env: &awscdk.Environment{Region: jsii.String("eu-west-1")}})
	before := len(*st.Node().Children())
	_, err := NewPipeline(st, "Pipeline", withLambdas(PipelineProps{Collector: &CollectorOptions{
		DomainName: "events.example.com", CertificateArn: tunedCollector.CertificateArn, // us-east-1
	}}))
	if err == nil || !strings.Contains(err.Error(), "us-east-1") || !strings.Contains(err.Error(), "eu-west-1") {
		t.Fatalf("err = %v", err)
	}
	if len(*st.Node().Children()) != before {
		t.Error("NewPipeline defined constructs before failing")
	}
}
