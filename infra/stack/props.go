package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"

	"github.com/eventlake/eventlake/infra/eventlake"
)

// EventlakeStackProps configures NewEventlakeStack: the stack's own props and
// the pipeline's. The zero value of every pipeline field means its default
// (the eventlake.Default* constants).
type EventlakeStackProps struct {
	awscdk.StackProps
	eventlake.PipelineProps
	// DisableCollector leaves the HTTP collector out. eventlake's stack
	// deploys it by default (with PipelineProps.Collector's options, or
	// the defaults when Collector is nil); the construct alone does not.
	DisableCollector bool
	// DisableAnalytics leaves the analytics API and dashboard out. The
	// stack deploys them by default (with PipelineProps.Analytics'
	// options, or the defaults, IAM authorization, when Analytics is nil);
	// the construct alone does not.
	DisableAnalytics bool
}

// Validate reports every invalid pipeline field in one *eventlake.PropsError.
func (p EventlakeStackProps) Validate() error {
	if p.DisableCollector && p.Collector != nil {
		return &eventlake.PropsError{Problems: []eventlake.FieldProblem{{
			Field: "Collector", Reason: "sets the collector's options, and DisableCollector leaves it out"}}}
	}
	if p.DisableAnalytics && p.Analytics != nil {
		return &eventlake.PropsError{Problems: []eventlake.FieldProblem{{
			Field: "Analytics", Reason: "sets the analytics' options, and DisableAnalytics leaves them out"}}}
	}
	return p.pipelineProps().Validate()
}

// pipelineProps are the pipeline's props as the stack passes them: the
// collector with its default options unless DisableCollector, the
// analytics with theirs unless DisableAnalytics. The
// caller's props are not changed.
func (p EventlakeStackProps) pipelineProps() eventlake.PipelineProps {
	pp := p.PipelineProps
	if !p.DisableCollector && pp.Collector == nil {
		pp.Collector = &eventlake.CollectorOptions{}
	}
	if !p.DisableAnalytics && pp.Analytics == nil {
		pp.Analytics = &eventlake.AnalyticsOptions{}
	}
	return pp
}
