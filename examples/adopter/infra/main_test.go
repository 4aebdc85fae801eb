package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/eventlake/eventlake/infra/eventlake"
)

func TestMain(m *testing.M) {
	// Quiet JSII (Node's end-of-life banner, the CDK's deprecation notices).
	// The CDK packages prepared the runtime's Node process during their
	// initialization; closing it makes the first call start one with these
	// variables.
	if os.Getenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION") == "" {
		out, _ := exec.Command("node", "--version").Output()
		major, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(string(out)), "v"), ".")
		os.Setenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", major)
	}
	os.Setenv("JSII_DEPRECATED", "quiet")
	jsii.Close()
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

// buildLambdas builds the Lambdas the pipeline ships (the relay and the
// summary consumer) as cdk.json's build step does, from the eventlake
// module the shop requires, into dir/<name>/bootstrap.
func buildLambdas(t *testing.T, dir string) {
	t.Helper()
	for _, name := range []string{eventlake.RelayFunctionName, eventlake.SummaryFunctionName} {
		out := filepath.Join(dir, name, "bootstrap")
		cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", out,
			"github.com/eventlake/eventlake/lambdas/"+name)
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build lambdas/%s: %v\n%s", name, err, b)
		}
	}
}

// check runs a CDK assertion, which panics when it fails, as a test error.
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

// TestShopStack synthesizes the shop's stack with the Lambdas built as
// `cdk deploy` builds it: the pipeline reads the shop's own table's stream,
// the summary table is created in the infrequent-access class, and the
// service may run the tracker.
func TestShopStack(t *testing.T) {
	dir := t.TempDir()
	buildLambdas(t, dir)
	app := awscdk.NewApp(nil)
	st, err := NewShopStack(app, "Shop", &ShopStackProps{
		StackProps: awscdk.StackProps{Env: &awscdk.Environment{Account: jsii.String("123456789012"), Region: jsii.String("eu-west-1")}},
		LambdasDir: dir,
	})
	if err != nil {
		t.Fatal(err)
	}
	tpl := assertions.Template_FromStack(st.Stack, nil)
	check(t, "two tables: the shop's and the summary", func() {
		tpl.ResourceCountIs(jsii.String("AWS::DynamoDB::GlobalTable"), jsii.Number(2))
	})
	check(t, "the summary table's class", func() {
		tpl.HasResourceProperties(jsii.String("AWS::DynamoDB::GlobalTable"), map[string]any{
			"Replicas": assertions.Match_ArrayWith(&[]any{
				assertions.Match_ObjectLike(&map[string]any{"TableClass": "STANDARD_INFREQUENT_ACCESS"}),
			}),
		})
	})
	check(t, "the relay reads the shop's table's stream", func() {
		tpl.HasResourceProperties(jsii.String("AWS::Lambda::EventSourceMapping"), map[string]any{
			"EventSourceArn": map[string]any{"Fn::GetAtt": []any{st.Stack.GetLogicalId(st.Events.Node().DefaultChild().(awscdk.CfnElement)), "StreamArn"}},
		})
	})
	check(t, "the relay is the arm64 binary built above", func() {
		tpl.HasResourceProperties(jsii.String("AWS::Lambda::Function"), map[string]any{
			"Architectures": []any{"arm64"}, "Handler": "bootstrap",
		})
	})
	check(t, "the lake's Glue database is named after the prefix", func() {
		tpl.HasResourceProperties(jsii.String("AWS::Glue::Database"), map[string]any{
			"DatabaseInput": map[string]any{"Name": "shop_events"},
		})
	})
	check(t, "the outputs name the tables", func() {
		tpl.HasOutput(jsii.String("EventsTableName"), map[string]any{})
		tpl.HasOutput(jsii.String("SummaryTableName"), map[string]any{})
	})
}
