package eventlake

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"

	"github.com/eventlake/eventlake/athena"
)

// GrantTracker lets grantee (the application's role, defined in the same CDK
// app) run the tracker: write and read events and the per-user summary,
// including the tables' key. Pass Tables.Events.TableName() and
// Tables.Summary.TableName() to the application as tracker.Config's table
// names.
func (p *Pipeline) GrantTracker(grantee awsiam.IGrantable) {
	p.Tables.Events.GrantReadWriteData(grantee)
	p.Tables.Summary.GrantReadWriteData(grantee)
}

// GrantQuery lets grantee query the lake with Athena in the pipeline's
// workgroup (what `go run ./scripts/eventlake query` and the analytics
// function need): run and read query executions and the named queries in
// the workgroup, read the Glue database, the events and identity_links
// tables and the events_dedup and identities views, read the events and the
// materialized identity links (the lake key included), and write and read
// the query results.
func (p *Pipeline) GrantQuery(grantee awsiam.IGrantable) {
	c := p.Catalog
	c.Table.GrantRead(grantee)
	c.Links.GrantRead(grantee)
	c.Results.GrantReadWrite(grantee, nil)
	st := awscdk.Stack_Of(p.Construct)
	arn := func(resource string, name *string) *string {
		return st.FormatArn(&awscdk.ArnComponents{Service: jsii.String("glue"), Resource: jsii.String(resource), ResourceName: name})
	}
	awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee: grantee,
		Actions: jsii.Strings("athena:StartQueryExecution", "athena:StopQueryExecution", "athena:GetQueryExecution",
			"athena:GetQueryResults", "athena:ListQueryExecutions", "athena:GetWorkGroup",
			"athena:GetNamedQuery", "athena:ListNamedQueries", "athena:BatchGetNamedQuery"),
		ResourceArns: &[]*string{st.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("athena"), Resource: jsii.String("workgroup"), ResourceName: c.WorkGroup.Ref(),
		})},
	})
	db := c.Database.DatabaseName()
	awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee: grantee,
		Actions: jsii.Strings("glue:GetDatabase", "glue:GetTable"),
		ResourceArns: &[]*string{
			arn("catalog", nil),
			arn("database", db),
			arn("table", awscdk.Fn_Join(jsii.String("/"), &[]*string{db, jsii.String(athena.ViewName)})),
			arn("table", awscdk.Fn_Join(jsii.String("/"), &[]*string{db, jsii.String(athena.IdentitiesView)})),
		},
	})
}
