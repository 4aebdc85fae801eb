package stack

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/jsii-runtime-go"

	"github.com/eventlake/eventlake/infra/eventlake"
	"github.com/eventlake/eventlake/tracker"
)

// ContextPrefix starts every CDK context key the app reads, as in
// `cdk deploy -c eventlake:format=json` or the "context" of cdk.json.
const ContextPrefix = "eventlake:"

// DefaultRegion is the region the app synthesizes for when neither the
// eventlake:region context nor CDK_DEFAULT_REGION names one. A concrete
// region is required by the customer-managed table key.
const DefaultRegion = "us-east-1"

// contextField reads one context key (without ContextPrefix) into props.
type contextField struct {
	key string
	set func(p *EventlakeStackProps, v string) error
}

func intField(key string, dst func(*EventlakeStackProps) *int) contextField {
	return contextField{key, func(p *EventlakeStackProps, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%q is not an integer", v)
		}
		*dst(p) = n
		return nil
	}}
}

// durationField accepts a Go duration ("90s", "5m") or whole seconds ("300").
func durationField(key string, dst func(*EventlakeStackProps) *time.Duration) contextField {
	return contextField{key, func(p *EventlakeStackProps, v string) error {
		if n, err := strconv.Atoi(v); err == nil {
			*dst(p) = time.Duration(n) * time.Second
			return nil
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%q is neither seconds nor a duration like 5m", v)
		}
		*dst(p) = d
		return nil
	}}
}

// boolField accepts what strconv.ParseBool does ("true", "false", "1", ...).
func boolField(key string, dst func(*EventlakeStackProps) *bool) contextField {
	return contextField{key, func(p *EventlakeStackProps, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is neither true nor false", v)
		}
		*dst(p) = b
		return nil
	}}
}

func stringField(key string, dst func(*EventlakeStackProps) *string) contextField {
	return contextField{key, func(p *EventlakeStackProps, v string) error {
		*dst(p) = v
		return nil
	}}
}

// contextFields lists every key PropsFromContext reads, with the prop it sets.
var contextFields = []contextField{
	stringField("stackName", func(p *EventlakeStackProps) *string {
		if p.StackName == nil {
			p.StackName = new(string)
		}
		return p.StackName
	}),
	stringField("namePrefix", func(p *EventlakeStackProps) *string { return &p.NamePrefix }),
	stringField("lambdasDir", func(p *EventlakeStackProps) *string { return &p.LambdasDir }),
	{"tableClass", func(p *EventlakeStackProps, v string) error {
		// STANDARD_INFREQUENT_ACCESS, or standard-infrequent-access.
		p.TableClass = awsdynamodb.TableClass(strings.ToUpper(strings.ReplaceAll(v, "-", "_")))
		return nil
	}},
	{"format", func(p *EventlakeStackProps, v string) error {
		p.Format = eventlake.Format(strings.ToLower(v))
		return nil
	}},
	durationField("bufferingInterval", func(p *EventlakeStackProps) *time.Duration { return &p.BufferingInterval }),
	intField("bufferingSizeMiB", func(p *EventlakeStackProps) *int { return &p.BufferingSizeMiB }),
	intField("batchSize", func(p *EventlakeStackProps) *int { return &p.BatchSize }),
	durationField("batchingWindow", func(p *EventlakeStackProps) *time.Duration { return &p.BatchingWindow }),
	intField("retryAttempts", func(p *EventlakeStackProps) *int { return &p.RetryAttempts }),
	durationField("maxRecordAge", func(p *EventlakeStackProps) *time.Duration { return &p.MaxRecordAge }),
	intField("parallelizationFactor", func(p *EventlakeStackProps) *int { return &p.ParallelizationFactor }),
	intField("lambdaMemoryMiB", func(p *EventlakeStackProps) *int { return &p.LambdaMemoryMiB }),
	durationField("lambdaTimeout", func(p *EventlakeStackProps) *time.Duration { return &p.LambdaTimeout }),
	intField("logRetentionDays", func(p *EventlakeStackProps) *int { return &p.LogRetentionDays }),
	stringField("alarmEmail", func(p *EventlakeStackProps) *string { return &p.AlarmEmail }),
	{"bytesScannedCutoff", func(p *EventlakeStackProps, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number of bytes", v)
		}
		p.BytesScannedCutoff = n
		return nil
	}},
	intField("infrequentAccessAfterDays", func(p *EventlakeStackProps) *int { return &p.InfrequentAccessAfterDays }),
	intField("glacierIRAfterDays", func(p *EventlakeStackProps) *int { return &p.GlacierIRAfterDays }),
	intField("eventsExpirationDays", func(p *EventlakeStackProps) *int { return &p.EventsExpirationDays }),
	intField("errorOutputExpirationDays", func(p *EventlakeStackProps) *int { return &p.ErrorOutputExpirationDays }),
	intField("noncurrentVersionExpirationDays", func(p *EventlakeStackProps) *int { return &p.NoncurrentVersionExpirationDays }),
	intField("athenaResultsExpirationDays", func(p *EventlakeStackProps) *int { return &p.AthenaResultsExpirationDays }),
	durationField("iteratorAgeAlarm", func(p *EventlakeStackProps) *time.Duration { return &p.IteratorAgeAlarm }),
	durationField("dataFreshnessAlarm", func(p *EventlakeStackProps) *time.Duration { return &p.DataFreshnessAlarm }),
	stringField("partitionProjectionStart", func(p *EventlakeStackProps) *string { return &p.PartitionProjectionStart }),
	boolField("disableSummary", func(p *EventlakeStackProps) *bool { return &p.DisableSummary }),
	durationField("summaryWindow", func(p *EventlakeStackProps) *time.Duration { return &p.SummaryWindow }),
	boolField("disableCollector", func(p *EventlakeStackProps) *bool { return &p.DisableCollector }),
	{"collectorRoutes", func(p *EventlakeStackProps, v string) error {
		// page_view=lake,click=lake; Validate checks the types and routes.
		routes := map[string]tracker.Route{}
		for _, item := range strings.Split(v, ",") {
			if item = strings.TrimSpace(item); item == "" {
				continue
			}
			typ, route, ok := strings.Cut(item, "=")
			if !ok {
				return fmt.Errorf("%q is not type=route (page_view=lake,click=lake)", item)
			}
			routes[strings.TrimSpace(typ)] = tracker.Route(strings.TrimSpace(route))
		}
		collectorOf(p).Routes = routes
		return nil
	}},
	{"collectorThrottleRate", func(p *EventlakeStackProps, v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number of requests per second", v)
		}
		collectorOf(p).ThrottleRate = f
		return nil
	}},
	intField("collectorThrottleBurst", func(p *EventlakeStackProps) *int { return &collectorOf(p).ThrottleBurst }),
	{"collectorAllowedOrigins", func(p *EventlakeStackProps, v string) error {
		var origins []string
		for _, o := range strings.Split(v, ",") {
			if o = strings.TrimSpace(o); o != "" {
				origins = append(origins, o)
			}
		}
		collectorOf(p).AllowedOrigins = origins
		return nil
	}},
	stringField("collectorDomainName", func(p *EventlakeStackProps) *string { return &collectorOf(p).DomainName }),
	stringField("collectorCertificateArn", func(p *EventlakeStackProps) *string { return &collectorOf(p).CertificateArn }),
	stringField("collectorIPPolicy", func(p *EventlakeStackProps) *string { return &collectorOf(p).IPPolicy }),
	intField("collectorRetentionDays", func(p *EventlakeStackProps) *int { return &collectorOf(p).RetentionDays }),
	boolField("disableAnalytics", func(p *EventlakeStackProps) *bool { return &p.DisableAnalytics }),
	stringField("analyticsJwtIssuer", func(p *EventlakeStackProps) *string { return &analyticsOf(p).JwtIssuer }),
	{"analyticsJwtAudience", func(p *EventlakeStackProps, v string) error {
		analyticsOf(p).JwtAudience = splitList(v)
		return nil
	}},
	{"analyticsJwtScopes", func(p *EventlakeStackProps, v string) error {
		analyticsOf(p).JwtScopes = splitList(v)
		return nil
	}},
	{"analyticsThrottleRate", func(p *EventlakeStackProps, v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number of requests per second", v)
		}
		analyticsOf(p).ThrottleRate = f
		return nil
	}},
	intField("analyticsThrottleBurst", func(p *EventlakeStackProps) *int { return &analyticsOf(p).ThrottleBurst }),
	stringField("analyticsUserUrlPrefix", func(p *EventlakeStackProps) *string { return &analyticsOf(p).UserURLPrefix }),
	intField("analyticsConcurrency", func(p *EventlakeStackProps) *int { return &analyticsOf(p).Concurrency }),
	{"analyticsBytesScannedAlarm", func(p *EventlakeStackProps, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number of bytes", v)
		}
		analyticsOf(p).BytesScannedAlarm = n
		return nil
	}},
}

// analyticsOf returns p's analytics options, setting them when they are
// not set yet: an analytics* key configures the analytics.
func analyticsOf(p *EventlakeStackProps) *eventlake.AnalyticsOptions {
	if p.Analytics == nil {
		p.Analytics = &eventlake.AnalyticsOptions{}
	}
	return p.Analytics
}

// splitList splits a comma-separated context value, dropping empty items.
func splitList(v string) []string {
	var items []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}

// collectorOf returns p's collector options, setting them when they are
// not set yet: a collector* key configures the collector.
func collectorOf(p *EventlakeStackProps) *eventlake.CollectorOptions {
	if p.Collector == nil {
		p.Collector = &eventlake.CollectorOptions{}
	}
	return p.Collector
}

// ContextKeys returns every context key PropsFromContext reads, with
// ContextPrefix, sorted.
func ContextKeys() []string {
	keys := []string{ContextPrefix + "region", ContextPrefix + "account"}
	for _, f := range contextFields {
		keys = append(keys, ContextPrefix+f.key)
	}
	sort.Strings(keys)
	return keys
}

// PropsFromContext builds the stack props from CDK context values (get is
// typically app.Node().TryGetContext) and the environment (getenv is
// typically os.Getenv). Context values may be strings (from -c) or JSON
// numbers (from cdk.json); empty values mean the default. The region is
// eventlake:region, else CDK_DEFAULT_REGION, else DefaultRegion; the account
// is eventlake:account, else CDK_DEFAULT_ACCOUNT, else left to deploy time.
// A value that does not parse is reported in an *eventlake.PropsError naming
// its key; PropsFromContext does not run Validate. The collector's options
// are eventlake:collector<Option> (eventlake:collectorRoutes is
// "page_view=lake,click=lake", eventlake:collectorAllowedOrigins is
// comma-separated); eventlake:disableCollector leaves it out. The
// analytics' options are eventlake:analytics<Option>
// (eventlake:analyticsJwtAudience and analyticsJwtScopes are
// comma-separated); eventlake:disableAnalytics leaves them out. The
// pipeline's typed props (existing tables, billing, alarm topic) have no
// context keys: set them in Go.
func PropsFromContext(get func(key *string) interface{}, getenv func(string) string) (*EventlakeStackProps, error) {
	p := &EventlakeStackProps{}
	var probs []eventlake.FieldProblem
	for _, f := range contextFields {
		v := contextString(get(jsii.String(ContextPrefix + f.key)))
		if v == "" {
			continue
		}
		if err := f.set(p, v); err != nil {
			probs = append(probs, eventlake.FieldProblem{Field: ContextPrefix + f.key, Reason: err.Error()})
		}
	}
	if len(probs) > 0 {
		return nil, &eventlake.PropsError{Problems: probs}
	}
	region := firstNonEmpty(contextString(get(jsii.String(ContextPrefix+"region"))), getenv("CDK_DEFAULT_REGION"), DefaultRegion)
	env := &awscdk.Environment{Region: jsii.String(region)}
	if account := firstNonEmpty(contextString(get(jsii.String(ContextPrefix+"account"))), getenv("CDK_DEFAULT_ACCOUNT")); account != "" {
		env.Account = jsii.String(account)
	}
	p.Env = env
	return p, nil
}

// contextString renders a context value: JSON numbers without a fraction
// print as integers.
func contextString(v interface{}) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return strings.TrimSpace(x)
	case *string:
		if x == nil {
			return ""
		}
		return strings.TrimSpace(*x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case *float64:
		if x == nil {
			return ""
		}
		return strconv.FormatFloat(*x, 'f', -1, 64)
	default:
		return strings.TrimSpace(fmt.Sprint(x))
	}
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
