// Package stack is eventlake's own CDK stack, NewEventlakeStack: the
// reusable pipeline construct (package infra/eventlake) with its defaults
// and the HTTP collector (EventlakeStackProps.DisableCollector leaves it
// out), plus the stack outputs applications and operators configure themselves
// with. PropsFromContext reads the eventlake:* context keys of cdk.json and
// `cdk deploy -c` into EventlakeStackProps.
//
// A team with its own CDK app uses eventlake.NewPipeline directly instead.
package stack
