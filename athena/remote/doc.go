// Package remote runs the queries of athena/queries on Amazon Athena:
// StartQueryExecution in a workgroup with the arguments as execution
// parameters, GetQueryExecution polled with capped exponential backoff until
// the query ends (StopQueryExecution if the caller gives up), then every page
// of GetQueryResults, with the data scanned and its cost.
//
// Runner is tested against athena/fakeathena, an HTTP endpoint speaking
// Athena's JSON 1.1 protocol, with the real aws-sdk-go-v2 client.
package remote
