package eventlake

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/eventlake/eventlake/tracker"
)

// TablesProps configures NewTables.
type TablesProps struct {
	// Events and Summary are existing tables to use instead of creating
	// them; either or both may be nil.
	Events, Summary awsdynamodb.ITable
	// TableClass and Billing apply to the tables NewTables creates; Billing
	// nil means on-demand.
	TableClass awsdynamodb.TableClass
	Billing    awsdynamodb.Billing
}

// Tables is the DynamoDB side of eventlake: the events table, whose stream
// feeds the pipeline, and the per-user summary table, which has no stream so
// summary writes never reach the lake. The tables NewTables creates follow
// tracker.EventsTableDef() and tracker.SummaryTableDef(), have point-in-time recovery
// and deletion protection, are encrypted with Key, and are retained when the
// stack is deleted.
type Tables struct {
	constructs.Construct
	// Key is the customer-managed key (rotated yearly) of the created tables
	// and the events stream; nil when both tables were passed in.
	Key awskms.Key
	// Events is the events table (created or passed in).
	Events awsdynamodb.ITable
	// Summary is the per-user summary table (created or passed in).
	Summary awsdynamodb.ITable
	// Created lists the tables NewTables defined, events first.
	Created []awsdynamodb.TableV2
}

// NewTables defines the tables props does not pass in. It returns an error
// when an existing events table has no stream or a stream without new
// images, or when a table must be created in a stack without a concrete
// region (the table key needs one).
func NewTables(scope constructs.Construct, id string, props *TablesProps) (*Tables, error) {
	if props.Events != nil {
		if err := checkEventsStream(props.Events); err != nil {
			return nil, err
		}
	}
	if err := checkRegion(scope, props.Events == nil || props.Summary == nil); err != nil {
		return nil, err
	}
	c := constructs.NewConstruct(scope, jsii.String(id))
	t := &Tables{Construct: c, Events: props.Events, Summary: props.Summary}
	if t.Events != nil && t.Summary != nil {
		return t, nil
	}
	t.Key = awskms.NewKey(c, jsii.String("Key"), &awskms.KeyProps{
		Description:       jsii.String("eventlake DynamoDB tables and stream"),
		EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
	})
	if t.Events == nil {
		ev := newTable(c, "Events", tracker.EventsTableDef(), t.Key, props)
		t.Events = ev
		t.Created = append(t.Created, ev)
	}
	if t.Summary == nil {
		sum := newTable(c, "Summary", tracker.SummaryTableDef(), t.Key, props)
		t.Summary = sum
		t.Created = append(t.Created, sum)
	}
	return t, nil
}

// newTable defines one table from def. CloudFormation names it; def's
// DefaultName is for local use only.
func newTable(scope constructs.Construct, id string, def tracker.TableDef, key awskms.IKey, props *TablesProps) awsdynamodb.TableV2 {
	billing := props.Billing
	if billing == nil {
		billing = awsdynamodb.Billing_OnDemand(nil)
	}
	tp := &awsdynamodb.TablePropsV2{
		PartitionKey: &awsdynamodb.Attribute{Name: jsii.String(def.PartitionKey), Type: awsdynamodb.AttributeType_STRING},
		Billing:      billing,
		Encryption:   awsdynamodb.TableEncryptionV2_CustomerManagedKey(key, nil),
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		DeletionProtection: jsii.Bool(true),
		RemovalPolicy:      awscdk.RemovalPolicy_RETAIN,
	}
	if props.TableClass != "" {
		tp.TableClass = props.TableClass
	}
	if def.SortKey != "" {
		tp.SortKey = &awsdynamodb.Attribute{Name: jsii.String(def.SortKey), Type: awsdynamodb.AttributeType_STRING}
	}
	if def.TTLAttribute != "" {
		tp.TimeToLiveAttribute = jsii.String(def.TTLAttribute)
	}
	if def.StreamNewImage {
		tp.DynamoStream = awsdynamodb.StreamViewType_NEW_IMAGE
	}
	return awsdynamodb.NewTableV2(scope, jsii.String(id), tp)
}

// checkEventsStream fails when table has no stream, or, for a table defined
// in this CDK app, a stream whose records carry no new image (the relay
// reads NewImage). The view type of an imported table cannot be seen here.
func checkEventsStream(table awsdynamodb.ITable) error {
	if table.TableStreamArn() == nil {
		return fmt.Errorf("eventlake: the events table %s has no stream: enable a NEW_IMAGE stream, "+
			"and import the table with its TableStreamArn", nodePath(table))
	}
	var spec interface{}
	switch r := table.Node().DefaultChild().(type) {
	case awsdynamodb.CfnGlobalTable:
		spec = r.StreamSpecification()
	case awsdynamodb.CfnTable:
		spec = r.StreamSpecification()
	}
	view := ""
	if spec != nil {
		// jsii hands the L1 property back as a reference; resolving it
		// yields its JSON form, {"streamViewType": "..."}.
		if m, ok := awscdk.Stack_Of(table).Resolve(spec).(map[string]interface{}); ok {
			view, _ = m["streamViewType"].(string)
		}
	}
	switch view {
	case "", string(awsdynamodb.StreamViewType_NEW_IMAGE), string(awsdynamodb.StreamViewType_NEW_AND_OLD_IMAGES):
		return nil
	}
	return fmt.Errorf("eventlake: the events table %s streams %s; the relay needs NEW_IMAGE (or NEW_AND_OLD_IMAGES)", nodePath(table), view)
}

func nodePath(c constructs.IConstruct) string { return *c.Node().Path() }

// checkRegion fails when tables are to be created in a stack whose region
// is not known at synthesis: the CDK needs it for the tables' key.
func checkRegion(scope constructs.Construct, createsTables bool) error {
	if createsTables && *awscdk.Token_IsUnresolved(awscdk.Stack_Of(scope).Region()) {
		return fmt.Errorf("eventlake tables: the stack needs a concrete region (StackProps.Env.Region) for the tables' key")
	}
	return nil
}
