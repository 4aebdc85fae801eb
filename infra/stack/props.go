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
}

// Validate reports every invalid pipeline field in one *eventlake.PropsError.
func (p EventlakeStackProps) Validate() error { return p.PipelineProps.Validate() }
