// Command infra is eventlake's CDK app: `npx cdk synth` (or `make synth`) and
// `npx cdk deploy` run it from the repository root (see cdk.json). It reads
// the eventlake:* context keys (stack.ContextKeys) into the stack's props,
// defines the stack, and checks it with cdk-nag's AwsSolutions rules: an
// unsuppressed finding fails the synthesis.
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/eventlake/eventlake/infra/stack"
)

func main() {
	app := awscdk.NewApp(nil)
	if _, err := build(app, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "eventlake infra:", err)
		jsii.Close()
		os.Exit(1)
	}
	app.Synth(nil)
	jsii.Close()
}

// build defines the eventlake stack in app from its context and the
// environment, and applies cdk-nag's AwsSolutions checks to the app.
func build(app awscdk.App, getenv func(string) string) (*stack.EventlakeStack, error) {
	props, err := stack.PropsFromContext(app.Node().TryGetContext, getenv)
	if err != nil {
		return nil, err
	}
	st, err := stack.NewEventlakeStack(app, "Eventlake", props)
	if err != nil {
		return nil, err
	}
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	return st, nil
}
