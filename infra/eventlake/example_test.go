package eventlake

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"

	"github.com/eventlake/eventlake/tracker"
)

// An application's own CDK app adds the pipeline to its stack, on the
// events table it already has (streaming NEW_IMAGE), and grants its service
// the tracker's access. The pipeline creates the summary table, in the
// standard-IA class.
func ExampleNewPipeline() {
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Shop"), &awscdk.StackProps{
		Env: &awscdk.Environment{Region: jsii.String("eu-west-1")},
	})
	events := awsdynamodb.TableV2_FromTableAttributes(stack, jsii.String("Events"), &awsdynamodb.TableAttributesV2{
		TableName:      jsii.String("shop-events"),
		TableStreamArn: jsii.String("arn:aws:dynamodb:eu-west-1:123456789012:table/shop-events/stream/2026-01-01T00:00:00.000"),
	})
	pl, err := NewPipeline(stack, "Analytics", &PipelineProps{
		NamePrefix:  "shop_events",
		EventsTable: events,
		TableClass:  awsdynamodb.TableClass_STANDARD_INFREQUENT_ACCESS,
		LambdasDir:  lambdasDir, // "build/lambdas" after `make lambdas`
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	service := awsiam.NewRole(stack, jsii.String("Service"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("ecs-tasks.amazonaws.com"), nil),
	})
	pl.GrantTracker(service)
	fmt.Println(pl.Props.NamePrefix, len(pl.Tables.Created), "table created")
	// Output: shop_events 1 table created
}

// The HTTP collector is opt-in in the construct: an application that wants
// events over HTTP sets PipelineProps.Collector. Here page views go straight
// to the lake, and browsers on the shop's origin may send.
func ExampleNewPipeline_collector() {
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Shop"), &awscdk.StackProps{
		Env: &awscdk.Environment{Region: jsii.String("eu-west-1")},
	})
	pl, err := NewPipeline(stack, "Analytics", &PipelineProps{
		NamePrefix: "shop_events",
		LambdasDir: lambdasDir, // "build/lambdas" after `make lambdas`
		Collector: &CollectorOptions{
			Routes:         map[string]tracker.Route{"page_view": tracker.RouteLake},
			AllowedOrigins: []string{"https://shop.example"},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	o := pl.Collector.Options
	fmt.Println(o.Routes["page_view"], o.ThrottleRate, o.ThrottleBurst, o.IPPolicy)
	// Output: lake 500 1000 keep
}

// The analytics API and dashboard are opt-in too. Here analysts sign in
// with the company's identity provider: every route takes its JWTs with
// the analytics:read scope instead of SigV4, and the dashboard links user
// IDs to the admin page.
func ExampleNewPipeline_analytics() {
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Shop"), &awscdk.StackProps{
		Env: &awscdk.Environment{Region: jsii.String("eu-west-1")},
	})
	pl, err := NewPipeline(stack, "Analytics", &PipelineProps{
		NamePrefix: "shop_events",
		LambdasDir: lambdasDir, // "build/lambdas" after `make lambdas`
		Analytics: &AnalyticsOptions{
			JwtIssuer:     "https://shop.okta.com/oauth2/default",
			JwtAudience:   []string{"0oa-analytics"},
			JwtScopes:     []string{"analytics:read"},
			UserURLPrefix: "https://admin.shop.example/activity?user=",
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	a := pl.Analytics
	fmt.Println(len(a.Routes), "routes,", a.Authorizer != nil, a.Options.ThrottleRate, a.Options.Concurrency)
	// Output: 4 routes, true 50 4
}
