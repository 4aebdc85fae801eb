package stack

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/eventlake/eventlake/infra/eventlake"
	"github.com/eventlake/eventlake/infra/internal/testenv"
)

type obj = map[string]interface{}

// check runs one assertion; the CDK's assertions panic on failure.
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

var (
	stackOnce sync.Once
	theStack  *EventlakeStack
	theTmpl   assertions.Template
	stackErr  error
)

// defaultStack synthesizes the stack with default props (and an alarm
// email) once, with cdk.json's context and cdk-nag, as the app does.
func defaultStack(t *testing.T) (*EventlakeStack, assertions.Template) {
	t.Helper()
	stackOnce.Do(func() {
		outdir, err := os.MkdirTemp(filepath.Dir(lambdasDir), "cdk-out-")
		if err != nil {
			stackErr = err
			return
		}
		defer func() {
			if r := recover(); r != nil {
				stackErr = fmt.Errorf("synthesize: %v", r)
			}
		}()
		cdkContext, err := testenv.CDKContext()
		if err != nil {
			stackErr = err
			return
		}
		app := awscdk.NewApp(&awscdk.AppProps{Context: &cdkContext, Outdir: jsii.String(outdir)})
		awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
		theStack, stackErr = NewEventlakeStack(app, "Eventlake", &EventlakeStackProps{
			StackProps:    awscdk.StackProps{Env: &awscdk.Environment{Region: jsii.String("us-east-1")}},
			PipelineProps: eventlake.PipelineProps{LambdasDir: lambdasDir, AlarmEmail: "ops@example.com"},
		})
		if stackErr != nil {
			return
		}
		role := awsiam.NewRole(theStack.Stack, jsii.String("AppRole"), &awsiam.RoleProps{
			AssumedBy: awsiam.NewServicePrincipal(jsii.String("ecs-tasks.amazonaws.com"), nil),
		})
		theStack.GrantTracker(role)
		theStack.GrantQuery(role)
		cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{{
			Id:     jsii.String("AwsSolutions-IAM5"),
			Reason: jsii.String("A test-only application role: the grants under test use index and object wildcards by design."),
		}}, jsii.Bool(true))
		theTmpl = assertions.Template_FromStack(theStack.Stack, nil)
	})
	if stackErr != nil {
		t.Fatal(stackErr)
	}
	return theStack, theTmpl
}

func logicalID(c constructs.IConstruct) string {
	el, ok := c.(awscdk.CfnElement)
	if !ok {
		el = c.Node().DefaultChild().(awscdk.CfnElement)
	}
	return *awscdk.Stack_Of(c).GetLogicalId(el)
}

func TestOutputs(t *testing.T) {
	s, tmpl := defaultStack(t)
	p := s.Pipeline
	ref := func(c constructs.IConstruct) obj { return obj{"Ref": logicalID(c)} }
	arn := func(c constructs.IConstruct) obj { return obj{"Fn::GetAtt": []interface{}{logicalID(c), "Arn"}} }
	for name, value := range map[string]interface{}{
		"EventsTableName":          ref(p.Tables.Events),
		"SummaryTableName":         ref(p.Tables.Summary),
		"LakeBucketName":           ref(p.Lake.Bucket),
		"DeliveryStreamName":       ref(p.Delivery.Stream),
		"RelayFunctionName":        ref(p.Relay.Function),
		"OnFailureQueueUrl":        ref(p.Relay.OnFailure),
		"GlueDatabaseName":         ref(p.Catalog.Database),
		"AthenaWorkGroupName":      ref(p.Catalog.WorkGroup),
		"AthenaResultsBucketName":  ref(p.Catalog.Results),
		"AlarmTopicArn":            ref(p.Monitoring.Topic),
		"DashboardName":            ref(p.Monitoring.Dashboard),
		"TablesKeyArn":             arn(p.Tables.Key),
		"LakeKeyArn":               arn(p.Lake.Key),
		"SummaryFunctionName":      ref(p.Summary.Function),
		"SummaryOnFailureQueueUrl": ref(p.Summary.OnFailure),
		"CompactionFunctionName":   ref(s.Maintenance.Compaction.Function),
		// The collector, deployed by default.
		"CollectorWriteKeysSecretArn": ref(p.Collector.Secret),
		"CollectorFunctionName":       ref(p.Collector.Function),
		"CollectorUrl": obj{"Fn::Join": []interface{}{"", []interface{}{
			"https://", ref(p.Collector.Api), ".execute-api.us-east-1.", obj{"Ref": "AWS::URLSuffix"}, "/",
		}}},
		// The analytics, deployed by default.
		"AnalyticsFunctionName": ref(p.Analytics.Function),
		"AnalyticsUrl": obj{"Fn::Join": []interface{}{"", []interface{}{
			"https://", ref(p.Analytics.Api), ".execute-api.us-east-1.", obj{"Ref": "AWS::URLSuffix"}, "/",
		}}},
	} {
		check(t, "output "+name, func() { tmpl.HasOutput(jsii.String(name), obj{"Value": value}) })
	}
	// No custom domain, so no DNS target.
	if outs := tmpl.FindOutputs(jsii.String("CollectorDomainTarget"), nil); len(*outs) != 0 {
		t.Errorf("CollectorDomainTarget without a custom domain: %v", *outs)
	}
}

// TestCollectorIsDeployedByDefault: the stack deploys the collector with
// its default options unless DisableCollector; options and
// DisableCollector together are an error; the caller's props are not
// changed.
func TestCollectorIsDeployedByDefault(t *testing.T) {
	s, _ := defaultStack(t)
	if s.Pipeline.Collector == nil {
		t.Fatal("the default stack has no collector")
	}
	if got := s.Pipeline.Collector.Options.ThrottleRate; got != eventlake.DefaultCollectorThrottleRate {
		t.Errorf("collector throttle %v", got)
	}
	props := EventlakeStackProps{PipelineProps: eventlake.PipelineProps{LambdasDir: lambdasDir}}
	if err := props.Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	if props.Collector != nil {
		t.Error("Validate set the caller's Collector")
	}
	props.DisableCollector = true
	props.Collector = &eventlake.CollectorOptions{}
	if err := props.Validate(); err == nil || !strings.Contains(err.Error(), "DisableCollector") {
		t.Errorf("options with DisableCollector: %v", err)
	}
	// The collector's binary is needed only with the collector.
	noCollector := t.TempDir()
	for _, name := range []string{eventlake.RelayFunctionName, eventlake.SummaryFunctionName, eventlake.AnalyticsFunctionName} {
		if err := os.MkdirAll(filepath.Join(noCollector, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(noCollector, name, "bootstrap"), []byte("binary"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := (EventlakeStackProps{PipelineProps: eventlake.PipelineProps{LambdasDir: noCollector}, DisableCollector: true}).Validate(); err != nil {
		t.Errorf("without the collector: %v", err)
	}
	if err := (EventlakeStackProps{PipelineProps: eventlake.PipelineProps{LambdasDir: noCollector}}).Validate(); err == nil ||
		!strings.Contains(err.Error(), eventlake.CollectorFunctionName) {
		t.Errorf("with the collector and no binary: %v", err)
	}
}

// TestAnalyticsAreDeployedByDefault: the stack deploys the analytics
// API and dashboard with IAM authorization unless DisableAnalytics;
// options and DisableAnalytics together are an error; the caller's props
// are not changed; the analytics' binary is needed only with them.
func TestAnalyticsAreDeployedByDefault(t *testing.T) {
	s, tmpl := defaultStack(t)
	a := s.Pipeline.Analytics
	if a == nil {
		t.Fatal("the default stack has no analytics")
	}
	if a.Authorizer != nil || a.Options.ThrottleRate != eventlake.DefaultAnalyticsThrottleRate {
		t.Errorf("analytics authorizer %v, throttle %v", a.Authorizer, a.Options.ThrottleRate)
	}
	routes := tmpl.FindResources(jsii.String("AWS::ApiGatewayV2::Route"), obj{"Properties": obj{"AuthorizationType": "AWS_IAM"}})
	if len(*routes) != 4 {
		t.Errorf("%d IAM-authorized routes, want the analytics' 4", len(*routes))
	}
	props := EventlakeStackProps{PipelineProps: eventlake.PipelineProps{LambdasDir: lambdasDir}}
	if err := props.Validate(); err != nil || props.Analytics != nil {
		t.Errorf("defaults: %v; caller's Analytics %v", err, props.Analytics)
	}
	props.DisableAnalytics = true
	props.Analytics = &eventlake.AnalyticsOptions{}
	if err := props.Validate(); err == nil || !strings.Contains(err.Error(), "DisableAnalytics") {
		t.Errorf("options with DisableAnalytics: %v", err)
	}
	partial := t.TempDir()
	for _, name := range []string{eventlake.RelayFunctionName, eventlake.SummaryFunctionName, eventlake.CollectorFunctionName} {
		if err := os.MkdirAll(filepath.Join(partial, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(partial, name, "bootstrap"), []byte("binary"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := (EventlakeStackProps{PipelineProps: eventlake.PipelineProps{LambdasDir: partial}, DisableAnalytics: true}).Validate(); err != nil {
		t.Errorf("without the analytics: %v", err)
	}
	if err := (EventlakeStackProps{PipelineProps: eventlake.PipelineProps{LambdasDir: partial}}).Validate(); err == nil ||
		!strings.Contains(err.Error(), eventlake.AnalyticsFunctionName) {
		t.Errorf("with the analytics and no binary: %v", err)
	}
}

// TestLogicalIDsAreStable pins the logical IDs of what the stack retains
// (tables, keys, buckets) and of the event source mapping to the IDs the
// stack gave them before the pipeline became a construct (PipelineID), so
// an existing deployment updates in place: new IDs would leave the retained
// tables and buckets behind and create empty ones, and a new mapping would
// read the stream again from its start.
func TestLogicalIDsAreStable(t *testing.T) {
	s, _ := defaultStack(t)
	p := s.Pipeline
	for want, c := range map[string]constructs.IConstruct{
		"TablesEventsE8DD42EA":        p.Tables.Events,
		"TablesSummary5A2FDF5E":       p.Tables.Summary,
		"TablesKeyD3984C03":           p.Tables.Key,
		"LakeKey7B6C155C":             p.Lake.Key,
		"LakeBucketB1D32E10":          p.Lake.Bucket,
		"LakeAccessLogs4431AB8D":      p.Lake.AccessLogs,
		"CatalogResults4BE287F2":      p.Catalog.Results,
		"CatalogDatabase44483CA3":     p.Catalog.Database,
		"CatalogTable610396BE":        p.Catalog.Table,
		"OpsKey802FB888":              p.OpsKey,
		"RelayFunctionE902C34E":       p.Relay.Function,
		"RelayOnFailure9E3B56AD":      p.Relay.OnFailure,
		"MonitoringDashboard0C3675C6": p.Monitoring.Dashboard,
	} {
		if got := logicalID(c); got != want {
			t.Errorf("%s has logical ID %s, want %s", *c.Node().Path(), got, want)
		}
	}
	mapping := p.Relay.Function.Node().TryFindChild(jsii.String("DynamoDBEventSource:EventlakeTablesEventsFB065BCC"))
	if mapping == nil {
		t.Fatal("no event source mapping under the relay function with the pre-construct ID")
	}
	if got := logicalID(mapping); got != "RelayFunctionDynamoDBEventSourceEventlakeTablesEventsFB065BCC3431D435" {
		t.Errorf("event source mapping logical ID %s", got)
	}
}

// TestStackIsNagCleanAndTagged: cdk-nag finds nothing unsuppressed, and
// every taggable resource but the dashboard carries eventlake=<prefix>.
func TestStackIsNagCleanAndTagged(t *testing.T) {
	s, tmpl := defaultStack(t)
	ann := assertions.Annotations_FromStack(s.Stack)
	rule := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))
	check(t, "cdk-nag errors", func() { ann.HasNoError(jsii.String("*"), rule) })
	check(t, "cdk-nag warnings", func() { ann.HasNoWarning(jsii.String("*"), rule) })
	for _, typ := range []string{"AWS::S3::Bucket", "AWS::KMS::Key", "AWS::Lambda::Function", "AWS::SQS::Queue", "AWS::KinesisFirehose::DeliveryStream"} {
		check(t, typ+" tagged", func() {
			tmpl.AllResourcesProperties(jsii.String(typ), obj{
				"Tags": assertions.Match_ArrayWith(&[]interface{}{obj{"Key": eventlake.TagKey, "Value": eventlake.DefaultNamePrefix}}),
			})
		})
	}
}

// TestCDKDeployBuildsTheLambdas: cdk.json's build step (which the CDK CLI
// runs before synth, diff and deploy) is `make lambdas`, and that target
// builds every Lambda for arm64 where the stack takes its code from.
func TestCDKDeployBuildsTheLambdas(t *testing.T) {
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	build, err := testenv.CDKBuild()
	if err != nil {
		t.Fatal(err)
	}
	if build != "make lambdas" {
		t.Fatalf(`cdk.json "build" is %q, want "make lambdas"`, build)
	}
	cmd := exec.Command("make", "-n", "--no-print-directory", "lambdas")
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("make -n lambdas: %v\n%s", err, out.String())
	}
	script := out.String()
	for _, want := range []string{"GOOS=linux GOARCH=arm64 CGO_ENABLED=0", "-tags lambda.norpc",
		"-o " + eventlake.DefaultLambdasDir + "/$l/bootstrap", "./lambdas/$l", eventlake.RelayFunctionName, eventlake.SummaryFunctionName, eventlake.CollectorFunctionName, eventlake.AnalyticsFunctionName} {
		if !strings.Contains(script, want) {
			t.Errorf("make lambdas does not %q:\n%s", want, script)
		}
	}
}
