// Command infra is the shop's CDK app: the shop's own stack, with the
// events table the shop already had, and eventlake's whole pipeline added to
// it with eventlake.NewPipeline. `npx cdk deploy` runs it from
// examples/adopter (cdk.json), after the build step has built the relay
// Lambda from the eventlake module the shop requires.
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/eventlake/eventlake/infra/eventlake"
	"github.com/eventlake/eventlake/tracker"
)

func main() {
	app := awscdk.NewApp(nil)
	_, err := NewShopStack(app, "Shop", &ShopStackProps{
		StackProps: awscdk.StackProps{Env: &awscdk.Environment{
			Account: jsii.String(os.Getenv("CDK_DEFAULT_ACCOUNT")),
			Region:  jsii.String(os.Getenv("CDK_DEFAULT_REGION")),
		}},
		AlarmEmail: os.Getenv("SHOP_ALARM_EMAIL"),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "shop infra:", err)
		jsii.Close()
		os.Exit(1)
	}
	app.Synth(nil)
	jsii.Close()
}

// ShopStackProps configures NewShopStack.
type ShopStackProps struct {
	awscdk.StackProps
	// LambdasDir holds streamtofirehose/bootstrap and summarize/bootstrap,
	// the relay and the summary consumer that cdk.json's build step builds;
	// default eventlake.DefaultLambdasDir.
	LambdasDir string
	// AlarmEmail receives the pipeline's alarms; none when empty.
	AlarmEmail string
}

// ShopStack is the shop's stack.
type ShopStack struct {
	awscdk.Stack
	// Events is the shop's own events table; Pipeline is eventlake's
	// pipeline on it; Service is the role the shop's containers run as.
	Events   awsdynamodb.TableV2
	Pipeline *eventlake.Pipeline
	Service  awsiam.Role
}

// NewShopStack defines the shop's stack: its events table (created before
// the shop adopted eventlake's pipeline, with the keys and stream of
// tracker.EventsTableDef), the role its service runs as, and the pipeline
// feeding the lake from the table's stream, which creates the summary table.
func NewShopStack(scope constructs.Construct, id string, props *ShopStackProps) (*ShopStack, error) {
	stack := awscdk.NewStack(scope, jsii.String(id), &props.StackProps)
	def := tracker.EventsTableDef()
	events := awsdynamodb.NewTableV2(stack, jsii.String("Events"), &awsdynamodb.TablePropsV2{
		PartitionKey:        &awsdynamodb.Attribute{Name: jsii.String(def.PartitionKey), Type: awsdynamodb.AttributeType_STRING},
		SortKey:             &awsdynamodb.Attribute{Name: jsii.String(def.SortKey), Type: awsdynamodb.AttributeType_STRING},
		TimeToLiveAttribute: jsii.String(def.TTLAttribute),
		DynamoStream:        awsdynamodb.StreamViewType_NEW_IMAGE,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	service := awsiam.NewRole(stack, jsii.String("Service"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("ecs-tasks.amazonaws.com"), nil),
	})
	pl, err := eventlake.NewPipeline(stack, "Eventlake", &eventlake.PipelineProps{
		NamePrefix:  "shop_events",
		EventsTable: events,
		TableClass:  awsdynamodb.TableClass_STANDARD_INFREQUENT_ACCESS, // for the summary table it creates
		LambdasDir:  props.LambdasDir,
		AlarmEmail:  props.AlarmEmail,
	})
	if err != nil {
		return nil, err
	}
	pl.GrantTracker(service)
	// The service's tracker.Config table names (EVENTS_TABLE and
	// SUMMARY_TABLE in cmd/shop).
	awscdk.NewCfnOutput(stack, jsii.String("EventsTableName"), &awscdk.CfnOutputProps{Value: pl.Tables.Events.TableName()})
	awscdk.NewCfnOutput(stack, jsii.String("SummaryTableName"), &awscdk.CfnOutputProps{Value: pl.Tables.Summary.TableName()})
	return &ShopStack{Stack: stack, Events: events, Pipeline: pl, Service: service}, nil
}
