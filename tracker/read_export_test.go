package tracker

import "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

// ItemForTest validates e and returns it as stored and its DynamoDB item, so
// that read tests and benchmarks can seed thousands of events with
// BatchWriteItem instead of one PutItem each.
func (t *Tracker) ItemForTest(e Event) (Event, map[string]types.AttributeValue, error) {
	n, err := t.Validate(e)
	if err != nil {
		return Event{}, nil, err
	}
	av, err := t.marshal(n)
	return n, av, err
}
