package eventlake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	cw "github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/eventlake/eventlake/infra/internal/testenv"
	"github.com/eventlake/eventlake/tracker"
)

// tempRoot holds what the tests write: lambdasDir, the real Lambdas built
// once by TestMain, the cloud assemblies and the templates cfn-lint reads.
var tempRoot, lambdasDir string

func TestMain(m *testing.M) {
	testenv.QuietJSII()
	var err error
	tempRoot, err = os.MkdirTemp("", "eventlake-infra-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	lambdasDir = filepath.Join(tempRoot, "lambdas")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	_, err = testenv.BuildLambdas(ctx, lambdasDir)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "the infra tests synthesize the real Lambdas:", err)
		os.RemoveAll(tempRoot)
		os.Exit(1)
	}
	code := m.Run()
	jsii.Close()
	os.RemoveAll(tempRoot)
	os.Exit(code)
}

// check runs one assertion. The CDK's assertions panic on failure; check
// turns that into a test error naming what was checked, so one failed check
// does not hide the others.
func check(t *testing.T, what string, fn func()) {
	t.Helper()
	defer func() {
		t.Helper()
		if r := recover(); r != nil {
			t.Errorf("%s: %v", what, r)
		}
	}()
	fn()
}

// synthesized is one pipeline synthesized in a stack of its own app, with
// cdk-nag applied as eventlake's app applies it.
type synthesized struct {
	Stack    awscdk.Stack
	Pipeline *Pipeline
	Template assertions.Template
	// JSON is the template as plain Go values; File is it written to disk.
	JSON map[string]interface{}
	File string
	// Annotations are the stack's messages, cdk-nag's among them.
	Annotations assertions.Annotations
}

type fixture struct {
	once sync.Once
	s    *synthesized
	err  error
}

var (
	fixturesMu sync.Mutex
	fixtures   = map[string]*fixture{}
)

// synth synthesizes, once per name and test binary (synthesis takes
// seconds), a stack in us-east-1 holding the pipeline that define builds,
// and shares it between tests. It fails the test if the pipeline cannot be
// built.
func synth(t *testing.T, name string, define func(st awscdk.Stack) (*Pipeline, error)) *synthesized {
	t.Helper()
	fixturesMu.Lock()
	f, ok := fixtures[name]
	if !ok {
		f = &fixture{}
		fixtures[name] = f
	}
	fixturesMu.Unlock()
	f.once.Do(func() {
		// The assembly stays until TestMain ends: Annotations_FromStack
		// synthesizes again into it.
		outdir, err := os.MkdirTemp(tempRoot, "cdk-out-")
		if err != nil {
			f.err = err
			return
		}
		defer func() {
			if r := recover(); r != nil {
				f.err = fmt.Errorf("synthesize %s: %v%s", name, r, validationReport(outdir))
			}
		}()
		// A "bare-" fixture is an app without cdk.json's feature flags, as
		// an adopter's older app may be.
		cdkContext := map[string]interface{}{}
		if !strings.HasPrefix(name, "bare-") {
			if cdkContext, err = testenv.CDKContext(); err != nil {
				f.err = err
				return
			}
		}
		app := awscdk.NewApp(&awscdk.AppProps{Context: &cdkContext, Outdir: jsii.String(outdir)})
		awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
		st := awscdk.NewStack(app, jsii.String("Test"), &awscdk.StackProps{
			Env: &awscdk.Environment{Region: jsii.String("us-east-1")},
		})
		pl, err := define(st)
		if err != nil {
			f.err = fmt.Errorf("define %s: %w", name, err)
			return
		}
		tmpl := assertions.Template_FromStack(st, nil)
		raw, err := json.MarshalIndent(tmpl.ToJSON(), "", " ")
		if err != nil {
			f.err = err
			return
		}
		var doc map[string]interface{}
		if err := json.Unmarshal(raw, &doc); err != nil {
			f.err = err
			return
		}
		file := filepath.Join(outdir, name+".template.json")
		if err := os.WriteFile(file, raw, 0o644); err != nil {
			f.err = err
			return
		}
		f.s = &synthesized{Stack: st, Pipeline: pl, Template: tmpl, JSON: doc, File: file, Annotations: assertions.Annotations_FromStack(st)}
	})
	if f.err != nil {
		t.Fatal(f.err)
	}
	return f.s
}

// validationReport renders the failed rules of the validation report a
// failed synthesis leaves in outdir (cdk-nag errors among them).
func validationReport(outdir string) string {
	raw, err := os.ReadFile(filepath.Join(outdir, "validation-report.json"))
	if err != nil {
		return ""
	}
	return "\n" + string(raw)
}

// withLambdas sets the test's build of the Lambdas.
func withLambdas(p PipelineProps) *PipelineProps {
	p.LambdasDir = lambdasDir
	return &p
}

// defaultStack is the pipeline with default props, an alarm email and the
// collector with its default options (as eventlake's stack deploys it), in
// a stack that tags everything (the dashboard must still carry no tags).
func defaultStack(t *testing.T) *synthesized {
	return synth(t, "parquet-defaults", func(st awscdk.Stack) (*Pipeline, error) {
		awscdk.Tags_Of(st).Add(jsii.String("team"), jsii.String("analytics"), nil)
		return NewPipeline(st, "Pipeline", withLambdas(PipelineProps{AlarmEmail: "ops@example.com", Collector: &CollectorOptions{}}))
	})
}

var jsonProps = PipelineProps{
	NamePrefix:                      "lake_json",
	Format:                          FormatJSON,
	TableClass:                      awsdynamodb.TableClass_STANDARD_INFREQUENT_ACCESS,
	BufferingInterval:               90 * time.Second,
	BufferingSizeMiB:                64,
	BatchSize:                       250,
	BatchingWindow:                  30 * time.Second,
	RetryAttempts:                   5,
	MaxRecordAge:                    2 * time.Hour,
	LogRetentionDays:                90,
	BytesScannedCutoff:              1 << 30,
	NoncurrentVersionExpirationDays: 7,
	SummaryWindow:                   5 * time.Minute,
	Collector:                       &tunedCollector,
}

// tunedCollector is the collector of jsonStack: every option set, a
// custom domain among them.
var tunedCollector = CollectorOptions{
	Routes:         map[string]tracker.Route{"page_view": tracker.RouteLake, "click": tracker.RouteLake, "login": tracker.RouteHot},
	ThrottleRate:   50.5,
	ThrottleBurst:  120,
	AllowedOrigins: []string{"https://shop.example", "http://localhost:3000"},
	DomainName:     "events.shop.example",
	CertificateArn: "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789",
	IPPolicy:       "anonymize",
	RetentionDays:  180,
}

// jsonStack is the GZIP JSON variant with tuned props (standard-IA tables
// with provisioned billing among them), extended with an application role
// that is granted tracker and query access.
func jsonStack(t *testing.T) *synthesized {
	return synth(t, "json-tuned", func(st awscdk.Stack) (*Pipeline, error) {
		p := jsonProps
		p.Billing = awsdynamodb.Billing_Provisioned(&awsdynamodb.ThroughputProps{
			ReadCapacity:  awsdynamodb.Capacity_Fixed(jsii.Number(5)),
			WriteCapacity: awsdynamodb.Capacity_Autoscaled(&awsdynamodb.AutoscaledCapacityOptions{MaxCapacity: jsii.Number(50)}),
		})
		pl, err := NewPipeline(st, "Pipeline", withLambdas(p))
		if err == nil {
			addAppRole(st, pl)
		}
		return pl, err
	})
}

// noSummaryStack is the default pipeline without the summary consumer.
func noSummaryStack(t *testing.T) *synthesized {
	return synth(t, "no-summary", func(st awscdk.Stack) (*Pipeline, error) {
		return NewPipeline(st, "Pipeline", withLambdas(PipelineProps{DisableSummary: true}))
	})
}

// bareStack is the default pipeline with the collector in an app without
// any of cdk.json's feature flags.
func bareStack(t *testing.T) *synthesized {
	return synth(t, "bare-defaults", func(st awscdk.Stack) (*Pipeline, error) {
		return NewPipeline(st, "Pipeline", withLambdas(PipelineProps{Collector: &CollectorOptions{}}))
	})
}

// The existing resources of existingStack.
const (
	existingEventsArn  = "arn:aws:dynamodb:us-east-1:123456789012:table/app-events"
	existingStreamArn  = existingEventsArn + "/stream/2026-01-01T00:00:00.000"
	existingKeyArn     = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
	existingSummaryArn = "arn:aws:dynamodb:us-east-1:123456789012:table/app-summary"
	existingTopicArn   = "arn:aws:sns:us-east-1:123456789012:ops-alarms"
)

// existingStack is the pipeline on an application's existing tables, a v1
// Table (events, with its stream and key) and a TableV2 (summary), both
// imported, alarming to an existing topic, with a collector that sends
// impressions to the lake; an application role gets the tracker's access.
func existingStack(t *testing.T) *synthesized {
	return synth(t, "existing-tables", func(st awscdk.Stack) (*Pipeline, error) {
		events := awsdynamodb.Table_FromTableAttributes(st, jsii.String("AppEvents"), &awsdynamodb.TableAttributes{
			TableArn:       jsii.String(existingEventsArn),
			TableStreamArn: jsii.String(existingStreamArn),
			EncryptionKey:  awskms.Key_FromKeyArn(st, jsii.String("AppKey"), jsii.String(existingKeyArn)),
		})
		summary := awsdynamodb.TableV2_FromTableAttributes(st, jsii.String("AppSummary"), &awsdynamodb.TableAttributesV2{
			TableArn: jsii.String(existingSummaryArn),
		})
		pl, err := NewPipeline(st, "Pipeline", withLambdas(PipelineProps{
			EventsTable:  events,
			SummaryTable: summary,
			AlarmTopic:   awssns.Topic_FromTopicArn(st, jsii.String("OpsTopic"), jsii.String(existingTopicArn)),
			Collector:    &CollectorOptions{Routes: map[string]tracker.Route{"impression": tracker.RouteLake}},
		}))
		if err == nil {
			addAppRole(st, pl)
		}
		return pl, err
	})
}

// addAppRole defines the role an application would bring and grants it the
// tracker's and the query runner's access.
func addAppRole(st awscdk.Stack, pl *Pipeline) {
	role := awsiam.NewRole(st, jsii.String("AppRole"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("ecs-tasks.amazonaws.com"), nil),
	})
	pl.GrantTracker(role)
	pl.GrantQuery(role)
	cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("A test-only application role: the grants under test use index and object wildcards by design."),
	}}, jsii.Bool(true))
}

// resource is one template resource.
type resource struct {
	ID    string
	Type  string
	Props map[string]interface{}
	Raw   map[string]interface{}
}

// resources returns the resources of type typ, sorted by logical ID.
func (s *synthesized) resources(typ string) []resource {
	var out []resource
	for id, v := range s.JSON["Resources"].(map[string]interface{}) {
		r := v.(map[string]interface{})
		if r["Type"] != typ {
			continue
		}
		props, _ := r["Properties"].(map[string]interface{})
		out = append(out, resource{ID: id, Type: typ, Props: props, Raw: r})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// one returns the only resource of typ for which match is true (match nil:
// any), failing the test otherwise.
func (s *synthesized) one(t *testing.T, typ string, match func(resource) bool) resource {
	t.Helper()
	var found []resource
	for _, r := range s.resources(typ) {
		if match == nil || match(r) {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want exactly one %s matching, found %d", typ, len(found))
	}
	return found[0]
}

// id is the logical ID of c's default resource.
func (s *synthesized) id(c constructs.IConstruct) string { return logicalID(c) }

// ref and getAtt are the intrinsic functions as the template holds them.
func ref(id string) map[string]interface{} { return map[string]interface{}{"Ref": id} }
func getAtt(id, attr string) map[string]interface{} {
	return map[string]interface{}{"Fn::GetAtt": []interface{}{id, attr}}
}

// path walks nested maps and slices: keys are map keys or slice indexes.
func path(v interface{}, keys ...interface{}) interface{} {
	for _, k := range keys {
		switch x := v.(type) {
		case map[string]interface{}:
			v = x[k.(string)]
		case []interface{}:
			i := k.(int)
			if i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// show renders a policy resource: strings as they are, Ref as ${ID},
// Fn::GetAtt as ${ID.Attr}, Fn::Join joined.
func show(v interface{}) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]interface{}:
		if r, ok := x["Ref"].(string); ok {
			return "${" + r + "}"
		}
		if g, ok := x["Fn::GetAtt"].([]interface{}); ok && len(g) == 2 {
			return "${" + g[0].(string) + "." + g[1].(string) + "}"
		}
		if j, ok := x["Fn::Join"].([]interface{}); ok && len(j) == 2 {
			parts := j[1].([]interface{})
			strs := make([]string, len(parts))
			for i, p := range parts {
				strs[i] = show(p)
			}
			return strings.Join(strs, j[0].(string))
		}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// render flattens an Fn::Join into a string, writing other intrinsics as
// <token>.
func render(v interface{}) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]interface{}:
		if j, ok := x["Fn::Join"].([]interface{}); ok && len(j) == 2 {
			parts := j[1].([]interface{})
			strs := make([]string, len(parts))
			for i, p := range parts {
				strs[i] = render(p)
			}
			return strings.Join(strs, j[0].(string))
		}
	}
	return "<token>"
}

// rolePolicyGrants collects what the IAM policies attached to the role with
// logical ID roleID allow, as "action resource" strings (resources rendered
// by show).
func (s *synthesized) rolePolicyGrants(t *testing.T, roleID string) map[string]bool {
	t.Helper()
	allowed := map[string]bool{}
	for _, p := range s.resources("AWS::IAM::Policy") {
		roles, _ := p.Props["Roles"].([]interface{})
		attached := false
		for _, r := range roles {
			if show(r) == "${"+roleID+"}" {
				attached = true
			}
		}
		if !attached {
			continue
		}
		for _, stmt := range path(p.Props, "PolicyDocument", "Statement").([]interface{}) {
			if path(stmt, "Effect") != "Allow" {
				t.Errorf("policy %s has a statement that is not Allow: %v", p.ID, stmt)
			}
			g := grants{}
			g.addStatement(stmt.(map[string]interface{}))
			for res, actions := range g {
				var v interface{}
				_ = json.Unmarshal([]byte(res), &v)
				for _, a := range actions {
					allowed[a+" "+show(v)] = true
				}
			}
		}
	}
	return allowed
}

// someLambdas is a LambdasDir holding a stand-in bootstrap binary for each
// of names only: what a build without the other functions leaves.
func someLambdas(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range names {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "bootstrap"), []byte("binary"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// checkProblemFields fails t unless err is nil when fields is, or else a
// *PropsError naming exactly fields (in any order).
func checkProblemFields(t *testing.T, err error, fields []string) {
	t.Helper()
	if fields == nil {
		if err != nil {
			t.Fatalf("Validate = %v", err)
		}
		return
	}
	var pe *PropsError
	if !errors.As(err, &pe) {
		t.Fatalf("Validate = %v, want %v", err, fields)
	}
	var got []string
	for _, p := range pe.Problems {
		got = append(got, p.Field)
	}
	sort.Strings(got)
	want := append([]string(nil), fields...)
	sort.Strings(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems %v, want %v", pe.Problems, fields)
	}
}

// alarmSpec is what the alarm tests pin of one alarm.
type alarmSpec struct {
	Metric, Statistic string
	Period            float64
	Threshold         float64
	Operator          string
	Periods           float64
}

// alarmSpecs reads the template's alarms among alarms, keyed by
// "<namespace> <metric> <dimension values...>", and fails t for an alarm
// with a thin description, without exactly one action, or alarming on
// fewer datapoints than it evaluates.
func (s *synthesized) alarmSpecs(t *testing.T, alarms []cw.Alarm) map[string]alarmSpec {
	t.Helper()
	ids := map[string]bool{}
	for _, a := range alarms {
		ids[s.id(a)] = true
	}
	got := map[string]alarmSpec{}
	for _, a := range s.resources("AWS::CloudWatch::Alarm") {
		if !ids[a.ID] {
			continue
		}
		p := a.Props
		key := p["Namespace"].(string) + " " + p["MetricName"].(string) + " "
		var dims []string
		for _, d := range asArr(p["Dimensions"]) {
			dims = append(dims, show(path(d, "Value")))
		}
		key += strings.Join(dims, " ")
		stat, _ := p["Statistic"].(string)
		if ext, ok := p["ExtendedStatistic"].(string); ok {
			stat = ext
		}
		got[key] = alarmSpec{p["MetricName"].(string), stat, p["Period"].(float64),
			p["Threshold"].(float64), p["ComparisonOperator"].(string), p["EvaluationPeriods"].(float64)}
		if p["DatapointsToAlarm"] != nil && p["DatapointsToAlarm"] != p["EvaluationPeriods"] {
			t.Errorf("alarm %s: %v of %v datapoints", a.ID, p["DatapointsToAlarm"], p["EvaluationPeriods"])
		}
		if len(p["AlarmDescription"].(string)) < 80 || len(asArr(p["AlarmActions"])) != 1 {
			t.Errorf("alarm %s: description %q, actions %v", a.ID, p["AlarmDescription"], p["AlarmActions"])
		}
	}
	return got
}

// checkGoFunction checks what every NewGoFunction function of the template
// must be: its code the real build (an S3 asset), waiting for its role's
// policy and for nothing else (the role it names by ARN needs no
// DependsOn: cfn-lint W3005), and its role trusted by Lambda alone,
// without managed policies.
func (s *synthesized) checkGoFunction(t *testing.T, what string, fn awslambda.Function, role awsiam.Role) {
	t.Helper()
	f := s.one(t, "AWS::Lambda::Function", func(x resource) bool { return x.ID == s.id(fn) })
	if _, ok := path(f.Props, "Code", "S3Key").(string); !ok {
		t.Errorf("%s function code is not an S3 asset: %v", what, f.Props["Code"])
	}
	if got, want := f.Raw["DependsOn"], (arr{logicalID(defaultPolicy(role))}); !reflect.DeepEqual(got, want) {
		t.Errorf("%s function DependsOn %v, want %v", what, got, want)
	}
	r := s.one(t, "AWS::IAM::Role", func(x resource) bool { return x.ID == s.id(role) })
	if r.Props["ManagedPolicyArns"] != nil {
		t.Errorf("%s role has managed policies %v", what, r.Props["ManagedPolicyArns"])
	}
	if p := path(r.Props, "AssumeRolePolicyDocument", "Statement", 0, "Principal", "Service"); p != "lambda.amazonaws.com" {
		t.Errorf("%s role trusts %v", what, p)
	}
}

// functionEnv is fn's environment as the template holds it, each
// reference rendered as a sample value: what the function's own
// ConfigFromEnv reads at cold start.
func (s *synthesized) functionEnv(t *testing.T, fn awslambda.Function) map[string]string {
	t.Helper()
	f := s.one(t, "AWS::Lambda::Function", func(x resource) bool { return x.ID == s.id(fn) })
	vars := map[string]string{}
	for k, v := range path(f.Props, "Environment", "Variables").(obj) {
		if str, ok := v.(string); ok {
			vars[k] = str
		} else {
			vars[k] = "sample-" + strings.ToLower(k)
		}
	}
	return vars
}
