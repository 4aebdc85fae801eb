package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/eventlake/eventlake/tracker"
)

// Tables is the DynamoDB side of eventlake: the events table, whose NEW_IMAGE
// stream feeds the pipeline, and the per-user summary table, which has no
// stream so summary writes never reach the lake. Both are on-demand, have
// point-in-time recovery and deletion protection, are encrypted with Key, and
// are retained when the stack is deleted.
type Tables struct {
	constructs.Construct
	// Key is the customer-managed key (rotated yearly) of both tables and the
	// events stream.
	Key awskms.Key
	// Events is tracker.EventsTableDef().
	Events awsdynamodb.TableV2
	// Summary is tracker.SummaryTableDef().
	Summary awsdynamodb.TableV2
}

// NewTables defines both tables from the tracker package's definitions.
func NewTables(scope constructs.Construct, id string) *Tables {
	c := constructs.NewConstruct(scope, jsii.String(id))
	key := awskms.NewKey(c, jsii.String("Key"), &awskms.KeyProps{
		Description:       jsii.String("eventlake DynamoDB tables and stream"),
		EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
	})
	return &Tables{
		Construct: c,
		Key:       key,
		Events:    newTable(c, "Events", tracker.EventsTableDef(), key),
		Summary:   newTable(c, "Summary", tracker.SummaryTableDef(), key),
	}
}

// newTable defines one table from def. CloudFormation names it.
func newTable(scope constructs.Construct, id string, def tracker.TableDef, key awskms.IKey) awsdynamodb.TableV2 {
	props := &awsdynamodb.TablePropsV2{
		PartitionKey: &awsdynamodb.Attribute{Name: jsii.String(def.PartitionKey), Type: awsdynamodb.AttributeType_STRING},
		Billing:      awsdynamodb.Billing_OnDemand(nil),
		Encryption:   awsdynamodb.TableEncryptionV2_CustomerManagedKey(key, nil),
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		DeletionProtection: jsii.Bool(true),
		RemovalPolicy:      awscdk.RemovalPolicy_RETAIN,
	}
	if def.SortKey != "" {
		props.SortKey = &awsdynamodb.Attribute{Name: jsii.String(def.SortKey), Type: awsdynamodb.AttributeType_STRING}
	}
	if def.TTLAttribute != "" {
		props.TimeToLiveAttribute = jsii.String(def.TTLAttribute)
	}
	if def.StreamNewImage {
		props.DynamoStream = awsdynamodb.StreamViewType_NEW_IMAGE
	}
	return awsdynamodb.NewTableV2(scope, jsii.String(id), props)
}
