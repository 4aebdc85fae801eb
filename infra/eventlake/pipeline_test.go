package eventlake

import (
	"encoding/base64"
	"encoding/json"
	"os/exec"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/infra/internal/testenv"
	"github.com/eventlake/eventlake/lambdas/streamtofirehose/relay"
	"github.com/eventlake/eventlake/lambdas/summarize/summary"
	"github.com/eventlake/eventlake/tracker"
)

type obj = map[string]interface{}
type arr = []interface{}

// variants are the two storage formats, each synthesized once, the
// pipeline on existing tables, and the pipeline without the summary
// consumer.
var variants = []struct {
	name string
	get  func(*testing.T) *synthesized
}{{"parquet", defaultStack}, {"json", jsonStack}, {"existing tables", existingStack}, {"summary disabled", noSummaryStack}}

func TestNagFindsNothingUnsuppressed(t *testing.T) {
	for _, v := range append(variants[:len(variants):len(variants)], analyticsVariants...) {
		t.Run(v.name, func(t *testing.T) {
			s := v.get(t)
			ann := s.Annotations
			rule := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))
			check(t, "cdk-nag errors", func() { ann.HasNoError(jsii.String("*"), rule) })
			check(t, "cdk-nag warnings", func() { ann.HasNoWarning(jsii.String("*"), rule) })
			check(t, "cdk-nag findings", func() {
				if errs := ann.FindError(jsii.String("*"), rule); len(*errs) != 0 {
					t.Errorf("%d unsuppressed cdk-nag errors", len(*errs))
				}
				if warns := ann.FindWarning(jsii.String("*"), rule); len(*warns) != 0 {
					t.Errorf("%d unsuppressed cdk-nag warnings", len(*warns))
				}
			})
		})
	}
}

// TestNagSuppressionsAreNarrow pins every suppression: on which resource,
// for which rule and findings, with a reason. A new suppression must be
// added here on purpose.
func TestNagSuppressionsAreNarrow(t *testing.T) {
	s := defaultStack(t)
	if md, ok := s.JSON["Metadata"].(obj); ok && md["cdk_nag"] != nil {
		t.Errorf("stack-level cdk-nag suppressions: %v", md["cdk_nag"])
	}
	pl := s.Pipeline
	bucket := "Resource::<" + s.id(pl.Lake.Bucket) + ".Arn>/"
	want := map[string][]string{ // logical ID -> "rule appliesTo..." entries
		logicalID(defaultPolicy(pl.Relay.Role)):    {"AwsSolutions-IAM5 Action::kms:GenerateDataKey* Action::kms:ReEncrypt* " + bucket + "errors/relay/*"},
		logicalID(defaultPolicy(pl.Delivery.Role)): {"AwsSolutions-IAM5 " + bucket + "events/* " + bucket + "errors/*"},
		s.id(pl.Relay.OnFailure):                   {"AwsSolutions-SQS3"},
		logicalID(defaultPolicy(pl.Summary.Role)):  {"AwsSolutions-IAM5 Action::kms:GenerateDataKey* Action::kms:ReEncrypt*"},
		s.id(pl.Summary.OnFailure):                 {"AwsSolutions-SQS3"},
		s.id(pl.Collector.Secret):                  {"AwsSolutions-SMG4"},
		logicalID(collectorRoute(pl.Collector)):    {"AwsSolutions-APIG4"},
	}
	got := map[string][]string{}
	for id, v := range s.JSON["Resources"].(obj) {
		rules, _ := path(v, "Metadata", "cdk_nag", "rules_to_suppress").(arr)
		for _, r := range rules {
			r := r.(obj)
			reason, _ := r["reason"].(string)
			if len(reason) < 60 {
				t.Errorf("%s: suppression of %v has a thin reason %q", id, r["id"], reason)
			}
			entry := r["id"].(string)
			if applies, ok := r["applies_to"].(arr); ok {
				for _, a := range applies {
					entry += " " + a.(string)
				}
			}
			got[id] = append(got[id], entry)
		}
	}
	for _, m := range []map[string][]string{want, got} {
		for k := range m {
			sort.Strings(m[k])
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("suppressions:\n got %v\nwant %v", got, want)
	}
}

func TestResourceCounts(t *testing.T) {
	queries, err := athena.Queries()
	if err != nil {
		t.Fatal(err)
	}
	common := map[string]int{
		"AWS::DynamoDB::GlobalTable":           2,
		"AWS::DynamoDB::Table":                 0,
		"AWS::KMS::Key":                        3, // tables, lake, ops
		"AWS::S3::Bucket":                      3,
		"AWS::S3::BucketPolicy":                3,
		"AWS::KinesisFirehose::DeliveryStream": 1,
		"AWS::Lambda::Function":                2, // relay, summary
		"AWS::Lambda::EventSourceMapping":      2,
		"AWS::SQS::Queue":                      2,
		"AWS::Logs::LogGroup":                  3, // relay, summary, Firehose
		"AWS::Logs::MetricFilter":              8, // relay 3, summary 5
		"AWS::Glue::Database":                  1,
		"AWS::Glue::Table":                     4, // events, identity_links, events_dedup, identities
		"AWS::Athena::WorkGroup":               1,
		"AWS::Athena::NamedQuery":              len(queries),
		"AWS::SNS::Topic":                      1,
		"AWS::CloudWatch::Dashboard":           1,
		"AWS::IAM::Role":                       3, // relay, summary, Firehose
		"AWS::IAM::ManagedPolicy":              0,
		"AWS::KMS::Alias":                      0,
	}
	// The collector of the variants that have one: its function, role,
	// two log groups (the function's, the API's access log), three metric
	// filters, seven alarms, the secret and the HTTP API.
	withCollector := func(m map[string]int) map[string]int {
		for typ, n := range map[string]int{
			"AWS::Lambda::Function": 1, "AWS::IAM::Role": 1, "AWS::Logs::LogGroup": 2, "AWS::Logs::MetricFilter": 3,
			"AWS::CloudWatch::Alarm": 7, "AWS::SecretsManager::Secret": 1, "AWS::ApiGatewayV2::Api": 1,
			"AWS::ApiGatewayV2::Stage": 1, "AWS::ApiGatewayV2::Route": 1, "AWS::ApiGatewayV2::Integration": 1,
			"AWS::Lambda::Permission": 1,
		} {
			base, ok := m[typ]
			if !ok {
				base = common[typ]
			}
			m[typ] = base + n
		}
		return m
	}
	// The analytics: their function, role, two log groups, one metric
	// filter, five alarms, the HTTP API with its stage, four routes to one
	// integration and the function's permission per route; with a JWT
	// issuer, its authorizer.
	withAnalytics := func(m map[string]int, jwt bool) map[string]int {
		add := map[string]int{
			"AWS::Lambda::Function": 1, "AWS::IAM::Role": 1, "AWS::Logs::LogGroup": 2, "AWS::Logs::MetricFilter": 1,
			"AWS::CloudWatch::Alarm": 5, "AWS::ApiGatewayV2::Api": 1, "AWS::ApiGatewayV2::Stage": 1,
			"AWS::ApiGatewayV2::Route": 4, "AWS::ApiGatewayV2::Integration": 1, "AWS::Lambda::Permission": 4,
		}
		if jwt {
			add["AWS::ApiGatewayV2::Authorizer"] = 1
		}
		for typ, n := range add {
			base, ok := m[typ]
			if !ok {
				base = common[typ]
			}
			m[typ] = base + n
		}
		return m
	}
	for _, typ := range []string{"AWS::SecretsManager::Secret", "AWS::ApiGatewayV2::Api", "AWS::ApiGatewayV2::Stage",
		"AWS::ApiGatewayV2::Route", "AWS::ApiGatewayV2::Integration", "AWS::Lambda::Permission",
		"AWS::ApiGatewayV2::DomainName", "AWS::ApiGatewayV2::ApiMapping", "AWS::ApiGatewayV2::Authorizer"} {
		common[typ] = 0
	}
	for _, tc := range []struct {
		name string
		get  func(*testing.T) *synthesized
		diff map[string]int
	}{
		// 10 alarms of the pipeline (9 with JSON) and 7 of the summary
		// consumer; Parquet adds the format conversion alarm; the email a
		// subscription.
		{"parquet", defaultStack, withCollector(map[string]int{"AWS::CloudWatch::Alarm": 18, "AWS::SNS::Subscription": 1})},
		// The tuned collector adds a custom domain and its mapping.
		{"json", jsonStack, withCollector(map[string]int{"AWS::CloudWatch::Alarm": 17, "AWS::SNS::Subscription": 0, "AWS::IAM::Role": 4,
			"AWS::ApiGatewayV2::DomainName": 1, "AWS::ApiGatewayV2::ApiMapping": 1})},
		// No tables and no tables key are created; no topic either.
		{"existing tables", existingStack, withCollector(map[string]int{
			"AWS::CloudWatch::Alarm": 18, "AWS::SNS::Subscription": 0, "AWS::IAM::Role": 4,
			"AWS::DynamoDB::GlobalTable": 0, "AWS::KMS::Key": 2, "AWS::SNS::Topic": 0,
		})},
		// Without the summary consumer (and without the collector, which is
		// opt-in): one Lambda, mapping, queue, role and log group less, no
		// summary metric filters or alarms.
		{"summary disabled", noSummaryStack, map[string]int{
			"AWS::CloudWatch::Alarm": 11, "AWS::SNS::Subscription": 0, "AWS::Lambda::Function": 1,
			"AWS::Lambda::EventSourceMapping": 1, "AWS::SQS::Queue": 1, "AWS::Logs::LogGroup": 2,
			"AWS::Logs::MetricFilter": 3, "AWS::IAM::Role": 2,
		}},
		// The analytics with their defaults (no collector).
		{"analytics", analyticsStack, withAnalytics(map[string]int{"AWS::CloudWatch::Alarm": 18, "AWS::SNS::Subscription": 0}, false)},
		// JSON, a JWT authorizer, and a test role granted GrantQuery.
		{"analytics jwt", analyticsJwtStack, withAnalytics(map[string]int{"AWS::CloudWatch::Alarm": 17, "AWS::SNS::Subscription": 0,
			"AWS::IAM::Role": 4}, true)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.get(t)
			counts := map[string]int{}
			for k, v := range common {
				counts[k] = v
			}
			for k, v := range tc.diff {
				counts[k] = v
			}
			for typ, n := range counts {
				check(t, typ, func() { s.Template.ResourceCountIs(jsii.String(typ), jsii.Number(float64(n))) })
			}
		})
	}
}

func TestTablesFromTrackerDefinitions(t *testing.T) {
	s := defaultStack(t)
	key := getAtt(s.id(s.Pipeline.Tables.Key), "Arn")
	replica := obj{
		"Region":                           "us-east-1",
		"DeletionProtectionEnabled":        true,
		"PointInTimeRecoverySpecification": obj{"PointInTimeRecoveryEnabled": true},
		"SSESpecification":                 obj{"KMSMasterKeyId": key},
	}
	ev, sum := tracker.EventsTableDef(), tracker.SummaryTableDef()
	check(t, "events table", func() {
		s.Template.HasResource(jsii.String("AWS::DynamoDB::GlobalTable"), obj{
			"DeletionPolicy":      "Retain",
			"UpdateReplacePolicy": "Retain",
			"Properties": obj{
				"KeySchema": arr{
					obj{"AttributeName": ev.PartitionKey, "KeyType": "HASH"},
					obj{"AttributeName": ev.SortKey, "KeyType": "RANGE"},
				},
				"AttributeDefinitions": arr{
					obj{"AttributeName": ev.PartitionKey, "AttributeType": "S"},
					obj{"AttributeName": ev.SortKey, "AttributeType": "S"},
				},
				"BillingMode":             "PAY_PER_REQUEST",
				"StreamSpecification":     obj{"StreamViewType": "NEW_IMAGE"},
				"TimeToLiveSpecification": obj{"AttributeName": ev.TTLAttribute, "Enabled": true},
				"SSESpecification":        obj{"SSEEnabled": true, "SSEType": "KMS"},
				"Replicas":                arr{replica},
				"TableName":               assertions.Match_Absent(),
			},
		})
	})
	check(t, "summary table", func() {
		s.Template.HasResource(jsii.String("AWS::DynamoDB::GlobalTable"), obj{
			"DeletionPolicy": "Retain",
			"Properties": obj{
				"KeySchema":           arr{obj{"AttributeName": sum.PartitionKey, "KeyType": "HASH"}},
				"BillingMode":         "PAY_PER_REQUEST",
				"StreamSpecification": assertions.Match_Absent(),
				"SSESpecification":    obj{"SSEEnabled": true, "SSEType": "KMS"},
				"Replicas":            arr{replica},
				"TableName":           assertions.Match_Absent(),
			},
		})
	})
}

func TestNoHardCodedPhysicalNames(t *testing.T) {
	s := defaultStack(t)
	nameProps := map[string]string{
		"AWS::DynamoDB::GlobalTable":           "TableName",
		"AWS::S3::Bucket":                      "BucketName",
		"AWS::Lambda::Function":                "FunctionName",
		"AWS::SQS::Queue":                      "QueueName",
		"AWS::SNS::Topic":                      "TopicName",
		"AWS::KinesisFirehose::DeliveryStream": "DeliveryStreamName",
		"AWS::Logs::LogGroup":                  "LogGroupName",
		"AWS::CloudWatch::Alarm":               "AlarmName",
		"AWS::CloudWatch::Dashboard":           "DashboardName",
		"AWS::IAM::Role":                       "RoleName",
		"AWS::IAM::Policy":                     "",
		"AWS::SecretsManager::Secret":          "Name",
	}
	for typ, prop := range nameProps {
		for _, r := range s.resources(typ) {
			if prop != "" && r.Props[prop] != nil {
				t.Errorf("%s %s has a hard-coded %s %v", typ, r.ID, prop, r.Props[prop])
			}
		}
	}
	// Every resource that takes tags carries the prefix.
	for _, typ := range []string{"AWS::S3::Bucket", "AWS::KMS::Key", "AWS::Lambda::Function", "AWS::SQS::Queue", "AWS::KinesisFirehose::DeliveryStream"} {
		check(t, typ+" tagged", func() {
			s.Template.AllResourcesProperties(jsii.String(typ), obj{
				"Tags": assertions.Match_ArrayWith(&arr{obj{"Key": TagKey, "Value": DefaultNamePrefix}}),
			})
		})
	}
	// The names AWS requires are the configured prefix.
	check(t, "glue database named by the prefix", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::Glue::Database"), obj{"DatabaseInput": obj{"Name": DefaultNamePrefix}})
	})
	check(t, "workgroup named by the prefix", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::Athena::WorkGroup"), obj{"Name": DefaultNamePrefix})
	})
}

func TestKeysRotateAndCloudWatchMayUseTheOpsKey(t *testing.T) {
	s := defaultStack(t)
	for _, k := range s.resources("AWS::KMS::Key") {
		if k.Props["EnableKeyRotation"] != true {
			t.Errorf("key %s does not rotate", k.ID)
		}
	}
	ops := s.one(t, "AWS::KMS::Key", func(r resource) bool { return r.ID == s.id(s.Pipeline.OpsKey) })
	found := false
	for _, st := range path(ops.Props, "KeyPolicy", "Statement").(arr) {
		if path(st, "Principal", "Service") == "cloudwatch.amazonaws.com" {
			found = true
			if acts := path(st, "Action"); !reflect.DeepEqual(acts, arr{"kms:Decrypt", "kms:GenerateDataKey"}) {
				t.Errorf("cloudwatch key actions %v", acts)
			}
		}
	}
	if !found {
		t.Error("the ops key policy does not let CloudWatch alarms publish to the encrypted topic")
	}
	// CloudWatch Logs may use the ops key for the log groups of this
	// account and region, and the log groups use it.
	logsFound := false
	for _, st := range path(ops.Props, "KeyPolicy", "Statement").(arr) {
		if show(path(st, "Principal", "Service")) != "logs.us-east-1.${AWS::URLSuffix}" {
			continue
		}
		logsFound = true
		cond := show(path(st, "Condition", "ArnLike", "kms:EncryptionContext:aws:logs:arn"))
		if cond != "arn:aws:logs:us-east-1:${AWS::AccountId}:log-group:*" {
			t.Errorf("logs key statement limited to %s", cond)
		}
	}
	if !logsFound {
		t.Error("the ops key policy does not let CloudWatch Logs encrypt the log groups")
	}
	for _, lg := range s.resources("AWS::Logs::LogGroup") {
		if !reflect.DeepEqual(lg.Props["KmsKeyId"], getAtt(s.id(s.Pipeline.OpsKey), "Arn")) {
			t.Errorf("log group %s is not encrypted with the ops key: %v", lg.ID, lg.Props["KmsKeyId"])
		}
	}
	for _, k := range []string{s.id(s.Pipeline.Tables.Key), s.id(s.Pipeline.Lake.Key)} {
		check(t, "data keys are retained", func() {
			r := s.one(t, "AWS::KMS::Key", func(r resource) bool { return r.ID == k })
			if r.Raw["DeletionPolicy"] != "Retain" {
				t.Errorf("key %s is not retained: data encrypted with it would be lost", k)
			}
		})
	}
}

func TestRelayFunction(t *testing.T) {
	s := defaultStack(t)
	r := s.Pipeline.Relay
	streamID := s.id(s.Pipeline.Delivery.Stream)
	check(t, "function", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::Lambda::Function"), obj{
			"Runtime":       "provided.al2023",
			"Architectures": arr{"arm64"},
			"Handler":       "bootstrap",
			"MemorySize":    DefaultLambdaMemoryMiB,
			"Timeout":       DefaultLambdaTimeout.Seconds(),
			"Role":          getAtt(s.id(r.Role), "Arn"),
			"LoggingConfig": obj{"LogGroup": ref(s.id(r.LogGroup))},
			// The environment names the delivery stream, and only that.
			"Environment": assertions.Match_Exact(obj{"Variables": obj{relay.EnvDeliveryStreamName: ref(streamID), relay.EnvKeepAsideBucket: ref(s.id(s.Pipeline.Lake.Bucket))}}),
		})
	})
	check(t, "its log group keeps logs for the default retention", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::Logs::LogGroup"), obj{"RetentionInDays": DefaultLogRetentionDays})
	})
	s.checkGoFunction(t, "relay", r.Function, r.Role)

	// Least privilege: exactly these actions on exactly these resources.
	tablesKey, opsKey := s.id(s.Pipeline.Tables.Key), s.id(s.Pipeline.OpsKey)
	want := grants{}
	want.add(getAtt(s.id(r.LogGroup), "Arn"), "logs:CreateLogStream", "logs:PutLogEvents")
	want.add(getAtt(streamID, "Arn"), "firehose:PutRecord", "firehose:PutRecordBatch")
	want.add(getAtt(s.id(s.Pipeline.Tables.Events), "StreamArn"),
		"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams")
	want.add(getAtt(tablesKey, "Arn"), "kms:Decrypt", "kms:DescribeKey")
	want.add(getAtt(s.id(r.OnFailure), "Arn"), "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage")
	want.add(getAtt(opsKey, "Arn"), "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*")
	// Kept-aside records: put-only under errors/relay/, with the lake's key.
	want.add(getAtt(s.id(s.Pipeline.Lake.Key), "Arn"), "kms:Encrypt", "kms:GenerateDataKey")
	want.add(obj{"Fn::Join": arr{"", arr{getAtt(s.id(s.Pipeline.Lake.Bucket), "Arn"), "/errors/relay/*"}}}, "s3:PutObject")
	got := grants{}
	for _, p := range s.resources("AWS::IAM::Policy") {
		if !reflect.DeepEqual(p.Props["Roles"], arr{ref(s.id(r.Role))}) {
			continue
		}
		for _, st := range path(p.Props, "PolicyDocument", "Statement").(arr) {
			if path(st, "Effect") != "Allow" {
				t.Errorf("unexpected statement %v", st)
			}
			got.addStatement(st.(obj))
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("relay role grants:\n got %v\nwant %v", got, want)
	}
}

// grants maps a JSON-encoded resource to the sorted actions allowed on it.
type grants map[string][]string

func (g grants) add(res interface{}, actions ...string) {
	b, _ := json.Marshal(res)
	g[string(b)] = append(g[string(b)], actions...)
	sort.Strings(g[string(b)])
}

func (g grants) addStatement(st obj) {
	var actions []string
	switch a := st["Action"].(type) {
	case string:
		actions = []string{a}
	case arr:
		for _, x := range a {
			actions = append(actions, x.(string))
		}
	}
	resources, ok := st["Resource"].(arr)
	if !ok {
		resources = arr{st["Resource"]}
	}
	for _, r := range resources {
		g.add(r, actions...)
	}
}

func TestEventSourceMapping(t *testing.T) {
	s := defaultStack(t)
	r := s.Pipeline.Relay
	check(t, "event source mapping", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::Lambda::EventSourceMapping"), obj{
			"FunctionName":                   ref(s.id(r.Function)),
			"EventSourceArn":                 getAtt(s.id(s.Pipeline.Tables.Events), "StreamArn"),
			"StartingPosition":               "TRIM_HORIZON",
			"BatchSize":                      DefaultBatchSize,
			"MaximumBatchingWindowInSeconds": DefaultBatchingWindow.Seconds(),
			"BisectBatchOnFunctionError":     true,
			"MaximumRetryAttempts":           DefaultRetryAttempts,
			"MaximumRecordAgeInSeconds":      DefaultMaxRecordAge.Seconds(),
			"ParallelizationFactor":          DefaultParallelizationFactor,
			"FunctionResponseTypes":          arr{"ReportBatchItemFailures"},
			"DestinationConfig":              obj{"OnFailure": obj{"Destination": getAtt(s.id(r.OnFailure), "Arn")}},
		})
	})
	esm := s.one(t, "AWS::Lambda::EventSourceMapping", func(x resource) bool {
		return reflect.DeepEqual(x.Props["FunctionName"], ref(s.id(r.Function)))
	})
	filters, _ := path(esm.Props, "FilterCriteria", "Filters").(arr)
	if len(filters) != 1 {
		t.Fatalf("want one filter, got %v", filters)
	}
	var pattern obj
	if err := json.Unmarshal([]byte(path(filters[0], "Pattern").(string)), &pattern); err != nil {
		t.Fatal(err)
	}
	// INSERT only: TTL deletions (REMOVE) and MODIFY never invoke the relay.
	if want := (obj{"eventName": arr{"INSERT"}}); !reflect.DeepEqual(pattern, want) {
		t.Errorf("filter pattern %v, want %v", pattern, want)
	}
}

func TestOnFailureQueueIsEncryptedAndTLSOnly(t *testing.T) {
	s := defaultStack(t)
	check(t, "queue", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::SQS::Queue"), obj{
			"KmsMasterKeyId":         getAtt(s.id(s.Pipeline.OpsKey), "Arn"),
			"MessageRetentionPeriod": 14 * 24 * 3600,
		})
	})
	check(t, "queue policy denies plain HTTP", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::SQS::QueuePolicy"), obj{
			"PolicyDocument": obj{"Statement": assertions.Match_ArrayWith(&arr{denyInsecureTransport()})},
		})
	})
}

func denyInsecureTransport() interface{} {
	return assertions.Match_ObjectLike(&obj{
		"Effect":    "Deny",
		"Condition": obj{"Bool": obj{"aws:SecureTransport": "false"}},
	})
}

func TestDeliveryStream(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			s := v.get(t)
			st := s.Pipeline
			lakeKey := getAtt(s.id(st.Lake.Key), "Arn")
			role := getAtt(s.id(st.Delivery.Role), "Arn")
			// Deaggregate the relay's packed records, then read each event's
			// day; JSON output then gets its line ends back.
			processors := arr{
				obj{"Type": "RecordDeAggregation", "Parameters": arr{obj{"ParameterName": "SubRecordType", "ParameterValue": "JSON"}}},
				obj{"Type": "MetadataExtraction", "Parameters": arr{
					obj{"ParameterName": "MetadataExtractionQuery", "ParameterValue": `{"dt":.event_at[0:10]}`},
					obj{"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"},
				}},
			}
			dest := obj{
				"BucketARN":         getAtt(s.id(st.Lake.Bucket), "Arn"),
				"RoleARN":           role,
				"Prefix":            "events/dt=!{partitionKeyFromQuery:dt}/",
				"ErrorOutputPrefix": "errors/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/",
				"BufferingHints": obj{
					"IntervalInSeconds": st.Props.BufferingInterval.Seconds(),
					"SizeInMBs":         st.Props.BufferingSizeMiB,
				},
				"DynamicPartitioningConfiguration": assertions.Match_Exact(obj{"Enabled": true}),
				"EncryptionConfiguration":          obj{"KMSEncryptionConfig": obj{"AWSKMSKeyARN": lakeKey}},
				"CloudWatchLoggingOptions":         obj{"Enabled": true, "LogGroupName": ref(s.id(st.Delivery.LogGroup))},
			}
			if st.Props.Format == FormatParquet {
				dest["FileExtension"] = ".parquet"
				dest["CompressionFormat"] = assertions.Match_Absent()
				dest["DataFormatConversionConfiguration"] = obj{
					"Enabled": true,
					"InputFormatConfiguration": obj{"Deserializer": obj{"OpenXJsonSerDe": obj{
						"CaseInsensitive": false, "ConvertDotsInJsonKeysToUnderscores": false,
					}}},
					"OutputFormatConfiguration": obj{"Serializer": obj{"ParquetSerDe": obj{"Compression": "GZIP"}}},
					"SchemaConfiguration": obj{
						"DatabaseName": ref(s.id(st.Catalog.Database)),
						"TableName":    ref(s.id(st.Catalog.Table)),
						"VersionId":    "LATEST",
						"Region":       "us-east-1",
						"RoleARN":      role,
					},
				}
			} else {
				processors = append(processors, obj{"Type": "AppendDelimiterToRecord", "Parameters": arr{}})
				dest["FileExtension"] = ".gz"
				dest["CompressionFormat"] = "GZIP"
				dest["DataFormatConversionConfiguration"] = assertions.Match_Absent()
			}
			dest["ProcessingConfiguration"] = assertions.Match_Exact(obj{"Enabled": true, "Processors": processors})
			check(t, "delivery stream", func() {
				s.Template.HasResourceProperties(jsii.String("AWS::KinesisFirehose::DeliveryStream"), obj{
					"DeliveryStreamType": "DirectPut",
					"DeliveryStreamEncryptionConfigurationInput": obj{
						"KeyType": "CUSTOMER_MANAGED_CMK", "KeyARN": lakeKey,
					},
					"ExtendedS3DestinationConfiguration": dest,
				})
			})
			// The stream waits for its role's policy.
			stream := s.one(t, "AWS::KinesisFirehose::DeliveryStream", nil)
			if got, want := stream.Raw["DependsOn"], (arr{logicalID(defaultPolicy(st.Delivery.Role))}); !reflect.DeepEqual(got, want) {
				t.Errorf("stream DependsOn %v, want %v", got, want)
			}
			// Dynamic partitioning needs at least 64 MiB and 60 s buffers.
			if st.Props.BufferingSizeMiB < 64 || st.Props.BufferingInterval < time.Minute {
				t.Errorf("buffering %d MiB / %s is below dynamic partitioning's minimum", st.Props.BufferingSizeMiB, st.Props.BufferingInterval)
			}
		})
	}
}

// TestPartitioningIsBuiltFromTheSchema ties the layout to the tracker
// package: the partition key is tracker.PartitionColumn, read from
// tracker.FieldEventAt, whose TimeLayout starts with the DateLayout day.
func TestPartitioningIsBuiltFromTheSchema(t *testing.T) {
	if FirehosePrefix != EventsPrefix+tracker.PartitionColumn+"=!{partitionKeyFromQuery:"+tracker.PartitionColumn+"}/" {
		t.Errorf("FirehosePrefix %q", FirehosePrefix)
	}
	if PartitionQuery != "."+tracker.FieldEventAt+"[0:"+strconv.Itoa(len(tracker.DateLayout))+"]" {
		t.Errorf("PartitionQuery %q", PartitionQuery)
	}
	at := time.Date(2026, 11, 22, 23, 59, 59, 999e6, time.UTC)
	if day := at.Format(tracker.TimeLayout)[:len(tracker.DateLayout)]; day != at.Format(tracker.DateLayout) {
		t.Errorf("the first %d characters of event_at are %q, not the day", len(tracker.DateLayout), day)
	}
}

// TestFirehoseRoleCannotDelete pins the Firehose role's grants: list the
// lake, put/get/abort under events/ and errors/ only, use the lake key,
// write its log group, read the Glue table (Parquet) - and no delete.
func TestFirehoseRoleCannotDelete(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			s := v.get(t)
			pl := s.Pipeline
			role := s.id(pl.Delivery.Role)
			got := s.rolePolicyGrants(t, role)
			bucket := "${" + s.id(pl.Lake.Bucket) + ".Arn}"
			want := map[string]bool{}
			for _, a := range []string{"s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"} {
				want[a+" "+bucket] = true
			}
			for _, a := range []string{"s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"} {
				want[a+" "+bucket+"/events/*"] = true
				want[a+" "+bucket+"/errors/*"] = true
			}
			for _, a := range []string{"kms:Decrypt", "kms:GenerateDataKey"} {
				want[a+" ${"+s.id(pl.Lake.Key)+".Arn}"] = true
			}
			for _, a := range []string{"logs:CreateLogStream", "logs:PutLogEvents"} {
				want[a+" ${"+s.id(pl.Delivery.LogGroup)+".Arn}"] = true
			}
			if pl.Props.Format == FormatParquet {
				db := "${" + s.id(pl.Catalog.Database) + "}"
				for _, a := range []string{"glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions"} {
					want[a+" arn:aws:glue:us-east-1:${AWS::AccountId}:catalog"] = true
					want[a+" arn:aws:glue:us-east-1:${AWS::AccountId}:database/"+db] = true
					want[a+" arn:aws:glue:us-east-1:${AWS::AccountId}:table/"+db+"/${"+s.id(pl.Catalog.Table)+"}"] = true
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Firehose role grants:\n got %v\nwant %v", sortedKeys(got), sortedKeys(want))
			}
			for g := range got {
				if strings.Contains(g, "Delete") || strings.HasSuffix(g, " *") {
					t.Errorf("Firehose role may %s", g)
				}
			}
			r := s.one(t, "AWS::IAM::Role", func(r resource) bool { return r.ID == role })
			if p := path(r.Props, "AssumeRolePolicyDocument", "Statement", 0, "Principal", "Service"); p != "firehose.amazonaws.com" {
				t.Errorf("Firehose role trusts %v", p)
			}
		})
	}
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func TestBucketsAreHardened(t *testing.T) {
	s := defaultStack(t)
	st := s.Pipeline
	for _, b := range s.resources("AWS::S3::Bucket") {
		if b.Raw["DeletionPolicy"] != "Retain" {
			t.Errorf("bucket %s is not retained", b.ID)
		}
		if got := b.Props["PublicAccessBlockConfiguration"]; !reflect.DeepEqual(got, obj{
			"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true,
		}) {
			t.Errorf("bucket %s public access block %v", b.ID, got)
		}
	}
	for _, p := range s.resources("AWS::S3::BucketPolicy") {
		check(t, "bucket policy "+p.ID+" denies plain HTTP and old TLS", func() {
			s.Template.HasResourceProperties(jsii.String("AWS::S3::BucketPolicy"), obj{
				"Bucket": p.Props["Bucket"],
				"PolicyDocument": obj{"Statement": assertions.Match_ArrayWith(&arr{
					denyInsecureTransport(),
					assertions.Match_ObjectLike(&obj{"Effect": "Deny", "Condition": obj{"NumericLessThan": obj{"s3:TlsVersion": 1.2}}}),
				})},
			})
		})
	}
	lakeKey := getAtt(s.id(st.Lake.Key), "Arn")
	sseKMS := obj{"ServerSideEncryptionConfiguration": arr{obj{
		"BucketKeyEnabled":              true,
		"ServerSideEncryptionByDefault": obj{"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": lakeKey},
	}}}
	check(t, "lake bucket", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::S3::Bucket"), obj{
			"BucketEncryption":        sseKMS,
			"VersioningConfiguration": obj{"Status": "Enabled"},
			"LoggingConfiguration": obj{
				"DestinationBucketName": ref(s.id(st.Lake.AccessLogs)),
				"LogFilePrefix":         "lake/",
			},
			"LifecycleConfiguration": obj{"Rules": arr{
				obj{
					"Id": "tier-events", "Prefix": EventsPrefix, "Status": "Enabled",
					"Transitions": arr{
						obj{"StorageClass": "STANDARD_IA", "TransitionInDays": DefaultInfrequentAccessAfterDays},
						obj{"StorageClass": "GLACIER_IR", "TransitionInDays": DefaultGlacierIRAfterDays},
					},
					"ExpirationInDays": assertions.Match_Absent(),
				},
				obj{"Id": "expire-errors", "Prefix": ErrorsPrefix, "ExpirationInDays": DefaultErrorOutputExpirationDays, "Status": "Enabled"},
				assertions.Match_Exact(obj{
					"Id": "expire-noncurrent-versions", "Status": "Enabled", "ExpiredObjectDeleteMarker": true,
					"NoncurrentVersionExpiration": obj{"NoncurrentDays": DefaultNoncurrentVersionExpirationDays},
				}),
				obj{"Id": "abort-incomplete-uploads", "AbortIncompleteMultipartUpload": obj{"DaysAfterInitiation": 7}, "Status": "Enabled"},
			}},
		})
	})
	check(t, "athena results bucket", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::S3::Bucket"), obj{
			"BucketEncryption":     sseKMS,
			"LoggingConfiguration": obj{"DestinationBucketName": ref(s.id(st.Lake.AccessLogs)), "LogFilePrefix": "athena-results/"},
			"LifecycleConfiguration": obj{"Rules": arr{assertions.Match_ObjectLike(&obj{
				"ExpirationInDays": DefaultAthenaResultsExpirationDays,
			})}},
		})
	})
	check(t, "access log bucket", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::S3::Bucket"), obj{
			"BucketEncryption": obj{"ServerSideEncryptionConfiguration": arr{obj{
				"ServerSideEncryptionByDefault": obj{"SSEAlgorithm": "AES256"},
			}}},
			"OwnershipControls":    obj{"Rules": arr{obj{"ObjectOwnership": "BucketOwnerEnforced"}}},
			"LoggingConfiguration": assertions.Match_Absent(),
		})
	})
	// Only the lake is versioned: results and access logs expire anyway.
	for _, b := range s.resources("AWS::S3::Bucket") {
		if versioned := b.Props["VersioningConfiguration"] != nil; versioned != (b.ID == s.id(st.Lake.Bucket)) {
			t.Errorf("bucket %s versioning %v", b.ID, b.Props["VersioningConfiguration"])
		}
	}
}

// TestGlueTableColumnsAreTheEventSchema ties the Glue table to the tracker
// package: the columns are tracker.EventFields(), in order, with their types.
func TestGlueTableColumnsAreTheEventSchema(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			s := v.get(t)
			table := s.one(t, "AWS::Glue::Table", func(r resource) bool { return path(r.Props, "TableInput", "Name") == athena.TableName })
			in := table.Props["TableInput"].(obj)
			cols := path(in, "StorageDescriptor", "Columns").(arr)
			if len(cols) != len(tracker.EventFields()) {
				t.Fatalf("%d columns, want %d", len(cols), len(tracker.EventFields()))
			}
			for i, f := range tracker.EventFields() {
				if name, typ := path(cols[i], "Name"), path(cols[i], "Type"); name != f.Name || typ != f.AthenaType {
					t.Errorf("column %d is %v %v, want %s %s", i, name, typ, f.Name, f.AthenaType)
				}
			}
			if got, want := in["PartitionKeys"], (arr{obj{"Name": tracker.PartitionColumn, "Type": "string", "Comment": path(in, "PartitionKeys", 0, "Comment")}}); !reflect.DeepEqual(got, want) {
				t.Errorf("partition keys %v", got)
			}
			if in["TableType"] != "EXTERNAL_TABLE" {
				t.Errorf("table type %v", in["TableType"])
			}
			params := in["Parameters"].(obj)
			wantParams := map[string]interface{}{
				"projection.enabled":          "true",
				"projection.dt.type":          "date",
				"projection.dt.format":        "yyyy-MM-dd",
				"projection.dt.range":         DefaultPartitionProjectionStart + ",NOW",
				"projection.dt.interval":      "1",
				"projection.dt.interval.unit": "DAYS",
				"has_encrypted_data":          false,
			}
			for k, want := range wantParams {
				if params[k] != want {
					t.Errorf("parameter %s = %v, want %v", k, params[k], want)
				}
			}
			if got := render(params["storage.location.template"]); got != "s3://<token>/events/dt=${dt}/" {
				t.Errorf("storage.location.template %q", got)
			}
			if got := render(path(in, "StorageDescriptor", "Location")); got != "s3://<token>/"+EventsPrefix {
				t.Errorf("location %q", got)
			}
			serde := path(in, "StorageDescriptor", "SerdeInfo").(obj)
			switch s.Pipeline.Props.Format {
			case FormatParquet:
				if serde["SerializationLibrary"] != "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe" || params["parquet.compression"] != "GZIP" {
					t.Errorf("parquet table serde %v params %v", serde, params)
				}
			case FormatJSON:
				if serde["SerializationLibrary"] != "org.openx.data.jsonserde.JsonSerDe" ||
					!reflect.DeepEqual(serde["Parameters"], obj{"case.insensitive": "false"}) ||
					path(in, "StorageDescriptor", "Compressed") != true {
					t.Errorf("json table serde %v", serde)
				}
			}
		})
	}
}

// TestViewsAreTheAthenaPackagesViews checks each Glue view decodes to the
// athena package's definition (events_dedup, identities) for the stack's
// database.
func TestViewsAreTheAthenaPackagesViews(t *testing.T) {
	for _, v := range variants {
		views, err := athena.Views(v.get(t).Pipeline.Props.NamePrefix)
		if err != nil {
			t.Fatal(err)
		}
		if len(views) != 2 {
			t.Fatalf("%d views, want events_dedup and identities", len(views))
		}
		for _, want := range views {
			t.Run(v.name+"/"+want.Name, func(t *testing.T) { checkGlueView(t, v.get(t), want) })
		}
	}
}

func checkGlueView(t *testing.T, s *synthesized, want athena.View) {
	view := s.one(t, "AWS::Glue::Table", func(r resource) bool { return path(r.Props, "TableInput", "Name") == want.Name })
	in := view.Props["TableInput"].(obj)
	if in["TableType"] != "VIRTUAL_VIEW" || path(in, "Parameters", "presto_view") != "true" || in["ViewExpandedText"] != "/* Presto View */" {
		t.Errorf("not an Athena view: %v", in)
	}
	text, _ := in["ViewOriginalText"].(string)
	b64, ok := strings.CutPrefix(text, "/* Presto View: ")
	b64, ok2 := strings.CutSuffix(b64, " */")
	if !ok || !ok2 {
		t.Fatalf("ViewOriginalText %q", text)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	var def struct {
		OriginalSQL string `json:"originalSql"`
		Catalog     string
		Schema      string
		Columns     []struct{ Name, Type string }
	}
	if err := json.Unmarshal(raw, &def); err != nil {
		t.Fatal(err)
	}
	if def.OriginalSQL != want.SQL || def.Schema != s.Pipeline.Props.NamePrefix || def.Catalog != "awsdatacatalog" {
		t.Errorf("view definition %+v, want SQL %q in %s", def, want.SQL, s.Pipeline.Props.NamePrefix)
	}
	cols := path(in, "StorageDescriptor", "Columns").(arr)
	if len(def.Columns) != len(want.Columns) || len(cols) != len(want.Columns) {
		t.Fatalf("view columns %v / %v, want %v", def.Columns, cols, want.Columns)
	}
	for i, c := range want.Columns {
		if def.Columns[i].Name != c.Name || def.Columns[i].Type != c.TrinoType ||
			path(cols[i], "Name") != c.Name || path(cols[i], "Type") != c.HiveType {
			t.Errorf("view column %d: %v / %v, want %+v", i, def.Columns[i], cols[i], c)
		}
	}
}

func TestAthenaWorkGroupAndNamedQueries(t *testing.T) {
	s := defaultStack(t)
	st := s.Pipeline
	check(t, "workgroup", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::Athena::WorkGroup"), obj{
			"State":                 "ENABLED",
			"RecursiveDeleteOption": true,
			"WorkGroupConfiguration": obj{
				"EnforceWorkGroupConfiguration":   true,
				"PublishCloudWatchMetricsEnabled": true,
				"BytesScannedCutoffPerQuery":      DefaultBytesScannedCutoff,
				"EngineVersion":                   obj{"SelectedEngineVersion": "Athena engine version 3"},
				"ResultConfiguration": obj{
					"EncryptionConfiguration": obj{"EncryptionOption": "SSE_KMS", "KmsKey": getAtt(s.id(st.Lake.Key), "Arn")},
					"ExpectedBucketOwner":     ref("AWS::AccountId"),
				},
			},
		})
	})
	wg := s.one(t, "AWS::Athena::WorkGroup", nil)
	if got := render(path(wg.Props, "WorkGroupConfiguration", "ResultConfiguration", "OutputLocation")); got != "s3://<token>/results/" {
		t.Errorf("results location %q", got)
	}
	if loc := path(wg.Props, "WorkGroupConfiguration", "ResultConfiguration", "OutputLocation", "Fn::Join", 1, 1); !reflect.DeepEqual(loc, ref(s.id(st.Catalog.Results))) {
		t.Errorf("results go to %v, not the results bucket", loc)
	}

	queries, err := athena.Queries()
	if err != nil {
		t.Fatal(err)
	}
	named := s.resources("AWS::Athena::NamedQuery")
	if len(named) != len(queries) {
		t.Fatalf("%d named queries, want %d (athena.Queries)", len(named), len(queries))
	}
	for _, q := range queries {
		check(t, "named query "+q.Name, func() {
			s.Template.HasResourceProperties(jsii.String("AWS::Athena::NamedQuery"), obj{
				"Name":        q.Name,
				"QueryString": q.SQL,
				"Database":    ref(s.id(st.Catalog.Database)),
				"WorkGroup":   ref(s.id(st.Catalog.WorkGroup)),
			})
		})
	}
}

// TestMetricFiltersReadTheRelayLogFields ties the metric filters to the
// relay package's log field names.
func TestMetricFiltersReadTheRelayLogFields(t *testing.T) {
	s := defaultStack(t)
	logGroup := ref(s.id(s.Pipeline.Relay.LogGroup))
	for _, tc := range []struct{ field, metric string }{
		{relay.LogFieldRecordsSize, MetricRecordsSize},
		{relay.LogFieldFailedEvents, MetricFailedEvents},
		{relay.LogFieldRejected, MetricRejectedEvents},
	} {
		check(t, "metric filter on "+tc.field, func() {
			s.Template.HasResourceProperties(jsii.String("AWS::Logs::MetricFilter"), obj{
				"LogGroupName":  logGroup,
				"FilterPattern": "{ $." + tc.field + " > 0 }",
				"MetricTransformations": arr{obj{
					"MetricName":      tc.metric,
					"MetricNamespace": DefaultNamePrefix,
					"MetricValue":     "$." + tc.field,
					"Unit":            "Count",
				}},
			})
		})
	}
	// The seed design's filter, literally.
	check(t, "seed filter", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::Logs::MetricFilter"), obj{
			"FilterPattern":         "{ $.records_size > 0 }",
			"MetricTransformations": arr{assertions.Match_ObjectLike(&obj{"MetricValue": "$.records_size"})},
		})
	})
}

func TestAlarmsNotifyTheTopic(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			s := v.get(t)
			st := s.Pipeline
			var topic interface{} = existingTopicArn
			if st.Props.AlarmTopic == nil {
				topic = ref(s.id(st.Monitoring.Topic))
			}
			stream := ref(s.id(st.Delivery.Stream))
			tableLabels := map[string]string{"app-events": "events", "app-summary": "summary"}
			if st.Tables.Key != nil {
				tableLabels = map[string]string{"${" + s.id(st.Tables.Events) + "}": "events", "${" + s.id(st.Tables.Summary) + "}": "summary"}
			}
			// The Lambda and SQS alarms are keyed by whose they are.
			owners := map[string]string{
				show(ref(s.id(st.Relay.Function))):                  "relay",
				show(getAtt(s.id(st.Relay.OnFailure), "QueueName")): "relay",
			}
			if st.Summary != nil {
				owners[show(ref(s.id(st.Summary.Function)))] = "summary"
				owners[show(getAtt(s.id(st.Summary.OnFailure), "QueueName"))] = "summary"
			}
			if st.Collector != nil {
				owners[show(ref(s.id(st.Collector.Function)))] = "collector"
			}
			want := map[string]float64{ // metric -> threshold
				"AWS/Lambda Errors relay":                             1,
				"AWS/Lambda IteratorAge relay":                        float64(st.Props.IteratorAgeAlarm.Milliseconds()),
				"AWS/SQS ApproximateNumberOfMessagesVisible relay":    1,
				st.Props.NamePrefix + " " + MetricFailedEvents:        1,
				st.Props.NamePrefix + " " + MetricRejectedEvents:      1,
				"AWS/Lambda Errors summary":                           1,
				"AWS/Lambda IteratorAge summary":                      float64((st.Props.SummaryWindow + 5*time.Minute).Milliseconds()),
				"AWS/SQS ApproximateNumberOfMessagesVisible summary":  1,
				st.Props.NamePrefix + " " + MetricSummaryUnwritten:    1,
				st.Props.NamePrefix + " " + MetricSummaryMalformed:    1,
				st.Props.NamePrefix + " " + MetricSummaryEarlyWrites:  1,
				st.Props.NamePrefix + " " + MetricSummaryStateBytes:   SummaryStateBytesAlarm,
				"AWS/Firehose DeliveryToS3.DataFreshness":             st.Props.DataFreshnessAlarm.Seconds(),
				"AWS/Firehose DeliveryToS3.Success":                   1,
				"AWS/Firehose PartitionCountExceeded":                 1,
				"math ReadThrottleEvents+WriteThrottleEvents events":  1,
				"math ReadThrottleEvents+WriteThrottleEvents summary": 1,
			}
			if st.Props.Format == FormatParquet {
				want["AWS/Firehose FailedConversion.Records"] = 1
			}
			if st.Collector != nil {
				for k, v := range map[string]float64{
					"AWS/ApiGateway 5xx":                                         1,
					"AWS/ApiGateway Latency":                                     float64(CollectorLatencyAlarm.Milliseconds()),
					"AWS/Lambda Throttles collector":                             1,
					"AWS/Lambda Errors collector":                                1,
					st.Props.NamePrefix + " " + MetricCollectorNotStored:         1,
					st.Props.NamePrefix + " " + MetricCollectorThrottled:         1,
					st.Props.NamePrefix + " " + MetricCollectorKeyReloadFailures: 1,
				} {
					want[k] = v
				}
			}
			if st.Summary == nil {
				for k := range want {
					if strings.HasSuffix(k, " summary") && !strings.HasPrefix(k, "math ") || strings.Contains(k, " Summary") {
						delete(want, k)
					}
				}
			}
			got := map[string]float64{}
			for _, a := range s.resources("AWS::CloudWatch::Alarm") {
				if !reflect.DeepEqual(a.Props["AlarmActions"], arr{topic}) || !reflect.DeepEqual(a.Props["OKActions"], arr{topic}) {
					t.Errorf("alarm %s actions %v / %v", a.ID, a.Props["AlarmActions"], a.Props["OKActions"])
				}
				if a.Props["TreatMissingData"] != "notBreaching" || a.Props["AlarmDescription"] == nil {
					t.Errorf("alarm %s: missing data %v, description %v", a.ID, a.Props["TreatMissingData"], a.Props["AlarmDescription"])
				}
				key := ""
				if ns, ok := a.Props["Namespace"].(string); ok {
					key = ns + " " + a.Props["MetricName"].(string)
					if ns == "AWS/Lambda" || ns == "AWS/SQS" {
						key += " " + owners[show(path(a.Props, "Dimensions", 0, "Value"))]
					}
					if ns == "AWS/Firehose" && !reflect.DeepEqual(a.Props["Dimensions"], arr{obj{"Name": "DeliveryStreamName", "Value": stream}}) {
						t.Errorf("alarm %s watches %v", a.ID, a.Props["Dimensions"])
					}
				} else {
					var names []string
					var table string
					for _, m := range a.Props["Metrics"].(arr) {
						if n, ok := path(m, "MetricStat", "Metric", "MetricName").(string); ok {
							names = append(names, n)
							table = tableLabels[show(path(m, "MetricStat", "Metric", "Dimensions", 0, "Value"))]
						}
					}
					sort.Strings(names)
					key = "math " + strings.Join(names, "+") + " " + table
				}
				got[key] = a.Props["Threshold"].(float64)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("alarms:\n got %v\nwant %v", got, want)
			}
		})
	}
}

func TestTopicIsEncryptedAndSubscribed(t *testing.T) {
	s := defaultStack(t)
	check(t, "topic", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::SNS::Topic"), obj{
			"KmsMasterKeyId": getAtt(s.id(s.Pipeline.OpsKey), "Arn"),
			"TopicName":      assertions.Match_Absent(),
		})
	})
	check(t, "email subscription", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::SNS::Subscription"), obj{
			"Protocol": "email", "Endpoint": "ops@example.com", "TopicArn": ref(s.id(s.Pipeline.Monitoring.Topic)),
		})
	})
	check(t, "topic policy denies plain HTTP", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::SNS::TopicPolicy"), obj{
			"PolicyDocument": obj{"Statement": assertions.Match_ArrayWith(&arr{denyInsecureTransport()})},
		})
	})
}

func TestDashboardHasTheSeedWidgetsAndTheAlarms(t *testing.T) {
	s := defaultStack(t)
	d := s.one(t, "AWS::CloudWatch::Dashboard", nil)
	body := render(d.Props["DashboardBody"])
	var dash struct {
		Widgets []struct {
			Type       string
			Properties struct {
				Title   string
				Metrics []arr
				Alarms  []string
			}
		}
	}
	if err := json.Unmarshal([]byte(body), &dash); err != nil {
		t.Fatalf("dashboard body: %v\n%s", err, body)
	}
	metrics := map[string][]string{} // title -> metric names
	alarms := map[string]int{}       // alarm widget title -> alarms shown
	for _, w := range dash.Widgets {
		for _, m := range w.Properties.Metrics {
			for i, x := range m {
				if i == 1 || (i == 0 && len(m) == 1) {
					if name, ok := x.(string); ok {
						metrics[w.Properties.Title] = append(metrics[w.Properties.Title], name)
					}
				}
			}
		}
		if w.Type == "alarm" {
			alarms[w.Properties.Title] = len(w.Properties.Alarms)
		}
	}
	// The seed's four graphs: records in the stream, passed on by the
	// Lambda, received by Firehose, delivered to S3.
	for title, metric := range map[string]string{
		"Records in the stream":        "ReturnedRecordsCount",
		"Records the Lambda passed on": MetricRecordsSize,
		"Firehose incoming records":    "IncomingRecords",
		"Records delivered to S3":      "DeliveryToS3.Records",
	} {
		if !reflect.DeepEqual(metrics[title], []string{metric}) {
			t.Errorf("widget %q shows %v, want %s", title, metrics[title], metric)
		}
	}
	// Every alarm is on the dashboard: the pipeline's in "Alarms", the
	// summary consumer's in its own row.
	summaryAlarms, collectorAlarms := len(s.Pipeline.Summary.Alarms), len(s.Pipeline.Collector.Alarms)
	if want := (map[string]int{"Alarms": len(s.resources("AWS::CloudWatch::Alarm")) - summaryAlarms - collectorAlarms,
		"Summary alarms": summaryAlarms, "Collector alarms": collectorAlarms}); !reflect.DeepEqual(alarms, want) {
		t.Errorf("alarm widgets show %v, want %v", alarms, want)
	}
	// The summary consumer's row: its writes and what went wrong.
	for title, want := range map[string][]string{
		"Summary writes (UpdateItem calls)":                   {MetricSummaryWrites},
		"Summary: unwritten, malformed, early writes, errors": {MetricSummaryUnwritten, MetricSummaryMalformed, MetricSummaryEarlyWrites, "Errors"},
		"Summary iterator age (ms)":                           {"IteratorAge"},
		// The collector's row: its requests, latency and what went wrong.
		"Collector requests, 4xx, 5xx": {"Count", "4xx", "5xx"},
		"Collector latency (ms)":       {"Latency", "Latency", "IntegrationLatency"},
		"Collector: not stored, throttled, key reloads, errors": {MetricCollectorNotStored, MetricCollectorThrottled, "Throttles",
			MetricCollectorKeyReloadFailures, "Errors"},
	} {
		if !reflect.DeepEqual(metrics[title], want) {
			t.Errorf("widget %q shows %v, want %v", title, metrics[title], want)
		}
	}
	if !strings.Contains(body, `"StreamLabel","<token>"`) {
		t.Errorf("stream widget has no StreamLabel dimension: %s", body)
	}
	// CloudFormation's Dashboard schema has no Tags (cfn-lint E3002), even
	// though the stack tags everything.
	if d.Props["Tags"] != nil {
		t.Errorf("dashboard has tags %v", d.Props["Tags"])
	}
	check(t, "the rest of the stack is tagged", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::SQS::Queue"), obj{
			"Tags": assertions.Match_ArrayWith(&arr{obj{"Key": "team", "Value": "analytics"}}),
		})
	})
}

// TestTunedPropsReachTheTemplate checks non-default props end up where they
// belong (the JSON variant is synthesized with jsonProps).
func TestTunedPropsReachTheTemplate(t *testing.T) {
	s := jsonStack(t)
	p := jsonProps
	check(t, "buffering", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::KinesisFirehose::DeliveryStream"), obj{
			"ExtendedS3DestinationConfiguration": obj{"BufferingHints": obj{"IntervalInSeconds": 90, "SizeInMBs": 64}},
		})
	})
	check(t, "event source mapping", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::Lambda::EventSourceMapping"), obj{
			"BatchSize": p.BatchSize, "MaximumBatchingWindowInSeconds": 30, "MaximumRetryAttempts": p.RetryAttempts,
			"MaximumRecordAgeInSeconds": 7200,
		})
	})
	check(t, "log retention", func() {
		// The relay's, the summary consumer's, Firehose's, the collector's
		// and its access log.
		s.Template.ResourcePropertiesCountIs(jsii.String("AWS::Logs::LogGroup"), obj{"RetentionInDays": 90}, jsii.Number(5))
	})
	check(t, "noncurrent versions", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::S3::Bucket"), obj{
			"LifecycleConfiguration": obj{"Rules": assertions.Match_ArrayWith(&arr{assertions.Match_ObjectLike(&obj{
				"NoncurrentVersionExpiration": obj{"NoncurrentDays": 7},
			})})},
		})
	})
	check(t, "names", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::Glue::Database"), obj{"DatabaseInput": obj{"Name": p.NamePrefix}})
		s.Template.HasResourceProperties(jsii.String("AWS::Athena::WorkGroup"), obj{
			"Name":                   p.NamePrefix,
			"WorkGroupConfiguration": obj{"BytesScannedCutoffPerQuery": p.BytesScannedCutoff},
		})
		s.Template.ResourcePropertiesCountIs(jsii.String("AWS::Logs::MetricFilter"), obj{
			"MetricTransformations": arr{assertions.Match_ObjectLike(&obj{"MetricNamespace": p.NamePrefix})},
		}, jsii.Number(11))
	})
	check(t, "summary window", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::Lambda::EventSourceMapping"), obj{
			"FunctionName":                   ref(s.id(s.Pipeline.Summary.Function)),
			"TumblingWindowInSeconds":        p.SummaryWindow.Seconds(),
			"MaximumBatchingWindowInSeconds": SummaryBatchingWindow.Seconds(),
		})
		s.Template.HasResourceProperties(jsii.String("AWS::Lambda::Function"), obj{
			"Environment": obj{"Variables": obj{summary.EnvWindowSeconds: "300"}},
		})
	})
}

// TestGrantsForApplications checks GrantTracker and GrantQuery give an
// application's role what the tracker and the query runner need, on the
// pipeline's own resources.
func TestGrantsForApplications(t *testing.T) {
	s := jsonStack(t)
	st := s.Pipeline
	role := s.one(t, "AWS::IAM::Role", func(r resource) bool {
		return path(r.Props, "AssumeRolePolicyDocument", "Statement", 0, "Principal", "Service") == "ecs-tasks.amazonaws.com"
	})
	allowed := s.rolePolicyGrants(t, role.ID)
	arn := func(service, resource string) string {
		return "arn:aws:" + service + ":us-east-1:${AWS::AccountId}:" + resource
	}
	db := "${" + s.id(st.Catalog.Database) + "}"
	for _, want := range []string{
		"dynamodb:PutItem ${" + s.id(st.Tables.Events) + ".Arn}",
		"dynamodb:BatchWriteItem ${" + s.id(st.Tables.Events) + ".Arn}",
		"dynamodb:Query ${" + s.id(st.Tables.Events) + ".Arn}",
		"dynamodb:UpdateItem ${" + s.id(st.Tables.Summary) + ".Arn}",
		"kms:Decrypt ${" + s.id(st.Tables.Key) + ".Arn}",
		"athena:StartQueryExecution " + arn("athena", "workgroup/${"+s.id(st.Catalog.WorkGroup)+"}"),
		"athena:GetQueryResults " + arn("athena", "workgroup/${"+s.id(st.Catalog.WorkGroup)+"}"),
		"glue:GetTable " + arn("glue", "table/"+db+"/"+athena.ViewName),
		"glue:GetTable " + arn("glue", "table/"+db+"/"+athena.IdentitiesView),
		"glue:GetDatabase " + arn("glue", "database/"+db),
		"glue:GetTable " + arn("glue", "table/"+db+"/${"+s.id(st.Catalog.Table)+"}"),
		"s3:GetObject* ${" + s.id(st.Lake.Bucket) + ".Arn}/" + EventsPrefix + "*",
		"s3:PutObject ${" + s.id(st.Catalog.Results) + ".Arn}/*",
		"kms:Decrypt ${" + s.id(st.Lake.Key) + ".Arn}",
		"kms:GenerateDataKey* ${" + s.id(st.Lake.Key) + ".Arn}",
	} {
		if !allowed[want] {
			t.Errorf("application role lacks %s", want)
		}
	}
	for a := range allowed {
		if strings.HasSuffix(a, " *") {
			t.Errorf("application role has a wildcard resource: %s", a)
		}
	}
}

// TestTableClassAndBilling checks the table class and billing props reach
// both created tables, and the defaults (standard class, on-demand).
func TestTableClassAndBilling(t *testing.T) {
	for _, tc := range []struct {
		name  string
		get   func(*testing.T) *synthesized
		class string
		mode  string
	}{
		{"defaults", defaultStack, "STANDARD", "PAY_PER_REQUEST"},
		{"standard-IA, provisioned", jsonStack, "STANDARD_INFREQUENT_ACCESS", "PROVISIONED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.get(t)
			tables := s.resources("AWS::DynamoDB::GlobalTable")
			if len(tables) != 2 {
				t.Fatalf("%d tables", len(tables))
			}
			for _, tbl := range tables {
				if tbl.Props["BillingMode"] != tc.mode {
					t.Errorf("table %s billing %v, want %s", tbl.ID, tbl.Props["BillingMode"], tc.mode)
				}
				for _, r := range tbl.Props["Replicas"].(arr) {
					if got := path(r, "TableClass"); got != tc.class && !(got == nil && tc.class == "STANDARD") {
						t.Errorf("table %s replica class %v, want %s", tbl.ID, got, tc.class)
					}
					if tc.mode == "PROVISIONED" && path(r, "ReadProvisionedThroughputSettings", "ReadCapacityUnits") != 5.0 {
						t.Errorf("table %s read capacity %v", tbl.ID, path(r, "ReadProvisionedThroughputSettings"))
					}
				}
				if tc.mode == "PROVISIONED" && path(tbl.Props, "WriteProvisionedThroughputSettings", "WriteCapacityAutoScalingSettings", "MaxCapacity") != 50.0 {
					t.Errorf("table %s write capacity %v", tbl.ID, tbl.Props["WriteProvisionedThroughputSettings"])
				}
			}
		})
	}
}

// TestExistingTables: the pipeline on tables it did not create defines no
// table or table key, reads the events table's stream (by its ARN, with its
// key), alarms on both tables' throttles, grants the application on both,
// and notifies the existing topic.
func TestExistingTables(t *testing.T) {
	s := existingStack(t)
	pl := s.Pipeline
	if pl.Tables.Key != nil || len(pl.Tables.Created) != 0 {
		t.Errorf("tables created: key %v, tables %v", pl.Tables.Key, pl.Tables.Created)
	}
	check(t, "event source mapping on the existing stream", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::Lambda::EventSourceMapping"), obj{
			"EventSourceArn":   existingStreamArn,
			"FunctionName":     ref(s.id(pl.Relay.Function)),
			"StartingPosition": "TRIM_HORIZON",
			"FilterCriteria":   obj{"Filters": arr{obj{"Pattern": `{"eventName":["INSERT"]}`}}},
		})
	})
	relayGrants := s.rolePolicyGrants(t, s.id(pl.Relay.Role))
	for _, want := range []string{
		"dynamodb:DescribeStream " + existingStreamArn,
		"dynamodb:GetRecords " + existingStreamArn,
		"dynamodb:GetShardIterator " + existingStreamArn,
		"dynamodb:ListStreams " + existingStreamArn,
		"kms:Decrypt " + existingKeyArn,
		"kms:DescribeKey " + existingKeyArn,
	} {
		if !relayGrants[want] {
			t.Errorf("relay role lacks %s (has %v)", want, sortedKeys(relayGrants))
		}
	}
	for g := range relayGrants {
		if strings.HasSuffix(g, " *") {
			t.Errorf("relay role has a wildcard resource: %s", g)
		}
	}
	role := s.one(t, "AWS::IAM::Role", func(r resource) bool {
		return path(r.Props, "AssumeRolePolicyDocument", "Statement", 0, "Principal", "Service") == "ecs-tasks.amazonaws.com"
	})
	appGrants := s.rolePolicyGrants(t, role.ID)
	for _, want := range []string{
		"dynamodb:PutItem " + existingEventsArn,
		"dynamodb:BatchWriteItem " + existingEventsArn,
		"dynamodb:Query " + existingEventsArn,
		"dynamodb:UpdateItem " + existingSummaryArn,
		"dynamodb:GetItem " + existingSummaryArn,
		"kms:Decrypt " + existingKeyArn,
	} {
		if !appGrants[want] {
			t.Errorf("application role lacks %s", want)
		}
	}
	check(t, "alarms go to the existing topic", func() {
		s.Template.AllResourcesProperties(jsii.String("AWS::CloudWatch::Alarm"), obj{"AlarmActions": arr{existingTopicArn}})
	})
	// The ops key does not need to let CloudWatch publish to a topic it
	// does not encrypt.
	ops := s.one(t, "AWS::KMS::Key", func(r resource) bool { return r.ID == s.id(pl.OpsKey) })
	for _, st := range path(ops.Props, "KeyPolicy", "Statement").(arr) {
		if path(st, "Principal", "Service") == "cloudwatch.amazonaws.com" {
			t.Errorf("ops key lets CloudWatch alarms use it without a topic to encrypt: %v", st)
		}
	}
}

// TestNewPipelineRejects checks the errors NewPipeline returns before
// defining anything.
func TestNewPipelineRejects(t *testing.T) {
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
	st := awscdk.NewStack(app, jsii.String("Rejects"), &awscdk.StackProps{Env: &awscdk.Environment{Region: jsii.String("us-east-1")}})
	noStream := awsdynamodb.Table_FromTableName(st, jsii.String("NoStream"), jsii.String("app-events"))
	oldImages := awsdynamodb.NewTableV2(st, jsii.String("OldImages"), &awsdynamodb.TablePropsV2{
		PartitionKey: &awsdynamodb.Attribute{Name: jsii.String("actor"), Type: awsdynamodb.AttributeType_STRING},
		DynamoStream: awsdynamodb.StreamViewType_OLD_IMAGE,
	})
	summary := awsdynamodb.Table_FromTableName(st, jsii.String("Summary"), jsii.String("app-summary"))
	agnostic := awscdk.NewStack(app, jsii.String("Agnostic"), nil)
	for _, tc := range []struct {
		name  string
		scope constructs.Construct
		props PipelineProps
		want  string
	}{
		{"events table without a stream", st, PipelineProps{EventsTable: noStream}, "has no stream"},
		{"events table streaming old images", st, PipelineProps{EventsTable: oldImages}, "OLD_IMAGE"},
		{"table class with both tables passed in", st, PipelineProps{
			EventsTable: noStream, SummaryTable: summary, TableClass: awsdynamodb.TableClass_STANDARD_INFREQUENT_ACCESS,
		}, "TableClass"},
		{"tables in a stack without a region", agnostic, PipelineProps{}, "concrete region"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(*tc.scope.Node().Children())
			_, err := NewPipeline(tc.scope, "Pipeline", withLambdas(tc.props))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
			if len(*tc.scope.Node().Children()) != before {
				t.Errorf("NewPipeline defined constructs before failing")
			}
		})
	}
}

// TestPipelineInAnAppWithoutFeatureFlags: an adopter's app may lack the
// feature flags of eventlake's cdk.json; the pipeline still synthesizes,
// passes cdk-nag and lints clean.
func TestPipelineInAnAppWithoutFeatureFlags(t *testing.T) {
	s := bareStack(t)
	rule := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))
	check(t, "cdk-nag errors", func() { s.Annotations.HasNoError(jsii.String("*"), rule) })
	check(t, "cdk-nag warnings", func() { s.Annotations.HasNoWarning(jsii.String("*"), rule) })
	check(t, "access logs by bucket policy", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::S3::BucketPolicy"), obj{
			"Bucket": ref(s.id(s.Pipeline.Lake.AccessLogs)),
			"PolicyDocument": obj{"Statement": assertions.Match_ArrayWith(&arr{assertions.Match_ObjectLike(&obj{
				"Principal": obj{"Service": "logging.s3.amazonaws.com"},
			})})},
		})
	})
	lintClean(t, s)
}

// TestTemplatesLintClean runs cfn-lint, AWS's CloudFormation linter, on
// every synthesized variant: no error, no warning. `make test` installs
// cfn-lint first (make lint-template); without it the test fails, it does
// not skip.
func TestTemplatesLintClean(t *testing.T) {
	for _, v := range append(variants[:len(variants):len(variants)], analyticsVariants...) {
		t.Run(v.name, func(t *testing.T) { lintClean(t, v.get(t)) })
	}
}

// lintClean fails t unless cfn-lint finds nothing in s's template.
func lintClean(t *testing.T, s *synthesized) {
	t.Helper()
	cfnLint, err := testenv.CfnLint()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(cfnLint, "--regions", "us-east-1", "--", s.File).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("cfn-lint %s: %v\n%s", s.File, err, out)
	}
}
