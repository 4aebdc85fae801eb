package eventlake

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/jsii-runtime-go"

	"github.com/eventlake/eventlake/tracker"
)

func TestValidate(t *testing.T) {
	valid := PipelineProps{LambdasDir: lambdasDir}
	if err := valid.Validate(); err != nil {
		t.Fatalf("defaults with a built Lambda: %v", err)
	}
	emptyDir := t.TempDir()
	for _, tc := range []struct {
		name   string
		mutate func(*PipelineProps)
		fields []string // every field the error must name
	}{
		{"bad prefix", func(p *PipelineProps) { p.NamePrefix = "Event-Lake" }, []string{"NamePrefix"}},
		{"prefix too long", func(p *PipelineProps) { p.NamePrefix = strings.Repeat("a", 33) }, []string{"NamePrefix"}},
		{"no bootstrap", func(p *PipelineProps) { p.LambdasDir = emptyDir }, []string{"LambdasDir"}},
		{"unknown format", func(p *PipelineProps) { p.Format = "csv" }, []string{"Format"}},
		{"partitioning needs 64 MiB buffers", func(p *PipelineProps) { p.BufferingSizeMiB = 32 }, []string{"BufferingSizeMiB"}},
		{"partitioning needs 64 MiB buffers with JSON too", func(p *PipelineProps) { p.Format, p.BufferingSizeMiB = FormatJSON, 1 }, []string{"BufferingSizeMiB"}},
		{"partitioning needs 60 s buffers", func(p *PipelineProps) { p.BufferingInterval = 30 * time.Second }, []string{"BufferingInterval"}},
		{"unknown table class", func(p *PipelineProps) { p.TableClass = "GLACIER" }, []string{"TableClass"}},
		{"noncurrent versions", func(p *PipelineProps) { p.NoncurrentVersionExpirationDays = -1 }, []string{"NoncurrentVersionExpirationDays"}},
		{"buffer over 128 MiB", func(p *PipelineProps) { p.Format, p.BufferingSizeMiB = FormatJSON, 129 }, []string{"BufferingSizeMiB"}},
		{"interval over 15 minutes", func(p *PipelineProps) { p.BufferingInterval = 16 * time.Minute }, []string{"BufferingInterval"}},
		{"fractional interval", func(p *PipelineProps) { p.BufferingInterval = 90500 * time.Millisecond }, []string{"BufferingInterval"}},
		{"batch too big", func(p *PipelineProps) { p.BatchSize = 10001 }, []string{"BatchSize"}},
		{"window too long", func(p *PipelineProps) { p.BatchingWindow = 6 * time.Minute }, []string{"BatchingWindow"}},
		{"negative retries", func(p *PipelineProps) { p.RetryAttempts = -1 }, []string{"RetryAttempts"}},
		{"record age too short", func(p *PipelineProps) { p.MaxRecordAge = time.Second }, []string{"MaxRecordAge"}},
		{"parallelization", func(p *PipelineProps) { p.ParallelizationFactor = 11 }, []string{"ParallelizationFactor"}},
		{"memory", func(p *PipelineProps) { p.LambdaMemoryMiB = 64 }, []string{"LambdaMemoryMiB"}},
		{"timeout", func(p *PipelineProps) { p.LambdaTimeout = 16 * time.Minute }, []string{"LambdaTimeout"}},
		{"retention", func(p *PipelineProps) { p.LogRetentionDays = 31 }, []string{"LogRetentionDays"}},
		{"email", func(p *PipelineProps) { p.AlarmEmail = "ops at example" }, []string{"AlarmEmail"}},
		{"cutoff", func(p *PipelineProps) { p.BytesScannedCutoff = 1000 }, []string{"BytesScannedCutoff"}},
		{"IA too early", func(p *PipelineProps) { p.InfrequentAccessAfterDays = 10 }, []string{"InfrequentAccessAfterDays"}},
		{"glacier too soon after IA", func(p *PipelineProps) { p.GlacierIRAfterDays = 45 }, []string{"GlacierIRAfterDays"}},
		{"expiry before glacier", func(p *PipelineProps) { p.EventsExpirationDays = 60 }, []string{"EventsExpirationDays"}},
		{"negative error expiry", func(p *PipelineProps) { p.ErrorOutputExpirationDays = -1 }, []string{"ErrorOutputExpirationDays"}},
		{"negative results expiry", func(p *PipelineProps) { p.AthenaResultsExpirationDays = -1 }, []string{"AthenaResultsExpirationDays"}},
		{"iterator alarm", func(p *PipelineProps) { p.IteratorAgeAlarm = time.Second }, []string{"IteratorAgeAlarm"}},
		{"freshness alarm", func(p *PipelineProps) { p.DataFreshnessAlarm = 48 * time.Hour }, []string{"DataFreshnessAlarm"}},
		{"projection start", func(p *PipelineProps) { p.PartitionProjectionStart = "2020/01/01" }, []string{"PartitionProjectionStart"}},
		{"several at once", func(p *PipelineProps) { p.BatchSize, p.LambdaMemoryMiB = -5, 99999 }, []string{"BatchSize", "LambdaMemoryMiB"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := valid
			tc.mutate(&p)
			err := p.Validate()
			var pe *PropsError
			if !errors.As(err, &pe) || !errors.Is(err, ErrInvalidProps) {
				t.Fatalf("Validate = %v, want a *PropsError", err)
			}
			var got []string
			for _, prob := range pe.Problems {
				got = append(got, prob.Field)
				if prob.Reason == "" {
					t.Errorf("%s: no reason", prob.Field)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.fields, ",") {
				t.Errorf("fields %v, want %v (%v)", got, tc.fields, err)
			}
			for _, f := range tc.fields {
				if !strings.Contains(err.Error(), f+": ") {
					t.Errorf("message %q does not name %s", err, f)
				}
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	p := PipelineProps{BufferingInterval: 2 * time.Minute}.WithDefaults()
	if p.NamePrefix != "eventlake" || p.Format != FormatParquet || p.BufferingSizeMiB != 128 ||
		p.LambdasDir != "build/lambdas" || p.LogRetentionDays != 30 || p.TableClass != awsdynamodb.TableClass_STANDARD ||
		p.NoncurrentVersionExpirationDays != 30 {
		t.Errorf("defaults %+v", p)
	}
	if got := p.LambdaCodeDir(RelayFunctionName); got != filepath.Join("build", "lambdas", "streamtofirehose") {
		t.Errorf("relay code dir %s", got)
	}
	if got := p.LambdaCodeDir(SummaryFunctionName); got != filepath.Join("build", "lambdas", "summarize") {
		t.Errorf("summary code dir %s", got)
	}
	if p.SummaryWindow != time.Minute || p.DisableSummary {
		t.Errorf("summary window %s, disabled %v; want the consumer with 60 s windows", p.SummaryWindow, p.DisableSummary)
	}
	// Dynamic partitioning may hold a buffer 1.5 times the interval.
	if p.DataFreshnessAlarm != 18*time.Minute {
		t.Errorf("freshness alarm %s, want 1.5 x buffering interval + 15m", p.DataFreshnessAlarm)
	}
	for days, enum := range retentionDays {
		if enum == "" {
			t.Errorf("retention %d has no enum", days)
		}
	}
}

func TestGlueType(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"string", "string"},
		{"bigint", "bigint"},
		{"int", "int"},
		{"boolean", "boolean"},
		{"timestamp", "timestamp"},
		{"map<string,string>", "map<string,string>"},
		{"map<string,array<bigint>>", "map<string,array<bigint>>"},
		{"array<map<string,double>>", "array<map<string,double>>"},
	} {
		got, err := glueType(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if s := *got.InputString(); s != tc.want {
			t.Errorf("%s -> %s, want %s", tc.in, s, tc.want)
		}
	}
	for _, bad := range []string{"", "text", "map<string>", "array<blob>", "struct<a:int>"} {
		if _, err := glueType(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestTruncate(t *testing.T) {
	if got := truncate("héllo", 2); got != "h" {
		t.Errorf("truncate split a rune: %q", got)
	}
	if got := truncate("abc", 5); got != "abc" {
		t.Errorf("%q", got)
	}
}

func TestValidateTableProps(t *testing.T) {
	p := PipelineProps{LambdasDir: lambdasDir, TableClass: awsdynamodb.TableClass_STANDARD_INFREQUENT_ACCESS,
		Billing: awsdynamodb.Billing_OnDemand(nil)}
	if err := p.Validate(); err != nil {
		t.Fatalf("class and billing for created tables: %v", err)
	}
	// With both tables passed in, nothing would use them.
	st := awscdk.NewStack(awscdk.NewApp(nil), jsii.String("Validate"), nil)
	p.EventsTable = awsdynamodb.Table_FromTableName(st, jsii.String("Events"), jsii.String("events"))
	p.SummaryTable = awsdynamodb.Table_FromTableName(st, jsii.String("Summary"), jsii.String("summary"))
	var pe *PropsError
	if err := p.Validate(); !errors.As(err, &pe) || len(pe.Problems) != 2 ||
		pe.Problems[0].Field != "TableClass" || pe.Problems[1].Field != "Billing" {
		t.Errorf("Validate = %v, want TableClass and Billing", err)
	}
	// One table passed in: the other is created with the class.
	p.SummaryTable = nil
	if err := p.Validate(); err != nil {
		t.Errorf("events table passed in: %v", err)
	}
}

// TestGlueColumnsFollowTheSchema derives Glue columns from a schema shaped
// like schema v2 (a boolean column among strings and a map), so adding
// fields or types to tracker.EventFields() needs no change here.
func TestGlueColumnsFollowTheSchema(t *testing.T) {
	fields := []tracker.Field{
		{Name: "user_id", DynamoType: "S", AthenaType: "string"},
		{Name: "anonymous_id", DynamoType: "S", AthenaType: "string"},
		{Name: "is_bot", DynamoType: "BOOL", AthenaType: "boolean", Doc: "whether the user agent is a bot"},
		{Name: "attributes", DynamoType: "M", AthenaType: "map<string,string>"},
	}
	cols, err := glueColumns(fields)
	if err != nil {
		t.Fatal(err)
	}
	if len(cols) != len(fields) {
		t.Fatalf("%d columns", len(cols))
	}
	for i, f := range fields {
		if *cols[i].Name != f.Name || *cols[i].Type.InputString() != f.AthenaType {
			t.Errorf("column %d: %s %s, want %s %s", i, *cols[i].Name, *cols[i].Type.InputString(), f.Name, f.AthenaType)
		}
	}
	if _, err := glueColumns([]tracker.Field{{Name: "blob", AthenaType: "blob"}}); err == nil || !strings.Contains(err.Error(), "blob") {
		t.Errorf("unknown type: %v", err)
	}
}
