package eventlake

import (
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/lake"
	"github.com/eventlake/eventlake/lambdas/streamtofirehose/relay"
)

// maintained is the Maintenance of maintenanceStack, set when it is
// synthesized.
var maintained *Maintenance

// maintenanceStack is the default pipeline with the collector and its
// maintenance, an operator role granted GrantOperate and an application
// role granted GrantSuppressionRead.
func maintenanceStack(t *testing.T) *synthesized {
	return synth(t, "maintenance", func(st awscdk.Stack) (*Pipeline, error) {
		pl, err := NewPipeline(st, "Pipeline", withLambdas(PipelineProps{Collector: &CollectorOptions{}}))
		if err != nil {
			return nil, err
		}
		m, err := NewMaintenance(st, "Maintenance", &MaintenanceProps{Pipeline: pl})
		if err != nil {
			return nil, err
		}
		maintained = m
		operator := awsiam.NewRole(st, jsii.String("Operator"), &awsiam.RoleProps{AssumedBy: awsiam.NewAccountRootPrincipal()})
		m.GrantOperate(operator)
		app := awsiam.NewRole(st, jsii.String("App"), &awsiam.RoleProps{AssumedBy: awsiam.NewServicePrincipal(jsii.String("ecs-tasks.amazonaws.com"), nil)})
		m.GrantSuppressionRead(app)
		suppressTestRoles(operator, app)
		return pl, nil
	})
}

// suppressTestRoles accepts the wildcards of the test's own roles (the
// grants under test use object and index wildcards by design).
func suppressTestRoles(roles ...awsiam.Role) {
	for _, r := range roles {
		cdknag.NagSuppressions_AddResourceSuppressions(r, &[]*cdknag.NagPackSuppression{{
			Id:     jsii.String("AwsSolutions-IAM5"),
			Reason: jsii.String("A test-only role: the grants under test use object and index wildcards by design."),
		}}, jsii.Bool(true))
	}
}

func TestMaintenanceIsNagAndLintClean(t *testing.T) {
	s := maintenanceStack(t)
	rule := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))
	check(t, "cdk-nag errors", func() { s.Annotations.HasNoError(jsii.String("*"), rule) })
	check(t, "cdk-nag warnings", func() { s.Annotations.HasNoWarning(jsii.String("*"), rule) })
	lintClean(t, s)
}

func TestCompactionFunctionAndSchedule(t *testing.T) {
	s := maintenanceStack(t)
	m, pl := maintained, s.Pipeline
	fn := s.one(t, "AWS::Lambda::Function", func(r resource) bool { return r.ID == s.id(m.Compaction.Function) })
	check(t, "function", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::Lambda::Function"), obj{
			"Runtime": "provided.al2023", "Architectures": arr{"arm64"}, "Handler": "bootstrap",
			"MemorySize": DefaultCompactionMemoryMiB, "Timeout": DefaultCompactionTimeout.Seconds(),
			"Environment": assertions.Match_Exact(obj{"Variables": obj{
				lake.EnvLakeBucket: ref(s.id(pl.Lake.Bucket)),
				lake.EnvWorkGroup:  ref(s.id(pl.Catalog.WorkGroup)),
				lake.EnvDatabase:   ref(s.id(pl.Catalog.Database)),
				lake.EnvFormat:     "parquet",
			}}),
		})
	})
	if fn.Props["Role"] == nil {
		t.Error("no role")
	}
	check(t, "schedule", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::Scheduler::Schedule"), obj{
			"ScheduleExpression": "cron(30 1 * * ? *)",
			"State":              "ENABLED",
			"Target": assertions.Match_ObjectLike(&map[string]interface{}{
				"Arn":              getAtt(s.id(m.Compaction.Function), "Arn"),
				"DeadLetterConfig": obj{"Arn": getAtt(s.id(m.DeadLetter), "Arn")},
				"RetryPolicy":      obj{"MaximumEventAgeInSeconds": 6 * 3600, "MaximumRetryAttempts": 2},
			}),
		})
	})
	check(t, "dead-letter queue encrypted with the ops key", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::SQS::Queue"), obj{"KmsMasterKeyId": getAtt(s.id(pl.OpsKey), "Arn")})
	})
	check(t, "staging expires", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::S3::Bucket"), obj{"LifecycleConfiguration": obj{"Rules": assertions.Match_ArrayWith(&[]interface{}{
			assertions.Match_ObjectLike(&map[string]interface{}{"Id": "maintenance-staging", "Prefix": "maintenance/staging/", "ExpirationInDays": StagingExpirationDays, "Status": "Enabled"}),
		})}})
	})
	// Alarms: failure, backlog, schedule's dead letters; each notifies the topic.
	for _, name := range []string{"CompactionFailed", "CompactionBacklog", "CompactionNotInvoked"} {
		found := false
		for _, a := range s.resources("AWS::CloudWatch::Alarm") {
			if strings.Contains(a.ID, name) {
				found = true
				if !reflect.DeepEqual(a.Props["AlarmActions"], arr{ref(s.id(pl.Monitoring.Topic))}) {
					t.Errorf("%s actions %v", name, a.Props["AlarmActions"])
				}
			}
		}
		if !found {
			t.Errorf("no alarm %s", name)
		}
	}
	check(t, "days remaining metric filter", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::Logs::MetricFilter"), obj{
			"FilterPattern": `{ $.msg = "` + lake.LogMessageCompaction + `" }`,
			"LogGroupName":  ref(s.id(m.Compaction.LogGroup)),
			"MetricTransformations": arr{obj{"MetricName": MetricCompactionDaysRemaining, "MetricNamespace": DefaultNamePrefix,
				"MetricValue": "$." + lake.LogFieldDaysRemaining}},
		})
	})
}

// TestCompactionRoleGrants pins the compaction role: exactly these actions
// on exactly these resources; deletes only under events/, identities/ (the
// identity links' old materializations) and maintenance/; Glue updates on
// the identities view alone.
func TestCompactionRoleGrants(t *testing.T) {
	s := maintenanceStack(t)
	m, pl := maintained, s.Pipeline
	got := s.rolePolicyGrants(t, s.id(m.Compaction.Role))
	bucket := "${" + s.id(pl.Lake.Bucket) + ".Arn}"
	key := "${" + s.id(pl.Lake.Key) + ".Arn}"
	for _, want := range []string{
		"s3:ListBucket " + bucket, "s3:ListBucketVersions " + bucket,
		"s3:DeleteObject " + bucket + "/events/*", "s3:DeleteObjectVersion " + bucket + "/events/*",
		"s3:PutObject " + bucket + "/maintenance/*", "s3:DeleteObject " + bucket + "/maintenance/*",
		"s3:PutObject " + bucket + "/identities/*", "s3:DeleteObject " + bucket + "/identities/*",
		"kms:Decrypt " + key, "kms:GenerateDataKey " + key,
		"athena:StartQueryExecution", "logs:PutLogEvents",
		"glue:UpdateTable arn:aws:glue:us-east-1:${AWS::AccountId}:table/${" + s.id(pl.Catalog.Database) + "}/" + athena.IdentitiesView,
	} {
		ok := got[want]
		if !ok && !strings.Contains(want, " ") {
			for g := range got {
				ok = ok || strings.HasPrefix(g, want+" ")
			}
		}
		if !ok {
			t.Errorf("compaction role lacks %s", want)
		}
	}
	for g := range got {
		action, res, _ := strings.Cut(g, " ")
		if strings.Contains(action, "*") && !strings.HasPrefix(action, "s3:GetBucket") && !strings.HasPrefix(action, "s3:GetObject") && !strings.HasPrefix(action, "s3:List") {
			t.Errorf("wildcard action %s", g)
		}
		if strings.Contains(action, "Delete") && !(strings.HasSuffix(res, "/events/*") || strings.HasSuffix(res, "/identities/*") ||
			strings.HasSuffix(res, "/maintenance/*")) {
			t.Errorf("delete outside events/, identities/ and maintenance/: %s", g)
		}
		if action == "glue:UpdateTable" && strings.HasPrefix(res, "arn:aws:glue:us-east-1:${AWS::AccountId}:table/") &&
			!strings.HasSuffix(res, "/"+athena.IdentitiesView) {
			t.Errorf("the compaction role may update another table: %s", g)
		}
		if strings.HasPrefix(action, "glue:") && (strings.Contains(action, "Create") || strings.Contains(action, "Delete")) {
			t.Errorf("the compaction role may %s", g)
		}
		if strings.Contains(res, "/errors/") {
			t.Errorf("the compaction role reaches errors/: %s", g)
		}
	}
}

// TestOperatorGrants: an operator role granted GrantOperate may also scrub
// the error output (forget), which the compaction role may not touch.
func TestOperatorGrants(t *testing.T) {
	s := maintenanceStack(t)
	pl := s.Pipeline
	var operator string
	for _, r := range s.resources("AWS::IAM::Role") {
		if strings.HasPrefix(r.ID, "Operator") {
			operator = r.ID
		}
	}
	got := s.rolePolicyGrants(t, operator)
	errorsArn := "${" + s.id(pl.Lake.Bucket) + ".Arn}/" + ErrorsPrefix + "*"
	for _, action := range []string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"} {
		if !got[action+" "+errorsArn] {
			t.Errorf("the operator cannot %s under errors/: %v", action, sortedKeys(got))
		}
	}
	for _, want := range []string{"s3:ListBucketVersions ${" + s.id(pl.Lake.Bucket) + ".Arn}", "s3:DeleteObjectVersion ${" + s.id(pl.Lake.Bucket) + ".Arn}/events/*"} {
		if !got[want] {
			t.Errorf("the operator lacks %s", want)
		}
	}
}

// TestFunctionsHonourTheSuppressionList: with maintenance, the relay, the
// summary consumer and the collector get the bucket of the list and may
// read that one object (and decrypt it), as an application role granted
// GrantSuppressionRead may.
func TestFunctionsHonourTheSuppressionList(t *testing.T) {
	s := maintenanceStack(t)
	pl := s.Pipeline
	check(t, "relay environment", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::Lambda::Function"), obj{
			"Environment": assertions.Match_Exact(obj{"Variables": obj{
				relay.EnvDeliveryStreamName: ref(s.id(pl.Delivery.Stream)),
				relay.EnvKeepAsideBucket:    ref(s.id(pl.Lake.Bucket)),
				lake.EnvSuppressionBucket:   ref(s.id(pl.Lake.Bucket)),
			}}),
		})
	})
	for name, fn := range map[string]string{"summary": s.id(pl.Summary.Function), "collector": s.id(pl.Collector.Function)} {
		got := path(s.JSON["Resources"].(obj)[fn], "Properties", "Environment", "Variables", lake.EnvSuppressionBucket)
		if !reflect.DeepEqual(got, ref(s.id(pl.Lake.Bucket))) {
			t.Errorf("%s function: %s = %v, want the lake bucket", name, lake.EnvSuppressionBucket, got)
		}
	}
	for _, role := range []string{s.id(pl.Relay.Role), s.id(pl.Summary.Role), s.id(pl.Collector.Role), "App"} {
		if role == "App" {
			for _, r := range s.resources("AWS::IAM::Role") {
				if strings.HasPrefix(r.ID, "App") {
					role = r.ID
				}
			}
		}
		got := s.rolePolicyGrants(t, role)
		list := "s3:GetObject ${" + s.id(pl.Lake.Bucket) + ".Arn}/" + lake.SuppressionKey
		if !got[list] || !got["kms:Decrypt ${"+s.id(pl.Lake.Key)+".Arn}"] {
			t.Errorf("%s cannot read the suppression list: %v", role, sortedKeys(got))
		}
		// The relay also keeps aside images that are not events (put only).
		keepAside := "s3:PutObject ${" + s.id(pl.Lake.Bucket) + ".Arn}/" + relay.KeepAsidePrefix + "*"
		for g := range got {
			if strings.HasPrefix(g, "s3:") && g != list && !(role == s.id(pl.Relay.Role) && g == keepAside) {
				t.Errorf("%s: more than the list: %s", role, g)
			}
		}
	}
}

func TestNewMaintenanceRejects(t *testing.T) {
	if _, err := NewMaintenance(nil, "M", nil); err == nil || !strings.Contains(err.Error(), "needs the Pipeline") {
		t.Errorf("nil props: %v", err)
	}
	pl := &Pipeline{}
	hour := 24
	_, err := NewMaintenance(nil, "M", &MaintenanceProps{Pipeline: pl, Hour: &hour, TargetFileBytes: 10, MemoryMiB: 64, Timeout: time.Hour})
	var pe *PropsError
	if !errors.As(err, &pe) || len(pe.Problems) != 4 {
		t.Fatalf("%v", err)
	}
	var fields []string
	for _, p := range pe.Problems {
		fields = append(fields, p.Field)
	}
	sort.Strings(fields)
	if strings.Join(fields, ",") != "Hour, Minute,MemoryMiB,TargetFileBytes,Timeout" {
		t.Errorf("fields %v", fields)
	}
}

// TestMaintenanceSuppressionsAreNarrow pins the construct's cdk-nag
// suppressions (beside the pipeline's and the test roles').
func TestMaintenanceSuppressionsAreNarrow(t *testing.T) {
	s := maintenanceStack(t)
	m, pl := maintained, s.Pipeline
	bucket := "Resource::<" + s.id(pl.Lake.Bucket) + ".Arn>/"
	want := map[string]string{
		logicalID(defaultPolicy(m.Compaction.Role)): "AwsSolutions-IAM5 " + bucket + "events/* " + bucket + "identities/* " + bucket + "maintenance/* Resource::<" + s.id(pl.Catalog.Results) + ".Arn>/*",
		logicalID(defaultPolicy(m.scheduleRole)):    "AwsSolutions-IAM5 Resource::<" + s.id(m.Compaction.Function) + ".Arn>:*",
		s.id(m.DeadLetter):                          "AwsSolutions-SQS3",
	}
	for id, entry := range want {
		r, ok := s.JSON["Resources"].(obj)[id]
		if !ok {
			t.Errorf("no resource %s", id)
			continue
		}
		rules, _ := path(r, "Metadata", "cdk_nag", "rules_to_suppress").(arr)
		if len(rules) != 1 {
			t.Errorf("%s: %d suppressions", id, len(rules))
			continue
		}
		got := rules[0].(obj)["id"].(string)
		if applies, ok := rules[0].(obj)["applies_to"].(arr); ok {
			for _, a := range applies {
				got += " " + a.(string)
			}
		}
		if got != entry {
			t.Errorf("%s: suppression %q, want %q", id, got, entry)
		}
	}
}
