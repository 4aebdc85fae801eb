package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/eventlake/eventlake/infra/internal/testenv"
)

// tempRoot holds what the tests write: relayCodeDir, the real stream
// Lambda built once by TestMain, and the cloud assemblies.
var tempRoot, relayCodeDir string

func TestMain(m *testing.M) {
	testenv.QuietJSII()
	var err error
	tempRoot, err = os.MkdirTemp("", "eventlake-infra-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	relayCodeDir = filepath.Join(tempRoot, "relay")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	err = testenv.BuildRelay(ctx, relayCodeDir)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "the infra tests synthesize the real Lambda:", err)
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

// synthesized is one stack synthesized in its own app, with cdk-nag applied
// as the app applies it.
type synthesized struct {
	Stack    *EventlakeStack
	Template assertions.Template
	// JSON is the template as plain Go values.
	JSON map[string]interface{}
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

// synth synthesizes the stack for props once per name and test binary
// (synthesis takes seconds) and shares it between tests. It fails the test
// if the stack cannot be built.
//
// hook, when set, extends the stack before synthesis.
func synth(t *testing.T, name string, props EventlakeStackProps, hook func(*EventlakeStack)) *synthesized {
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
		cdkContext, err := testenv.CDKContext()
		if err != nil {
			f.err = err
			return
		}
		app := awscdk.NewApp(&awscdk.AppProps{Context: &cdkContext, Outdir: jsii.String(outdir)})
		awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
		if props.LambdaCodeDir == "" {
			props.LambdaCodeDir = relayCodeDir
		}
		if props.Env == nil {
			props.Env = &awscdk.Environment{Region: jsii.String("us-east-1")}
		}
		st, err := NewEventlakeStack(app, "Eventlake", &props)
		if err != nil {
			f.err = fmt.Errorf("define %s: %w", name, err)
			return
		}
		if hook != nil {
			hook(st)
		}
		tmpl := assertions.Template_FromStack(st.Stack, nil)
		raw, err := json.Marshal(tmpl.ToJSON())
		if err != nil {
			f.err = err
			return
		}
		var doc map[string]interface{}
		if err := json.Unmarshal(raw, &doc); err != nil {
			f.err = err
			return
		}
		f.s = &synthesized{Stack: st, Template: tmpl, JSON: doc, Annotations: assertions.Annotations_FromStack(st.Stack)}
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

// defaultStack is the stack with default props and an alarm email.
func defaultStack(t *testing.T) *synthesized {
	return synth(t, "parquet-defaults", EventlakeStackProps{AlarmEmail: "ops@example.com"}, nil)
}

// jsonStack is the GZIP JSON variant with tuned props, extended with an
// application role that is granted tracker and query access.
func jsonStack(t *testing.T) *synthesized {
	return synth(t, "json-tuned", jsonProps, addAppRole)
}

// addAppRole defines the role an application would bring and grants it the
// tracker's and the query runner's access.
func addAppRole(st *EventlakeStack) {
	role := awsiam.NewRole(st.Stack, jsii.String("AppRole"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("ecs-tasks.amazonaws.com"), nil),
	})
	st.GrantTracker(role)
	st.GrantQuery(role)
	cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("A test-only application role: the grants under test use index and object wildcards by design."),
	}}, jsii.Bool(true))
}

var jsonProps = EventlakeStackProps{
	NamePrefix:         "lake_json",
	Format:             FormatJSON,
	BufferingInterval:  90 * time.Second,
	BufferingSizeMiB:   16,
	BatchSize:          250,
	BatchingWindow:     30 * time.Second,
	RetryAttempts:      5,
	MaxRecordAge:       2 * time.Hour,
	LogRetentionDays:   90,
	BytesScannedCutoff: 1 << 30,
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
func (s *synthesized) id(c constructs.IConstruct) string { return s.Stack.logicalID(c) }

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
