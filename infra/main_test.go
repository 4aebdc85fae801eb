package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/eventlake/eventlake/infra/eventlake"
	"github.com/eventlake/eventlake/infra/internal/testenv"
)

var lambdasDir string

func TestMain(m *testing.M) {
	testenv.QuietJSII()
	dir, err := os.MkdirTemp("", "eventlake-app-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	lambdasDir = filepath.Join(dir, "lambdas")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	_, err = testenv.BuildLambdas(ctx, lambdasDir)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "the app test synthesizes the real Lambdas:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	jsii.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestAppSynthesizesCleanUnderCDKNag runs the app as `cdk synth` does (the
// context of cdk.json plus -c overrides, CDK_DEFAULT_* in the environment)
// and checks the cloud assembly: the template is there, cdk-nag's report
// lists no non-compliant resource, and the settings reached the template.
func TestAppSynthesizesCleanUnderCDKNag(t *testing.T) {
	cdkContext, err := testenv.CDKContext()
	if err != nil {
		t.Fatal(err)
	}
	cdkContext["eventlake:format"] = "json"
	cdkContext["eventlake:namePrefix"] = "lake_app"
	cdkContext["eventlake:alarmEmail"] = "ops@example.com"
	cdkContext["eventlake:lambdasDir"] = lambdasDir
	cdkContext["eventlake:tableClass"] = "STANDARD_INFREQUENT_ACCESS"
	cdkContext["eventlake:bufferingInterval"] = "2m"
	cdkContext["eventlake:summaryWindow"] = "120"
	cdkContext["eventlake:collectorRoutes"] = "page_view=lake,impression=lake"
	cdkContext["eventlake:collectorAllowedOrigins"] = "https://shop.example"
	cdkContext["eventlake:collectorDomainName"] = "events.shop.example"
	cdkContext["eventlake:collectorCertificateArn"] = "arn:aws:acm:eu-central-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
	cdkContext["eventlake:analyticsJwtIssuer"] = "https://login.shop.example/"
	cdkContext["eventlake:analyticsJwtAudience"] = "analytics-web"
	env := map[string]string{"CDK_DEFAULT_REGION": "eu-central-1", "CDK_DEFAULT_ACCOUNT": "123456789012"}

	outdir := t.TempDir()
	func() {
		defer func() {
			if r := recover(); r != nil {
				report, _ := os.ReadFile(filepath.Join(outdir, "validation-report.json"))
				t.Fatalf("synth: %v\n%s", r, report)
			}
		}()
		app := awscdk.NewApp(&awscdk.AppProps{Context: &cdkContext, Outdir: jsii.String(outdir)})
		if _, err := build(app, func(k string) string { return env[k] }); err != nil {
			t.Fatal(err)
		}
		app.Synth(nil)
	}()

	f, err := os.Open(filepath.Join(outdir, "AwsSolutions-Eventlake-NagReport.csv"))
	if err != nil {
		t.Fatalf("cdk-nag did not run: %v", err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) < 20 {
		t.Fatalf("cdk-nag report has %d rows", len(rows))
	}
	suppressed := 0
	for _, r := range rows[1:] {
		switch r[2] {
		case "Non-Compliant":
			t.Errorf("cdk-nag: %s on %s: %s", r[0], r[1], r[5])
		case "Suppressed":
			suppressed++
		}
	}
	if suppressed == 0 {
		t.Error("the report shows none of the stack's suppressions")
	}

	raw, err := os.ReadFile(filepath.Join(outdir, "Eventlake.template.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tmpl struct {
		Resources map[string]struct {
			Type       string
			Properties map[string]interface{}
		}
	}
	if err := json.Unmarshal(raw, &tmpl); err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for id, r := range tmpl.Resources {
		switch r.Type {
		case "AWS::KinesisFirehose::DeliveryStream":
			dest := r.Properties["ExtendedS3DestinationConfiguration"].(map[string]interface{})
			if dest["CompressionFormat"] != "GZIP" || dest["BufferingHints"].(map[string]interface{})["IntervalInSeconds"] != 120.0 {
				t.Errorf("%s: format and buffering not from the context: %v", id, dest)
			}
			found[r.Type] = true
		case "AWS::DynamoDB::GlobalTable":
			replicas := string(mustJSON(r.Properties["Replicas"]))
			if !strings.Contains(replicas, `"Region":"eu-central-1"`) || !strings.Contains(replicas, `"TableClass":"STANDARD_INFREQUENT_ACCESS"`) {
				t.Errorf("%s: not in CDK_DEFAULT_REGION with the context's table class: %v", id, r.Properties["Replicas"])
			}
			found[r.Type] = true
		case "AWS::Athena::WorkGroup":
			if r.Properties["Name"] != "lake_app" {
				t.Errorf("workgroup %v", r.Properties["Name"])
			}
			found[r.Type] = true
		case "AWS::SNS::Subscription":
			found[r.Type] = r.Properties["Endpoint"] == "ops@example.com"
		case "AWS::ApiGatewayV2::Api":
			if strings.HasSuffix(fmt.Sprint(r.Properties["Name"]), "-analytics") {
				// The analytics' API: its JWT authorizer is checked below.
				continue
			}
			cors := string(mustJSON(r.Properties["CorsConfiguration"]))
			if !strings.Contains(cors, `"AllowOrigins":["https://shop.example"]`) || r.Properties["DisableExecuteApiEndpoint"] != true {
				t.Errorf("%s: CORS and custom domain not from the context: %v", id, r.Properties)
			}
			found[r.Type] = true
		case "AWS::ApiGatewayV2::Authorizer":
			jwt := string(mustJSON(r.Properties["JwtConfiguration"]))
			if r.Properties["AuthorizerType"] != "JWT" || !strings.Contains(jwt, `"Issuer":"https://login.shop.example/"`) ||
				!strings.Contains(jwt, `"Audience":["analytics-web"]`) {
				t.Errorf("%s: the analytics' authorizer not from the context: %v", id, r.Properties)
			}
			found[r.Type] = true
		case "AWS::ApiGatewayV2::DomainName":
			found[r.Type] = r.Properties["DomainName"] == "events.shop.example"
		case "AWS::Lambda::Function":
			// The collector's routes.
			env, _ := r.Properties["Environment"].(map[string]interface{})
			vars, _ := env["Variables"].(map[string]interface{})
			if routes, ok := vars["ROUTES"]; ok {
				if routes != "impression=lake,page_view=lake" {
					t.Errorf("%s: routes %v, not the context's", id, routes)
				}
				found[r.Type] = true
			}
		case "AWS::Lambda::EventSourceMapping":
			// The summary consumer's mapping has the tumbling window.
			if w, ok := r.Properties["TumblingWindowInSeconds"]; ok {
				if w != 120.0 {
					t.Errorf("%s: tumbling window %v, not the context's", id, w)
				}
				found[r.Type] = true
			}
		}
	}
	if len(found) != 9 {
		t.Errorf("template lacks resources: %v", found)
	}

	// The app's template lints clean in its region too (make lint-template
	// lints cdk.json's default in us-east-1).
	cfnLint, err := testenv.CfnLint()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(cfnLint, "--regions", "eu-central-1", "--", filepath.Join(outdir, "Eventlake.template.json")).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("cfn-lint: %v\n%s", err, out)
	}
}

func mustJSON(v interface{}) []byte {
	b, _ := json.Marshal(v)
	return b
}

// TestAppRejectsBadContext: a setting that does not parse stops the app
// with an error naming the context key, before anything is synthesized.
func TestAppRejectsBadContext(t *testing.T) {
	app := awscdk.NewApp(&awscdk.AppProps{
		Context: &map[string]interface{}{"eventlake:batchSize": "lots"},
		Outdir:  jsii.String(t.TempDir()),
	})
	_, err := build(app, func(string) string { return "" })
	if !errors.Is(err, eventlake.ErrInvalidProps) || !strings.Contains(err.Error(), "eventlake:batchSize") {
		t.Fatalf("err = %v", err)
	}
}
