package eventlake

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/eventlake/eventlake/lambdas/summarize/summary"
)

func TestSummaryFunction(t *testing.T) {
	s := defaultStack(t)
	sm := s.Pipeline.Summary
	check(t, "function", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::Lambda::Function"), obj{
			"Runtime":       "provided.al2023",
			"Architectures": arr{"arm64"},
			"Handler":       "bootstrap",
			"MemorySize":    SummaryMemoryMiB,
			"Timeout":       SummaryTimeout.Seconds(),
			"Role":          getAtt(s.id(sm.Role), "Arn"),
			"LoggingConfig": obj{"LogGroup": ref(s.id(sm.LogGroup))},
			// The summary table's name and the window, and only those: the
			// window is the mapping's TumblingWindowInSeconds too.
			"Environment": assertions.Match_Exact(obj{"Variables": obj{
				summary.EnvSummaryTableName: ref(s.id(s.Pipeline.Tables.Summary)),
				summary.EnvWindowSeconds:    "60",
			}}),
		})
	})
	check(t, "its log group is encrypted and keeps logs for the default retention", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::Logs::LogGroup"), obj{
			"RetentionInDays": DefaultLogRetentionDays,
			"KmsKeyId":        getAtt(s.id(s.Pipeline.OpsKey), "Arn"),
		})
	})
	s.checkGoFunction(t, "summary", sm.Function, sm.Role)
}

// TestSummaryGrants pins the summary role's policy: write its log group,
// read the events stream with its key, UpdateItem on the summary table
// alone with its key, send to its own on-failure queue with the ops key.
func TestSummaryGrants(t *testing.T) {
	s := defaultStack(t)
	pl := s.Pipeline
	sm := pl.Summary
	tablesKey, opsKey := getAtt(s.id(pl.Tables.Key), "Arn"), getAtt(s.id(pl.OpsKey), "Arn")
	want := grants{}
	want.add(getAtt(s.id(sm.LogGroup), "Arn"), "logs:CreateLogStream", "logs:PutLogEvents")
	want.add(getAtt(s.id(pl.Tables.Events), "StreamArn"),
		"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams")
	want.add(getAtt(s.id(pl.Tables.Summary), "Arn"), "dynamodb:UpdateItem")
	// The stream's grant (Decrypt, DescribeKey) and the summary table's
	// (the same key: both tables share it) on one key ARN.
	want.add(tablesKey, "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey")
	want.add(getAtt(s.id(sm.OnFailure), "Arn"), "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage")
	want.add(opsKey, "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*")
	got := grants{}
	for _, p := range s.resources("AWS::IAM::Policy") {
		if !reflect.DeepEqual(p.Props["Roles"], arr{ref(s.id(sm.Role))}) {
			continue
		}
		for _, st := range path(p.Props, "PolicyDocument", "Statement").(arr) {
			if path(st, "Effect") != "Allow" {
				t.Errorf("unexpected statement %v", st)
			}
			got.addStatement(st.(obj))
		}
	}
	got.dedupe()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("summary role grants:\n got %v\nwant %v", got, want)
	}
}

// dedupe removes repeated actions on a resource (two grants may name the
// same action on the same key).
func (g grants) dedupe() {
	for res, actions := range g {
		out := actions[:0]
		for i, a := range actions {
			if i == 0 || a != actions[i-1] {
				out = append(out, a)
			}
		}
		g[res] = out
	}
}

func TestSummaryEventSourceMapping(t *testing.T) {
	s := defaultStack(t)
	sm := s.Pipeline.Summary
	check(t, "event source mapping", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::Lambda::EventSourceMapping"), obj{
			"FunctionName":                   ref(s.id(sm.Function)),
			"EventSourceArn":                 getAtt(s.id(s.Pipeline.Tables.Events), "StreamArn"),
			"StartingPosition":               "TRIM_HORIZON",
			"BatchSize":                      SummaryBatchSize,
			"MaximumBatchingWindowInSeconds": SummaryBatchingWindow.Seconds(),
			"TumblingWindowInSeconds":        DefaultSummaryWindow.Seconds(),
			"BisectBatchOnFunctionError":     false,
			"MaximumRetryAttempts":           SummaryRetryAttempts,
			"MaximumRecordAgeInSeconds":      assertions.Match_Absent(), // -1: the stream keeps 24 hours
			"ParallelizationFactor":          1,
			"FunctionResponseTypes":          arr{"ReportBatchItemFailures"},
			"FilterCriteria":                 obj{"Filters": arr{obj{"Pattern": `{"eventName":["INSERT"]}`}}},
			"DestinationConfig":              obj{"OnFailure": obj{"Destination": getAtt(s.id(sm.OnFailure), "Arn")}},
		})
	})
	check(t, "on-failure queue", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::SQS::Queue"), obj{
			"KmsMasterKeyId":         getAtt(s.id(s.Pipeline.OpsKey), "Arn"),
			"MessageRetentionPeriod": 14 * 24 * 3600,
		})
		s.Template.ResourcePropertiesCountIs(jsii.String("AWS::SQS::QueuePolicy"), obj{
			"Queues":         arr{ref(s.id(sm.OnFailure))},
			"PolicyDocument": obj{"Statement": assertions.Match_ArrayWith(&arr{denyInsecureTransport()})},
		}, jsii.Number(1))
	})
}

// TestSummaryBatchingWindowIsCapped: a window shorter than the batching
// window caps it, so a batch never waits longer than its window.
func TestSummaryBatchingWindowIsCapped(t *testing.T) {
	s := synth(t, "summary-short-window", func(st awscdk.Stack) (*Pipeline, error) {
		return NewPipeline(st, "Pipeline", withLambdas(PipelineProps{SummaryWindow: 5 * time.Second}))
	})
	check(t, "event source mapping", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::Lambda::EventSourceMapping"), obj{
			"FunctionName":                   ref(s.id(s.Pipeline.Summary.Function)),
			"TumblingWindowInSeconds":        5,
			"MaximumBatchingWindowInSeconds": 5,
		})
	})
}

func TestSummaryMetricFilters(t *testing.T) {
	s := defaultStack(t)
	logGroup := ref(s.id(s.Pipeline.Summary.LogGroup))
	for _, tc := range []struct{ metric, pattern, field, unit string }{
		// The patterns of docs/lambda.md, with the summary package's names.
		{MetricSummaryWrites, `{ ($.msg = "summary batch") && ($.writes > 0) }`, summary.LogFieldWrites, "Count"},
		{MetricSummaryUnwritten, `{ $.unwritten > 0 }`, summary.LogFieldUnwritten, "Count"},
		{MetricSummaryMalformed, `{ $.malformed > 0 }`, summary.LogFieldMalformed, "Count"},
		{MetricSummaryEarlyWrites, `{ $.early_writes > 0 }`, summary.LogFieldEarlyWrites, "Count"},
		{MetricSummaryStateBytes, `{ $.state_bytes > 0 }`, summary.LogFieldStateBytes, "Bytes"},
	} {
		check(t, "metric filter "+tc.metric, func() {
			s.Template.HasResourceProperties(jsii.String("AWS::Logs::MetricFilter"), obj{
				"LogGroupName":  logGroup,
				"FilterPattern": tc.pattern,
				"MetricTransformations": arr{obj{
					"MetricName":      tc.metric,
					"MetricNamespace": DefaultNamePrefix,
					"MetricValue":     "$." + tc.field,
					"Unit":            tc.unit,
				}},
			})
		})
	}
}

// TestSummaryAlarms pins each alarm of the summary consumer: its metric,
// statistic, period, threshold, operator and the number of periods.
func TestSummaryAlarms(t *testing.T) {
	s := defaultStack(t)
	sm := s.Pipeline.Summary
	fn, queue := show(ref(s.id(sm.Function))), show(getAtt(s.id(sm.OnFailure), "QueueName"))
	type alarm struct {
		Metric, Statistic string
		Period            float64
		Threshold         float64
		Operator          string
		Periods           float64
	}
	gte, gt := "GreaterThanOrEqualToThreshold", "GreaterThanThreshold"
	want := map[string]alarm{
		"AWS/Lambda Errors " + fn:                                {"Errors", "Sum", 300, 1, gte, 3},
		"AWS/Lambda IteratorAge " + fn:                           {"IteratorAge", "Maximum", 300, 360_000, gt, 1},
		"AWS/SQS ApproximateNumberOfMessagesVisible " + queue:    {"ApproximateNumberOfMessagesVisible", "Maximum", 300, 1, gte, 1},
		DefaultNamePrefix + " " + MetricSummaryUnwritten + " ":   {MetricSummaryUnwritten, "Sum", 300, 1, gte, 3},
		DefaultNamePrefix + " " + MetricSummaryMalformed + " ":   {MetricSummaryMalformed, "Sum", 300, 1, gte, 1},
		DefaultNamePrefix + " " + MetricSummaryEarlyWrites + " ": {MetricSummaryEarlyWrites, "Sum", 3600, 1, gte, 1},
		DefaultNamePrefix + " " + MetricSummaryStateBytes + " ":  {MetricSummaryStateBytes, "Maximum", 300, SummaryStateBytesAlarm, gt, 1},
	}
	ids := map[string]bool{}
	for _, a := range sm.Alarms {
		ids[s.id(a)] = true
	}
	got := map[string]alarm{}
	for _, a := range s.resources("AWS::CloudWatch::Alarm") {
		if !ids[a.ID] {
			continue
		}
		p := a.Props
		dim, _ := path(p, "Dimensions", 0, "Value").(interface{})
		key := p["Namespace"].(string) + " " + p["MetricName"].(string) + " "
		if dim != nil {
			key += show(dim)
		}
		got[key] = alarm{p["MetricName"].(string), p["Statistic"].(string), p["Period"].(float64),
			p["Threshold"].(float64), p["ComparisonOperator"].(string), p["EvaluationPeriods"].(float64)}
		if p["DatapointsToAlarm"] != nil && p["DatapointsToAlarm"] != p["EvaluationPeriods"] {
			t.Errorf("alarm %s: %v of %v datapoints", a.ID, p["DatapointsToAlarm"], p["EvaluationPeriods"])
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("summary alarms:\n got %v\nwant %v", got, want)
	}
}

// TestSummaryOnExistingTables: on an application's tables the consumer
// reads the existing stream (with its key) and calls UpdateItem on the
// existing summary table alone; that table's key is not known to the CDK,
// so no key grant is made for it.
func TestSummaryOnExistingTables(t *testing.T) {
	s := existingStack(t)
	sm := s.Pipeline.Summary
	check(t, "event source mapping on the existing stream", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::Lambda::EventSourceMapping"), obj{
			"EventSourceArn":          existingStreamArn,
			"FunctionName":            ref(s.id(sm.Function)),
			"TumblingWindowInSeconds": DefaultSummaryWindow.Seconds(),
		})
	})
	check(t, "the existing summary table's name", func() {
		fn := s.one(t, "AWS::Lambda::Function", func(x resource) bool { return x.ID == s.id(sm.Function) })
		name := path(fn.Props, "Environment", "Variables", summary.EnvSummaryTableName)
		if name == nil || strings.Contains(show(name), "Ref") {
			t.Errorf("SUMMARY_TABLE_NAME is %v", name)
		}
	})
	got := s.rolePolicyGrants(t, s.id(sm.Role))
	for _, want := range []string{
		"dynamodb:DescribeStream " + existingStreamArn,
		"dynamodb:GetRecords " + existingStreamArn,
		"dynamodb:GetShardIterator " + existingStreamArn,
		"dynamodb:ListStreams " + existingStreamArn,
		"kms:Decrypt " + existingKeyArn,
		"kms:DescribeKey " + existingKeyArn,
		"dynamodb:UpdateItem " + existingSummaryArn,
	} {
		if !got[want] {
			t.Errorf("summary role lacks %s (has %v)", want, sortedKeys(got))
		}
	}
	for g := range got {
		if strings.HasPrefix(g, "dynamodb:") && strings.Contains(g, "table/") && !strings.HasPrefix(g, "dynamodb:UpdateItem ") &&
			!strings.Contains(g, "/stream/") {
			t.Errorf("summary role has more than UpdateItem on a table: %s", g)
		}
		if strings.HasSuffix(g, " *") {
			t.Errorf("summary role has a wildcard resource: %s", g)
		}
		if strings.HasPrefix(g, "kms:Encrypt") || strings.HasPrefix(g, "kms:GenerateDataKey ") {
			if !strings.Contains(g, s.id(s.Pipeline.OpsKey)) {
				t.Errorf("summary role may encrypt with a key other than the queue's: %s", g)
			}
		}
	}
}

// TestSummaryDisabled: DisableSummary leaves out the consumer and its
// outputs' sources; the summary table stays.
func TestSummaryDisabled(t *testing.T) {
	s := noSummaryStack(t)
	if s.Pipeline.Summary != nil {
		t.Fatal("Pipeline.Summary is set")
	}
	if len(s.Pipeline.Tables.Created) != 2 {
		t.Errorf("tables created: %d, want both", len(s.Pipeline.Tables.Created))
	}
	for _, m := range s.resources("AWS::Logs::MetricFilter") {
		if name := path(m.Props, "MetricTransformations", 0, "MetricName").(string); strings.HasPrefix(name, "Summary") {
			t.Errorf("metric filter %s without the summary consumer", name)
		}
	}
	body, _ := json.Marshal(s.one(t, "AWS::CloudWatch::Dashboard", nil).Props)
	for _, title := range []string{"Summary writes", "Summary alarms", MetricSummaryWrites} {
		if strings.Contains(string(body), title) {
			t.Errorf("dashboard shows the summary consumer (%s): %s", title, body)
		}
	}
}

func TestValidateSummaryProps(t *testing.T) {
	base := PipelineProps{LambdasDir: lambdasDir}
	// A build of the relay alone: enough only without the summary consumer.
	relayOnly := t.TempDir()
	if err := os.MkdirAll(filepath.Join(relayOnly, RelayFunctionName), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(relayOnly, RelayFunctionName, "bootstrap"), []byte("binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		props   PipelineProps
		problem string // "": valid
	}{
		{"the relay alone without the consumer", PipelineProps{LambdasDir: relayOnly, DisableSummary: true}, ""},
		{"the relay alone", PipelineProps{LambdasDir: relayOnly}, filepath.Join(relayOnly, SummaryFunctionName) + " has no bootstrap binary"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.props.Validate()
			if tc.problem == "" && err != nil || tc.problem != "" && (err == nil || !strings.Contains(err.Error(), "LambdasDir: "+tc.problem)) {
				t.Errorf("Validate = %v, want %q", err, tc.problem)
			}
		})
	}
	for _, tc := range []struct {
		name   string
		props  PipelineProps
		fields []string
	}{
		{"a second", PipelineProps{SummaryWindow: time.Second}, nil},
		{"15 minutes", PipelineProps{SummaryWindow: 15 * time.Minute}, nil},
		{"disabled", PipelineProps{DisableSummary: true}, nil},
		{"below a second", PipelineProps{SummaryWindow: 500 * time.Millisecond}, []string{"SummaryWindow"}},
		{"over 15 minutes", PipelineProps{SummaryWindow: 901 * time.Second}, []string{"SummaryWindow"}},
		{"fractional", PipelineProps{SummaryWindow: 1500 * time.Millisecond}, []string{"SummaryWindow"}},
		{"negative", PipelineProps{SummaryWindow: -time.Minute}, []string{"SummaryWindow"}},
		{"window without the consumer", PipelineProps{DisableSummary: true, SummaryWindow: time.Minute}, []string{"SummaryWindow"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.props
			p.LambdasDir = base.LambdasDir
			err := p.Validate()
			if tc.fields == nil {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			var pe *PropsError
			if !errors.As(err, &pe) || len(pe.Problems) != 1 || pe.Problems[0].Field != tc.fields[0] {
				t.Fatalf("Validate = %v, want %v", err, tc.fields)
			}
		})
	}
}
