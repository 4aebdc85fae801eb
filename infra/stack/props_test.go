package stack

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/eventlake/eventlake/infra/internal/testenv"
)

func TestValidate(t *testing.T) {
	valid := EventlakeStackProps{LambdaCodeDir: relayCodeDir}
	if err := valid.Validate(); err != nil {
		t.Fatalf("defaults with a built Lambda: %v", err)
	}
	emptyDir := t.TempDir()
	for _, tc := range []struct {
		name   string
		mutate func(*EventlakeStackProps)
		fields []string // every field the error must name
	}{
		{"bad prefix", func(p *EventlakeStackProps) { p.NamePrefix = "Event-Lake" }, []string{"NamePrefix"}},
		{"prefix too long", func(p *EventlakeStackProps) { p.NamePrefix = strings.Repeat("a", 33) }, []string{"NamePrefix"}},
		{"no bootstrap", func(p *EventlakeStackProps) { p.LambdaCodeDir = emptyDir }, []string{"LambdaCodeDir"}},
		{"unknown format", func(p *EventlakeStackProps) { p.Format = "csv" }, []string{"Format"}},
		{"parquet needs 64 MiB buffers", func(p *EventlakeStackProps) { p.BufferingSizeMiB = 32 }, []string{"BufferingSizeMiB"}},
		{"buffer over 128 MiB", func(p *EventlakeStackProps) { p.Format, p.BufferingSizeMiB = FormatJSON, 129 }, []string{"BufferingSizeMiB"}},
		{"interval over 15 minutes", func(p *EventlakeStackProps) { p.BufferingInterval = 16 * time.Minute }, []string{"BufferingInterval"}},
		{"fractional interval", func(p *EventlakeStackProps) { p.BufferingInterval = 1500 * time.Millisecond }, []string{"BufferingInterval"}},
		{"batch too big", func(p *EventlakeStackProps) { p.BatchSize = 10001 }, []string{"BatchSize"}},
		{"window too long", func(p *EventlakeStackProps) { p.BatchingWindow = 6 * time.Minute }, []string{"BatchingWindow"}},
		{"negative retries", func(p *EventlakeStackProps) { p.RetryAttempts = -1 }, []string{"RetryAttempts"}},
		{"record age too short", func(p *EventlakeStackProps) { p.MaxRecordAge = time.Second }, []string{"MaxRecordAge"}},
		{"parallelization", func(p *EventlakeStackProps) { p.ParallelizationFactor = 11 }, []string{"ParallelizationFactor"}},
		{"memory", func(p *EventlakeStackProps) { p.LambdaMemoryMiB = 64 }, []string{"LambdaMemoryMiB"}},
		{"timeout", func(p *EventlakeStackProps) { p.LambdaTimeout = 16 * time.Minute }, []string{"LambdaTimeout"}},
		{"retention", func(p *EventlakeStackProps) { p.LogRetentionDays = 31 }, []string{"LogRetentionDays"}},
		{"email", func(p *EventlakeStackProps) { p.AlarmEmail = "ops at example" }, []string{"AlarmEmail"}},
		{"cutoff", func(p *EventlakeStackProps) { p.BytesScannedCutoff = 1000 }, []string{"BytesScannedCutoff"}},
		{"IA too early", func(p *EventlakeStackProps) { p.InfrequentAccessAfterDays = 10 }, []string{"InfrequentAccessAfterDays"}},
		{"glacier too soon after IA", func(p *EventlakeStackProps) { p.GlacierIRAfterDays = 45 }, []string{"GlacierIRAfterDays"}},
		{"expiry before glacier", func(p *EventlakeStackProps) { p.EventsExpirationDays = 60 }, []string{"EventsExpirationDays"}},
		{"negative error expiry", func(p *EventlakeStackProps) { p.ErrorOutputExpirationDays = -1 }, []string{"ErrorOutputExpirationDays"}},
		{"negative results expiry", func(p *EventlakeStackProps) { p.AthenaResultsExpirationDays = -1 }, []string{"AthenaResultsExpirationDays"}},
		{"iterator alarm", func(p *EventlakeStackProps) { p.IteratorAgeAlarm = time.Second }, []string{"IteratorAgeAlarm"}},
		{"freshness alarm", func(p *EventlakeStackProps) { p.DataFreshnessAlarm = 48 * time.Hour }, []string{"DataFreshnessAlarm"}},
		{"projection start", func(p *EventlakeStackProps) { p.PartitionProjectionStart = "2020/01/01" }, []string{"PartitionProjectionStart"}},
		{"several at once", func(p *EventlakeStackProps) { p.BatchSize, p.LambdaMemoryMiB = -5, 99999 }, []string{"BatchSize", "LambdaMemoryMiB"}},
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

func TestValidateAcceptsJSONWithSmallBuffers(t *testing.T) {
	p := EventlakeStackProps{LambdaCodeDir: relayCodeDir, Format: FormatJSON, BufferingSizeMiB: 1, EventsExpirationDays: 365}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestDefaults(t *testing.T) {
	p := EventlakeStackProps{BufferingInterval: time.Minute}.withDefaults()
	if p.NamePrefix != "eventlake" || p.Format != FormatParquet || p.BufferingSizeMiB != 128 ||
		p.LambdaCodeDir != "build/lambdas/streamtofirehose" || p.LogRetentionDays != 30 {
		t.Errorf("defaults %+v", p)
	}
	if p.DataFreshnessAlarm != 16*time.Minute {
		t.Errorf("freshness alarm %s, want buffering interval + 15m", p.DataFreshnessAlarm)
	}
	for days, enum := range retentionDays {
		if enum == "" {
			t.Errorf("retention %d has no enum", days)
		}
	}
}

func TestNewEventlakeStackRejectsInvalidPropsBeforeDefiningAnything(t *testing.T) {
	// A nil scope: the props are checked before the scope is touched.
	_, err := NewEventlakeStack(nil, "Eventlake", &EventlakeStackProps{LambdaCodeDir: filepath.Join(t.TempDir(), "missing")})
	if !errors.Is(err, ErrInvalidProps) || !strings.Contains(err.Error(), "LambdaCodeDir") || !strings.Contains(err.Error(), "make lambdas") {
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
		"eventlake:namePrefix":         "lake",
		"eventlake:format":             "JSON",
		"eventlake:bufferingInterval":  "90",       // seconds, from -c
		"eventlake:batchingWindow":     "1m30s",    // a Go duration
		"eventlake:bufferingSizeMiB":   float64(8), // a JSON number, from cdk.json
		"eventlake:batchSize":          "500",
		"eventlake:logRetentionDays":   float64(14),
		"eventlake:alarmEmail":         " ops@example.com ",
		"eventlake:bytesScannedCutoff": "20000000000",
		"eventlake:stackName":          "EventlakeProd",
		"eventlake:lambdaCodeDir":      "",
	}), getenv)
	if err != nil {
		t.Fatal(err)
	}
	if p.NamePrefix != "lake" || p.Format != FormatJSON || p.BufferingInterval != 90*time.Second ||
		p.BatchingWindow != 90*time.Second || p.BufferingSizeMiB != 8 || p.BatchSize != 500 ||
		p.LogRetentionDays != 14 || p.AlarmEmail != "ops@example.com" || p.BytesScannedCutoff != 20_000_000_000 ||
		p.LambdaCodeDir != "" || *p.StackName != "EventlakeProd" {
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

	_, err = PropsFromContext(contextOf(map[string]interface{}{
		"eventlake:batchSize":          "many",
		"eventlake:bufferingInterval":  "soon",
		"eventlake:bytesScannedCutoff": "1e",
	}), getenv)
	var pe *PropsError
	if !errors.As(err, &pe) || len(pe.Problems) != 3 {
		t.Fatalf("err = %v", err)
	}
	for _, k := range []string{"eventlake:batchSize", "eventlake:bufferingInterval", "eventlake:bytesScannedCutoff"} {
		if !strings.Contains(err.Error(), k) {
			t.Errorf("%q does not name %s", err, k)
		}
	}
}

// TestContextKeysCoverEveryProp keeps the context keys in step with the
// props: every tunable field of EventlakeStackProps can be set from cdk.json.
func TestContextKeysCoverEveryProp(t *testing.T) {
	keys := map[string]bool{}
	for _, k := range ContextKeys() {
		keys[strings.TrimPrefix(k, ContextPrefix)] = true
	}
	fields := []string{"NamePrefix", "LambdaCodeDir", "Format", "BufferingInterval", "BufferingSizeMiB", "BatchSize",
		"BatchingWindow", "RetryAttempts", "MaxRecordAge", "ParallelizationFactor", "LambdaMemoryMiB", "LambdaTimeout",
		"LogRetentionDays", "AlarmEmail", "BytesScannedCutoff", "InfrequentAccessAfterDays", "GlacierIRAfterDays",
		"EventsExpirationDays", "ErrorOutputExpirationDays", "AthenaResultsExpirationDays", "IteratorAgeAlarm",
		"DataFreshnessAlarm", "PartitionProjectionStart"}
	if n := reflect.TypeOf(EventlakeStackProps{}).NumField(); n != len(fields)+1 { // + the embedded StackProps
		t.Errorf("EventlakeStackProps has %d fields, the test knows %d: add the new one here and to contextFields", n, len(fields)+1)
	}
	for _, f := range fields {
		key := strings.ToLower(f[:1]) + f[1:]
		if !keys[key] {
			t.Errorf("no context key %s%s for %s", ContextPrefix, key, f)
		}
	}
	for _, k := range []string{"region", "account", "stackName"} {
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
	if ctx[ContextPrefix+"format"] != string(DefaultFormat) {
		t.Errorf("cdk.json format %v", ctx[ContextPrefix+"format"])
	}
	p, err := PropsFromContext(contextOf(ctx), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	p.LambdaCodeDir = relayCodeDir
	if err := p.Validate(); err != nil {
		t.Errorf("cdk.json's eventlake settings do not validate: %v", err)
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
