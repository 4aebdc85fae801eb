package stack

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"

	"github.com/eventlake/eventlake/infra/eventlake"
	"github.com/eventlake/eventlake/infra/internal/testenv"
	"github.com/eventlake/eventlake/tracker"
)

func TestNewEventlakeStackRejectsInvalidPropsBeforeDefiningAnything(t *testing.T) {
	// A nil scope: the props are checked before the scope is touched.
	_, err := NewEventlakeStack(nil, "Eventlake", &EventlakeStackProps{PipelineProps: eventlake.PipelineProps{LambdasDir: filepath.Join(t.TempDir(), "missing")}})
	if !errors.Is(err, eventlake.ErrInvalidProps) || !strings.Contains(err.Error(), "LambdasDir") || !strings.Contains(err.Error(), "make lambdas") {
		t.Fatalf("err = %v", err)
	}
}

// contextOf returns a TryGetContext-like lookup over values.
func contextOf(values map[string]interface{}) func(*string) interface{} {
	return func(k *string) interface{} { return values[*k] }
}

func TestPropsFromContext(t *testing.T) {
	env := map[string]string{"CDK_DEFAULT_REGION": "eu-west-1", "CDK_DEFAULT_ACCOUNT": "123456789012"}
	getenv := func(k string) string { return env[k] }

	p, err := PropsFromContext(contextOf(map[string]interface{}{
		"eventlake:namePrefix":                      "lake",
		"eventlake:format":                          "JSON",
		"eventlake:bufferingInterval":               "90",       // seconds, from -c
		"eventlake:batchingWindow":                  "1m30s",    // a Go duration
		"eventlake:bufferingSizeMiB":                float64(8), // a JSON number, from cdk.json
		"eventlake:batchSize":                       "500",
		"eventlake:logRetentionDays":                float64(14),
		"eventlake:alarmEmail":                      " ops@example.com ",
		"eventlake:bytesScannedCutoff":              "20000000000",
		"eventlake:stackName":                       "EventlakeProd",
		"eventlake:lambdasDir":                      "",
		"eventlake:tableClass":                      "standard-infrequent-access",
		"eventlake:noncurrentVersionExpirationDays": float64(60),
		"eventlake:summaryWindow":                   "5m",
		"eventlake:disableSummary":                  "false",
		"eventlake:collectorRoutes":                 "page_view=lake, click=lake,,login = hot",
		"eventlake:collectorThrottleRate":           "50.5",
		"eventlake:collectorThrottleBurst":          float64(120),
		"eventlake:collectorAllowedOrigins":         "https://shop.example, http://localhost:3000",
		"eventlake:collectorDomainName":             "events.shop.example",
		"eventlake:collectorCertificateArn":         "arn:aws:acm:eu-west-1:123456789012:certificate/abc",
		"eventlake:collectorIPPolicy":               "anonymize",
		"eventlake:collectorRetentionDays":          float64(180),
		"eventlake:analyticsJwtIssuer":              "https://example.okta.com/oauth2/default",
		"eventlake:analyticsJwtAudience":            "0oa1analytics, 0oa2cli,",
		"eventlake:analyticsJwtScopes":              "analytics:read",
		"eventlake:analyticsThrottleRate":           "20",
		"eventlake:analyticsThrottleBurst":          float64(40),
		"eventlake:analyticsUserUrlPrefix":          "https://admin.shop.example/activity?user=",
		"eventlake:analyticsConcurrency":            float64(6),
		"eventlake:analyticsBytesScannedAlarm":      "50000000000",
	}), getenv)
	if err != nil {
		t.Fatal(err)
	}
	if want := (eventlake.CollectorOptions{
		Routes:         map[string]tracker.Route{"page_view": tracker.RouteLake, "click": tracker.RouteLake, "login": tracker.RouteHot},
		ThrottleRate:   50.5,
		ThrottleBurst:  120,
		AllowedOrigins: []string{"https://shop.example", "http://localhost:3000"},
		DomainName:     "events.shop.example",
		CertificateArn: "arn:aws:acm:eu-west-1:123456789012:certificate/abc",
		IPPolicy:       "anonymize",
		RetentionDays:  180,
	}); p.Collector == nil || !reflect.DeepEqual(*p.Collector, want) || p.DisableCollector {
		t.Errorf("collector %+v, disabled %v", p.Collector, p.DisableCollector)
	}
	if want := (eventlake.AnalyticsOptions{
		JwtIssuer:         "https://example.okta.com/oauth2/default",
		JwtAudience:       []string{"0oa1analytics", "0oa2cli"},
		JwtScopes:         []string{"analytics:read"},
		ThrottleRate:      20,
		ThrottleBurst:     40,
		UserURLPrefix:     "https://admin.shop.example/activity?user=",
		Concurrency:       6,
		BytesScannedAlarm: 50_000_000_000,
	}); p.Analytics == nil || !reflect.DeepEqual(*p.Analytics, want) || p.DisableAnalytics {
		t.Errorf("analytics %+v, disabled %v", p.Analytics, p.DisableAnalytics)
	}
	if p.SummaryWindow != 5*time.Minute || p.DisableSummary {
		t.Errorf("summary window %s, disabled %v", p.SummaryWindow, p.DisableSummary)
	}
	if p.TableClass != awsdynamodb.TableClass_STANDARD_INFREQUENT_ACCESS || p.NoncurrentVersionExpirationDays != 60 {
		t.Errorf("table class %q, noncurrent days %d", p.TableClass, p.NoncurrentVersionExpirationDays)
	}
	if p.NamePrefix != "lake" || p.Format != eventlake.FormatJSON || p.BufferingInterval != 90*time.Second ||
		p.BatchingWindow != 90*time.Second || p.BufferingSizeMiB != 8 || p.BatchSize != 500 ||
		p.LogRetentionDays != 14 || p.AlarmEmail != "ops@example.com" || p.BytesScannedCutoff != 20_000_000_000 ||
		p.LambdasDir != "" || *p.StackName != "EventlakeProd" {
		t.Errorf("props %+v", p)
	}
	if *p.Env.Region != "eu-west-1" || *p.Env.Account != "123456789012" {
		t.Errorf("env %v/%v", *p.Env.Region, *p.Env.Account)
	}

	// Context beats the environment; without either the region defaults.
	p, err = PropsFromContext(contextOf(map[string]interface{}{"eventlake:region": "ap-southeast-2"}), getenv)
	if err != nil || *p.Env.Region != "ap-southeast-2" {
		t.Errorf("region from context: %v %v", p, err)
	}
	p, err = PropsFromContext(contextOf(nil), func(string) string { return "" })
	if err != nil || *p.Env.Region != DefaultRegion || p.Env.Account != nil || p.StackName != nil {
		t.Errorf("no context: %+v %v", p, err)
	}
	// Without collector keys the options stay unset (NewEventlakeStack
	// deploys the collector with its defaults); disableCollector leaves it
	// out.
	if p.Collector != nil || p.DisableCollector || p.Analytics != nil || p.DisableAnalytics {
		t.Errorf("no context: collector %+v, disabled %v; analytics %+v, disabled %v", p.Collector, p.DisableCollector,
			p.Analytics, p.DisableAnalytics)
	}
	p, err = PropsFromContext(contextOf(map[string]interface{}{"eventlake:disableCollector": true}), getenv)
	if err != nil || !p.DisableCollector || p.Collector != nil {
		t.Errorf("disableCollector from cdk.json: %+v %v", p, err)
	}
	p, err = PropsFromContext(contextOf(map[string]interface{}{"eventlake:disableAnalytics": "true"}), getenv)
	if err != nil || !p.DisableAnalytics || p.Analytics != nil {
		t.Errorf("disableAnalytics from -c: %+v %v", p, err)
	}

	// A JSON boolean from cdk.json turns the summary consumer off.
	p, err = PropsFromContext(contextOf(map[string]interface{}{"eventlake:disableSummary": true}), getenv)
	if err != nil || !p.DisableSummary {
		t.Errorf("disableSummary from cdk.json: %+v %v", p, err)
	}

	_, err = PropsFromContext(contextOf(map[string]interface{}{
		"eventlake:batchSize":              "many",
		"eventlake:bufferingInterval":      "soon",
		"eventlake:bytesScannedCutoff":     "1e",
		"eventlake:disableSummary":         "nope",
		"eventlake:collectorRoutes":        "page_view:lake",
		"eventlake:collectorThrottleRate":  "fast",
		"eventlake:collectorThrottleBurst": "big",
		"eventlake:disableCollector":       "maybe",
		"eventlake:analyticsThrottleRate":  "lots",
		"eventlake:disableAnalytics":       "perhaps",
	}), getenv)
	var pe *eventlake.PropsError
	if !errors.As(err, &pe) || len(pe.Problems) != 10 {
		t.Fatalf("err = %v", err)
	}
	for _, k := range []string{"eventlake:batchSize", "eventlake:bufferingInterval", "eventlake:bytesScannedCutoff", "eventlake:disableSummary",
		"eventlake:collectorRoutes", "eventlake:collectorThrottleRate", "eventlake:collectorThrottleBurst", "eventlake:disableCollector",
		"eventlake:analyticsThrottleRate", "eventlake:disableAnalytics"} {
		if !strings.Contains(err.Error(), k) {
			t.Errorf("%q does not name %s", err, k)
		}
	}
}

// TestContextKeysCoverEveryProp keeps the context keys in step with the
// pipeline's props: every field that a string can express can be set from
// cdk.json or -c; the typed ones (existing tables, billing, alarm topic)
// are CDK objects only Go code can pass.
func TestContextKeysCoverEveryProp(t *testing.T) {
	keys := map[string]bool{}
	for _, k := range ContextKeys() {
		keys[strings.TrimPrefix(k, ContextPrefix)] = true
	}
	typ := reflect.TypeOf(eventlake.PipelineProps{})
	typed := 0
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		if f.Type.Kind() == reflect.Interface {
			typed++
			continue
		}
		if opts, ok := map[string]reflect.Type{"Collector": reflect.TypeOf(eventlake.CollectorOptions{}),
			"Analytics": reflect.TypeOf(eventlake.AnalyticsOptions{})}[f.Name]; ok {
			// One key per option: eventlake:collectorRoutes,
			// eventlake:analyticsJwtIssuer, ... (URL as Url).
			prefix := strings.ToLower(f.Name)
			for j := 0; j < opts.NumField(); j++ {
				if key := prefix + strings.ReplaceAll(opts.Field(j).Name, "URL", "Url"); !keys[key] {
					t.Errorf("no context key %s%s for %s.%s: add it to contextFields", ContextPrefix, key, opts.Name(), opts.Field(j).Name)
				}
			}
			continue
		}
		key := strings.ToLower(f.Name[:1]) + f.Name[1:]
		if !keys[key] {
			t.Errorf("no context key %s%s for PipelineProps.%s: add it to contextFields", ContextPrefix, key, f.Name)
		}
	}
	if typed != 4 {
		t.Errorf("%d typed (interface) props, the test knows 4 (EventsTable, SummaryTable, Billing, AlarmTopic)", typed)
	}
	for _, k := range []string{"region", "account", "stackName", "disableCollector", "disableAnalytics"} {
		if !keys[k] {
			t.Errorf("no context key %s%s", ContextPrefix, k)
		}
	}
}

func TestCDKJSONContextParses(t *testing.T) {
	raw, err := os.ReadFile("../../cdk.json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"app": "go run ./infra"`) {
		t.Errorf("cdk.json does not run the Go app")
	}
	ctx, err := testenv.CDKContext()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy", "@aws-cdk/core:validateAgainstDefaultRules"} {
		if ctx[k] != true {
			t.Errorf("cdk.json does not enable %s", k)
		}
	}
	if ctx[ContextPrefix+"format"] != string(eventlake.DefaultFormat) {
		t.Errorf("cdk.json format %v", ctx[ContextPrefix+"format"])
	}
	p, err := PropsFromContext(contextOf(ctx), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	p.LambdasDir = lambdasDir
	if err := p.Validate(); err != nil {
		t.Errorf("cdk.json's eventlake settings do not validate: %v", err)
	}
}
